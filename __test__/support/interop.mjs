// Interop with the official `bullmq` package, both directions, on one Redis.
// One suite, run once per official major version (interop-bullmq6.test.mjs,
// interop-bullmq5.test.mjs) with that version's module.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Job, Queue, Worker } from 'bullmq-native';

import { dumpKeys } from './dump.mjs';
import { connection, queueName, rawClient, waitFor } from './redis.mjs';

/** Job options of the add variants both directions use. */
export const VARIANTS = [
  ['plain1', { i: 1 }, {}],
  ['plain2', { i: 2, nested: { list: [1, 'two', null], s: 'a/b "q"' } }, {}],
  ['lifo', { i: 3 }, { lifo: true }],
  ['p5', { i: 4 }, { priority: 5 }],
  ['p1', { i: 5 }, { priority: 1 }],
  ['custom', { i: 6 }, { jobId: 'custom-id' }],
  ['retry', { i: 7 }, { attempts: 3, backoff: { type: 'exponential', delay: 100 } }],
  ['roc', { i: 8 }, { removeOnComplete: true }],
];
/** The order a single worker takes them in: wait from its tail (lifo first), then by priority. */
export const FETCH_ORDER = ['lifo', 'plain1', 'plain2', 'custom', 'retry', 'roc', 'p1', 'p5'];

/** Official job counts; 5.x adds `paused` (with `waiting`), which must be 0 here. */
async function counts(officialQueue) {
  const { paused = 0, ...rest } = await officialQueue.getJobCounts(
    'completed', 'waiting', 'active', 'delayed', 'prioritized', 'failed',
  );
  assert.equal(paused, 0);
  return rest;
}

/** Registers the interop tests against one official package. */
export function interopSuite(official, label) {
  const { Queue: OQueue, Worker: OWorker, QueueEvents, Job: OJob } = official;
  const version = official.version ?? label;
  const closers = [];
  after(async () => {
    for (const c of closers.reverse()) await c.close();
  });
  const track = (...objs) => {
    closers.push(...objs);
    return objs[0];
  };
  const name = (what) => queueName(`${label}-${what}`);

  test(`${label}: official adds are processed by our manual worker in order, official getters agree`, async () => {
    const conn = await connection();
    const qname = name('in');
    const oq = track(new OQueue(qname, { connection: conn }));
    const worker = track(new Worker(qname, null, { connection: conn, name: 'ours' }));
    const added = {};
    for (const [n, data, opts] of VARIANTS) added[n] = await oq.add(n, data, opts);
    const later = await oq.add('later', { i: 9 }, { delay: 3_600_000 });

    const token = 'our-token';
    const seen = [];
    let job = await worker.getNextJob(token);
    while (job) {
      seen.push(job);
      if (seen.length === 1) {
        assert.equal(await oq.getJobState(job.id), 'active');
        assert.deepEqual((await oq.getActive()).map((j) => j.id), [job.id]);
      }
      const next = await job.moveToCompleted({ done: job.name, data: job.data }, token, true);
      job = next[0] ? Job.fromJSON(worker, next[0], next[1]) : undefined;
    }
    assert.deepEqual(seen.map((j) => j.name), FETCH_ORDER);
    for (const j of seen) {
      const [, data, opts] = VARIANTS.find(([n]) => n === j.name);
      assert.equal(j.id, added[j.name].id);
      assert.deepEqual(j.data, data);
      assert.equal(j.attemptsStarted, 1);
      assert.equal(j.timestamp, added[j.name].timestamp);
      assert.equal(j.priority, opts.priority ?? 0);
      for (const [k, v] of Object.entries(opts)) assert.deepEqual(j.opts[k], v, `${j.name} opts.${k}`);
    }
    assert.equal(seen.find((j) => j.name === 'custom').id, 'custom-id');

    // The delayed job is not due: nothing to fetch until it is promoted.
    assert.equal(await worker.getNextJob(token, { block: false }), undefined);
    assert.equal(await oq.getJobState(later.id), 'delayed');
    await later.promote();
    const promoted = await worker.getNextJob(token, { block: false });
    assert.equal(promoted?.id, later.id);
    await promoted.moveToCompleted('late', token, false);

    assert.deepEqual(await counts(oq), { completed: 8, waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0 });
    for (const j of seen) {
      const o = await oq.getJob(j.id);
      if (j.name === 'roc') {
        assert.equal(o, undefined, 'removeOnComplete removed it');
        continue;
      }
      assert.deepEqual(o.returnvalue, { done: j.name, data: j.data });
      assert.equal(o.attemptsMade, 1);
      assert.equal(o.processedOn, j.processedOn);
      assert.ok(o.finishedOn >= o.processedOn);
      assert.equal(o.processedBy, 'ours');
      assert.equal(await oq.getJobState(j.id), 'completed');
    }
    const completedIds = (await oq.getCompleted()).map((j) => j.id).sort();
    const expected = [...seen.filter((j) => j.name !== 'roc').map((j) => j.id), later.id].sort();
    assert.deepEqual(completedIds, expected);
  });

  test(`${label}: an official delayed add is fetched by our worker only once due`, async () => {
    const conn = await connection();
    const qname = name('delay-in');
    const oq = track(new OQueue(qname, { connection: conn }));
    const worker = track(new Worker(qname, null, { connection: conn, drainDelay: 5 }));
    const job = await oq.add('soon', { s: 1 }, { delay: 300 });
    const got = await waitFor(() => worker.getNextJob('t'), { message: 'the delayed job' });
    assert.equal(got.id, job.id);
    assert.ok(got.processedOn >= job.timestamp + 300, 'not processed before it was due');
    assert.equal(got.delay, 0, 'promotion resets the delay field');
    await got.moveToCompleted(1, 't', false);
    assert.equal(await oq.getJobState(job.id), 'completed');
  });

  test(`${label}: our adds are processed by the official Worker with their options`, async () => {
    const conn = await connection();
    const qname = name('out');
    const queue = track(new Queue(qname, { connection: conn }));
    const oq = track(new OQueue(qname, { connection: conn }));
    const variants = VARIANTS.map(([n, data, opts]) =>
      n === 'retry' ? [n, data, { attempts: 2, backoff: 50 }] : [n, data, opts],
    );
    const bulk = await queue.addBulk(variants.slice(0, 4).map(([n, data, opts]) => ({ name: n, data, opts })));
    const single = [];
    for (const [n, data, opts] of variants.slice(4)) single.push(await queue.add(n, data, opts));
    const soon = await queue.add('soon', { s: 1 }, { delay: 300 });
    const ids = Object.fromEntries([...bulk, ...single, soon].map((j) => [j.name, j.id]));

    const starts = [];
    const completed = new Set();
    const oworker = new OWorker(
      qname,
      async (job) => {
        starts.push(job.name);
        if (job.name === 'retry' && job.attemptsMade === 0) throw new Error('first attempt fails');
        return { name: job.name, data: job.data, opts: job.opts, processedOn: job.processedOn };
      },
      { connection: conn, drainDelay: 1, name: 'official' },
    );
    track(oworker);
    oworker.on('completed', (job) => completed.add(job.name));
    await waitFor(() => completed.size === variants.length + 1, { message: 'all jobs completed' });

    const firstStarts = starts.filter((n, i) => n !== 'soon' && starts.indexOf(n) === i);
    assert.deepEqual(firstStarts, FETCH_ORDER);
    assert.deepEqual(starts.filter((n) => n === 'retry'), ['retry', 'retry'], 'retried once: attempts 2');
    for (const [n, data, opts] of [...variants, ['soon', { s: 1 }, { delay: 300 }]]) {
      const ours = await queue.getJob(ids[n]);
      const theirs = await oq.getJob(ids[n]);
      if (n === 'roc') {
        assert.equal(ours, undefined);
        assert.equal(theirs, undefined);
        continue;
      }
      assert.deepEqual(theirs.returnvalue.data, data);
      assert.deepEqual(ours.returnvalue, theirs.returnvalue);
      const expectOpts = opts.backoff === 50 ? { ...opts, backoff: { type: 'fixed', delay: 50 } } : opts;
      for (const [k, v] of Object.entries(expectOpts)) assert.deepEqual(theirs.returnvalue.opts[k], v, `${n} opts.${k}`);
      assert.equal(await oq.getJobState(ids[n]), 'completed');
      assert.equal(theirs.processedBy, 'official');
    }
    const retried = await oq.getJob(ids.retry);
    assert.equal(retried.attemptsMade, 2);
    assert.equal(retried.stacktrace.length, 1);
    assert.equal(retried.failedReason, 'first attempt fails');
    const soonJob = await oq.getJob(ids.soon);
    assert.ok(soonJob.processedOn >= soon.timestamp + 300, 'the delay was honoured');
    assert.deepEqual(await counts(oq), { completed: variants.length, waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0 });
  });

  test(`${label}: official QueueEvents sees the events of jobs we add and finish`, async () => {
    const conn = await connection();
    const qname = name('events');
    const qe = track(new QueueEvents(qname, { connection: conn, lastEventId: '0-0', blockingTimeout: 1000 }));
    const queue = track(new Queue(qname, { connection: conn }));
    const worker = track(new Worker(qname, null, { connection: conn }));
    const oq = track(new OQueue(qname, { connection: conn }));
    const events = [];
    for (const ev of ['added', 'waiting', 'active', 'completed', 'delayed', 'drained']) {
      qe.on(ev, (args) => events.push([ev, typeof args === 'object' ? { ...args } : args]));
    }
    await qe.waitUntilReady();

    const job = await queue.add('e1', { x: 1 });
    const delayed = await queue.add('e2', {}, { delay: 60_000 });
    const fetched = await worker.getNextJob('t');
    assert.equal(fetched.id, job.id);
    const theirJob = await oq.getJob(job.id);
    const finished = theirJob.waitUntilFinished(qe);
    await fetched.moveToCompleted({ ok: [1, 2] }, 't', false);
    assert.deepEqual(await finished, { ok: [1, 2] });

    await waitFor(() => events.some(([ev]) => ev === 'drained'), { message: 'the drained event' });
    const find = (ev, id) => events.find(([e, a]) => e === ev && a.jobId === id)?.[1];
    assert.deepEqual(find('added', job.id), { jobId: job.id, name: 'e1' });
    assert.deepEqual(find('waiting', job.id), { jobId: job.id });
    assert.deepEqual(find('active', job.id), { jobId: job.id, prev: 'waiting' });
    assert.deepEqual(find('completed', job.id), { jobId: job.id, returnvalue: { ok: [1, 2] }, prev: 'active' });
    assert.deepEqual(find('added', delayed.id), { jobId: delayed.id, name: 'e2' });
    assert.deepEqual(find('delayed', delayed.id), { jobId: delayed.id, delay: delayed.timestamp + 60_000 });
    assert.deepEqual(
      events.map(([ev, a]) => [ev, a.jobId]).filter(([ev]) => ev !== 'drained'),
      [
        ['added', job.id],
        ['waiting', job.id],
        ['added', delayed.id],
        ['delayed', delayed.id],
        ['active', job.id],
        ['completed', job.id],
      ],
    );
  });

  test(`${label}: the official Job reads our hashes at every stage`, async () => {
    const conn = await connection();
    const qname = name('read');
    const queue = track(new Queue(qname, { connection: conn }));
    const worker = track(new Worker(qname, null, { connection: conn, name: 'reader' }));
    const oq = track(new OQueue(qname, { connection: conn }));
    const redis = await rawClient();
    const opts = { attempts: 2, backoff: 1000, priority: 3, telemetry: { metadata: 'meta', omitContext: true } };
    const ours = await queue.add('read', { deep: { a: [1] } }, opts);
    const read = async () => {
      const viaGet = await oq.getJob(ours.id);
      // What the official worker does with a fetch reply: decode it (5.x keeps
      // the raw hash, 6.x decodes it), then Job.fromJSON.
      const flat = Object.entries(await redis.hgetall(`bull:${qname}:${ours.id}`)).flat();
      const [json] = official.raw2NextJobData([flat, ours.id, 0, 0]);
      const viaJson = OJob.fromJSON(oq, json, ours.id);
      for (const k of ['name', 'data', 'opts', 'progress', 'attemptsMade', 'attemptsStarted', 'timestamp', 'processedOn', 'finishedOn', 'returnvalue']) {
        assert.deepEqual(viaJson[k], viaGet[k], k);
      }
      return viaGet;
    };

    let j = await read();
    assert.equal(j.id, ours.id);
    assert.equal(j.name, 'read');
    assert.deepEqual(j.data, { deep: { a: [1] } });
    assert.equal(j.progress, 0);
    assert.equal(j.attemptsMade, 0);
    assert.equal(j.attemptsStarted, 0);
    assert.equal(j.timestamp, ours.timestamp);
    assert.equal(j.delay, 0);
    assert.equal(j.priority, 3);
    assert.equal(j.processedOn, undefined);
    assert.equal(j.finishedOn, undefined);
    assert.equal(j.opts.attempts, 2);
    assert.deepEqual(j.opts.backoff, { type: 'fixed', delay: 1000 });
    assert.deepEqual(j.opts.telemetry, { metadata: 'meta', omitContext: true });

    const fetched = await worker.getNextJob('t');
    j = await read();
    assert.equal(j.attemptsStarted, 1);
    assert.equal(j.processedOn, fetched.processedOn);
    assert.equal(j.processedBy, 'reader');
    assert.equal(j.attemptsMade, 0);

    await fetched.moveToCompleted({ result: 'x' }, 't', false);
    j = await read();
    assert.equal(j.attemptsMade, 1);
    assert.deepEqual(j.returnvalue, { result: 'x' });
    assert.ok(j.finishedOn >= j.processedOn);
    assert.equal(await j.isCompleted(), true);

    // And the other way: our Job reads an official hash with telemetry.
    const theirs = await oq.add('t', {}, { telemetry: { metadata: 'm2', omitContext: false } });
    const mine = await queue.getJob(theirs.id);
    assert.deepEqual(mine.opts.telemetry, { metadata: 'm2', omitContext: false });
  });

  test(`${label}: our add writes the keys and fields the official add writes`, async () => {
    const conn = await connection();
    const redis = await rawClient();
    const theirName = name('layout-o');
    const ourName = name('layout-n');
    const oq = track(new OQueue(theirName, { connection: conn }));
    const queue = track(new Queue(ourName, { connection: conn }));
    const T = 1_700_000_000_000;
    const inputs = [
      ...VARIANTS,
      ['delayed', { d: 1 }, { delay: 5000 }],
      ['delayed-same-ms', { d: 2 }, { delay: 5000 }],
      ['delayed-prio', { d: 3 }, { delay: 1000, priority: 2 }],
      ['zeros', {}, { delay: 0, priority: 0, lifo: false, attempts: 0 }],
      ['numeric-backoff', {}, { attempts: 4, backoff: 2000 }],
      ['keep', {}, { removeOnComplete: { count: 2, age: 60 }, removeOnFail: { age: 5 }, keepLogs: 3 }],
      ['misc', {}, { stackTraceLimit: 5, sizeLimit: 100000, failParentOnFailure: true, removeDependencyOnFailure: false }],
      ['telemetry', {}, { telemetry: { metadata: 'meta', omitContext: true } }],
      ['unknown-keys', { u: 'ü€' }, { foo: 'bar', nested: { a: [1, 2], b: { c: 'd' } } }],
      ['slash', { url: 'a/b' }, { jobId: 'x/y' }],
      ['null-opts', {}, { priority: null, delay: null }],
      ['undefined-data', undefined, {}],
      ['duplicate', { again: true }, { jobId: 'custom-id' }],
    ].map(([n, data, opts]) => [n, data, { timestamp: T, ...opts }]);
    for (const [n, data, opts] of inputs) await oq.add(n, data, opts);
    for (const [n, data, opts] of inputs) await queue.add(n, data, opts);
    const bulk = inputs.slice(0, 3).map(([n, data, opts]) => ({ name: n, data, opts }));
    await oq.addBulk(bulk);
    await queue.addBulk(bulk);
    // And without an explicit timestamp: the same, up to the clock.
    await oq.add('now', { n: 1 });
    await queue.add('now', { n: 1 });

    const theirs = await dumpKeys(redis, 'bull', theirName);
    const ours = await dumpKeys(redis, 'bull', ourName);
    // Each Queue constructor records its own library and version in meta.
    assert.match(theirs.meta.version, /^bullmq:/);
    assert.match(ours.meta.version, /^bullmq-native:/);
    delete theirs.meta.version;
    delete ours.meta.version;
    const lastId = theirs.id;
    for (const dump of [theirs, ours]) {
      assert.ok(dump[lastId].timestamp > T);
      dump[lastId].timestamp = '<now>';
    }
    assert.deepEqual(ours, theirs);
    assert.ok(theirs['custom-id'] && theirs.prioritized && theirs.delayed && theirs.marker, 'the inputs covered every structure');
  });

  test(`${label}: a finish with fetch-next on a paused queue emits no drained event`, async () => {
    const conn = await connection();
    const qname = name('paused');
    const oq = track(new OQueue(qname, { connection: conn }));
    const queue = track(new Queue(qname, { connection: conn }));
    const worker = track(new Worker(qname, null, { connection: conn }));
    const redis = await rawClient();
    await queue.add('only', {});
    const job = await worker.getNextJob('t');
    await oq.pause();
    // No job while paused: 6.7's [null, 0, rateLimitDelay, nextDelayed].
    assert.deepEqual(await job.moveToCompleted('r', 't', true), [null, 0, 0, 0]);
    const events = (await redis.xrange(`bull:${qname}:events`, '-', '+')).map(([, f]) => f[1]);
    assert.equal(events.at(-1), 'completed');
    assert.ok(!events.includes('drained'), `no drained while paused: ${events}`);
    // Resumed and empty, the next finish reports drained as BullMQ does.
    await oq.resume();
    await queue.add('two', {});
    const two = await worker.getNextJob('t', { block: false });
    await two.moveToCompleted('r', 't', true);
    const after = (await redis.xrange(`bull:${qname}:events`, '-', '+')).map(([, f]) => f[1]);
    assert.equal(after.at(-1), 'drained');
  });

  test(`${label}: a job finished by our worker and one by the official worker leave the same keys`, async () => {
    const conn = await connection();
    const redis = await rawClient();
    const theirName = name('fin-o');
    const ourName = name('fin-n');
    const T = 1_700_000_000_000;
    const inputs = [
      ['a', { n: 1 }, { timestamp: T }],
      ['b', { n: 2 }, { timestamp: T, removeOnComplete: true }],
      ['c', { n: 3 }, { timestamp: T, removeOnComplete: 1 }],
      ['d', { n: 4 }, { timestamp: T, priority: 3 }],
      ['e', { n: 5 }, { timestamp: T, attempts: 3 }],
    ];
    const oq = track(new OQueue(theirName, { connection: conn }));
    const queue = track(new Queue(ourName, { connection: conn }));
    for (const [n, data, opts] of inputs) await oq.add(n, data, opts);
    for (const [n, data, opts] of inputs) await queue.add(n, data, opts);

    let done = 0;
    const oworker = track(
      new OWorker(theirName, async (job) => ({ r: job.data.n }), { connection: conn, drainDelay: 1, name: 'same' }),
    );
    oworker.on('completed', () => (done += 1));
    await waitFor(() => done === inputs.length, { message: 'the official worker to finish' });

    const worker = track(new Worker(ourName, null, { connection: conn, name: 'same' }));
    let job = await worker.getNextJob('t');
    while (job) {
      const next = await job.moveToCompleted({ r: job.data.n }, 't', true);
      job = next[0] ? Job.fromJSON(worker, next[0], next[1]) : undefined;
    }
    await oworker.close();

    const normalize = (dump) => {
      delete dump.meta.version;
      delete dump['stalled-check']; // the official worker's stalled checker
      delete dump.marker; // consumed or not by an idle official worker
      for (const value of Object.values(dump)) {
        if (value && value.processedOn) value.processedOn = '<t>';
        if (value && value.finishedOn) value.finishedOn = '<t>';
      }
      // Jobs finishing in the same millisecond tie on score: compare the set.
      dump.completed = dump.completed.map(([id]) => id).sort();
      return dump;
    };
    const theirs = normalize(await dumpKeys(redis, 'bull', theirName));
    const ours = normalize(await dumpKeys(redis, 'bull', ourName));
    assert.deepEqual(ours, theirs);
    assert.equal(theirs.events.at(-1).event, 'drained');
  });

  test(`${label}: the official Queue#getWorkers lists our workers`, async () => {
    const conn = await connection();
    const qname = name('workers');
    const oq = track(new OQueue(qname, { connection: conn }));
    const named = track(new Worker(qname, null, { connection: conn, name: 'named' }));
    const unnamed = track(new Worker(qname, null, { connection: conn }));
    await Promise.all([named.waitUntilReady(), unnamed.waitUntilReady()]);
    const b64 = Buffer.from(qname).toString('base64');
    const workers = await oq.getWorkers();
    assert.deepEqual(workers.map((w) => w.rawname).sort(), [`bull:${b64}`, `bull:${b64}:w:named`]);
    assert.deepEqual(workers.map((w) => w.name), [qname, qname]);
  });

  return { version };
}
