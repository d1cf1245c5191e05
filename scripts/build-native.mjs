// Builds the native module with `napi build --platform <args>` in the current
// directory (the package root under npm), unless the last build made here with
// the same arguments is still current: its .node file is untouched and newer
// than every input of the crate. So a second `npm install` with no source
// change does not run cargo (whose own check of a release build with LTO costs
// seconds to minutes). BULLMQ_NATIVE_REBUILD=1 builds regardless.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the crate is built from: a change to any of these needs a build. */
export const INPUTS = ['src', 'lua', 'Cargo.toml', 'Cargo.lock', 'build.rs', '.cargo'];
/** What a build leaves that later steps need (the generated loader and typings). */
const OUTPUTS = ['index.js', 'index.d.ts'];
const STAMP = join('target', 'bullmq-native-build.json');

/** The newest modification time under `path` (folders count: adding or removing a file changes theirs). */
function newestMtime(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  let newest = st.mtimeMs;
  if (st.isDirectory()) {
    for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

function napiConfig(dir) {
  return JSON.stringify(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).napi ?? null);
}

function readStamp(dir) {
  try {
    return JSON.parse(readFileSync(join(dir, STAMP), 'utf8'));
  } catch {
    return null;
  }
}

/** `{ fresh, reason }`: whether the build recorded in `dir` for these `napi build` arguments is current. */
export function freshness(dir, args) {
  const stamp = readStamp(dir);
  if (!stamp) return { fresh: false, reason: 'no build recorded' };
  if (JSON.stringify(stamp.args) !== JSON.stringify(args)) {
    return { fresh: false, reason: `last build had other arguments (${stamp.args.join(' ')})` };
  }
  if (stamp.napi !== napiConfig(dir)) return { fresh: false, reason: 'package.json napi config changed' };
  for (const f of OUTPUTS) {
    if (!existsSync(join(dir, f))) return { fresh: false, reason: `${f} is missing` };
  }
  let binary;
  try {
    binary = statSync(join(dir, stamp.binary));
  } catch {
    return { fresh: false, reason: `${stamp.binary} is missing` };
  }
  if (binary.mtimeMs !== stamp.mtimeMs || binary.size !== stamp.size) {
    return { fresh: false, reason: `${stamp.binary} was replaced since (another build?)` };
  }
  const changed = INPUTS.find((input) => newestMtime(join(dir, input)) >= binary.mtimeMs);
  if (changed) return { fresh: false, reason: `${changed} changed` };
  return { fresh: true, reason: `${stamp.binary} is newer than ${INPUTS.join(', ')}` };
}

/** Records the build just made in `dir`: the newest `<binaryName>.*.node` at its root. */
export function recordBuild(dir, args) {
  const nodes = readdirSync(dir)
    .filter((f) => f.endsWith('.node'))
    .map((f) => ({ f, st: statSync(join(dir, f)) }))
    .sort((a, b) => b.st.mtimeMs - a.st.mtimeMs);
  if (nodes.length === 0) throw new Error(`napi build left no .node file in ${dir}`);
  const [{ f, st }] = nodes;
  mkdirSync(join(dir, dirname(STAMP)), { recursive: true });
  const stamp = { args, napi: napiConfig(dir), binary: f, mtimeMs: st.mtimeMs, size: st.size };
  writeFileSync(join(dir, STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
}

/** Runs `build()` unless the last one is current; returns whether it ran. */
export function ensureBuilt(dir, args, build, { force = false, log = console.log } = {}) {
  const state = freshness(dir, args);
  if (state.fresh && !force) {
    log(`native module up to date (${state.reason}); not running cargo. BULLMQ_NATIVE_REBUILD=1 forces a build.`);
    return false;
  }
  log(`building the native module: ${force ? 'BULLMQ_NATIVE_REBUILD is set' : state.reason}`);
  build();
  recordBuild(dir, args);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = process.cwd();
  const args = process.argv.slice(2);
  const cliManifest = createRequire(import.meta.url).resolve('@napi-rs/cli/package.json');
  const napi = join(dirname(cliManifest), JSON.parse(readFileSync(cliManifest, 'utf8')).bin.napi);
  const force = !['', '0', undefined].includes(process.env.BULLMQ_NATIVE_REBUILD);
  ensureBuilt(
    dir,
    args,
    () => {
      const r = spawnSync(process.execPath, [napi, 'build', '--platform', ...args], { cwd: dir, stdio: 'inherit' });
      if (r.status !== 0) process.exit(r.status ?? 1);
    },
    { force },
  );
}
