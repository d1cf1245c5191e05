// Redis Cluster failover: the master serving a queue's slot is killed while
// jobs are added and processed; its replica takes over, and the producer, the
// worker (blocked on the marker on that master) and QueueEvents follow by
// themselves. Every job completes; one runs twice only after it stalled.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { Queue, QueueEvents } from 'bullmq-native';

import { startCluster } from './support/cluster.mjs';
import { assertEachCompletedOnce, countingWorker } from './support/failover.mjs';
import { queueName, waitFor } from './support/redis.mjs';

let cluster;
let inspect;
const closers = [];
before(async () => {
  cluster = await startCluster();
  inspect = cluster.ioredis();
});
after(async () => {
  for (const c of closers.reverse()) await c.close().catch(() => undefined);
  await inspect?.quit().catch(() => undefined);
  await cluster?.stop();
});

/** A Queue, a QueueEvents recording completions and a counting worker on `name`, on the cluster. */
async function watchedQueue(name) {
  const connection = { cluster: { nodes: cluster.startupNodes } };
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection });
  closers.push(queue, events);
  await events.waitUntilReady();
  const completedEvents = new Set();
  events.on('completed', ({ jobId }) => completedEvents.add(jobId));
  const { worker, runs } = countingWorker(name, connection);
  closers.push(worker);
  // Lost connections to a killed node are reported; the tests check the jobs.
  for (const o of [queue, events, worker]) o.on('error', () => undefined);
  return { queue, completedEvents, worker, runs };
}

test('slot migration: moving the queue\'s slot to another master while jobs flow (ASK, then MOVED) loses no job', async () => {
  const name = `{${queueName('mv')}}`;
  const { queue, completedEvents, worker, runs } = await watchedQueue(name);

  const ids = [];
  for (let i = 0; i < 60; i++) ids.push((await queue.add('j', { i })).id);
  // Jobs keep coming while the keys move a few at a time.
  let adding = true;
  const producer = (async () => {
    for (let i = 60; adding || i < 120; i++) {
      ids.push((await queue.add('j', { i })).id);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const { from, to } = await cluster.moveSlot(`bull:${name}:wait`);
  adding = false;
  await producer;
  assert.equal(await cluster.masterFor(`bull:${name}:wait`), to);
  assert.notEqual(from, to);

  // Jobs added after the move are fetched on the new master, by the same worker.
  for (let i = 0; i < 20; i++) ids.push((await queue.add('j', { after: true, i })).id);
  await assertEachCompletedOnce(queue, ids, runs);
  await waitFor(() => completedEvents.has(ids.at(-1)), { timeout: 20000, message: 'the last completed event' });
  await worker.close();
});

test('cluster failover: killing the queue\'s master loses no job and runs none twice without a stall', async () => {
  const name = `{${queueName('fo')}}`;
  const master = await cluster.masterFor(`bull:${name}:wait`);
  const { queue, completedEvents, worker, runs } = await watchedQueue(name);

  const total = 150;
  const ids = [];
  let killed = false;
  for (let i = 0; i < total; i++) {
    ids.push((await queue.add('j', { i })).id);
    if (i === 50) {
      await cluster.kill(master);
      killed = true;
    }
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(killed);
  assert.notEqual(await cluster.masterFor(`bull:${name}:wait`), master, 'the replica took over the slot');

  await assertEachCompletedOnce(queue, ids, runs);
  // QueueEvents moved to the new master too: completions after the failover reached it.
  await waitFor(() => completedEvents.has(ids.at(-1)), { timeout: 20000, message: 'the last completed event' });
  await worker.close();
});
