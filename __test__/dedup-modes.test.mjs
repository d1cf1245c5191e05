// Deduplication modes as BullMQ 6.7 runs them: simple (until the owner
// finishes), throttle (ttl), extend, replace of a delayed owner, reschedule,
// stale-key recovery; what add/addBulk return for a deduplicated add, the
// `deduplicated` event (stream and QueueEvents), the getters and removers
// with their debounce aliases, and the options 6.7 refuses.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { QueueEvents } from 'bullmq-native';

import { closeAfter, setup } from './support/manual.mjs';
import { connection, streamEvents, waitFor } from './support/redis.mjs';

const dedupEvents = async (redis, name) =>
  (await streamEvents(redis, 'bull', name)).filter((e) => e.event === 'deduplicated').map(({ id, ...e }) => e);

test('simple mode: a second add returns a Job with the owner id, stores nothing and emits deduplicated', async () => {
  const { name, queue, redis } = await setup('dd-simple');
  const waiting = [];
  queue.on('waiting', (job) => waiting.push(job));
  const first = await queue.add('a', { n: 1 }, { deduplication: { id: 'same' } });
  const second = await queue.add('b', { n: 2 }, { deduplication: { id: 'same' } });
  assert.equal(first.id, '1');
  // As in 6.7: the owner's id, with the name, data and options given.
  assert.equal(second.id, '1');
  assert.equal(second.name, 'b');
  assert.deepEqual(second.data, { n: 2 });
  assert.equal(second.deduplicationId, 'same');
  assert.deepEqual(waiting.map((j) => j.id), ['1', '1']);

  assert.equal(await redis.get(`bull:${name}:de:same`), '1');
  assert.equal(await redis.pttl(`bull:${name}:de:same`), -1, 'no expiry in simple mode');
  assert.equal(await redis.exists(`bull:${name}:2`), 0, 'the deduplicated add stored no job');
  assert.equal(await redis.get(`bull:${name}:id`), '2', 'the deduplicated add took a counter value');
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['1']);
  assert.equal(await redis.hget(`bull:${name}:1`, 'deid'), 'same');
  assert.deepEqual(JSON.parse(await redis.hget(`bull:${name}:1`, 'opts')).de, { id: 'same' });
  assert.deepEqual(await dedupEvents(redis, name), [
    { event: 'deduplicated', jobId: '1', deduplicationId: 'same', deduplicatedJobId: '2' },
  ]);
  const stored = await queue.getJob('1');
  assert.equal(stored.deduplicationId, 'same');
  assert.equal(stored.name, 'a');
});

test('addBulk deduplicates within the batch and against earlier adds', async () => {
  const { name, queue, redis } = await setup('dd-bulk');
  await queue.add('before', {}, { deduplication: { id: 'x' } });
  const jobs = await queue.addBulk([
    { name: 'a', data: {}, opts: { deduplication: { id: 'y' } } },
    { name: 'b', data: {}, opts: { deduplication: { id: 'y' } } },
    { name: 'c', data: {}, opts: { deduplication: { id: 'x' } } },
    { name: 'plain', data: {} },
  ]);
  assert.deepEqual(jobs.map((j) => [j.name, j.id]), [['a', '2'], ['b', '2'], ['c', '1'], ['plain', '5']]);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), ['5', '2', '1']);
  assert.deepEqual(await dedupEvents(redis, name), [
    { event: 'deduplicated', jobId: '2', deduplicationId: 'y', deduplicatedJobId: '3' },
    { event: 'deduplicated', jobId: '1', deduplicationId: 'x', deduplicatedJobId: '4' },
  ]);
});

test('ttl throttles: the key expires after ttl ms and the next add is added', async () => {
  const { name, queue, redis } = await setup('dd-ttl');
  const key = `bull:${name}:de:t`;
  const first = await queue.add('a', {}, { deduplication: { id: 't', ttl: 400 } });
  const pttl = await redis.pttl(key);
  assert.ok(pttl > 0 && pttl <= 400, `PTTL ${pttl}`);
  assert.equal((await queue.add('b', {}, { deduplication: { id: 't', ttl: 400 } })).id, first.id);
  await waitFor(async () => (await redis.exists(key)) === 0, { timeout: 5000, message: 'the key to expire' });
  const later = await queue.add('c', {}, { deduplication: { id: 't', ttl: 400 } });
  assert.notEqual(later.id, first.id);
  assert.equal(await redis.get(key), later.id);
});

test('extend renews the ttl for the owner on each deduplicated add; without it the ttl runs on', async () => {
  const { name, queue, redis } = await setup('dd-extend');
  const de = (id, extend) => ({ deduplication: { id, ttl: 60000, extend } });
  const owner = await queue.add('a', {}, de('e', true));
  await redis.pexpire(`bull:${name}:de:e`, 1000);
  assert.equal((await queue.add('b', {}, de('e', true))).id, owner.id);
  assert.ok((await redis.pttl(`bull:${name}:de:e`)) > 1000, 'renewed to the full ttl');
  assert.equal(await redis.get(`bull:${name}:de:e`), owner.id);

  const other = await queue.add('c', {}, de('n', false));
  await redis.pexpire(`bull:${name}:de:n`, 1000);
  assert.equal((await queue.add('d', {}, de('n', false))).id, other.id);
  assert.ok((await redis.pttl(`bull:${name}:de:n`)) <= 1000, 'not renewed');
  assert.deepEqual((await dedupEvents(redis, name)).map((e) => [e.jobId, e.deduplicatedJobId]), [
    [owner.id, '2'],
    [other.id, '4'],
  ]);
});

test('replace: a delayed owner is removed and the new job owns the id', async () => {
  const { name, queue, redis } = await setup('dd-replace');
  const opts = (extra) => ({ delay: 60000, deduplication: { id: 'r', replace: true, ...extra } });
  const old = await queue.add('old', { v: 1 }, opts({}));
  const fresh = await queue.add('new', { v: 2 }, opts({}));
  assert.notEqual(fresh.id, old.id);
  assert.equal(await redis.exists(`bull:${name}:${old.id}`), 0, 'the replaced job is gone');
  assert.deepEqual(await redis.zrange(`bull:${name}:delayed`, 0, -1), [fresh.id]);
  assert.equal(await redis.get(`bull:${name}:de:r`), fresh.id);
  assert.equal(await redis.hget(`bull:${name}:${fresh.id}`, 'deid'), 'r');
  const events = (await streamEvents(redis, 'bull', name)).map(({ id, ...e }) => e);
  const removedAt = events.findIndex((e) => e.event === 'removed');
  assert.deepEqual(events.slice(removedAt, removedAt + 3), [
    { event: 'removed', jobId: old.id, prev: 'delayed' },
    // Here the new job is `jobId` and the replaced one `deduplicatedJobId`.
    { event: 'deduplicated', jobId: fresh.id, deduplicationId: 'r', deduplicatedJobId: old.id },
    { event: 'added', jobId: fresh.id, name: 'new' },
  ]);

  // ttl without extend: the throttle window keeps its remaining time.
  const t1 = await queue.add('t1', {}, opts({ id: 'rt', ttl: 60000 }));
  await redis.pexpire(`bull:${name}:de:rt`, 30000);
  const t2 = await queue.add('t2', {}, opts({ id: 'rt', ttl: 60000 }));
  assert.notEqual(t2.id, t1.id);
  const kept = await redis.pttl(`bull:${name}:de:rt`);
  assert.ok(kept > 0 && kept <= 30000, `remaining ttl kept, got ${kept}`);
  // ttl with extend: a fresh ttl.
  const x1 = await queue.add('x1', {}, opts({ id: 'rx', ttl: 60000, extend: true }));
  await redis.pexpire(`bull:${name}:de:rx`, 30000);
  const x2 = await queue.add('x2', {}, opts({ id: 'rx', ttl: 60000, extend: true }));
  assert.notEqual(x2.id, x1.id);
  assert.ok((await redis.pttl(`bull:${name}:de:rx`)) > 30000, 'fresh ttl');
});

test('replace when the owner is not delayed: the owner stays, no deduplicated event', async () => {
  const { name, queue, redis } = await setup('dd-replace-wait');
  const owner = await queue.add('a', {}, { deduplication: { id: 'w', replace: true } });
  const again = await queue.add('b', {}, { deduplication: { id: 'w', replace: true }, delay: 1000 });
  assert.equal(again.id, owner.id);
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [owner.id]);
  assert.equal(await redis.zcard(`bull:${name}:delayed`), 0);
  assert.deepEqual(await dedupEvents(redis, name), []);
});

test('reschedule: a delayed owner is due again after the new delay, from the new timestamp', async () => {
  const { name, queue, redis } = await setup('dd-resched');
  const t0 = Date.now();
  const owner = await queue.add('a', { v: 1 }, { timestamp: t0, delay: 60000, deduplication: { id: 's', reschedule: true } });
  const hit = await queue.add('b', { v: 2 }, {
    timestamp: t0 + 5,
    delay: 120000,
    deduplication: { id: 's', reschedule: true },
  });
  assert.equal(hit.id, owner.id);
  const due = t0 + 5 + 120000;
  assert.equal(await redis.zscore(`bull:${name}:delayed`, owner.id), String(due * 4096));
  assert.equal(await redis.hget(`bull:${name}:${owner.id}`, 'delay'), '120000');
  assert.equal(await redis.hget(`bull:${name}:${owner.id}`, 'data'), '{"v":1}', 'the data stays');
  assert.deepEqual(await redis.zrange(`bull:${name}:marker`, 0, -1, 'WITHSCORES'), ['1', String(due)]);
  const tail = (await streamEvents(redis, 'bull', name)).slice(-2).map(({ id, ...e }) => e);
  assert.deepEqual(tail, [
    { event: 'deduplicated', jobId: owner.id, deduplicationId: 's', deduplicatedJobId: '2' },
    { event: 'delayed', jobId: owner.id, delay: String(due) },
  ]);
  // Without a delay the owner is due at the new add's timestamp.
  await queue.add('c', {}, { timestamp: t0 + 7, deduplication: { id: 's', reschedule: true } });
  assert.equal(await redis.zscore(`bull:${name}:delayed`, owner.id), String((t0 + 7) * 4096));
  assert.equal(await redis.hget(`bull:${name}:${owner.id}`, 'delay'), '0');
  // Without reschedule nothing moves.
  await queue.add('d', {}, { timestamp: t0 + 9, delay: 5, deduplication: { id: 's' } });
  assert.equal(await redis.zscore(`bull:${name}:delayed`, owner.id), String((t0 + 7) * 4096));
});

test('stale recovery: a key without expiry whose job is gone gives way to the new add', async () => {
  const { name, queue, redis } = await setup('dd-stale');
  await redis.set(`bull:${name}:de:z`, 'ghost');
  await redis.hset(`bull:${name}:dn:z`, 'name', 'left', 'data', '{}', 'opts', '{}', 'jid', 'x');
  const job = await queue.add('a', {}, { deduplication: { id: 'z', ttl: 60000 } });
  assert.equal(job.id, '1');
  assert.equal(await redis.get(`bull:${name}:de:z`), '1');
  assert.ok((await redis.pttl(`bull:${name}:de:z`)) > 0, 'set with the new ttl');
  assert.equal(await redis.exists(`bull:${name}:dn:z`), 0, 'the stale keep-last payload is dropped');
  assert.deepEqual(await dedupEvents(redis, name), []);
  // A key that expires is not stale: it deduplicates even without its job.
  await redis.set(`bull:${name}:de:e`, 'ghost', 'PX', 60000);
  assert.equal((await queue.add('b', {}, { deduplication: { id: 'e' } })).id, 'ghost');
});

test('getters and removers, with the debounce aliases 6.7 keeps', async () => {
  const { name, queue, redis } = await setup('dd-getters');
  const job = await queue.add('a', {}, { deduplication: { id: 'g' } });
  assert.equal(await queue.getDeduplicationJobId('g'), job.id);
  assert.equal(await queue.getDebounceJobId('g'), job.id);
  assert.equal(await queue.getDeduplicationJobId('none'), null);
  assert.equal(await queue.removeDeduplicationKey('g'), 1);
  assert.equal(await queue.removeDeduplicationKey('g'), 0);
  const next = await queue.add('b', {}, { deduplication: { id: 'g' } });
  assert.notEqual(next.id, job.id, 'added once the key is gone');
  assert.equal(await queue.removeDebounceKey('g'), 1);

  // job.removeDeduplicationKey: only while the job still owns the id.
  const owner = await queue.add('c', {}, { deduplication: { id: 'o' } });
  await redis.set(`bull:${name}:de:o`, 'someone-else');
  assert.equal(await owner.removeDeduplicationKey(), false);
  assert.equal(await redis.get(`bull:${name}:de:o`), 'someone-else');
  await redis.set(`bull:${name}:de:o`, owner.id);
  assert.equal(await owner.removeDeduplicationKey(), true);
  assert.equal(await redis.exists(`bull:${name}:de:o`), 0);
  const plain = await queue.add('p', {});
  assert.equal(await plain.removeDeduplicationKey(), false);
});

test('refused options, with 6.7 messages, add nothing', async () => {
  const { name, queue, redis } = await setup('dd-refused');
  await assert.rejects(queue.add('a', {}, { debounce: { id: 'x' } }), {
    message: 'Debounce option has been removed. Use deduplication option instead',
  });
  await assert.rejects(queue.add('a', {}, { debounce: undefined }), {
    message: 'Debounce option has been removed. Use deduplication option instead',
  });
  await assert.rejects(
    queue.add('a', {}, { deduplication: { id: 'x' }, parent: { id: 'p', queue: `bull:${name}` } }),
    { message: 'Deduplication and parent options cannot be used together' },
  );
  await assert.rejects(queue.add('a', {}, { deduplication: { ttl: 5 } }), {
    message: 'Deduplication id must be provided',
  });
  await assert.rejects(queue.addBulk([{ name: 'ok', data: {} }, { name: 'a', data: {}, opts: { debounce: {} } }]), {
    message: 'Debounce option has been removed. Use deduplication option instead',
  });
  assert.equal(await redis.exists(`bull:${name}:id`), 0, 'nothing reached Redis');
});

test('our QueueEvents emits deduplicated with BullMQ arguments, also as deduplicated:{jobId}', async () => {
  const { name, queue } = await setup('dd-qe');
  const events = closeAfter(new QueueEvents(name, { connection: await connection() }));
  await events.waitUntilReady();
  const seen = [];
  events.on('deduplicated', (args, id) => seen.push(['deduplicated', args, id]));
  events.on('deduplicated:1', (args, id) => seen.push(['deduplicated:1', args, id]));
  await queue.add('a', {}, { deduplication: { id: 'q' } });
  await queue.add('b', {}, { deduplication: { id: 'q' } });
  await waitFor(() => seen.length === 2, { message: 'the deduplicated events' });
  const args = { jobId: '1', deduplicationId: 'q', deduplicatedJobId: '2' };
  assert.deepEqual(seen.map(([e, a]) => [e, a]), [['deduplicated', args], ['deduplicated:1', args]]);
  assert.match(seen[0][2], /^\d+-\d+$/);
});
