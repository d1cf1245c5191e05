// scripts/build-native.mjs, the build step of `npm install`: a second run with
// no source change must not run cargo, and any change to the crate's inputs
// must. Exercised on a temp tree shaped like the repository (nothing here
// compiles): the freshness check directly, then the script itself, whose
// build step (`napi build`) fails at once in a tree without a real crate, so
// a run that exits 0 is one that did not build.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { ensureBuilt, freshness, INPUTS, recordBuild } from '../scripts/build-native.mjs';

const script = fileURLToPath(new URL('../scripts/build-native.mjs', import.meta.url));
const BINARY = 'bullmq-native.linux-x64-gnu.node';
const PAST = Date.now() / 1000 - 3600;
let dir;
/** The modification time (s) the last fake build gave its outputs. */
let clock;

function write(rel, text) {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), text);
  utimesSync(join(dir, rel), PAST, PAST);
}

/** Sets `rel`'s modification time after the last build's. */
function touch(rel) {
  utimesSync(join(dir, rel), clock + 1, clock + 1);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bullmq-native-build-'));
  clock = PAST;
  write('package.json', JSON.stringify({ name: 'x', napi: { binaryName: 'bullmq-native' } }));
  write('Cargo.toml', '[package]\n');
  write('Cargo.lock', '');
  write('build.rs', 'fn main() {}\n');
  write('src/lib.rs', '');
  write('src/engine/mod.rs', '');
  write('lua/moveToActive.lua', '');
  for (const d of ['src/engine', 'src', 'lua']) utimesSync(join(dir, d), PAST, PAST);
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in for `napi build`: writes the binary and the generated files, counts the calls. */
function fakeBuild() {
  const calls = { n: 0 };
  calls.build = () => {
    calls.n += 1;
    clock += 10;
    for (const f of [BINARY, 'index.js', 'index.d.ts']) {
      writeFileSync(join(dir, f), `build ${calls.n}`);
      utimesSync(join(dir, f), clock, clock);
    }
  };
  return calls;
}

test('a second build with nothing changed does not run, a changed input of each kind does', () => {
  const calls = fakeBuild();
  const quiet = { log: () => undefined };
  assert.equal(ensureBuilt(dir, ['--release'], calls.build, quiet), true);
  assert.equal(ensureBuilt(dir, ['--release'], calls.build, quiet), false, 'the second run built again');
  assert.equal(calls.n, 1);
  for (const input of ['src/engine/mod.rs', 'lua/moveToActive.lua', 'Cargo.toml', 'Cargo.lock', 'build.rs']) {
    touch(input);
    assert.equal(freshness(dir, ['--release']).fresh, false, `${input} changed but the build counts as current`);
    assert.equal(ensureBuilt(dir, ['--release'], calls.build, quiet), true);
    assert.equal(ensureBuilt(dir, ['--release'], calls.build, quiet), false);
  }
  assert.ok(INPUTS.includes('src') && INPUTS.includes('lua'));
  assert.equal(calls.n, 6);
});

test('a new source file, other arguments, a replaced binary or a missing loader need a build', () => {
  const calls = fakeBuild();
  const quiet = { log: () => undefined };
  ensureBuilt(dir, ['--release'], calls.build, quiet);

  writeFileSync(join(dir, 'src/engine/new.rs'), '');
  utimesSync(join(dir, 'src/engine/new.rs'), PAST, PAST); // an old file moved in: its folder changed
  touch('src/engine');
  assert.match(freshness(dir, ['--release']).reason, /^src changed/);
  ensureBuilt(dir, ['--release'], calls.build, quiet);

  assert.match(freshness(dir, []).reason, /other arguments/, 'a debug build is not the release build');

  writeFileSync(join(dir, BINARY), 'a debug build made by hand');
  touch(BINARY);
  assert.match(freshness(dir, ['--release']).reason, /was replaced/);
  ensureBuilt(dir, ['--release'], calls.build, quiet);

  rmSync(join(dir, 'index.js'));
  assert.match(freshness(dir, ['--release']).reason, /index\.js is missing/);
  ensureBuilt(dir, ['--release'], calls.build, quiet);

  write('package.json', JSON.stringify({ name: 'x', napi: { binaryName: 'bullmq-native', targets: ['a'] } }));
  assert.match(freshness(dir, ['--release']).reason, /napi config changed/);
  assert.equal(calls.n, 4);
});

test('the script run twice: the second run skips napi build; after a change it runs it', () => {
  const calls = fakeBuild();
  calls.build();
  recordBuild(dir, ['--release']); // as the first `npm install` leaves it
  const run = () => spawnSync(process.execPath, [script, '--release'], { cwd: dir, encoding: 'utf8' });

  const second = run();
  assert.equal(second.status, 0, second.stderr);
  assert.match(second.stdout, /native module up to date .*not running cargo/);

  touch('src/lib.rs');
  const third = run();
  assert.match(third.stdout, /building the native module: src changed/);
  assert.notEqual(third.status, 0, 'napi build ran in a tree without a crate and should have failed');
});
