// The members added to match bullmq 6.7's classes, each compared with the
// official bullmq 6.7 on the same Redis: the answers that are data
// (getRanges, getDependencies, removeOrphanedJobs, getQueueEvents, the
// worker's block timeouts and lock extension, the Job helpers) on the same
// or an identically seeded state, and the option checks with 6.7's messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';

import { track } from './support/closers.mjs';
import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';

const { FlowProducer, Job, Queue, QueueEvents, Worker } = ours;

/** Our Queue and bullmq's on one queue name. */
async function pair(label) {
  const name = queueName(label);
  const conn = await connection();
  const mine = track(new Queue(name, { connection: conn }));
  const theirs = track(new official.Queue(name, { connection: conn }));
  await Promise.all([mine.waitUntilReady(), theirs.waitUntilReady()]);
  return { name, conn, mine, theirs };
}

/** Moves the next job to active with `token` and finishes it as `outcome` ('completed' | 'failed' | 'active'). */
async function run(worker, token, outcome) {
  const job = await worker.getNextJob(token, { block: false });
  if (outcome === 'completed') await job.moveToCompleted({ id: job.id }, token, false);
  if (outcome === 'failed') await job.moveToFailed(new Error(`boom ${job.id}`), token, false);
  return job;
}

test('getRanges: the ids bullmq 6.7 gives, for every state, range and order', async () => {
  const { name, conn, mine, theirs } = await pair('ranges');
  for (let i = 0; i < 6; i++) await theirs.add(`w${i}`, { i });
  await theirs.add('p1', {}, { priority: 3 });
  await theirs.add('p2', {}, { priority: 1 });
  await theirs.add('d1', {}, { delay: 60000 });
  await theirs.add('d2', {}, { delay: 30000 });
  const worker = track(new Worker(name, null, { connection: conn }));
  for (let i = 0; i < 3; i++) await run(worker, `c${i}`, 'completed');
  await run(worker, 'f0', 'failed');
  await run(worker, 'a0', 'active');
  const flow = track(new official.FlowProducer({ connection: conn }));
  await flow.add({ name: 'parent', queueName: name, children: [{ name: 'kid', queueName: `${name}-kids` }] });

  const typeSets = [
    ['waiting'],
    ['wait'],
    ['active'],
    ['completed'],
    ['failed'],
    ['delayed'],
    ['prioritized'],
    ['waiting-children'],
    ['completed', 'failed', 'waiting', 'active', 'delayed', 'prioritized'],
    ['waiting', 'waiting', 'completed'],
    ['active', 'paused'],
    [],
  ];
  const ranges = [[0, 1], [0, -1], [1, 3], [-2, -1], [0, 0], [5, 100], [-1, -1]];
  let compared = 0;
  for (const types of typeSets) {
    for (const [start, end] of ranges) {
      for (const asc of [false, true]) {
        const expected = await theirs.getRanges(types, start, end, asc);
        assert.deepEqual(await mine.getRanges(types, start, end, asc), expected, `${types} ${start}..${end} asc=${asc}`);
        compared += expected.length;
      }
    }
  }
  assert.ok(compared > 100, 'the ranges were not empty');
  // The defaults: the newest two of each state.
  assert.deepEqual(await mine.getRanges(['waiting', 'completed']), await theirs.getRanges(['waiting', 'completed']));
  await assert.rejects(mine.getRanges('waiting'), /getRanges: types must be an array/);
  await assert.rejects(mine.getRanges(['meta']), /getRanges: unknown job type "meta"/);
});

test('getRanges drops a legacy marker at the tail of wait, as bullmq 6.7', async () => {
  const { name, mine, theirs } = await pair('ranges-marker');
  await theirs.add('a', {});
  await theirs.add('b', {});
  const redis = await rawClient();
  await redis.rpush(`bull:${name}:wait`, '0:1234');
  const ids = await mine.getRanges(['waiting'], 0, -1, true);
  assert.deepEqual(ids, ['1', '2']);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['2', '1']);
  assert.deepEqual(await theirs.getRanges(['waiting'], 0, -1, true), ids);
});

test('getDependencies: the pages, values and jobs bullmq 6.7 gives', async () => {
  const { name, conn, mine, theirs } = await pair('deps');
  const flow = track(new FlowProducer({ connection: conn }));
  const doneQueue = `${name}-done`;
  const pendingQueue = `${name}-pending`;
  const many = (queue, n, opts = () => ({})) =>
    Array.from({ length: n }, (_, i) => ({ name: `k${i}`, queueName: queue, data: { i }, opts: opts(i) }));
  // Enough children that the set and hash are scanned in several steps.
  const done = await flow.add({
    name: 'p-done',
    queueName: name,
    children: many(doneQueue, 230, (i) => (i % 50 === 0 ? { removeOnComplete: true } : {})),
  });
  const pending = await flow.add({ name: 'p-pending', queueName: name, children: many(pendingQueue, 210) });
  const worker = track(
    new Worker(doneQueue, async (job) => (job.data.i % 7 === 0 ? `text ${job.data.i}` : { i: job.data.i }), {
      connection: conn,
      concurrency: 20,
    }),
  );
  await waitFor(async () => (await mine.getJobState(done.job.id)) === 'waiting', {
    timeout: 30000,
    message: 'all children done',
  });
  await worker.close();
  const redis = await rawClient();
  // A stored value that is not JSON, for a child whose job is gone.
  await redis.hset(`bull:${name}:${done.job.id}:processed`, `bull:${doneQueue}:gone`, '{not json');

  const pages = [[0, -1], [0, 9], [5, 14], [100, 219], [225, 300], [0, 0]];
  for (const [parentId, type] of [
    [done.job.id, 'processed'],
    [pending.job.id, 'pending'],
    [done.job.id, 'pending'],
    ['no-such-parent', 'processed'],
  ]) {
    for (const [start, end] of pages) {
      const expected = await theirs.getDependencies(parentId, type, start, end);
      const got = await mine.getDependencies(parentId, type, start, end);
      assert.deepEqual(got, expected, `${parentId} ${type} ${start}..${end}`);
    }
  }
  const all = await mine.getDependencies(done.job.id, 'processed', 0, -1);
  assert.equal(all.total, 231);
  assert.equal(all.items.length, 231);
  assert.ok(all.items.some((item) => item.err !== undefined && item.v === undefined), 'an unreadable value');
  assert.ok(all.items.some((item) => typeof item.v === 'string' && item.v.startsWith('text ')));
  const pendingAll = await mine.getDependencies(pending.job.id, 'pending', 0, -1);
  assert.equal(pendingAll.total, 210);
  assert.equal(new Set(pendingAll.items.map((item) => item.id)).size, 210);
  assert.ok(pendingAll.jobs.every((job) => typeof job.data === 'string' && job.parentKey === `bull:${name}:${pending.job.id}`));
});

/** Seeds queue `name` with jobs that lost their state, and keys that are not jobs. */
async function seedOrphans(name, conn) {
  const redis = await rawClient();
  const q = track(new official.Queue(name, { connection: conn }));
  for (const n of ['a', 'b', 'c']) await q.add(n, {});
  await q.add('d', {}, { delay: 60000 });
  await q.add('e', {}, { priority: 2 });
  await q.add('f', {}, { deduplication: { id: 'dd' } });
  const base = `bull:${name}:`;
  // Not job 1: the marker's member "1" (the delayed marker) holds that id.
  await redis.lrem(`${base}wait`, 0, '2');
  await redis.rpush(`${base}2:logs`, 'a line');
  await redis.zrem(`${base}prioritized`, '5');
  await redis.hset(`${base}ghost`, 'name', 'g');
  await redis.rpush(`${base}ghost2:logs`, 'only logs');
  await redis.set(`${base}ghost3:other`, 'not a job key');
  // Held by the stalled set only: kept.
  await redis.lrem(`${base}wait`, 0, '3');
  await redis.sadd(`${base}stalled`, '3');
  await redis.hset(`${base}metrics:completed`, 'count', '1');
  // A scheduler's hash: not a job.
  await redis.hset(`${base}repeat:every-minute`, 'name', 'every-minute', 'every', '60000', 'ic', '1');
  return redis;
}

async function keysOf(redis, name) {
  const base = `bull:${name}:`;
  return (await redis.keys(`${base}*`)).map((k) => k.slice(base.length)).sort();
}

test('removeOrphanedJobs: what bullmq 6.7 removes from the same state, and the count', async () => {
  const conn = await connection();
  const a = queueName('orphans-ours');
  const b = queueName('orphans-theirs');
  const redis = await seedOrphans(a, conn);
  await seedOrphans(b, conn);
  assert.deepEqual(await keysOf(redis, a), await keysOf(redis, b), 'seeded alike');
  const mine = track(new Queue(a, { connection: conn }));
  const theirs = track(new official.Queue(b, { connection: conn }));
  // One SCAN step covers every key, so no job is counted twice.
  const removed = await mine.removeOrphanedJobs(1_000_000);
  assert.equal(removed, await theirs.removeOrphanedJobs(1_000_000));
  assert.equal(removed, 4, 'jobs 2 and 5, ghost and ghost2');
  const left = await keysOf(redis, a);
  assert.deepEqual(left, await keysOf(redis, b));
  for (const gone of ['2', '2:logs', '5', 'ghost', 'ghost2:logs']) assert.ok(!left.includes(gone), gone);
  for (const kept of ['1', '3', '4', '6', 'ghost3:other', 'de:dd', 'repeat:every-minute', 'metrics:completed']) {
    assert.ok(left.includes(kept), kept);
  }
  assert.equal(await mine.removeOrphanedJobs(), 0);
  await assert.rejects(mine.removeOrphanedJobs(0), /removeOrphanedJobs: count must be an integer >= 1/);
});

test('removeOrphanedJobs stops after the batch that reached the limit, and keeps metrics', async () => {
  const { name, conn, mine } = await pair('orphans-limit');
  const redis = await rawClient();
  const base = `bull:${name}:`;
  for (let i = 0; i < 20; i++) await redis.hset(`${base}lost-${i}`, 'name', 'x');
  // BullMQ 6.7 takes this for the `failed` key of a job named "metrics".
  await redis.hset(`${base}metrics:failed`, 'count', '3');
  const first = await mine.removeOrphanedJobs(1, 1);
  assert.ok(first >= 1 && first < 20, `first call removed ${first}`);
  assert.equal(first + (await mine.removeOrphanedJobs(1)), 20);
  assert.equal(await redis.hget(`${base}metrics:failed`, 'count'), '3');
  void conn;
});

test('getQueueEvents: the QueueEvents connections bullmq 6.7 lists', async () => {
  const { name, conn, mine, theirs } = await pair('qe-list');
  const a = track(new QueueEvents(name, { connection: conn }));
  const b = track(new official.QueueEvents(name, { connection: conn }));
  await Promise.all([a.waitUntilReady(), b.waitUntilReady()]);
  const names = (clients) => clients.map((c) => `${c.name}|${c.rawname}`).sort();
  const ids = (clients) => clients.map((c) => c.id).sort();
  await waitFor(async () => (await theirs.getQueueEvents()).length === 2, { message: 'both readers connected' });
  const expected = await theirs.getQueueEvents();
  const got = await mine.getQueueEvents();
  assert.deepEqual(ids(got), ids(expected));
  assert.deepEqual(names(got), names(expected));
  assert.equal(got[0].name, name);
  assert.equal(got[0].rawname, `bull:${Buffer.from(name).toString('base64')}:qe`);
});

test('worker block timeouts: the values of bullmq 6.7', async () => {
  const name = queueName('block');
  const conn = await connection();
  for (const extra of [{}, { skipVersionCheck: true }]) {
    const opts = { connection: conn, autorun: false, drainDelay: 3, ...extra };
    const mine = track(new Worker(name, null, opts));
    const theirs = track(new official.Worker(name, null, opts));
    await Promise.all([mine.waitUntilReady(), theirs.waitUntilReady()]);
    assert.equal(mine.minimumBlockTimeout, theirs.minimumBlockTimeout, `minimum ${JSON.stringify(extra)}`);
    assert.equal(mine.maximumBlockTimeout, theirs.maximumBlockTimeout);
    assert.equal(mine.getBlockTimeout(0), theirs.getBlockTimeout(0));
    const now = Date.now();
    for (const until of [now + 60000, now + 4000, now - 1000]) {
      const a = mine.getBlockTimeout(until);
      const b = theirs.getBlockTimeout(until);
      // Each reads the clock itself; allow for the time between the calls.
      assert.ok(Math.abs(a - b) < (until < now ? 50 : 0.05), `${until - now}: ${a} vs ${b}`);
    }
    assert.equal(mine.getBlockTimeout(Date.now() + 1), theirs.getBlockTimeout(Date.now() + 1));
  }
  assert.equal(track(new Worker(name, null, { connection: conn, autorun: false })).minimumBlockTimeout, 0.001, 'before connecting');
});

test('extendJobLocks: the ids whose lock could not be extended, as bullmq 6.7', async () => {
  const conn = await connection();
  const results = [];
  for (const lib of [ours, official]) {
    const name = queueName('extend');
    const queue = track(new lib.Queue(name, { connection: conn }));
    await queue.add('a', {});
    await queue.add('b', {});
    const worker = track(new lib.Worker(name, null, { connection: conn, autorun: false }));
    const j1 = await worker.getNextJob('tok-1');
    const j2 = await worker.getNextJob('tok-2');
    const failed = await worker.extendJobLocks([j1.id, j2.id, 'missing'], ['tok-1', 'wrong', 'x'], 120000);
    const redis = await rawClient();
    const ttl = await redis.pttl(`bull:${name}:${j1.id}:lock`);
    results.push({ failed, extended: ttl > 60000 });
  }
  assert.deepEqual(results[0], results[1]);
  assert.deepEqual(results[0], { failed: ['2', 'missing'], extended: true });
});

/** Runs processJob on two jobs with our Worker and bullmq's on twin queues; what each saw. */
async function processTwice(lib, processor, jobsOpts, fetchNext = () => true) {
  const conn = await connection();
  const name = queueName('process');
  const queue = track(new lib.Queue(name, { connection: conn }));
  await queue.add('first', { n: 1 }, jobsOpts);
  await queue.add('second', { n: 2 });
  const worker = track(new lib.Worker(name, processor, { connection: conn, autorun: false }));
  const events = [];
  for (const e of ['active', 'completed', 'failed', 'drained']) {
    worker.on(e, (job, value) => events.push(e === 'drained' ? e : `${e}:${job.id}:${e === 'completed' ? JSON.stringify(value) : ''}`));
  }
  const job = await worker.getNextJob('tok');
  const next = await worker.processJob(job, 'tok', fetchNext);
  const after = await queue.getJob(job.id);
  return {
    events,
    next: next ? { id: next.id, token: next.token, state: await next.getState() } : next,
    state: await after.getState(),
    returnvalue: after.returnvalue,
    failedReason: after.failedReason,
    attemptsMade: after.attemptsMade,
  };
}

test('processJob: completes, fails and retries as bullmq 6.7, handing back the next job', async () => {
  const cases = [
    [async (job) => ({ doubled: job.data.n * 2 }), {}],
    [async () => { throw new Error('no luck'); }, {}],
    [async () => { throw new Error('again'); }, { attempts: 2 }],
    [async () => { throw new ours.UnrecoverableError('never'); }, { attempts: 3 }],
  ];
  for (const [processor, opts] of cases) {
    const theirProcessor = async (job, token) => {
      try {
        return await processor(job, token);
      } catch (err) {
        // The same error class of the package under test.
        throw err instanceof ours.UnrecoverableError ? new official.UnrecoverableError(err.message) : err;
      }
    };
    const got = await processTwice(ours, processor, opts);
    const expected = await processTwice(official, theirProcessor, opts);
    assert.deepEqual(got, expected, `${processor} ${JSON.stringify(opts)}`);
  }
  // Without fetch-next: nothing comes back.
  const got = await processTwice(ours, async () => 1, {}, () => false);
  assert.deepEqual(got, await processTwice(official, async () => 1, {}, () => false));
  assert.equal(got.next, undefined);
});

test('processJob emits drained when the fetch-next finds nothing', async () => {
  const conn = await connection();
  const name = queueName('process-drained');
  const queue = track(new Queue(name, { connection: conn }));
  await queue.add('only', {});
  const worker = track(new Worker(name, async () => 'ok', { connection: conn, autorun: false }));
  let drained = 0;
  worker.on('drained', () => drained++);
  const job = await worker.getNextJob('tok');
  assert.equal(await worker.processJob(job, 'tok'), undefined);
  assert.equal(drained, 1);
  assert.equal(await queue.getJobState(job.id), 'completed');
  const noProcessor = track(new Worker(name, null, { connection: conn, autorun: false }));
  await assert.rejects(noProcessor.processJob(job, 'tok'), /No process function is defined/);
});

test('worker.jobScheduler, worker.keys and worker.delay', async () => {
  const { name, conn, mine } = await pair('worker-misc');
  const worker = track(new Worker(name, null, { connection: conn, autorun: false }));
  const theirs = track(new official.Worker(name, null, { connection: conn, autorun: false }));
  await mine.upsertJobScheduler('s1', { every: 60000 }, { data: { x: 1 } });
  const scheduler = await worker.jobScheduler;
  assert.ok(scheduler instanceof ours.JobScheduler);
  assert.equal(await worker.jobScheduler, scheduler, 'one per worker');
  assert.deepEqual(await scheduler.getScheduler('s1'), await (await theirs.jobScheduler).getScheduler('s1'));
  assert.deepEqual(worker.keys, theirs.keys);
  const events = track(new QueueEvents(name, { connection: conn, autorun: false }));
  assert.deepEqual(events.keys, mine.keys);
  const ac = new AbortController();
  const waiting = worker.delay(60000, ac);
  ac.abort();
  await waiting;
  await worker.delay(1);
});

test('disconnect drops the connection; close still resolves', async () => {
  const conn = await connection();
  for (const lib of [ours, official]) {
    const queue = new lib.Queue(queueName('disconnect'), { connection: conn });
    await queue.waitUntilReady();
    await queue.disconnect();
    await assert.rejects(queue.getJobCounts(), /Connection is closed/, lib === ours ? 'ours' : 'bullmq');
    await queue.close();
  }
  const name = queueName('disconnect-w');
  const queue = track(new Queue(name, { connection: conn }));
  const worker = new Worker(name, null, { connection: conn, autorun: false, name: 'dropped' });
  await worker.waitUntilReady();
  await waitFor(async () => (await queue.getWorkers()).length === 1, { message: 'the worker listed' });
  await worker.disconnect();
  await assert.rejects(worker.getNextJob('t', { block: false }), /Connection is closed/);
  await waitFor(async () => (await queue.getWorkers()).length === 0, { message: 'its connection gone' });
  await worker.close();
  const events = new QueueEvents(name, { connection: conn });
  await events.waitUntilReady();
  await waitFor(async () => (await queue.getQueueEvents()).length === 1, { message: 'the reader listed' });
  await events.disconnect();
  await waitFor(async () => (await queue.getQueueEvents()).length === 0, { message: 'the reader gone' });
  await events.close();
});

test('Job helpers: optsFromJSON, addJobLog, asJSONSandbox, toFlowEntry and fresh jobs as bullmq 6.7', async () => {
  const { name, mine, theirs } = await pair('job-helpers');
  for (const raw of [
    '{"kl":5,"de":{"id":"x","ttl":10},"fpof":true,"tm":"meta","omc":true,"attempts":3,"custom":[1]}',
    '{"tm":"only"}',
    undefined,
    '',
  ]) {
    assert.deepEqual(Job.optsFromJSON(raw), official.Job.optsFromJSON(raw), String(raw));
  }
  assert.deepEqual(Job.optsFromJSON('{"a":1,"b":2}', { a: 'alpha' }), official.Job.optsFromJSON('{"a":1,"b":2}', { a: 'alpha' }));
  assert.throws(() => Job.optsFromJSON('{'), SyntaxError);

  const added = await theirs.add('logged', {}, { jobId: 'logged-1' });
  assert.equal(await Job.addJobLog(mine, added.id, 'one'), 1);
  assert.equal(await official.Job.addJobLog(theirs, added.id, 'two'), 2);
  assert.equal(await Job.addJobLog(mine, added.id, 'three', 2), 2);
  assert.deepEqual(await mine.getJobLogs(added.id), { logs: ['two', 'three'], count: 2 });

  const a = await mine.getJob(added.id);
  const b = await theirs.getJob(added.id);
  const sandboxA = a.asJSONSandbox();
  const sandboxB = b.asJSONSandbox();
  for (const [field, value] of Object.entries(sandboxB)) assert.deepEqual(sandboxA[field], value, field);
  assert.equal(sandboxA.queueName, name);
  assert.equal(sandboxA.prefix, 'bull');

  const opts = { attempts: 2, parent: { id: 'p1', queue: `bull:${name}` }, keepLogs: 3 };
  const entryA = new Job(mine, 'n', { a: 1 }, opts, 'x1').toFlowEntry({ parentKey: `bull:${name}:p1`, addToWaitingChildren: false });
  const entryB = new official.Job(theirs, 'n', { a: 1 }, opts, 'x1').toFlowEntry({ parentKey: `bull:${name}:p1`, addToWaitingChildren: false });
  const { jobData: dataA, ...restA } = entryA;
  const { jobData: dataB, ...restB } = entryB;
  assert.deepEqual(restA, restB);
  for (const field of ['id', 'name', 'data', 'opts', 'parent', 'parentKey', 'progress', 'attemptsMade', 'stacktrace', 'returnvalue']) {
    assert.deepEqual(dataA[field], dataB[field], field);
  }
  for (const [badOpts, message] of [
    [{ debounce: { id: 'x' } }, 'Debounce option has been removed. Use deduplication option instead'],
    [{ deduplication: { id: 'x' }, parent: { id: 'p', queue: 'bull:q' } }, 'Deduplication and parent options cannot be used together'],
    [{ failParentOnFailure: true, ignoreDependencyOnFailure: true }, 'The following options cannot be used together: failParentOnFailure, ignoreDependencyOnFailure'],
  ]) {
    assert.throws(() => new official.Job(theirs, 'n', {}, badOpts).toFlowEntry(), { message });
    assert.throws(() => new Job(mine, 'n', {}, badOpts).toFlowEntry(), { message });
  }

  // A Job just built, before anything read or ran it.
  const freshA = new Job(mine, 'n', {});
  const freshB = new official.Job(theirs, 'n', {});
  for (const field of ['stacktrace', 'delay', 'priority', 'progress', 'returnvalue', 'attemptsMade', 'attemptsStarted', 'opts']) {
    assert.deepEqual(freshA[field], freshB[field], field);
  }
  assert.match(mine.token, /^[0-9a-f-]{36}$/);
});

/** `fn`'s error (or undefined). */
function thrown(fn) {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

test('Worker options are refused with the errors of bullmq 6.7', async () => {
  const conn = await connection();
  const name = queueName('worker-opts');
  const mine = track(new Worker(name, null, { connection: conn, autorun: false, concurrency: 2.5 }));
  const theirs = track(new official.Worker(name, null, { connection: conn, autorun: false, concurrency: 2.5 }));
  assert.equal(mine.concurrency, theirs.concurrency);
  // bullmq's constructor checks with the setter (and, refusing, leaves its
  // connection open): its setter stands for both.
  for (const concurrency of [0, -1, NaN, Infinity, '2', null]) {
    const b = thrown(() => { theirs.concurrency = concurrency; });
    const a = thrown(() => new Worker(name, null, { connection: conn, autorun: false, concurrency }));
    assert.ok(a && b, `concurrency ${concurrency} refused by both`);
    assert.equal(a.message, 'concurrency must be a finite number greater than 0');
    assert.equal(a.message, b.message);
    assert.equal(a.constructor.name, b.constructor.name);
    const c = thrown(() => { mine.concurrency = concurrency; });
    assert.equal(c?.message, b.message);
  }
  assert.equal(mine.concurrency, 2.5, 'unchanged by the refused values');
  for (const opts of [undefined, {}, { connection: null }]) {
    assert.throws(() => new Worker(name, null, opts), { message: 'Worker requires a connection' });
    assert.throws(() => new official.Worker(name, null, opts), { message: 'Worker requires a connection' });
  }
});

test('job options are refused with the messages of bullmq 6.7, also in flows', async () => {
  const { name, conn, mine, theirs } = await pair('job-opts');
  const parent = { id: 'p', queue: `bull:${name}` };
  await theirs.add('p', {}, { jobId: 'p' });
  for (const opts of [
    { debounce: { id: 'x' } },
    { debounce: undefined },
    { deduplication: { id: 'x' }, parent },
    { deduplication: { ttl: 10 } },
  ]) {
    const expected = await theirs.add('a', {}, opts).then(() => undefined, (err) => err.message);
    assert.ok(expected, `bullmq refuses ${JSON.stringify(opts)}`);
    await assert.rejects(mine.add('a', {}, opts), { message: expected });
  }
  const ourFlows = track(new FlowProducer({ connection: conn }));
  const theirFlows = track(new official.FlowProducer({ connection: conn }));
  for (const childOpts of [{ debounce: undefined }, { deduplication: { id: 'x' } }, { debounce: { id: 'y' } }]) {
    const flow = { name: 'root', queueName: name, children: [{ name: 'kid', queueName: name, opts: childOpts }] };
    const expected = await theirFlows.add(flow).then(() => undefined, (err) => err.message);
    assert.ok(expected, `bullmq refuses a child with ${JSON.stringify(childOpts)}`);
    await assert.rejects(ourFlows.add(flow), { message: expected });
  }
  const root = { name: 'root', queueName: name, opts: { debounce: undefined } };
  await assert.rejects(ourFlows.add(root), { message: 'Debounce option has been removed. Use deduplication option instead' });
});

test('maximumRateLimitDelay: a rate-limited worker still promotes delayed jobs that often', async () => {
  const { name, conn, mine } = await pair('rl-delay');
  await mine.add('first', {});
  const worker = track(
    new Worker(name, async () => 'done', {
      connection: conn,
      limiter: { max: 1, duration: 60000 },
      maximumRateLimitDelay: 200,
    }),
  );
  await waitFor(async () => (await mine.getCompletedCount()) === 1, { message: 'the first job' });
  const delayed = await mine.add('later', {}, { delay: 300 });
  // Rate limited for a minute; with the default (30 s) the job would stay delayed that long.
  await waitFor(async () => (await mine.getJobState(delayed.id)) === 'waiting', { message: 'promoted while rate limited' });
  assert.equal(worker.opts.maximumRateLimitDelay, 200);
  assert.throws(() => new Worker(name, null, { connection: conn, maximumRateLimitDelay: -1 }), /maximumRateLimitDelay must be a number >= 0/);
});
