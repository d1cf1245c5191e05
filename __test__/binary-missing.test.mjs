// A machine without a matching binary: a copy of the package as npm installs
// it (package.json, the generated loader, dist/) but without the .node file
// and without a platform package, loaded by a real Node process. Loading must
// fail with one error that names the machine, lists the prebuilt targets and
// says how to build from source.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { platformTargets, root } from '../scripts/platforms.mjs';

let pkgDir;
let targets;
/** The prebuilt targets for this platform and architecture (gnu and musl on Linux). */
let here;

before(async () => {
  assert.ok(existsSync(join(root, 'dist/cjs/index.js')), 'dist/ is missing: run `npm install` (or `npm run build`) first');
  targets = await platformTargets();
  here = targets.filter((t) => t.platform === process.platform && t.arch === process.arch);
  assert.ok(here.length > 0, `no target in napi.targets for ${process.platform}-${process.arch}`);
  const dir = mkdtempSync(join(tmpdir(), 'bullmq-native-nobinary-'));
  pkgDir = join(dir, 'node_modules', 'bullmq-native');
  mkdirSync(pkgDir, { recursive: true });
  for (const f of ['package.json', 'index.js', 'index.d.ts']) copyFileSync(join(root, f), join(pkgDir, f));
  cpSync(join(root, 'dist'), join(pkgDir, 'dist'), { recursive: true });
});

after(() => {
  if (pkgDir) rmSync(join(pkgDir, '..', '..'), { recursive: true, force: true });
});

/** Runs `code` in a Node process started in the temp project; its environment lacks the napi-rs overrides. */
function runNode(args, extraEnv = {}) {
  const env = { ...process.env, ...extraEnv };
  if (!('NAPI_RS_NATIVE_LIBRARY_PATH' in extraEnv)) delete env.NAPI_RS_NATIVE_LIBRARY_PATH;
  delete env.NAPI_RS_FORCE_WASI;
  return spawnSync(process.execPath, args, { cwd: join(pkgDir, '..', '..'), env, encoding: 'utf8' });
}

// Prints what loading threw: its message, and whether the generated loader's
// error is kept as the cause (for what a present but broken binary said).
const report = (load) => `${load}.then(() => console.log('loaded'), (e) => {
  console.log(JSON.stringify({ message: e.message, cause: String(e.cause?.message) }));
  process.exitCode = 1;
})`;

function assertClearError(r) {
  assert.equal(r.status, 1, `loading did not fail as expected:\n${r.stdout}\n${r.stderr}`);
  const { message, cause } = JSON.parse(r.stdout);
  assert.match(cause, /Cannot find native binding/);
  assert.match(message, new RegExp(`cannot load its native module on ${process.platform}-${process.arch}\\b`));
  const listed = message.match(/Prebuilt binaries: ([^\n]*)\./);
  assert.ok(listed, `no list of prebuilt binaries in:\n${message}`);
  assert.deepEqual(listed[1].split(', ').sort(), targets.map((t) => t.platformArchABI).sort());
  assert.match(message, /To build from source: install Rust/);
  assert.match(message, /NAPI_RS_NATIVE_LIBRARY_PATH/);
  // This machine has a prebuilt target: the error says which package is missing.
  const missing = message.match(/its binary package bullmq-native-(\S+) is missing/);
  assert.ok(missing && here.some((t) => t.platformArchABI === missing[1]), `no missing package named in:\n${message}`);
  assert.doesNotMatch(message, /npm has a bug related to optional dependencies/, 'the generated text is reworded');
}

test('require() without a binary throws the error that names the platform and the way out', () => {
  assertClearError(runNode(['-e', report("new Promise((resolve) => resolve(require('bullmq-native')))")]));
});

test('import without a binary throws the same error', () => {
  assertClearError(runNode(['--input-type=module', '-e', report("import('bullmq-native')")]));
});

test('uncaught, the error prints its own message first', () => {
  const r = runNode(['-e', "require('bullmq-native')"]);
  assert.notEqual(r.status, 0);
  const first = r.stderr.split('\n').find((line) => line.startsWith('Error'));
  assert.match(first ?? '', /^Error: bullmq-native cannot load its native module on /);
});

test('the way out it names works: NAPI_RS_NATIVE_LIBRARY_PATH at a built binary loads the package', () => {
  const built = here.map((t) => join(root, `bullmq-native.${t.platformArchABI}.node`)).find((f) => existsSync(f));
  assert.ok(built, 'no built binary at the repository root: run `npm install` first');
  const r = runNode(['-e', "console.log(typeof require('bullmq-native').Queue)"], {
    NAPI_RS_NATIVE_LIBRARY_PATH: built,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'function');
});
