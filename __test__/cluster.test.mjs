// Redis Cluster: a real six-node cluster (support/cluster.mjs). Queues with
// a hash-tagged prefix or name work through both connection forms (an
// ioredis Cluster instance, and our { cluster: { nodes } }), share queues
// with the official bullmq in both directions, and a queue whose keys would
// spread over slots is refused before anything is written.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import * as bullmq from 'bullmq';
import { FlowProducer, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq-native';

import { startCluster } from './support/cluster.mjs';
import { queueName, waitFor } from './support/redis.mjs';

let cluster;
let inspect;
const closers = [];
const track = (obj) => {
  closers.push(obj);
  return obj;
};

before(async () => {
  cluster = await startCluster();
  inspect = cluster.ioredis();
});
after(async () => {
  for (const c of closers.reverse()) await c.close().catch(() => undefined);
  await Promise.all([inspect, ...clients].map((c) => c?.quit().catch(() => undefined)));
  await cluster?.stop();
});

const clients = [];
/** An ioredis Cluster client, quit when the file ends (ours only reads it). */
const ioCluster = () => {
  const c = cluster.ioredis();
  clients.push(c);
  return c;
};

/** Our plain form. */
const plain = () => ({ cluster: { nodes: cluster.startupNodes } });

/** Keys matching `pattern` on every master. */
async function keysEverywhere(pattern) {
  const found = await Promise.all(inspect.nodes('master').map((n) => n.keys(pattern)));
  return found.flat();
}

test('cluster: Queue adds and getters, an automatic Worker and QueueEvents on a {bull} prefix', async () => {
  const name = queueName('cl');
  const prefix = '{bull}';
  const queue = track(new Queue(name, { connection: plain(), prefix }));
  const events = track(new QueueEvents(name, { connection: ioCluster(), prefix }));
  await events.waitUntilReady();
  const completed = [];
  events.on('completed', ({ jobId, returnvalue }) => completed.push([jobId, returnvalue]));

  const jobs = await queue.addBulk([1, 2, 3, 4, 5].map((i) => ({ name: 'n', data: { i } })));
  await queue.add('later', { i: 6 }, { delay: 200 });
  assert.deepEqual(await queue.getJobCounts('waiting', 'delayed'), { waiting: 5, delayed: 1 });
  assert.equal((await queue.getJob(jobs[2].id)).data.i, 3);
  assert.deepEqual((await queue.getWaiting()).map((j) => j.data.i).sort(), [1, 2, 3, 4, 5]);

  const worker = track(
    new Worker(name, async (job) => job.data.i * 10, { connection: plain(), prefix, concurrency: 2 }),
  );
  await waitFor(async () => (await queue.getJobCounts('completed')).completed === 6, {
    message: 'six completed jobs',
  });
  await waitFor(() => completed.length === 6, { message: 'six completed events' });
  assert.deepEqual(completed.map(([, v]) => Number(v)).sort((a, b) => a - b), [10, 20, 30, 40, 50, 60]);
  // The worker's blocking connection sits on the master of the queue's slot.
  const workers = await queue.getWorkers();
  assert.equal(workers.length, 1, 'getWorkers sees the worker');
  await worker.close();
});

test('cluster: a queue name in braces works with the default prefix, on its own slot', async () => {
  const name = `{${queueName('tag')}}`;
  const queue = track(new Queue(name, { connection: ioCluster() }));
  const worker = track(new Worker(name, async (job) => `done ${job.data.x}`, { connection: plain() }));
  const job = await queue.add('t', { x: 1 });
  await waitFor(async () => (await queue.getJobState(job.id)) === 'completed', { message: 'the job to complete' });
  assert.equal((await queue.getJob(job.id)).returnvalue, 'done 1');
  assert.equal(await inspect.exists(`bull:${name}:${job.id}`), 1);
  await worker.close();
});

test('cluster: a prefix and name without a hash tag are refused before anything is written', async () => {
  const name = queueName('untagged');
  const queue = track(new Queue(name, { connection: plain() }));
  await assert.rejects(queue.add('x', {}), (err) => {
    assert.match(err.message, /hash slots/);
    assert.match(err.message, /prefix: "\{bull\}"/);
    assert.match(err.message, new RegExp(`"\\{${name}\\}"`));
    return true;
  });
  const worker = track(new Worker(name, async () => undefined, { connection: plain(), autorun: false }));
  await assert.rejects(worker.waitUntilReady(), /hash tag/);
  assert.deepEqual(await keysEverywhere(`bull:${name}*`), []);
});

test('cluster: a flow within one slot completes children before the parent', async () => {
  const prefix = '{bull}';
  const parentQ = queueName('fparent');
  const childQ = queueName('fchild');
  const flows = track(new FlowProducer({ connection: plain(), prefix }));
  const order = [];
  const childWorker = track(
    new Worker(childQ, async (job) => { order.push(job.name); return job.data.v; }, { connection: plain(), prefix }),
  );
  const parentWorker = track(
    new Worker(
      parentQ,
      async (job) => {
        order.push(job.name);
        return Object.values(await job.getChildrenValues()).sort();
      },
      { connection: plain(), prefix },
    ),
  );
  const tree = await flows.add({
    name: 'parent',
    queueName: parentQ,
    children: [
      { name: 'c1', queueName: childQ, data: { v: 1 } },
      { name: 'c2', queueName: childQ, data: { v: 2 } },
    ],
  });
  const parentQueue = track(new Queue(parentQ, { connection: plain(), prefix }));
  await waitFor(async () => (await parentQueue.getJobState(tree.job.id)) === 'completed', {
    message: 'the parent to complete',
  });
  assert.deepEqual((await parentQueue.getJob(tree.job.id)).returnvalue, [1, 2]);
  assert.equal(order.at(-1), 'parent');
  // A flow that would cross slots is refused as a whole.
  await assert.rejects(
    track(new FlowProducer({ connection: plain() })).add({ name: 'p', queueName: queueName('x') }),
    /hash tag/,
  );
  await Promise.all([childWorker.close(), parentWorker.close()]);
});

test('cluster: official bullmq and ours share a queue in both directions (ioredis Cluster)', async () => {
  const prefix = '{bull}';
  // Official producer -> our worker.
  const inName = queueName('oin');
  const oq = track(new bullmq.Queue(inName, { connection: ioCluster(), prefix }));
  for (let i = 0; i < 5; i++) await oq.add('o', { i }, i === 4 ? { priority: 3 } : {});
  const seen = [];
  const ours = track(
    new Worker(inName, async (job) => { seen.push(job.data.i); return job.data.i + 100; }, {
      connection: ioCluster(),
      prefix,
    }),
  );
  await waitFor(async () => (await oq.getJobCounts('completed')).completed === 5, {
    message: 'the official jobs to complete on our worker',
  });
  assert.deepEqual(seen.sort(), [0, 1, 2, 3, 4]);
  const done = await oq.getCompleted();
  assert.deepEqual(done.map((j) => j.returnvalue).sort(), [100, 101, 102, 103, 104]);
  await ours.close();

  // Our producer -> official worker, with official QueueEvents.
  const outName = queueName('oout');
  const q = track(new Queue(outName, { connection: plain(), prefix }));
  const oevents = track(new bullmq.QueueEvents(outName, { connection: ioCluster(), prefix }));
  await oevents.waitUntilReady();
  const events = [];
  oevents.on('completed', ({ jobId }) => events.push(jobId));
  const added = await q.addBulk([0, 1, 2].map((i) => ({ name: 'ours', data: { i }, opts: { attempts: 2 } })));
  let failedOnce = false;
  const ow = track(
    new bullmq.Worker(
      outName,
      async (job) => {
        if (job.data.i === 1 && !failedOnce) {
          failedOnce = true;
          throw new Error('first attempt fails');
        }
        return job.data.i * 2;
      },
      { connection: ioCluster(), prefix },
    ),
  );
  await waitFor(async () => (await q.getJobCounts('completed')).completed === 3, {
    message: 'our jobs to complete on the official worker',
  });
  await waitFor(() => events.length === 3, { message: 'official completed events' });
  const retried = await q.getJob(added[1].id);
  assert.equal(retried.attemptsMade, 2);
  assert.equal(retried.returnvalue, 2);
  await ow.close();
});

test('cluster: queue.cancelJob reaches the worker from another connection, and a job scheduler runs', async () => {
  const prefix = '{bull}';
  const name = queueName('cancel');
  const started = [];
  const worker = track(
    new Worker(
      name,
      (job, _token, signal) =>
        new Promise((resolve, reject) => {
          started.push(job.id);
          if (job.name === 'tick') return resolve('ticked');
          signal.addEventListener('abort', () => reject(new UnrecoverableError(`aborted: ${signal.reason}`)));
        }),
      { connection: plain(), prefix },
    ),
  );
  const queue = track(new Queue(name, { connection: ioCluster(), prefix }));
  const job = await queue.add('long', {});
  await waitFor(() => started.includes(job.id), { message: 'the long job to start' });
  assert.equal(await queue.cancelJob(job.id, 'stop'), true);
  await waitFor(async () => (await queue.getJobState(job.id)) === 'failed', { message: 'the cancelled job to fail' });
  assert.match((await queue.getJob(job.id)).failedReason, /aborted: stop/);

  await queue.upsertJobScheduler('tick', { every: 200, limit: 2 }, { name: 'tick' });
  await waitFor(async () => (await queue.getJobCounts('completed')).completed >= 2, {
    message: 'two scheduled jobs to complete',
  });
  await worker.close();
});

test('cluster: our scripts are on every node, and a master that lost them gets them again', async () => {
  const prefix = '{bull}';
  const name = queueName('scripts');
  const queue = track(new Queue(name, { connection: plain(), prefix }));
  const done = [];
  const worker = track(new Worker(name, async (job) => done.push(job.data.i), { connection: plain(), prefix }));
  await queue.add('a', { i: 1 });
  await waitFor(() => done.length === 1, { message: 'the first job' });
  // The slot's master forgets everything it had (as after a restart without persistence).
  const port = await cluster.masterFor(`${prefix}:${name}:meta`);
  const master = inspect.nodes('master').find((n) => n.options.port === port);
  await master.call('FUNCTION', 'FLUSH');
  await master.call('SCRIPT', 'FLUSH');
  await queue.add('b', { i: 2 });
  await waitFor(() => done.length === 2, { message: 'the job added after the flush' });
  assert.deepEqual(done, [1, 2]);
  if (process.env.BULLMQ_NATIVE_SCRIPTS !== 'eval') {
    // Loaded on the masters of the other slots too, not only by replication.
    const libraries = await Promise.all(
      inspect.nodes('master').map(async (n) => {
        const list = await n.call('FUNCTION', 'LIST');
        return list.map((lib) => lib[lib.indexOf('library_name') + 1]).filter((l) => l.startsWith('bullmq_native_'));
      }),
    );
    assert.equal(libraries.length, 3);
    for (const names of libraries) assert.equal(names.length, 1, JSON.stringify(libraries));
  }
  await worker.close();
});
