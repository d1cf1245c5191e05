// FlowProducer: what add / addBulk write (trees of any depth, other queues
// and prefixes, per-queue defaults, BullMQ's insert order), the JobNode
// trees they return, getFlow, the errors of flows that cannot be added, and
// jobs added with `parent` by Queue.add / addBulk.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FlowProducer, Job } from 'bullmq-native';

import { dumpKeys, eventLog, flowSetup } from './support/flows.mjs';
import { waitFor } from './support/redis.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('add writes the whole tree: the parent waits in waiting-children, each child names it', async () => {
  const { redis, names, flows } = await flowSetup('tree');
  const [p, c] = names;
  const tree = await flows.add({
    name: 'root',
    queueName: p,
    data: { r: 1 },
    children: [
      { name: 'a', queueName: c, data: { a: 1 } },
      { name: 'b', queueName: c, data: { b: 1 }, opts: { failParentOnFailure: true } },
    ],
  });
  assert.ok(tree.job instanceof Job);
  assert.match(tree.job.id, UUID);
  assert.equal(tree.children.length, 2);
  const [a, b] = tree.children;
  assert.deepEqual(a.job.opts.parent, { id: tree.job.id, queue: `bull:${p}` });
  assert.equal(b.job.parentKey, `bull:${p}:${tree.job.id}`);
  assert.deepEqual(b.job.parent, { id: tree.job.id, queueKey: `bull:${p}`, fpof: true });
  assert.equal(a.children, undefined);

  const parent = await dumpKeys(redis, 'bull', p);
  assert.deepEqual(parent['waiting-children'], [[tree.job.id, String(tree.job.timestamp)]]);
  assert.deepEqual(parent[`${tree.job.id}:dependencies`], [`bull:${c}:${a.job.id}`, `bull:${c}:${b.job.id}`].sort());
  assert.deepEqual(parent[tree.job.id].opts, { attempts: 0 });
  assert.deepEqual(parent.events.map((e) => e.event), ['added', 'waiting-children']);

  const child = await dumpKeys(redis, 'bull', c);
  assert.deepEqual(child[b.job.id].parent, { id: tree.job.id, queueKey: `bull:${p}`, fpof: true });
  assert.equal(child[b.job.id].parentKey, `bull:${p}:${tree.job.id}`);
  // The generated id is not stored in opts; the parent is.
  assert.deepEqual(child[b.job.id].opts, { attempts: 0, fpof: true, parent: { id: tree.job.id, queue: `bull:${p}` } });
  // Children are added in order, each at the head of wait.
  assert.deepEqual(child.wait, [b.job.id, a.job.id]);
  assert.deepEqual(await eventLog(redis, 'bull', c), [`added:${a.job.id}`, `waiting:${a.job.id}`, `added:${b.job.id}`, `waiting:${b.job.id}`]);
});

test('nodes may live in other queues and prefixes; queuesOptions give per-queue defaults', async () => {
  const { redis, names, flows } = await flowSetup('where', 3);
  const [p, c, d] = names;
  const tree = await flows.add(
    {
      name: 'root',
      queueName: p,
      opts: { jobId: 'root-id' },
      children: [
        { name: 'mid', queueName: c, prefix: '{other}', children: [{ name: 'leaf', queueName: d, data: 'x' }] },
      ],
    },
    { queuesOptions: { [d]: { defaultJobOptions: { attempts: 5, removeOnComplete: true } } } },
  );
  const mid = tree.children[0];
  const leaf = mid.children[0];
  assert.equal(tree.job.id, 'root-id');
  assert.equal(mid.job.queueQualifiedName, `{other}:${c}`);
  assert.equal(mid.job.prefix, '{other}');
  assert.deepEqual(await redis.smembers(`bull:${p}:root-id:dependencies`), [`{other}:${c}:${mid.job.id}`]);
  assert.deepEqual(await redis.zrange(`{other}:${c}:waiting-children`, 0, -1), [mid.job.id]);
  assert.equal(await redis.hget(`bull:${d}:${leaf.job.id}`, 'parentKey'), `{other}:${c}:${mid.job.id}`);
  assert.deepEqual(JSON.parse(await redis.hget(`bull:${d}:${leaf.job.id}`, 'opts')), {
    attempts: 5,
    removeOnComplete: true,
    parent: { id: mid.job.id, queue: `{other}:${c}` },
  });
  assert.equal(leaf.job.opts.attempts, 5);
  assert.equal(await redis.hget(`bull:${d}:${leaf.job.id}`, 'data'), '"x"');
  // The custom id is stored as given.
  assert.equal(JSON.parse(await redis.hget(`bull:${p}:root-id`, 'opts')).jobId, 'root-id');
});

test('a parent runs once all its children completed, in its own queue, with their values', async () => {
  const { redis, names, flows, worker } = await flowSetup('run', 3);
  const [p, c, d] = names;
  const tree = await flows.add({
    name: 'root',
    queueName: p,
    opts: { priority: 4 },
    children: [
      { name: 'c1', queueName: c, data: { n: 1 } },
      { name: 'c2', queueName: d, prefix: '{x}', data: { n: 2 }, children: [{ name: 'g', queueName: c, data: { n: 3 } }] },
    ],
  });
  const seen = [];
  worker(c, async (job) => {
    seen.push(job.name);
    return { n: job.data.n * 10 };
  });
  worker(d, async (job) => ({ got: await job.getChildrenValues() }), { prefix: '{x}' });
  const parentRan = new Promise((resolve) => {
    worker(p, async (job) => {
      const values = await job.getChildrenValues();
      resolve({ values, state: 'ran' });
      return 'done';
    });
  });
  const { values } = await parentRan;
  const [c1, c2] = tree.children;
  const g = c2.children[0];
  assert.deepEqual(values, {
    [`bull:${c}:${c1.job.id}`]: { n: 10 },
    [`{x}:${d}:${c2.job.id}`]: { got: { [`bull:${c}:${g.job.id}`]: { n: 30 } } },
  });
  assert.ok(seen.includes('g') && seen.includes('c1'));
  // Released by its last child into its priority (prev = waiting-children).
  const log = await eventLog(redis, 'bull', p);
  assert.ok(log.includes(`waiting:${tree.job.id}:waiting-children`), log.join(' '));
  await waitFor(async () => (await redis.zscore(`bull:${p}:completed`, tree.job.id)) !== null, { message: 'parent completed' });
  assert.equal(await redis.hget(`{x}:${d}:${c2.job.id}:processed`, `bull:${c}:${g.job.id}`), '{"n":30}');
  assert.equal(await redis.exists(`bull:${p}:${tree.job.id}:dependencies`), 0);
});

test('a released parent goes to prioritized or delayed by its own options', async () => {
  const { redis, names, flows, worker } = await flowSetup('release', 3);
  const [p, q, c] = names;
  const prio = await flows.add({ name: 'prio', queueName: p, opts: { priority: 7 }, children: [{ name: 'k', queueName: c }] });
  const late = await flows.add({ name: 'late', queueName: q, opts: { delay: 60_000 }, children: [{ name: 'k', queueName: c }] });
  const delay = await redis.hget(`bull:${q}:${late.job.id}`, 'delay');
  assert.equal(delay, '60000');
  worker(c, async () => 1);
  await waitFor(async () => (await redis.zscore(`bull:${p}:prioritized`, prio.job.id)) !== null, { message: 'prioritized parent' });
  const score = Number(await redis.zscore(`bull:${p}:prioritized`, prio.job.id));
  assert.equal(Math.floor(score / 2 ** 32), 7);
  await waitFor(async () => (await redis.zscore(`bull:${q}:delayed`, late.job.id)) !== null, { message: 'delayed parent' });
  const due = Number(await redis.zscore(`bull:${q}:delayed`, late.job.id)) / 4096;
  assert.ok(due > Date.now() + 50_000, `due ${due}`);
  const events = (await redis.xrange(`bull:${q}:events`, '-', '+')).map(([, f]) => f);
  const delayed = events.find((f) => f[1] === 'delayed');
  assert.deepEqual(delayed.slice(0, 4), ['event', 'delayed', 'jobId', late.job.id]);
  assert.equal(Number(delayed[5]), due);
});

test('addBulk writes several flows in one step, breadth first across them', async () => {
  const { redis, names, flows } = await flowSetup('bulk', 2);
  const [p, c] = names;
  const nodes = await flows.addBulk([
    { name: 'A', queueName: p, children: [{ name: 'a1', queueName: c, children: [{ name: 'a11', queueName: c }] }, { name: 'a2', queueName: c }] },
    { name: 'B', queueName: p, children: [{ name: 'b1', queueName: c }] },
    { name: 'lone', queueName: c },
  ]);
  assert.equal(nodes.length, 3);
  const id = (n) => n.job.id;
  const [A, B, lone] = nodes;
  const [a1, a2] = A.children;
  const a11 = a1.children[0];
  const b1 = B.children[0];
  // Roots first (A, B, lone), then the children of A and B, then a1's.
  const added = (await eventLog(redis, 'bull', c)).filter((e) => e.startsWith('added:')).map((e) => e.slice(6));
  assert.deepEqual(added, [id(lone), id(a1), id(a2), id(b1), id(a11)]);
  assert.deepEqual(await redis.lrange(`bull:${c}:wait`, 0, -1), [id(a11), id(b1), id(a2), id(lone)]);
  assert.deepEqual(await redis.zrange(`bull:${p}:waiting-children`, 0, -1).then((m) => m.sort()), [id(A), id(B)].sort());
  assert.equal(await redis.get(`bull:${c}:id`), '5');
  assert.equal(await redis.hget(`bull:${c}:${id(a11)}`, 'parentKey'), `bull:${c}:${id(a1)}`);
});

test('getFlow reads a tree back, to a depth and a number of children per kind', async () => {
  const { redis, names, flows, worker } = await flowSetup('get', 2);
  const [p, c] = names;
  const children = Array.from({ length: 3 }, (_, i) => ({ name: `k${i}`, queueName: c, data: { i }, children: [{ name: `g${i}`, queueName: c }] }));
  const tree = await flows.add({ name: 'root', queueName: p, data: { top: true }, children });
  const read = await flows.getFlow({ id: tree.job.id, queueName: p });
  assert.ok(read.job instanceof Job);
  assert.equal(read.job.name, 'root');
  assert.deepEqual(read.job.data, { top: true });
  assert.equal(read.children.length, 3);
  const byName = Object.fromEntries(read.children.map((n) => [n.job.name, n]));
  assert.deepEqual(byName.k1.job.data, { i: 1 });
  assert.equal(byName.k1.job.parentKey, `bull:${p}:${tree.job.id}`);
  assert.equal(byName.k1.children[0].job.name, 'g1');
  // depth 2: the root and its children, no grandchildren.
  const shallow = await flows.getFlow({ id: tree.job.id, queueName: p, depth: 2 });
  assert.equal(shallow.children.length, 3);
  assert.ok(shallow.children.every((n) => n.children === undefined));
  const top = await flows.getFlow({ id: tree.job.id, queueName: p, depth: 1 });
  assert.equal(top.children, undefined);
  assert.equal(await flows.getFlow({ id: 'nope', queueName: p }), undefined);

  // Completed children are read from the parent's processed children.
  worker(c, async (job) => job.name);
  const grand = tree.children[0].children[0];
  await waitFor(async () => (await grand.job.getState()) === 'completed', { message: 'grandchild completed' });
  const after = await flows.getFlow({ id: tree.children[0].job.id, queueName: c });
  assert.equal(after.children[0].job.returnvalue, grand.job.name);
  // A removed child is undefined in its place.
  const gone = await flows.add({ name: 'r', queueName: p, children: [{ name: 'x', queueName: c, opts: { delay: 60_000 } }] });
  await redis.del(`bull:${c}:${gone.children[0].job.id}`);
  const holed = await flows.getFlow({ id: gone.job.id, queueName: p });
  assert.deepEqual(holed.children, [undefined]);
});

test('getFlow honours maxChildren for large sets of children', async () => {
  const { names, flows } = await flowSetup('many', 2);
  const [p, c] = names;
  const children = Array.from({ length: 300 }, (_, i) => ({ name: `k${i}`, queueName: c }));
  const tree = await flows.add({ name: 'root', queueName: p, children });
  const read = await flows.getFlow({ id: tree.job.id, queueName: p, maxChildren: 5 });
  // SSCAN with COUNT 5 on a large set: a handful, far fewer than 300.
  assert.ok(read.children.length > 0 && read.children.length < 50, `${read.children.length} children`);
  const all = await flows.getFlow({ id: tree.job.id, queueName: p, maxChildren: 1000 });
  assert.equal(all.children.length, 300);
});

test('a flow whose root parent is missing fails as in BullMQ; addBulk does not', async () => {
  const { names, flows } = await flowSetup('missing', 2);
  const [p, c] = names;
  const parent = { id: 'nope', queue: `bull:${p}` };
  await assert.rejects(
    flows.add({ name: 'root', queueName: c, opts: { parent }, children: [{ name: 'k', queueName: c }] }),
    (err) => err.message === `Missing key for parent job bull:${p}:nope. addJob` && err.code === -5,
  );
  await assert.rejects(
    flows.add({ name: 'lone', queueName: c, opts: { parent } }),
    (err) => err.message === `Missing key for parent job bull:${p}:nope. addJob`,
  );
  const [node] = await flows.addBulk([{ name: 'root', queueName: c, opts: { parent } }]);
  assert.match(node.job.id, UUID);
  assert.equal(await node.job.getState(), 'unknown');
});

test('options are checked with BullMQ rules and messages before anything is written', async () => {
  const { redis, names, flows } = await flowSetup('check', 2);
  const [p, c] = names;
  await assert.rejects(
    flows.add({ name: 'root', queueName: p, opts: { deduplication: { id: 'd' } }, children: [{ name: 'k', queueName: c }] }),
    { message: 'Deduplication options cannot be used on flow nodes with children' },
  );
  await assert.rejects(
    flows.add({ name: 'root', queueName: p, children: [{ name: 'k', queueName: c, opts: { failParentOnFailure: true, ignoreDependencyOnFailure: true } }] }),
    { message: 'The following options cannot be used together: failParentOnFailure, ignoreDependencyOnFailure' },
  );
  await assert.rejects(
    flows.add({ name: 'root', queueName: p, children: [{ name: 'k', queueName: c, opts: { jobId: '12' } }] }),
    { message: 'Custom Id cannot be integers' },
  );
  await assert.rejects(flows.add({ name: 'root', queueName: 'a:b' }), TypeError);
  assert.deepEqual(await redis.keys(`bull:${p}:*`), []);
  assert.deepEqual(await redis.keys(`bull:${c}:*`), []);
});

test('existing jobs join a flow as BullMQ does: a completed one counts as processed', async () => {
  const { redis, names, flows, queue, worker } = await flowSetup('dup', 2);
  const [p, c] = names;
  const q = queue(c);
  await q.add('done', { v: 1 }, { jobId: 'done' });
  const w = worker(c, async () => ({ ok: 1 }));
  await waitFor(async () => (await redis.zscore(`bull:${c}:completed`, 'done')) !== null, { message: 'done completed' });
  await w.close();
  // Its only child completed already: the parent is released at the end.
  const tree = await flows.add({ name: 'root', queueName: p, children: [{ name: 'again', queueName: c, opts: { jobId: 'done' } }] });
  assert.equal(tree.children[0].job.id, 'done');
  assert.deepEqual(await redis.hgetall(`bull:${p}:${tree.job.id}:processed`), { [`bull:${c}:done`]: '{"ok":1}' });
  assert.deepEqual(await redis.lrange(`bull:${p}:wait`, 0, -1), [tree.job.id]);
  assert.equal(await redis.hget(`bull:${c}:done`, 'parentKey'), `bull:${p}:${tree.job.id}`);
  assert.ok((await eventLog(redis, 'bull', c)).includes('duplicated:done'));

  // A job owned by another live parent is not taken: the new parent is marked
  // during the insert, the mark is consumed at the end, and it keeps waiting.
  const other = await flows.add({ name: 'other', queueName: p, children: [{ name: 'mine', queueName: c, opts: { jobId: 'owned', delay: 60_000 } }] });
  const thief = await flows.add({ name: 'thief', queueName: p, children: [{ name: 'steal', queueName: c, opts: { jobId: 'owned' } }] });
  assert.equal(await redis.hget(`bull:${c}:owned`, 'parentKey'), `bull:${p}:${other.job.id}`);
  assert.equal(await redis.exists(`bull:${p}:${thief.job.id}:dependencies`), 0);
  assert.equal(await redis.hget(`bull:${p}:${thief.job.id}`, 'flowAttachmentFailed'), null);
  assert.notEqual(await redis.zscore(`bull:${p}:waiting-children`, thief.job.id), null);
});

test('Queue.add and addBulk with `parent` attach jobs to an existing parent', async () => {
  const { redis, names, flows, queue } = await flowSetup('attach', 2);
  const [p, c] = names;
  const tree = await flows.add({ name: 'root', queueName: p, children: [{ name: 'first', queueName: c, opts: { delay: 60_000 } }] });
  const q = queue(c);
  const parent = { id: tree.job.id, queue: `bull:${p}` };
  const one = await q.add('late', { v: 1 }, { parent, removeDependencyOnFailure: true });
  const bulk = await q.addBulk([
    { name: 'b1', data: {}, opts: { parent } },
    { name: 'b2', data: {}, opts: { parent, continueParentOnFailure: true } },
  ]);
  assert.equal(one.parentKey, `bull:${p}:${tree.job.id}`);
  assert.deepEqual(one.parent, { id: tree.job.id, queueKey: `bull:${p}`, rdof: true });
  assert.deepEqual(JSON.parse(await redis.hget(`bull:${c}:${bulk[1].id}`, 'parent')), { id: tree.job.id, queueKey: `bull:${p}`, cpof: true });
  const deps = await redis.smembers(`bull:${p}:${tree.job.id}:dependencies`);
  assert.deepEqual(deps.sort(), [tree.children[0].job.id, one.id, bulk[0].id, bulk[1].id].map((id) => `bull:${c}:${id}`).sort());
  // The parent stays where it is (a plain add does not move it).
  assert.notEqual(await redis.zscore(`bull:${p}:waiting-children`, tree.job.id), null);
  await assert.rejects(q.add('orphan', {}, { parent: { id: 'nope', queue: `bull:${p}` } }), {
    message: `Missing key for parent job bull:${p}:nope. addJob`,
  });
});

test('a lone node is added as Queue.add adds it, with a generated id', async () => {
  const { redis, names, flows } = await flowSetup('lone', 1);
  const [c] = names;
  const node = await flows.add({ name: 'solo', queueName: c, data: { s: 1 }, opts: { priority: 2 } });
  assert.equal(node.children, undefined);
  assert.match(node.job.id, UUID);
  const keys = await dumpKeys(redis, 'bull', c);
  assert.deepEqual(keys[node.job.id].opts, { attempts: 0, priority: 2 });
  assert.deepEqual(keys.prioritized, [[node.job.id, String(2 * 2 ** 32 + 1)]]);
  assert.deepEqual(keys.events.map((e) => e.event), ['added', 'waiting']);
});

test('waitUntilReady, close, and connection errors', async () => {
  const { names, flows } = await flowSetup('life', 1);
  await flows.waitUntilReady();
  const closed = new FlowProducer({ connection: flows.opts.connection });
  await closed.waitUntilReady();
  await closed.close();
  assert.equal(await closed.add({ name: 'x', queueName: names[0] }), undefined);
  assert.equal(await closed.getFlow({ id: 'x', queueName: names[0] }), undefined);

  const bad = new FlowProducer({ connection: { host: '127.0.0.1', port: 1, connectTimeout: 500 } });
  const error = new Promise((resolve) => bad.on('error', resolve));
  await assert.rejects(bad.waitUntilReady());
  assert.ok((await error) instanceof Error);
  await bad.close();
});
