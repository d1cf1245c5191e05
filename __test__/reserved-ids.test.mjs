// A job id that names one of the queue's own keys (`wait`, `meta`, `events`,
// `id`, ...) is refused before anything is written, by add, addBulk and
// flows; getters and remove answer for such an id as for an unknown job.
// The key names are not listed here: they are read off a queue that used
// every feature, so a key the layout gains is covered too.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FlowProducer, Queue, Worker } from 'bullmq-native';

import { track } from './support/closers.mjs';
import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';

/** Every key a busy queue holds, as `{suffix}` after `bull:{name}:`, job keys left out. */
async function queueKeySuffixes() {
  const conn = await connection();
  const redis = await rawClient();
  const name = queueName('layout');
  const queue = track(new Queue(name, { connection: conn }));
  await queue.add('plain', {});
  await queue.add('later', {}, { delay: 60_000 });
  await queue.add('urgent', {}, { priority: 2 });
  await queue.add('dedup', {}, { deduplication: { id: 'd1' } });
  await queue.upsertJobScheduler('every', { every: 60_000 });
  await queue.setGlobalRateLimit(100, 1000);
  const worker = track(
    new Worker(name, async (job) => {
      if (job.name === 'urgent') throw new Error('no');
      return 'ok';
    }, { connection: conn, metrics: { maxDataPoints: 10 }, limiter: { max: 100, duration: 1000 } }),
  );
  await waitFor(async () => (await queue.getCompletedCount()) >= 2 && (await queue.getFailedCount()) === 1, {
    message: 'the busy queue to settle',
  });
  await worker.close();
  // Left waiting: the wait list, the prioritized set, the marker and a dedup key.
  await queue.add('left', {});
  await queue.add('left-urgent', {}, { priority: 1 });
  await queue.add('left-dedup', {}, { deduplication: { id: 'd2', ttl: 60_000 } });
  const jobIds = new Set((await queue.getJobs()).map((j) => j.id));
  const suffixes = new Set();
  for (const key of await redis.keys(`bull:${name}:*`)) {
    const rest = key.slice(`bull:${name}:`.length);
    const id = rest.replace(/:(lock|logs|dependencies|processed|failed|unsuccessful)$/, '');
    if (!jobIds.has(id) && !jobIds.has(rest)) suffixes.add(rest);
  }
  return [...suffixes].sort();
}

test('ids naming queue keys are refused by add, addBulk and flows, before anything is written', async () => {
  const suffixes = await queueKeySuffixes();
  // The busy queue shows the layout's keys (the test is only as good as this list).
  for (const k of ['wait', 'meta', 'events', 'id', 'delayed', 'prioritized', 'completed', 'failed', 'repeat', 'marker', 'de:d2', 'metrics:completed', 'limiter', 'stalled-check']) {
    assert.ok(suffixes.includes(k), `the busy queue has ${k} (${suffixes.join(' ')})`);
  }
  const ids = [...new Set([...suffixes, 'paused', 'active', 'stalled', 'waiting-children', 'pc', 'dn:x', 'metrics:completed:data', 'metrics:failed:data', 'delay', 'priority'])];
  const conn = await connection();
  const redis = await rawClient();
  const name = queueName('reserved');
  const queue = track(new Queue(name, { connection: conn }));
  const flows = track(new FlowProducer({ connection: conn }));
  await queue.waitUntilReady();
  const before = (await redis.keys(`bull:${name}:*`)).sort();
  const idBefore = await redis.get(`bull:${name}:id`);
  for (const id of ids) {
    // Ids of two segments are refused by BullMQ's own rule first.
    const message =
      id.includes(':') && id.split(':').length !== 3
        ? 'Custom Id cannot contain :'
        : `JobId ${JSON.stringify(id)} is the name of a key of the queue: use another id`;
    await assert.rejects(queue.add('x', {}, { jobId: id }), { message }, id);
    await assert.rejects(
      queue.addBulk([{ name: 'fine', data: {} }, { name: 'x', data: {}, opts: { jobId: id } }]),
      { message },
      `addBulk ${id}`,
    );
    await assert.rejects(
      flows.add({ name: 'parent', queueName: name, children: [{ name: 'child', queueName: name, opts: { jobId: id } }] }),
      { message },
      `flow ${id}`,
    );
  }
  assert.deepEqual((await redis.keys(`bull:${name}:*`)).sort(), before, 'no key written');
  assert.equal(await redis.get(`bull:${name}:id`), idBefore, 'no id taken');
});

test('getters and remove answer for an id naming a queue key as for an unknown job', async () => {
  const conn = await connection();
  const name = queueName('reserved-get');
  const queue = track(new Queue(name, { connection: conn }));
  // The keys exist and hold other types: a getter must not read them as a job.
  await queue.add('a', {}, { delay: 60_000 });
  await queue.add('b', {});
  for (const id of ['wait', 'meta', 'events', 'id', 'delayed', 'marker']) {
    assert.equal(await queue.getJob(id), undefined, `getJob ${id}`);
    assert.equal(await queue.getJobState(id), 'unknown', `getJobState ${id}`);
    assert.equal(await queue.remove(id), await queue.remove('no-such-job'), `remove ${id}`);
    assert.deepEqual(await queue.getJobLogs(id), { logs: [], count: 0 });
    await assert.rejects(queue.updateJobProgress(id, 5), { message: `Missing key for job ${id}. updateProgress` });
    await assert.rejects(queue.addJobLog(id, 'line'), { message: `Missing key for job ${id}. addLog` });
  }
  assert.equal(await queue.count(), 2, 'the queue is untouched');
  assert.equal(await queue.getDelayedCount(), 1);
});
