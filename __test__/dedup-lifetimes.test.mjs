// How long deduplication keys live, as in BullMQ 6.7: `de:` goes when its
// job completes or fails (unless it has a ttl, which runs its course) and
// when the job is removed (remove, clean, drain, obliterate, removeOnComplete),
// `dn:` with it; keepLastIfActive keeps the latest add made while the owner
// runs and adds it when the owner completes or fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Worker } from 'bullmq-native';

import { closeAfter, setup } from './support/manual.mjs';
import { connection, streamEvents, waitFor } from './support/redis.mjs';

const keyOf = (name, what) => `bull:${name}:${what}`;

test('de: without ttl goes when its job completes or fails; with a ttl it stays and expires', async () => {
  const { name, queue, worker, redis } = await setup('dl-finish');
  await queue.add('c', {}, { deduplication: { id: 'c' } });
  await queue.add('f', {}, { deduplication: { id: 'f' } });
  await queue.add('t', {}, { deduplication: { id: 't', ttl: 60000 } });
  await queue.add('roc', {}, { deduplication: { id: 'roc' }, removeOnComplete: true });
  const jobs = {};
  for (let i = 0; i < 4; i++) {
    const j = await worker.getNextJob('tok', { block: false });
    jobs[j.name] = j;
  }
  for (const id of ['c', 'f', 't', 'roc']) assert.equal(await redis.exists(keyOf(name, `de:${id}`)), 1);
  await jobs.c.moveToCompleted('ok', 'tok', false);
  await jobs.f.moveToFailed(new Error('boom'), 'tok', false);
  await jobs.t.moveToCompleted('ok', 'tok', false);
  await jobs.roc.moveToCompleted('ok', 'tok', false);
  assert.equal(await redis.exists(keyOf(name, 'de:c')), 0, 'completed');
  assert.equal(await redis.exists(keyOf(name, 'de:f')), 0, 'failed');
  assert.equal(await redis.exists(keyOf(name, 'de:roc')), 0, 'completed and removed');
  assert.equal(await redis.exists(keyOf(name, jobs.roc.id)), 0);
  const pttl = await redis.pttl(keyOf(name, 'de:t'));
  assert.ok(pttl > 0 && pttl <= 60000, `a ttl key stays until it expires, PTTL ${pttl}`);
  // Released: the next add with the id is added.
  assert.notEqual((await queue.add('c2', {}, { deduplication: { id: 'c' } })).id, jobs.c.id);
  assert.equal((await queue.add('t2', {}, { deduplication: { id: 't', ttl: 60000 } })).id, jobs.t.id);
});

test('a finishing job leaves a key that another job owns by now', async () => {
  const { name, queue, worker, redis } = await setup('dl-other');
  await queue.add('a', {}, { deduplication: { id: 'o' } });
  const job = await worker.getNextJob('tok', { block: false });
  await redis.set(keyOf(name, 'de:o'), 'other');
  await job.moveToCompleted('ok', 'tok', false);
  assert.equal(await redis.get(keyOf(name, 'de:o')), 'other');
});

test('remove, clean, drain and obliterate delete the key of the removed job, and dn: with it', async () => {
  const { name, queue, worker, redis } = await setup('dl-removal');
  const removed = await queue.add('r', {}, { deduplication: { id: 'r', ttl: 60000 } });
  const cleaned = await queue.add('c', {}, { deduplication: { id: 'c' } });
  await redis.hset(keyOf(name, 'dn:r'), 'name', 'n', 'data', '{}', 'opts', '{}', 'jid', 'x');
  await queue.remove(removed.id);
  assert.equal(await redis.exists(keyOf(name, 'de:r')), 0, 'remove, even with a ttl');
  assert.equal(await redis.exists(keyOf(name, 'dn:r')), 0);

  await queue.clean(0, 0, 'wait');
  assert.equal(await redis.exists(keyOf(name, cleaned.id)), 0);
  assert.equal(await redis.exists(keyOf(name, 'de:c')), 0, 'clean');

  await queue.add('d', {}, { deduplication: { id: 'd' }, delay: 60000 });
  await queue.add('w', {}, { deduplication: { id: 'w' } });
  await queue.drain(true);
  assert.equal(await redis.exists(keyOf(name, 'de:d')), 0, 'drain (delayed)');
  assert.equal(await redis.exists(keyOf(name, 'de:w')), 0, 'drain (wait)');

  // A key that another job owns stays.
  const gone = await queue.add('g', {}, { deduplication: { id: 'g' } });
  await redis.set(keyOf(name, 'de:g'), 'other');
  await queue.remove(gone.id);
  assert.equal(await redis.get(keyOf(name, 'de:g')), 'other');
  await redis.del(keyOf(name, 'de:g'));

  // Obliterate: an active owner with a kept job loses both keys.
  await queue.add('k1', {}, { deduplication: { id: 'k', keepLastIfActive: true } });
  const active = await worker.getNextJob('tok', { block: false });
  assert.equal(active.name, 'k1');
  await queue.add('k2', {}, { deduplication: { id: 'k', keepLastIfActive: true } });
  assert.equal(await redis.exists(keyOf(name, 'dn:k')), 1);
  await queue.obliterate({ force: true });
  assert.deepEqual(await redis.keys(keyOf(name, '*')), []);
});

/** keepLastIfActive, the owner active; `finish` completes or fails it. */
async function keepLast(label, finish) {
  const { name, queue, worker, redis } = await setup(label);
  const de = { id: 'k', keepLastIfActive: true, ttl: 60000 };
  const owner = await queue.add('k1', { v: 1 }, { deduplication: de });
  assert.equal(await redis.pttl(keyOf(name, 'de:k')), -1, 'keepLastIfActive ignores the ttl');
  const job = await worker.getNextJob('tok', { block: false });
  assert.equal(job.id, owner.id);
  const second = await queue.add('k2', { v: 2 }, { deduplication: de });
  const third = await queue.add('k3', { v: 3 }, { deduplication: de, priority: 7 });
  assert.equal(second.id, owner.id);
  assert.equal(third.id, owner.id);
  // Only the latest is kept, under the id its add was given (the counter's 3).
  const { opts, ...stored } = await redis.hgetall(keyOf(name, 'dn:k'));
  assert.deepEqual(stored, { name: 'k3', data: '{"v":3}', jid: '3' });
  assert.deepEqual(JSON.parse(opts), { attempts: 0, priority: 7, de });
  assert.equal(await redis.exists(keyOf(name, '2'), keyOf(name, '3')), 0, 'nothing added while the owner runs');

  await finish(job);
  const kept = await queue.getJob('3');
  assert.equal(kept.name, 'k3');
  assert.deepEqual(kept.data, { v: 3 });
  assert.equal(kept.deduplicationId, 'k');
  assert.equal(await queue.getJobState('3'), 'prioritized');
  assert.equal(await redis.get(keyOf(name, 'de:k')), '3', 'the kept job owns the id');
  assert.equal(await redis.pttl(keyOf(name, 'de:k')), -1);
  assert.equal(await redis.exists(keyOf(name, 'dn:k')), 0);
  assert.equal(await redis.get(keyOf(name, 'id')), '4', 'the requeue took a counter value');

  const events = (await streamEvents(redis, 'bull', name)).map(({ id, ...e }) => e);
  const from = events.findIndex((e) => e.event === 'deduplicated');
  const finished = events.slice(from).map((e) => [e.event, e.jobId, e.deduplicatedJobId].filter(Boolean));
  return { queue, worker, finished };
}

test('keepLastIfActive: the latest add made while the owner runs is added when it completes', async () => {
  const { finished, worker, queue } = await keepLast('dl-keep-done', (job) => job.moveToCompleted('ok', 'tok', false));
  assert.deepEqual(finished, [
    ['deduplicated', '1', '2'],
    ['deduplicated', '1', '3'],
    ['added', '3'],
    ['waiting', '3'],
    ['completed', '1'],
  ]);
  // The kept job runs next; while it runs it keeps the next add in turn.
  const next = await worker.getNextJob('tok', { block: false });
  assert.equal(next.id, '3');
  const hit = await queue.add('k4', {}, { deduplication: { id: 'k', keepLastIfActive: true } });
  assert.equal(hit.id, '3');
});

test('keepLastIfActive: the kept add is also added when the owner fails', async () => {
  const { finished } = await keepLast('dl-keep-fail', (job) => job.moveToFailed(new Error('boom'), 'tok', false));
  assert.deepEqual(finished, [
    ['deduplicated', '1', '2'],
    ['deduplicated', '1', '3'],
    ['added', '3'],
    ['waiting', '3'],
    ['failed', '1'],
    ['retries-exhausted', '1'],
  ]);
});

test('keepLastIfActive: a kept delayed add is delayed from the finish; a waiting owner just deduplicates', async () => {
  const { name, queue, worker, redis } = await setup('dl-keep-delay');
  const de = { id: 'k', keepLastIfActive: true };
  await queue.add('k1', {}, { deduplication: de });
  // Not active yet: a plain deduplication, nothing kept.
  assert.equal((await queue.add('early', {}, { deduplication: de })).id, '1');
  assert.equal(await redis.exists(keyOf(name, 'dn:k')), 0);
  const job = await worker.getNextJob('tok', { block: false });
  await queue.add('late', {}, { deduplication: de, delay: 60000 });
  const before = Date.now();
  await job.moveToCompleted('ok', 'tok', false);
  assert.equal(await queue.getJobState('3'), 'delayed');
  const score = Number(await redis.zscore(keyOf(name, 'delayed'), '3'));
  assert.ok(score >= (before + 60000) * 4096, 'due 60 s after the finish');
  assert.equal(await redis.hget(keyOf(name, '3'), 'delay'), '60000');
});

test('keepLastIfActive in the batch finish of a processing worker', async () => {
  const { name, queue, redis } = await setup('dl-keep-worker');
  const de = { id: 'k', keepLastIfActive: true };
  let release;
  const gate = new Promise((r) => (release = r));
  const done = [];
  closeAfter(
    new Worker(
      name,
      async (job) => {
        if (job.name === 'first') await gate;
        done.push(job.name);
        return job.name;
      },
      { connection: await connection(), concurrency: 4 },
    ),
  );
  await queue.add('first', {}, { deduplication: de });
  await waitFor(async () => (await queue.getJobState('1')) === 'active', { message: 'the owner to run' });
  await queue.add('second', {}, { deduplication: de });
  await queue.add('third', {}, { deduplication: de });
  release();
  await waitFor(async () => (await queue.getJobState('3')) === 'completed', { message: 'the kept job to run' });
  assert.deepEqual(done, ['first', 'third']);
  assert.equal(await redis.exists(keyOf(name, 'de:k')), 0, 'released by the kept job');
});
