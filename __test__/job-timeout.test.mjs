// Job timeouts (an extension of bullmq-native): the `timeout` job option, or
// the worker's default, fails an attempt that runs longer, whether or not the
// processor honours its aborted signal; the attempt is retried while attempts
// remain. The option is stored in the job's opts, where the official bullmq
// keeps it and ignores it, in both directions.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as bullmq from 'bullmq';
import { Queue } from 'bullmq-native';

import { closeAfter, deferred, record, setup, sleep } from './support/workers.mjs';
import { waitFor } from './support/redis.mjs';

/** A processor that never settles unless its signal aborts (then it rejects with the reason). */
const honouring = (runs) => (job, token, signal) =>
  new Promise((resolve, reject) => {
    runs?.push([job.id, job.attemptsMade]);
    signal.addEventListener('abort', () => reject(signal.reason));
  });

test('a timed-out attempt fails with a clear reason and is retried while attempts remain', async () => {
  const { queue, worker } = await setup('timeout-retry');
  await queue.add('slow', {}, { timeout: 100, attempts: 3 });
  const runs = [];
  const w = worker(honouring(runs));
  const failed = record(w, ['failed']);
  await waitFor(async () => (await queue.getFailedCount()) === 1, { message: 'the job failed for good' });
  const job = await queue.getJob('1');
  assert.equal(job.failedReason, 'job 1 timed out after 100 ms');
  assert.equal(job.attemptsMade, 3);
  assert.equal(job.stacktrace.length, 3);
  assert.deepEqual(runs, [['1', 0], ['1', 1], ['1', 2]]);
  assert.equal(failed.length, 3);
  for (const [, , err] of failed) {
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'TimeoutError');
    assert.equal(err.message, 'job 1 timed out after 100 ms');
  }
  await w.close();
});

test("the processor's signal aborts with the timeout error; a processor that honours it frees its slot", async () => {
  const { queue, worker } = await setup('timeout-signal');
  await queue.add('slow', {}, { timeout: 80 });
  await queue.add('quick', {});
  const reasons = [];
  const w = worker(
    (job, token, signal) => {
      if (job.name === 'quick') return 'quick done';
      return new Promise((resolve, reject) => {
        signal.addEventListener('abort', () => {
          reasons.push(signal.reason);
          reject(new Error('gave up'));
        });
      });
    },
    { concurrency: 1 },
  );
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { message: 'the quick job ran after the timed-out one' });
  const slow = await queue.getJob('1');
  // The attempt failed with the timeout; what the processor threw afterwards is ignored.
  assert.equal(slow.failedReason, 'job 1 timed out after 80 ms');
  assert.equal(reasons.length, 1);
  assert.equal(reasons[0].name, 'TimeoutError');
  assert.equal(reasons[0].message, 'job 1 timed out after 80 ms');
  assert.equal((await queue.getJob('2')).returnvalue, 'quick done');
  await w.close();
});

test('a processor that ignores the signal still fails the attempt; its later result is ignored', async () => {
  const { queue, worker } = await setup('timeout-ignore');
  await queue.add('stubborn', {}, { timeout: 100, attempts: 2 });
  const gates = [];
  const w = worker((job) => {
    if (job.name === 'after') return 'after done';
    const gate = deferred();
    gates.push(gate);
    // No signal parameter: the processor cannot even see the timeout.
    return gate.promise.then(() => `late result ${job.attemptsMade}`);
  });
  const events = record(w, ['completed', 'failed', 'error']);
  await waitFor(async () => (await queue.getFailedCount()) === 1, { message: 'both attempts timed out' });
  assert.equal(gates.length, 2, 'the retry ran while the first attempt was still pending');
  for (const g of gates) g.resolve();
  await sleep(200);
  const job = await queue.getJob('1');
  assert.equal(await job.getState(), 'failed');
  assert.equal(job.failedReason, 'job 1 timed out after 100 ms');
  assert.equal(job.returnvalue, null);
  assert.equal(job.attemptsMade, 2);
  assert.deepEqual(
    events.map(([n]) => n),
    ['failed', 'failed'],
    'the late results emitted no completed event and no error',
  );
  // The worker is still healthy: a new job completes.
  await queue.add('after', {});
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  await w.close();
});

test('a job that settles in time is untouched by its timeout', async () => {
  const { queue, worker } = await setup('timeout-in-time');
  await queue.add('fast', {}, { timeout: 2000 });
  const w = worker(async () => 'in time');
  const events = record(w, ['completed', 'failed']);
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  await sleep(100);
  assert.deepEqual(events.map(([n]) => n), ['completed']);
  assert.equal((await queue.getJob('1')).returnvalue, 'in time');
  await w.close();
});

test("the worker's timeout is the default; the job's option overrides it and 0 turns it off", async () => {
  const { queue, worker } = await setup('timeout-default');
  await queue.add('default', { ms: 400 });
  await queue.add('longer', { ms: 400 }, { timeout: 3000 });
  await queue.add('none', { ms: 400 }, { timeout: 0 });
  await queue.add('shorter', { ms: 3000 }, { timeout: 50 });
  const w = worker(
    (job) => new Promise((resolve) => setTimeout(() => resolve(`${job.name} done`), job.data.ms)),
    { timeout: 150, concurrency: 4 },
  );
  await waitFor(async () => (await queue.getCompletedCount()) + (await queue.getFailedCount()) === 4, {
    message: 'every job finished',
  });
  const byName = Object.fromEntries(
    await Promise.all(['1', '2', '3', '4'].map(async (id) => {
      const j = await queue.getJob(id);
      return [j.name, [await j.getState(), j.failedReason ?? j.returnvalue]];
    })),
  );
  assert.deepEqual(byName, {
    default: ['failed', 'job 1 timed out after 150 ms'],
    longer: ['completed', 'longer done'],
    none: ['completed', 'none done'],
    shorter: ['failed', 'job 4 timed out after 50 ms'],
  });
  await w.close();
});

test('invalid timeouts are refused when adding and in worker options', async () => {
  const { queue, worker } = await setup('timeout-invalid');
  for (const bad of [-1, 'soon', Number.NaN, Infinity, 2 ** 31]) {
    await assert.rejects(queue.add('x', {}, { timeout: bad }), (err) => {
      assert.ok(err instanceof TypeError);
      assert.match(err.message, /^opts\.timeout must be a number of ms from 0 to 2147483647, got /);
      return true;
    });
    assert.throws(() => worker(async () => 1, { timeout: bad }), TypeError);
  }
  assert.equal(await queue.count(), 0);
});

test('interop: the official bullmq processes a job added with a timeout and keeps the option', async () => {
  const { name, connection, queue } = await setup('timeout-to-official');
  await queue.add('timed', { v: 1 }, { timeout: 50, attempts: 2 });
  const oqueue = closeAfter(new bullmq.Queue(name, { connection }));
  const ojob = await oqueue.getJob('1');
  assert.equal(ojob.opts.timeout, 50);
  assert.equal(ojob.opts.attempts, 2);
  // The official worker does not time jobs out: a job slower than its timeout completes there.
  const ow = closeAfter(
    new bullmq.Worker(name, (job) => sleep(150).then(() => `official ${job.opts.timeout}`), { connection }),
  );
  await waitFor(async () => (await oqueue.getCompletedCount()) === 1, { message: 'the official worker completed it' });
  const done = await queue.getJob('1');
  assert.equal(done.returnvalue, 'official 50');
  assert.equal(done.opts.timeout, 50);
  await ow.close();
});

test('interop: a job added by the official bullmq with a timeout is timed out by ours', async () => {
  const { name, connection, queue, worker } = await setup('timeout-from-official');
  const oqueue = closeAfter(new bullmq.Queue(name, { connection }));
  const added = await oqueue.add('timed', {}, { timeout: 120, attempts: 2 });
  assert.equal((await queue.getJob(added.id)).opts.timeout, 120);
  const runs = [];
  const w = worker(honouring(runs));
  await waitFor(async () => (await queue.getFailedCount()) === 1, { message: 'both attempts timed out' });
  assert.equal(runs.length, 2);
  const ojob = await oqueue.getJob(added.id);
  assert.equal(ojob.failedReason, `job ${added.id} timed out after 120 ms`);
  assert.equal(ojob.attemptsMade, 2);
  await w.close();
});

test('a job added elsewhere with an unusable timeout runs without one', async () => {
  const { name, connection, worker } = await setup('timeout-unusable');
  const oqueue = closeAfter(new bullmq.Queue(name, { connection }));
  await oqueue.add('odd', {}, { timeout: 'soon' });
  await oqueue.add('negative', {}, { timeout: -5 });
  const w = worker(() => sleep(50).then(() => 'ran'), { concurrency: 2 });
  await waitFor(async () => (await oqueue.getCompletedCount()) === 2);
  assert.equal(await oqueue.getFailedCount(), 0);
  await w.close();
});

test('Queue defaultJobOptions may carry a timeout', async () => {
  const { name, connection, worker } = await setup('timeout-defaults');
  const q = closeAfter(new Queue(name, { connection, defaultJobOptions: { timeout: 60 } }));
  await q.add('slow', {});
  const w = worker(honouring());
  await waitFor(async () => (await q.getFailedCount()) === 1);
  assert.equal((await q.getJob('1')).failedReason, 'job 1 timed out after 60 ms');
  await w.close();
});
