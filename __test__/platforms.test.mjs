// The platforms we ship agree everywhere they are named: every target of
// package.json's napi.targets has its npm/<platform>/ package, an optional
// dependency of the root at the root's version, a build in the release
// workflow and a test job on a runner that can run it; nothing names a
// target that napi.targets lacks. (The workflow's syntax and expressions are
// checked by actionlint in .ci/run.)
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { load } from 'js-yaml';

import { expectedOptionalDependencies, platformTargets, root } from '../scripts/platforms.mjs';

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const workflow = load(readFileSync(join(root, '.github/workflows/release.yml'), 'utf8'));
let targets;

before(async () => {
  targets = await platformTargets();
});

const LIBC = { gnu: 'glibc', musl: 'musl' };

test('napi.targets lists the seven platforms we promise', () => {
  assert.deepEqual(targets.map((t) => t.platformArchABI).sort(), [
    'darwin-arm64',
    'darwin-x64',
    'linux-arm64-gnu',
    'linux-arm64-musl',
    'linux-x64-gnu',
    'linux-x64-musl',
    'win32-x64-msvc',
  ]);
});

test('each target has its npm/<platform>/ package, named and restricted to its platform', () => {
  for (const t of targets) {
    const manifestPath = join(t.npmDir, 'package.json');
    assert.ok(existsSync(manifestPath), `npm/${t.platformArchABI}/package.json is missing (npx napi create-npm-dirs)`);
    const m = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const binary = `${pkg.napi.binaryName}.${t.platformArchABI}.node`;
    assert.equal(m.name, t.packageName);
    assert.equal(m.version, pkg.version, `${m.name} is not at the root's version`);
    assert.deepEqual(m.os, [t.platform]);
    assert.deepEqual(m.cpu, [t.arch]);
    assert.deepEqual(m.libc, LIBC[t.abi] ? [LIBC[t.abi]] : undefined, `${m.name}: libc`);
    assert.equal(m.main, binary);
    assert.deepEqual(m.files, [binary]);
    assert.equal(m.engines?.node, pkg.engines.node, `${m.name}: engines differ from the root's`);
  }
  const dirs = readdirSync(join(root, 'npm')).sort();
  assert.deepEqual(dirs, targets.map((t) => t.platformArchABI).sort(), 'npm/ holds a package for no target');
});

test("the root lists exactly the platform packages as optional dependencies at the root's version", async () => {
  assert.deepEqual(pkg.optionalDependencies, await expectedOptionalDependencies());
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  assert.deepEqual(lock.packages[''].optionalDependencies, pkg.optionalDependencies, 'package-lock.json is stale');
});

test('the release workflow builds each target once, with napi build --target', () => {
  const settings = workflow.jobs.build.strategy.matrix.settings;
  assert.deepEqual(settings.map((s) => s.target).sort(), targets.map((t) => t.triple).sort());
  for (const s of settings) {
    assert.match(s.build, new RegExp(`^npx napi build --platform --release --target ${s.target}\\b`));
    if (s.target.includes('musl')) assert.match(s.build, / -x$/, `${s.target} builds with cargo-zigbuild`);
    if (s.target.endsWith('linux-gnu')) assert.match(s.build, /--use-napi-cross$/, `${s.target} links an old glibc`);
  }
  const upload = workflow.jobs.build.steps.find((step) => step.uses?.startsWith('actions/upload-artifact'));
  assert.equal(upload.with.name, 'bindings-${{ matrix.settings.target }}');
});

test('the release workflow tests each target, on Node 20, 22 and 24', () => {
  const linux = workflow.jobs['test-linux'].strategy.matrix;
  const other = workflow.jobs['test-macos-windows'].strategy.matrix;
  const tested = [...linux.target, ...other.settings.map((s) => s.target)];
  assert.deepEqual(tested.sort(), targets.map((t) => t.triple).sort());
  assert.deepEqual(linux.node, ['20', '22', '24']);
  assert.deepEqual(other.node, ['20', '22', '24']);
  for (const job of ['test-linux', 'test-macos-windows']) {
    assert.deepEqual(workflow.jobs[job].needs, 'build');
  }
});

test('publishing needs every test, runs on a version tag, publishes the platform packages first, with provenance', () => {
  const publish = workflow.jobs.publish;
  assert.deepEqual([...publish.needs].sort(), ['lint', 'test-linux', 'test-macos-windows']);
  assert.match(publish.if, /startsWith\(github\.ref, 'refs\/tags\/v'\)/);
  assert.equal(publish.permissions['id-token'], 'write');
  const script = publish.steps.map((s) => s.run ?? '').join('\n');
  const platforms = script.indexOf('napi pre-publish');
  const rootPublish = script.indexOf('npm publish');
  assert.ok(platforms >= 0 && rootPublish > platforms, 'napi pre-publish (platform packages) comes before npm publish');
  assert.match(script, /npm config set provenance true/);
  assert.match(script, /npm run artifacts/);
});

test("the README's Install section lists every platform package", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Install\n');
  assert.ok(start >= 0, 'README.md has an "## Install" section');
  const section = readme.slice(start + 1, readme.indexOf('\n## ', start + 1));
  for (const t of targets) assert.ok(section.includes(`\`${t.packageName}\``), `the Install section lacks ${t.packageName}`);
});
