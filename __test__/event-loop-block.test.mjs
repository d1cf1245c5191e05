// Lock renewal runs in the engine, off the JavaScript event loop: a processor
// that blocks the loop for longer than lockDuration keeps its job (bullmq 6.7,
// whose renewal is a JS timer, loses it). But a loop blocked for longer than
// `maxEventLoopBlock` stops the renewal, so the job is recovered elsewhere.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

import * as official from 'bullmq';
import { Queue, Worker } from 'bullmq-native';

import { connection, queueName, redisUrl, waitFor } from './support/redis.mjs';

function busy(ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // CPU-bound work that never yields to the event loop.
  }
}

/** Runs one job whose processor blocks the loop for 3 s, lockDuration 1000. */
async function blockedJob(pkg, label) {
  const name = queueName(label);
  const conn = await connection();
  const queue = new pkg.Queue(name, { connection: conn });
  const seen = { runs: 0, errors: [], stalled: 0, completed: 0, failed: [] };
  const worker = new pkg.Worker(
    name,
    async () => {
      seen.runs += 1;
      busy(3000);
      return 'done';
    },
    { connection: conn, lockDuration: 1000, stalledInterval: 1000 },
  );
  worker.on('error', (err) => seen.errors.push(err.message));
  worker.on('stalled', () => (seen.stalled += 1));
  worker.on('completed', () => (seen.completed += 1));
  worker.on('failed', (_job, err) => seen.failed.push(err.message));
  const job = await queue.add('cpu', {});
  return { queue, worker, job, seen };
}

test('a processor blocking the loop 3 s with lockDuration 1000 completes once; bullmq 6.7 runs it twice and fails it', async () => {
  const ours = await blockedJob({ Queue, Worker }, 'block-ours');
  try {
    await waitFor(async () => (await ours.job.getState()) === 'completed', { timeout: 15000, message: 'our job completing' });
    // Another connection can see the job completed before the worker's
    // 'completed' event, which follows the reply of its finish call.
    await waitFor(() => ours.seen.completed > 0, { timeout: 5000, message: "our worker's completed event" });
    const job = await ours.queue.getJob(ours.job.id);
    assert.equal(job.returnvalue, 'done');
    assert.equal(job.attemptsStarted, 1);
    assert.equal(job.stalledCounter, 0);
    assert.deepEqual(ours.seen, { runs: 1, errors: [], stalled: 0, completed: 1, failed: [] });
  } finally {
    await ours.worker.close();
    await ours.queue.close();
  }

  const theirs = await blockedJob(official, 'block-bullmq');
  try {
    await waitFor(async () => (await theirs.job.getState()) === 'failed', { timeout: 25000, message: 'their job failing' });
    const job = await theirs.queue.getJob(theirs.job.id);
    assert.equal(job.failedReason, 'job stalled more than allowable limit');
    assert.equal(theirs.seen.runs, 2);
    assert.equal(theirs.seen.completed, 0);
    assert.ok(theirs.seen.stalled >= 2, `stalled ${theirs.seen.stalled} times`);
    assert.ok(
      theirs.seen.errors.includes(`Missing lock for job ${theirs.job.id}. moveToFinished`),
      JSON.stringify(theirs.seen.errors),
    );
  } finally {
    await theirs.worker.close();
    await theirs.queue.close();
  }
});

test('a loop blocked longer than maxEventLoopBlock lets the lock expire; another worker process recovers the job', async () => {
  const name = queueName('block-bound');
  const conn = await connection();
  const queue = new Queue(name, { connection: conn });
  const u = new URL(await redisUrl());
  // The child's processor blocks its loop for 8 s; it stops renewing after
  // 1.5 s of silence, and its lock (1 s) then expires. Both workers check for
  // stalled jobs every 500 ms (a worker's check holds off the others' for its
  // stalledInterval); either check may move the job back to wait, and the
  // child, its one slot taken, cannot fetch it.
  const script = `
    import { Worker } from 'bullmq-native';
    const say = (kind, value) => console.log(JSON.stringify({ kind, value }));
    const worker = new Worker(${JSON.stringify(name)}, async (job) => {
      say('started', job.id);
      const end = Date.now() + 8000;
      while (Date.now() < end) {}
      return 'child';
    }, {
      connection: { host: ${JSON.stringify(u.hostname)}, port: ${Number(u.port)} },
      lockDuration: 1000,
      stalledInterval: 500,
      maxEventLoopBlock: 1500,
    });
    for (const kind of ['ready', 'completed', 'failed']) worker.on(kind, (job) => say(kind, job?.id));
    worker.on('error', (err) => say('error', err.message));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const said = [];
  let buffered = '';
  child.stdout.on('data', (d) => {
    buffered += d;
    const lines = buffered.split('\n');
    buffered = lines.pop();
    for (const line of lines) if (line) said.push(JSON.parse(line));
  });
  const saw = (kind) => said.some((s) => s.kind === kind);
  let rescuer;
  try {
    await waitFor(() => saw('ready'), { timeout: 20000, message: 'the child worker is ready' });
    const job = await queue.add('cpu', {});
    await waitFor(() => saw('started'), { message: 'the child starting the job' });
    rescuer = new Worker(name, async () => 'rescuer', { connection: conn, stalledInterval: 500 });
    await waitFor(async () => (await job.getState()) === 'completed', { timeout: 20000, message: 'the job recovered and completed' });
    const done = await queue.getJob(job.id);
    assert.equal(done.returnvalue, 'rescuer');
    assert.equal(done.stalledCounter, 1);
    assert.equal(done.attemptsStarted, 2);
    // Once its loop is back, the child learns why, and cannot finish the job.
    await waitFor(() => said.filter((s) => s.kind === 'error').length >= 2, { timeout: 20000, message: 'the child reporting' });
    const errors = said.filter((s) => s.kind === 'error').map((s) => s.value);
    assert.match(errors[0], /the event loop has not answered for \d+ ms \(maxEventLoopBlock is 1500 ms\)/);
    assert.ok(!saw('completed'), JSON.stringify(said));
    assert.equal((await queue.getJob(job.id)).returnvalue, 'rescuer');
  } finally {
    child.kill('SIGKILL');
    await exited;
    await rescuer?.close();
    await queue.close();
  }
});

test('maxEventLoopBlock must be a positive number', async () => {
  const conn = await connection();
  for (const bad of [0, -1, Number.NaN, '100']) {
    assert.throws(
      () => new Worker(queueName('block-opt'), null, { connection: conn, maxEventLoopBlock: bad }),
      /maxEventLoopBlock must be a number of milliseconds greater than 0/,
    );
  }
});
