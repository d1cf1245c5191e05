// Queue getters: counts, listings, job state, logs, workers, pause and
// rate-limit state, the `meta` written on connect, and bad input. Where the
// official bullmq reads the same data, its answer must equal ours.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, test } from 'node:test';

import { Queue as OfficialQueue, Worker as OfficialWorker } from 'bullmq';
import { Job, Queue, Worker } from 'bullmq-native';

import { assertTypeErrors } from './support/type-errors.mjs';
import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';

const pkg = createRequire(import.meta.url)('../package.json');
const closers = [];
after(() => Promise.all(closers.map((c) => c.close())));

async function setup(label, opts = {}) {
  const name = queueName(label);
  const conn = await connection();
  const queue = new Queue(name, { connection: conn, ...opts });
  closers.push(queue);
  await queue.waitUntilReady();
  return { name, conn, queue, redis: await rawClient() };
}

async function official(name, conn) {
  const q = new OfficialQueue(name, { connection: conn, skipMetasUpdate: true });
  closers.push(q);
  return q;
}

/** Puts a job hash into a finished set, as a worker would have. */
async function finished(redis, name, set, id, finishedOn) {
  await redis.hset(`bull:${name}:${id}`, 'name', 'x', 'data', '{}', 'opts', '{}', 'timestamp', finishedOn - 10, 'finishedOn', finishedOn);
  await redis.zadd(`bull:${name}:${set}`, finishedOn, id);
}

test('getJobCounts with no types returns the 6.x default set as an object', async () => {
  const { name, conn, queue, redis } = await setup('counts');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);
  await queue.addBulk([
    { name: 'a', data: {} },
    { name: 'b', data: {} },
    { name: 'c', data: {} },
    { name: 'p', data: {}, opts: { priority: 4 } },
    { name: 'd', data: {}, opts: { delay: 60000 } },
  ]);
  const active = await worker.getNextJob('tok', { block: false });
  assert.equal(active.id, '1');
  await finished(redis, name, 'completed', 'c1', Date.now());
  await finished(redis, name, 'failed', 'f1', Date.now());
  await finished(redis, name, 'failed', 'f2', Date.now());
  await redis.zadd(`bull:${name}:waiting-children`, Date.now(), 'parent');
  // A legacy 5.x paused list is not part of the default set.
  await redis.rpush(`bull:${name}:paused`, 'old1');

  const counts = await queue.getJobCounts();
  assert.deepEqual(counts, {
    active: 1,
    completed: 1,
    delayed: 1,
    failed: 2,
    prioritized: 1,
    waiting: 2,
    'waiting-children': 1,
  });
  assert.deepEqual(counts, await (await official(name, conn)).getJobCounts());

  assert.deepEqual(await queue.getJobCounts('waiting', 'paused', 'wait', 'waiting'), { waiting: 2, paused: 1, wait: 2 });
  assert.equal(await queue.getJobCountByTypes('completed', 'failed'), 3);
  assert.equal(await queue.count(), 2 + 1 + 1 + 1);
  assert.equal(await queue.getWaitingCount(), 2);
  assert.equal(await queue.getActiveCount(), 1);
  assert.equal(await queue.getDelayedCount(), 1);
  assert.equal(await queue.getDelayedCount(Date.now()), 0, 'the delayed job is due in a minute');
  assert.equal(await queue.getDelayedCount(Date.now() + 120000), 1);
  assert.equal(await queue.getPrioritizedCount(), 1);
  assert.equal(await queue.getCompletedCount(), 1);
  assert.equal(await queue.getFailedCount(), 2);
  assert.equal(await queue.getWaitingChildrenCount(), 1);
});

test('a trailing legacy "0:" marker in wait is not counted or listed', async () => {
  const { name, queue, redis } = await setup('marker');
  await queue.add('a', {});
  await redis.rpush(`bull:${name}:wait`, '0:1700000000000');
  assert.equal(await queue.getWaitingCount(), 1);
  assert.deepEqual((await queue.getWaiting()).map((j) => j.id), ['1']);
});

test('getJobs reads lists so that asc means oldest first; finished sets newest first', async () => {
  const { name, queue, redis } = await setup('ranges');
  await queue.addBulk(['a', 'b', 'c', 'd'].map((n) => ({ name: n, data: { n } })));
  const now = Date.now();
  await finished(redis, name, 'completed', 'old', now - 2000);
  await finished(redis, name, 'completed', 'new', now - 1000);

  const waiting = await queue.getWaiting();
  assert.ok(waiting.every((j) => j instanceof Job));
  assert.deepEqual(waiting.map((j) => j.id), ['1', '2', '3', '4']);
  assert.deepEqual(waiting.map((j) => j.data.n), ['a', 'b', 'c', 'd']);
  assert.deepEqual((await queue.getJobs('waiting')).map((j) => j.id), ['4', '3', '2', '1']);
  assert.deepEqual((await queue.getJobs(['wait'], 0, 1, true)).map((j) => j.id), ['1', '2']);
  assert.deepEqual((await queue.getJobs(['waiting'], 1, 2, false)).map((j) => j.id), ['3', '2']);
  assert.deepEqual((await queue.getWaiting(-2, -1)).map((j) => j.id), ['3', '4']);
  assert.deepEqual((await queue.getCompleted()).map((j) => j.id), ['new', 'old']);
  assert.deepEqual((await queue.getJobs(['completed'], 0, -1, true)).map((j) => j.id), ['old', 'new']);

  // Several types, each read in turn; a job whose hash is gone is skipped and
  // the page is filled from the next ids.
  await redis.del(`bull:${name}:2`);
  assert.deepEqual((await queue.getWaiting(0, 1)).map((j) => j.id), ['1', '3']);
  const both = await queue.getJobs(['completed', 'waiting'], 0, -1, true);
  assert.deepEqual(both.map((j) => j.id), ['old', 'new', '1', '3', '4']);
  const officialIds = (await (await official(name, queue.opts.connection)).getJobs(['completed', 'waiting'], 0, -1, true)).map((j) => j.id);
  assert.deepEqual(both.map((j) => j.id), officialIds);
});

test('getJobs with no types lists every state but paused', async () => {
  const { name, conn, queue, redis } = await setup('alltypes');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);
  await queue.add('w', {});
  await queue.add('d', {}, { delay: 60000 });
  await queue.add('p', {}, { priority: 1 });
  await queue.add('a', {});
  await worker.getNextJob('t', { block: false });
  await redis.rpush(`bull:${name}:paused`, '2');
  const ids = (await queue.getJobs()).map((j) => j.id).sort();
  assert.deepEqual(ids, ['1', '2', '3', '4']);
  assert.deepEqual((await queue.getActive()).map((j) => j.id), ['1']);
  assert.deepEqual((await queue.getDelayed()).map((j) => j.id), ['2']);
  assert.deepEqual((await queue.getPrioritized()).map((j) => j.id), ['3']);
  assert.deepEqual((await queue.getJobs('paused')).map((j) => j.id), ['2']);
});

test('getJobState answers in BullMQ order, as the official client does', async () => {
  const { name, conn, queue, redis } = await setup('state');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);
  await queue.add('active', {});
  await queue.add('waiting', {});
  await queue.add('delayed', {}, { delay: 60000 });
  await queue.add('prioritized', {}, { priority: 2 });
  await worker.getNextJob('t', { block: false });
  await finished(redis, name, 'completed', 'done', Date.now());
  await finished(redis, name, 'failed', 'bad', Date.now());
  await redis.zadd(`bull:${name}:waiting-children`, 1, 'parent');
  await redis.hset(`bull:${name}:parent`, 'name', 'p');
  await redis.rpush(`bull:${name}:paused`, 'legacy');
  // In two states at once: completed is looked at first.
  await redis.zadd(`bull:${name}:completed`, 1, '2');

  const expected = {
    1: 'active',
    2: 'completed',
    3: 'delayed',
    4: 'prioritized',
    done: 'completed',
    bad: 'failed',
    parent: 'waiting-children',
    legacy: 'waiting',
    nope: 'unknown',
  };
  const off = await official(name, conn);
  for (const [id, state] of Object.entries(expected)) {
    assert.equal(await queue.getJobState(id), state, `job ${id}`);
    assert.equal(await off.getJobState(id), state, `official, job ${id}`);
  }
  await queue.add('w', {});
  assert.equal(await queue.getJobState('5'), 'waiting');
  assert.equal(await queue.getJobState(5), 'waiting', 'a numeric id is its decimal text');
});

test('getJobLogs returns a page of lines and the total count', async () => {
  const { name, queue, redis } = await setup('logs');
  const job = await queue.add('x', {});
  await redis.rpush(`bull:${name}:${job.id}:logs`, 'one', 'two', 'three');
  assert.deepEqual(await queue.getJobLogs(job.id), { logs: ['one', 'two', 'three'], count: 3 });
  assert.deepEqual(await queue.getJobLogs(job.id, 0, 0), { logs: ['one'], count: 3 });
  assert.deepEqual(await queue.getJobLogs(job.id, 0, 1, false), { logs: ['three', 'two'], count: 3 });
  assert.deepEqual(await queue.getJobLogs('missing'), { logs: [], count: 0 });
});

test('getWorkers lists our and official workers by their client names', async () => {
  const { name, conn, queue } = await setup('workers');
  const ours = new Worker(name, null, { connection: conn, name: 'mine' });
  closers.push(ours);
  await ours.waitUntilReady();
  const theirs = new OfficialWorker(name, null, { connection: conn, autorun: false });
  closers.push(theirs);
  await theirs.waitUntilReady();
  // The official worker names its blocking connection when it first uses it.
  await theirs.getNextJob('t', { block: false }).catch(() => undefined);
  const clientName = `bull:${Buffer.from(name).toString('base64')}`;
  const workers = await waitFor(async () => {
    const w = await queue.getWorkers();
    return w.length >= 2 ? w : undefined;
  }, { message: 'two workers' });
  const rawNames = workers.map((w) => w.rawname).sort();
  assert.ok(rawNames.includes(`${clientName}:w:mine`), JSON.stringify(rawNames));
  assert.ok(rawNames.every((n) => n === clientName || n.startsWith(`${clientName}:w:`)));
  assert.ok(workers.every((w) => w.name === name && typeof w.addr === 'string'));
  assert.equal(await queue.getWorkersCount(), workers.length);
  const officialNames = (await (await official(name, conn)).getWorkers()).map((w) => w.rawname).sort();
  assert.deepEqual(rawNames, officialNames);
});

test('isPaused and getRateLimitTtl read meta and the limiter', async () => {
  const { name, queue, redis } = await setup('paused');
  assert.equal(await queue.isPaused(), false);
  await redis.hset(`bull:${name}:meta`, 'paused', '1');
  assert.equal(await queue.isPaused(), true);

  assert.equal(await queue.getRateLimitTtl(), -2, 'no limiter key');
  await redis.set(`bull:${name}:limiter`, 5, 'PX', 60000);
  const raw = await queue.getRateLimitTtl();
  assert.ok(raw > 0 && raw <= 60000);
  assert.equal(await queue.getRateLimitTtl(10), 0, '5 of 10 used');
  const limited = await queue.getRateLimitTtl(5);
  assert.ok(limited > 0 && limited <= 60000);
  await redis.hset(`bull:${name}:meta`, 'max', 3);
  assert.ok((await queue.getRateLimitTtl()) > 0, 'meta.max 3 is reached');
  const off = await official(name, queue.opts.connection);
  assert.equal(await off.getRateLimitTtl(10), 0);
  assert.ok((await off.getRateLimitTtl(5)) > 0);
});

test('connecting writes meta.opts.maxLenEvents and meta.version unless skipMetasUpdate', async () => {
  const { name, conn, redis } = await setup('meta', { streams: { events: { maxLen: 250 } } });
  assert.deepEqual(await redis.hgetall(`bull:${name}:meta`), {
    'opts.maxLenEvents': '250',
    version: `bullmq-native:${pkg.version}`,
  });
  assert.equal(await (await official(name, conn)).getVersion(), `bullmq-native:${pkg.version}`);

  const plain = await setup('metadefault');
  assert.equal(await redis.hget(`bull:${plain.name}:meta`, 'opts.maxLenEvents'), '10000');

  const skipped = await setup('metaskip', { skipMetasUpdate: true });
  assert.equal(await redis.exists(`bull:${skipped.name}:meta`), 0);

  // A worker writes no meta.
  const wname = queueName('metaworker');
  const worker = new Worker(wname, null, { connection: conn });
  closers.push(worker);
  await worker.waitUntilReady();
  assert.equal(await redis.exists(`bull:${wname}:meta`), 0);

  assert.throws(() => new Queue(queueName('bad'), { connection: conn, streams: { events: { maxLen: -1 } } }), {
    name: 'TypeError',
    message: 'streams.events.maxLen must be an integer >= 0, got -1',
  });
});

test('getters reject bad arguments with a TypeError that names them', async () => {
  const { queue } = await setup('badget');
  const cases = [
    [() => queue.getJobs(['nope']), /^getJobs: unknown job type "nope"; expected one of completed, failed/],
    [() => queue.getJobs(42), 'getJobs: types must be a job type or an array of job types, got 42'],
    [() => queue.getJobs(['waiting'], 'a'), 'getJobs: start must be an integer, got "a"'],
    [() => queue.getJobs(['waiting'], 0, 1.5), 'getJobs: end must be an integer, got 1.5'],
    [() => queue.getJobs(['waiting'], 0, -1, 'yes'), 'getJobs: asc must be a boolean, got "yes"'],
    [() => queue.getJobCounts('waiting', 'meta'), /^getJobCounts: unknown job type "meta"/],
    [() => queue.getJobCountByTypes(null), /^getJobCountByTypes: unknown job type null/],
    [() => queue.getJobState({}), 'getJobState: jobId must be a non-empty string, got an object'],
    [() => queue.getJobState(''), 'getJobState: jobId must be a non-empty string, got ""'],
    [() => queue.getJob([]), 'getJob: jobId must be a non-empty string, got an array'],
    [() => queue.getJobLogs(undefined), 'getJobLogs: jobId must be a non-empty string, got undefined'],
    [() => queue.getJobLogs('1', 0, 'x'), 'getJobLogs: end must be an integer, got "x"'],
    [() => queue.getJobLogs('1', 0, -1, 1), 'getJobLogs: asc must be a boolean, got 1'],
    [() => queue.getWaiting('0'), 'getJobs: start must be an integer, got "0"'],
    [() => queue.getDelayedCount(1.5), 'timestamp must be a safe integer in milliseconds, got 1.5'],
    [() => queue.getRateLimitTtl(-1), 'getRateLimitTtl: maxJobs must be an integer >= 0, got -1'],
  ];
  await assertTypeErrors(cases);
});
