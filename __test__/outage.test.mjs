// While Redis is unreachable, a Queue and a Worker each emit one `error`
// (the lost connection), not one per retry; a connection that drops and
// comes straight back emits nothing; processing goes on once Redis is back.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import IORedis from 'ioredis';
import { Queue, Worker } from 'bullmq-native';

import { startRedis } from '../scripts/redis-server.mjs';
import { queueName, waitFor } from './support/redis.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('an outage is one error event on the Queue and on the Worker; recovery and brief drops are silent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'outage-'));
  let server = await startRedis([], { dir });
  const connection = { host: '127.0.0.1', port: server.port };
  const name = queueName('outage');
  const queue = new Queue(name, { connection });
  const done = [];
  const worker = new Worker(name, async (job) => done.push(job.name), { connection, drainDelay: 1 });
  const errors = { queue: [], worker: [] };
  queue.on('error', (e) => errors.queue.push(e));
  worker.on('error', (e) => errors.worker.push(e));
  try {
    await queue.add('before', {});
    await waitFor(() => done.includes('before'), { message: 'the first job' });

    // A drop that reconnects at once is no outage.
    const admin = new IORedis(server.url);
    await admin.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
    await admin.quit();
    await queue.add('after-drop', {});
    await waitFor(() => done.includes('after-drop'), { message: 'the job after the drop' });
    await sleep(1500);
    assert.deepEqual([errors.queue.length, errors.worker.length], [0, 0], 'no error for a drop repaired at once');

    // Down for several seconds: one error each, naming the address.
    server.process.kill('SIGKILL');
    await waitFor(() => errors.queue.length > 0 && errors.worker.length > 0, { timeout: 15000, message: 'the outage errors' });
    await sleep(4000);
    for (const [who, list] of Object.entries(errors)) {
      assert.equal(list.length, 1, `${who}: one error for the outage (${list.map((e) => e.message).join(' | ')})`);
      assert.ok(list[0] instanceof Error);
      assert.match(list[0].message, new RegExp(`Redis at 127\\.0\\.0\\.1:${server.port}`), who);
    }

    // Back: the queue and the worker go on, without another error.
    server = await startRedis([], { dir, port: server.port });
    await queue.add('after-outage', {});
    await waitFor(() => done.includes('after-outage'), { timeout: 20000, message: 'the job after the outage' });
    assert.deepEqual([errors.queue.length, errors.worker.length], [1, 1]);
  } finally {
    await worker.close(true).catch(() => undefined);
    await queue.close().catch(() => undefined);
    await server.stop();
  }
});
