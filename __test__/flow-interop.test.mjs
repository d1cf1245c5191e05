// Flows shared with the official bullmq 6.7 on one Redis: flows added by
// either FlowProducer are processed by the other side's workers (and by mixed
// fleets), getFlow agrees from both sides, and the keys and fields written for
// the same flow by 6.7 and by us are the same, field by field (values that
// differ by nature, timestamps, left out).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import * as bullmq from 'bullmq';
import { FlowProducer, Worker } from 'bullmq-native';

import { closeAfter, dumpKeys } from './support/flows.mjs';
import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';

const official = [];
after(() => Promise.all(official.reverse().map((c) => c.close().catch(() => undefined))));
const theirs = (c) => {
  official.push(c);
  return c;
};

/** A tree of names, data and returned values read by getFlow (children sorted by id). */
function shape(node) {
  if (!node) return null;
  const { job } = node;
  const out = { id: job.id, name: job.name, data: job.data, returnvalue: job.returnvalue ?? null, parentKey: job.parentKey ?? null };
  if (node.children) out.children = node.children.map(shape).sort((a, b) => (a?.id ?? '').localeCompare(b?.id ?? ''));
  return out;
}

/** A flow over three queues (one in another prefix), three levels deep. */
function flowOf([p, c, d], tag = '') {
  return {
    name: 'root',
    queueName: p,
    data: { root: true },
    children: [
      { name: 'c1', queueName: c, data: { n: 1 } },
      { name: 'c2', queueName: d, prefix: '{alt}', data: { n: 2 }, children: [{ name: 'g1', queueName: c, data: { n: 3 } }] },
      { name: `c3${tag}`, queueName: c, data: { n: 4 }, opts: { priority: 2 } },
    ],
  };
}

async function processWith(Impl, [p, c, d], conn) {
  const make = (name, fn, opts = {}) => {
    const w = new Impl(name, fn, { connection: conn, ...opts });
    return Impl === Worker ? closeAfter(w) : theirs(w);
  };
  make(c, async (job) => ({ doubled: job.data.n * 2 }));
  make(d, async (job) => ({ kids: await job.getChildrenValues() }), { prefix: '{alt}' });
  return new Promise((resolve) => {
    const w = make(p, async (job) => ({ all: await job.getChildrenValues() }));
    w.on('completed', (job, value) => resolve(value));
  });
}

function expectedValues(tree, [p, c, d]) {
  const [c1, c2, c3] = tree.children;
  return {
    all: {
      [`bull:${c}:${c1.job.id}`]: { doubled: 2 },
      [`{alt}:${d}:${c2.job.id}`]: { kids: { [`bull:${c}:${c2.children[0].job.id}`]: { doubled: 6 } } },
      [`bull:${c}:${c3.job.id}`]: { doubled: 8 },
    },
  };
}

test('a flow added by the official FlowProducer is processed by our workers; getFlow agrees', async () => {
  const conn = await connection();
  const names = [queueName('oi-p'), queueName('oi-c'), queueName('oi-d')];
  const ofp = theirs(new bullmq.FlowProducer({ connection: conn }));
  const fp = closeAfter(new FlowProducer({ connection: conn }));
  const tree = await ofp.add(flowOf(names));
  assert.deepEqual(shape(await fp.getFlow({ id: tree.job.id, queueName: names[0] })), shape(await ofp.getFlow({ id: tree.job.id, queueName: names[0] })));
  const value = await processWith(Worker, names, conn);
  assert.deepEqual(value, expectedValues(tree, names));
  await waitFor(async () => (await fp.getFlow({ id: tree.job.id, queueName: names[0] })).job.returnvalue, { message: 'parent returned' });
  const ours = shape(await fp.getFlow({ id: tree.job.id, queueName: names[0] }));
  assert.deepEqual(ours, shape(await ofp.getFlow({ id: tree.job.id, queueName: names[0] })));
  assert.deepEqual(ours.returnvalue, value);
  assert.equal(ours.children.length, 3);
});

test('a flow added by our FlowProducer is processed by official workers; getFlow agrees', async () => {
  const conn = await connection();
  const names = [queueName('io-p'), queueName('io-c'), queueName('io-d')];
  const ofp = theirs(new bullmq.FlowProducer({ connection: conn }));
  const fp = closeAfter(new FlowProducer({ connection: conn }));
  const tree = await fp.add(flowOf(names));
  const read = (p, depth) => p.getFlow({ id: tree.job.id, queueName: names[0], depth });
  assert.deepEqual(shape(await read(ofp)), shape(await read(fp)));
  assert.deepEqual(shape(await read(ofp, 2)), shape(await read(fp, 2)));
  const value = await processWith(bullmq.Worker, names, conn);
  assert.deepEqual(value, expectedValues(tree, names));
  await waitFor(async () => (await read(ofp)).job.returnvalue, { message: 'parent returned' });
  assert.deepEqual(shape(await read(fp)), shape(await read(ofp)));
});

test('mixed fleets on the children\'s queues finish flows of both producers', async () => {
  const conn = await connection();
  const [p, c] = [queueName('mix-p'), queueName('mix-c')];
  const ofp = theirs(new bullmq.FlowProducer({ connection: conn }));
  const fp = closeAfter(new FlowProducer({ connection: conn }));
  const kids = (tag) => Array.from({ length: 15 }, (_, i) => ({ name: `${tag}${i}`, queueName: c, data: { i } }));
  const trees = [
    ...(await fp.addBulk([{ name: 'ours-a', queueName: p, children: kids('a') }, { name: 'ours-b', queueName: p, children: kids('b') }])),
    await ofp.add({ name: 'theirs', queueName: p, children: kids('t') }),
  ];
  const by = { ours: 0, theirs: 0 };
  const work = (who) => async (job) => {
    by[who] += 1;
    await new Promise((r) => setTimeout(r, 5));
    return job.data.i;
  };
  closeAfter(new Worker(c, work('ours'), { connection: conn, concurrency: 3 }));
  theirs(new bullmq.Worker(c, work('theirs'), { connection: conn, concurrency: 3 }));
  const results = new Map();
  const collect = (job, value) => results.set(job.name, value);
  closeAfter(new Worker(p, async (job) => Object.keys(await job.getChildrenValues()).length, { connection: conn })).on('completed', collect);
  theirs(new bullmq.Worker(p, async (job) => Object.keys(await job.getChildrenValues()).length, { connection: conn })).on('completed', collect);
  await waitFor(() => results.size === 3, { message: 'all parents completed', timeout: 30000 });
  assert.deepEqual(Object.fromEntries(results), { 'ours-a': 15, 'ours-b': 15, theirs: 15 });
  assert.equal(by.ours + by.theirs, 45);
  assert.ok(by.ours > 0 && by.theirs > 0, JSON.stringify(by));
  const redis = await rawClient();
  for (const t of trees) assert.notEqual(await redis.zscore(`bull:${p}:completed`, t.job.id), null);
});

test('child failure flags cross over: one side fails the child, the other side its parent', async () => {
  const conn = await connection();
  const [p, c, p2, c2] = [queueName('fx-p'), queueName('fx-c'), queueName('fx-p2'), queueName('fx-c2')];
  const redis = await rawClient();
  const fp = closeAfter(new FlowProducer({ connection: conn }));
  const ofp = theirs(new bullmq.FlowProducer({ connection: conn }));
  const boom = async (job) => {
    if (job.name.startsWith('bad')) throw new Error(`boom ${job.name}`);
    return job.name;
  };
  // Official child worker, our parent worker.
  const one = await ofp.add({ name: 'p', queueName: p, children: [{ name: 'bad', queueName: c, opts: { failParentOnFailure: true } }, { name: 'bad-ign', queueName: c, opts: { ignoreDependencyOnFailure: true } }] });
  theirs(new bullmq.Worker(c, boom, { connection: conn }));
  closeAfter(new Worker(p, async () => 'ran', { connection: conn }));
  // Our child worker, official parent worker.
  const two = await fp.add({ name: 'p', queueName: p2, children: [{ name: 'bad', queueName: c2, opts: { failParentOnFailure: true } }, { name: 'ok', queueName: c2, opts: { continueParentOnFailure: true } }] });
  closeAfter(new Worker(c2, boom, { connection: conn }));
  const ow = theirs(new bullmq.Worker(p2, async () => 'ran', { connection: conn }));
  const officialFailed = new Promise((resolve) => ow.on('failed', (job, err) => resolve(err.message)));
  for (const [q, tree, child] of [[p, one, c], [p2, two, c2]]) {
    await waitFor(async () => (await redis.zscore(`bull:${q}:failed`, tree.job.id)) !== null, { message: `${q} parent failed` });
    const bad = tree.children.find((n) => n.job.name === 'bad').job;
    assert.equal(await redis.hget(`bull:${q}:${tree.job.id}`, 'failedReason'), `child bull:${child}:${bad.id} failed`);
    assert.deepEqual(await redis.zrange(`bull:${q}:${tree.job.id}:unsuccessful`, 0, -1), [`bull:${child}:${bad.id}`]);
  }
  assert.equal(await officialFailed, `child bull:${c2}:${two.children[0].job.id} failed`);
  assert.equal(await redis.hget(`bull:${p}:${one.job.id}:failed`, `bull:${c}:${one.children[1].job.id}`), 'boom bad-ign');
});

// ---- The same flow written by both sides ---------------------------------

/** A dump made comparable: queue names and times replaced, JSON fields parsed. */
function normalized(dump, replacements) {
  let text = JSON.stringify(dump);
  for (const [from, to] of replacements) text = text.split(from).join(to);
  return JSON.parse(text, (k, v) => {
    if (typeof v === 'string' && /^1\d{12}$/.test(v)) return 'T';
    if (typeof v === 'string' && /^\d{16,}(\.\d+)?$/.test(v)) return 'S';
    if (['timestamp', 'processedOn', 'finishedOn'].includes(k)) return 'T';
    return v;
  });
}

function sameFlows(tag) {
  const make = (qs) => [
    {
      name: 'root',
      queueName: qs[0],
      data: { r: 1 },
      opts: { jobId: `${tag}-root`, priority: 3, attempts: 2 },
      children: [
        { name: 'c1', queueName: qs[1], data: { x: 1 }, opts: { jobId: `${tag}-c1`, removeOnComplete: true } },
        {
          name: 'c2',
          queueName: qs[1],
          data: { x: 2 },
          opts: { jobId: `${tag}-c2`, failParentOnFailure: true, delay: 5000 },
          children: [{ name: 'bad-g', queueName: qs[1], data: {}, opts: { jobId: `${tag}-g`, lifo: true, continueParentOnFailure: true } }],
        },
        { name: 'c3', queueName: qs[2], prefix: '{cmp}', data: { x: 3 }, opts: { jobId: `${tag}-c3`, priority: 2, ignoreDependencyOnFailure: true } },
      ],
    },
    { name: 'second', queueName: qs[0], opts: { jobId: `${tag}-second` }, children: [{ name: 'k', queueName: qs[1], opts: { jobId: `${tag}-k`, removeDependencyOnFailure: true } }] },
  ];
  return make;
}

/** Finishes what is runnable in a queue with a manual worker: `bad*` fails, the rest completes. */
async function drainManually(Impl, name, conn, prefix = 'bull') {
  const w = new Impl(name, null, { connection: conn, prefix, autorun: false });
  if (Impl === Worker) closeAfter(w);
  else theirs(w);
  const token = 'tok';
  for (let job = await w.getNextJob(token, { block: false }); job; job = await w.getNextJob(token, { block: false })) {
    if (job.name.startsWith('bad')) {
      const err = new Error(`boom ${job.name}`);
      err.stack = 'Error: boom\n    at fixed';
      await job.moveToFailed(err, token, false);
    } else {
      await job.moveToCompleted({ from: job.name }, token, false);
    }
  }
}

test('the same flows are written and finished field by field as by bullmq 6.7', async () => {
  const conn = await connection();
  const redis = await rawClient();
  const sides = [
    { label: 'O', names: [queueName('cmpo-p'), queueName('cmpo-c'), queueName('cmpo-d')], fp: theirs(new bullmq.FlowProducer({ connection: conn })), Impl: bullmq.Worker },
    { label: 'N', names: [queueName('cmpn-p'), queueName('cmpn-c'), queueName('cmpn-d')], fp: closeAfter(new FlowProducer({ connection: conn })), Impl: Worker },
  ];
  const dumps = async (side, tag) => {
    const [p, c, d] = side.names;
    const out = {
      p: await dumpKeys(redis, 'bull', p),
      c: await dumpKeys(redis, 'bull', c),
      d: await dumpKeys(redis, '{cmp}', d),
    };
    return normalized(out, [...side.names.map((n, i) => [n, `Q${i}`]), [`${tag}-`, 'q-']]);
  };
  const states = [];
  for (const side of sides) {
    const tag = `side${side.label}`;
    const [first, second] = sameFlows(tag)(side.names);
    await side.fp.add(first, { queuesOptions: { [side.names[1]]: { defaultJobOptions: { attempts: 1 } } } });
    await side.fp.addBulk([second]);
    const added = await dumps(side, tag);
    // Children first, then the parents they released.
    await drainManually(side.Impl, side.names[1], conn);
    await drainManually(side.Impl, side.names[2], conn, '{cmp}');
    await drainManually(side.Impl, side.names[0], conn);
    states.push({ added, finished: await dumps(side, tag) });
  }
  const [o, n] = states;
  for (const q of ['p', 'c', 'd']) {
    assert.deepEqual(n.added[q], o.added[q], `queue ${q} after the insert`);
    assert.deepEqual(n.finished[q], o.finished[q], `queue ${q} after processing`);
  }
  // The comparison covered the flow's moves.
  assert.ok(o.finished.p['q-second'].finishedOn, 'second parent finished');
  assert.ok(o.finished.c['q-g'].failedReason);
  assert.ok(Object.keys(o.added.p).includes('q-root:dependencies'));
  // c2 was released by its continueParentOnFailure child, into its delay.
  assert.deepEqual(o.finished.c.delayed.map(([id]) => id), ['q-c2']);
  assert.ok(o.finished.c['q-c2:failed']);
});
