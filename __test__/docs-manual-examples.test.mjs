// The examples of BullMQ's guide "Manually processing jobs", written the way
// the guide uses the API (only the import line and the test Redis connection
// differ), each checked for its outcome.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Job, Queue, Worker } from 'bullmq-native';

import { closeAfter } from './support/manual.mjs';
import { connection as testConnection, queueName, rawClient, waitFor } from './support/redis.mjs';

async function queueWith(label, jobs) {
  const name = queueName(label);
  const connection = await testConnection();
  const queue = new Queue(name, { connection });
  closeAfter(queue);
  for (const [jobName, data] of jobs) await queue.add(jobName, data);
  return { name, queue, connection };
}

test('docs: fetch one job with a token, then complete or fail it', async () => {
  const { queue, connection } = await queueWith('docs-simple', [['ok', { succeed: true }], ['ko', { succeed: false }]]);
  const worker = new Worker(queue.name, null, { connection });
  const token = 'my-token';

  for (let i = 0; i < 2; i++) {
    const job = await worker.getNextJob(token);
    const succeeded = job.data.succeed;
    if (succeeded) {
      await job.moveToCompleted('some return value', token, false);
    } else {
      await job.moveToFailed(new Error('my error message'), token, false);
    }
  }
  await worker.close();

  const ok = await queue.getJob('1');
  assert.equal(ok.returnvalue, 'some return value');
  const ko = await queue.getJob('2');
  assert.equal(ko.failedReason, 'my error message');
  assert.equal(ko.finishedOn > 0, true);
});

test('docs: a longer lockDuration, and extending the lock by hand', async () => {
  const { name, queue, connection } = await queueWith('docs-lock', [['x', {}]]);
  const redis = await rawClient();
  const worker = new Worker(queue.name, null, { connection, lockDuration: 60000 });
  closeAfter(worker);
  const token = 'my-token';
  const job = await worker.getNextJob(token);
  const first = await redis.pttl(`bull:${name}:${job.id}:lock`);
  assert.ok(first > 30000 && first <= 60000, `lock ttl ${first}`);

  // Extend the lock 30 more seconds.
  assert.equal(await job.extendLock(token, 30000), 1);
  const extended = await redis.pttl(`bull:${name}:${job.id}:lock`);
  assert.ok(extended > 0 && extended <= 30000, `lock ttl ${extended}`);
  await job.moveToCompleted('done', token, false);
});

test('docs: loop over jobs with fetchNext and Job.fromJSON', async () => {
  const jobs = Array.from({ length: 6 }, (_, i) => ['step', { n: i, ok: i % 3 !== 2 }]);
  const { queue, connection } = await queueWith('docs-loop', jobs);
  const worker = new Worker(queue.name, null, { connection });
  closeAfter(worker);

  const token = 'my-token';
  let job;
  const seen = [];
  while (seen.length < jobs.length) {
    let jobData = null,
      jobId,
      success;

    if (job) {
      // Process job.data, and set success if it worked.
      seen.push(job.data.n);
      success = job.data.ok;

      if (success) {
        [jobData, jobId] = await job.moveToCompleted('some return value', token);
      } else {
        await job.moveToFailed(new Error('some error message'), token);
      }

      if (jobData) {
        job = Job.fromJSON(worker, jobData, jobId);
      } else {
        job = null;
      }
    } else {
      if (!job) {
        job = await worker.getNextJob(token);
      }
    }
  }

  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5]);
  for (let id = 1; id <= 6; id++) {
    const stored = await queue.getJob(String(id));
    if (stored.data.ok) {
      assert.equal(stored.returnvalue, 'some return value');
    } else {
      assert.equal(stored.failedReason, 'some error message');
    }
  }
});

test('docs: rate limit by hand, moving the job back to wait', async () => {
  const { name, queue, connection } = await queueWith('docs-ratelimit', [['call-api', { url: 'x' }]]);
  const redis = await rawClient();
  const worker = new Worker(queue.name, null, {
    connection,
    limiter: { max: 1, duration: 500 },
  });
  closeAfter(worker);
  const token = 'my-token';

  const job = await worker.getNextJob(token);
  // The remote API said "too many requests": pause the queue's fetching for
  // a minute and put the job back, to run first once the limit expires.
  await queue.rateLimit(60000);
  const ttl = await job.moveToWait(token);

  assert.ok(ttl > 0 && ttl <= 60000, `remaining limit ${ttl}`);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [job.id]);
  assert.equal(await worker.getNextJob(token, { block: false }), undefined);
  const stored = await queue.getJob(job.id);
  assert.equal(stored.attemptsMade, 0);
});

test('docs: check for stalled jobs when processing manually', async () => {
  const { name, queue, connection } = await queueWith('docs-stalled', [['long', {}]]);
  const redis = await rawClient();
  const worker = new Worker(queue.name, null, { connection, lockDuration: 200, stalledInterval: 200 });
  closeAfter(worker);
  const stalled = [];
  worker.on('stalled', (jobId) => stalled.push(jobId));

  await worker.startStalledCheckTimer();

  const token = 'my-token';
  const job = await worker.getNextJob(token);
  // ... the process hangs and never finishes the job nor extends its lock.
  await waitFor(() => stalled.length > 0, { message: 'the stalled event' });
  assert.deepEqual(stalled, [job.id]);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [job.id]);
  await worker.close();
});
