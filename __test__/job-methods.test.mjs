// Job methods that act on a job by id (progress, logs, data, state, promote,
// changeDelay, changePriority, remove, retry), Queue.remove, and the JSON
// forms of a job, checked against Redis contents, the events stream and the
// official bullmq package.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { Queue as Bull5Queue } from 'bullmq5';

import { Job, Queue, Worker } from 'bullmq-native';

import { closeAfter, setup as manualSetup } from './support/manual.mjs';
import { connection, queueName, rawClient, streamEvents } from './support/redis.mjs';

/** The manual setup, plus `key(suffix)` for this queue's keys. */
async function setup(label) {
  const ctx = await manualSetup(label);
  return { ...ctx, key: (s) => `bull:${ctx.name}:${s}` };
}

async function officialQueue(name, Ctor = BullQueue) {
  const q = new Ctor(name, { connection: { ...(await connection()), maxRetriesPerRequest: null } });
  closeAfter(q);
  return q;
}

const lastEvent = async (redis, name) => (await streamEvents(redis, 'bull', name)).at(-1);

test('updateProgress stores JSON, emits on the stream and on the queue object', async () => {
  const { name, queue, redis, key } = await setup('progress');
  const job = await queue.add('p', {});
  const local = [];
  queue.on('progress', (j, p) => local.push([j.id, p]));
  await job.updateProgress({ pct: 42, step: 'a/b' });
  assert.equal(await redis.hget(key(job.id), 'progress'), '{"pct":42,"step":"a/b"}');
  const ev = await lastEvent(redis, name);
  assert.deepEqual([ev.event, ev.jobId, ev.data], ['progress', job.id, '{"pct":42,"step":"a/b"}']);
  await job.updateProgress(7);
  assert.equal(await redis.hget(key(job.id), 'progress'), '7');
  assert.deepEqual(job.progress, 7);
  assert.deepEqual(local, [[job.id, { pct: 42, step: 'a/b' }], [job.id, 7]]);
  assert.deepEqual((await queue.getJob(job.id)).progress, 7);
});

test('updateProgress on a job fetched by a worker emits on the worker', async () => {
  const { queue, worker, redis, key } = await setup('wprogress');
  await queue.add('p', {});
  const job = await worker.getNextJob('tok');
  const seen = [];
  worker.on('progress', (j, p) => seen.push([j.id, p]));
  await job.updateProgress(50);
  assert.deepEqual(seen, [[job.id, 50]]);
  assert.equal(await redis.hget(key(job.id), 'progress'), '50');
});

test('updateProgress rejects values that are not progress and missing jobs', async () => {
  const { queue, redis, key } = await setup('badprogress');
  const job = await queue.add('p', {});
  for (const bad of [undefined, null, NaN, Infinity, () => 1, Symbol('x'), 10n]) {
    await assert.rejects(job.updateProgress(bad), TypeError, `progress ${String(bad)}`);
  }
  const circular = {};
  circular.self = circular;
  await assert.rejects(job.updateProgress(circular), TypeError);
  assert.equal(await redis.hexists(key(job.id), 'progress'), 0);
  await job.remove();
  await assert.rejects(job.updateProgress(1), { message: `Missing key for job ${job.id}. updateProgress`, code: -1 });
});

test('log appends lines, keepLogs (stored as kl) trims them, clearLogs trims or deletes', async () => {
  const { queue, redis, key } = await setup('logs');
  const job = await queue.add('l', {}, { keepLogs: 2 });
  assert.equal(JSON.parse(await redis.hget(key(job.id), 'opts')).kl, 2);
  assert.equal(await job.log('one'), 1);
  assert.equal(await job.log('two'), 2);
  assert.equal(await job.log('three'), 2);
  assert.deepEqual(await redis.lrange(key(`${job.id}:logs`), 0, -1), ['two', 'three']);

  // The option is read back from Redis too.
  const again = await queue.getJob(job.id);
  assert.equal(again.opts.keepLogs, 2);
  assert.equal(await again.log('four'), 2);
  assert.deepEqual(await redis.lrange(key(`${job.id}:logs`), 0, -1), ['three', 'four']);

  await job.clearLogs(1);
  assert.deepEqual(await redis.lrange(key(`${job.id}:logs`), 0, -1), ['four']);
  await job.clearLogs();
  assert.equal(await redis.exists(key(`${job.id}:logs`)), 0);

  const unlimited = await queue.add('l', {});
  for (let i = 1; i <= 3; i++) assert.equal(await unlimited.log(`line ${i}`), i);

  await assert.rejects(job.log(42), TypeError);
  await assert.rejects(job.clearLogs(-1), /keepLogs must not be negative/);
  await assert.rejects(job.clearLogs('2'), TypeError);
  const missing = Job.fromJSON(queue, { name: 'x', data: '{}', opts: '{}', timestamp: '1' }, 'nope');
  await assert.rejects(missing.log('x'), { message: 'Missing key for job nope. addLog', code: -1 });
});

test('updateData replaces the stored data', async () => {
  const { queue, redis, key } = await setup('data');
  const job = await queue.add('d', { v: 1 });
  await job.updateData({ v: 2, list: [1, 2] });
  assert.equal(await redis.hget(key(job.id), 'data'), '{"v":2,"list":[1,2]}');
  assert.deepEqual(job.data, { v: 2, list: [1, 2] });
  assert.deepEqual((await queue.getJob(job.id)).data, { v: 2, list: [1, 2] });
  await assert.rejects(job.updateData({ big: 1n }), TypeError);
  assert.equal(await redis.hget(key(job.id), 'data'), '{"v":2,"list":[1,2]}');
});

test('getState reports every state, for jobs of a queue and of a worker', async () => {
  const { queue, worker, redis, key } = await setup('state');
  const active = await queue.add('a', {});
  const waiting = await queue.add('w', {});
  const delayed = await queue.add('d', {}, { delay: 60000 });
  const prioritized = await queue.add('p', {}, { priority: 3 });
  const fetched = await worker.getNextJob('tok');
  assert.equal(fetched.id, active.id);

  assert.equal(await fetched.getState(), 'active');
  assert.equal(await active.getState(), 'active');
  assert.equal(await waiting.getState(), 'waiting');
  assert.equal(await delayed.getState(), 'delayed');
  assert.equal(await prioritized.getState(), 'prioritized');
  assert.equal(await fetched.isActive(), true);
  assert.equal(await waiting.isWaiting(), true);
  assert.equal(await delayed.isDelayed(), true);
  assert.equal(await prioritized.isPrioritized(), true);
  assert.equal(await waiting.isActive(), false);

  await fetched.moveToCompleted('ok', 'tok', false);
  assert.equal(await active.getState(), 'completed');
  assert.equal(await active.isCompleted(), true);

  // Failed, waiting-children and the legacy paused list, laid out by hand.
  await redis.lrem(key('wait'), 0, waiting.id);
  await redis.zadd(key('failed'), Date.now(), waiting.id);
  assert.equal(await waiting.getState(), 'failed');
  assert.equal(await waiting.isFailed(), true);
  await redis.zrem(key('delayed'), delayed.id);
  await redis.zadd(key('waiting-children'), Date.now(), delayed.id);
  assert.equal(await delayed.getState(), 'waiting-children');
  assert.equal(await delayed.isWaitingChildren(), true);
  await redis.zrem(key('prioritized'), prioritized.id);
  await redis.rpush(key('paused'), prioritized.id);
  assert.equal(await prioritized.getState(), 'waiting');

  await redis.lrem(key('paused'), 0, prioritized.id);
  assert.equal(await prioritized.getState(), 'unknown');
  await assert.rejects(prioritized.isInState('running'), { name: 'TypeError', message: 'Unknown job state: running' });
});

test('promote moves a delayed job to the head of wait with a waiting event', async () => {
  const { name, queue, redis, key } = await setup('promote');
  const first = await queue.add('first', {});
  const job = await queue.add('later', {}, { delay: 60000 });
  assert.equal(job.delay, 60000);
  await redis.del(key('marker'));
  await job.promote();
  assert.equal(job.delay, 0);
  assert.deepEqual(await redis.lrange(key('wait'), 0, -1), [job.id, first.id]);
  assert.equal(await redis.zcard(key('delayed')), 0);
  assert.equal(await redis.hget(key(job.id), 'delay'), '0');
  // Workers are woken up: marker "0" at score 0.
  assert.equal(await redis.zscore(key('marker'), '0'), '0');
  const ev = await lastEvent(redis, name);
  assert.deepEqual([ev.event, ev.jobId, ev.prev], ['waiting', job.id, 'delayed']);
  await assert.rejects(job.promote(), {
    message: `Job ${job.id} is not in the delayed state. promote`,
    code: -3,
  });
});

test('changeDelay re-scores a delayed job from now', async () => {
  const { name, queue, redis, key } = await setup('chdelay');
  const job = await queue.add('d', {}, { delay: 600000 });
  const before = Date.now();
  await job.changeDelay(5000);
  const after = Date.now();
  assert.equal(job.delay, 5000);
  assert.equal(await redis.hget(key(job.id), 'delay'), '5000');
  const due = Number(await redis.zscore(key('delayed'), job.id)) / 4096;
  assert.ok(due >= before + 5000 && due <= after + 5000, `due ${due}`);
  const ev = await lastEvent(redis, name);
  assert.deepEqual([ev.event, ev.jobId, Number(ev.delay)], ['delayed', job.id, due]);
  assert.deepEqual(await redis.zrange(key('marker'), 0, -1, 'WITHSCORES'), ['1', String(due)]);

  const waiting = await queue.add('w', {});
  await assert.rejects(waiting.changeDelay(10), {
    message: `Job ${waiting.id} is not in the delayed state. changeDelay`,
    code: -3,
  });
  for (const bad of [-1, 1.5, '10', undefined, NaN]) {
    await assert.rejects(job.changeDelay(bad), TypeError, `delay ${String(bad)}`);
  }
  assert.equal(await redis.hget(key(job.id), 'delay'), '5000');
});

test('changePriority re-queues waiting and prioritized jobs', async () => {
  const { queue, redis, key } = await setup('chprio');
  const a = await queue.add('a', {});
  const b = await queue.add('b', {});
  const c = await queue.add('c', {}, { priority: 2 });
  await a.changePriority({ priority: 2 });
  assert.equal(a.priority, 2);
  assert.equal(await redis.hget(key(a.id), 'priority'), '2');
  assert.equal(await redis.zscore(key('prioritized'), a.id), String(2 * 2 ** 32 + 2));
  assert.deepEqual(await redis.zrange(key('prioritized'), 0, -1), [c.id, a.id]);
  await a.changePriority({ priority: 2, lifo: true });
  assert.equal(await redis.zscore(key('prioritized'), a.id), String(2 * 2 ** 32));
  assert.deepEqual(await redis.zrange(key('prioritized'), 0, -1), [a.id, c.id]);
  await c.changePriority({ lifo: true });
  assert.equal(c.priority, 0);
  assert.deepEqual(await redis.lrange(key('wait'), 0, -1), [b.id, c.id]);
  assert.equal(await redis.hget(key(c.id), 'priority'), '0');

  for (const bad of [{ priority: -1 }, { priority: 1.5 }, { priority: 2097152 }, { priority: '1' }, { lifo: 'yes' }, null]) {
    await assert.rejects(a.changePriority(bad), TypeError, JSON.stringify(bad));
  }
  await a.remove();
  await assert.rejects(a.changePriority({ priority: 1 }), {
    message: `Missing key for job ${a.id}. changePriority`,
    code: -1,
  });
});

test('remove deletes the job and its keys and emits removed', async () => {
  const { name, queue, redis, key } = await setup('remove');
  const job = await queue.add('r', {});
  await job.log('x');
  const local = [];
  queue.on('removed', (j) => local.push(j));
  await job.remove();
  assert.equal(await redis.exists(key(job.id), key(`${job.id}:logs`)), 0);
  assert.equal(await redis.llen(key('wait')), 0);
  const ev = await lastEvent(redis, name);
  assert.deepEqual([ev.event, ev.jobId, ev.prev], ['removed', job.id, 'wait']);
  assert.deepEqual(local, [job]);
  assert.equal(await job.getState(), 'unknown');
  await assert.rejects(job.remove({ removeChildren: 'no' }), TypeError);
});

test('remove refuses a job locked by a worker', async () => {
  const { queue, worker, redis, key } = await setup('rmlocked');
  const job = await queue.add('r', {});
  await worker.getNextJob('tok');
  await assert.rejects(job.remove(), {
    message: `Job ${job.id} could not be removed because it is locked by another worker`,
  });
  assert.equal(await redis.exists(key(job.id)), 1);
  assert.deepEqual(await redis.lrange(key('active'), 0, -1), [job.id]);
  assert.equal(await queue.remove(job.id), 0);
});

test('remove takes children along unless removeChildren is false', async () => {
  const { queue, redis, key } = await setup('rmtree');
  const childName = queueName('rmtree-child');
  const children = new Queue(childName, { connection: await connection() });
  closeAfter(children);
  const parent = await queue.add('parent', {});
  const parentRef = { id: parent.id, queue: queue.qualifiedName };
  const kid = await children.add('kid', {}, { parent: parentRef });
  assert.equal(kid.parentKey, `bull:${queue.name}:${parent.id}`);
  assert.deepEqual(await redis.smembers(key(`${parent.id}:dependencies`)), [`bull:${childName}:${kid.id}`]);

  await parent.remove();
  assert.equal(await redis.exists(key(parent.id), `bull:${childName}:${kid.id}`), 0);
  const ev = (await streamEvents(redis, 'bull', childName)).at(-1);
  assert.deepEqual([ev.event, ev.jobId, ev.prev], ['removed', kid.id, 'wait']);

  const parent2 = await queue.add('parent', {});
  const kid2 = await children.add('kid', {}, { parent: { id: parent2.id, queue: queue.qualifiedName } });
  await parent2.remove({ removeChildren: false });
  assert.equal(await redis.exists(key(parent2.id)), 0);
  assert.equal(await redis.exists(`bull:${childName}:${kid2.id}`), 1);
});

test('the current iteration of a job scheduler cannot be removed', async () => {
  const { queue, redis, key } = await setup('rmsched');
  const id = 'repeat:every-minute:1700000000000';
  await redis.hset(key(id), 'name', 'tick', 'data', '{}', 'opts', '{}', 'timestamp', '1', 'rjk', 'every-minute');
  await redis.zadd(key('repeat'), 1700000000000, 'every-minute');
  await redis.zadd(key('delayed'), 1700000000000 * 4096, id);
  const job = await queue.getJob(id);
  assert.equal(job.repeatJobKey, 'every-minute');
  const message = `Job ${id} belongs to a job scheduler and cannot be removed directly. removeJob`;
  await assert.rejects(job.remove(), { message, code: -8 });
  await assert.rejects(queue.remove(id), { message, code: -8 });
  assert.equal(await redis.exists(key(id)), 1);
});

test('Queue.remove returns 1, emits removed with the id, and checks its arguments', async () => {
  const { name, queue, redis, key } = await setup('qremove');
  const job = await queue.add('r', {}, { delay: 60000 });
  const seen = [];
  queue.on('removed', (id) => seen.push(id));
  assert.equal(await queue.remove(job.id), 1);
  assert.deepEqual(seen, [job.id]);
  assert.equal(await redis.exists(key(job.id)), 0);
  assert.equal(await redis.zcard(key('delayed')), 0);
  const ev = await lastEvent(redis, name);
  assert.deepEqual([ev.event, ev.jobId, ev.prev], ['removed', job.id, 'delayed']);
  await assert.rejects(queue.remove(''), TypeError);
  await assert.rejects(queue.remove(5), TypeError);
  await assert.rejects(queue.remove(job.id, { removeChildren: 1 }), TypeError);
});

test('retry sends a completed job back to wait and clears its finish fields', async () => {
  const { name, queue, worker, redis, key } = await setup('retry');
  await queue.add('r', { n: 1 });
  const job = await worker.getNextJob('tok');
  await job.moveToCompleted('done', 'tok', false);
  await assert.rejects(job.retry(), {
    message: `Job ${job.id} is not in the failed state. reprocessJob`,
    code: -3,
  });
  await job.retry('completed');
  assert.deepEqual(await redis.lrange(key('wait'), 0, -1), [job.id]);
  assert.equal(await redis.zcard(key('completed')), 0);
  const hash = await redis.hgetall(key(job.id));
  assert.equal(hash.returnvalue, undefined);
  assert.equal(hash.finishedOn, undefined);
  assert.equal(hash.processedOn, undefined);
  assert.equal(hash.atm, '1');
  assert.equal(hash.ats, '1');
  assert.equal(job.returnvalue, null);
  assert.equal(job.finishedOn, null);
  const ev = await lastEvent(redis, name);
  assert.deepEqual([ev.event, ev.jobId, ev.prev], ['waiting', job.id, 'completed']);
  assert.equal(await job.getState(), 'waiting');
});

test('retry of a failed job can reset the attempt counters; lifo jobs run next', async () => {
  const { name, queue, redis, key } = await setup('retryfailed');
  const other = await queue.add('other', {});
  const job = await queue.add('r', {}, { lifo: true });
  // A final failure, laid out as BullMQ leaves it.
  await redis.lrem(key('wait'), 0, job.id);
  await redis.zadd(key('failed'), Date.now(), job.id);
  await redis.hset(key(job.id), 'failedReason', 'boom', 'finishedOn', '5', 'processedOn', '4', 'atm', '3', 'ats', '3');
  const failed = await queue.getJob(job.id);
  assert.equal(failed.failedReason, 'boom');
  assert.equal(failed.attemptsMade, 3);
  await failed.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
  const hash = await redis.hgetall(key(job.id));
  for (const field of ['failedReason', 'finishedOn', 'processedOn', 'atm', 'ats']) {
    assert.equal(hash[field], undefined, field);
  }
  assert.equal(failed.attemptsMade, 0);
  assert.equal(failed.attemptsStarted, 0);
  assert.equal(failed.failedReason, null);
  assert.deepEqual(await redis.lrange(key('wait'), 0, -1), [other.id, job.id]);
  const ev = await lastEvent(redis, name);
  assert.deepEqual([ev.event, ev.jobId, ev.prev], ['waiting', job.id, 'failed']);
  await assert.rejects(failed.retry('active'), TypeError);
  await assert.rejects(failed.retry('failed', null), TypeError);
});

test('asJSON and fromJSON round-trip a job; toJSON leaves the queue out', async () => {
  const { queue, worker } = await setup('json');
  const parentQueue = queue.qualifiedName;
  const parent = await queue.add('parent', {});
  await queue.add(
    'rt',
    { text: 'héllo', nested: { list: [1, 'two', null] } },
    { attempts: 3, keepLogs: 4, lifo: true, parent: { id: parent.id, queue: parentQueue }, failParentOnFailure: true },
  );
  await queue.add('other', {});
  const fetched = await worker.getNextJob('tok');
  assert.equal(fetched.name, 'rt');
  await fetched.updateProgress({ half: true });
  const stored = await queue.getJob(fetched.id);
  stored.returnvalue = { ok: [1, 2] };
  stored.stacktrace = ['Error: x\n    at y'];

  const copy = Job.fromJSON(queue, stored.asJSON());
  for (const field of [
    'id', 'name', 'data', 'opts', 'progress', 'attemptsMade', 'attemptsStarted', 'stalledCounter',
    'timestamp', 'processedOn', 'delay', 'priority', 'returnvalue', 'stacktrace', 'parentKey', 'parent',
  ]) {
    assert.deepEqual(copy[field], stored[field], field);
  }
  assert.equal(copy.opts.keepLogs, 4);
  assert.deepEqual(stored.parent, { id: parent.id, queueKey: parentQueue, fpof: true });
  assert.equal(stored.parentKey, `${parentQueue}:${parent.id}`);
  assert.equal(copy.queueQualifiedName, queue.qualifiedName);

  const plain = JSON.parse(JSON.stringify(fetched));
  assert.equal(plain.queue, undefined);
  for (const field of [
    'id', 'name', 'data', 'opts', 'progress', 'attemptsMade', 'attemptsStarted', 'stalledCounter',
    'timestamp', 'processedOn', 'delay', 'returnvalue', 'stacktrace', 'token', 'queueQualifiedName',
  ]) {
    assert.ok(field in plain, field);
  }
  assert.equal(plain.token, 'tok');
  assert.deepEqual(plain.data, { text: 'héllo', nested: { list: [1, 'two', null] } });
  assert.equal(fetched.queueName, queue.name);
  assert.equal(fetched.prefix, 'bull');
});

test('Job.create, createBulk and fromId work with a Queue and a Worker', async () => {
  const { queue, worker, redis, key } = await setup('create');
  const one = await Job.create(queue, 'one', { a: 1 }, { priority: 5 });
  assert.ok(one instanceof Job);
  assert.equal(await redis.hget(key(one.id), 'priority'), '5');
  const bulk = await Job.createBulk(queue, [
    { name: 'b1', data: { b: 1 } },
    { name: 'b2', data: { b: 2 }, opts: { delay: 1000 } },
  ]);
  assert.deepEqual(bulk.map((j) => j.name), ['b1', 'b2']);
  assert.equal(await bulk[1].getState(), 'delayed');
  const viaWorker = await Job.fromId(worker, bulk[0].id);
  assert.deepEqual(viaWorker.data, { b: 1 });
  assert.equal(await viaWorker.getState(), 'waiting');
  assert.equal(await Job.fromId(queue, 'missing'), undefined);
  assert.equal(await Job.fromId(queue, undefined), undefined);
});

test('fromJSON reads jobs written and processed by the official bullmq', async () => {
  const name = queueName('official');
  const official = await officialQueue(name);
  const redis = await rawClient();
  const added = await official.add('mail', { to: 'a@b.c' }, {
    jobId: 'custom-1', attempts: 3, backoff: 1000, keepLogs: 5, removeOnComplete: 10, priority: 4,
  });
  const officialWorker = new BullWorker(name, null, { connection: { ...(await connection()), maxRetriesPerRequest: null } });
  closeAfter(officialWorker);
  const active = await officialWorker.getNextJob('otok');
  assert.equal(active.id, added.id);
  await active.updateProgress({ p: 1 });
  await active.log('hello');
  await active.moveToCompleted({ sent: true }, 'otok', false);

  const queue = new Queue(name, { connection: await connection() });
  closeAfter(queue);
  const raw = await redis.hgetall(`bull:${name}:custom-1`);
  for (const job of [Job.fromJSON(queue, raw, 'custom-1'), await queue.getJob('custom-1')]) {
    assert.equal(job.id, 'custom-1');
    assert.equal(job.name, 'mail');
    assert.deepEqual(job.data, { to: 'a@b.c' });
    assert.equal(job.opts.keepLogs, 5);
    assert.equal(job.opts.attempts, 3);
    assert.deepEqual(job.opts.backoff, { type: 'fixed', delay: 1000 });
    assert.equal(job.priority, 4);
    assert.deepEqual(job.progress, { p: 1 });
    assert.deepEqual(job.returnvalue, { sent: true });
    assert.equal(job.attemptsMade, 1);
    assert.equal(job.attemptsStarted, 1);
    assert.equal(job.finishedOn, Number(raw.finishedOn));
    assert.equal(job.processedOn, Number(raw.processedOn));
    assert.equal(job.timestamp, added.timestamp);
    assert.equal(await job.getState(), 'completed');
  }
  // Our JSON form agrees with the official one on every field both have.
  const theirs = (await official.getJob('custom-1')).asJSON();
  const ours = (await queue.getJob('custom-1')).asJSON();
  for (const [field, value] of Object.entries(theirs)) {
    assert.deepEqual(ours[field], value, field);
  }
  // Older versions stored attemptsMade under its long name; it wins over atm.
  await redis.hset(`bull:${name}:custom-1`, 'attemptsMade', '7');
  assert.equal((await queue.getJob('custom-1')).attemptsMade, 7);
  await redis.hdel(`bull:${name}:custom-1`, 'atm');
  assert.equal(Job.fromJSON(queue, await redis.hgetall(`bull:${name}:custom-1`), 'custom-1').attemptsMade, 7);
});

test('fromJSON reads a job added by bullmq 5', async () => {
  const name = queueName('v5');
  const official = await officialQueue(name, Bull5Queue);
  const added = await official.add('v5', { five: 5 }, { delay: 60000, keepLogs: 3 });
  const queue = new Queue(name, { connection: await connection() });
  closeAfter(queue);
  const job = await queue.getJob(added.id);
  assert.deepEqual(job.data, { five: 5 });
  assert.equal(job.delay, 60000);
  assert.equal(job.opts.keepLogs, 3);
  assert.equal(await job.getState(), 'delayed');
  await job.promote();
  assert.equal(await (await official.getJob(added.id)).getState(), 'waiting');
});

test('the official bullmq sees what these methods change', async () => {
  const { name, queue, redis, key } = await setup('seen');
  const official = await officialQueue(name);
  const job = await queue.add('s', { v: 1 }, { delay: 60000 });
  await job.changePriority({ priority: 9 });
  await job.promote();
  const theirs = await official.getJob(job.id);
  assert.equal(await theirs.getState(), 'prioritized');
  assert.equal(theirs.priority, 9);
  await job.updateProgress(33);
  await job.updateData({ v: 2 });
  await job.log('from native');
  const again = await official.getJob(job.id);
  assert.equal(again.progress, 33);
  assert.deepEqual(again.data, { v: 2 });
  assert.deepEqual((await official.getJobLogs(job.id)).logs, ['from native']);
  await job.remove();
  assert.equal(await official.getJob(job.id), undefined);
  assert.equal(await redis.zcard(key('prioritized')), 0);
});
