// Errors that reach a user name the method and the argument (or the job and
// the state), never the binding's conversion texts, a JSON escape error or a
// bare WRONGTYPE.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Job, Queue, Worker } from 'bullmq-native';

import { track } from './support/closers.mjs';
import { connection, queueName, rawClient } from './support/redis.mjs';

const BINDING_TEXT = /napi value|rust type|invalid JSON|unexpected end of hex escape|lone leading surrogate/i;

/** The error `fn` throws or rejects with (fails when it succeeds). */
async function errorOf(fn) {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an error');
}

async function setup() {
  const conn = await connection();
  const name = queueName('texts');
  const queue = track(new Queue(name, { connection: conn }));
  const worker = track(new Worker(name, null, { connection: conn }));
  return { name, queue, worker };
}

test('wrong argument types name the method and the argument', async () => {
  const { queue, worker } = await setup();
  await queue.add('a', {});
  const job = await worker.getNextJob('tok');
  const cases = [
    ['moveToCompleted', 'fetchNext', () => job.moveToCompleted('v', 'tok', 'yes')],
    ['moveToFailed', 'fetchNext', () => job.moveToFailed(new Error('x'), 'tok', 1)],
    ['moveToCompleted', 'token', () => job.moveToCompleted('v', 42)],
    ['getNextJob', 'token', () => worker.getNextJob(7)],
    ['getJobLogs', 'start', () => queue.getJobLogs(job.id, 'a')],
    ['extendLock', 'duration', () => job.extendLock('tok', 'long')],
  ];
  for (const [method, arg, call] of cases) {
    const err = await errorOf(call);
    assert.ok(err instanceof Error, `${method}: an Error`);
    assert.doesNotMatch(err.message, BINDING_TEXT, `${method}: ${err.message}`);
    assert.ok(err.message.includes(method) && err.message.includes(arg), `${method}/${arg}: ${err.message}`);
  }
});

test('an id or token with a lone surrogate is refused by name', async () => {
  const { queue, worker } = await setup();
  for (const [method, arg, call] of [
    ['add', 'opts.jobId', () => queue.add('x', {}, { jobId: 'a\ud800b' })],
    ['getJob', 'jobId', () => queue.getJob('\udc00')],
    ['getJobState', 'jobId', () => queue.getJobState('x\ud83d')],
    ['getNextJob', 'token', () => worker.getNextJob('t\ud800')],
  ]) {
    const err = await errorOf(call);
    assert.ok(err instanceof TypeError, method);
    assert.doesNotMatch(err.message, BINDING_TEXT, err.message);
    assert.equal(err.message, `${method}: ${arg} must be well-formed Unicode, got a string with a lone surrogate`);
  }
  // Paired surrogates are fine.
  const job = await queue.add('x', {}, { jobId: 'emoji-\ud83d\ude00' });
  assert.equal((await queue.getJob(job.id)).id, 'emoji-\ud83d\ude00');
});

test('a queue key of the wrong Redis type is reported with the method, not as a bare WRONGTYPE', async () => {
  const { name, queue } = await setup();
  const redis = await rawClient();
  await redis.set(`bull:${name}:wait`, 'not a list');
  await redis.set(`bull:${name}:oddjob`, 'not a hash');
  for (const [method, call] of [
    ['getJobCounts', () => queue.getJobCounts('wait')],
    ['getJobs', () => queue.getWaiting()],
    ['getJob', () => queue.getJob('oddjob')],
  ]) {
    const err = await errorOf(call);
    assert.ok(
      err.message.startsWith(`${method}: a key of the queue holds another Redis type than BullMQ's layout gives it`),
      `${method}: ${err.message}`,
    );
  }
  assert.ok(Job);
});
