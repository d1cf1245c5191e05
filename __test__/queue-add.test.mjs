// Queue.add / addBulk: what is stored for every kind of data and name, the
// errors of jobs that cannot be added, and long batches (several script
// calls) keeping the input order.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Queue } from 'bullmq-native';

import { connection, queueName, rawClient } from './support/redis.mjs';

const queues = [];
after(async () => {
  await Promise.all(queues.map((q) => q.close()));
});

async function newQueue(label, opts = {}) {
  const q = new Queue(queueName(label), { connection: await connection(), ...opts });
  queues.push(q);
  return q;
}

test('the stored data is JSON.stringify(data) for every kind of value', async () => {
  const q = await newQueue('data');
  const redis = await rawClient();
  const when = new Date('2024-01-02T03:04:05.006Z');
  const keyed = { toJSON: (key) => ({ key }) };
  const values = [
    { nested: { list: [1, 'two', null, { deep: true }] }, s: 'a/b "q" \\ \n é 😀' },
    'a string',
    42.5,
    0,
    true,
    null,
    [1, [2, [3]]],
    when,
    keyed,
    { inner: when, skip: undefined, fn: () => 1 },
    { lone: 'x\ud800y' },
    Number.NaN,
  ];
  const bulk = await q.addBulk(values.map((data, i) => ({ name: `d${i}`, data })));
  const single = [];
  for (const [i, data] of values.entries()) single.push(await q.add(`s${i}`, data));
  for (const [i, data] of values.entries()) {
    const expected = JSON.stringify(data);
    assert.equal(await redis.hget(`bull:${q.name}:${bulk[i].id}`, 'data'), expected, `addBulk, value ${i}`);
    assert.equal(await redis.hget(`bull:${q.name}:${single[i].id}`, 'data'), expected, `add, value ${i}`);
    assert.equal(bulk[i].data, data);
  }
  // Undefined data is stored as {}.
  const none = await q.add('none', undefined);
  assert.equal(await redis.hget(`bull:${q.name}:${none.id}`, 'data'), '{}');
});

test('names are stored as given; an unpaired surrogate becomes U+FFFD', async () => {
  const q = await newQueue('names');
  const redis = await rawClient();
  const names = ['plain', 'quote " backslash \\ newline \n', 'é 😀 中', '', 'lone \ud800 here'];
  const jobs = await q.addBulk(names.map((name) => ({ name, data: {} })));
  const stored = await Promise.all(jobs.map((j) => redis.hget(`bull:${q.name}:${j.id}`, 'name')));
  assert.deepEqual(stored, [...names.slice(0, 4), 'lone \ufffd here']);
  assert.deepEqual(
    jobs.map((j) => j.name),
    names,
  );
});

test('data that cannot be serialized fails the add with a TypeError, and nothing is added', async () => {
  const q = await newQueue('bad-data');
  const circular = {};
  circular.self = circular;
  for (const data of [() => 1, Symbol('s'), 10n, { big: 10n }, circular]) {
    await assert.rejects(q.add('bad', data), (err) => {
      assert.ok(err instanceof TypeError, `${String(err)}`);
      assert.match(err.message, /not JSON-serializable/);
      return true;
    });
    await assert.rejects(q.addBulk([{ name: 'ok', data: {} }, { name: 'bad', data }]), TypeError);
  }
  assert.equal(await q.count(), 0);
  await assert.rejects(q.add('big', { s: 'x'.repeat(20) }, { sizeLimit: 10 }), {
    message: 'The size of job big exceeds the limit 10 bytes',
  });
});

test('a long addBulk keeps the input order across its script calls', async () => {
  const q = await newQueue('long');
  const redis = await rawClient();
  const n = 2345;
  const jobs = await q.addBulk(Array.from({ length: n }, (_, i) => ({ name: `j${i}`, data: { i } })));
  assert.deepEqual(
    jobs.map((j) => j.id),
    Array.from({ length: n }, (_, i) => String(i + 1)),
  );
  const wait = await redis.lrange(`bull:${q.name}:wait`, 0, -1);
  assert.deepEqual(wait, jobs.map((j) => j.id).reverse());
  const last = await q.getJob(String(n));
  assert.equal(last.name, `j${n - 1}`);
  assert.deepEqual(last.data, { i: n - 1 });
  assert.deepEqual(await q.addBulk([]), []);
});

test('a job whose parent is missing fails the addBulk with code -5; the others are added', async () => {
  const q = await newQueue('orphan');
  const parent = { id: 'gone', queue: `bull:${q.name}` };
  await assert.rejects(
    q.addBulk([
      { name: 'a', data: {} },
      { name: 'child', data: {}, opts: { parent } },
      { name: 'b', data: {} },
    ]),
    (err) => {
      assert.equal(err.code, -5);
      assert.equal(err.message, `Missing key for parent job bull:${q.name}:gone. addJob`);
      return true;
    },
  );
  assert.deepEqual(
    (await q.getWaiting()).map((j) => [j.id, j.name]),
    [
      ['1', 'a'],
      ['2', 'b'],
    ],
  );
});

test('add resolves with the job and emits waiting; options and defaults are kept on the Job', async () => {
  const q = await newQueue('single', { defaultJobOptions: { attempts: 3, removeOnComplete: null } });
  const seen = [];
  q.on('waiting', (job) => seen.push(job.id));
  const job = await q.add('one', { x: 1 }, { priority: 2, timestamp: 1234 });
  assert.equal(job.id, '1');
  assert.deepEqual(seen, ['1']);
  assert.equal(job.timestamp, 1234);
  assert.equal(job.opts.attempts, 3);
  assert.equal('removeOnComplete' in job.opts, false);
  const stored = await q.getJob('1');
  assert.equal(stored.priority, 2);
  assert.equal(stored.timestamp, 1234);
  assert.equal(stored.opts.attempts, 3);
});
