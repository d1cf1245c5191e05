// Jobs a worker fails without running them, as BullMQ 6.7's does: a job that
// stalled more than maxStalledCount allows, and one started more often than
// maxStartedAttempts allows (retries and step jobs alike). Each scenario runs
// on our package and on the official one, and the outcomes must be equal.
// Also the shape of what moveToCompleted / moveToFailed return for the next
// job, compared the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';

import { track } from './support/closers.mjs';
import { connection, queueName, waitFor } from './support/redis.mjs';

const PACKAGES = [
  ['ours', ours],
  ['bullmq', official],
];

/** What a job looks like after it ended, without ids and clock readings. */
function outcome(job) {
  if (!job) return 'removed';
  return {
    finished: typeof job.finishedOn === 'number' && job.finishedOn > 0,
    attemptsStarted: job.attemptsStarted,
    attemptsMade: job.attemptsMade,
    stalledCounter: job.stalledCounter,
    failedReason: job.failedReason,
    stacktrace: job.stacktrace.map((line) => line.split('\n')[0]),
  };
}

/**
 * One job taken by a worker that dies (a manual worker that never renews its
 * lock), then recovered by a worker with maxStalledCount 0: on its second
 * stall-free fetch it must fail without running. `keep` jobs failed before it
 * let removeOnFail counts show.
 */
async function stalledTooOften(pkg, { jobOpts = {}, workerOpts = {}, keep = 0 } = {}) {
  const conn = await connection();
  const name = queueName('stall-limit');
  const queue = track(new pkg.Queue(name, { connection: conn }));
  const dead = track(new pkg.Worker(name, null, { connection: conn, lockDuration: 200 }));
  for (let i = 0; i < keep; i++) {
    await queue.add('old', { i }, jobOpts);
    const j = await dead.getNextJob('old-token');
    await j.moveToFailed(new Error(`old ${i}`), 'old-token');
  }
  const added = await queue.add('x', { v: 1 }, jobOpts);
  await dead.getNextJob('dead-token');
  const events = [];
  let runs = 0;
  const worker = track(
    new pkg.Worker(
      name,
      async () => {
        runs += 1;
        return 'ran';
      },
      { connection: conn, stalledInterval: 100, maxStalledCount: 0, ...workerOpts },
    ),
  );
  worker.on('failed', (job, err, prev) => events.push(['failed', job.id === added.id, err.name, err.message, prev, outcome(job)]));
  worker.on('stalled', (jobId, prev) => events.push(['stalled', jobId === added.id, prev]));
  await waitFor(() => events.some((e) => e[0] === 'failed'), { message: `${pkg === ours ? 'our' : 'the official'} failed event` });
  await worker.close();
  const stored = await queue.getJob(added.id);
  const failedCount = await queue.getFailedCount();
  // The stall and the failure are reported by separate calls: their order varies on both sides.
  events.sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1));
  return { events, runs, stored: outcome(stored), state: stored ? await stored.getState() : 'gone', failedCount };
}

for (const [label, variant] of [
  ['no removeOnFail', {}],
  ['removeOnFail: true on the job', { jobOpts: { removeOnFail: true } }],
  ['removeOnFail: 1 with older failures', { jobOpts: { removeOnFail: 1 }, keep: 2 }],
  ['removeOnFail: { count: 2 } on the worker', { workerOpts: { removeOnFail: { count: 2 } }, keep: 2 }],
  ['removeOnFail: { age: 3600 }', { jobOpts: { removeOnFail: { age: 3600 } }, keep: 1 }],
  ['with attempts left', { jobOpts: { attempts: 3 } }],
]) {
  test(`a job stalled past maxStalledCount fails with 6.7's event and fields (${label})`, async () => {
    const [mine, theirs] = await Promise.all(PACKAGES.map(([, pkg]) => stalledTooOften(pkg, variant)));
    assert.deepEqual(mine, theirs);
    const failed = mine.events.find((e) => e[0] === 'failed');
    assert.deepEqual(failed.slice(0, 5), [
      'failed',
      true,
      'UnrecoverableError',
      'job stalled more than allowable limit',
      'active',
    ]);
    assert.equal(mine.runs, 0, 'the processor never ran on the stalled job');
  });
}

test('a job stalled past maxStalledCount with removeOnFail: true on the worker is removed', async () => {
  // Not compared: bullmq 6.7's finish script fails on a worker-level
  // `removeOnFail: true` ("attempt to index field 'keepJobs' (a boolean
  // value)") and leaves the job active.
  const r = await stalledTooOften(ours, { workerOpts: { removeOnFail: true } });
  assert.equal(r.stored, 'removed');
  assert.equal(r.failedCount, 0);
  assert.equal(r.runs, 0);
  assert.deepEqual(r.events.find((e) => e[0] === 'failed').slice(2, 5), [
    'UnrecoverableError',
    'job stalled more than allowable limit',
    'active',
  ]);
});

/**
 * A job retried (or moved back to delayed as a step job) until it started
 * more often than maxStartedAttempts allows.
 */
async function startedTooOften(pkg, { step }) {
  const conn = await connection();
  const name = queueName('max-started');
  const queue = track(new pkg.Queue(name, { connection: conn }));
  const added = await queue.add('x', { v: 1 }, step ? {} : { attempts: 10 });
  let runs = 0;
  const failed = [];
  const worker = track(
    new pkg.Worker(
      name,
      async (job, token) => {
        runs += 1;
        if (step) {
          await job.moveToDelayed(Date.now() + 5, token);
          throw new pkg.DelayedError();
        }
        throw new Error(`run ${runs}`);
      },
      { connection: conn, maxStartedAttempts: 2 },
    ),
  );
  worker.on('failed', (job, err, prev) => failed.push([err.name, err.message, prev, outcome(job)]));
  // Retries stop at the last allowed start (that attempt's error is final);
  // a step job is failed unrun at the start past the limit.
  await waitFor(async () => (await queue.getJobState(added.id)) === 'failed', {
    message: 'the failure at maxStartedAttempts',
  });
  await worker.close();
  return { runs, failed, stored: outcome(await queue.getJob(added.id)) };
}

for (const step of [false, true]) {
  test(`maxStartedAttempts fails a job started once too often, as 6.7 (${step ? 'step job moved to delayed' : 'retries'})`, async () => {
    const [mine, theirs] = await Promise.all(PACKAGES.map(([, pkg]) => startedTooOften(pkg, { step })));
    assert.deepEqual(mine, theirs);
    assert.equal(mine.runs, 2);
    assert.deepEqual(
      mine.failed.at(-1).slice(0, 3),
      step ? ['UnrecoverableError', 'job started more than allowable limit', 'active'] : ['Error', 'run 2', 'active'],
    );
  });
}

test('maxStartedAttempts is validated with 6.7 message, before any connection opens', async () => {
  // 6.7's own Worker opens its connection before this check and leaves it
  // open, so it is not built here: its message is read off its package.
  const conn = await connection();
  assert.throws(
    () => new ours.Worker(queueName('v'), async () => {}, { connection: conn, maxStartedAttempts: -1 }),
    { message: /^maxStartedAttempts must be greater or equal than 0/ },
  );
  // 0 means no limit, as in 6.7.
  const w = track(new ours.Worker(queueName('v'), async () => {}, { connection: conn, maxStartedAttempts: 0, autorun: false }));
  assert.equal(w.opts.maxStartedAttempts, 0);
  // The refused worker left nothing open: this file's process ends (the
  // runner's timeout fails it otherwise).
});

/** The values moveToCompleted / moveToFailed return in each case, ids and clock readings normalised. */
async function nextJobShapes(pkg) {
  const conn = await connection();
  const name = queueName('next-shape');
  const queue = track(new pkg.Queue(name, { connection: conn }));
  const worker = track(new pkg.Worker(name, null, { connection: conn }));
  const norm = (r) =>
    JSON.parse(
      JSON.stringify(r, (k, v) => (['timestamp', 'processedOn'].includes(k) && typeof v === 'number' ? 'T' : v)),
    );
  const out = {};
  await queue.add('a', { i: 1 }, { attempts: 2, backoff: 60_000, removeOnComplete: { count: 3 } });
  await queue.add('b', { i: 2 }, { priority: 3, removeOnFail: { age: 60, count: 2 } });
  await queue.add('c', { i: 3 }, { jobId: 'custom', lifo: false });
  await queue.add('later', { i: 4 }, { delay: 3_600_000 });
  const a = await worker.getNextJob('tok');
  // A retry with backoff hands out the next job too.
  const next1 = await a.moveToFailed(new Error('boom'), 'tok', true);
  out.afterBackoff = norm(next1);
  const b = pkg.Job.fromJSON(worker, next1[0], next1[1]);
  const next2 = await b.moveToCompleted({ ok: 1 }, 'tok', true);
  out.afterComplete = norm(next2);
  const c = pkg.Job.fromJSON(worker, next2[0], next2[1]);
  out.notFetching = norm(await c.moveToCompleted('done', 'tok', false));
  const left = await worker.getNextJob('tok', { block: false });
  out.nothing = left ? 'unexpected job' : 'none';
  // Only the delayed job is left: nothing comes, and its due time is told.
  await queue.add('d', {});
  const d = await worker.getNextJob('tok');
  const none = await d.moveToCompleted('x', 'tok', true);
  out.noneLeft = [none[0], none[1], none[2], typeof none[3] === 'number' && none[3] > Date.now()];
  return out;
}

test('moveToCompleted / moveToFailed return the next job in 6.7 shape, a backoff retry included', async () => {
  const [mine, theirs] = await Promise.all(PACKAGES.map(([, pkg]) => nextJobShapes(pkg)));
  assert.deepEqual(mine, theirs);
  assert.equal(mine.afterBackoff[1], 'custom');
  assert.deepEqual(mine.noneLeft, [null, 0, 0, true]);
});
