// Mixed fleets: workers of the official `bullmq` 6.x and 5.81.x and ours share
// one queue (jobs added by both producers) and process 2,000 jobs, each
// exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Queue, Worker } from 'bullmq-native';
import { Queue as Queue6, Worker as Worker6 } from 'bullmq';
import { Worker as Worker5 } from 'bullmq5';

import { connection, queueName, waitFor } from './support/redis.mjs';

const TOTAL = 2000;

test('official 6.x and 5.81.x workers and ours process 2,000 jobs, each exactly once', async () => {
  const name = queueName('fleet');
  const conn = await connection();
  const ours = new Queue(name, { connection: conn });
  const theirs = new Queue6(name, { connection: conn });

  const seen = new Map();
  const byWorker = { native: 0, v6: 0, v5: 0 };
  const processor = (who) => async (job) => {
    seen.set(job.data.i, (seen.get(job.data.i) ?? 0) + 1);
    byWorker[who] += 1;
    // Yield so that every worker gets a share.
    await new Promise((r) => setTimeout(r, 1));
    return { i: job.data.i, by: who };
  };
  const workers = [
    new Worker(name, processor('native'), { connection: conn, concurrency: 8 }),
    new Worker6(name, processor('v6'), { connection: conn, concurrency: 8 }),
    new Worker5(name, processor('v5'), { connection: conn, concurrency: 8 }),
  ];
  const errors = [];
  for (const w of workers) w.on('error', (e) => errors.push(e));
  await Promise.all(workers.map((w) => w.waitUntilReady()));

  for (let start = 0; start < TOTAL; start += 100) {
    const batch = Array.from({ length: 100 }, (_, k) => ({ name: 'job', data: { i: start + k } }));
    await (start % 200 === 0 ? ours : theirs).addBulk(batch);
  }

  await waitFor(async () => (await ours.getCompletedCount()) === TOTAL, {
    timeout: 45000,
    interval: 100,
    message: 'all jobs completed',
  });
  await Promise.all(workers.map((w) => w.close()));

  assert.deepEqual(errors, []);
  assert.equal(seen.size, TOTAL);
  const repeated = [...seen].filter(([, n]) => n !== 1);
  assert.deepEqual(repeated, [], 'no job was processed twice');
  assert.equal(byWorker.native + byWorker.v6 + byWorker.v5, TOTAL);
  for (const [who, n] of Object.entries(byWorker)) assert.ok(n > 0, `${who} processed ${n} jobs`);

  const counts = await ours.getJobCounts('wait', 'active', 'delayed', 'failed', 'completed', 'prioritized');
  assert.deepEqual(counts, { wait: 0, active: 0, delayed: 0, failed: 0, completed: TOTAL, prioritized: 0 });
  // What each worker wrote reads back the same from both sides.
  const sample = await theirs.getJob('1');
  assert.deepEqual(sample.returnvalue.i, 0);
  const fromOurs = await ours.getJob(sample.id);
  assert.deepEqual(fromOurs.returnvalue, sample.returnvalue);
  await Promise.all([ours.close(), theirs.close()]);
});
