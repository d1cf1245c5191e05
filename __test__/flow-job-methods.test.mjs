// The parent/child methods of Job (dependencies, counts, values,
// moveToWaitingChildren, removeChildDependency, removeUnprocessedChildren),
// the "step job" pattern with WaitingChildrenError, the waiting-children
// getters, and remove / clean / drain / obliterate, priorities and delays
// with flows.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Job, UnrecoverableError, WaitingChildrenError, Worker } from 'bullmq-native';

import { closeAfter, eventLog, flowSetup } from './support/flows.mjs';
import { waitFor } from './support/redis.mjs';

const key = (q, id) => `bull:${q}:${id}`;

/** A parent (a plain job fetched by a manual worker) with `n` children added with `parent`. */
async function parentWithChildren(ctx, n, childOpts = () => ({})) {
  const [p, c] = ctx.names;
  const pq = ctx.queue(p);
  const cq = ctx.queue(c);
  const parent = await pq.add('parent', {});
  const parentOpts = { id: parent.id, queue: pq.qualifiedName };
  const children = [];
  for (let i = 0; i < n; i++) children.push(await cq.add(`c${i}`, { i }, { parent: parentOpts, ...childOpts(i) }));
  return { parent, children, pq, cq };
}

test('getDependencies: every kind at once, or pages of the kinds asked for', async () => {
  const ctx = await flowSetup('deps', 2);
  const { redis, names } = ctx;
  const [p, c] = names;
  const { parent } = await parentWithChildren(ctx, 0);
  const pk = key(p, parent.id);
  await redis.hset(`${pk}:processed`, key(c, 'a'), '{"v":1}', key(c, 'b'), '2');
  await redis.sadd(`${pk}:dependencies`, key(c, 'p1'), key(c, 'p2'));
  await redis.hset(`${pk}:failed`, key(c, 'i'), 'ignored reason');
  await redis.zadd(`${pk}:unsuccessful`, 1, key(c, 'f1'), 2, key(c, 'f2'), 3, key(c, 'f3'));
  const job = await ctx.queue(p).getJob(parent.id);
  const all = await job.getDependencies();
  assert.deepEqual(Object.keys(all).sort(), ['failed', 'ignored', 'processed', 'unprocessed']);
  assert.deepEqual(all.processed, { [key(c, 'a')]: { v: 1 }, [key(c, 'b')]: 2 });
  assert.deepEqual(all.unprocessed.sort(), [key(c, 'p1'), key(c, 'p2')]);
  assert.deepEqual(all.ignored, { [key(c, 'i')]: 'ignored reason' });
  assert.deepEqual(all.failed, [key(c, 'f1'), key(c, 'f2'), key(c, 'f3')]);

  const paged = await job.getDependencies({ processed: {}, failed: { cursor: 1, count: 2 } });
  assert.deepEqual(paged, {
    processed: { [key(c, 'a')]: { v: 1 }, [key(c, 'b')]: 2 },
    nextProcessedCursor: 0,
    // BullMQ reads ranks cursor..count-1 and moves the cursor by count.
    failed: [key(c, 'f2')],
    nextFailedCursor: 3,
  });
  const more = await job.getDependencies({ unprocessed: true, ignored: { count: 5 } });
  assert.deepEqual(Object.keys(more).sort(), ['ignored', 'nextIgnoredCursor', 'nextUnprocessedCursor', 'unprocessed']);
  assert.equal(more.nextUnprocessedCursor, 0);
  // A failed page whose next cursor is 0 is left out, as in BullMQ.
  assert.deepEqual(await job.getDependencies({ failed: { cursor: 0, count: 0 } }), {});

  assert.deepEqual(await job.getDependenciesCount(), { processed: 2, unprocessed: 2, ignored: 1, failed: 3 });
  assert.deepEqual(await job.getDependenciesCount({ failed: true, processed: true }), { failed: 3, processed: 2 });
  assert.deepEqual(await job.getChildrenValues(), { [key(c, 'a')]: { v: 1 }, [key(c, 'b')]: 2 });
  assert.deepEqual(await job.getIgnoredChildrenFailures(), { [key(c, 'i')]: 'ignored reason' });
  const none = await ctx.queue(c).add('none', {});
  assert.deepEqual(await none.getChildrenValues(), {});
  assert.deepEqual(await none.getDependencies(), { processed: {}, unprocessed: [], ignored: {}, failed: [] });
});

test('getDependencies pages through many pending children with cursors', async () => {
  const ctx = await flowSetup('cursor', 2);
  const [p, c] = ctx.names;
  const tree = await ctx.flows.add({
    name: 'parent',
    queueName: p,
    children: Array.from({ length: 400 }, (_, i) => ({ name: `k${i}`, queueName: c, opts: { delay: 60_000 } })),
  });
  const seen = new Set();
  let cursor = 0;
  let pages = 0;
  do {
    const page = await tree.job.getDependencies({ unprocessed: { cursor, count: 50 } });
    page.unprocessed.forEach((k) => seen.add(k));
    cursor = page.nextUnprocessedCursor;
    pages += 1;
  } while (cursor !== 0 && pages < 100);
  assert.ok(pages > 1, `${pages} pages`);
  assert.equal(seen.size, 400);
  assert.deepEqual(await tree.job.getDependenciesCount({ unprocessed: true }), { unprocessed: 400 });
});

test('moveToWaitingChildren moves an active job with pending children and keeps one without', async () => {
  const ctx = await flowSetup('mwc', 2);
  const { redis, names, conn } = ctx;
  const [p, c] = names;
  const manual = closeAfter(new Worker(p, null, { connection: conn, autorun: false }));
  const { parent, children } = await parentWithChildren(ctx, 2);
  const lonely = await ctx.queue(p).add('lonely', {});
  const job = await manual.getNextJob('tok');
  assert.equal(job.id, parent.id);
  // A child that is not pending for it: not moved.
  assert.equal(await job.moveToWaitingChildren('tok', { child: { id: 'other', queue: `bull:${c}` } }), false);
  assert.equal(await job.getState(), 'active');
  assert.equal(await job.moveToWaitingChildren('tok', { child: { id: children[1].id, queue: `bull:${c}` } }), true);
  assert.equal(await job.getState(), 'waiting-children');
  assert.equal(await redis.exists(`${key(p, job.id)}:lock`), 0);
  const log = await eventLog(redis, 'bull', p);
  assert.equal(log.at(-1), `waiting-children:${job.id}:active`);
  await assert.rejects(job.moveToWaitingChildren('tok'), (err) => err.code === -3 || err.code === -2);

  const other = await manual.getNextJob('tok2');
  assert.equal(other.id, lonely.id);
  assert.equal(await other.moveToWaitingChildren('tok2'), false);
  assert.equal(await other.getState(), 'active');
  // Children are looked at before the lock, as in BullMQ.
  assert.equal(await other.moveToWaitingChildren('wrong'), false);
  // A job a child failed cannot wait for its children.
  await redis.zadd(`${key(p, lonely.id)}:unsuccessful`, 1, key(c, 'x'));
  await redis.sadd(`${key(p, lonely.id)}:dependencies`, key(c, 'y'));
  await assert.rejects(other.moveToWaitingChildren('tok2'), (err) => err instanceof UnrecoverableError && err.code === -9);
  const gone = new Job(ctx.queue(p), 'x', {}, {}, 'missing');
  await assert.rejects(gone.moveToWaitingChildren('t'), { message: 'Missing key for job missing. moveToWaitingChildren' });
});

test('a step job adds children at run time and waits for them without using an attempt', async () => {
  const ctx = await flowSetup('step', 2);
  const { redis, names } = ctx;
  const [p, c] = names;
  const childQueue = ctx.queue(c);
  const steps = [];
  const done = new Promise((resolve) => {
    const w = ctx.worker(p, async (job, token) => {
      steps.push(job.data.step);
      if (job.data.step === 'spawn') {
        const parent = { id: job.id, queue: job.queueQualifiedName };
        await childQueue.addBulk([1, 2, 3].map((n) => ({ name: `n${n}`, data: { n }, opts: { parent } })));
        await job.updateData({ step: 'collect' });
        if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
      }
      return Object.values(await job.getChildrenValues()).sort();
    });
    w.on('completed', (job, value) => resolve({ job, value }));
  });
  const added = await ctx.queue(p).add('step', { step: 'spawn' });
  // The children run once the parent waits for them.
  await waitFor(async () => (await added.getState()) === 'waiting-children', { message: 'parent waiting' });
  ctx.worker(c, async (job) => job.data.n * 2);
  const { value } = await done;
  assert.deepEqual(value, [2, 4, 6]);
  assert.deepEqual(steps, ['spawn', 'collect']);
  const [atm, ats] = await redis.hmget(key(p, added.id), 'atm', 'ats');
  assert.equal(atm, '1');
  assert.equal(ats, '2');
  const log = await eventLog(redis, 'bull', p);
  assert.ok(log.includes(`waiting-children:${added.id}:active`));
  assert.ok(log.includes(`waiting:${added.id}:waiting-children`));
});

test('removeChildDependency detaches a pending child; the parent runs when it was the last', async () => {
  const ctx = await flowSetup('rcd', 2);
  const { redis, names } = ctx;
  const [p, c] = names;
  const tree = await ctx.flows.add({
    name: 'parent',
    queueName: p,
    children: [{ name: 'a', queueName: c, opts: { delay: 60_000 } }, { name: 'b', queueName: c, opts: { delay: 60_000 } }],
  });
  const [a, b] = tree.children.map((n) => n.job);
  assert.equal(await a.removeChildDependency(), true);
  assert.equal(a.parentKey, undefined);
  assert.equal(a.parent, undefined);
  assert.deepEqual(await redis.hmget(key(c, a.id), 'parentKey', 'parent'), [null, null]);
  assert.equal(await tree.job.getState(), 'waiting-children');
  const fresh = await ctx.queue(c).getJob(b.id);
  assert.equal(fresh.parentKey, key(p, tree.job.id));
  assert.equal(await fresh.removeChildDependency(), true);
  assert.equal(await tree.job.getState(), 'waiting');
  assert.equal((await eventLog(redis, 'bull', p)).at(-1), `waiting:${tree.job.id}:waiting-children`);
  // No longer linked: false; a parent that is gone: BullMQ's error.
  const again = await ctx.queue(c).getJob(b.id);
  again.parentKey = key(p, tree.job.id);
  assert.equal(await again.removeChildDependency(), false);
  again.parentKey = key(p, 'gone');
  await assert.rejects(again.removeChildDependency(), { message: `Missing key for parent job ${key(p, 'gone')}. removeChildDependency` });
});

test('removeUnprocessedChildren removes pending children and theirs, not active or failed ones', async () => {
  const ctx = await flowSetup('ruc', 2);
  const { redis, names, conn } = ctx;
  const [p, c] = names;
  const tree = await ctx.flows.add({
    name: 'parent',
    queueName: p,
    children: [
      { name: 'active', queueName: c, opts: { priority: 1 } },
      { name: 'bad', queueName: c, opts: { priority: 2 } },
      { name: 'mid', queueName: c, opts: { delay: 60_000 }, children: [{ name: 'grand', queueName: c, opts: { delay: 60_000 } }] },
      { name: 'plain', queueName: c, opts: { priority: 9 } },
    ],
  });
  const [active, bad, mid, plain] = tree.children.map((n) => n.job);
  const grand = tree.children[2].children[0].job;
  const manual = closeAfter(new Worker(c, null, { connection: conn, autorun: false }));
  const first = await manual.getNextJob('t1');
  assert.equal(first.id, active.id);
  const second = await manual.getNextJob('t2');
  assert.equal(second.id, bad.id);
  await second.moveToFailed(new Error('nope'), 't2');
  await tree.job.removeUnprocessedChildren();
  for (const gone of [mid, plain, grand]) assert.equal(await redis.exists(key(c, gone.id)), 0, gone.name);
  for (const kept of [active, bad]) assert.equal(await redis.exists(key(c, kept.id)), 1, kept.name);
  assert.deepEqual((await redis.smembers(`${key(p, tree.job.id)}:dependencies`)).sort(), [key(c, active.id), key(c, bad.id)].sort());
  // Depth first, as BullMQ: detaching its last child sends `mid` to wait just
  // before it is removed from there.
  const log = (await eventLog(redis, 'bull', c)).filter((e) => e.startsWith('removed:') || e.startsWith(`waiting:${mid.id}`));
  const midSteps = [`waiting:${mid.id}:waiting-children`, `removed:${grand.id}:delayed`, `removed:${mid.id}:wait`];
  assert.deepEqual(log.filter((e) => e !== `removed:${plain.id}:prioritized`), midSteps);
  assert.ok(log.includes(`removed:${plain.id}:prioritized`));
  assert.equal(await tree.job.getState(), 'waiting-children');
  // Once the active child is done, only the failed one holds the parent.
  await first.moveToCompleted('ok', 't1', false);
  assert.equal(await tree.job.getState(), 'waiting-children');
});

test('job.parent and parentKey are read back; the waiting-children getters see parents', async () => {
  const ctx = await flowSetup('getters', 2);
  const [p, c] = ctx.names;
  const tree = await ctx.flows.add({ name: 'parent', queueName: p, children: [{ name: 'k', queueName: c, opts: { removeDependencyOnFailure: true } }] });
  const pq = ctx.queue(p);
  const child = await ctx.queue(c).getJob(tree.children[0].job.id);
  assert.equal(child.parentKey, key(p, tree.job.id));
  assert.deepEqual(child.parent, { id: tree.job.id, queueKey: `bull:${p}`, rdof: true });
  assert.deepEqual(child.asJSON().parent, child.parent);
  assert.equal(await pq.getWaitingChildrenCount(), 1);
  assert.deepEqual((await pq.getWaitingChildren()).map((j) => j.id), [tree.job.id]);
  assert.deepEqual(await pq.getJobCounts('waiting-children', 'waiting'), { 'waiting-children': 1, waiting: 0 });
  assert.equal(await pq.getJobState(tree.job.id), 'waiting-children');
  assert.equal(await (await pq.getJob(tree.job.id)).isWaitingChildren(), true);
  assert.equal(await pq.count(), 1);
});

test('remove, clean, drain and obliterate take flows apart as BullMQ does', async () => {
  const ctx = await flowSetup('rm', 2);
  const { redis, names } = ctx;
  const [p, c] = names;
  const pq = ctx.queue(p);
  const cq = ctx.queue(c);
  // Removing the parent removes its children in other queues.
  const one = await ctx.flows.add({ name: 'p1', queueName: p, children: [{ name: 'k', queueName: c }, { name: 'k2', queueName: c, children: [{ name: 'g', queueName: c }] }] });
  assert.equal(await pq.remove(one.job.id), 1);
  assert.equal(await cq.count(), 0);
  assert.deepEqual(await redis.keys(`bull:${c}:*-*`), []);
  // Removing the last pending child releases the parent.
  const two = await ctx.flows.add({ name: 'p2', queueName: p, children: [{ name: 'k', queueName: c }] });
  await two.children[0].job.remove();
  assert.equal(await two.job.getState(), 'waiting');
  // Draining the child queue: a parent of another queue goes to wait (no event).
  const three = await ctx.flows.add({ name: 'p3', queueName: p, children: [{ name: 'k', queueName: c }] });
  const before = (await eventLog(redis, 'bull', p)).length;
  await cq.drain();
  assert.equal(await three.job.getState(), 'waiting');
  assert.equal((await eventLog(redis, 'bull', p)).length, before);
  // Within one queue, a hard removal takes the parent left without children too.
  const four = await ctx.flows.add({ name: 'p4', queueName: c, children: [{ name: 'k', queueName: c }] });
  await cq.drain();
  assert.equal(await redis.exists(key(c, four.job.id)), 0);
  // clean of waiting-children removes old parents (and detaches them).
  const five = await ctx.flows.add({ name: 'p5', queueName: p, opts: { timestamp: Date.now() - 10_000 }, children: [{ name: 'k', queueName: c, opts: { delay: 60_000 } }] });
  assert.deepEqual(await pq.clean(5_000, 0, 'waiting-children'), [five.job.id]);
  assert.equal(await redis.exists(key(p, five.job.id)), 0);
  // obliterate leaves waiting-children parents of other queues alone.
  const six = await ctx.flows.add({ name: 'p6', queueName: p, children: [{ name: 'k', queueName: c }] });
  await cq.obliterate();
  assert.equal(await six.job.getState(), 'waiting');
});

test('priorities and delays of children decide when the parent runs', async () => {
  const ctx = await flowSetup('order', 2);
  const [p, c] = ctx.names;
  const tree = await ctx.flows.add({
    name: 'parent',
    queueName: p,
    children: [
      { name: 'low', queueName: c, opts: { priority: 10 } },
      { name: 'high', queueName: c, opts: { priority: 1 } },
      { name: 'later', queueName: c, opts: { delay: 400 } },
    ],
  });
  const order = [];
  ctx.worker(c, async (job) => {
    order.push(job.name);
    return job.name;
  }, { limiter: { max: 10, duration: 1000 } });
  const ran = new Promise((resolve) => ctx.worker(p, async (job) => resolve([Date.now(), await job.getChildrenValues()])));
  const [at, values] = await ran;
  assert.deepEqual(order, ['high', 'low', 'later']);
  assert.ok(at >= tree.job.timestamp + 400);
  assert.equal(Object.keys(values).length, 3);
  await waitFor(async () => (await tree.job.getState()) === 'completed', { message: 'parent completed' });
});

test("a rate-limited children's queue runs the children within the limit; the parent runs after the last", async () => {
  const ctx = await flowSetup('ratelimit', 2);
  const [p, c] = ctx.names;
  const duration = 300;
  const tree = await ctx.flows.add({
    name: 'parent',
    queueName: p,
    children: [0, 1, 2, 3].map((i) => ({ name: `c${i}`, queueName: c, data: { i } })),
  });
  ctx.worker(c, async (job) => job.data.i, { concurrency: 4, limiter: { max: 2, duration } });
  const ran = new Promise((resolve) => ctx.worker(p, async (job) => resolve(await job.getChildrenValues())));
  const values = await ran;
  assert.deepEqual(Object.values(values).sort(), [0, 1, 2, 3]);
  const starts = [];
  for (const child of tree.children) starts.push((await Job.fromId(ctx.queue(c), child.job.id)).processedOn);
  starts.sort((a, b) => a - b);
  // Two per window: the third child started about a window after the first.
  assert.ok(starts[2] - starts[0] >= duration / 2, `children started at ${starts.map((s) => s - starts[0])}`);
  await waitFor(async () => (await tree.job.getState()) === 'completed', { message: 'parent completed' });
});
