// Metrics of finished jobs: what workers with `metrics.maxDataPoints` record
// (the same as bullmq 6.7's workers from the same state, also for jobs that
// finish together in one batch), getMetrics, and exportPrometheusMetrics.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import { MetricsTime, Queue, Worker } from 'bullmq-native';

import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';
import { track } from './support/closers.mjs';


/** Waits until the clock is at least 3 s away from the next minute, so a scenario stays in one minute. */
async function awayFromMinuteBoundary() {
  const left = 60000 - (Date.now() % 60000);
  if (left < 3000) await new Promise((r) => setTimeout(r, left + 50));
}

/** Seeds a queue's completed metrics as if `minutesAgo` minutes passed since the last data point. */
async function seed(redis, name, minutesAgo) {
  const key = `bull:${name}:metrics:completed`;
  await redis.hset(key, { count: 10, prevTS: Date.now() - minutesAgo * 60000, prevCount: 4 });
  await redis.rpush(`${key}:data`, 2, 1);
}

async function metricsState(redis, name) {
  const meta = await redis.hgetall(`bull:${name}:metrics:completed`);
  delete meta.prevTS; // the time of the finish itself
  return {
    meta,
    data: await redis.lrange(`bull:${name}:metrics:completed:data`, 0, -1),
    failed: await redis.hget(`bull:${name}:metrics:failed`, 'count'),
  };
}

/** Processes `n` jobs (the last `failing` of them fail) with a worker made by `makeWorker`. */
async function runJobs(Impl, name, conn, n, failing, workerOpts) {
  const queue = track(new Queue(name, { connection: conn }));
  await queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'j', data: { fail: i >= n - failing } })));
  let done = 0;
  const worker = track(
    new Impl(
      name,
      async (job) => {
        // All jobs start before any finishes: they finish together.
        await new Promise((r) => setTimeout(r, 30));
        if (job.data.fail) throw new Error('no');
        return 'ok';
      },
      { connection: conn, concurrency: n, ...workerOpts },
    ),
  );
  worker.on('completed', () => done++);
  worker.on('failed', () => done++);
  await waitFor(() => done === n, { message: `${n} jobs finished` });
  await worker.close();
  return queue;
}

for (const [label, minutesAgo, maxDataPoints] of [
  ['first data points', 3.5, 10],
  ['more minutes than data points kept', 30, 10],
  ['the same minute', 0, 10],
]) {
  test(`metrics recorded as bullmq records them: ${label}, jobs finishing together`, async () => {
    await awayFromMinuteBoundary();
    const conn = await connection();
    const redis = await rawClient();
    const ours = queueName('metrics-ours');
    const theirs = queueName('metrics-theirs');
    await seed(redis, ours, minutesAgo);
    await seed(redis, theirs, minutesAgo);
    await runJobs(Worker, ours, conn, 6, 2, { metrics: { maxDataPoints } });
    await runJobs(official.Worker, theirs, conn, 6, 2, { metrics: { maxDataPoints } });
    const expected = await metricsState(redis, theirs);
    assert.deepEqual(await metricsState(redis, ours), expected);
    assert.equal(expected.meta.count, '14');
  });
}

test('getMetrics reads what was recorded, as bullmq reads it', async () => {
  const conn = await connection();
  const redis = await rawClient();
  const name = queueName('metrics-get');
  await seed(redis, name, 5);
  const queue = await runJobs(Worker, name, conn, 3, 1, { metrics: { maxDataPoints: MetricsTime.ONE_HOUR } });
  const theirQueue = track(new official.Queue(name, { connection: conn }));
  for (const [type, start, end] of [['completed', 0, -1], ['completed', 1, 3], ['failed', 0, -1]]) {
    assert.deepEqual(await queue.getMetrics(type, start, end), await theirQueue.getMetrics(type, start, end), `${type} ${start}..${end}`);
  }
  const all = await queue.getMetrics('completed');
  assert.equal(all.meta.count, 12);
  assert.equal(all.count, all.data.length);
  // The 6 jobs of the minute before, then zeros for the minutes without a finish, newest first.
  assert.deepEqual(all.data.slice(0, 7), [0, 0, 0, 0, 6, 2, 1]);
  await assert.rejects(queue.getMetrics('waiting'), /getMetrics: type must be 'completed' or 'failed'/);
});

test('a worker without the metrics option records none', async () => {
  const conn = await connection();
  const redis = await rawClient();
  const name = queueName('metrics-none');
  await runJobs(Worker, name, conn, 3, 1, {});
  assert.deepEqual(await redis.keys(`bull:${name}:metrics*`), []);
});

test('the manual surface records metrics with the worker option too', async () => {
  const conn = await connection();
  const name = queueName('metrics-manual');
  const queue = track(new Queue(name, { connection: conn }));
  const worker = track(new Worker(name, null, { connection: conn, metrics: { maxDataPoints: 5 } }));
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
  const a = await worker.getNextJob('tok');
  await a.moveToCompleted('x', 'tok', false);
  const b = await worker.getNextJob('tok');
  await b.moveToFailed(new Error('bad'), 'tok');
  assert.equal((await queue.getMetrics('completed')).meta.count, 1);
  assert.equal((await queue.getMetrics('failed')).meta.count, 1);
});

test('the metrics option is checked', async () => {
  const conn = await connection();
  assert.throws(() => new Worker('x', null, { connection: conn, metrics: { maxDataPoints: -1 }, autorun: false }), /metrics.maxDataPoints must be an integer >= 0/);
  assert.throws(() => new Worker('x', null, { connection: conn, metrics: 5, autorun: false }), /metrics must be an object/);
});

test('exportPrometheusMetrics gives the text bullmq gives for the same queue', async () => {
  const conn = await connection();
  const name = queueName('prom "q"');
  const queue = await runJobs(Worker, name, conn, 4, 1, { metrics: { maxDataPoints: 10 } });
  await queue.addBulk([{ name: 'w', data: {} }, { name: 'd', data: {}, opts: { delay: 60000 } }, { name: 'p', data: {}, opts: { priority: 2 } }]);
  const theirQueue = track(new official.Queue(name, { connection: conn }));
  const globals = { env: 'prod', note: 'a "quoted"\nvalue\\' };
  const text = await queue.exportPrometheusMetrics(globals);
  assert.equal(text, await theirQueue.exportPrometheusMetrics(globals));
  assert.equal(await queue.exportPrometheusMetrics(), await theirQueue.exportPrometheusMetrics());
  assert.match(text, /bullmq_job_completed_total\{queue="prom \\"q\\"-[0-9a-f]+", env="prod", note="a \\"quoted\\"\\nvalue\\\\"\} 3/);
  assert.match(text, /state="delayed".* 1\n/);
});
