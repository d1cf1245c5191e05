// Queue-wide settings kept in `meta` (global concurrency, global rate limit),
// the meta getters, counts per priority, the small maintenance deletes and
// custom events, each compared with the official bullmq 6.7 on the same Redis
// and honoured in both directions.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import { Queue, QueueEvents, QueueEventsProducer, Worker } from 'bullmq-native';

import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';
import { track } from './support/closers.mjs';


async function pair(label, opts = {}) {
  const name = queueName(label);
  const conn = await connection();
  const ours = track(new Queue(name, { connection: conn, ...opts }));
  const theirs = track(new official.Queue(name, { connection: conn, ...opts }));
  await Promise.all([ours.waitUntilReady(), theirs.waitUntilReady()]);
  return { name, conn, ours, theirs };
}

test('global concurrency: stored as bullmq stores it and read back by both', async () => {
  const { name, ours, theirs } = await pair('gconc');
  const redis = await rawClient();
  assert.equal(await ours.getGlobalConcurrency(), null);
  await ours.setGlobalConcurrency(4);
  assert.equal(await redis.hget(`bull:${name}:meta`, 'concurrency'), '4');
  assert.equal(await theirs.getGlobalConcurrency(), 4);
  await theirs.setGlobalConcurrency(2);
  assert.equal(await ours.getGlobalConcurrency(), 2);
  assert.equal(await ours.removeGlobalConcurrency(), 1);
  assert.equal(await theirs.getGlobalConcurrency(), null);
  await assert.rejects(ours.setGlobalConcurrency(1.5), /setGlobalConcurrency: concurrency must be an integer/);
  await assert.rejects(ours.setGlobalConcurrency(-1), /setGlobalConcurrency: concurrency must be an integer >= 0/);
});

test('global rate limit: stored as bullmq stores it and read back by both', async () => {
  const { name, ours, theirs } = await pair('grate');
  const redis = await rawClient();
  assert.equal(await ours.getGlobalRateLimit(), null);
  await ours.setGlobalRateLimit(5, 1000);
  assert.deepEqual(await redis.hmget(`bull:${name}:meta`, 'max', 'duration'), ['5', '1000']);
  assert.deepEqual(await theirs.getGlobalRateLimit(), { max: 5, duration: 1000 });
  await theirs.setGlobalRateLimit(3, 500);
  assert.deepEqual(await ours.getGlobalRateLimit(), { max: 3, duration: 500 });
  // Both values are needed.
  await redis.hdel(`bull:${name}:meta`, 'duration');
  assert.equal(await ours.getGlobalRateLimit(), null);
  await ours.setGlobalRateLimit(3, 500);
  assert.equal(await ours.removeGlobalRateLimit(), 2);
  assert.equal(await theirs.getGlobalRateLimit(), null);
});

/** Runs `n` jobs on the given workers and returns the most that were active at once. */
async function maxActiveWhileRunning(queue, makeWorkers, n) {
  let active = 0;
  let most = 0;
  let done = 0;
  const processor = async () => {
    active++;
    most = Math.max(most, active);
    await new Promise((r) => setTimeout(r, 40));
    active--;
    done++;
  };
  await queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'j', data: { i } })));
  const workers = makeWorkers(processor).map(track);
  await waitFor(() => done === n, { timeout: 20000, message: `${n} jobs processed` });
  await Promise.all(workers.map((w) => w.close()));
  return most;
}

for (const [who, setter] of [
  ['set by ours', (p) => p.ours.setGlobalConcurrency(1)],
  ['set by bullmq', (p) => p.theirs.setGlobalConcurrency(1)],
]) {
  test(`global concurrency 1 (${who}) holds over our and bullmq's workers together`, async () => {
    const p = await pair('gconc-run');
    await setter(p);
    const most = await maxActiveWhileRunning(p.ours, (processor) => [
      new Worker(p.name, processor, { connection: p.conn, concurrency: 4 }),
      new official.Worker(p.name, processor, { connection: p.conn, concurrency: 4 }),
    ], 12);
    assert.equal(most, 1);
    // Without it the same workers run several at once: the limit did it.
    await p.ours.removeGlobalConcurrency();
    const free = await maxActiveWhileRunning(p.ours, (processor) => [
      new Worker(p.name, processor, { connection: p.conn, concurrency: 4 }),
    ], 12);
    assert.ok(free > 1, `without a global concurrency ${free} ran at once`);
  });
}

const ourWorker = (name, conn, processor) => new Worker(name, processor, { connection: conn, concurrency: 5 });
const theirWorker = (name, conn, processor) => new official.Worker(name, processor, { connection: conn, concurrency: 5 });
for (const [who, setBy, makeWorker] of [
  ['set by our queue, our worker', 'ours', ourWorker],
  ["set by our queue, bullmq's worker", 'ours', theirWorker],
  ["set by bullmq's queue, our worker", 'theirs', ourWorker],
]) {
  test(`a global rate limit holds (${who})`, async () => {
    const p = await pair('grate-run');
    const duration = 400;
    await p[setBy].setGlobalRateLimit(2, duration);
    const n = 6;
    await p.ours.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'j', data: { i } })));
    let done = 0;
    track(makeWorker(p.name, p.conn, async () => {
      done++;
    }));
    await waitFor(() => done === n, { timeout: 20000, message: 'rate-limited jobs processed' });
    const jobs = await p.ours.getCompleted();
    const starts = jobs.map((j) => j.processedOn).sort((a, b) => a - b);
    assert.equal(starts.length, n);
    // At most 2 jobs start per window: a job starts about a window after the
    // one two before it (processedOn is the client's time when it asked, so
    // a busy machine shifts it; without a limit all start within a few ms).
    for (let i = 2; i < n; i++) {
      assert.ok(starts[i] - starts[i - 2] >= duration / 2, `job ${i} started ${starts[i] - starts[i - 2]} ms after job ${i - 2}`);
    }
  });
}

test('getMeta, getVersion and metaValues read as bullmq reads them', async () => {
  const { ours, theirs } = await pair('meta', { streams: { events: { maxLen: 500 } } });
  await ours.setGlobalConcurrency(3);
  await ours.setGlobalRateLimit(7, 900);
  await ours.pause();
  // The last Queue to connect wrote its version; both read the same.
  const meta = await ours.getMeta();
  assert.deepEqual(meta, await theirs.getMeta());
  assert.equal(meta.paused, true);
  assert.equal(meta.concurrency, 3);
  assert.equal(meta.maxLenEvents, 500);
  assert.equal(await ours.getVersion(), await theirs.getVersion());
  assert.deepEqual(Object.keys(ours.metaValues).sort(), Object.keys(theirs.metaValues).sort());
  assert.equal(ours.metaValues['opts.maxLenEvents'], 500);
  assert.match(ours.metaValues.version, /^bullmq-native:\d+\.\d+\.\d+/);
  await ours.resume();
  assert.equal((await ours.getMeta()).paused, false);
});

test('a fresh Queue records its version; skipMetasUpdate records none', async () => {
  const name = queueName('version');
  const conn = await connection();
  const skipping = track(new Queue(name, { connection: conn, skipMetasUpdate: true }));
  await skipping.waitUntilReady();
  assert.equal(await skipping.getVersion(), null);
  const q = track(new Queue(name, { connection: conn }));
  await waitFor(async () => (await q.getVersion()) !== null, { message: 'meta written' });
  assert.match(await q.getVersion(), /^bullmq-native:/);
});

test('queue.keys is the key map bullmq has', async () => {
  const { ours, theirs } = await pair('keys', { prefix: 'kp' });
  assert.deepEqual(ours.keys, theirs.keys);
});

test('isMaxed follows the global concurrency and the active jobs', async () => {
  const { name, conn, ours, theirs } = await pair('maxed');
  assert.equal(await ours.isMaxed(), false);
  await ours.setGlobalConcurrency(1);
  assert.equal(await ours.isMaxed(), false);
  await ours.add('j', {});
  const worker = track(new Worker(name, null, { connection: conn }));
  const job = await worker.getNextJob('tok');
  assert.ok(job);
  assert.equal(await ours.isMaxed(), true);
  assert.equal(await theirs.isMaxed(), true);
  await job.moveToCompleted('x', 'tok', false);
  assert.equal(await ours.isMaxed(), false);
});

test('getCountsPerPriority counts as bullmq counts', async () => {
  const { ours, theirs } = await pair('prio');
  await ours.addBulk([
    { name: 'a', data: {} },
    { name: 'b', data: {}, opts: { priority: 1 } },
    { name: 'c', data: {}, opts: { priority: 1 } },
    { name: 'd', data: {}, opts: { priority: 3 } },
  ]);
  const asked = [0, 1, 2, 3, 1];
  const counts = await ours.getCountsPerPriority(asked);
  assert.deepEqual(counts, { 0: 1, 1: 2, 2: 0, 3: 1 });
  assert.deepEqual(counts, await theirs.getCountsPerPriority(asked));
  await assert.rejects(ours.getCountsPerPriority([-1]), /getCountsPerPriority: priorities\[0\] must be an integer >= 0/);
});

test('removeRateLimitKey ends a rate limit; removeDeprecatedPriorityKey deletes the old key', async () => {
  const { name, ours } = await pair('rlkey');
  const redis = await rawClient();
  await ours.rateLimit(60000);
  assert.ok((await redis.pttl(`bull:${name}:limiter`)) > 0);
  assert.equal(await ours.removeRateLimitKey(), 1);
  assert.equal(await redis.exists(`bull:${name}:limiter`), 0);
  assert.equal(await ours.removeRateLimitKey(), 0);
  await redis.set(`bull:${name}:priority`, 'x');
  assert.equal(await ours.removeDeprecatedPriorityKey(), 1);
  assert.equal(await redis.exists(`bull:${name}:priority`), 0);
});

test('updateJobProgress and addJobLog on the queue', async () => {
  const { ours, theirs } = await pair('jobops');
  const job = await ours.add('j', {});
  await ours.updateJobProgress(job.id, { step: 2 });
  assert.deepEqual((await theirs.getJob(job.id)).progress, { step: 2 });
  assert.equal(await ours.addJobLog(job.id, 'one'), 1);
  assert.equal(await ours.addJobLog(job.id, 'two'), 2);
  assert.equal(await ours.addJobLog(job.id, 'three', 2), 2);
  assert.deepEqual(await theirs.getJobLogs(job.id), { logs: ['two', 'three'], count: 2 });
  await assert.rejects(ours.updateJobProgress(job.id, null), /updateJobProgress: progress must be/);
  await assert.rejects(ours.updateJobProgress('missing', 1), /Missing key for job missing/);
});

test('custom events: ours published, received by our and bullmq QueueEvents, and the other way round', async () => {
  const name = queueName('custom');
  const conn = await connection();
  const oursEvents = track(new QueueEvents(name, { connection: conn }));
  const theirEvents = track(new official.QueueEvents(name, { connection: conn }));
  await Promise.all([oursEvents.waitUntilReady(), theirEvents.waitUntilReady()]);
  const seen = { ours: [], theirs: [] };
  oursEvents.on('report', (args) => seen.ours.push(args));
  theirEvents.on('report', (args) => seen.theirs.push(args));

  const producer = track(new QueueEventsProducer(name, { connection: conn }));
  const theirProducer = track(new official.QueueEventsProducer(name, { connection: conn }));
  await producer.publishEvent({ eventName: 'report', from: 'ours', count: 3 });
  await theirProducer.publishEvent({ eventName: 'report', from: 'bullmq', count: 4 });
  await waitFor(() => seen.ours.length === 2 && seen.theirs.length === 2, { message: 'custom events received' });
  const expected = [{ from: 'ours', count: '3' }, { from: 'bullmq', count: '4' }];
  assert.deepEqual(seen.ours, expected);
  assert.deepEqual(seen.theirs, expected);

  // Trimmed to about maxEvents, as bullmq trims.
  for (let i = 0; i < 300; i++) await producer.publishEvent({ eventName: 'tick', i }, 10);
  const redis = await rawClient();
  assert.ok((await redis.xlen(`bull:${name}:events`)) < 300);
  await assert.rejects(producer.publishEvent({ from: 'x' }), /eventName must be a non-empty string/);
});
