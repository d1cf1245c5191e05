// Queue control: pause/resume (with the 5.x paused-list migration), drain,
// clean, obliterate, rateLimit, retryJobs, promoteJobs, local events, and bad
// input. Redis contents are checked as well as return values; the official
// bullmq 5.81 and 6.x read what we write.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { FlowProducer, Queue as OfficialQueue, Worker as OfficialWorker } from 'bullmq';
import { Queue as Queue5, QueueEvents as QueueEvents5 } from 'bullmq5';
import { Queue, Worker } from 'bullmq-native';

import { assertTypeErrors } from './support/type-errors.mjs';
import { connection, queueName, rawClient, streamEvents, waitFor } from './support/redis.mjs';

const closers = [];
after(() => Promise.all(closers.map((c) => c.close())));

async function setup(label) {
  const name = queueName(label);
  const conn = await connection();
  const queue = new Queue(name, { connection: conn });
  closers.push(queue);
  await queue.waitUntilReady();
  return { name, conn, queue, redis: await rawClient() };
}

function track(emitter, event) {
  const seen = [];
  emitter.on(event, (...args) => seen.push(args));
  return seen;
}

/** A QueueEvents of bullmq 5.81 reading the stream from its start. */
async function events5(name, conn) {
  const qe = new QueueEvents5(name, { connection: conn, lastEventId: '0-0' });
  closers.push(qe);
  await qe.waitUntilReady();
  return qe;
}

test('pause and resume as 6.x: meta.paused, marker, events; workers stop and go on', async () => {
  const { name, conn, queue, redis } = await setup('pause');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);
  const qe = await events5(name, conn);
  const seen5 = [];
  qe.on('paused', () => seen5.push('paused'));
  qe.on('resumed', () => seen5.push('resumed'));
  const paused = track(queue, 'paused');
  const resumed = track(queue, 'resumed');

  await queue.add('x', {});
  await queue.pause();
  assert.equal(paused.length, 1);
  assert.equal(await redis.hget(`bull:${name}:meta`, 'paused'), '1');
  assert.equal(await redis.exists(`bull:${name}:marker`), 0);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['1'], 'wait is not renamed');
  assert.equal(await redis.exists(`bull:${name}:paused`), 0);
  assert.equal(await queue.isPaused(), true);
  const off = new OfficialQueue(name, { connection: conn, skipMetasUpdate: true });
  closers.push(off);
  assert.equal(await off.isPaused(), true);
  assert.equal(await worker.getNextJob('t', { block: false }), undefined);
  // Adding while paused still goes to wait, without a marker.
  await queue.add('y', {});
  assert.equal(await redis.exists(`bull:${name}:marker`), 0);

  await queue.resume();
  assert.equal(resumed.length, 1);
  assert.equal(await redis.hexists(`bull:${name}:meta`, 'paused'), 0);
  assert.deepEqual(await redis.zrange(`bull:${name}:marker`, 0, -1, 'WITHSCORES'), ['0', '0']);
  const job = await worker.getNextJob('t', { block: false });
  assert.equal(job.id, '1');

  const names = (await streamEvents(redis, 'bull', name)).map((e) => e.event);
  assert.deepEqual(names.filter((e) => e === 'paused' || e === 'resumed'), ['paused', 'resumed']);
  await waitFor(() => seen5.length === 2, { message: 'bullmq 5 QueueEvents to see paused and resumed' });
  assert.deepEqual(seen5, ['paused', 'resumed']);
});

test('resume moves jobs that bullmq 5.x paused into the paused list back to wait, oldest first', async () => {
  const { name, conn, queue, redis } = await setup('legacy');
  const q5 = new Queue5(name, { connection: conn });
  closers.push(q5);
  for (const n of ['a', 'b', 'c']) await q5.add(n, { n });
  await q5.pause();
  assert.equal(await redis.llen(`bull:${name}:paused`), 3, '5.x renames wait to paused');
  // A 6.x producer adds meanwhile: its job goes to wait.
  await queue.add('d', { n: 'd' });

  await queue.resume();
  assert.equal(await redis.exists(`bull:${name}:paused`), 0);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['4', '3', '2', '1']);
  assert.equal(await queue.getJobState('1'), 'waiting');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);
  const order = [];
  for (let i = 0; i < 4; i++) {
    const job = await worker.getNextJob('t', { block: false });
    order.push(job.data.n);
  }
  assert.deepEqual(order, ['a', 'b', 'c', 'd']);
});

test('drain removes waiting and prioritized jobs, and delayed ones when asked', async () => {
  const { name, conn, queue, redis } = await setup('drain');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);
  await queue.add('active', {});
  await worker.getNextJob('t', { block: false });
  await queue.addBulk([
    { name: 'w', data: {} },
    { name: 'p', data: {}, opts: { priority: 3 } },
    { name: 'd', data: {}, opts: { delay: 60000 } },
  ]);
  const before = (await streamEvents(redis, 'bull', name)).length;

  await queue.drain();
  assert.equal(await redis.exists(`bull:${name}:wait`), 0);
  assert.equal(await redis.exists(`bull:${name}:prioritized`), 0);
  assert.equal(await redis.exists(`bull:${name}:2`), 0);
  assert.equal(await redis.exists(`bull:${name}:3`), 0);
  assert.deepEqual(await redis.zrange(`bull:${name}:delayed`, 0, -1), ['4']);
  assert.deepEqual(await redis.lrange(`bull:${name}:active`, 0, -1), ['1']);
  assert.equal((await streamEvents(redis, 'bull', name)).length, before, 'drain emits no events');

  await queue.drain(true);
  assert.equal(await redis.exists(`bull:${name}:delayed`), 0);
  assert.equal(await redis.exists(`bull:${name}:4`), 0);
  assert.deepEqual(await queue.getJobCounts('active', 'waiting', 'delayed', 'prioritized'), {
    active: 1,
    waiting: 0,
    delayed: 0,
    prioritized: 0,
  });
});

test('drain leaves the pending iteration of an official job scheduler', async () => {
  const { name, conn, queue, redis } = await setup('drainsched');
  const off = new OfficialQueue(name, { connection: conn, skipMetasUpdate: true });
  closers.push(off);
  await off.upsertJobScheduler('every-minute', { every: 60000 }, { name: 'tick' });
  await queue.add('plain', {}, { delay: 60000 });
  await queue.add('plain2', {});
  // The first iteration of an `every` scheduler is due now: it waits.
  const [iteration] = (await redis.lrange(`bull:${name}:wait`, 0, -1)).filter((id) => id.startsWith('repeat:'));
  assert.ok(iteration, 'the scheduler iteration waits');
  await queue.drain(true);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [iteration]);
  assert.equal(await redis.exists(`bull:${name}:delayed`), 0);
  assert.equal(await redis.exists(`bull:${name}:${iteration}`), 1);
  assert.equal(await queue.getJobState(iteration), 'waiting');
});

test('clean removes old jobs of one type, returns their ids and emits cleaned', async () => {
  const { name, conn, queue, redis } = await setup('clean');
  const qe = await events5(name, conn);
  const counts5 = [];
  qe.on('cleaned', ({ count }) => counts5.push(Number(count)));
  const cleaned = track(queue, 'cleaned');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);

  // Three completed jobs finished 10 s ago, one just now.
  await queue.addBulk([1, 2, 3, 4].map((n) => ({ name: 'x', data: { n } })));
  for (let i = 0; i < 4; i++) {
    const job = await worker.getNextJob('t', { block: false });
    await job.moveToCompleted('ok', 't', false);
  }
  for (const id of ['1', '2', '3']) {
    await redis.zadd(`bull:${name}:completed`, Date.now() - 10000, id);
  }

  const first = await queue.clean(5000, 2);
  assert.deepEqual(first, ['1', '2']);
  const rest = await queue.clean(5000);
  assert.deepEqual(rest, ['3']);
  assert.deepEqual(await redis.zrange(`bull:${name}:completed`, 0, -1), ['4']);
  assert.equal(await redis.exists(`bull:${name}:1`), 0);
  assert.deepEqual(cleaned, [[['1', '2'], 'completed'], [['3'], 'completed']]);

  // Waiting jobs: 'waiting' is the wait list; jobs inside the grace stay.
  await queue.add('old', {}, { timestamp: Date.now() - 60000 });
  await queue.add('new', {});
  const waitIds = await queue.clean(30000, 0, 'waiting');
  assert.deepEqual(waitIds, ['5']);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['6']);
  assert.deepEqual(cleaned.at(-1), [['5'], 'wait']);

  const stream = (await streamEvents(redis, 'bull', name)).filter((e) => e.event === 'cleaned');
  assert.deepEqual(stream.map((e) => e.count), ['2', '1', '1']);
  await waitFor(() => counts5.length === 3, { message: 'bullmq 5 QueueEvents to see cleaned' });
  assert.deepEqual(counts5, [2, 1, 1]);
});

test('clean of delayed and prioritized jobs goes by their timestamps', async () => {
  const { name, queue, redis } = await setup('cleansets');
  const old = Date.now() - 60000;
  await queue.add('d-old', {}, { delay: 120000, timestamp: old });
  await queue.add('d-new', {}, { delay: 60000 });
  await queue.add('p-old', {}, { priority: 1, timestamp: old });
  await queue.add('p-new', {}, { priority: 1 });
  assert.deepEqual(await queue.clean(30000, 0, 'delayed'), ['1']);
  assert.deepEqual(await queue.clean(30000, 0, 'prioritized'), ['3']);
  assert.deepEqual(await redis.zrange(`bull:${name}:delayed`, 0, -1), ['2']);
  assert.deepEqual(await redis.zrange(`bull:${name}:prioritized`, 0, -1), ['4']);
});

test('obliterate: BullMQ messages, force, and nothing of the queue left', async () => {
  const { name, conn, queue, redis } = await setup('obliterate');
  const worker = new Worker(name, null, { connection: conn });
  closers.push(worker);
  const paused = track(queue, 'paused');
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }, { name: 'c', data: {}, opts: { delay: 60000 } }]);
  await queue.add('p', {}, { priority: 2 });
  await worker.getNextJob('t', { block: false });
  await redis.rpush(`bull:${name}:1:logs`, 'line');

  await assert.rejects(queue.obliterate(), { name: 'Error', message: 'Cannot obliterate queue with active jobs' });
  assert.equal(paused.length, 1, 'obliterate pauses the queue first');
  assert.equal(await redis.exists(`bull:${name}:2`), 1, 'nothing was removed');

  await queue.obliterate({ force: true, count: 2 });
  assert.deepEqual(await redis.keys(`bull:${name}:*`), []);
  assert.equal(await queue.isPaused(), false, 'meta is gone');
});

test('obliterate removes what the official bullmq 6 wrote, schedulers included', async () => {
  const { name, conn, queue, redis } = await setup('oblofficial');
  const off = new OfficialQueue(name, { connection: conn });
  closers.push(off);
  await off.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {}, opts: { priority: 1 } }]);
  await off.add('d', {}, { delay: 60000, deduplication: { id: 'dd' } });
  await off.upsertJobScheduler('sched', { every: 60000 }, { name: 'tick' });
  assert.ok((await redis.keys(`bull:${name}:*`)).length > 5);
  await queue.obliterate();
  assert.deepEqual(await redis.keys(`bull:${name}:*`), []);
});

test('rateLimit sets the limiter as BullMQ and workers with a limiter wait', async () => {
  const { name, conn, queue, redis } = await setup('ratelimit');
  await queue.rateLimit(60000);
  assert.equal(await redis.get(`bull:${name}:limiter`), '9007199254740991');
  const pttl = await redis.pttl(`bull:${name}:limiter`);
  assert.ok(pttl > 0 && pttl <= 60000);
  const ttl = await queue.getRateLimitTtl(10);
  assert.ok(ttl > 0 && ttl <= 60000);
  await queue.add('x', {});
  const limited = new OfficialWorker(name, null, { connection: conn, autorun: false, limiter: { max: 10, duration: 1000 } });
  closers.push(limited);
  assert.equal(await limited.getNextJob('t', { block: false }), undefined, 'an official limited worker fetches nothing');
});

test('retryJobs moves failed jobs back to the head of wait and clears their result', async () => {
  const { name, conn, queue, redis } = await setup('retry');
  const now = Date.now();
  for (const [id, at] of [['f1', now - 3000], ['f2', now - 2000], ['f3', now + 60000]]) {
    await redis.hset(`bull:${name}:${id}`, 'name', 'x', 'data', '{}', 'opts', '{}', 'timestamp', at - 10,
      'processedOn', at - 5, 'finishedOn', at, 'failedReason', 'boom', 'priority', '3');
    await redis.zadd(`bull:${name}:failed`, at, id);
  }
  await redis.hset(`bull:${name}:c1`, 'name', 'x', 'finishedOn', now - 1000, 'returnvalue', '1');
  await redis.zadd(`bull:${name}:completed`, now - 1000, 'c1');

  await queue.retryJobs({ count: 1 });
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), ['f3'], 'only jobs finished by now');
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['f2', 'f1']);
  assert.deepEqual(await redis.hmget(`bull:${name}:f1`, 'finishedOn', 'processedOn', 'failedReason', 'name'), [null, null, null, 'x']);
  const waiting = (await streamEvents(redis, 'bull', name)).filter((e) => e.event === 'waiting');
  assert.deepEqual(waiting.map((e) => [e.jobId, e.prev]), [['f1', 'failed'], ['f2', 'failed']]);
  assert.deepEqual(await redis.zrange(`bull:${name}:marker`, 0, -1, 'WITHSCORES'), ['0', '0']);
  assert.equal(await queue.getJobState('f1'), 'waiting');

  await queue.retryJobs({ state: 'completed' });
  assert.equal(await redis.hget(`bull:${name}:c1`, 'returnvalue'), null);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, 0), ['c1']);

  // What the official worker then processes.
  const off = new OfficialWorker(name, null, { connection: conn, autorun: false });
  closers.push(off);
  const next = await off.getNextJob('tok', { block: false });
  assert.equal(next.id, 'f1');
});

test('promoteJobs moves every delayed job to wait', async () => {
  const { name, queue, redis } = await setup('promote');
  await queue.add('a', {}, { delay: 60000 });
  await queue.add('b', {}, { delay: 120000, priority: 5 });
  await queue.promoteJobs();
  assert.equal(await redis.exists(`bull:${name}:delayed`), 0);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['2', '1']);
  assert.deepEqual(await queue.getJobCounts('waiting', 'delayed'), { waiting: 2, delayed: 0 });
  const waiting = (await streamEvents(redis, 'bull', name)).filter((e) => e.event === 'waiting');
  assert.deepEqual(waiting.map((e) => [e.jobId, e.prev]), [['1', 'delayed'], ['2', 'delayed']]);
});

/** Every key of a queue with its content; job `opts` parsed (key order differs). */
async function dump(redis, name) {
  const prefix = `bull:${name}:`;
  const out = {};
  for (const key of (await redis.keys(`${prefix}*`)).sort()) {
    const short = key.slice(prefix.length);
    const type = await redis.type(key);
    if (type === 'hash') {
      const h = await redis.hgetall(key);
      if (h.opts) h.opts = JSON.parse(h.opts);
      out[short] = h;
    } else if (type === 'list') out[short] = await redis.lrange(key, 0, -1);
    else if (type === 'zset') out[short] = await redis.zrange(key, 0, -1, 'WITHSCORES');
    else if (type === 'set') out[short] = (await redis.smembers(key)).sort();
    else if (type === 'string') out[short] = await redis.get(key);
    else if (type === 'stream') out[short] = (await redis.xrange(key, '-', '+')).map(([, fields]) => fields);
    else out[short] = type;
  }
  return out;
}

test('the same control calls leave the same Redis data as the official bullmq 6', async () => {
  const conn = await connection();
  const redis = await rawClient();
  const OLD = 1700000000000;
  const FUTURE = 4102444800000;
  async function scenario(queue, name, snapshot) {
    await queue.addBulk([
      { name: 'old', data: { n: 1 }, opts: { timestamp: OLD } },
      { name: 'recent', data: { n: 2 }, opts: { timestamp: FUTURE } },
      { name: 'p', data: {}, opts: { priority: 2, timestamp: OLD } },
      { name: 'd', data: {}, opts: { delay: 60000, timestamp: OLD } },
    ]);
    await queue.pause();
    await queue.add('while-paused', {}, { timestamp: FUTURE });
    await snapshot('paused');
    await queue.resume();
    await snapshot('resumed');
    await queue.promoteJobs();
    await snapshot('promoted');
    await queue.clean(60000, 0, 'wait');
    await snapshot('cleaned');
    await queue.drain(true);
    await snapshot('drained');
    for (const [set, id, field] of [['failed', 'f1', 'failedReason'], ['failed', 'f2', 'failedReason'], ['completed', 'c1', 'returnvalue']]) {
      await redis.hset(`bull:${name}:${id}`, 'name', id, 'data', '{}', 'opts', '{"attempts":0}', 'timestamp', OLD,
        'processedOn', OLD + 1, 'finishedOn', OLD + 2, field, 'x');
      await redis.zadd(`bull:${name}:${set}`, OLD + 2, id);
    }
    await queue.retryJobs({ count: 1 });
    await queue.retryJobs({ state: 'completed' });
    await snapshot('retried');
    await snapshot(JSON.stringify(await queue.getJobCounts()));
    await queue.obliterate();
    await snapshot('obliterated');
  }
  const runs = [];
  for (const [Q, label] of [[OfficialQueue, 'official'], [Queue, 'ours']]) {
    const name = queueName(`parity-${label}`);
    const queue = new Q(name, { connection: conn, skipMetasUpdate: true });
    closers.push(queue);
    const snapshots = [];
    await scenario(queue, name, async (step) => snapshots.push([step, await dump(redis, name)]));
    runs.push(snapshots);
  }
  const [theirs, ours] = runs;
  assert.equal(ours.length, theirs.length);
  for (let i = 0; i < theirs.length; i++) {
    assert.deepEqual(ours[i], theirs[i], `after step ${theirs[i][0]}`);
  }
  assert.deepEqual(ours.at(-1)[1], {}, 'obliterate leaves nothing');
});

test('drain, clean and obliterate treat flows as the official bullmq 6 does', async () => {
  const conn = await connection();
  const redis = await rawClient();
  const runs = [];
  for (const [Q, label] of [[OfficialQueue, 'official'], [Queue, 'ours']]) {
    const name = queueName(`flow-${label}`);
    const other = `${name}-parents`;
    const flows = new FlowProducer({ connection: conn });
    closers.push(flows);
    const queue = new Q(name, { connection: conn, skipMetasUpdate: true });
    closers.push(queue);
    const snapshots = [];
    const snapshot = async (step) => snapshots.push([step, await dump(redis, name), await dump(redis, other)]);
    const flow = (id, queueOfParent, children) =>
      flows.add({ name: 'parent', queueName: queueOfParent, opts: { jobId: id }, children: children.map((c) => ({ name: c, queueName: name, opts: { jobId: c } })) });
    // A parent in this queue, one in another queue, each waiting for children here.
    await flow('p-same', name, ['c1', 'c2']);
    await flow('p-other', other, ['c3']);
    await snapshot('flows');
    await queue.drain();
    await snapshot('drained');
    await flow('p-clean', name, ['c4']);
    await queue.clean(0, 0, 'wait');
    await snapshot('cleaned');
    await flow('p-obl', name, ['c5']);
    await queue.obliterate();
    await snapshot('obliterated');
    // Queue names and the flows' creation times differ between the two runs.
    const normalize = (d) => JSON.parse(JSON.stringify(d).replaceAll(name, 'Q').replace(/\b1[789]\d{11}\b/g, 'T'));
    runs.push(snapshots.map(([step, a, b]) => [step, normalize(a), normalize(b)]));
  }
  const [theirs, ours] = runs;
  for (let i = 0; i < theirs.length; i++) {
    assert.deepEqual(ours[i][1], theirs[i][1], `this queue after ${theirs[i][0]}`);
    assert.deepEqual(ours[i][2], theirs[i][2], `the parents' queue after ${theirs[i][0]}`);
  }
  // The other queue's parent went back to its wait list.
  assert.deepEqual(ours[1][2].wait, ['p-other']);
  assert.equal(ours[1][1]['p-same'], undefined, 'the same-queue parent was removed with its last child');
});

test('add emits waiting with the job; addBulk does not, as in BullMQ', async () => {
  const { queue } = await setup('waitingevent');
  const waiting = track(queue, 'waiting');
  const job = await queue.add('x', { v: 1 });
  assert.equal(waiting.length, 1);
  assert.equal(waiting[0][0], job);
  await queue.addBulk([{ name: 'y', data: {} }]);
  assert.equal(waiting.length, 1);
});

test('control methods reject bad arguments with a TypeError that names them', async () => {
  const { name, queue, redis } = await setup('badctl');
  await queue.add('keep', {});
  const cases = [
    [() => queue.drain('yes'), 'drain: delayed must be a boolean, got "yes"'],
    [() => queue.clean(-1, 0), 'clean: grace must be a number >= 0, got -1'],
    [() => queue.clean('1000', 0), 'clean: grace must be a number >= 0, got "1000"'],
    [() => queue.clean(0, 1.5), 'clean: limit must be an integer >= 0, got 1.5'],
    [() => queue.clean(0, 0, 'everything'), /^clean: cannot clean jobs of type "everything"; expected one of completed, failed, wait/],
    [() => queue.obliterate('force'), 'obliterate: opts must be an object, got "force"'],
    [() => queue.obliterate({ force: 1 }), 'obliterate: opts.force must be a boolean, got 1'],
    [() => queue.obliterate({ count: 0 }), 'obliterate: opts.count must be an integer >= 1, got 0'],
    [() => queue.rateLimit(0), 'rateLimit: expireTimeMs must be an integer >= 1, got 0'],
    [() => queue.rateLimit('100'), 'rateLimit: expireTimeMs must be an integer >= 1, got "100"'],
    [() => queue.retryJobs({ state: 'delayed' }), 'retryJobs: opts.state must be "failed" or "completed", got "delayed"'],
    [() => queue.retryJobs({ count: -5 }), 'retryJobs: opts.count must be an integer >= 1, got -5'],
    [() => queue.retryJobs({ timestamp: 'now' }), 'retryJobs: opts.timestamp must be an integer >= 0, got "now"'],
    [() => queue.retryJobs(null), 'retryJobs: opts must be an object, got null'],
    [() => queue.promoteJobs({ count: 'all' }), 'promoteJobs: opts.count must be an integer >= 1, got "all"'],
  ];
  await assertTypeErrors(cases);
  // None of them touched the queue.
  assert.equal(await redis.hexists(`bull:${name}:meta`, 'paused'), 0);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['1']);
  assert.equal(await redis.exists(`bull:${name}:limiter`), 0);
});
