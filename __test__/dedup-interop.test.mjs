// Deduplication shared with the official bullmq 6.7 on one Redis: adds of
// either library are deduplicated against jobs of the other (every mode),
// a job kept by keepLastIfActive is added by whichever library finishes the
// owner, and one scenario run once with each library leaves the same keys,
// hash fields, options and events.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';

import { recordEmits } from './support/queue-events.mjs';
import { connection, queueName, rawClient, streamEvents, waitFor } from './support/redis.mjs';
import { track } from './support/closers.mjs';

const LIBS = { ours, official };

async function conn() {
  return { ...(await connection()), maxRetriesPerRequest: null };
}

async function queues(label) {
  const name = queueName(label);
  const c = await conn();
  return {
    name,
    q: { ours: track(new ours.Queue(name, { connection: c })), official: track(new official.Queue(name, { connection: c })) },
    w: {
      ours: track(new ours.Worker(name, null, { connection: c })),
      official: track(new official.Worker(name, null, { connection: c })),
    },
    redis: await rawClient(),
  };
}

const dedupEvents = async (redis, name) =>
  (await streamEvents(redis, 'bull', name)).filter((e) => e.event === 'deduplicated').map(({ id, ...e }) => e);

for (const [first, second] of [
  ['official', 'ours'],
  ['ours', 'official'],
]) {
  test(`${first} adds, ${second} adds with the same deduplication ids: every mode deduplicates across`, async () => {
    const { name, q, w, redis } = await queues(`ddx-${first}`);
    const t0 = Date.now();
    const key = (id) => `bull:${name}:de:${id}`;

    // Simple mode.
    const owner = await q[first].add('a', { v: 1 }, { deduplication: { id: 's' } });
    const hit = await q[second].add('b', { v: 2 }, { deduplication: { id: 's' } });
    assert.equal(hit.id, owner.id);
    assert.equal(await redis.exists(`bull:${name}:2`), 0);
    assert.equal(await q[second].getDeduplicationJobId('s'), owner.id);

    // ttl: the first library's expiry holds for the second's adds.
    const throttled = await q[first].add('t', {}, { deduplication: { id: 't', ttl: 60000 } });
    assert.equal((await q[second].add('t', {}, { deduplication: { id: 't', ttl: 60000 } })).id, throttled.id);
    assert.ok((await redis.pttl(key('t'))) > 0);

    // extend renews the first library's key.
    const extended = await q[first].add('x', {}, { deduplication: { id: 'x', ttl: 60000, extend: true } });
    await redis.pexpire(key('x'), 1000);
    assert.equal((await q[second].add('x', {}, { deduplication: { id: 'x', ttl: 60000, extend: true } })).id, extended.id);
    assert.ok((await redis.pttl(key('x'))) > 1000);

    // replace removes the first library's delayed job.
    const replaced = await q[first].add('r1', {}, { delay: 60000, deduplication: { id: 'r', replace: true } });
    const replacing = await q[second].add('r2', { v: 'r2' }, { delay: 60000, deduplication: { id: 'r', replace: true } });
    assert.notEqual(replacing.id, replaced.id);
    assert.equal(await q[first].getJob(replaced.id), undefined);
    assert.deepEqual((await q[first].getJob(replacing.id)).data, { v: 'r2' });
    assert.equal(await q[first].getDeduplicationJobId('r'), replacing.id);

    // reschedule moves the first library's delayed job.
    const rescheduled = await q[first].add('v1', {}, { timestamp: t0, delay: 60000, deduplication: { id: 'v', reschedule: true } });
    await q[second].add('v2', {}, { timestamp: t0 + 1, delay: 90000, deduplication: { id: 'v', reschedule: true } });
    assert.equal(await redis.zscore(`bull:${name}:delayed`, rescheduled.id), String((t0 + 1 + 90000) * 4096));

    assert.deepEqual((await dedupEvents(redis, name)).map((e) => e.deduplicationId), ['s', 't', 'x', 'r', 'v']);

    // The second library's worker finishes the first's job and frees its id.
    const job = await w[second].getNextJob('tok', { block: false });
    assert.equal(job.id, owner.id);
    assert.equal(job.deduplicationId, 's');
    await job.moveToCompleted('done', 'tok', false);
    assert.equal(await q[first].getDeduplicationJobId('s'), null);
    assert.notEqual((await q[first].add('again', {}, { deduplication: { id: 's' } })).id, owner.id);
    // And removes keys the first library wrote.
    assert.equal(await q[second].removeDeduplicationKey('t'), 1);
    assert.equal(await redis.exists(key('t')), 0);
  });

  test(`keepLastIfActive: ${first} keeps the add made while the owner runs, ${second} adds it at the finish`, async () => {
    const { name, q, w, redis } = await queues(`ddk-${first}`);
    const de = { id: 'k', keepLastIfActive: true };
    const owner = await q[first].add('k1', { v: 1 }, { deduplication: de });
    const job = await w[second].getNextJob('tok', { block: false });
    assert.equal(job.id, owner.id);
    assert.equal((await q[first].add('k2', { v: 2 }, { deduplication: de, lifo: true })).id, owner.id);
    assert.equal(await redis.hget(`bull:${name}:dn:k`, 'jid'), '2');
    await job.moveToFailed(new Error('boom'), 'tok', false);
    const kept = await q[first].getJob('2');
    assert.equal(kept.name, 'k2');
    assert.deepEqual(kept.data, { v: 2 });
    assert.equal(kept.deduplicationId, 'k');
    assert.equal(await q[first].getJobState('2'), 'waiting');
    assert.equal(await q[second].getDeduplicationJobId('k'), '2');
    assert.equal(await redis.exists(`bull:${name}:dn:k`), 0);
  });
}

/**
 * One run of every mode with one library: manual worker, fixed timestamps.
 * Returns the snapshots taken while the keep-last owner runs and at the end.
 */
async function scenario(lib, name, t0) {
  const c = await conn();
  const q = track(new LIBS[lib].Queue(name, { connection: c }));
  const w = track(new LIBS[lib].Worker(name, null, { connection: c }));
  const redis = await rawClient();
  let k = 0;
  const add = (n, de, opts = {}) => q.add(n, { n }, { timestamp: t0 + k++, deduplication: de, ...opts });
  await add('a', { id: 's' });
  await add('b', { id: 's' });
  await add('t1', { id: 't', ttl: 60000 });
  await add('t2', { id: 't', ttl: 60000 });
  await add('x1', { id: 'x', ttl: 60000, extend: true });
  await add('x2', { id: 'x', ttl: 60000, extend: true });
  await add('r1', { id: 'r', replace: true, ttl: 60000 }, { delay: 60000 });
  await add('r2', { id: 'r', replace: true, ttl: 60000 }, { delay: 60000 });
  await add('r3', { id: 'rk', replace: true, keepLastIfActive: true }, { delay: 5000 });
  await add('r4', { id: 'rk', replace: true, keepLastIfActive: true }, { delay: 6000 });
  await add('v1', { id: 'v', reschedule: true }, { delay: 60000 });
  await add('v2', { id: 'v', reschedule: true }, { delay: 120000 });
  await q.addBulk([
    { name: 'b1', data: {}, opts: { timestamp: t0 + k++, deduplication: { id: 'bulk' } } },
    { name: 'b2', data: {}, opts: { timestamp: t0 + k++, deduplication: { id: 'bulk' }, priority: 2 } },
  ]);
  await add('k1', { id: 'k', keepLastIfActive: true });
  const active = [];
  for (let i = 0; i < 5; i++) active.push(await w.getNextJob('tok', { block: false }));
  await add('k2', { id: 'k', keepLastIfActive: true }, { priority: 3 });
  await add('k3', { id: 'k', keepLastIfActive: true }, { priority: 4, attempts: 2 });
  const running = await snapshot(redis, name);
  for (const job of active) {
    if (job.name === 'k1') await job.moveToFailed(new Error('boom'), 'tok', false);
    else await job.moveToCompleted({ done: job.name }, 'tok', false);
  }
  await q.remove((await q.getDeduplicationJobId('rk')) ?? 'none');
  return { running, end: await snapshot(redis, name), active: active.map((j) => j.name) };
}

/** Every key of a queue, with the values that depend on the clock or the library left out. */
async function snapshot(redis, name) {
  const base = `bull:${name}:`;
  const out = {};
  for (const key of (await redis.keys(`${base}*`)).sort()) {
    const suffix = key.slice(base.length);
    const type = await redis.type(key);
    if (suffix === 'meta') {
      const { version, ...meta } = await redis.hgetall(key);
      out[suffix] = meta;
    } else if (type === 'hash') {
      const { timestamp, processedOn, finishedOn, stacktrace, ...h } = await redis.hgetall(key);
      if (h.opts !== undefined) h.opts = JSON.parse(h.opts);
      out[suffix] = h;
    } else if (type === 'list') {
      out[suffix] = await redis.lrange(key, 0, -1);
    } else if (type === 'zset') {
      // Finished sets are scored (and so ordered) by the clock: compared as sets.
      const finished = ['completed', 'failed'].includes(suffix);
      out[suffix] = finished ? (await redis.zrange(key, 0, -1)).sort() : await redis.zrange(key, 0, -1, 'WITHSCORES');
    } else if (type === 'stream') {
      out[suffix] = (await streamEvents(redis, 'bull', name)).map(({ id, ...e }) => e);
    } else {
      out[suffix] = { value: await redis.get(key), expires: (await redis.pttl(key)) > 0 };
    }
  }
  return out;
}

test('the same scenario run with 6.7 and with ours leaves the same keys, fields, options and events', async () => {
  const t0 = Date.now() + 3_600_000;
  const theirs = await scenario('official', queueName('dds-official'), t0);
  const mine = await scenario('ours', queueName('dds-ours'), t0);
  assert.deepEqual(mine.active, theirs.active);
  assert.deepEqual(mine.running, theirs.running);
  assert.deepEqual(mine.end, theirs.end);
  // The scenario went through what it is meant to compare.
  const events = theirs.end.events.map((e) => e.event);
  assert.ok(events.includes('removed') && events.filter((e) => e === 'deduplicated').length >= 7);
  assert.equal(theirs.running['dn:k'].name, 'k3');
  assert.equal(theirs.end['de:k'].value, theirs.running['dn:k'].jid);
  assert.ok(theirs.end['de:t'].expires && !theirs.end['de:k'].expires);
  assert.equal(theirs.end[theirs.running['dn:k'].jid].deid, 'k');
});

test('our QueueEvents and the official one emit the same for our deduplicated, removed and kept adds', async () => {
  const name = queueName('ddqe');
  const c = await conn();
  const mineEvents = track(new ours.QueueEvents(name, { connection: c, lastEventId: '0-0' }));
  const theirEvents = track(new official.QueueEvents(name, { connection: c, lastEventId: '0-0' }));
  const logs = { ours: recordEmits(mineEvents), theirs: recordEmits(theirEvents) };
  await Promise.all([mineEvents.waitUntilReady(), theirEvents.waitUntilReady()]);
  await scenario('ours', name, Date.now());
  for (const side of ['ours', 'theirs']) {
    await waitFor(() => logs[side].some(([e]) => e === 'retries-exhausted'), { message: `${side} to see the end` });
  }
  const upTo = (log) => log.slice(0, log.findIndex(([e]) => e === 'retries-exhausted') + 1);
  assert.deepEqual(upTo(logs.ours), upTo(logs.theirs));
  assert.ok(logs.ours.some(([e, args]) => e === 'deduplicated' && args.deduplicationId === 'k'));
});
