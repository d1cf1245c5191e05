// job.moveToFailed: final failures, retries (immediate and with backoff),
// UnrecoverableError, stack traces, fetch-next, and BullMQ's error messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Job, UnrecoverableError } from 'bullmq-native';

import { setup } from './support/manual.mjs';
import { streamEvents } from './support/redis.mjs';

const eventNames = async (redis, name) => (await streamEvents(redis, 'bull', name)).map((e) => e.event);

test('a job without attempts left ends failed with reason, stacktrace and events', async () => {
  const { name, queue, worker, redis } = await setup('fail');
  await queue.add('x', {});
  const job = await worker.getNextJob('tok');
  const err = new Error('my error message');
  const next = await job.moveToFailed(err, 'tok');
  assert.deepEqual(next, []);
  assert.equal(job.failedReason, 'my error message');
  assert.deepEqual(job.stacktrace, [err.stack]);
  assert.equal(job.attemptsMade, 1);
  assert.ok(job.finishedOn > 0);

  const hash = await redis.hgetall(`bull:${name}:${job.id}`);
  assert.equal(hash.failedReason, 'my error message');
  assert.deepEqual(JSON.parse(hash.stacktrace), [err.stack]);
  assert.equal(hash.atm, '1');
  assert.equal(hash.finishedOn, String(job.finishedOn));
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), [job.id]);
  assert.deepEqual(await redis.lrange(`bull:${name}:active`, 0, -1), []);
  assert.equal(await redis.exists(`bull:${name}:${job.id}:lock`), 0);
  const events = await streamEvents(redis, 'bull', name);
  const failed = events.find((e) => e.event === 'failed');
  assert.deepEqual([failed.jobId, failed.failedReason, failed.prev], [job.id, 'my error message', 'active']);
  const exhausted = events.find((e) => e.event === 'retries-exhausted');
  assert.deepEqual([exhausted.jobId, exhausted.attemptsMade], [job.id, '1']);

  const stored = await queue.getJob(job.id);
  assert.equal(stored.failedReason, 'my error message');
  assert.deepEqual(stored.stacktrace, [err.stack]);
});

test('with attempts left and no backoff the job goes straight back to wait', async () => {
  const { name, queue, worker, redis } = await setup('retry-now');
  await queue.add('x', { n: 1 }, { attempts: 2 });
  const job = await worker.getNextJob('tok');
  await job.moveToFailed(new Error('first'), 'tok');
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [job.id]);
  assert.equal(await redis.hget(`bull:${name}:${job.id}`, 'atm'), '1');
  assert.equal(await redis.hget(`bull:${name}:${job.id}`, 'failedReason'), 'first');
  let names = await eventNames(redis, name);
  assert.ok(!names.includes('failed'), 'a retried attempt emits no failed event');
  assert.equal(names.at(-1), 'waiting');

  const again = await worker.getNextJob('tok');
  assert.equal(again.id, job.id);
  assert.equal(again.attemptsMade, 1);
  assert.equal(again.stacktrace.length, 1);
  await again.moveToFailed(new Error('second'), 'tok');
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), [job.id]);
  assert.equal(again.stacktrace.length, 2);
  names = await eventNames(redis, name);
  assert.equal(names.filter((n) => n === 'failed').length, 1);
  assert.equal(names.filter((n) => n === 'retries-exhausted').length, 1);
});

test('a lifo job retried at once runs next', async () => {
  const { name, queue, worker, redis } = await setup('retry-lifo');
  await queue.add('a', {}, { attempts: 2, lifo: true });
  await queue.add('b', {});
  const job = await worker.getNextJob('tok');
  assert.equal(job.name, 'a');
  await job.moveToFailed(new Error('x'), 'tok');
  const wait = await redis.lrange(`bull:${name}:wait`, 0, -1);
  assert.equal(wait.at(-1), job.id);
});

test('a fixed backoff moves the job to delayed at its due time', async () => {
  const { name, queue, worker, redis } = await setup('backoff');
  await queue.add('x', {}, { attempts: 3, backoff: 60000 });
  const job = await worker.getNextJob('tok');
  const before = Date.now();
  await job.moveToFailed(new Error('later'), 'tok');
  const after = Date.now();
  assert.equal(job.delay, 60000);
  const score = Number(await redis.zscore(`bull:${name}:delayed`, job.id));
  const due = Math.floor(score / 4096);
  assert.ok(due >= before + 60000 && due <= after + 60000, `due ${due}`);
  const hash = await redis.hgetall(`bull:${name}:${job.id}`);
  assert.equal(hash.delay, '60000');
  assert.equal(hash.atm, '1');
  const delayed = (await streamEvents(redis, 'bull', name)).find((e) => e.event === 'delayed');
  assert.deepEqual([delayed.jobId, delayed.delay], [job.id, String(due)]);
  assert.ok(!(await eventNames(redis, name)).includes('failed'));
  assert.equal(Number(await redis.zscore(`bull:${name}:marker`, '1')), due);
});

test('an exponential backoff doubles per attempt', async () => {
  const { name, queue, worker, redis } = await setup('exp');
  await queue.add('x', {}, { attempts: 5, backoff: { type: 'exponential', delay: 1000 } });
  const job = await worker.getNextJob('tok');
  await job.moveToFailed(new Error('e'), 'tok');
  assert.equal(job.delay, 1000);
  // Pretend two attempts were already made: the next delay is 2^2 × 1000.
  await redis.zrem(`bull:${name}:delayed`, job.id);
  await redis.rpush(`bull:${name}:wait`, job.id);
  const again = await worker.getNextJob('tok', { block: false });
  again.attemptsMade = 2;
  await again.moveToFailed(new Error('e'), 'tok');
  assert.equal(again.delay, 4000);
});

test('a custom backoff strategy of the worker gives the delay', async () => {
  const calls = [];
  const { name, queue, worker, redis } = await setup('custom', {
    settings: {
      backoffStrategy: (attemptsMade, type, err) => {
        calls.push([attemptsMade, type, err.message]);
        return 7000;
      },
    },
  });
  await queue.add('x', {}, { attempts: 2, backoff: { type: 'mine' } });
  const job = await worker.getNextJob('tok');
  await job.moveToFailed(new Error('e'), 'tok');
  assert.deepEqual(calls, [[1, 'mine', 'e']]);
  assert.equal(job.delay, 7000);
  assert.ok(await redis.zscore(`bull:${name}:delayed`, job.id));
});

test('an unknown backoff strategy is an error', async () => {
  const { queue, worker } = await setup('unknown');
  await queue.add('x', {}, { attempts: 2, backoff: { type: 'nope' } });
  const job = await worker.getNextJob('tok');
  await assert.rejects(job.moveToFailed(new Error('e'), 'tok'), /Unknown backoff strategy nope/);
});

test('an UnrecoverableError ends the job at once', async () => {
  const { name, queue, worker, redis } = await setup('unrecoverable');
  await queue.add('x', {}, { attempts: 5, backoff: 1000 });
  const job = await worker.getNextJob('tok');
  await job.moveToFailed(new UnrecoverableError('give up'), 'tok');
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), [job.id]);
  assert.equal(await redis.hget(`bull:${name}:${job.id}`, 'failedReason'), 'give up');
  const plain = new Error('named');
  plain.name = 'UnrecoverableError';
  await queue.add('y', {}, { attempts: 5 });
  const second = await worker.getNextJob('tok');
  await second.moveToFailed(plain, 'tok');
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), [job.id, second.id].sort());
});

test('stack traces are trimmed to stackTraceLimit, and 0 keeps none', async () => {
  const { name, queue, worker, redis } = await setup('stack');
  await queue.add('x', {}, { attempts: 3, stackTraceLimit: 1 });
  await queue.add('y', {}, { stackTraceLimit: 0 });
  let job = await worker.getNextJob('tok');
  await job.moveToFailed(new Error('one'), 'tok');
  // The retried job went to the end of the line, behind y.
  const y = await worker.getNextJob('tok');
  assert.equal(y.name, 'y');
  await y.moveToFailed(new Error('three'), 'tok');
  assert.equal(await redis.hget(`bull:${name}:${y.id}`, 'stacktrace'), '[]');
  job = await worker.getNextJob('tok');
  assert.equal(job.name, 'x');
  const err = new Error('two');
  await job.moveToFailed(err, 'tok');
  assert.deepEqual(JSON.parse(await redis.hget(`bull:${name}:${job.id}`, 'stacktrace')), [err.stack]);
});

test('moveToFailed with fetchNext returns the next job locked by the same token', async () => {
  const { name, queue, worker, redis } = await setup('fetch-next');
  await queue.addBulk([{ name: 'a', data: { n: 1 } }, { name: 'b', data: { n: 2 } }]);
  const job = await worker.getNextJob('tok');
  const [data, id] = await job.moveToFailed(new Error('x'), 'tok', true);
  const next = Job.fromJSON(worker, data, id);
  assert.deepEqual(next.data, { n: 2 });
  assert.equal(await redis.get(`bull:${name}:${id}:lock`), 'tok');
  // Nothing left: BullMQ 6.7's [null, 0, rateLimitDelay, nextDelayed].
  assert.deepEqual(await next.moveToFailed(new Error('y'), 'tok', true), [null, 0, 0, 0]);
});

test('removeOnFail of the job, else of the worker, applies', async () => {
  const { name, queue, worker, redis } = await setup('remove', { removeOnFail: { count: 0 } });
  await queue.add('kept', {}, { removeOnFail: false });
  await queue.add('removed', {});
  const kept = await worker.getNextJob('tok');
  await kept.moveToFailed(new Error('x'), 'tok');
  const removed = await worker.getNextJob('tok');
  await removed.moveToFailed(new Error('x'), 'tok');
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), [kept.id]);
  assert.equal(await redis.exists(`bull:${name}:${removed.id}`), 0);
});

test('failure errors carry BullMQ messages; bad arguments are TypeErrors', async () => {
  const { name, queue, worker, redis } = await setup('fail-errors');
  await queue.add('x', {}, { attempts: 3 });
  const job = await worker.getNextJob('owner');
  await assert.rejects(job.moveToFailed(new Error('x'), 'intruder'), {
    message: `Lock mismatch for job ${job.id}. Cmd retryJob from active`,
  });
  await assert.rejects(job.moveToFailed('not an error', 'owner'), TypeError);
  await assert.rejects(job.moveToFailed(null, 'owner'), TypeError);
  await assert.rejects(job.moveToFailed(new Error('x')), TypeError);
  await assert.rejects(job.moveToCompleted('v', 42), TypeError);
  await redis.del(`bull:${name}:${job.id}:lock`);
  await assert.rejects(job.moveToFailed(new UnrecoverableError('x'), 'owner'), {
    message: `Missing lock for job ${job.id}. moveToFinished`,
  });

  const waiting = await queue.add('y', {});
  await assert.rejects(waiting.moveToFailed(new UnrecoverableError('x'), '0'), {
    message: `Job ${waiting.id} is not in the active state. moveToFinished`,
  });
  await redis.del(`bull:${name}:${waiting.id}`);
  await assert.rejects(waiting.moveToFailed(new UnrecoverableError('x'), '0'), {
    message: `Missing key for job ${waiting.id}. moveToFinished`,
  });
});
