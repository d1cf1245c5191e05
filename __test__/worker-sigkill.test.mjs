// A worker process killed with SIGKILL while jobs are active: another worker
// recovers them through the stalled checker; every job completes exactly
// once and nothing is left in wait, active or the stalled set.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

import { Queue, Worker } from 'bullmq-native';

import { connection, queueName, rawClient, redisUrl, waitFor } from './support/redis.mjs';

const TOTAL = 20;

test('jobs of a SIGKILLed worker process are recovered and completed once', async () => {
  const name = queueName('sigkill');
  const conn = await connection();
  const queue = new Queue(name, { connection: conn });
  const redis = await rawClient();
  const u = new URL(await redisUrl());

  // The child completes even jobs and hangs on odd ones until its four slots
  // hold hanging jobs; its locks last 1 s unless renewed.
  const script = `
    import { Worker } from 'bullmq-native';
    const worker = new Worker(${JSON.stringify(name)}, async (job) => {
      if (job.data.i % 2 === 1) return new Promise(() => {});
      return 'child';
    }, {
      connection: { host: ${JSON.stringify(u.hostname)}, port: ${Number(u.port)} },
      concurrency: 4,
      lockDuration: 1000,
      skipStalledCheck: true,
    });
    worker.on('ready', () => console.log('ready'));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  try {
    await waitFor(() => out.includes('ready'), { timeout: 20000, message: 'the child worker is ready' });
    await queue.addBulk(Array.from({ length: TOTAL }, (_, i) => ({ name: 'job', data: { i } })));
    await waitFor(
      async () => {
        const active = await queue.getActive();
        return active.length === 4 && active.every((j) => j.data.i % 2 === 1);
      },
      { message: 'four hanging jobs in the child' },
    );
  } finally {
    child.kill('SIGKILL');
  }
  assert.equal(await exited, 'SIGKILL');
  const doneByChild = (await queue.getCompleted()).map((j) => j.id);
  const stuck = (await queue.getActive()).map((j) => j.id).sort();
  assert.equal(stuck.length, 4);

  const processed = [];
  const stalled = [];
  const rescuer = new Worker(
    name,
    async (job) => {
      processed.push(job.id);
      return 'recovered';
    },
    { connection: conn, stalledInterval: 300, concurrency: 4 },
  );
  rescuer.on('stalled', (jobId) => stalled.push(jobId));
  await waitFor(async () => (await queue.getCompletedCount()) === TOTAL, {
    timeout: 30000,
    message: 'every job completed',
  });
  assert.deepEqual([...stalled].sort(), stuck, 'the hanging jobs were recovered as stalled');
  assert.equal(new Set(processed).size, processed.length, 'the rescuer processed no job twice');
  assert.deepEqual(
    processed.filter((id) => doneByChild.includes(id)),
    [],
    'no job the child completed ran again',
  );
  assert.equal(processed.length + doneByChild.length, TOTAL);
  for (const id of stuck) assert.ok(processed.includes(id));
  const jobs = await queue.getCompleted(0, -1);
  for (const j of jobs) assert.equal(j.returnvalue, doneByChild.includes(j.id) ? 'child' : 'recovered');
  assert.equal(jobs.filter((j) => stuck.includes(j.id)).every((j) => j.stalledCounter === 1), true);

  assert.equal(await queue.getWaitingCount(), 0);
  assert.equal(await queue.getActiveCount(), 0);
  await waitFor(async () => (await redis.scard(`bull:${name}:stalled`)) === 0, { message: 'the stalled set empties' });
  await rescuer.close();
  await queue.close();
});
