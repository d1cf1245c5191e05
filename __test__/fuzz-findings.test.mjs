// What the fuzz (fuzz.test.mjs) found, one test each: arguments that made the
// package throw a JS engine TypeError from its own code ("Cannot read
// properties of null", "Cannot convert a Symbol value to a string", ...) now
// get a TypeError naming the method and the argument, and the calls around
// them still work; through the telemetry wrappers too.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BullMQOtel } from 'bullmq-otel';
import { FlowProducer, Job, JobScheduler, Queue, Worker } from 'bullmq-native';

import { closeAfter } from './support/workers.mjs';
import { connection, queueName } from './support/redis.mjs';
import { assertTypeErrors } from './support/type-errors.mjs';

/** A synchronous call throws a TypeError with `message` (exact text or RegExp). */
function assertThrowsTypeError(call, message) {
  assert.throws(call, (err) => {
    assert.equal(err.name, 'TypeError', err.message);
    if (message instanceof RegExp) assert.match(err.message, message);
    else assert.equal(err.message, message);
    return true;
  });
}

async function queues(label) {
  const name = queueName(label);
  const conn = await connection();
  const queue = closeAfter(new Queue(name, { connection: conn }));
  const traced = closeAfter(new Queue(name, { connection: conn, telemetry: new BullMQOtel('fuzz-findings') }));
  return { name, conn, queue, traced };
}

test('options given as null: remove, job.remove, getNextJob name the method', async () => {
  const { name, conn, queue, traced } = await queues('null-opts');
  const job = await queue.add('x', {});
  const worker = closeAfter(new Worker(name, null, { connection: conn }));
  await assertTypeErrors([
    [() => queue.remove(job.id, null), 'remove: opts must be an object, got null'],
    // The telemetry wrapper read the option before the method checked it.
    [() => traced.remove(job.id, null), 'remove: opts must be an object, got null'],
    [() => job.remove(null), 'remove: opts must be an object, got null'],
    [() => worker.getNextJob('token', null), 'getNextJob: opts must be an object, got null'],
    [() => worker.getNextJob('token', 'block'), 'getNextJob: opts must be an object, got "block"'],
  ]);
  assert.equal(await queue.getJobState(job.id), 'waiting');
  assert.equal((await worker.getNextJob('token', { block: false }))?.id, job.id);
  await worker.close();
});

test('Symbols and null-prototype objects where text is expected get a TypeError of ours', async () => {
  const { queue } = await queues('symbols');
  const job = await queue.add('x', {});
  await assertTypeErrors([
    [() => job.isInState([Symbol('s')]), /^Unknown job state: /],
    [() => Job.fromId(queue, [Symbol('s')]), 'Job.fromId: jobId must be a non-empty string, got an array'],
    [
      () => job.moveToWaitingChildren('token', { child: { id: Symbol('s'), queue: 'bull:kids' } }),
      /^moveToWaitingChildren: opts\.child must be \{ id: string, queue: string \}, got /,
    ],
    [
      () => queue.exportPrometheusMetrics({ env: Object.create(null) }),
      'exportPrometheusMetrics: globalVariables.env must be a string, got an object',
    ],
  ]);
  assertThrowsTypeError(() => queue.toKey(Symbol('s')), 'toKey: type must be a string, got a symbol');
  assert.equal(queue.toKey('wait'), `bull:${queue.name}:wait`);
  assert.equal(await job.isInState('waiting'), true);
  assert.match(await queue.exportPrometheusMetrics({ env: 'prod', shard: 2 }), /env="prod"/);
});

test('JobScheduler: a missing override argument, getSchedulerNextJobId and getTemplateFromJSON arguments', async () => {
  const name = queueName('scheduler-args');
  const scheduler = closeAfter(new JobScheduler(name, { connection: await connection() }));
  // Without its last argument an upsert is a continuation, which needs a producerId.
  await assertTypeErrors([
    [() => scheduler.upsertJobScheduler('s', { every: 1000 }, 'n', {}, {}), 'upsertJobScheduler: producerId must be a string'],
    [() => scheduler.upsertJobScheduler('s', { every: 1000 }, 'n', {}, {}, null), 'upsertJobScheduler: opts must be an object, got null'],
  ]);
  const made = await scheduler.upsertJobScheduler('s', { every: 1000 }, 'n', {}, {}, { override: true });
  assert.equal(made.id, `repeat:s:${made.timestamp}`);
  assertThrowsTypeError(() => scheduler.getSchedulerNextJobId(undefined), 'getSchedulerNextJobId: opts must be an object, got undefined');
  assertThrowsTypeError(
    () => scheduler.getSchedulerNextJobId({ nextMillis: 5, jobSchedulerId: Symbol('s') }),
    'getSchedulerNextJobId: jobSchedulerId must be a string, got a symbol',
  );
  assert.equal(scheduler.getSchedulerNextJobId({ nextMillis: 5, jobSchedulerId: 's' }), 'repeat:s:5');
  assertThrowsTypeError(() => scheduler.getTemplateFromJSON(Symbol('s')), 'getTemplateFromJSON: rawData must be JSON text, got a symbol');
  assertThrowsTypeError(() => scheduler.getTemplateFromJSON('{}', 5), 'getTemplateFromJSON: rawOpts must be JSON text, got 5');
  assert.deepEqual(scheduler.getTemplateFromJSON('{"a":1}', '{"attempts":2}'), { data: { a: 1 }, opts: { attempts: 2 } });
});

test('Job.fromJSON reads stored options that are not an object as none', async () => {
  const { queue } = await queues('stored-opts');
  const none = Job.fromJSON(queue, { name: 'x', data: '{}', opts: '{}', timestamp: '1' }, 'j1').opts;
  for (const opts of ['null', '5', '[1,2]', '"text"']) {
    const job = Job.fromJSON(queue, { name: 'x', data: '{}', opts, timestamp: '1' }, 'j1');
    assert.deepEqual(job.opts, none, opts);
    assert.equal(job.name, 'x');
  }
});

test('job options that are not an object are refused (a string was stored one option per character)', async () => {
  const { queue, traced } = await queues('string-opts');
  await assertTypeErrors([
    [() => queue.add('x', {}, 'attempts'), 'job options must be an object, got "attempts"'],
    [() => queue.add('x', {}, 5), 'job options must be an object, got 5'],
    [() => traced.add('x', {}, 'attempts'), 'job options must be an object, got "attempts"'],
  ]);
  assert.equal(await queue.count(), 0);
  await queue.add('x', {}, null);
  assert.equal(await queue.count(), 1, 'null options are none');
});

test('telemetry wrappers: arguments they cannot describe get the method\'s own error', async () => {
  const { name, conn, traced } = await queues('telemetry-args');
  const job = await traced.add('x', {});
  await assertTypeErrors([
    // The span name was built from the job name before add checked it.
    [() => traced.add(Symbol('s'), {}), 'job name must be a string'],
    [() => traced.upsertJobScheduler({}, { every: 1000 }), /^upsertJobScheduler: /],
    // The span attribute was the progress as JSON, before the method's own check.
    [() => traced.updateJobProgress(job.id, 10n), 'updateJobProgress: progress must be a number, string, boolean or object, got bigint'],
  ]);
  const flow = closeAfter(new FlowProducer({ connection: conn, telemetry: new BullMQOtel('fuzz-findings') }));
  const nameless = Object.create(null);
  await assert.rejects(flow.addBulk([{ name: nameless, queueName: name }]), (err) => {
    assert.ok(err instanceof Error);
    assert.doesNotMatch(err.message, /Cannot convert object to primitive value/);
    return true;
  });
  const [added] = await flow.addBulk([{ name: 'ok', queueName: name }]);
  assert.equal(added.job.name, 'ok');
});

test('a failure the engine refuses (stored backoff without a type) frees the slot: pause and close settle', async () => {
  const { setup, record } = await import('./support/workers.mjs');
  const { waitFor } = await import('./support/redis.mjs');
  const { name, queue, redis, worker } = await setup('bad-backoff');
  const job = await queue.add('x', {}, { attempts: 3 });
  // As another client may store it: a backoff object with no type.
  await redis.hset(`bull:${name}:${job.id}`, 'opts', JSON.stringify({ attempts: 3, backoff: { delay: 5 } }));
  let runs = 0;
  const w = worker(
    async () => {
      runs += 1;
      throw new Error('fails');
    },
    { lockDuration: 300, stalledInterval: 200, concurrency: 1 },
  );
  const errors = record(w, ['error']);
  await waitFor(() => errors.length > 0, { message: 'the refused failure as an error event' });
  assert.equal(errors[0][1].message, 'opts.backoff.type must be a string');
  // The slot came back: the job stalls and runs again, as in BullMQ.
  await waitFor(() => runs >= 2, { message: 'the job ran again after its lock expired' });
  const settled = (p) => Promise.race([p.then(() => 'settled'), new Promise((r) => setTimeout(() => r('pending'), 5000))]);
  assert.equal(await settled(w.pause()), 'settled', 'pause waits for no lost job');
  assert.equal(await settled(w.close()), 'settled');
});
