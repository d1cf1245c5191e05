// The published packages: `npm pack` of this tree and of this machine's
// platform package (npm/<platform>/ with the binary, as the release workflow
// publishes it) install into a fresh strict TypeScript project without a build
// (no Rust toolchain, no install script of ours), the generated loader finds
// the binary in the platform package, the typings check BullMQ-style generics,
// and the compiled code runs against Redis through both the ESM and the
// CommonJS entries.
//
// Packs the build that `npm install` made (with --ignore-scripts, so packing
// does not rebuild); fails when that build is missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { queueName, redisUrl } from './support/redis.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
// This machine's target among package.json's napi.targets.
const abi = { linux: process.report.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl', win32: '-msvc' };
const platform = `${process.platform}-${process.arch}${abi[process.platform] ?? ''}`;
const binary = `${pkg.napi.binaryName}.${platform}.node`;
const platformPackage = `${pkg.name}-${platform}`;

/** The environment without npm's lifecycle variables and without cargo/rustc on PATH. */
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  }
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && !existsSync(join(dir, 'cargo')) && !existsSync(join(dir, 'rustc')))
    .join(delimiter);
  return { ...env, ...extra };
}

function run(cmd, args, { cwd, env = cleanEnv() } = {}) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

// A consumer as BullMQ users write one, with typed data, result and names.
const MAIN_MTS = `
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import * as esm from 'bullmq-native';
import { Job, Queue, Worker } from 'bullmq-native';
import type { ConnectionOptions, JobsOptions, Processor } from 'bullmq-native';

interface ResizeData {
  url: string;
  width: number;
}
interface ResizeResult {
  path: string;
  bytes: number;
}
type ResizeName = 'resize' | 'thumbnail';

const connection: ConnectionOptions = {
  host: process.env.REDIS_HOST,
  port: Number(process.env.REDIS_PORT),
  maxRetriesPerRequest: null,
};
const name = process.env.QUEUE_NAME as string;

const queue = new Queue<ResizeData, ResizeResult, ResizeName>(name, { connection, prefix: 'pack' });
const worker = new Worker<ResizeData, ResizeResult, ResizeName>(name, null, { connection, prefix: 'pack' });

const opts: JobsOptions = { attempts: 2, removeOnComplete: false };
const added: Job<ResizeData, ResizeResult, ResizeName> = await queue.add('resize', { url: '/img/a.png', width: 200 }, opts);

const token = 'consumer-token';
const job = await worker.getNextJob(token);
assert.ok(job, 'a job was fetched');
const width: number = job.data.width;
const jobName: ResizeName = job.name;
const result: ResizeResult = { path: \`/img/\${width}.png\`, bytes: width };
await job.moveToCompleted(result, token, false);

const stored = await queue.getJob(added.id as string);
const returned: ResizeResult | undefined = stored?.returnvalue;

// Type errors the generics must catch; never called.
export function typeErrors(j: Job<ResizeData, ResizeResult, ResizeName>): void {
  // @ts-expect-error: not one of the queue's job names
  void queue.add('crop', { url: 'u', width: 1 });
  // @ts-expect-error: data of the wrong shape
  void queue.add('resize', { url: 'u', width: '1' });
  // @ts-expect-error: a result of the wrong shape
  void j.moveToCompleted({ path: 1 }, 'token');
  // @ts-expect-error: the data is typed
  const s: string = j.data.width;
  // @ts-expect-error: a processor must return the result type
  const bad: Processor<ResizeData, ResizeResult, ResizeName> = async () => 'nope';
  const good: Processor<ResizeData, ResizeResult, ResizeName> = async (p) => ({ path: p.data.url, bytes: p.data.width });
  const w = new Worker<ResizeData, ResizeResult, ResizeName>(name, good, { connection, autorun: false });
  void [s, bad, w];
}

// The CommonJS entry (require) and the ESM entry must be the same classes.
const cjs = createRequire(import.meta.url)('./cjs.cjs') as typeof import('./cjs.cjs');
const sameClasses: string[] = [];
const differentClasses: string[] = [];
for (const [key, value] of Object.entries(cjs.all)) {
  if (typeof value !== 'function') continue;
  ((esm as Record<string, unknown>)[key] === value ? sameClasses : differentClasses).push(key);
}
for (const key of ['Queue', 'Worker', 'Job'] as const) {
  if (esm[key] !== cjs.all[key]) differentClasses.push(key);
}
const addons = cjs.loadedAddons();

await worker.close();
await queue.close();
console.log(JSON.stringify({ result: returned, jobName, sameClasses, differentClasses, addon: addons[0] }));
`;

const CJS_CTS = `
import bullmq = require('bullmq-native');

const q: bullmq.Queue<{ n: number }, string, 'count'> | undefined = undefined;
void q;

export const all = bullmq;

/** Native addons loaded so far, by file name. */
export function loadedAddons(): string[] {
  return Object.keys(require.cache).filter((f) => f.endsWith('.node'));
}
`;

const tsc = join(root, 'node_modules/typescript/bin/tsc');
let dir;
let project;
let packed;
let packedPlatform;
let installOutput;

before(
  async () => {
    for (const built of [binary, 'dist/cjs/index.js', 'dist/esm/index.mjs']) {
      assert.ok(existsSync(join(root, built)), `${built} is missing: run \`npm install\` (or \`npm run build\`) first`);
    }
    dir = mkdtempSync(join(tmpdir(), 'bullmq-native-pack-'));
    const out = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root });
    [packed] = JSON.parse(out);
    const staged = join(dir, platform);
    mkdirSync(staged);
    for (const f of ['package.json', 'README.md']) copyFileSync(join(root, 'npm', platform, f), join(staged, f));
    copyFileSync(join(root, binary), join(staged, binary));
    [packedPlatform] = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: staged }));

    project = join(dir, 'consumer');
    mkdirSync(join(project, 'src'), { recursive: true });
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }, null, 2),
    );
    installOutput = JSON.parse(
      run('npm', ['install', join(dir, packed.filename), join(dir, packedPlatform.filename), '--offline', '--no-audit', '--no-fund', '--json'], {
        cwd: project,
      }),
    );
    // The type checker and Node's types come from this repository, linked in
    // after the install so npm does not prune them.
    mkdirSync(join(project, 'node_modules/@types'), { recursive: true });
    symlinkSync(realpathSync(join(root, 'node_modules/@types/node')), join(project, 'node_modules/@types/node'), 'dir');
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            strict: true,
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            target: 'ES2022',
            types: ['node'],
            rootDir: 'src',
            outDir: 'out',
            skipLibCheck: false,
            noEmitOnError: true,
          },
          include: ['src'],
        },
        null,
        2,
      ),
    );
    writeFileSync(join(project, 'src/main.mts'), MAIN_MTS);
    writeFileSync(join(project, 'src/cjs.cts'), CJS_CTS);
  },
  { timeout: 300000 },
);

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the root tarball carries the loader, the typings and both entries; the platform one the binary', () => {
  const platformFiles = packedPlatform.files.map((f) => f.path).sort();
  assert.deepEqual(platformFiles, [binary, 'README.md', 'package.json'].sort());
  assert.equal(packedPlatform.name, platformPackage);
  assert.equal(pkg.optionalDependencies[platformPackage], pkg.version);
  const files = new Set(packed.files.map((f) => f.path));
  assert.ok(!packed.files.some((f) => f.path.endsWith('.node')), 'the root tarball carries no binary');
  for (const f of ['index.js', 'index.d.ts', 'package.json', 'README.md']) {
    assert.ok(files.has(f), `tarball lacks ${f}`);
  }
  const entries = [pkg.main, pkg.types];
  for (const cond of Object.values(pkg.exports['.'])) entries.push(cond.types, cond.default);
  for (const entry of entries) {
    const f = entry.replace(/^\.\//, '');
    assert.ok(files.has(f), `tarball lacks the entry ${f}`);
  }
  assert.ok(!packed.files.some((f) => /^(src|lua|lib|__test__|target|npm)\//.test(f.path)), 'sources are not shipped');
});

test('installing the tarballs runs no install script and needs no native build', () => {
  const installed = join(project, 'node_modules/bullmq-native');
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  const platformManifest = JSON.parse(readFileSync(join(project, 'node_modules', platformPackage, 'package.json'), 'utf8'));
  for (const m of [manifest, platformManifest]) {
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) {
      assert.equal(m.scripts?.[script], undefined, `${m.name} has a ${script} script`);
    }
  }
  assert.ok(!existsSync(join(installed, 'binding.gyp')), 'a binding.gyp would make npm run node-gyp');
  assert.deepEqual(Object.keys(manifest.dependencies ?? {}), [], 'no runtime dependencies');
  assert.equal(installOutput.unreviewedScripts, undefined, 'npm found install scripts');
  const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8'));
  assert.notEqual(lock.packages['node_modules/bullmq-native'].hasInstallScript, true);
  assert.ok(existsSync(join(project, 'node_modules', platformPackage, binary)), 'the platform package brings the binary');
  const cargo = spawnSync('cargo', ['--version'], { env: cleanEnv() });
  assert.equal(cargo.error?.code, 'ENOENT', 'the consumer runs with no cargo on PATH');
});

test('a strict NodeNext project type-checks Queue, Worker and Job generics', () => {
  run(process.execPath, [tsc, '-p', project], { cwd: project });
  assert.ok(existsSync(join(project, 'out/main.mjs')));
  assert.ok(existsSync(join(project, 'out/cjs.cjs')));
});

test('the compiled project runs against Redis; ESM and CJS entries give the same classes', async () => {
  const url = new URL(await redisUrl());
  const stdout = run(process.execPath, [join(project, 'out/main.mjs')], {
    cwd: project,
    env: cleanEnv({ REDIS_HOST: url.hostname, REDIS_PORT: url.port, QUEUE_NAME: queueName('pack') }),
  });
  const report = JSON.parse(stdout.trim().split('\n').at(-1));
  assert.deepEqual(report.result, { path: '/img/200.png', bytes: 200 });
  assert.equal(report.jobName, 'resize');
  assert.ok(report.sameClasses.length >= 3, 'the entries export the classes');
  assert.deepEqual(report.differentClasses, []);
  assert.equal(report.addon, realpathSync(join(project, 'node_modules', platformPackage, binary)));
});
