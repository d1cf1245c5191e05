// The core of the manual-processing surface: add, getNextJob, moveToCompleted
// with fetch-next, and the Redis data they leave behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Job, Worker } from 'bullmq-native';

import { closeAfter, setup } from './support/manual.mjs';
import { connection, queueName, streamEvents } from './support/redis.mjs';

test('add stores the job hash and pushes the id to the head of wait', async () => {
  const { name, queue, redis } = await setup('add');
  const job = await queue.add('greet', { hello: 'world' }, { attempts: 3, backoff: 1000 });
  assert.equal(job.id, '1');
  const hash = await redis.hgetall(`bull:${name}:1`);
  assert.equal(hash.name, 'greet');
  assert.equal(hash.data, '{"hello":"world"}');
  assert.deepEqual(JSON.parse(hash.opts), { attempts: 3, backoff: { type: 'fixed', delay: 1000 } });
  assert.equal(hash.delay, '0');
  assert.equal(hash.priority, '0');
  assert.ok(Number(hash.timestamp) > 0);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['1']);
  assert.deepEqual(await redis.zrange(`bull:${name}:marker`, 0, -1, 'WITHSCORES'), ['0', '0']);
  const events = await streamEvents(redis, 'bull', name);
  assert.deepEqual(
    events.map((e) => [e.event, e.jobId]),
    [['added', '1'], ['waiting', '1']],
  );
});

test('getNextJob locks the job with the token and moveToCompleted fetches the next', async () => {
  const { name, queue, worker, redis } = await setup('fetch');
  await queue.addBulk([
    { name: 'a', data: { n: 1 } },
    { name: 'b', data: { n: 2 } },
  ]);
  const token = 'my-token';
  const job = await worker.getNextJob(token);
  assert.ok(job instanceof Job);
  assert.equal(job.id, '1');
  assert.deepEqual(job.data, { n: 1 });
  assert.equal(job.attemptsStarted, 1);
  assert.equal(await redis.get(`bull:${name}:1:lock`), token);
  assert.deepEqual(await redis.lrange(`bull:${name}:active`, 0, -1), ['1']);

  const [nextData, nextId] = await job.moveToCompleted('done', token, true);
  assert.equal(nextId, '2');
  const next = Job.fromJSON(worker, nextData, nextId);
  assert.deepEqual(next.data, { n: 2 });
  assert.equal(await redis.get(`bull:${name}:2:lock`), token);
  assert.equal(await redis.exists(`bull:${name}:1:lock`), 0);

  const hash = await redis.hgetall(`bull:${name}:1`);
  assert.equal(hash.returnvalue, '"done"');
  assert.equal(hash.atm, '1');
  assert.ok(Number(hash.finishedOn) >= Number(hash.processedOn));
  assert.deepEqual(await redis.zrange(`bull:${name}:completed`, 0, -1), ['1']);

  const none = await next.moveToCompleted({ ok: true }, token, true);
  // Nothing left (BullMQ 6.7's shape: no job, no rate limit, no delayed job).
  assert.deepEqual(none, [null, 0, 0, 0]);
  const events = await streamEvents(redis, 'bull', name);
  const names = events.map((e) => e.event);
  assert.ok(names.includes('completed'));
  assert.equal(names.at(-1), 'drained');
  const completed = events.filter((e) => e.event === 'completed');
  assert.deepEqual(
    completed.map((e) => [e.jobId, e.returnvalue, e.prev]),
    [['1', '"done"', 'active'], ['2', '{"ok":true}', 'active']],
  );
});

test('getNextJob returns undefined at the block timeout on an empty queue', async () => {
  const name = queueName('empty');
  const conn = await connection();
  const worker = new Worker(name, null, { connection: conn, drainDelay: 0.2 });
  closeAfter(worker);
  assert.equal(await worker.getNextJob('t', { block: false }), undefined);
  const started = Date.now();
  assert.equal(await worker.getNextJob('t'), undefined);
  assert.ok(Date.now() - started >= 150, 'a blocking call waits on the marker');
});

test('a blocked getNextJob wakes up when a job is added', async () => {
  const { queue, worker } = await setup('wake');
  assert.equal(await worker.getNextJob('t', { block: false }), undefined);
  const pending = worker.getNextJob('t');
  await new Promise((r) => setTimeout(r, 100));
  await queue.add('x', { v: 1 });
  const job = await pending;
  assert.ok(job);
  assert.deepEqual(job.data, { v: 1 });
});

test('close makes a blocked getNextJob return undefined', async () => {
  const name = queueName('close');
  const worker = new Worker(name, null, { connection: await connection(), drainDelay: 30 });
  await worker.getNextJob('t', { block: false });
  const pending = worker.getNextJob('t');
  await new Promise((r) => setTimeout(r, 100));
  await worker.close();
  assert.equal(await pending, undefined);
});

test('moveToCompleted with a foreign token fails with BullMQ messages', async () => {
  const { queue, worker } = await setup('lock');
  await queue.add('x', {});
  const job = await worker.getNextJob('owner');
  await assert.rejects(job.moveToCompleted('v', 'intruder', false), {
    message: `Lock mismatch for job ${job.id}. Cmd moveToFinished from active`,
  });
  await job.moveToCompleted('v', 'owner', false);
  await assert.rejects(job.moveToCompleted('v', 'owner', false), {
    message: `Missing lock for job ${job.id}. moveToFinished`,
  });
});

test('add rejects options BullMQ rejects, with its messages', async () => {
  const { queue } = await setup('opts');
  await assert.rejects(queue.add('x', {}, { jobId: '12' }), { message: 'Custom Id cannot be integers' });
  await assert.rejects(queue.add('x', {}, { jobId: 'a:b' }), { message: 'Custom Id cannot contain :' });
  await assert.rejects(queue.add('x', {}, { priority: 1.5 }), { message: 'Priority should not be float' });
  await assert.rejects(queue.add('x', {}, { priority: 2097152 }), {
    message: 'Priority should be between 0 and 2097151',
  });
  await assert.rejects(queue.add('big', 'x'.repeat(20), { sizeLimit: 10 }), {
    message: 'The size of job big exceeds the limit 10 bytes',
  });
  await assert.rejects(queue.add('x', {}, { failParentOnFailure: true, ignoreDependencyOnFailure: true }), {
    message: 'The following options cannot be used together: failParentOnFailure, ignoreDependencyOnFailure',
  });
  await assert.rejects(queue.add('x', {}, { delay: -1 }), TypeError);
  await assert.rejects(queue.add('x', { n: 1n }), TypeError);
  // A numeric-looking id that is not an integer's canonical form is allowed, as in BullMQ.
  const job = await queue.add('x', {}, { jobId: '007' });
  assert.equal(job.id, '007');
});

test("getNextJob emits the worker's active event with the job, as BullMQ's worker does", async () => {
  const { queue, worker } = await setup('active-event');
  const seen = [];
  worker.on('active', (job, prev) => seen.push([job.id, job.name, prev]));
  await queue.add('first', {});
  const job = await worker.getNextJob('tok-active');
  assert.deepEqual(seen, [[job.id, 'first', 'waiting']]);
  // No job, no event.
  assert.equal(await worker.getNextJob('tok-active', { block: false }), undefined);
  assert.equal(seen.length, 1);
});

test('a backoff jitter outside 0..1 is refused with BullMQ message, in add and addBulk', async () => {
  const { queue, redis, name } = await setup('jitter');
  for (const jitter of [-0.1, 1.5]) {
    await assert.rejects(queue.add('j', {}, { attempts: 2, backoff: { type: 'fixed', delay: 10, jitter } }), {
      message: 'Jitter should be between 0 and 1',
    });
    await assert.rejects(queue.addBulk([{ name: 'j', data: {}, opts: { backoff: { type: 'exponential', delay: 1, jitter } } }]), {
      message: 'Jitter should be between 0 and 1',
    });
  }
  assert.equal(await redis.exists(`bull:${name}:wait`), 0);
  const ok = await queue.add('j', {}, { backoff: { type: 'fixed', delay: 10, jitter: 1 } });
  assert.ok(ok.id);
});
