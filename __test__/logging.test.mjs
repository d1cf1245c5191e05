// The engine logs through `tracing`: nothing by default, and the events the
// `BULLMQ_NATIVE_LOG` filter selects on stderr when it is set. Each case runs
// in its own process because the filter is read once per process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { connection, queueName } from './support/redis.mjs';

async function openAndClose(env) {
  const name = queueName('log');
  const script = `
    import { Queue } from 'bullmq-native';
    const queue = new Queue(${JSON.stringify(name)}, { connection: ${JSON.stringify(await connection())} });
    await queue.add('x', {});
    await queue.close();
  `;
  const childEnv = { ...process.env, ...env };
  if (!('BULLMQ_NATIVE_LOG' in env)) delete childEnv.BULLMQ_NATIVE_LOG;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    env: childEnv,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return { name, stderr: r.stderr };
}

test('the engine is silent when BULLMQ_NATIVE_LOG is not set', async () => {
  const { stderr } = await openAndClose({});
  assert.equal(stderr, '');
});

test('BULLMQ_NATIVE_LOG=debug prints engine events on stderr', async () => {
  const { name, stderr } = await openAndClose({ BULLMQ_NATIVE_LOG: 'debug' });
  assert.match(stderr, /DEBUG/);
  assert.match(stderr, /queue opened/);
  assert.ok(stderr.includes(name), stderr);
  assert.ok(!stderr.includes('\u001b['), 'no colour codes when stderr is not a terminal');
});

test('BULLMQ_NATIVE_LOG takes a filter: warn hides debug events', async () => {
  const { stderr } = await openAndClose({ BULLMQ_NATIVE_LOG: 'warn' });
  assert.equal(stderr, '');
});
