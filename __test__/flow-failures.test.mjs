// What a child's final failure, retry, stall or removal on finish does to its
// parent, by the child's option (failParentOnFailure, continueParentOnFailure,
// ignoreDependencyOnFailure, removeDependencyOnFailure, none), with the keys
// and events BullMQ 6.7 writes for those moves.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { UnrecoverableError, Worker } from 'bullmq-native';

import { closeAfter, eventLog, flowSetup } from './support/flows.mjs';
import { waitFor } from './support/redis.mjs';

const failing = async (job) => {
  if (job.name.startsWith('bad')) throw new Error(`boom ${job.name}`);
  return job.name;
};

const inSet = (redis, key, id) => redis.zscore(key, id).then((s) => s !== null);

test('failParentOnFailure: the parent fails with a deferred failure, without running', async () => {
  const { redis, names, flows, worker } = await flowSetup('fpof', 3);
  const [g, p, c] = names;
  const tree = await flows.add({
    name: 'grand',
    queueName: g,
    children: [
      {
        name: 'parent',
        queueName: p,
        opts: { failParentOnFailure: true },
        children: [
          { name: 'bad', queueName: c, opts: { failParentOnFailure: true } },
          { name: 'slow', queueName: c, opts: { delay: 60_000 } },
        ],
      },
    ],
  });
  const parent = tree.children[0];
  const bad = parent.children[0];
  const ran = [];
  worker(c, failing);
  worker(p, async (job) => ran.push(job.id));
  const gw = worker(g, async (job) => ran.push(job.id));
  const failed = new Promise((resolve) => gw.on('failed', (job, err) => resolve([job, err])));
  const parentKey = `bull:${p}:${parent.job.id}`;
  const childKey = `bull:${c}:${bad.job.id}`;
  await waitFor(() => inSet(redis, `bull:${p}:failed`, parent.job.id), { message: 'parent failed' });
  assert.deepEqual(await redis.zrange(`${parentKey}:unsuccessful`, 0, -1), [childKey]);
  assert.deepEqual(await redis.smembers(`${parentKey}:dependencies`), [`bull:${c}:${parent.children[1].job.id}`]);
  assert.equal(await redis.hget(parentKey, 'failedReason'), `child ${childKey} failed`);
  assert.equal(await redis.hget(parentKey, 'defa'), null);
  const log = await eventLog(redis, 'bull', p);
  assert.ok(log.includes(`waiting:${parent.job.id}:waiting-children`), log.join(' '));
  assert.ok(log.includes(`failed:${parent.job.id}:active`), log.join(' '));
  // The parent failed in turn, and so does its parent, which has the flag too.
  await waitFor(() => inSet(redis, `bull:${g}:failed`, tree.job.id), { message: 'grandparent failed' });
  assert.equal(await redis.hget(`bull:${g}:${tree.job.id}`, 'failedReason'), `child ${parentKey} failed`);
  assert.deepEqual(ran, []);
  // The worker that fetched it failed it, with its event (as 6.7's).
  const [job, err] = await failed;
  assert.equal(job.id, tree.job.id);
  assert.deepEqual([err.name, err.message], ['UnrecoverableError', `child ${parentKey} failed`]);
});

test('failParentOnFailure on a delayed parent drops its delay; an active parent cannot complete', async () => {
  const { redis, names, flows, worker, queue } = await flowSetup('fpof2', 2);
  const [p, c] = names;
  // A parent that is active (a step job) when its child fails.
  const release = [];
  const pw = worker(p, async (job, token) => {
    if (job.data.step !== 'wait') return 'done';
    await queue(c).add('bad', {}, { parent: { id: job.id, queue: job.queueQualifiedName }, failParentOnFailure: true });
    await new Promise((resolve) => release.push(resolve));
    return 'done';
  });
  const errors = [];
  pw.on('error', (err) => errors.push(err));
  const failedOn = new Promise((resolve) => pw.on('failed', (job, err) => resolve(err)));
  const parentJob = await queue(p).add('step', { step: 'wait' });
  worker(c, failing);
  const parentKey = `bull:${p}:${parentJob.id}`;
  await waitFor(async () => (await redis.hget(parentKey, 'defa')) !== null, { message: 'deferred failure set' });
  assert.equal(await redis.lindex(`bull:${p}:active`, 0), parentJob.id);
  release.forEach((r) => r());
  const err = await failedOn;
  assert.ok(err instanceof UnrecoverableError);
  assert.equal(err.message, `Cannot complete job ${parentJob.id} because it has at least one failed child. moveToFinished`);
  assert.equal(errors[0]?.code, -9);
  await waitFor(() => inSet(redis, `bull:${p}:failed`, parentJob.id), { message: 'parent failed' });

  // A parent in delayed (released with its delay by a continueParentOnFailure
  // child) loses its delay when another child fails it.
  const tree = await flows.add({
    name: 'late',
    queueName: p,
    opts: { delay: 60_000 },
    children: [
      { name: 'bad-first', queueName: c, opts: { continueParentOnFailure: true } },
      { name: 'bad-later', queueName: c, opts: { failParentOnFailure: true, delay: 500 } },
    ],
  });
  await waitFor(() => inSet(redis, `bull:${p}:delayed`, tree.job.id), { message: 'parent delayed' });
  await waitFor(() => inSet(redis, `bull:${p}:failed`, tree.job.id), { message: 'delayed parent failed' });
  assert.equal(await redis.hget(`bull:${p}:${tree.job.id}`, 'delay'), '0');
});

test('continueParentOnFailure: the failure is recorded and the parent runs at once', async () => {
  const { redis, names, flows, worker } = await flowSetup('cpof', 2);
  const [p, c] = names;
  const tree = await flows.add({
    name: 'parent',
    queueName: p,
    children: [
      { name: 'bad', queueName: c, opts: { continueParentOnFailure: true } },
      { name: 'pending', queueName: c, opts: { delay: 60_000 } },
    ],
  });
  const pw = worker(p, async (job) => seenResolve({
    failures: await job.getIgnoredChildrenFailures(),
    counts: await job.getDependenciesCount(),
  }));
  let seenResolve;
  const seen = new Promise((resolve) => (seenResolve = resolve));
  // Its completion is then refused: a child is still pending (as in BullMQ).
  const refused = new Promise((resolve) => pw.on('error', resolve));
  worker(c, failing);
  const { failures, counts } = await seen;
  const bad = tree.children[0].job;
  assert.deepEqual(failures, { [`bull:${c}:${bad.id}`]: `boom bad` });
  assert.deepEqual(counts, { processed: 0, unprocessed: 1, ignored: 1, failed: 0 });
  assert.equal((await refused).message, `Job ${tree.job.id} has pending dependencies. moveToFinished`);
  const log = await eventLog(redis, 'bull', p);
  assert.ok(log.includes(`waiting:${tree.job.id}:waiting-children`));
});

test('ignoreDependencyOnFailure and removeDependencyOnFailure: the parent runs once nothing is pending', async () => {
  const { redis, names, flows, worker } = await flowSetup('idof', 2);
  const [p, c] = names;
  const tree = await flows.add({
    name: 'parent',
    queueName: p,
    children: [
      { name: 'bad-ignored', queueName: c, opts: { ignoreDependencyOnFailure: true } },
      { name: 'bad-removed', queueName: c, opts: { removeDependencyOnFailure: true } },
      { name: 'good', queueName: c },
    ],
  });
  const seen = new Promise((resolve) => worker(p, async (job) => resolve({
    values: await job.getChildrenValues(),
    ignored: await job.getFailedChildrenValues(),
    deps: await job.getDependencies(),
  })));
  worker(c, failing);
  const { values, ignored, deps } = await seen;
  const [ign, rem, good] = tree.children.map((n) => `bull:${c}:${n.job.id}`);
  assert.deepEqual(values, { [good]: 'good' });
  assert.deepEqual(ignored, { [ign]: 'boom bad-ignored' });
  assert.deepEqual(deps, { processed: { [good]: 'good' }, unprocessed: [], failed: [], ignored: { [ign]: 'boom bad-ignored' } });
  assert.equal(await redis.hexists(`bull:${p}:${tree.job.id}:failed`, rem), 0);
  assert.ok(await inSet(redis, `bull:${c}:failed`, tree.children[1].job.id));
});

test('without a flag a failed child keeps its parent waiting', async () => {
  const { redis, names, flows, worker } = await flowSetup('noflag', 2);
  const [p, c] = names;
  const tree = await flows.add({ name: 'parent', queueName: p, children: [{ name: 'bad', queueName: c }] });
  const w = worker(c, failing);
  const failed = new Promise((resolve) => w.on('failed', resolve));
  await failed;
  await waitFor(() => inSet(redis, `bull:${c}:failed`, tree.children[0].job.id), { message: 'child failed' });
  assert.ok(await inSet(redis, `bull:${p}:waiting-children`, tree.job.id));
  assert.deepEqual(await redis.smembers(`bull:${p}:${tree.job.id}:dependencies`), [`bull:${c}:${tree.children[0].job.id}`]);
  assert.deepEqual(await eventLog(redis, 'bull', p), [`added:${tree.job.id}`, `waiting-children:${tree.job.id}`]);
  // Retrying the child (job.retry) and completing it releases the parent. The failing
  // worker is closed first, or it could take the retried child and fail it again.
  await w.close();
  await tree.children[0].job.retry('failed');
  worker(c, async () => 'fixed');
  await waitFor(() => redis.llen(`bull:${p}:wait`), { message: 'parent released' });
  assert.equal(await redis.hget(`bull:${p}:${tree.job.id}:processed`, `bull:${c}:${tree.children[0].job.id}`), '"fixed"');
});

test('a retried attempt leaves the parent as it is; the completion then releases it', async () => {
  const { redis, names, flows, worker } = await flowSetup('retry', 2);
  const [p, c] = names;
  const tree = await flows.add({
    name: 'parent',
    queueName: p,
    children: [{ name: 'flaky', queueName: c, opts: { attempts: 3, failParentOnFailure: true } }],
  });
  const parentKey = `bull:${p}:${tree.job.id}`;
  let runs = 0;
  let sawRetry = false;
  worker(c, async () => {
    runs += 1;
    // A retry starts after the failed attempt was recorded: the parent
    // still waits on the child and holds no failure.
    if (runs === 2) {
      sawRetry = (await redis.scard(`${parentKey}:dependencies`)) === 1 && (await redis.zcard(`${parentKey}:unsuccessful`)) === 0;
    }
    if (runs < 3) throw new Error('not yet');
    return 'third time';
  });
  await waitFor(() => redis.llen(`bull:${p}:wait`), { message: 'parent released' });
  assert.equal(runs, 3);
  assert.ok(sawRetry);
  assert.equal(await redis.exists(`${parentKey}:unsuccessful`), 0);
  assert.equal(await redis.hget(parentKey, 'defa'), null);
});

test('a child that stalled too often fails, and so does its failParentOnFailure parent', async () => {
  const { redis, names, flows, conn } = await flowSetup('stall', 2);
  const [p, c] = names;
  const tree = await flows.add({ name: 'parent', queueName: p, children: [{ name: 'stuck', queueName: c, opts: { failParentOnFailure: true } }] });
  const manual = closeAfter(new Worker(c, null, { connection: conn, lockDuration: 300, stalledInterval: 200, maxStalledCount: 0, autorun: false }));
  const stalled = new Promise((resolve) => manual.on('stalled', resolve));
  const job = await manual.getNextJob('tok');
  assert.equal(job.id, tree.children[0].job.id);
  await manual.startStalledCheckTimer();
  await stalled;
  // The stall itself leaves the parent alone.
  assert.ok(await inSet(redis, `bull:${p}:waiting-children`, tree.job.id));
  assert.equal(await redis.hget(`bull:${c}:${job.id}`, 'defa'), 'job stalled more than allowable limit');
  // Fetched again, it comes with its deferred failure (as 6.7's getNextJob);
  // failing it fails its parent.
  const again = await manual.getNextJob('tok2', { block: false });
  assert.equal(again.deferredFailure, 'job stalled more than allowable limit');
  await again.moveToFailed(new UnrecoverableError(again.deferredFailure), 'tok2');
  assert.ok(await inSet(redis, `bull:${c}:failed`, job.id));
  assert.equal(await redis.hget(`bull:${p}:${tree.job.id}`, 'defa'), `child bull:${c}:${job.id} failed`);
  assert.deepEqual(await redis.lrange(`bull:${p}:wait`, 0, -1), [tree.job.id]);
});

test('children removed when finished keep their result or failure in the parent', async () => {
  const { redis, names, flows, worker } = await flowSetup('keep', 2);
  const [p, c] = names;
  const tree = await flows.add({
    name: 'parent',
    queueName: p,
    opts: { removeOnComplete: true },
    children: [
      { name: 'gone', queueName: c, opts: { removeOnComplete: true } },
      { name: 'bad-gone', queueName: c, opts: { removeOnFail: true, ignoreDependencyOnFailure: true } },
    ],
  });
  const got = new Promise((resolve) => worker(p, async (job) => {
    resolve({ values: await job.getChildrenValues(), ignored: await job.getIgnoredChildrenFailures() });
    return 'parent done';
  }));
  worker(c, failing);
  const { values, ignored } = await got;
  const [gone, badGone] = tree.children.map((n) => n.job.id);
  assert.deepEqual(values, { [`bull:${c}:${gone}`]: 'gone' });
  assert.deepEqual(ignored, { [`bull:${c}:${badGone}`]: 'boom bad-gone' });
  assert.equal(await redis.exists(`bull:${c}:${gone}`, `bull:${c}:${badGone}`), 0);
  // The parent's own removeOnComplete removes it with the records of its children.
  await waitFor(async () => (await redis.exists(`bull:${p}:${tree.job.id}`)) === 0, { message: 'parent removed' });
  assert.equal(await redis.exists(`bull:${p}:${tree.job.id}:processed`, `bull:${p}:${tree.job.id}:failed`), 0);
});

test('a failed child without a flag removed on failure no longer holds its parent', async () => {
  const { redis, names, flows, worker } = await flowSetup('rof', 2);
  const [p, c] = names;
  const tree = await flows.add({ name: 'parent', queueName: p, children: [{ name: 'bad', queueName: c, opts: { removeOnFail: true } }] });
  worker(c, failing);
  await waitFor(() => redis.llen(`bull:${p}:wait`), { message: 'parent released' });
  assert.ok((await eventLog(redis, 'bull', p)).includes(`waiting:${tree.job.id}:waiting-children`));
  assert.equal(await redis.exists(`bull:${p}:${tree.job.id}:failed`), 0);
});

test('a parent completing with pending children fails with BullMQ\'s error and may retry', async () => {
  const { redis, names, worker, queue } = await flowSetup('pending', 2);
  const [p, c] = names;
  const parent = await queue(p).add('impatient', {}, { attempts: 2 });
  let attempt = 0;
  const pw = worker(p, async (job) => {
    attempt += 1;
    if (attempt === 1) await queue(c).add('later', {}, { parent: { id: job.id, queue: job.queueQualifiedName }, delay: 60_000 });
    return 'too early';
  });
  const failures = [];
  const errors = [];
  pw.on('failed', (job, err) => failures.push(err.message));
  pw.on('error', (err) => errors.push(err.code));
  await waitFor(() => failures.length === 2, { message: 'two failed attempts' });
  assert.deepEqual(failures, Array(2).fill(`Job ${parent.id} has pending dependencies. moveToFinished`));
  assert.ok(await inSet(redis, `bull:${p}:failed`, parent.id));
  assert.deepEqual(errors, [-4, -4]);
});
