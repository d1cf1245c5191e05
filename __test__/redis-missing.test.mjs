// A machine without redis-server: the README's demo and test commands, and a
// test file run on its own, stop with one short message that says how to get
// a Redis, instead of a spawn ENOENT stack trace. PATH holds node alone and
// REDIS_URL is unset, as on such a machine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = mkdtempSync(join(tmpdir(), 'bullmq-native-noredis-'));
symlinkSync(process.execPath, join(bin, process.platform === 'win32' ? 'node.exe' : 'node'));
after(() => rmSync(bin, { recursive: true, force: true }));

function runWithoutRedis(args) {
  const env = { ...process.env, PATH: bin };
  delete env.REDIS_URL;
  delete env.REDIS_SERVER_BIN;
  delete env.NODE_TEST_CONTEXT; // else a nested `node --test` reports to this runner instead of exiting
  return spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8' });
}

function assertShortMessage(text) {
  const lines = text.trim().split('\n');
  assert.match(lines[0], /needs a Redis server, and there is no `redis-server` on the PATH/);
  for (const way of [/REDIS_URL=redis:\/\//, /apt-get install redis-server/, /brew install redis/, /docker run/]) {
    assert.match(text, way);
  }
  assert.ok(lines.length <= 6, `more than a short message:\n${text}`);
  assert.doesNotMatch(text, /ENOENT|^\s+at /m, 'a stack trace or the raw spawn error');
}

test('npm run demo (scripts/with-redis.mjs) stops with the message and exit code 1', () => {
  const r = runWithoutRedis(['scripts/with-redis.mjs', process.execPath, '-e', 'console.log("ran")']);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '', 'the command ran without a Redis');
  assertShortMessage(r.stderr);
});

test('npm test (scripts/test.mjs) stops with the message before running anything', () => {
  const r = runWithoutRedis(['scripts/test.mjs', '__test__/exports.test.mjs']);
  assert.equal(r.status, 1);
  assert.doesNotMatch(r.stdout, /\$ /, 'a test command was started');
  assertShortMessage(r.stderr);
});

test('a test file run on its own (the __test__/support harness) fails with the message', () => {
  const file = join(bin, 'needs-redis.test.mjs');
  const harness = new URL('./support/redis.mjs', import.meta.url).href;
  writeFileSync(
    file,
    `import { test } from 'node:test';\nimport { redisUrl } from '${harness}';\ntest('x', async () => { await redisUrl(); });\n`,
  );
  const r = runWithoutRedis(['--test', '--test-reporter=spec', file]);
  assert.equal(r.status, 1);
  const output = r.stdout + r.stderr;
  const start = output.indexOf('This command needs a Redis server');
  assert.ok(start >= 0, `no message in:\n${output}`);
  assertShortMessage(output.slice(start).split('\n').slice(0, 5).join('\n'));
  assert.doesNotMatch(r.stdout + r.stderr, /ENOENT/);
});
