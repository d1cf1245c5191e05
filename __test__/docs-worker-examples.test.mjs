// The Worker examples of BullMQ's documentation (workers, concurrency,
// retrying failing jobs, stop retrying, rate limiting, step jobs with
// delays, graceful shutdown, pausing, auto-removal, cancelling jobs), run as
// written: only the import line differs (support/docs-env.mjs gives the
// classes the test Redis and a per-test prefix), TypeScript annotations are
// dropped, and the helpers the examples call (doSomeProcessing, ...) are
// defined by each test. Each test checks what the example promises.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { rawClient, waitFor } from './support/redis.mjs';

// The import line of the examples, pointed at bullmq-native:
import { DelayedError, Queue, RateLimitError, UnrecoverableError, Worker } from './support/docs-env.mjs';
import { closeDocsEnv, docsEnv } from './support/docs-env.mjs';

let connection;
beforeEach(async () => {
  ({ connection } = await docsEnv());
});
afterEach(() => closeDocsEnv());

test('docs (workers): a processor reporting progress, with completed/progress/failed/error listeners', async () => {
  const queueName = 'Paint';
  const queue = new Queue(queueName);
  const seen = [];

  const worker = new Worker(queueName, async (job) => {
    // Optionally report some progress
    await job.updateProgress(42);

    // Optionally sending an object as progress
    await job.updateProgress({ foo: 'bar' });

    // Do something with job
    return 'some value';
  });

  worker.on('completed', (job, returnvalue) => {
    // Do something with the return value.
    seen.push(['completed', job.id, returnvalue]);
  });

  worker.on('progress', (job, progress) => {
    // Do something with the return value.
    seen.push(['progress', job.id, progress]);
  });

  worker.on('failed', (job, error) => {
    // Do something with the return value.
    seen.push(['failed', job.id, error.message]);
  });

  worker.on('error', (err) => {
    // log the error
    console.error(err);
  });

  await queue.add('paint', { color: 'red' });
  await waitFor(() => seen.some(([e]) => e === 'completed'));
  assert.deepEqual(seen, [
    ['progress', '1', 42],
    ['progress', '1', { foo: 'bar' }],
    ['completed', '1', 'some value'],
  ]);
  assert.equal((await queue.getJob('1')).returnvalue, 'some value');
});

test('docs (workers): the processor may take (job, token, signal)', async () => {
  const queueName = 'signals';
  const queue = new Queue(queueName);
  const got = [];

  const worker = new Worker(queueName, async (job, token, signal) => {
    // signal can be used to detect when a job has been cancelled
    got.push([typeof token, signal instanceof AbortSignal]);
    return 'some value';
  });

  await queue.add('j', {});
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  assert.deepEqual(got, [['string', true]]);
  assert.ok(worker.isRunning());
});

test('docs (concurrency): concurrency 50, changed to 5 while running', async () => {
  const queueName = 'concurrent';
  const queue = new Queue(queueName);
  let running = 0;
  let most = 0;
  let release;
  const gate = new Promise((r) => (release = r));

  const worker = new Worker(
    queueName,
    async (job) => {
      // Do something with job
      running += 1;
      most = Math.max(most, running);
      await gate;
      running -= 1;
      return 'some value';
    },
    { concurrency: 50 },
  );

  await queue.addBulk(Array.from({ length: 60 }, (_, i) => ({ name: 'j', data: { i } })));
  await waitFor(() => running === 50, { message: '50 jobs at once' });

  worker.concurrency = 5;

  release();
  await waitFor(async () => (await queue.getCompletedCount()) === 60);
  assert.equal(most, 50);
  assert.equal(worker.concurrency, 5);
});

test('docs (retrying failing jobs): exponential backoff, 3 attempts', async () => {
  const queue = new Queue('foo');
  let tries = 0;
  const worker = new Worker('foo', async (job) => {
    tries += 1;
    if (tries < 3) throw new Error(`try ${tries}`);
    return 'third time lucky';
  });

  await queue.add(
    'test-retry',
    { foo: 'bar' },
    {
      attempts: 3,
      backoff: {
        type: 'exponential',
        delay: 1000,
      },
    },
  );

  await waitFor(async () => (await queue.getCompletedCount()) === 1, { timeout: 15000 });
  const job = await queue.getJob('1');
  assert.equal(job.attemptsMade, 3);
  assert.ok(job.finishedOn - job.timestamp >= 3000, 'waited 1 s then 2 s');
  await worker.close();
});

test('docs (retrying failing jobs): a custom backoff strategy on the worker', async () => {
  const queue = new Queue('foo');
  let calls = 0;
  const doSomeProcessing = () => {
    calls += 1;
    if (calls === 1) throw new Error('first call fails');
    return 'ok';
  };

  const worker = new Worker('foo', async (job) => doSomeProcessing(), {
    settings: {
      backoffStrategy: (attemptsMade) => {
        return attemptsMade * 1000;
      },
    },
  });

  await queue.add(
    'test-retry',
    { foo: 'bar' },
    {
      attempts: 3,
      backoff: {
        type: 'custom',
      },
    },
  );

  await waitFor(async () => (await queue.getCompletedCount()) === 1, { timeout: 15000 });
  const job = await queue.getJob('1');
  assert.equal(job.returnvalue, 'ok');
  assert.ok(job.finishedOn - job.timestamp >= 1000, 'retried after the custom delay');
  await worker.close();
});

test('docs (stop retrying jobs): UnrecoverableError overrides attempts', async () => {
  const queue = new Queue('foo');
  const doSomeProcessing = () => {};

  const worker = new Worker(
    'foo',
    async (job) => {
      doSomeProcessing();
      throw new UnrecoverableError('Unrecoverable');
    },
    { connection },
  );

  await queue.add(
    'test-retry',
    { foo: 'bar' },
    {
      attempts: 3,
      backoff: 1000,
    },
  );

  await waitFor(async () => (await queue.getFailedCount()) === 1);
  const job = await queue.getJob('1');
  assert.equal(job.failedReason, 'Unrecoverable');
  assert.equal(job.attemptsMade, 1);
  await worker.close();
});

test('docs (rate limiting): worker.rateLimit then Worker.RateLimitError()', async () => {
  const queue = new Queue('myQueue');
  let calls = 0;
  const doExternalCall = async () => {
    calls += 1;
    return calls === 1 ? [true, 300] : [false, 0];
  };

  const worker = new Worker(
    'myQueue',
    async () => {
      const [isRateLimited, duration] = await doExternalCall();
      if (isRateLimited) {
        await worker.rateLimit(duration);
        // Do not forget to throw this special exception,
        // since we must differentiate this case from a failure
        // in order to move the job to wait again.
        throw Worker.RateLimitError();
      }
    },
    {
      connection,
      limiter: {
        max: 1,
        duration: 500,
      },
    },
  );

  await queue.add('call', {});
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  assert.equal(calls, 2);
  assert.equal((await queue.getJob('1')).attemptsMade, 1, 'rate limiting is not a failed attempt');
});

test('docs (stop retrying jobs): fail a manually rate-limited job once its attempts are used', async () => {
  const queue = new Queue('myQueue');
  const doExternalCall = async () => [true, 100];

  const worker = new Worker(
    'myQueue',
    async (job) => {
      const [isRateLimited, duration] = await doExternalCall();
      if (isRateLimited) {
        await queue.rateLimit(duration);
        if (job.attemptsStarted >= job.opts.attempts) {
          throw new UnrecoverableError('Unrecoverable');
        }
        // Do not forget to throw this special exception,
        // since we must differentiate this case from a failure
        // in order to move the job to wait again.
        throw new RateLimitError();
      }
    },
    {
      connection,
      limiter: {
        max: 1,
        duration: 500,
      },
    },
  );

  await queue.add('call', {}, { attempts: 2 });
  await waitFor(async () => (await queue.getFailedCount()) === 1, { timeout: 15000 });
  const job = await queue.getJob('1');
  assert.equal(job.failedReason, 'Unrecoverable');
  assert.equal(job.attemptsStarted, 2);
  await worker.close();
});

test('docs (process step jobs): move to delayed between steps with DelayedError', async () => {
  const queueName = 'steps';
  const queue = new Queue(queueName);
  const done = [];
  const doInitialStepStuff = async () => done.push('initial');
  const doSecondStepStuff = async () => done.push('second');
  const Step = { Initial: 0, Second: 1, Finish: 2 };

  const worker = new Worker(
    queueName,
    async (job, token) => {
      let step = job.data.step;
      while (step !== Step.Finish) {
        switch (step) {
          case Step.Initial: {
            await doInitialStepStuff();
            await job.moveToDelayed(Date.now() + 200, token);
            await job.updateData({
              step: Step.Second,
            });
            throw new DelayedError();
          }
          case Step.Second: {
            await doSecondStepStuff();
            await job.updateData({
              step: Step.Finish,
            });
            step = Step.Finish;
            return Step.Finish;
          }
          default: {
            throw new Error('invalid step');
          }
        }
      }
    },
    { connection },
  );

  await queue.add('stepper', { step: Step.Initial });
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  assert.deepEqual(done, ['initial', 'second']);
  const job = await queue.getJob('1');
  assert.equal(job.returnvalue, Step.Finish);
  assert.deepEqual(job.data, { step: Step.Finish });
  await worker.close();
});

test('docs (graceful shutdown): await worker.close() lets the current job finish', async () => {
  const queue = new Queue('shutdown');
  let started;
  const startedP = new Promise((r) => (started = r));
  const worker = new Worker('shutdown', async () => {
    started();
    await new Promise((r) => setTimeout(r, 300));
    return 'finished';
  });
  await queue.add('a', {});
  await queue.add('b', {});
  await startedP;

  await worker.close();

  assert.equal(await queue.getCompletedCount(), 1, 'the job in progress completed');
  assert.equal(await queue.getWaitingCount(), 1, 'no new job was picked up');
  assert.equal(await queue.getActiveCount(), 0);
});

test('docs (pausing queues): pause the queue, pause a worker locally', async () => {
  const myQueue = new Queue('pausable');
  const processed = [];
  const myWorker = new Worker('pausable', async (job) => {
    processed.push(job.name);
  });

  await myQueue.pause();
  await myQueue.add('while-queue-paused', {});
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(processed, []);
  await myQueue.resume();
  await waitFor(() => processed.length === 1);

  await myWorker.pause();
  await myQueue.add('while-worker-paused', {});
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(processed, ['while-queue-paused']);
  assert.ok(myWorker.isPaused());
  myWorker.resume();
  await waitFor(() => processed.length === 2);

  await myWorker.pause(true);
  assert.ok(myWorker.isPaused());
});

test('docs (auto-removal): removeOnFail {count: 0}, removeOnComplete {count: 1000} on the worker', async () => {
  const queue = new Queue('myQueueName');
  const myWorker = new Worker(
    'myQueueName',
    async (job) => {
      // do some work
      if (job.name === 'bad') throw new Error('bad');
    },
    {
      connection,
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 0 },
    },
  );
  await queue.add('good', {});
  await queue.add('bad', {});
  await waitFor(async () => (await queue.getCompletedCount()) === 1 && (await queue.getJob('2')) === undefined);
  assert.equal(await queue.getFailedCount(), 0, 'failed jobs are removed at once');
  assert.ok(await queue.getJob('1'), 'completed jobs are kept');
  await myWorker.close();
});

test('docs (cancelling jobs): cancelJob with a reason, event-based abort handling', async () => {
  const queue = new Queue('myQueue');
  const log = [];

  const worker = new Worker('myQueue', async (job, token, signal) => {
    return new Promise((resolve, reject) => {
      signal?.addEventListener('abort', () => {
        // Access the cancellation reason
        const reason = signal.reason || 'No reason provided';
        log.push(`Job ${job.id} cancelled: ${reason}`);

        reject(new Error(`Cancelled: ${reason}`));
      });

      // Your processing logic
    });
  });

  // Cancel a specific job by ID
  const cancelled = worker.cancelJob('job-id-123');
  assert.equal(cancelled, false); // true if job was active, false otherwise

  let started = 0;
  worker.on('active', () => (started += 1));
  const job = await queue.add('long', {});
  await waitFor(() => started === 1, { message: 'the job reached the processor' });

  // Later, cancel with a descriptive reason
  worker.cancelJob(job.id, 'Resource limit exceeded');

  await waitFor(async () => (await queue.getFailedCount()) === 1);
  assert.deepEqual(log, [`Job ${job.id} cancelled: Resource limit exceeded`]);
  assert.equal((await queue.getJob(job.id)).failedReason, 'Cancelled: Resource limit exceeded');

  // Get list of active jobs from queue
  const activeJobs = await queue.getActive();
  assert.deepEqual(
    activeJobs.map((j) => j.id),
    [],
  );
});

test('docs (cancelling jobs): a regular Error retries, UnrecoverableError does not; cancelAllJobs', async () => {
  const queue = new Queue('retryQueue');
  let runs = 0;
  const worker = new Worker('retryQueue', async (job, token, signal) => {
    runs += 1;
    if (job.name === 'task' && job.attemptsMade > 0) return 'retried';
    return new Promise((resolve, reject) => {
      signal?.addEventListener('abort', () => {
        if (job.name === 'task') {
          // Regular Error - job will retry if attempts remain
          reject(new Error('Cancelled, will retry'));
        } else {
          // UnrecoverableError - no retries
          reject(new UnrecoverableError('Cancelled permanently'));
        }
      });

      // Your work...
    });
  }, { concurrency: 2 });

  // Set attempts when adding jobs
  await queue.add('task', { n: 1 }, { attempts: 3 });
  await queue.add('permanent', { n: 2 }, { attempts: 3 });
  await waitFor(() => runs === 2, { message: 'both jobs in the processor' });

  // Cancel all with a reason
  worker.cancelAllJobs('System shutdown');

  await waitFor(async () => (await queue.getCompletedCount()) === 1 && (await queue.getFailedCount()) === 1);
  assert.equal((await queue.getJob('1')).returnvalue, 'retried');
  assert.equal((await queue.getJob('2')).failedReason, 'Cancelled permanently');
  assert.equal(runs, 3);
});

test('docs (cancelling jobs): cancel the jobs whose lock renewal failed', async () => {
  const queue = new Queue('myQueue');
  const cleaned = [];
  const cleanupResources = async () => cleaned.push('cleaned');

  const worker = new Worker(
    'myQueue',
    async (job, token, signal) => {
      return new Promise(async (resolve, reject) => {
        signal?.addEventListener('abort', async () => {
          await cleanupResources();
          reject(new Error('Job cancelled'));
        });

        // Your work...
      });
    },
    { connection, lockDuration: 2000, lockRenewTime: 100 },
  );
  worker.on('error', () => undefined);

  // Cancel jobs when lock renewal fails
  const failedIds = [];
  worker.on('lockRenewalFailed', (jobIds) => {
    failedIds.push(...jobIds);
    jobIds.forEach((jobId) => worker.cancelJob(jobId));
  });

  const job = await queue.add('long', {});
  await waitFor(async () => (await queue.getActiveCount()) === 1);
  const redis = await rawClient();
  const { prefix } = worker.opts;
  await redis.set(`${prefix}:myQueue:${job.id}:lock`, 'someone-else', 'PX', 60000);
  await waitFor(() => cleaned.length === 1, { message: 'the processor cleaned up' });
  assert.deepEqual(failedIds, [job.id]);
});

test('docs (cancelling jobs): the polling pattern checks signal.aborted between items', async () => {
  const queue = new Queue('batchQueue');
  let cancelAfterFirst;
  const firstDone = new Promise((r) => (cancelAfterFirst = r));
  const processItem = async (item) => {
    if (item === 1) {
      cancelAfterFirst();
      await new Promise((r) => setTimeout(r, 200));
    }
    return item * 10;
  };

  const worker = new Worker('batchQueue', async (job, token, signal) => {
    const items = job.data.items;
    const results = [];

    for (let i = 0; i < items.length; i++) {
      // Check if job has been cancelled
      if (signal?.aborted) {
        throw new Error(`Cancelled after processing ${i} items`);
      }

      const result = await processItem(items[i]);
      results.push(result);

      // Update progress
      await job.updateProgress(((i + 1) / items.length) * 100);
    }

    return { results, total: results.length };
  });

  const job = await queue.add('batch', { items: [1, 2, 3] });
  await firstDone;
  worker.cancelJob(job.id);
  await waitFor(async () => (await queue.getFailedCount()) === 1);
  const failed = await queue.getJob(job.id);
  assert.equal(failed.failedReason, 'Cancelled after processing 1 items');
  assert.equal(failed.progress, ((0 + 1) / 3) * 100);
});
