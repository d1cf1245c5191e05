// Job options given to Queue.add and how they shape what happens to the job:
// retention of finished jobs, queue-wide defaults, timestamps, LIFO order and
// duplicated custom ids.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Job, Queue } from 'bullmq-native';

import { closeAfter, setup } from './support/manual.mjs';
import { connection, queueName, streamEvents } from './support/redis.mjs';

/** Runs every waiting job of the queue to completion through the manual API. */
async function completeAll(worker, token = 'tok') {
  for (let job = await worker.getNextJob(token, { block: false }); job; ) {
    const [data, id] = await job.moveToCompleted({ id: job.id }, token, true);
    job = id ? Job.fromJSON(worker, data, id) : undefined;
  }
}

test('removeOnComplete: true removes the job and its keys when it completes', async () => {
  const { name, queue, worker, redis } = await setup('roc-true');
  const job = await queue.add('x', {}, { removeOnComplete: true });
  await completeAll(worker);
  assert.equal(await redis.exists(`bull:${name}:${job.id}`), 0);
  assert.equal(await redis.zcard(`bull:${name}:completed`), 0);
  const completed = (await streamEvents(redis, 'bull', name)).filter((e) => e.event === 'completed');
  assert.deepEqual(completed.map((e) => e.jobId), [job.id], 'the completed event is still emitted');
});

test('removeOnComplete: n keeps only the newest n completed jobs', async () => {
  const { name, queue, worker, redis } = await setup('roc-count');
  const jobs = await queue.addBulk(
    Array.from({ length: 5 }, (_, i) => ({ name: 'x', data: { i }, opts: { removeOnComplete: 2 } })),
  );
  await completeAll(worker);
  const kept = await redis.zrange(`bull:${name}:completed`, 0, -1);
  assert.deepEqual(kept.sort(), [jobs[3].id, jobs[4].id].sort());
  for (const j of jobs.slice(0, 3)) {
    assert.equal(await redis.exists(`bull:${name}:${j.id}`), 0, `job ${j.id} removed`);
  }
});

test('removeOnComplete: {age} removes completed jobs older than age seconds', async () => {
  const { name, queue, worker, redis } = await setup('roc-age');
  const old = await queue.add('old', {});
  await completeAll(worker);
  // Age the first job by moving its finish time an hour back.
  await redis.zadd(`bull:${name}:completed`, Date.now() - 3600_000, old.id);
  const fresh = await queue.add('fresh', {}, { removeOnComplete: { age: 60 } });
  await completeAll(worker);
  assert.deepEqual(await redis.zrange(`bull:${name}:completed`, 0, -1), [fresh.id]);
  assert.equal(await redis.exists(`bull:${name}:${old.id}`), 0);
});

test('removeOnFail: true and n apply to jobs that fail for good', async () => {
  const { name, queue, worker, redis } = await setup('rof');
  const gone = await queue.add('gone', {}, { removeOnFail: true });
  const kept = await queue.addBulk(
    [1, 2, 3].map((i) => ({ name: 'kept', data: { i }, opts: { removeOnFail: 1 } })),
  );
  for (let job = await worker.getNextJob('t', { block: false }); job; job = await worker.getNextJob('t', { block: false })) {
    await job.moveToFailed(new Error('no'), 't');
  }
  assert.equal(await redis.exists(`bull:${name}:${gone.id}`), 0);
  assert.deepEqual(await redis.zrange(`bull:${name}:failed`, 0, -1), [kept[2].id]);
});

test("a worker's removeOnComplete applies unless the job has its own", async () => {
  const { name, queue, worker, redis } = await setup('roc-worker', { removeOnComplete: { count: 0 } });
  const plain = await queue.add('plain', {});
  const own = await queue.add('own', {}, { removeOnComplete: false });
  await completeAll(worker);
  assert.equal(await redis.exists(`bull:${name}:${plain.id}`), 0);
  assert.deepEqual(await redis.zrange(`bull:${name}:completed`, 0, -1), [own.id]);
});

test('defaultJobOptions apply to every job and a job option overrides them', async () => {
  const name = queueName('defaults');
  const queue = closeAfter(
    new Queue(name, { connection: await connection(), defaultJobOptions: { attempts: 4, priority: 7, removeOnComplete: 3 } }),
  );
  const a = await queue.add('a', {});
  const b = await queue.add('b', {}, { priority: 2 });
  assert.deepEqual(queue.defaultJobOptions, { attempts: 4, priority: 7, removeOnComplete: 3 });
  const ra = await queue.getJob(a.id);
  const rb = await queue.getJob(b.id);
  assert.equal(ra.opts.attempts, 4);
  assert.equal(ra.priority, 7);
  assert.equal(ra.opts.removeOnComplete, 3);
  assert.equal(rb.priority, 2);
  assert.equal(rb.opts.attempts, 4);
});

test('timestamp sets the creation time and lifo puts a job at the front', async () => {
  const { name, queue, worker, redis } = await setup('lifo');
  const first = await queue.add('first', {}, { timestamp: 1234 });
  const urgent = await queue.add('urgent', {}, { lifo: true });
  assert.equal(await redis.hget(`bull:${name}:${first.id}`, 'timestamp'), '1234');
  assert.equal(first.timestamp, 1234);
  const next = await worker.getNextJob('t', { block: false });
  assert.equal(next.id, urgent.id);
});

test('an existing custom jobId adds nothing and emits duplicated', async () => {
  const { name, queue, redis } = await setup('dup');
  const first = await queue.add('x', { v: 1 }, { jobId: 'same' });
  const second = await queue.add('x', { v: 2 }, { jobId: 'same' });
  assert.equal(second.id, first.id);
  assert.equal(await redis.llen(`bull:${name}:wait`), 1);
  assert.equal(await redis.hget(`bull:${name}:same`, 'data'), '{"v":1}');
  const events = await streamEvents(redis, 'bull', name);
  assert.deepEqual(
    events.map((e) => [e.event, e.jobId]),
    [['added', 'same'], ['waiting', 'same'], ['duplicated', 'same']],
  );
});
