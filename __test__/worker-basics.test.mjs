// The automatic Worker: the processor and what it is given, concurrency
// (also changed at run time), events, run/autorun, pause/resume, close
// (graceful and forced), limiter, queue pause, delayed jobs, the queue's
// global concurrency, retention options.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Job, Worker } from 'bullmq-native';
import { Queue as OfficialQueue } from 'bullmq';

import { deferred, record, runScript, setup, sleep } from './support/workers.mjs';
import { redisUrl, streamEvents, waitFor } from './support/redis.mjs';

test('the processor gets (job, token, signal) and its return value completes the job', async () => {
  const { name, queue, redis, worker } = await setup('basic');
  await queue.add('double', { n: 21 });
  await queue.add('nothing', {});
  const calls = [];
  const w = worker(async (job, token, signal) => {
    calls.push({ job, token, signal, lock: await redis.get(`bull:${name}:${job.id}:lock`) });
    return job.name === 'double' ? job.data.n * 2 : undefined;
  });
  await waitFor(async () => (await queue.getCompletedCount()) === 2, { message: 'two completed jobs' });
  assert.equal(calls.length, 2);
  for (const c of calls) {
    assert.ok(c.job instanceof Job);
    assert.equal(typeof c.token, 'string');
    assert.ok(c.token.startsWith(`${w.id}:`), `token ${c.token} names the worker`);
    assert.equal(c.lock, c.token, 'the job is locked with the token given to the processor');
    assert.ok(c.signal instanceof AbortSignal);
    assert.equal(c.signal.aborted, false);
  }
  assert.deepEqual(calls[0].job.data, { n: 21 });
  assert.equal(await redis.hget(`bull:${name}:1`, 'returnvalue'), '42');
  assert.equal(await redis.hget(`bull:${name}:2`, 'returnvalue'), 'null', 'undefined is stored as null');
  assert.equal((await queue.getJob('1')).returnvalue, 42);
  assert.equal(await redis.llen(`bull:${name}:active`), 0);
  await w.close();
});

test('a synchronous processor and one returning a plain value work too', async () => {
  const { queue, worker } = await setup('sync');
  await queue.add('a', { v: 'x' });
  const w = worker((job) => job.data.v.toUpperCase());
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  assert.equal((await queue.getJob('1')).returnvalue, 'X');
  await w.close();
});

test('the processor gets data and opts as stored, whatever their form (fetched or fetched next)', async () => {
  const { name, queue, redis, worker } = await setup('data-forms');
  const forms = [
    { nested: { list: [1, 'two', null, true], quote: 'say "hi"', slash: 'a/b\\c', line: '\u2028 😀 é' } },
    [1, [2, { three: 3 }]],
    'a string',
    42,
    null,
    JSON.parse('{"__proto__": {"own": 1}, "big": 12345678901234567890, "deep": [[[[{}]]]]}'),
  ];
  for (const data of forms) await queue.add('form', data, { attempts: 3, backoff: 1000 });
  // Ids that JSON must escape.
  await queue.add('form', { quoted: true }, { jobId: 'say "hi" \\ \u0001', attempts: 3, backoff: 1000 });
  forms.push({ quoted: true });
  // Stored by other clients: text that is not JSON, and no text at all,
  // read as an empty object (as BullMQ reads them).
  const odd = await queue.add('odd', {});
  const empty = await queue.add('empty', {});
  await redis.hset(`bull:${name}:${odd.id}`, 'data', '{"not json');
  await redis.hset(`bull:${name}:${empty.id}`, 'data', '');
  const seen = [];
  const w = worker(async (job) => {
    seen.push(job);
  });
  await waitFor(() => seen.length === forms.length + 2, { message: 'every job processed' });
  const expected = [...forms.map((f) => JSON.parse(JSON.stringify(f))), {}, {}];
  assert.deepEqual(
    seen.map((j) => j.data),
    expected,
  );
  const quoted = seen[forms.length - 1];
  assert.equal(quoted.id, 'say "hi" \\ \u0001');
  assert.equal(await queue.getJobState(quoted.id), 'completed');
  for (const job of seen.slice(0, forms.length)) {
    assert.equal(job.opts.attempts, 3);
    assert.deepEqual(job.opts.backoff, { type: 'fixed', delay: 1000 });
    assert.equal(job.name, 'form');
    assert.equal(job.attemptsStarted, 1);
    assert.equal(typeof job.timestamp, 'number');
  }
  await w.close();
});

test('keeps up to `concurrency` jobs in flight, and no more', async () => {
  const { queue, worker } = await setup('conc');
  await queue.addBulk(Array.from({ length: 9 }, (_, i) => ({ name: 'j', data: { i } })));
  const gate = deferred();
  let running = 0;
  let most = 0;
  const w = worker(
    async () => {
      running += 1;
      most = Math.max(most, running);
      await gate.promise;
      running -= 1;
    },
    { concurrency: 3 },
  );
  await waitFor(() => running === 3, { message: 'three jobs in flight' });
  await sleep(300);
  assert.equal(running, 3, 'no fourth job while three are in flight');
  assert.equal(await queue.getActiveCount(), 3);
  assert.equal(await queue.getWaitingCount(), 6);
  gate.resolve();
  await waitFor(async () => (await queue.getCompletedCount()) === 9, { message: 'all completed' });
  assert.equal(most, 3);
  await w.close();
});

test('concurrency changes take effect while running; bad values are refused', async () => {
  const { queue, worker } = await setup('conc-live');
  await queue.addBulk(Array.from({ length: 6 }, () => ({ name: 'j', data: {} })));
  const gate = deferred();
  let running = 0;
  const w = worker(async () => {
    running += 1;
    await gate.promise;
    running -= 1;
  });
  await waitFor(() => running === 1, { message: 'one job in flight' });
  assert.equal(w.concurrency, 1);
  w.concurrency = 4;
  assert.equal(w.concurrency, 4);
  await waitFor(() => running === 4, { message: 'four jobs in flight after raising concurrency' });
  for (const bad of [0, -1, Infinity, '2', null]) {
    assert.throws(() => {
      w.concurrency = bad;
    }, { message: 'concurrency must be a finite number greater than 0' });
  }
  assert.equal(w.concurrency, 4);
  gate.resolve();
  await waitFor(async () => (await queue.getCompletedCount()) === 6);
  await w.close();
});

test('events: ready, active, progress, completed, failed, drained, closing, closed', async () => {
  const { queue, worker } = await setup('events');
  await queue.add('ok', { n: 1 });
  await queue.add('ko', { n: 2 });
  const w = worker(
    async (job) => {
      await job.updateProgress(50);
      if (job.name === 'ko') throw new Error('bad job');
      return 'fine';
    },
    { autorun: false },
  );
  const seen = record(w, ['ready', 'active', 'progress', 'completed', 'failed', 'drained', 'closing', 'closed']);
  await waitFor(() => seen.some(([e]) => e === 'ready'), { message: 'ready' });
  void w.run();
  await waitFor(() => seen.some(([e]) => e === 'drained'), { message: 'drained' });
  const byName = (e) => seen.filter(([n]) => n === e);
  assert.equal(byName('active').length, 2);
  for (const [, job, prev] of byName('active')) {
    assert.ok(job instanceof Job);
    assert.equal(prev, 'waiting');
  }
  assert.deepEqual(
    byName('progress').map(([, job, p]) => [job.id, p]),
    [['1', 50], ['2', 50]],
  );
  const [[, doneJob, result, prev]] = byName('completed');
  assert.deepEqual([doneJob.id, result, prev, doneJob.returnvalue, doneJob.attemptsMade], ['1', 'fine', 'active', 'fine', 1]);
  assert.ok(doneJob.finishedOn > 0);
  const [[, failedJob, err, failedPrev]] = byName('failed');
  assert.deepEqual([failedJob.id, err.message, failedPrev, failedJob.failedReason], ['2', 'bad job', 'active', 'bad job']);
  await w.close();
  assert.deepEqual(
    seen.filter(([e]) => e === 'closing' || e === 'closed'),
    [['closing', 'closing queue'], ['closed']],
  );
});

test('run(): autorun false waits for it; a second run rejects; no processor, no run', async () => {
  const { queue, worker } = await setup('run');
  await queue.add('a', {});
  const w = worker(async () => 'done', { autorun: false });
  await w.waitUntilReady();
  await sleep(200);
  assert.equal(await queue.getWaitingCount(), 1, 'nothing runs before run()');
  assert.equal(w.isRunning(), false);
  const running = w.run();
  assert.equal(w.isRunning(), true);
  await assert.rejects(w.run(), { message: 'Worker is already running.' });
  await waitFor(async () => (await queue.getCompletedCount()) === 1);
  await w.close();
  await running;
  assert.equal(w.isRunning(), false);

  const manual = worker(null);
  await assert.rejects(manual.run(), { message: 'No process function is defined.' });
});

test('pause waits for active jobs and takes no new one; resume goes on', async () => {
  const { queue, worker } = await setup('pause');
  await queue.add('first', {});
  const gate = deferred();
  const processed = [];
  const w = worker(async (job) => {
    processed.push(job.name);
    if (job.name === 'first') await gate.promise;
  });
  const seen = record(w, ['paused', 'resumed']);
  await waitFor(() => processed.length === 1);
  let pausedDone = false;
  const pausing = w.pause().then(() => {
    pausedDone = true;
  });
  assert.equal(w.isPaused(), true);
  await sleep(200);
  assert.equal(pausedDone, false, 'pause() waits for the active job');
  gate.resolve();
  await pausing;
  assert.equal(await queue.getCompletedCount(), 1);
  assert.equal(w.isRunning(), false, 'a paused worker with no active job is not running');
  await queue.add('second', {});
  await sleep(300);
  assert.deepEqual(processed, ['first'], 'a paused worker takes no job');
  assert.equal(await queue.getWaitingCount(), 1);
  w.resume();
  assert.equal(w.isPaused(), false);
  await waitFor(async () => (await queue.getCompletedCount()) === 2, { message: 'processed after resume' });
  assert.deepEqual(processed, ['first', 'second']);
  assert.deepEqual(seen.map(([e]) => e), ['paused', 'resumed']);

  // pause(true) does not wait for the active job.
  await w.close();
  const gate2 = deferred();
  await queue.add('third', {});
  const w2 = worker(async () => gate2.promise);
  await waitFor(async () => (await queue.getActiveCount()) === 1);
  await w2.pause(true);
  assert.equal(await queue.getActiveCount(), 1);
  gate2.resolve();
  await waitFor(async () => (await queue.getCompletedCount()) === 3);
  await w2.close();
});

test('close waits for active jobs and takes no new one', async () => {
  const { queue, worker } = await setup('close');
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
  const gate = deferred();
  const processed = [];
  const w = worker(async (job) => {
    processed.push(job.name);
    await gate.promise;
    return job.name;
  });
  await waitFor(() => processed.length === 1);
  let closed = false;
  const closing = w.close().then(() => {
    closed = true;
  });
  await sleep(200);
  assert.equal(closed, false, 'close() waits for the active job');
  gate.resolve();
  await closing;
  assert.deepEqual(processed, ['a']);
  assert.equal(await queue.getCompletedCount(), 1, 'the active job was completed before close resolved');
  assert.equal(await queue.getWaitingCount(), 1, 'the next job was not taken');
  assert.equal(await queue.getActiveCount(), 0);
});

test('close(true) does not wait for active jobs', async () => {
  const { queue, worker } = await setup('force');
  await queue.add('hang', {});
  const w = worker(() => new Promise(() => {}), { lockDuration: 60000 });
  await waitFor(async () => (await queue.getActiveCount()) === 1);
  await w.close(true);
  assert.equal(await queue.getActiveCount(), 1, 'the job stays active (the stalled checker recovers it later)');
  assert.equal(w.isRunning(), false);
});

test('closing an idle worker blocked on the marker returns at once', async () => {
  const { worker } = await setup('idle-close');
  const w = worker(async () => null, { drainDelay: 60 });
  await w.waitUntilReady();
  await sleep(200);
  const closed = w.close();
  await waitFor(() => Promise.race([closed.then(() => true), sleep(50).then(() => false)]), {
    timeout: 10000,
    message: 'close() while blocked on the marker',
  });
});

test('a running worker keeps the process alive until it is closed', async () => {
  const url = await redisUrl();
  const script = `
    import { Queue, Worker } from 'bullmq-native';
    const u = new URL(${JSON.stringify(url)});
    const connection = { host: u.hostname, port: Number(u.port) };
    const name = 'alive-' + process.pid;
    const queue = new Queue(name, { connection });
    const worker = new Worker(name, async () => 'ok', { connection });
    worker.on('completed', () => {
      // After the job, wait long enough that a worker that did not hold the
      // process open would have let it exit, then close.
      setTimeout(async () => {
        process.stdout.write('still alive\\n');
        await worker.close();
        await queue.close();
      }, 300);
    });
    // Nothing else keeps the process alive once the job is added.
    await queue.add('j', {});
  `;
  const { code, out } = await runScript(script, { timeout: 20000 });
  assert.equal(out, 'still alive\n');
  assert.equal(code, 0, 'the process exits by itself after close');
});

test('limiter: at most max jobs per duration', async () => {
  const { queue, worker } = await setup('limiter');
  await queue.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'j', data: { i } })));
  const w = worker(async () => null, { concurrency: 6, limiter: { max: 2, duration: 400 } });
  await waitFor(async () => (await queue.getCompletedCount()) === 6, { message: 'all completed' });
  const jobs = await queue.getCompleted();
  const started = jobs.map((j) => j.processedOn).sort((a, b) => a - b);
  for (let i = 2; i < started.length; i++) {
    assert.ok(started[i] - started[i - 2] >= 350, `job ${i} started ${started[i] - started[i - 2]} ms after job ${i - 2}`);
  }
  await w.close();
});

test('a paused queue gives the worker nothing until resumed', async () => {
  const { queue, worker } = await setup('qpause');
  await queue.pause();
  await queue.add('j', {});
  const w = worker(async () => 'ok', { drainDelay: 1 });
  await w.waitUntilReady();
  await sleep(400);
  assert.equal(await queue.getCompletedCount(), 0);
  await queue.resume();
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { message: 'processed after resume' });
  await w.close();
});

test('a delayed job is processed once due', async () => {
  const { queue, worker } = await setup('delayed');
  const w = worker(async () => 'late', { drainDelay: 5 });
  await w.waitUntilReady();
  const job = await queue.add('later', {}, { delay: 400 });
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { message: 'delayed job done' });
  const done = await queue.getJob(job.id);
  assert.ok(done.processedOn >= job.timestamp + 400, 'not before its delay');
  await w.close();
});

test("the queue's global concurrency caps all workers together", async () => {
  const { name, queue, connection, worker } = await setup('global');
  const official = new OfficialQueue(name, { connection });
  await official.setGlobalConcurrency(1);
  await official.close();
  await queue.addBulk(Array.from({ length: 6 }, () => ({ name: 'j', data: {} })));
  let running = 0;
  let most = 0;
  const processor = async () => {
    running += 1;
    most = Math.max(most, running);
    await sleep(30);
    running -= 1;
  };
  const a = worker(processor, { concurrency: 4, drainDelay: 1 });
  const b = worker(processor, { concurrency: 4, drainDelay: 1 });
  await waitFor(async () => (await queue.getCompletedCount()) === 6, { timeout: 20000, message: 'all completed' });
  assert.equal(most, 1);
  await Promise.all([a.close(), b.close()]);
});

test('removeOnComplete and removeOnFail of the worker apply unless the job says otherwise', async () => {
  const { name, queue, redis, worker } = await setup('retention');
  await queue.add('ok', {});
  await queue.add('ko', {});
  await queue.add('keep', {}, { removeOnComplete: false });
  const w = worker(
    async (job) => {
      if (job.name === 'ko') throw new Error('no');
      return 1;
    },
    { removeOnComplete: { count: 0 }, removeOnFail: { count: 0 } },
  );
  const seen = record(w, ['completed', 'failed']);
  await waitFor(() => seen.length === 3);
  assert.equal(await redis.exists(`bull:${name}:1`), 0);
  assert.equal(await redis.exists(`bull:${name}:2`), 0);
  assert.equal(await redis.exists(`bull:${name}:3`), 1);
  assert.deepEqual(await redis.zrange(`bull:${name}:completed`, 0, -1), ['3']);
  const events = await streamEvents(redis, 'bull', name);
  assert.ok(events.some((e) => e.event === 'completed' && e.jobId === '1'));
  await w.close();
});

test('a listener that throws becomes an error event', async () => {
  const { queue, worker } = await setup('listener');
  await queue.add('a', {});
  await queue.add('b', {});
  const w = worker(async () => 1, { concurrency: 1 });
  const errors = [];
  w.on('error', (e) => errors.push(e));
  w.on('completed', (job) => {
    if (job.id === '1') throw new Error('listener broke');
  });
  await waitFor(async () => (await queue.getCompletedCount()) === 2);
  await waitFor(() => errors.length === 1, { message: 'the error event' });
  assert.deepEqual(errors.map((e) => e.message), ['listener broke']);
  await w.close();
});

test('the worker appears in getWorkers while running', async () => {
  const { queue, worker } = await setup('workers');
  const w = worker(async () => 1, { name: 'named' });
  await w.waitUntilReady();
  await waitFor(async () => (await queue.getWorkers()).length === 1);
  await w.close();
  await waitFor(async () => (await queue.getWorkers()).length === 0, { message: 'gone after close' });
});

test('options as BullMQ checks them', async () => {
  const { name, connection } = await setup('opts');
  // BullMQ's Error and message (surface-methods.test.mjs compares them).
  for (const concurrency of [-1, 0]) {
    assert.throws(() => new Worker(name, async () => 1, { connection, concurrency }), {
      message: 'concurrency must be a finite number greater than 0',
    });
  }
  const bad = [
    [{ lockDuration: 0 }, /lockDuration must be greater than 0/],
    [{ stalledInterval: 0 }, /stalledInterval must be greater than 0/],
    [{ drainDelay: 0 }, /drainDelay must be greater than 0/],
    [{ maxStalledCount: -1 }, /maxStalledCount must be greater or equal than 0/],
    [{ limiter: { max: 0, duration: 10 } }, /limiter must be/],
  ];
  for (const [opts, message] of bad) {
    assert.throws(() => new Worker(name, async () => 1, { connection, ...opts }), (err) => {
      assert.equal(err.name, 'TypeError');
      assert.match(err.message, message);
      return true;
    });
  }
  assert.throws(() => new Worker(name, 42, { connection }), TypeError);
  assert.throws(() => new Worker(name, './missing-processor.js', { connection }), /does not exist/);
});

test('a processor given as a file runs sandboxed', async () => {
  const { queue, worker } = await setup('sandboxed');
  await queue.add('echo', { hello: 'sandbox' });
  const file = new URL('./fixtures/sandbox-echo.cjs', import.meta.url);
  const w = worker(file.pathname, { concurrency: 2 });
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { timeout: 20000, message: 'sandboxed job done' });
  const done = await queue.getJob('1');
  assert.equal(done.returnvalue.kind, 'cjs');
  assert.deepEqual(done.returnvalue.data, { hello: 'sandbox' });
  assert.notEqual(done.returnvalue.pid, process.pid, 'ran in a child process');
  assert.equal(done.returnvalue.signal, true);
  await w.close();
  assert.throws(() => worker('./no/such/processor.js'), /does not exist/);
});

test('useWorkerThreads runs a file processor in a worker thread of this process', async () => {
  const { queue, worker } = await setup('sandboxed-threads');
  await queue.add('echo', { hello: 'thread' });
  const file = new URL('./fixtures/sandbox-echo.cjs', import.meta.url);
  const w = worker(file.pathname, { useWorkerThreads: true });
  await waitFor(async () => (await queue.getCompletedCount()) === 1, { timeout: 20000, message: 'threaded job done' });
  const done = await queue.getJob('1');
  assert.deepEqual(done.returnvalue.data, { hello: 'thread' });
  assert.equal(done.returnvalue.pid, process.pid, 'same process');
  assert.notEqual(done.returnvalue.threadId, 0, 'not the main thread');
  await w.close();
});

test('drained comes after the completed event of the last job, once per transition', async () => {
  const { queue, worker } = await setup('drained-order');
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
  const w = worker(async (job) => job.name, { autorun: false });
  const seen = record(w, ['completed', 'drained']);
  void w.run();
  await waitFor(() => seen.some(([e]) => e === 'drained'));
  await queue.add('c', {});
  await waitFor(() => seen.filter(([e]) => e === 'drained').length === 2, { message: 'drained again' });
  assert.deepEqual(
    seen.map(([e, job]) => (e === 'completed' ? `completed ${job.name}` : e)),
    ['completed a', 'completed b', 'drained', 'completed c', 'drained'],
  );
  await w.close();
});

test('locks of jobs in flight are renewed (locksRenewed) while their processors run', async () => {
  const { name, queue, redis, worker } = await setup('renew');
  await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
  const gate = deferred();
  let running = 0;
  const w = worker(
    async () => {
      running += 1;
      await gate.promise;
    },
    { concurrency: 2, lockDuration: 300, lockRenewTime: 100, stalledInterval: 100 },
  );
  const renewed = record(w, ['locksRenewed']);
  const stalled = record(w, ['stalled']);
  await waitFor(() => running === 2);
  // Well past the lock duration, both locks are still held.
  await waitFor(() => renewed.reduce((n, [, r]) => n + r.count, 0) >= 10, { message: 'renewals' });
  for (const id of ['1', '2']) assert.ok((await redis.pttl(`bull:${name}:${id}:lock`)) > 0, `job ${id} still locked`);
  assert.deepEqual(stalled, [], 'no job stalled');
  for (const [, r] of renewed) assert.equal(r.count, r.jobIds.length);
  gate.resolve();
  await waitFor(async () => (await queue.getCompletedCount()) === 2);
  await w.close();
});

test('pause() with many jobs in flight resolves with none active', async () => {
  // Completions and failures fetch the next job as they finish: none may be
  // left active (or started) once pause() resolved, whatever the timing.
  const { queue, worker } = await setup('pause-busy');
  for (const wait of [0, 5, 20, 60]) {
    await queue.drain();
    await queue.addBulk(Array.from({ length: 3000 }, (_, i) => ({ name: 'j', data: { i } })));
    let started = 0;
    const w = worker(
      async (job) => {
        started += 1;
        if (job.data.i % 3 === 0) throw new Error('odd one');
        if (job.data.i % 3 === 1) await sleep(1);
      },
      { concurrency: 50 },
    );
    await sleep(wait);
    await w.pause();
    const startedAtPause = started;
    assert.equal(await queue.getActiveCount(), 0, `no job active after pause (waited ${wait} ms)`);
    await sleep(100);
    assert.equal(started, startedAtPause, 'no job started after pause resolved');
    assert.equal(await queue.getActiveCount(), 0);
    await w.close();
  }
});

test('pause and resume in the same tick, in any order, leave the worker as asked last', async () => {
  const { queue, worker } = await setup('pause-resume');
  await queue.addBulk(Array.from({ length: 2000 }, () => ({ name: 'j', data: {} })));
  let processed = 0;
  const w = worker(
    async () => {
      processed += 1;
      await sleep(1);
    },
    { concurrency: 10 },
  );
  await waitFor(() => processed > 0, { message: 'processing started' });
  for (const doNotWaitActive of [true, false, true, false]) {
    // pause then resume: running, and the pause call settles at once.
    const pausing = w.pause(doNotWaitActive);
    w.resume();
    const settled = await Promise.race([pausing.then(() => 'settled'), sleep(1000).then(() => 'pending')]);
    assert.equal(settled, 'settled', `pause(${doNotWaitActive}) superseded by resume settles`);
    assert.equal(w.isPaused(), false);
    assert.equal(w.isRunning(), true);
    const before = processed;
    await waitFor(() => processed > before + 20, { message: `processing goes on after pause(${doNotWaitActive}) + resume()` });
    // resume then pause: paused, and no job starts once the pause settled.
    w.resume();
    await w.pause(doNotWaitActive);
    if (doNotWaitActive) await waitFor(async () => (await queue.getActiveCount()) === 0, { message: 'active jobs done' });
    assert.equal(w.isPaused(), true);
    const atPause = processed;
    await sleep(150);
    assert.equal(processed, atPause, 'a paused worker starts no job');
    w.resume();
  }
  // A later pause still settles.
  const last = await Promise.race([w.pause().then(() => 'settled'), sleep(5000).then(() => 'pending')]);
  assert.equal(last, 'settled');
});
