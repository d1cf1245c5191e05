// A panic in the engine reaches the caller as an error, never as a crash or a
// promise left pending: the test hook `__injectPanic(site)` makes the engine
// panic once at a site (a synchronous export, the add task, the run loop, a
// completion batch, the QueueEvents reader, the stalled checker), and each
// test checks the caller's error, then that the part that panicked goes on.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { test } from 'node:test';

import { Queue, QueueEvents, Worker } from 'bullmq-native';

import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';

const binding = createRequire(import.meta.url)('../index.js');

/** `promise`, or a rejection once `ms` passed: a caller must not wait forever. */
function within(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** The next `error` event of `emitter` whose message matches `pattern`. */
function nextError(emitter, pattern) {
  return new Promise((resolve) => {
    const onError = (err) => {
      if (pattern.test(err.message)) {
        emitter.off('error', onError);
        resolve(err);
      }
    };
    emitter.on('error', onError);
  });
}

const uncaught = [];
process.on('uncaughtException', (err) => uncaught.push(err));

test('the hook is off unless the process turns test hooks on', () => {
  delete process.env.BULLMQ_NATIVE_TEST_HOOKS;
  assert.throws(() => binding.__injectPanic('adder'), /test hooks are off/);
  process.env.BULLMQ_NATIVE_TEST_HOOKS = '1';
  assert.throws(() => binding.__injectPanic('nowhere'), /unknown site "nowhere"/);
});

test('a panic in a synchronous export rejects the call; the next call works', async () => {
  const queue = new Queue(queueName('panic-sync'), { connection: await connection() });
  try {
    await queue.waitUntilReady();
    binding.__injectPanic('sync');
    const err = await within(queue.add('a', {}).then(() => null, (e) => e), 5000, 'add');
    assert.ok(err instanceof Error, 'the add rejects');
    assert.match(err.message, /panic injected at the sync site/);
    assert.equal((await queue.add('b', {})).id, '1');
  } finally {
    await queue.close();
  }
});

test('a panic in the add task rejects the adds it held; later adds work', async () => {
  const queue = new Queue(queueName('panic-adder'), { connection: await connection() });
  try {
    await queue.waitUntilReady();
    binding.__injectPanic('adder');
    await assert.rejects(within(queue.add('a', {}), 5000, 'add'), /the add task panicked/);
    const jobs = await within(queue.addBulk([{ name: 'b' }, { name: 'c' }]), 5000, 'addBulk');
    assert.deepEqual(
      jobs.map((j) => j.name),
      ['b', 'c'],
    );
    assert.equal(await queue.count(), 2);
  } finally {
    await queue.close();
  }
});

test('a panic in the run loop is an error event; the worker goes on fetching', async () => {
  const name = queueName('panic-runner');
  const conn = await connection();
  const queue = new Queue(name, { connection: conn });
  binding.__injectPanic('runner');
  const worker = new Worker(name, async (job) => `done ${job.id}`, { connection: conn, runRetryDelay: 100 });
  try {
    const err = await within(nextError(worker, /run loop panicked/), 10000, 'the error event');
    assert.match(err.message, /panic injected at the runner site/);
    const completed = once(worker, 'completed');
    await queue.add('a', {});
    const [job, value] = await within(completed, 10000, 'the job completing');
    assert.equal(value, `done ${job.id}`);
  } finally {
    await within(worker.close(), 10000, 'worker.close');
    await queue.close();
  }
});

test('a panic while completing jobs is an error event, and close does not hang', async () => {
  const name = queueName('panic-complete');
  const conn = await connection();
  const queue = new Queue(name, { connection: conn });
  const worker = new Worker(name, async () => 'value', { connection: conn });
  try {
    await worker.waitUntilReady();
    binding.__injectPanic('complete');
    const failed = nextError(worker, /completion panicked/);
    await queue.add('a', {});
    const err = await within(failed, 10000, 'the error event');
    assert.match(err.message, /panic injected at the complete site/);
  } finally {
    // The slot of the job whose completion panicked was given back.
    await within(worker.close(), 10000, 'worker.close');
    await queue.close();
  }
});

test('a panic in the QueueEvents reader is an error event; reading goes on', async () => {
  const name = queueName('panic-events');
  const conn = await connection();
  const queue = new Queue(name, { connection: conn });
  const events = new QueueEvents(name, { connection: conn });
  try {
    await events.waitUntilReady();
    binding.__injectPanic('events');
    const failed = nextError(events, /QueueEvents reader panicked/);
    // Not events.once: it would reject on the error event.
    const waiting = new Promise((resolve) => events.on('waiting', (args) => resolve(args)));
    const job = await queue.add('a', {});
    const err = await within(failed, 10000, 'the error event');
    assert.match(err.message, /panic injected at the events site/);
    // The entries of the read that panicked are read again.
    const args = await within(waiting, 10000, 'the waiting event');
    assert.equal(args.jobId, job.id);
  } finally {
    await within(events.close(), 10000, 'queueEvents.close');
    await queue.close();
  }
});

test('a panic in the stalled checker is an error event; the checks go on', async () => {
  const name = queueName('panic-stalled');
  const conn = await connection();
  const redis = await rawClient();
  binding.__injectPanic('stalled');
  const worker = new Worker(name, async () => 'ok', { connection: conn, stalledInterval: 200 });
  try {
    const err = await within(nextError(worker, /stalled checker panicked/), 10000, 'the error event');
    assert.match(err.message, /panic injected at the stalled site/);
    // The first check panicked before its script ran; a later one ran it.
    await waitFor(async () => (await redis.exists(`bull:${name}:stalled-check`)) === 1, {
      message: 'a stalled check after the panic',
    });
  } finally {
    await within(worker.close(), 10000, 'worker.close');
  }
});

test('no panic escaped as an uncaught exception', () => {
  assert.deepEqual(uncaught, []);
});
