// Job cancellation: worker.cancelJob / cancelAllJobs abort the processor's
// signal; what the processor then throws decides the outcome (retry, or not
// with UnrecoverableError); a processor ignoring the signal completes; a lost
// lock aborts the signal; queue.cancelJob (our extension) reaches the worker
// holding the job from any process.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UnrecoverableError } from 'bullmq-native';

import { record, runScript, setup } from './support/workers.mjs';
import { redisUrl, waitFor } from './support/redis.mjs';

/** A processor that waits for its signal and rejects with `makeError(reason)`. */
const untilAborted = (makeError, started) => (job, token, signal) =>
  new Promise((resolve, reject) => {
    started?.push(job.id);
    signal.addEventListener('abort', () => reject(makeError(signal.reason)));
  });

test('cancelJob aborts the signal with the reason; the thrown error fails the job', async () => {
  const { queue, worker } = await setup('cancel');
  await queue.add('long', {});
  const started = [];
  const w = worker(untilAborted((reason) => new Error(`Cancelled: ${reason}`), started));
  await waitFor(() => started.length === 1);
  assert.equal(w.cancelJob('nope', 'x'), false, 'not a job of this worker');
  assert.equal(w.cancelJob('1', 'User requested cancellation'), true);
  await waitFor(async () => (await queue.getFailedCount()) === 1);
  const job = await queue.getJob('1');
  assert.equal(job.failedReason, 'Cancelled: User requested cancellation');
  assert.equal(w.cancelJob('1'), false, 'no longer active here');
  await w.close();
});

test('a cancelled job is retried while attempts remain; UnrecoverableError stops retries', async () => {
  const { queue, worker } = await setup('cancel-retry');
  await queue.add('retry-me', {}, { attempts: 2 });
  await queue.add('stop-me', {}, { attempts: 5 });
  let runs = 0;
  const w = worker(
    (job, token, signal) => {
      runs += 1;
      if (job.name === 'retry-me' && job.attemptsMade === 1) return 'second run done';
      return new Promise((resolve, reject) => {
        signal.addEventListener('abort', () =>
          reject(job.name === 'stop-me' ? new UnrecoverableError('Cancelled permanently') : new Error('Cancelled, will retry')),
        );
      });
    },
    { concurrency: 2 },
  );
  await waitFor(() => runs === 2, { message: 'both jobs in the processor' });
  w.cancelAllJobs('shutting down');
  await waitFor(async () => (await queue.getCompletedCount()) === 1 && (await queue.getFailedCount()) === 1);
  const [retried, stopped] = [await queue.getJob('1'), await queue.getJob('2')];
  assert.equal(retried.returnvalue, 'second run done');
  assert.equal(retried.attemptsMade, 2);
  assert.equal(stopped.failedReason, 'Cancelled permanently');
  assert.equal(stopped.attemptsMade, 1);
  assert.equal(runs, 3);
  await w.close();
});

test('a processor that ignores the signal completes (cancellation is cooperative)', async () => {
  const { queue, worker } = await setup('cancel-ignored');
  await queue.add('stubborn', {});
  let release;
  const w = worker(
    (job, token, signal) =>
      new Promise((resolve) => {
        release = () => resolve(signal.aborted ? 'finished anyway' : 'not aborted');
      }),
  );
  await waitFor(() => release !== undefined);
  assert.equal(w.cancelJob('1', 'please stop'), true);
  release();
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  assert.equal((await queue.getJob('1')).returnvalue, 'finished anyway');
  await w.close();
});

test('a failed lock renewal aborts the signal and emits lockRenewalFailed', async () => {
  const { name, queue, redis, worker } = await setup('lock-lost');
  await queue.add('long', {});
  const reasons = [];
  const w = worker(
    (job, token, signal) =>
      new Promise((resolve, reject) => {
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason);
          reject(new Error('lost my lock'));
        });
      }),
    { lockDuration: 2000, lockRenewTime: 100, stalledInterval: 300 },
  );
  const errors = [];
  w.on('error', (e) => errors.push(e.message));
  const seen = record(w, ['lockRenewalFailed']);
  await waitFor(async () => (await queue.getActiveCount()) === 1);
  // Someone else holds the lock now (it expires, so the job can be recovered).
  await redis.set(`bull:${name}:1:lock`, 'another-worker', 'PX', 500);
  await waitFor(() => seen.length === 1, { message: 'lockRenewalFailed' });
  assert.deepEqual(seen[0], ['lockRenewalFailed', ['1']]);
  await waitFor(() => reasons.length === 1, { message: 'the signal aborted' });
  assert.match(String(reasons[0]?.message ?? reasons[0]), /could not renew lock for job 1/);
  assert.ok(errors.includes('could not renew lock for job 1'));
  await w.close(true);
});

test('when another worker takes a stalled job over, the first one is told through its signal', async () => {
  const { name, queue, redis, worker } = await setup('takeover');
  await queue.add('contested', {});
  let firstSignal;
  const first = worker(
    (job, token, signal) => {
      firstSignal = signal;
      return new Promise((resolve, reject) => signal.addEventListener('abort', () => reject(new Error('stop'))));
    },
    { lockDuration: 5000, lockRenewTime: 200, skipStalledCheck: true },
  );
  first.on('error', () => undefined);
  await waitFor(() => firstSignal !== undefined);
  // The first worker takes no other job from now on.
  await first.pause(true);
  // The first worker's lock vanishes (as when its host stalls); the second
  // worker's stalled checker recovers the job and processes it.
  await redis.del(`bull:${name}:1:lock`);
  const second = worker(async () => 'taken over', { stalledInterval: 100 });
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { timeout: 20000, message: 'completed by the second worker' });
  await waitFor(() => firstSignal.aborted, { message: 'the first worker aborted' });
  assert.equal((await queue.getJob('1')).returnvalue, 'taken over');
  await Promise.all([first.close(), second.close()]);
  assert.equal(await queue.getActiveCount(), 0);
});

test('queue.cancelJob reaches the worker holding the job, from another process', async () => {
  const { name, queue, worker } = await setup('remote-cancel');
  await queue.add('long', {});
  await queue.add('other', {});
  const reasons = {};
  const w = worker(
    (job, token, signal) =>
      new Promise((resolve, reject) => {
        signal.addEventListener('abort', () => {
          reasons[job.id] = signal.reason;
          reject(new Error(`cancelled: ${signal.reason}`));
        });
      }),
    { concurrency: 2 },
  );
  await waitFor(async () => (await queue.getActiveCount()) === 2);
  const u = new URL(await redisUrl());
  const script = `
    import { Queue } from 'bullmq-native';
    const queue = new Queue(${JSON.stringify(name)}, { connection: { host: ${JSON.stringify(u.hostname)}, port: ${Number(u.port)} } });
    const held = await queue.cancelJob('1', 'from afar');
    const missing = await queue.cancelJob('999');
    console.log(JSON.stringify({ held, missing }));
    await queue.close();
  `;
  const { code, out } = await runScript(script);
  assert.equal(code, 0);
  assert.deepEqual(JSON.parse(out), { held: true, missing: false });
  await waitFor(async () => (await queue.getFailedCount()) === 1);
  assert.deepEqual(reasons, { 1: 'from afar' });
  assert.equal((await queue.getJob('1')).failedReason, 'cancelled: from afar');
  assert.equal(await queue.getJobState('2'), 'active', 'the other job goes on');

  // From this process too; without workers nobody holds anything.
  assert.equal(await queue.cancelJob('2', 'here'), true);
  await waitFor(async () => (await queue.getFailedCount()) === 2);
  await w.close();
  assert.equal(await queue.cancelJob('2'), false);
  await assert.rejects(queue.cancelJob(''), TypeError);
});

test('a worker subscribes again when its cancel subscription was cut', async () => {
  const { queue, redis, worker } = await setup('cancel-resubscribe');
  await queue.add('long', {});
  const w = worker(untilAborted((reason) => new Error(`cancelled: ${reason}`)));
  await waitFor(async () => (await queue.getActiveCount()) === 1);
  // Cut every pub/sub connection (ours are the only subscribers here).
  await redis.client('KILL', 'TYPE', 'pubsub');
  await waitFor(() => queue.cancelJob('1', 'after the cut'), { timeout: 15000, interval: 200, message: 'cancel reaches the worker again' });
  await waitFor(async () => (await queue.getFailedCount()) === 1);
  assert.equal((await queue.getJob('1')).failedReason, 'cancelled: after the cut');
  await w.close();
});
