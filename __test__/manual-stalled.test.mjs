// worker.startStalledCheckTimer: jobs whose lock expired go back to wait,
// with `stalled` on the stream and on the worker; past maxStalledCount they
// are handed out with their deferred failure (the automatic worker fails
// them, see worker-unrecoverable). The timer stops on close and never keeps
// the process alive.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';
import { UnrecoverableError } from 'bullmq-native';

import { track } from './support/closers.mjs';
import { setup as setupManual } from './support/manual.mjs';
import { connection, queueName, rawClient, redisUrl, streamEvents, waitFor } from './support/redis.mjs';

/** Short locks and check intervals; `stalled` collects the worker's events. */
async function setup(label, workerOpts = {}) {
  const ctx = await setupManual(label, { lockDuration: 300, stalledInterval: 200, ...workerOpts });
  const stalled = [];
  ctx.worker.on('stalled', (jobId, prev) => stalled.push([jobId, prev]));
  return { ...ctx, stalled };
}

test('a job whose lock expired goes back to wait with a stalled event', async () => {
  const { name, queue, worker, stalled, redis } = await setup('stalled');
  await queue.add('x', {});
  const job = await worker.getNextJob('tok');
  await worker.startStalledCheckTimer();
  await waitFor(() => stalled.length > 0, { message: 'a stalled event' });
  assert.deepEqual(stalled, [[job.id, 'active']]);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [job.id]);
  assert.deepEqual(await redis.lrange(`bull:${name}:active`, 0, -1), []);
  const events = await streamEvents(redis, 'bull', name);
  const tail = events.slice(-2).map((e) => [e.event, e.jobId, e.prev]);
  assert.deepEqual(tail, [['waiting', job.id, 'active'], ['stalled', job.id, undefined]]);

  const again = await worker.getNextJob('tok');
  assert.equal(again.id, job.id);
  assert.equal(again.stalledCounter, 1);
  // Holding the lock keeps it from stalling again.
  assert.equal(await again.extendLock('tok', 30000), 1);
  await again.moveToCompleted('ok', 'tok', false);
  assert.deepEqual(await redis.zrange(`bull:${name}:completed`, 0, -1), [job.id]);
});

test('a job that renews its lock does not stall', async () => {
  const { name, queue, worker, stalled, redis } = await setup('renewed', { lockDuration: 1000 });
  await queue.add('x', {});
  const job = await worker.getNextJob('tok');
  await worker.startStalledCheckTimer();
  // Renew for a few check intervals, then stop and let it stall.
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    assert.equal(await job.extendLock('tok', 1000), 1);
    await new Promise((r) => setTimeout(r, 40));
  }
  assert.deepEqual(stalled, []);
  assert.deepEqual(await redis.lrange(`bull:${name}:active`, 0, -1), [job.id]);
  await waitFor(() => stalled.length > 0, { message: 'the stall once renewal stopped' });
});

test('past maxStalledCount getNextJob hands the job out with its deferred failure (as 6.7)', async () => {
  const { name, queue, worker, stalled, redis } = await setup('too-many', { maxStalledCount: 1 });
  await queue.add('x', {}, { attempts: 5 });
  const job = await worker.getNextJob('tok');
  await worker.startStalledCheckTimer();
  await waitFor(() => stalled.length === 1, { message: 'the first stall' });
  const again = await worker.getNextJob('tok');
  assert.equal(again.id, job.id);
  await waitFor(() => stalled.length === 2, { message: 'the second stall' });
  assert.equal(await redis.hget(`bull:${name}:${job.id}`, 'defa'), 'job stalled more than allowable limit');

  // The manual processor decides; failing it as unrecoverable ends it.
  const third = await worker.getNextJob('tok', { block: false });
  assert.equal(third.id, job.id);
  assert.equal(third.deferredFailure, 'job stalled more than allowable limit');
  assert.equal(third.stalledCounter, 2);
  await third.moveToFailed(new UnrecoverableError(third.deferredFailure), 'tok');
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), [job.id]);
  const failed = await queue.getJob(job.id);
  assert.equal(failed.failedReason, 'job stalled more than allowable limit');
  assert.equal(failed.deferredFailure, undefined);
  const events = await streamEvents(redis, 'bull', name);
  const f = events.find((e) => e.event === 'failed');
  assert.deepEqual([f.jobId, f.failedReason], [job.id, 'job stalled more than allowable limit']);
});

test('a job with a deferred failure comes by fetch-next like any other (as 6.7)', async () => {
  const results = [];
  for (const pkg of [ours, official]) {
    const conn = await connection();
    const name = queueName('defa-next');
    const queue = track(new pkg.Queue(name, { connection: conn }));
    const worker = track(new pkg.Worker(name, null, { connection: conn }));
    const redis = await rawClient();
    await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
    await redis.hset(`bull:${name}:2`, 'defa', 'child bull:other:1 failed');
    const a = await worker.getNextJob('tok');
    const [data, id] = await a.moveToCompleted('ok', 'tok', true);
    const b = pkg.Job.fromJSON(worker, data, id);
    results.push([id, b.name, b.deferredFailure, await b.getState()]);
  }
  assert.deepEqual(results[0], results[1]);
  assert.deepEqual(results[0], ['2', 'b', 'child bull:other:1 failed', 'active']);
});

test('close stops the stalled checker', async () => {
  const { name, worker, redis } = await setup('stop', { stalledInterval: 100 });
  await worker.startStalledCheckTimer();
  await waitFor(async () => (await redis.exists(`bull:${name}:stalled-check`)) === 1, {
    message: 'the first check',
  });
  await worker.close();
  await redis.del(`bull:${name}:stalled-check`);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await redis.exists(`bull:${name}:stalled-check`), 0, 'no check ran after close');
  // Starting on a closed worker does nothing.
  await worker.startStalledCheckTimer();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await redis.exists(`bull:${name}:stalled-check`), 0);
});

test('a process whose only worker was closed exits', async () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const u = new URL(await redisUrl());
  const script = `
    import { Worker } from 'bullmq-native';
    const worker = new Worker(${JSON.stringify(queueName('exit'))}, null, {
      connection: { host: ${JSON.stringify(u.hostname)}, port: ${Number(u.port)} },
      stalledInterval: 50,
    });
    await worker.startStalledCheckTimer();
    await worker.getNextJob('t', { block: false });
    await worker.close();
    console.log('closed');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const code = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve('still running');
    }, 20000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.equal(code, 0, out);
  assert.match(out, /closed/);
});
