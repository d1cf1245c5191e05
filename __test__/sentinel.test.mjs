// Redis Sentinel: a master, a replica and three sentinels (support/cluster.mjs).
// Connections given as ioredis takes them (`{ sentinels, name }`, or an
// ioredis instance in Sentinel mode) reach the master; when it is killed, the
// sentinels promote the replica and the producer, worker and QueueEvents move
// to it by themselves, losing no job.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import IORedis from 'ioredis';
import { Queue, QueueEvents } from 'bullmq-native';

import { startSentinels } from './support/cluster.mjs';
import { assertEachCompletedOnce, countingWorker } from './support/failover.mjs';
import { queueName, waitFor } from './support/redis.mjs';

let group;
const closers = [];
before(async () => {
  group = await startSentinels();
});
after(async () => {
  for (const c of closers.reverse()) await c.close().catch(() => undefined);
  await group?.stop();
});

test('sentinel: jobs keep flowing when the master dies and the replica is promoted', async () => {
  const name = queueName('sent');
  const connection = { sentinels: group.sentinels, name: group.name };
  // An ioredis instance in Sentinel mode is read the same way (lazyConnect: never used itself).
  const instance = new IORedis({ sentinels: group.sentinels, name: group.name, lazyConnect: true });
  const queue = new Queue(name, { connection });
  const events = new QueueEvents(name, { connection: instance });
  closers.push(queue, events);
  queue.on('error', () => undefined);
  events.on('error', () => undefined);
  await events.waitUntilReady();
  const completedEvents = new Set();
  events.on('completed', ({ jobId }) => completedEvents.add(jobId));

  const { worker, runs } = countingWorker(name, instance);
  closers.push(worker);
  worker.on('error', () => undefined);

  // The data lives on the master the sentinels name.
  const first = await queue.add('j', { i: -1 });
  const direct = new IORedis({ host: '127.0.0.1', port: group.master.port, lazyConnect: true });
  assert.equal(await direct.exists(`bull:${name}:${first.id}`), 1);
  direct.disconnect();

  const total = 100;
  const ids = [first.id];
  for (let i = 0; i < total; i++) {
    ids.push((await queue.add('j', { i })).id);
    if (i === 30) {
      await group.killMaster();
    }
    if (i % 10 === 0) await new Promise((r) => setTimeout(r, 10));
  }
  await group.waitPromoted();
  // An object opened after the failover joins the process's connection, on the new master.
  const late = new Queue(name, { connection });
  closers.push(late);
  late.on('error', () => undefined);
  await late.waitUntilReady();
  ids.push((await late.add('j', { late: true })).id);

  await assertEachCompletedOnce(queue, ids, runs);
  await waitFor(() => completedEvents.has(ids.at(-1)), { timeout: 20000, message: 'the last completed event' });
  await worker.close();
});
