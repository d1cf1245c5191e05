// Job schedulers, the worker side: the next iteration is added when the
// current one is fetched (automatic worker, getNextJob, the fetch-next of a
// finish), only by the current iteration; limit and endDate end the
// schedule; a Worker's own repeatStrategy; scheduler jobs and stalling,
// drain, clean, obliterate and remove.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Queue, Worker } from 'bullmq-native';

import { closeAfter } from './support/manual.mjs';
import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';

async function setup(label) {
  const name = queueName(label);
  const conn = await connection();
  const queue = closeAfter(new Queue(name, { connection: conn }));
  return { name, conn, queue, redis: await rawClient() };
}

/** The ids of a scheduler's iterations waiting to run (wait, delayed, prioritized). */
async function pending(redis, name, id) {
  const all = [
    ...(await redis.lrange(`bull:${name}:wait`, 0, -1)),
    ...(await redis.zrange(`bull:${name}:delayed`, 0, -1)),
    ...(await redis.zrange(`bull:${name}:prioritized`, 0, -1)),
  ];
  return all.filter((j) => j.startsWith(`repeat:${id}:`));
}

const millisOf = (jobId) => Number(jobId.split(':').pop());

test('an automatic worker runs every iteration, each adding the next one when fetched', async () => {
  const { name, conn, queue, redis } = await setup('auto');
  const seen = [];
  const worker = closeAfter(
    new Worker(name, async (job) => {
      seen.push({ id: job.id, key: job.repeatJobKey, count: job.opts.repeat.count, data: job.data });
    }, { connection: conn, drainDelay: 1 }),
  );
  await queue.upsertJobScheduler('tick', { every: 250 }, { data: { n: 1 } });
  await waitFor(() => seen.length >= 4, { message: 'four iterations', timeout: 15000 });
  await worker.close();
  assert.deepEqual(seen.slice(0, 4).map((s) => s.count), [1, 2, 3, 4]);
  assert.ok(seen.every((s) => s.key === 'tick' && s.data.n === 1));
  const times = seen.slice(0, 4).map((s) => millisOf(s.id));
  for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 250);
  // Exactly one pending iteration is left, the one the last fetch added.
  const left = await pending(redis, name, 'tick');
  assert.equal(left.length, 1);
  assert.equal(Number(await redis.zscore(`bull:${name}:repeat`, 'tick')), millisOf(left[0]));
  assert.equal(Number(await redis.hget(`bull:${name}:repeat:tick`, 'ic')), seen.length + 1);
});

test('getNextJob adds the next iteration, and only the current iteration does', async () => {
  const { name, conn, queue, redis } = await setup('manual');
  const worker = closeAfter(new Worker(name, null, { connection: conn }));
  const first = await queue.upsertJobScheduler('m', { every: 300 });
  const job = await worker.getNextJob('tok');
  assert.equal(job.id, first.id);
  const next = await pending(redis, name, 'm');
  assert.deepEqual(next, [`repeat:m:${millisOf(first.id) + 300}`]);
  const stored = await queue.getJob(next[0]);
  assert.equal(stored.repeatJobKey, 'm');
  assert.deepEqual(stored.opts.repeat, { every: 300, count: 2 });
  assert.equal(stored.opts.attempts, 0);
  assert.equal(await queue.getJobState(next[0]), 'delayed');

  // The fetch-next of a finish hands out the next iteration and adds the one after it.
  await waitFor(async () => (await pending(redis, name, 'm')).length === 1 && millisOf(next[0]) <= Date.now(), {
    message: 'the second iteration to be due',
  });
  const [, secondId] = await job.moveToCompleted('done', 'tok', true);
  assert.equal(secondId, next[0]);
  assert.deepEqual(await pending(redis, name, 'm'), [`repeat:m:${millisOf(first.id) + 600}`]);

  // An iteration that is no longer the scheduler's current one adds nothing.
  await redis.lpush(`bull:${name}:wait`, first.id);
  await redis.del(`bull:${name}:${first.id}:lock`);
  const stale = await worker.getNextJob('tok2');
  assert.equal(stale.id, first.id);
  assert.deepEqual(await pending(redis, name, 'm'), [`repeat:m:${millisOf(first.id) + 600}`]);
  assert.equal(await redis.hget(`bull:${name}:repeat:m`, 'ic'), '3');
});

test('limit and endDate end the schedule', async () => {
  const { name, conn, queue, redis } = await setup('limit');
  const worker = closeAfter(new Worker(name, null, { connection: conn }));
  await queue.upsertJobScheduler('l', { every: 100, limit: 3 });
  const ids = [];
  for (let i = 0; i < 3; i++) {
    const job = await waitFor(() => worker.getNextJob('tok', { block: false }), { message: `iteration ${i + 1}` });
    ids.push(job.id);
    await job.moveToCompleted('ok', 'tok', false);
  }
  assert.equal(ids.length, 3);
  assert.deepEqual(await pending(redis, name, 'l'), [], 'no fourth iteration');
  assert.equal(await worker.getNextJob('tok', { block: false }), undefined);

  const endDate = Date.now() + 700;
  await queue.upsertJobScheduler('e', { every: 250, endDate });
  let last;
  for (;;) {
    const job = await waitFor(() => worker.getNextJob('tok', { block: false }), { message: 'an iteration' });
    last = job;
    await job.moveToCompleted('ok', 'tok', false);
    if ((await pending(redis, name, 'e')).length === 0) break;
  }
  assert.ok(Date.now() > endDate || millisOf(last.id) + 250 > endDate);
  await new Promise((r) => setTimeout(r, Math.max(0, endDate - Date.now()) + 300));
  assert.deepEqual(await pending(redis, name, 'e'), []);
});

test('without a worker a scheduler keeps exactly one pending iteration', async () => {
  const { name, queue, redis } = await setup('idle');
  await queue.upsertJobScheduler('i', { every: 100 });
  await new Promise((r) => setTimeout(r, 600));
  assert.equal((await pending(redis, name, 'i')).length, 1);
  assert.equal((await redis.keys(`bull:${name}:repeat:i:*`)).length, 1);
});

test("a Worker's repeatStrategy computes the next pattern time, for the automatic worker and getNextJob", async () => {
  const { name, conn, queue, redis } = await setup('strategy');
  const calls = [];
  const repeatStrategy = (millis, opts, jobName) => {
    calls.push([opts.pattern, jobName]);
    return Math.ceil(millis / 200) * 200 + 200;
  };
  // The queue's first time comes from the same strategy (a pattern no cron reads).
  const producer = closeAfter(new Queue(name, { connection: conn, settings: { repeatStrategy } }));
  await producer.upsertJobScheduler('own', { pattern: 'every-200ms' }, { name: 'x' });
  const manual = closeAfter(new Worker(name, null, { connection: conn, settings: { repeatStrategy } }));
  const job = await waitFor(() => manual.getNextJob('tok', { block: false }), { message: 'the first iteration' });
  const [next] = await pending(redis, name, 'own');
  assert.ok(next, 'getNextJob added the next iteration');
  assert.equal(millisOf(next) % 200, 0);
  assert.ok(millisOf(next) > millisOf(job.id));
  await job.moveToCompleted('ok', 'tok', false);

  const seen = [];
  const auto = closeAfter(new Worker(name, async (j) => void seen.push(j.id), { connection: conn, settings: { repeatStrategy } }));
  await waitFor(() => seen.length >= 3, { message: 'three iterations', timeout: 15000 });
  await auto.close();
  assert.ok(calls.length >= 4);
  assert.ok(calls.every(([pattern, n]) => pattern === 'every-200ms' && n === 'x'));
  assert.equal((await pending(redis, name, 'own')).length, 1);
});

test('iterations are never failed for stalling', async () => {
  const { name, conn, queue, redis } = await setup('stall');
  const worker = closeAfter(new Worker(name, null, { connection: conn, lockDuration: 200, stalledInterval: 150, maxStalledCount: 0 }));
  const first = await queue.upsertJobScheduler('st', { every: 60000 });
  await queue.add('plain', {});
  const a = await worker.getNextJob('tok');
  const b = await worker.getNextJob('tok');
  assert.deepEqual([a.id, b.id].sort(), [first.id, '2'].sort());
  const stalled = [];
  worker.on('stalled', (id) => stalled.push(id));
  await worker.startStalledCheckTimer();
  await waitFor(() => stalled.length >= 2, { message: 'both jobs to stall' });
  assert.equal(await redis.hexists(`bull:${name}:${first.id}`, 'defa'), 0);
  assert.equal(await redis.hget(`bull:${name}:2`, 'defa'), 'job stalled more than allowable limit');
  // Fetched again, both are handed out: the iteration as it is, the plain
  // job with its deferred failure (the manual processor fails it).
  const handed = [];
  for (let job; (job = await worker.getNextJob('tok', { block: false })); ) handed.push([job.id, job.deferredFailure]);
  assert.deepEqual(handed.sort(), [[first.id, undefined], ['2', 'job stalled more than allowable limit']].sort());
});

test('drain and clean keep current iterations, remove refuses them, obliterate removes schedulers', async () => {
  const { name, queue, redis } = await setup('cleanup');
  const delayed = await queue.upsertJobScheduler('d', { every: 60000, startDate: Date.now() + 60000 });
  const waiting = await queue.upsertJobScheduler('w', { every: 60000 });
  await queue.add('plain', {}, { delay: 60000 });
  await queue.add('plain', {});
  await queue.drain(true);
  assert.deepEqual(await redis.zrange(`bull:${name}:delayed`, 0, -1), [delayed.id]);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [waiting.id]);

  assert.deepEqual(await queue.clean(0, 0, 'delayed'), []);
  assert.deepEqual(await queue.clean(0, 0, 'wait'), []);
  assert.equal(await redis.exists(`bull:${name}:${delayed.id}`, `bull:${name}:${waiting.id}`), 2);

  await assert.rejects(queue.remove(delayed.id), {
    code: -8,
    message: `Job ${delayed.id} belongs to a job scheduler and cannot be removed directly. removeJob`,
  });
  const job = await queue.getJob(waiting.id);
  await assert.rejects(job.remove(), { code: -8 });

  await queue.obliterate();
  assert.deepEqual(await redis.keys(`bull:${name}:*`), []);
  assert.equal(await queue.getJobSchedulersCount(), 0);
});
