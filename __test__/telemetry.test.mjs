// Telemetry: the same scenarios run on the official bullmq 6.7 and on ours,
// each on its own queues, with bullmq-otel's BullMQOtel recording into the
// OpenTelemetry SDK (support/otel.mjs); the spans (names, kinds, attributes,
// events, parent links) and metrics, normalized, must be the same, and so
// must the telemetry options stored in the jobs. Traces also link across
// the two packages: a job added by one and processed by the other.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { context, trace } from '@opentelemetry/api';
import * as official from 'bullmq';
import { BullMQOtel } from 'bullmq-otel';
import * as ours from 'bullmq-native';

import { track } from './support/closers.mjs';
import { isChildOf, normalMetrics, normalSpans, normalizer, spanExporter, takeSpans } from './support/otel.mjs';
import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';

const PACKAGES = { official, ours };

/** Waits until `n` recorded spans have a name starting with `prefix`. */
async function spansEnded(prefix, n, message) {
  await waitFor(() => spanExporter.getFinishedSpans().filter((s) => s.name.startsWith(prefix)).length >= n, {
    timeout: 20000,
    message: message ?? `${n} "${prefix}" spans`,
  });
}

/** The telemetry options a job stores: `opts.tm` and `opts.omc` as Redis holds them. */
async function storedTelemetry(redis, queue, id) {
  const opts = JSON.parse((await redis.hget(`bull:${queue}:${id}`, 'opts')) ?? '{}');
  return { tm: opts.tm, omc: opts.omc };
}

/** Stored telemetry of every job of `queues`, by job name, with metadata shown as present or not. */
async function storedByName(redis, queues) {
  const out = {};
  for (const queue of queues) {
    const keys = await redis.keys(`bull:${queue}:*`);
    for (const key of keys) {
      const rest = key.slice(`bull:${queue}:`.length);
      // Job hashes only: not their sub-keys, nor a scheduler's own hash (`repeat:{id}`).
      if (rest.includes(':') && !/^repeat:[^:]+:\d+$/.test(rest)) continue;
      if ((await redis.type(key)) !== 'hash') continue;
      const name = await redis.hget(key, 'name');
      if (name === null) continue;
      const { tm, omc } = await storedTelemetry(redis, queue, rest);
      out[name] = { tm: typeof tm === 'string' ? 'context' : tm, omc };
    }
  }
  return out;
}

/**
 * Producer, automatic worker and queue control on queue `q`: adds (one,
 * bulk, with `omitContext`), completions, a retry with backoff (`delay`), an
 * immediate retry (`retry`), final failures (`fail`), worker pause/resume
 * (the stalled checker restarts), then the queue's control methods.
 */
async function workerScenario(pkg, names, conn) {
  const telemetry = new BullMQOtel({ tracerName: 'parity', enableMetrics: true });
  const queue = new pkg.Queue(names.q, { connection: conn, telemetry });
  await queue.waitUntilReady();
  const worker = new pkg.Worker(
    names.q,
    async (job) => {
      if (job.name === 'bad') throw new Error('boom');
      if (job.name === 'retry' && job.attemptsMade === 0) throw new Error('again');
      return { n: job.data.n };
    },
    { connection: conn, telemetry },
  );
  await spansEnded('moveStalledJobsToWait', 1, 'the first stalled check');
  await queue.add('good', { n: 1 });
  await queue.add('bad', { n: 2 }, { attempts: 2, backoff: { type: 'fixed', delay: 50 } });
  await queue.add('retry', { n: 3 }, { attempts: 2 });
  await queue.addBulk([
    { name: 'b1', data: { n: 4 } },
    { name: 'b2', data: { n: 5 }, opts: { telemetry: { omitContext: true } } },
  ]);
  await spansEnded('process', 7);
  await worker.pause();
  await worker.resume();
  await spansEnded('moveStalledJobsToWait', 2, 'the stalled check after resume');
  await worker.rateLimit(10);
  await worker.close();

  await queue.pause();
  await queue.resume();
  await queue.rateLimit(1);
  await queue.updateJobProgress('1', 50);
  await queue.remove('1');
  await queue.removeDeduplicationKey('d1');
  await queue.removeDebounceKey('d2');
  assert.deepEqual(await queue.clean(0, 10, 'failed'), ['2']);
  await queue.retryJobs({ state: 'completed' });
  await queue.promoteJobs();
  await queue.drain(true);
  await queue.trimEvents(10);
  await queue.recordJobCountsMetric('completed', 'failed', 'wait');
  await queue.obliterate({ force: true });
  await queue.close();
}

/** A worker without processor: getNextJob, then moveToCompleted and moveToFailed by hand. */
async function manualScenario(pkg, names, conn) {
  const telemetry = new BullMQOtel({ tracerName: 'parity', enableMetrics: true });
  const queue = new pkg.Queue(names.m, { connection: conn, telemetry });
  await queue.add('m1', {});
  await queue.add('m2', {}, { attempts: 3, backoff: 100 });
  await queue.add('m3', {}, { attempts: 2 });
  const worker = new pkg.Worker(names.m, null, { connection: conn, telemetry });
  const token = 'tok';
  const j1 = await worker.getNextJob(token);
  await j1.moveToCompleted('done', token, false);
  const j2 = await worker.getNextJob(token);
  await j2.moveToFailed(new Error('later'), token);
  const j3 = await worker.getNextJob(token);
  await j3.moveToFailed(new Error('now'), token);
  const again = await worker.getNextJob(token);
  await again.moveToFailed(new pkg.UnrecoverableError('never'), token);
  await worker.close();
  await queue.close();
}

/** A flow (nodes with and without options) and a bulk of flows. */
async function flowScenario(pkg, names, conn) {
  const telemetry = new BullMQOtel({ tracerName: 'parity' });
  const flows = new pkg.FlowProducer({ connection: conn, telemetry });
  await flows.add({
    name: 'root',
    queueName: names.f1,
    data: {},
    opts: { attempts: 1 },
    children: [
      { name: 'c1', queueName: names.f1, data: {}, opts: {} },
      { name: 'c2', queueName: names.f2, data: {} },
      { name: 'c3', queueName: names.f2, data: {}, opts: { telemetry: { omitContext: true } } },
    ],
  });
  await flows.addBulk([
    { name: 'bulk1', queueName: names.f1, data: {} },
    { name: 'bulk2', queueName: names.f2, data: {}, opts: { jobId: 'fixed-id' } },
  ]);
  await flows.close();
}

/** A job scheduler upserted on a queue (the `add` span of its first iteration). */
async function schedulerScenario(pkg, names, conn) {
  const telemetry = new BullMQOtel({ tracerName: 'parity' });
  const queue = new pkg.Queue(names.s, { connection: conn, telemetry });
  await queue.upsertJobScheduler('sch', { every: 60000 }, { name: 'tick', data: {} });
  await queue.close();
}

/** Runs `scenario` with each package on its own queues; returns their spans, metrics and stored options. */
async function runBoth(labels, scenario, { metrics = false } = {}) {
  const conn = await connection();
  const redis = await rawClient();
  const out = {};
  for (const [which, pkg] of Object.entries(PACKAGES)) {
    const names = Object.fromEntries(labels.map((l) => [l, queueName(`tm-${l}-${which}`)]));
    takeSpans();
    await scenario(pkg, names, conn);
    out[which] = {
      names,
      spans: takeSpans(),
      stored: await storedByName(redis, Object.values(names)),
      metrics: metrics ? await normalMetrics(names) : undefined,
    };
  }
  return out;
}

test('worker, producer and queue control spans and metrics are those of bullmq 6.7', async () => {
  const run = await runBoth(['q'], workerScenario, { metrics: true });
  const official = normalSpans(run.official.spans, run.official.names);
  const mine = normalSpans(run.ours.spans, run.ours.names);
  // The scenario covers what it should (on both sides, by the comparison).
  const names = new Set(official.map((s) => `${s.name}`));
  for (const name of [
    'add <q>.good', 'addBulk <q>', 'process <q>', 'complete <q>', 'delay <q>', 'retry <q>', 'fail <q>',
    'startStalledCheckTimer <q>', 'moveStalledJobsToWait <q>', 'pause <q>', 'resume <q>', 'rateLimit <q>', 'close <q>',
    'updateJobProgress <q>', 'remove <q>', 'removeDeduplicationKey <q>', 'removeDebounceKey <q>', 'clean <q>',
    'retryJobs <q>', 'promoteJobs <q>', 'drain <q>', 'trimEvents <q>', 'obliterate <q>',
  ]) {
    assert.ok(names.has(name), `bullmq recorded ${name}`);
  }
  assert.deepEqual(mine, official);
  assert.deepEqual(run.ours.metrics, run.official.metrics);
  assert.ok(run.official.metrics.some((m) => m.name === 'bullmq.jobs.retried'), 'metrics recorded');
  assert.ok(run.official.metrics.some((m) => m.name === 'bullmq.queue.jobs'), 'job counts recorded');

  // The worker's process spans continue the producer's traces.
  const spans = run.ours.spans;
  const add = spans.find((s) => s.name === `add ${run.ours.names.q}.good`);
  const processSpan = spans.find((s) => s.name === `process ${run.ours.names.q}` && s.attributes['bullmq.job.id'] === '1');
  assert.ok(isChildOf(processSpan, add), 'process is a child of add');
  const complete = spans.find((s) => s.name === `complete ${run.ours.names.q}`);
  assert.ok(isChildOf(complete, processSpan), 'complete is a child of process');
});

test('jobs store the producer context as bullmq 6.7 stores it (tm, omc)', async () => {
  const run = await runBoth(['m', 'q'], async (pkg, names, conn) => {
    const telemetry = new BullMQOtel({ tracerName: 'parity' });
    const queue = new pkg.Queue(names.q, { connection: conn, telemetry });
    await queue.add('single', {});
    await queue.add('omitted', {}, { telemetry: { omitContext: true } });
    await queue.add('ownIgnored', {}, { telemetry: { metadata: '{"traceparent":"x"}' } });
    await queue.addBulk([
      { name: 'bulk', data: {} },
      { name: 'bulkOmitted', data: {}, opts: { telemetry: { omitContext: true } } },
      { name: 'bulkOwn', data: {}, opts: { telemetry: { metadata: 'own' } } },
    ]);
    await queue.close();
    const plain = new pkg.Queue(names.m, { connection: conn });
    await plain.add('untraced', {});
    await plain.add('untracedOwn', {}, { telemetry: { metadata: 'own', omitContext: true } });
    await plain.close();
  });
  assert.deepEqual(run.ours.stored, run.official.stored);
  assert.deepEqual(run.ours.stored.bulkOmitted, { tm: false, omc: true });
  assert.deepEqual(run.ours.stored.bulkOwn, { tm: 'context', omc: undefined });
  assert.deepEqual(run.ours.stored.untraced, { tm: undefined, omc: undefined });
  assert.deepEqual(normalSpans(run.ours.spans, run.ours.names), normalSpans(run.official.spans, run.official.names));
});

test('manual processing spans (getNextJob, complete, retry, delay, fail) are those of bullmq 6.7', async () => {
  const run = await runBoth(['m'], manualScenario, { metrics: true });
  const official = normalSpans(run.official.spans, run.official.names);
  assert.ok(official.some((s) => s.name === 'getNextJob <m>' && s.parent === 'add <m>.m1#1'), 'getNextJob links to add');
  assert.deepEqual(normalSpans(run.ours.spans, run.ours.names), official);
  assert.deepEqual(run.ours.metrics, run.official.metrics);
});

test('flow spans (addFlow, addNode, addBulkFlows) and the context their jobs store are those of bullmq 6.7', async () => {
  const run = await runBoth(['f1', 'f2'], flowScenario);
  const official = normalSpans(run.official.spans, run.official.names);
  assert.ok(official.some((s) => s.name === 'addNode <f2>' && s.parent === 'addNode <f1>#<uuid>'));
  assert.deepEqual(normalSpans(run.ours.spans, run.ours.names), official);
  assert.deepEqual(run.ours.stored, run.official.stored);
  assert.equal(run.ours.stored.c1.tm, 'context');
  assert.equal(run.ours.stored.c2.tm, undefined, 'a node without options stores no context (as 6.7)');
});

test('a job scheduler upsert records the add span of its iteration, as bullmq 6.7', async () => {
  const run = await runBoth(['s'], schedulerScenario);
  const official = normalSpans(run.official.spans, run.official.names);
  assert.deepEqual(
    official.map((s) => [s.name, s.attributes['bullmq.job.scheduler.id'], s.attributes['bullmq.job.id']]),
    [['add <s>.tick', 'sch', 'repeat:sch:<ms>'], ['close <s>', undefined, undefined]],
  );
  assert.deepEqual(normalSpans(run.ours.spans, run.ours.names), official);
  assert.deepEqual(run.ours.stored.tick, run.official.stored.tick);
  assert.equal(run.ours.stored.tick.tm, 'context');
});

test('traces link across packages: added by one, processed by the other', async () => {
  const conn = await connection();
  for (const [producer, consumer] of [[official, ours], [ours, official]]) {
    const name = queueName('tm-cross');
    const telemetry = new BullMQOtel({ tracerName: 'cross' });
    takeSpans();
    const queue = track(new producer.Queue(name, { connection: conn, telemetry }));
    const worker = track(
      new consumer.Worker(name, async (job) => (job.attemptsMade === 0 ? Promise.reject(new Error('once')) : 'ok'), {
        connection: conn,
        telemetry,
      }),
    );
    await queue.add('x', {}, { attempts: 2 });
    await spansEnded('process', 2);
    await worker.close();
    const spans = takeSpans();
    const add = spans.find((s) => s.name === `add ${name}.x`);
    const processes = spans.filter((s) => s.name === `process ${name}`);
    assert.equal(processes.length, 2);
    for (const p of processes) assert.ok(isChildOf(p, add), `${producer === ours ? 'ours' : 'bullmq'} → ${consumer === ours ? 'ours' : 'bullmq'}`);
    assert.ok(spans.some((s) => s.name === `retry ${name}` && isChildOf(s, processes.find((p) => p.attributes['bullmq.job.attempts.made'] === 1))));
  }
});

test('per-job telemetry options: metadata continues a trace of the caller, omitContext none', async () => {
  const conn = await connection();
  const runs = {};
  for (const [which, pkg] of Object.entries(PACKAGES)) {
    const name = queueName(`tm-meta-${which}`);
    const telemetry = new BullMQOtel({ tracerName: 'meta' });
    takeSpans();
    const queue = track(new pkg.Queue(name, { connection: conn, telemetry }));
    // A span of the application, handed to the job by hand.
    const signup = trace.getTracer('app').startSpan('signup');
    const metadata = telemetry.contextManager.getMetadata(trace.setSpan(context.active(), signup));
    signup.end();
    await queue.add('given', {}, { telemetry: { metadata, omitContext: true } });
    await queue.add('omitted', {}, { telemetry: { omitContext: true } });
    await queue.addBulk([{ name: 'bulkGiven', data: {}, opts: { telemetry: { metadata } } }]);
    const worker = track(new pkg.Worker(name, async () => 'ok', { connection: conn, telemetry }));
    await spansEnded('process', 3);
    await worker.close();
    const spans = takeSpans();
    const processOf = (jobName) => spans.find((s) => s.name === `process ${name}` && s.attributes['bullmq.job.name'] === jobName);
    assert.ok(isChildOf(processOf('given'), signup), `${which}: given metadata parents the process span`);
    assert.ok(isChildOf(processOf('bulkGiven'), signup), `${which}: a bulk job's own metadata wins`);
    assert.equal(processOf('omitted').parentSpanContext, undefined, `${which}: omitContext leaves the process span a root`);
    runs[which] = normalSpans(spans.filter((s) => s.name !== 'signup'), { q: name });
  }
  assert.deepEqual(runs.ours, runs.official);
});

test('without telemetry nothing is wrapped: the classes run their plain methods', async () => {
  const conn = await connection();
  const name = queueName('tm-none');
  const queue = track(new ours.Queue(name, { connection: conn }));
  const worker = track(new ours.Worker(name, async () => 1, { connection: conn, autorun: false }));
  for (const method of ['add', 'addBulk', 'pause', 'close']) assert.equal(Object.hasOwn(queue, method), false, method);
  for (const method of ['getNextJob', 'run', 'close', 'pause']) assert.equal(Object.hasOwn(worker, method), false, method);
  takeSpans();
  await queue.add('x', {});
  await worker.close();
  assert.equal(takeSpans().length, 0);
  const telemetry = new BullMQOtel({ tracerName: 'wrapped' });
  const traced = track(new ours.Queue(name, { connection: conn, telemetry }));
  assert.equal(Object.hasOwn(traced, 'add'), true);
  await traced.add('y', {});
  assert.deepEqual(normalSpans(takeSpans(), { q: name }).map((s) => s.name), ['add <q>.y']);
});

test('trace and withDetachedContext are exported with bullmq 6.7 behaviour', async () => {
  const telemetry = new BullMQOtel({ tracerName: 'helpers' });
  for (const pkg of [official, ours]) {
    takeSpans();
    const value = await pkg.trace(telemetry, pkg.SpanKind.PRODUCER, 'q', 'op', 'dest', async (span, metadata) => {
      span.setAttribute('x', 1);
      return typeof metadata;
    });
    assert.equal(value, 'string');
    await assert.rejects(pkg.trace(telemetry, pkg.SpanKind.INTERNAL, 'q', 'bad', '', async () => {
      throw new Error('no');
    }));
    assert.equal(await pkg.trace(undefined, pkg.SpanKind.INTERNAL, 'q', 'none', '', async () => 7), 7);
    assert.equal(pkg.withDetachedContext(telemetry, () => 3), 3);
    const spans = normalSpans(takeSpans(), {});
    assert.deepEqual(
      spans.map((s) => [s.name, s.kind, s.exception]),
      [['bad', 0, true], ['op dest', 3, false]],
    );
  }
  const norm = normalizer({ q: 'abc' });
  assert.equal(norm('add abc.x'), 'add <q>.x');
});

test("a worker fetching a scheduler's iteration records the add span of the next one, as bullmq 6.7", async () => {
  const run = await runBoth(['w'], async (pkg, names, conn) => {
    const telemetry = new BullMQOtel({ tracerName: 'parity' });
    const queue = new pkg.Queue(names.w, { connection: conn, telemetry });
    await queue.upsertJobScheduler('every', { every: 60000 }, { name: 'tick', data: {} });
    const worker = new pkg.Worker(names.w, async () => 'ok', { connection: conn, telemetry });
    await spansEnded('process', 1);
    await spansEnded(`add ${names.w}.tick`, 2, 'the next iteration added');
    await worker.close();
    await queue.close();
  });
  const official = normalSpans(run.official.spans, run.official.names);
  const adds = official.filter((s) => s.name === 'add <w>.tick');
  assert.deepEqual(
    adds.map((s) => [s.attributes['bullmq.job.scheduler.id'], s.attributes['bullmq.job.id']]),
    [['every', 'repeat:every:<ms>'], ['every', 'repeat:every:<ms>']],
  );
  assert.deepEqual(normalSpans(run.ours.spans, run.ours.names), official);
});

test('lock renewal records extendLocks spans as bullmq 6.7', async () => {
  const conn = await connection();
  const first = {};
  for (const [which, pkg] of Object.entries(PACKAGES)) {
    const name = queueName(`tm-locks-${which}`);
    const telemetry = new BullMQOtel({ tracerName: 'locks' });
    takeSpans();
    const queue = track(new pkg.Queue(name, { connection: conn, telemetry }));
    const worker = track(
      new pkg.Worker(name, async () => spansEnded('extendLocks', 1, 'a lock renewal'), {
        connection: conn,
        telemetry,
        lockDuration: 600,
      }),
    );
    await queue.add('long', {});
    await spansEnded('process', 1);
    await worker.close();
    const spans = normalSpans(takeSpans(), { q: name }).filter((s) => s.name === 'extendLocks <q>');
    first[which] = spans[0];
  }
  assert.deepEqual(first.official.attributes['bullmq.worker.jobs.to.extend.locks'], ['1']);
  assert.deepEqual(first.ours, first.official);
});

test('a job failed unrun (deferred failure, past maxStartedAttempts) records the spans of bullmq 6.7', async () => {
  const conn = await connection();
  const redis = await rawClient();
  const recorded = {};
  for (const [which, pkg] of Object.entries(PACKAGES)) {
    const name = queueName(`tm-unrun-${which}`);
    const telemetry = new BullMQOtel({ tracerName: 'unrun' });
    takeSpans();
    const queue = track(new pkg.Queue(name, { connection: conn, telemetry }));
    const deferred = await queue.add('deferred', {});
    await redis.hset(`bull:${name}:${deferred.id}`, 'defa', 'child bull:x:1 failed');
    await queue.add('step', {});
    const worker = track(
      new pkg.Worker(
        name,
        async (job, token) => {
          await job.moveToDelayed(Date.now() + 5, token);
          throw new pkg.DelayedError();
        },
        { connection: conn, telemetry, maxStartedAttempts: 1 },
      ),
    );
    await spansEnded('fail', 2, 'both failures');
    await worker.close();
    recorded[which] = normalSpans(takeSpans(), { q: name }).filter((s) => !s.name.startsWith('moveStalledJobsToWait'));
  }
  assert.deepEqual(recorded.ours, recorded.official);
  assert.equal(recorded.ours.filter((s) => s.name === 'fail <q>').length, 2);
});
