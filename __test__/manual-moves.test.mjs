// job.moveToDelayed, job.moveToWait after a rate limit, worker/queue
// rateLimit, a worker limiter honoured by getNextJob, and job.extendLock.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RateLimitError, Worker } from 'bullmq-native';

import { setup } from './support/manual.mjs';
import { streamEvents, waitFor } from './support/redis.mjs';

test('moveToDelayed parks the job until the timestamp without counting an attempt', async () => {
  const { name, queue, worker, redis } = await setup('delay');
  await queue.add('x', { v: 1 });
  const job = await worker.getNextJob('tok');
  const due = Date.now() + 300;
  await job.moveToDelayed(due, 'tok');
  assert.ok(job.delay > 0 && job.delay <= 300);
  const score = Number(await redis.zscore(`bull:${name}:delayed`, job.id));
  assert.equal(Math.floor(score / 4096), due);
  assert.equal(await redis.hget(`bull:${name}:${job.id}`, 'atm'), null);
  assert.equal(await redis.exists(`bull:${name}:${job.id}:lock`), 0);
  assert.deepEqual(await redis.lrange(`bull:${name}:active`, 0, -1), []);
  const delayed = (await streamEvents(redis, 'bull', name)).find((e) => e.event === 'delayed');
  assert.deepEqual([delayed.jobId, delayed.delay], [job.id, String(due)]);

  // Once due, a blocked getNextJob gets it again.
  const again = await waitFor(() => worker.getNextJob('tok'), { message: 'the delayed job' });
  assert.equal(again.id, job.id);
  assert.equal(again.attemptsMade, 0);
  assert.equal(again.attemptsStarted, 2);
});

test('moveToDelayed errors carry BullMQ messages', async () => {
  const { queue, worker } = await setup('delay-errors');
  await queue.add('x', {});
  const job = await worker.getNextJob('owner');
  await assert.rejects(job.moveToDelayed(Date.now() + 1000, 'intruder'), {
    message: `Lock mismatch for job ${job.id}. Cmd moveToDelayed from active`,
  });
  await assert.rejects(job.moveToDelayed('soon', 'owner'), TypeError);
  await job.moveToDelayed(Date.now() + 1000, 'owner');
  await assert.rejects(job.moveToDelayed(Date.now() + 1000, 'owner'), {
    message: `Missing lock for job ${job.id}. moveToDelayed`,
  });
  await assert.rejects(job.moveToDelayed(Date.now() + 1000, '0'), {
    message: `Job ${job.id} is not in the active state. moveToDelayed`,
  });
});

test('after queue.rateLimit, moveToWait returns the remaining limit and the job runs next', async () => {
  const { name, queue, worker, redis } = await setup('ratelimit', { limiter: { max: 10, duration: 1000 } });
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
  const job = await worker.getNextJob('tok');
  assert.equal(job.name, 'a');
  await queue.rateLimit(60000);
  const ttl = await job.moveToWait('tok');
  assert.ok(ttl > 0 && ttl <= 60000, `pttl ${ttl}`);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['2', job.id]);
  const hash = await redis.hgetall(`bull:${name}:${job.id}`);
  assert.equal(hash.atm, undefined);
  assert.equal(await redis.exists(`bull:${name}:${job.id}:lock`), 0);
  const last = (await streamEvents(redis, 'bull', name)).at(-1);
  assert.deepEqual([last.event, last.jobId, last.prev], ['waiting', job.id, 'active']);
  // The worker's limiter makes the manual limit hold for its fetches.
  assert.equal(await worker.getNextJob('tok', { block: false }), undefined);
  assert.equal(await redis.llen(`bull:${name}:active`), 0);
});

test('moveToWait without a rate limit returns 0; a foreign token is refused', async () => {
  const { queue, worker } = await setup('towait');
  await queue.add('x', {});
  const job = await worker.getNextJob('owner');
  await assert.rejects(job.moveToWait('intruder'), {
    message: `Lock mismatch for job ${job.id}. Cmd moveJobFromActiveToWait from active`,
  });
  assert.equal(await job.moveToWait('owner'), 0);
  const again = await worker.getNextJob('owner', { block: false });
  assert.equal(again.id, job.id);
});

test('worker.rateLimit sets the limiter; Worker.RateLimitError is BullMQ\'s error', async () => {
  const { name, worker, redis } = await setup('worker-rl');
  await worker.rateLimit(5000);
  assert.equal(await redis.get(`bull:${name}:limiter`), '9007199254740991');
  const pttl = await redis.pttl(`bull:${name}:limiter`);
  assert.ok(pttl > 0 && pttl <= 5000);
  await assert.rejects(worker.rateLimit(0), TypeError);
  await assert.rejects(worker.rateLimit('1s'), TypeError);
  const err = Worker.RateLimitError();
  assert.ok(err instanceof RateLimitError);
  assert.equal(err.message, 'bullmq:rateLimitExceeded');
});

test('a worker limiter caps how many jobs getNextJob hands out per duration', async () => {
  const { name, queue, worker, redis } = await setup('limiter', { limiter: { max: 1, duration: 400 } });
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
  const first = await worker.getNextJob('tok', { block: false });
  assert.equal(first.name, 'a');
  assert.equal(await worker.getNextJob('tok', { block: false }), undefined, 'limited');
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['2']);
  // Once the window passes the next job comes.
  const second = await waitFor(() => worker.getNextJob('tok', { block: false }), { message: 'the second job' });
  assert.equal(second.name, 'b');
});

test('extendLock returns 1 for our lock and 0 otherwise', async () => {
  const { name, queue, worker, redis } = await setup('extend', { lockDuration: 1000 });
  await queue.add('x', {});
  const job = await worker.getNextJob('tok');
  await redis.sadd(`bull:${name}:stalled`, job.id);
  assert.equal(await job.extendLock('tok', 60000), 1);
  const pttl = await redis.pttl(`bull:${name}:${job.id}:lock`);
  assert.ok(pttl > 1000, `pttl ${pttl}`);
  assert.equal(await redis.sismember(`bull:${name}:stalled`, job.id), 0);
  assert.equal(await job.extendLock('other', 60000), 0);
  await assert.rejects(job.extendLock('tok', -5), TypeError);
  await assert.rejects(job.extendLock(undefined, 1000), TypeError);
  await job.moveToCompleted('done', 'tok', false);
  assert.equal(await job.extendLock('tok', 60000), 0);
});
