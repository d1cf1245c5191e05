// Failures in the automatic Worker: retries with backoff (built-in and the
// worker's custom strategy), UnrecoverableError, the special errors that
// leave a job where the processor moved it (DelayedError, RateLimitError),
// bad processors (non-Error throws and rejections, unserializable results, a
// processor that never settles), and deferred failures.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DelayedError, UnrecoverableError, Worker } from 'bullmq-native';

import { record, setup } from './support/workers.mjs';
import { streamEvents, waitFor } from './support/redis.mjs';

test('a thrown error retries with backoff while attempts remain, emitting failed for every attempt', async () => {
  const { name, queue, redis, worker } = await setup('retry');
  await queue.add('j', {}, { attempts: 3, backoff: { type: 'fixed', delay: 100 } });
  let calls = 0;
  const w = worker(async () => {
    calls += 1;
    throw new Error(`attempt ${calls} failed`);
  });
  const seen = record(w, ['failed']);
  await waitFor(async () => (await queue.getFailedCount()) === 1, { message: 'failed for good' });
  await waitFor(() => seen.length === 3, { message: 'three failed events' });
  assert.equal(calls, 3);
  assert.deepEqual(
    seen.map(([, job, err, prev]) => [job.id, err.message, prev]),
    [
      ['1', 'attempt 1 failed', 'active'],
      ['1', 'attempt 2 failed', 'active'],
      ['1', 'attempt 3 failed', 'active'],
    ],
  );
  assert.deepEqual(
    seen.map(([, job]) => job.attemptsMade),
    [1, 2, 3],
  );
  const job = await queue.getJob('1');
  assert.equal(job.attemptsMade, 3);
  assert.equal(job.failedReason, 'attempt 3 failed');
  assert.equal(job.stacktrace.length, 3);
  const events = (await streamEvents(redis, 'bull', name)).map((e) => e.event);
  assert.equal(events.filter((e) => e === 'delayed').length, 2, 'each retry waited for its backoff');
  assert.equal(events.filter((e) => e === 'failed').length, 1, 'the stream has only the final failure');
  await w.close();
});

test('UnrecoverableError ends the job whatever the attempts left', async () => {
  const { queue, worker } = await setup('unrecoverable');
  await queue.add('j', {}, { attempts: 5, backoff: 1000 });
  let calls = 0;
  const w = worker(async () => {
    calls += 1;
    throw new UnrecoverableError('give up');
  });
  await waitFor(async () => (await queue.getFailedCount()) === 1);
  const job = await queue.getJob('1');
  assert.equal(calls, 1);
  assert.equal(job.attemptsMade, 1);
  assert.equal(job.failedReason, 'give up');
  await w.close();
});

test("the worker's settings.backoffStrategy gives the delay of custom backoff types", async () => {
  const { queue, worker } = await setup('custom-backoff');
  await queue.add('j', { failTimes: 2 }, { attempts: 4, backoff: { type: 'linear', delay: 7 } });
  const strategyCalls = [];
  let calls = 0;
  const w = worker(
    async (job) => {
      calls += 1;
      if (calls <= job.data.failTimes) throw new Error(`fail ${calls}`);
      return 'finally';
    },
    {
      settings: {
        backoffStrategy: (attemptsMade, type, err, job) => {
          strategyCalls.push([attemptsMade, type, err.message, job.id]);
          return attemptsMade * 20;
        },
      },
    },
  );
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { message: 'completed on the third try' });
  assert.deepEqual(strategyCalls, [
    [1, 'linear', 'fail 1', '1'],
    [2, 'linear', 'fail 2', '1'],
  ]);
  const job = await queue.getJob('1');
  assert.equal(job.returnvalue, 'finally');
  assert.equal(job.attemptsMade, 3);
  await w.close();
});

test('DelayedError after job.moveToDelayed leaves the job delayed, without a failure', async () => {
  const { name, queue, redis, worker } = await setup('delayed-error');
  await queue.add('step', { step: 'initial' });
  const w = worker(async (job, token) => {
    if (job.data.step === 'initial') {
      await job.moveToDelayed(Date.now() + 200, token);
      await job.updateData({ step: 'second' });
      throw new DelayedError();
    }
    return 'second step done';
  });
  const seen = record(w, ['failed', 'completed']);
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { message: 'completed after the delay' });
  await waitFor(() => seen.length === 1, { message: 'the completed event' });
  assert.deepEqual(seen.map(([e]) => e), ['completed']);
  const job = await queue.getJob('1');
  assert.equal(job.returnvalue, 'second step done');
  assert.equal(job.attemptsMade, 1, 'the delay did not count an attempt');
  const events = (await streamEvents(redis, 'bull', name)).map((e) => e.event);
  assert.ok(events.includes('delayed'));
  assert.ok(!events.includes('failed'));
  await w.close();
});

test('RateLimitError after worker.rateLimit puts the job back to wait for later', async () => {
  const { name, queue, redis, worker } = await setup('rate-limit-error');
  await queue.add('call', {});
  let calls = 0;
  const w = worker(
    async () => {
      calls += 1;
      if (calls === 1) {
        await w.rateLimit(300);
        throw Worker.RateLimitError();
      }
      return 'done';
    },
    { limiter: { max: 10, duration: 1000 } },
  );
  const seen = record(w, ['failed', 'completed']);
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { message: 'completed after the limit' });
  await waitFor(() => seen.length === 1, { message: 'the completed event' });
  assert.equal(calls, 2);
  assert.deepEqual(seen.map(([e]) => e), ['completed']);
  const events = await streamEvents(redis, 'bull', name);
  assert.ok(events.some((e) => e.event === 'waiting' && e.prev === 'active'), 'moved back to wait');
  assert.ok(!events.some((e) => e.event === 'failed'));
  assert.equal((await queue.getJob('1')).attemptsMade, 1);
  await w.close();
});

test('bad processors: non-Error throws and rejections fail the job with a readable reason', async () => {
  const { queue, worker } = await setup('bad');
  const cases = {
    'throws-string': () => {
      throw 'plain string';
    },
    'rejects-number': () => Promise.reject(42),
    'rejects-object': async () => {
      throw { code: 'E_CUSTOM' };
    },
    'rejects-undefined': () => Promise.reject(undefined),
    'throws-sync-error': () => {
      throw new TypeError('sync type error');
    },
    'returns-bigint': async () => 10n,
  };
  for (const jobName of Object.keys(cases)) await queue.add(jobName, {});
  const w = worker((job) => cases[job.name](), { concurrency: 3 });
  const errors = [];
  w.on('error', (e) => errors.push(e));
  const seen = record(w, ['failed']);
  await waitFor(async () => (await queue.getFailedCount()) === 6, { message: 'all failed' });
  await waitFor(() => seen.length === 6, { message: 'six failed events' });
  const reasons = Object.fromEntries((await queue.getFailed()).map((j) => [j.name, j.failedReason]));
  assert.equal(reasons['throws-string'], 'plain string');
  assert.equal(reasons['rejects-number'], '42');
  assert.equal(reasons['rejects-object'], '{"code":"E_CUSTOM"}');
  assert.equal(reasons['rejects-undefined'], 'undefined');
  assert.equal(reasons['throws-sync-error'], 'sync type error');
  assert.match(reasons['returns-bigint'], /BigInt/);
  for (const [, , err] of seen) assert.ok(err instanceof Error);
  assert.deepEqual(errors, []);
  assert.equal(await queue.getActiveCount(), 0);
  assert.equal(await queue.getWaitingCount(), 0);
  await w.close();
});

test('a processor that never settles is caught by lock expiry and the stalled checker', async () => {
  const { queue, worker } = await setup('never');
  await queue.add('hang', {});
  const signals = [];
  const w = worker(
    (job, token, signal) => {
      signals.push(signal);
      return new Promise(() => {});
    },
    {
      concurrency: 3,
      skipLockRenewal: true,
      lockDuration: 200,
      stalledInterval: 200,
      maxStalledCount: 1,
    },
  );
  const stalled = record(w, ['stalled']);
  await waitFor(async () => (await queue.getFailedCount()) === 1, { timeout: 20000, message: 'failed after stalling twice' });
  await waitFor(() => stalled.length >= 2, { message: 'two stalled events' });
  const job = await queue.getJob('1');
  assert.equal(job.failedReason, 'job stalled more than allowable limit');
  assert.equal(job.stalledCounter, 2);
  assert.ok(stalled.length >= 2);
  assert.ok(stalled.every(([, id, prev]) => id === '1' && prev === 'active'));
  // The abort of the second attempt may reach JS just after the failure lands.
  await waitFor(() => signals.length === 2 && signals.every((s) => s.aborted), {
    message: 'both hanging attempts told their lock was lost',
  });
  assert.equal(signals.length, 2, 'the processor ran twice; the deferred failure never reached it');
  assert.equal(await queue.getActiveCount(), 0);
  await w.close(true);
});

test('a job fetched again while an attempt of it hangs aborts that attempt, not the new one', async () => {
  const { queue, worker } = await setup('refetched');
  await queue.add('hang', {});
  const signals = [];
  // No stalled check of its own: this worker learns that the first attempt
  // lost its lock only by fetching the job again.
  worker(
    (job, token, signal) => {
      signals.push(signal);
      return new Promise(() => {});
    },
    { concurrency: 2, skipLockRenewal: true, skipStalledCheck: true, lockDuration: 300, drainDelay: 0.2 },
  );
  await waitFor(() => signals.length === 1, { message: 'the first attempt' });
  const checker = worker(null, { stalledInterval: 200, maxStalledCount: 5 });
  await checker.startStalledCheckTimer();
  await waitFor(() => signals.length === 2, { timeout: 20000, message: 'the job fetched again' });
  assert.equal(signals[0].aborted, true, 'the attempt that lost its lock is told');
  assert.match(signals[0].reason.message, /lock lost for job 1/);
  assert.equal(signals[1].aborted, false, 'the attempt holding the lock goes on');
});

test('a job carrying a deferred failure never reaches the processor', async () => {
  const { name, queue, redis, worker } = await setup('defa');
  await queue.add('doomed', {}, { attempts: 3 });
  await queue.add('fine', {});
  await redis.hset(`bull:${name}:1`, 'defa', 'child bull:other:9 failed');
  const processed = [];
  const w = worker(async (job) => {
    processed.push(job.name);
    return 1;
  });
  await waitFor(async () => (await queue.getCompletedCount()) === 1 && (await queue.getFailedCount()) === 1);
  assert.deepEqual(processed, ['fine']);
  const doomed = await queue.getJob('1');
  assert.equal(doomed.failedReason, 'child bull:other:9 failed');
  assert.equal(doomed.attemptsMade, 1);
  await w.close();
});

test('a custom backoff strategy that throws is reported and the job is recovered later', async () => {
  const { queue, worker } = await setup('strategy-throws');
  await queue.add('j', {}, { attempts: 2, backoff: { type: 'broken' } });
  let calls = 0;
  const w = worker(
    async () => {
      calls += 1;
      if (calls === 1) throw new Error('first');
      return 'second';
    },
    {
      lockDuration: 300,
      stalledInterval: 300,
      settings: {
        backoffStrategy: () => {
          throw new Error('strategy broke');
        },
      },
    },
  );
  const errors = [];
  w.on('error', (e) => errors.push(e.message));
  await waitFor(() => errors.includes('strategy broke'), { message: 'the error is reported' });
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { timeout: 20000, message: 'recovered as stalled' });
  assert.equal(calls, 2);
  await w.close();
});

test('after RateLimitError a worker without limiter waits out the rate limit too', async () => {
  const { queue, worker } = await setup('rate-limit-local');
  await queue.add('call', {});
  const times = [];
  const w = worker(async () => {
    times.push(Date.now());
    if (times.length === 1) {
      await w.rateLimit(400);
      throw Worker.RateLimitError();
    }
    return 'done';
  });
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { message: 'completed after the limit' });
  assert.equal(times.length, 2);
  assert.ok(times[1] - times[0] >= 350, `retried ${times[1] - times[0]} ms later`);
  await w.close();
});
