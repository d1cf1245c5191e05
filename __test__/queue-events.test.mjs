// QueueEvents (reading the events stream with BullMQ's event names and
// arguments, start position, run/close, reconnect, errors), job.waitUntilFinished,
// queue.trimEvents and the streams.events.maxLen option.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Queue, QueueEvents, Worker } from 'bullmq-native';

import { eventNames, failJob, recordEmits } from './support/queue-events.mjs';
import { connection, queueName, rawClient, streamEvents, waitFor } from './support/redis.mjs';
import { assertTypeErrors } from './support/type-errors.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const closers = [];
after(() => Promise.all(closers.map((c) => c.close())));

async function setup(label, queueOpts = {}) {
  const name = queueName(label);
  const conn = await connection();
  const queue = new Queue(name, { connection: conn, ...queueOpts });
  closers.push(queue);
  await queue.waitUntilReady();
  return { name, conn, queue, redis: await rawClient(), key: (s) => `bull:${name}:${s}` };
}

async function queueEvents(name, opts = {}) {
  const qe = new QueueEvents(name, { connection: await connection(), ...opts });
  closers.push(qe);
  return qe;
}

function worker(name, conn, opts = {}) {
  const w = new Worker(name, null, { connection: conn, ...opts });
  closers.push(w);
  return w;
}

/** The id of the Redis client with this name, from CLIENT LIST. */
async function clientId(redis, clientName) {
  const list = await redis.client('LIST');
  const line = list.split('\n').find((l) => l.includes(` name=${clientName} `));
  return line && /(?:^|\s)id=(\d+)/.exec(line)[1];
}

const qeClientName = (name) => `bull:${Buffer.from(name).toString('base64')}:qe`;

test('each stream entry is emitted as BullMQ emits it: (args, id), parsed values, {event}:{jobId}', async () => {
  const { name, redis, key } = await setup('shapes');
  const qe = await queueEvents(name);
  const log = recordEmits(qe);
  await qe.waitUntilReady();
  const entries = [
    ['added', 'jobId', '1', 'name', 'a'],
    ['waiting', 'jobId', '1'],
    ['waiting', 'jobId', '2', 'prev', 'delayed'],
    ['delayed', 'jobId', '2', 'delay', '1700000000123'],
    ['active', 'jobId', '1', 'prev', 'waiting'],
    ['progress', 'jobId', '1', 'data', '{"pct":5,"step":"x"}'],
    ['progress', 'jobId', '1', 'data', '7'],
    ['completed', 'jobId', '1', 'returnvalue', '{"ok":[1,2]}', 'prev', 'active'],
    ['completed', 'jobId', '3', 'returnvalue', 'null', 'prev', 'active'],
    ['failed', 'jobId', '2', 'failedReason', 'boom "x"', 'prev', 'active'],
    ['retries-exhausted', 'jobId', '2', 'attemptsMade', '3'],
    ['stalled', 'jobId', '4'],
    ['removed', 'jobId', '5', 'prev', 'wait'],
    ['duplicated', 'jobId', 'custom'],
    ['deduplicated', 'jobId', '6', 'deduplicationId', 'd', 'deduplicatedJobId', '5'],
    ['waiting-children', 'jobId', '7'],
    ['paused'],
    ['resumed'],
    ['drained'],
    ['cleaned', 'count', '3'],
  ];
  const ids = [];
  for (const [event, ...fields] of entries) {
    ids.push(await redis.xadd(key('events'), '*', 'event', event, ...fields));
  }
  await waitFor(() => log.some(([e]) => e === 'cleaned'), { message: 'the last entry' });

  const at = (event, jobId) => log.filter(([e, args]) => e === event && (jobId === undefined || args.jobId === jobId));
  assert.deepEqual(at('added'), [['added', { jobId: '1', name: 'a' }, ids[0]]]);
  assert.deepEqual(at('added:1'), [['added:1', { jobId: '1', name: 'a' }, ids[0]]]);
  assert.deepEqual(at('waiting'), [
    ['waiting', { jobId: '1' }, ids[1]],
    ['waiting', { jobId: '2', prev: 'delayed' }, ids[2]],
  ]);
  assert.deepEqual(at('delayed'), [['delayed', { jobId: '2', delay: 1700000000123 }, ids[3]]]);
  assert.deepEqual(at('progress'), [
    ['progress', { jobId: '1', data: { pct: 5, step: 'x' } }, ids[5]],
    ['progress', { jobId: '1', data: 7 }, ids[6]],
  ]);
  assert.deepEqual(at('completed'), [
    ['completed', { jobId: '1', returnvalue: { ok: [1, 2] }, prev: 'active' }, ids[7]],
    ['completed', { jobId: '3', returnvalue: null, prev: 'active' }, ids[8]],
  ]);
  assert.deepEqual(at('failed:2'), [['failed:2', { jobId: '2', failedReason: 'boom "x"', prev: 'active' }, ids[9]]]);
  assert.deepEqual(at('retries-exhausted'), [['retries-exhausted', { jobId: '2', attemptsMade: '3' }, ids[10]]]);
  assert.deepEqual(at('deduplicated'), [
    ['deduplicated', { jobId: '6', deduplicationId: 'd', deduplicatedJobId: '5' }, ids[14]],
  ]);
  assert.deepEqual(at('paused'), [['paused', {}, ids[16]]]);
  assert.deepEqual(at('resumed'), [['resumed', {}, ids[17]]]);
  assert.deepEqual(at('drained'), [['drained', ids[18]]]);
  assert.deepEqual(at('cleaned'), [['cleaned', { count: '3' }, ids[19]]]);
  // Every entry once under its name, in stream order, and once more per job.
  assert.deepEqual(eventNames(log), entries.map(([e]) => e));
  assert.deepEqual(
    log.filter(([e]) => e.includes(':')).map(([e]) => e),
    entries.filter((f) => f[1] === 'jobId').map(([e, , id]) => `${e}:${id}`),
  );
});

test('our producer and worker: added, waiting, progress, active, completed, failed, retries-exhausted, drained', async () => {
  const { name, conn, queue } = await setup('own');
  const qe = await queueEvents(name);
  const log = recordEmits(qe);
  await qe.waitUntilReady();
  const w = worker(name, conn);
  const a = await queue.add('a', { x: 1 });
  const b = await queue.add('b', {}, { attempts: 1 });
  const fa = await w.getNextJob('t1');
  await fa.updateProgress({ p: 1 });
  await fa.moveToCompleted({ done: true }, 't1', false);
  const fb = await w.getNextJob('t2');
  await failJob(w, fb, 't2', 'it broke');
  await waitFor(() => log.some(([e]) => e === 'drained'), { message: 'drained' });
  assert.deepEqual(eventNames(log), [
    'added', 'waiting', 'added', 'waiting', 'active', 'progress', 'completed',
    'active', 'failed', 'retries-exhausted', 'drained',
  ]);
  const args = (e) => log.find(([n]) => n === e)[1];
  assert.deepEqual(args(`completed:${a.id}`), { jobId: a.id, returnvalue: { done: true }, prev: 'active' });
  assert.deepEqual(args(`progress:${a.id}`), { jobId: a.id, data: { p: 1 } });
  assert.deepEqual(args(`failed:${b.id}`), { jobId: b.id, failedReason: 'it broke', prev: 'active' });
  assert.deepEqual(args(`retries-exhausted:${b.id}`), { jobId: b.id, attemptsMade: '1' });
});

test('reading starts at the newest event by default, or after lastEventId', async () => {
  const { name, queue, redis, key } = await setup('start');
  await queue.add('before', {});
  const [, second] = await redis.xrange(key('events'), '-', '+');
  const fresh = await queueEvents(name);
  const freshLog = recordEmits(fresh);
  const resumed = await queueEvents(name, { lastEventId: second[0] });
  const resumedLog = recordEmits(resumed);
  const all = await queueEvents(name, { lastEventId: '0-0' });
  const allLog = recordEmits(all);
  await Promise.all([fresh.waitUntilReady(), resumed.waitUntilReady(), all.waitUntilReady()]);
  // Added as soon as waitUntilReady resolved: not missed.
  await queue.add('after', {});
  await waitFor(() => [freshLog, resumedLog, allLog].every((l) => l.filter(([e]) => e === 'waiting').length >= 1));
  await waitFor(() => allLog.filter(([e]) => e === 'waiting').length === 2);
  assert.deepEqual(eventNames(freshLog), ['added', 'waiting']);
  assert.equal(freshLog[0][1].name, 'after');
  assert.deepEqual(eventNames(resumedLog), ['added', 'waiting'], 'events after the given id only');
  assert.deepEqual(eventNames(allLog), ['added', 'waiting', 'added', 'waiting']);
  assert.equal(allLog[0][1].name, 'before');
});

test('autorun: false reads nothing until run(); a second run() rejects as in BullMQ', async () => {
  const { name, queue } = await setup('autorun');
  const qe = await queueEvents(name, { autorun: false, lastEventId: '0-0' });
  const log = recordEmits(qe);
  await qe.waitUntilReady();
  await queue.add('x', {});
  // A QueueEvents that runs sees the entries; the idle one does not.
  const other = await queueEvents(name, { lastEventId: '0-0' });
  const otherLog = recordEmits(other);
  await waitFor(() => otherLog.length >= 4);
  assert.deepEqual(log, []);
  const running = qe.run();
  await waitFor(() => log.length >= 4, { message: 'events after run()' });
  await assert.rejects(qe.run(), { message: 'Queue Events is already running.' });
  await qe.close();
  await running; // run() resolves once closed
});

test('the reading connection is named {prefix}:{base64(name)}:qe, with a custom prefix too', async () => {
  const name = queueName('named');
  const redis = await rawClient();
  const qe = await queueEvents(name, { prefix: '{pfx}' });
  await qe.waitUntilReady();
  const expected = `{pfx}:${Buffer.from(name).toString('base64')}:qe`;
  assert.ok(await clientId(redis, expected), `a client named ${expected}`);
  // It reads the prefixed stream.
  const log = recordEmits(qe);
  await redis.xadd(`{pfx}:${name}:events`, '*', 'event', 'paused');
  await waitFor(() => log.length === 1);
  await qe.close();
  await waitFor(async () => !(await clientId(redis, expected)), { message: 'the connection to close' });
});

test('reading resumes after the connection is killed, without losing events', async () => {
  const { name, queue, redis } = await setup('kill');
  const qe = await queueEvents(name, { blockingTimeout: 500 });
  const log = recordEmits(qe);
  await qe.waitUntilReady();
  await queue.add('one', {});
  await waitFor(() => log.some(([e, a]) => e === 'added' && a.name === 'one'));
  const id = await waitFor(() => clientId(redis, qeClientName(name)));
  assert.equal(await redis.client('KILL', 'ID', id), 1);
  await queue.add('two', {});
  await queue.add('three', {});
  await waitFor(() => log.some(([e, a]) => e === 'added' && a.name === 'three'), { message: 'events after the kill' });
  assert.deepEqual(
    log.filter(([e]) => e === 'added').map(([, a]) => a.name),
    ['one', 'two', 'three'],
  );
  await waitFor(async () => (await clientId(redis, qeClientName(name))) !== id, { message: 'a new connection' });
});

test('read errors are emitted as `error` and reading goes on', async () => {
  const { name, redis, key } = await setup('errors');
  // Not a stream: XREAD fails with WRONGTYPE until the key is fixed.
  await redis.set(key('events'), 'not a stream');
  const qe = await queueEvents(name, { lastEventId: '0-0', blockingTimeout: 200 });
  const errors = [];
  qe.on('error', (err) => errors.push(err));
  const log = recordEmits(qe);
  await waitFor(() => errors.length > 0, { message: 'an error event' });
  assert.ok(errors[0] instanceof Error);
  assert.match(errors[0].message, /WRONGTYPE/);
  await redis.del(key('events'));
  await redis.xadd(key('events'), '*', 'event', 'resumed');
  await waitFor(() => log.length === 1, { message: 'reading to recover' });
});

test('a throwing listener does not stop the reading; its error goes to `error`', async () => {
  const { name, redis, key } = await setup('throws');
  const qe = await queueEvents(name);
  const errors = [];
  qe.on('error', (err) => errors.push(err));
  qe.on('paused', () => {
    throw new Error('listener bug');
  });
  const log = recordEmits(qe);
  await qe.waitUntilReady();
  await redis.xadd(key('events'), '*', 'event', 'paused');
  await redis.xadd(key('events'), '*', 'event', 'resumed');
  await waitFor(() => log.some(([e]) => e === 'resumed'));
  assert.deepEqual(errors.map((e) => e.message), ['listener bug']);
});

test('close() interrupts a blocking read at once and lets the process exit', async () => {
  const name = queueName('exit');
  const { host, port } = await connection();
  const code = `
    import { QueueEvents } from 'bullmq-native';
    const qe = new QueueEvents(${JSON.stringify(name)}, { connection: { host: ${JSON.stringify(host)}, port: ${port} }, blockingTimeout: 600000 });
    qe.on('paused', () => { console.log('paused'); qe.close().then(() => console.log('closed')); });
    await qe.waitUntilReady();
    console.log('ready');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: root });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  let exitCode;
  child.on('exit', (c) => {
    exitCode = c;
  });
  try {
    await waitFor(() => out.includes('ready'), { message: `the child to start: ${out}` });
    const redis = await rawClient();
    await redis.xadd(`bull:${name}:events`, '*', 'event', 'paused');
    // With a 10-minute block, only an interrupted read lets close() return,
    // and only a released callback lets the process end.
    await waitFor(() => exitCode !== undefined, { timeout: 20000, message: `the child to exit: ${out}` });
    assert.equal(exitCode, 0, out);
    assert.match(out, /paused\nclosed/);
  } finally {
    child.kill();
  }
});

test('bad options are TypeErrors', async () => {
  const conn = await connection();
  await assertTypeErrors([
    [async () => new QueueEvents(queueName(), { connection: conn, blockingTimeout: -1 }), 'blockingTimeout must be an integer >= 0 (milliseconds), got -1'],
    [async () => new QueueEvents(queueName(), { connection: conn, blockingTimeout: '10' }), 'blockingTimeout must be an integer >= 0 (milliseconds), got "10"'],
    [async () => new QueueEvents(queueName(), { connection: conn, lastEventId: 5 }), 'lastEventId must be a stream id such as "0-0", got 5'],
    [async () => new QueueEvents('a:b', { connection: conn }), 'Queue name cannot contain :'],
  ]);
});

// ---- waitUntilFinished --------------------------------------------------

test('waitUntilFinished resolves with the return value when the job completes', async () => {
  const { name, conn, queue } = await setup('wuf-ok');
  const qe = await queueEvents(name);
  const w = worker(name, conn);
  const job = await queue.add('a', {});
  const finished = job.waitUntilFinished(qe);
  const fetched = await w.getNextJob('t');
  await fetched.moveToCompleted({ answer: 42, list: ['a'] }, 't', false);
  assert.deepEqual(await finished, { answer: 42, list: ['a'] });
});

test('waitUntilFinished rejects with the failure reason when the job fails', async () => {
  const { name, conn, queue } = await setup('wuf-fail');
  const qe = await queueEvents(name);
  const w = worker(name, conn);
  const job = await queue.add('a', {});
  const rejected = assert.rejects(job.waitUntilFinished(qe), (err) => err instanceof Error && err.message === 'went wrong');
  const fetched = await w.getNextJob('t');
  await failJob(w, fetched, 't', 'went wrong');
  await rejected;
});

test('waitUntilFinished settles at once for a job that finished before it was called', async () => {
  const { name, conn, queue } = await setup('wuf-done');
  const w = worker(name, conn);
  const ok = await queue.add('ok', {});
  const bad = await queue.add('bad', {});
  await (await w.getNextJob('t1')).moveToCompleted('fine', 't1', false);
  await failJob(w, await w.getNextJob('t2'), 't2', 'nope');
  // Started after both finished: no event will come, only the state check answers.
  const qe = await queueEvents(name);
  assert.equal(await ok.waitUntilFinished(qe), 'fine');
  await assert.rejects(bad.waitUntilFinished(qe), { message: 'nope' });
  // A job that no longer exists.
  await ok.remove();
  await assert.rejects(ok.waitUntilFinished(qe), { message: `Missing key for job bull:${name}:${ok.id}. isFinished` });
});

test('waitUntilFinished with a ttl rejects with BullMQ\'s timeout message', async () => {
  const { name, queue } = await setup('wuf-ttl');
  const qe = await queueEvents(name);
  const job = await queue.add('slow', {});
  await assert.rejects(job.waitUntilFinished(qe, 50), {
    message: `Job wait slow timed out before finishing, no finish notification arrived after 50ms (id=${job.id})`,
  });
  assert.equal(qe.listenerCount(`completed:${job.id}`), 0, 'listeners are removed');
  assert.equal(qe.listenerCount(`failed:${job.id}`), 0);
  await assertTypeErrors([[() => job.waitUntilFinished(qe, -1), 'ttl must be a number of milliseconds >= 0, got -1']]);
});

test('waitUntilFinished rejects when the worker holding the job closes', async () => {
  const { name, conn, queue } = await setup('wuf-close');
  const qe = await queueEvents(name);
  const w = worker(name, conn);
  await queue.add('a', {});
  const job = await w.getNextJob('t');
  const rejected = assert.rejects(job.waitUntilFinished(qe), { message: 'closing queue' });
  await qe.waitUntilReady();
  await w.close();
  await rejected;
});

// ---- trimming --------------------------------------------------------------

test('trimEvents trims the stream approximately and returns how many were removed', async () => {
  const { name, queue, redis, key } = await setup('trim');
  await queue.addBulk(Array.from({ length: 300 }, (_, i) => ({ name: `j${i}`, data: {} })));
  assert.equal(await redis.xlen(key('events')), 600);
  const removed = await queue.trimEvents(10);
  const left = await redis.xlen(key('events'));
  assert.ok(removed > 0 && left >= 10 && left < 600, `removed ${removed}, left ${left}`);
  assert.equal(removed + left, 600);
  // The newest events are the ones kept.
  const events = await streamEvents(redis, 'bull', name);
  assert.equal(events.at(-1).jobId, '300');
  assert.equal(await queue.trimEvents(0), left);
  assert.equal(await redis.xlen(key('events')), 0);
  await assertTypeErrors([
    [() => queue.trimEvents(-1), 'trimEvents: maxLength must be an integer >= 0, got -1'],
    [() => queue.trimEvents('5'), 'trimEvents: maxLength must be an integer >= 0, got "5"'],
  ]);
});

test('streams.events.maxLen bounds the stream when jobs are added and when they finish', async () => {
  const { name, conn, queue, redis, key } = await setup('maxlen', { streams: { events: { maxLen: 10 } } });
  assert.equal(await redis.hget(key('meta'), 'opts.maxLenEvents'), '10');
  await queue.addBulk(Array.from({ length: 300 }, () => ({ name: 'j', data: {} })));
  const afterAdds = await redis.xlen(key('events'));
  assert.ok(afterAdds < 300, `600 events written, ${afterAdds} kept`);

  // A stream grown under the default limit is trimmed by the next finish
  // once a Queue with a small maxLen has recorded it.
  const { name: name2, queue: big, redis: r2 } = await setup('maxlen-finish');
  await big.addBulk(Array.from({ length: 300 }, () => ({ name: 'j', data: {} })));
  assert.equal(await r2.xlen(`bull:${name2}:events`), 600);
  const small = new Queue(name2, { connection: conn, streams: { events: { maxLen: 20 } } });
  closers.push(small);
  await small.waitUntilReady();
  const w = worker(name2, conn);
  const job = await w.getNextJob('t');
  await job.moveToCompleted(null, 't', false);
  const afterFinish = await r2.xlen(`bull:${name2}:events`);
  assert.ok(afterFinish < 300, `${afterFinish} events kept after the finish`);
});
