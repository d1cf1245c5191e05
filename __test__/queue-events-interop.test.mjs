// QueueEvents against the official bullmq 6.x and 5.81.x on one Redis: our
// QueueEvents and theirs read the same stream side by side and must emit the
// same events with the same arguments, whether the official Queue/Worker or
// ours produced them; waitUntilFinished works across the two libraries.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import * as bullmq6 from 'bullmq';
import * as bullmq5 from 'bullmq5';

import { Queue, QueueEvents, Worker } from 'bullmq-native';

import { eventNames, failJob, recordEmits } from './support/queue-events.mjs';
import { connection, queueName, rawClient, streamEvents, waitFor } from './support/redis.mjs';

const closers = [];
after(() => Promise.all(closers.map((c) => c.close())));

const OFFICIAL = [
  ['6.x', bullmq6],
  ['5.81', bullmq5],
];

/** Every event name BullMQ emits for stream entries. */
const ALL_EVENTS = [
  'added', 'waiting', 'active', 'progress', 'completed', 'failed', 'delayed', 'stalled', 'removed',
  'duplicated', 'deduplicated', 'retries-exhausted', 'waiting-children', 'paused', 'resumed', 'drained', 'cleaned',
];

async function officialConnection() {
  return { ...(await connection()), maxRetriesPerRequest: null };
}

function track(closable) {
  closers.push(closable);
  return closable;
}

/** Ours and the official QueueEvents, both from the start of the stream, recording. */
async function bothReaders(lib, name) {
  const ours = track(new QueueEvents(name, { connection: await connection(), lastEventId: '0-0' }));
  const theirs = track(new lib.QueueEvents(name, { connection: await officialConnection(), lastEventId: '0-0' }));
  const logs = { ours: recordEmits(ours), theirs: recordEmits(theirs) };
  await Promise.all([ours.waitUntilReady(), theirs.waitUntilReady()]);
  return { ours, theirs, logs };
}

async function sameEventsUntil(logs, lastEvent) {
  for (const side of ['ours', 'theirs']) {
    await waitFor(() => logs[side].some(([e]) => e === lastEvent), { message: `${side} to see ${lastEvent}` });
  }
  assert.deepEqual(logs.ours, logs.theirs);
}

for (const [version, lib] of OFFICIAL) {
  test(`events written by the official bullmq ${version}: ours emits exactly what theirs emits`, async () => {
    const name = queueName(`off${version}`);
    const redis = await rawClient();
    const conn = await officialConnection();
    const { logs } = await bothReaders(lib, name);
    const hasEvent = async (event, n = 1) =>
      (await streamEvents(redis, 'bull', name)).filter((e) => e.event === event).length >= n;

    const queue = track(new lib.Queue(name, { connection: conn }));
    // A job taken by hand whose lock expires: the stalled checker moves it back.
    const manual = track(new lib.Worker(name, null, { connection: conn, autorun: false, lockDuration: 200, stalledInterval: 100 }));
    await queue.add('stall-me', {});
    assert.ok(await manual.getNextJob('tok'));
    await waitFor(
      async () => {
        await manual.moveStalledJobsToWait();
        return hasEvent('stalled');
      },
      { interval: 150, message: 'the job to stall' },
    );

    await queue.add('a', { x: 1 });
    await queue.add('custom', {}, { jobId: 'custom-1' });
    await queue.add('custom', {}, { jobId: 'custom-1' });
    await queue.add('dedup', {}, { deduplication: { id: 'd1' } });
    await queue.add('dedup', {}, { deduplication: { id: 'd1' } });
    const later = await queue.add('later', {}, { delay: 3_600_000 });
    await later.remove();
    await queue.add('bad', {}, { attempts: 1 });
    const flows = track(new lib.FlowProducer({ connection: conn }));
    await flows.add({ name: 'parent', queueName: name, children: [{ name: 'kid', queueName: `${name}-kids`, data: {} }] });

    const worker = track(
      new lib.Worker(
        name,
        async (job) => {
          if (job.name === 'bad') throw new Error('boom: "quoted"');
          await job.updateProgress({ step: job.name });
          return { name: job.name, x: job.data.x ?? null };
        },
        { connection: conn },
      ),
    );
    await waitFor(async () => (await hasEvent('completed', 4)) && (await hasEvent('retries-exhausted')) && (await hasEvent('drained')), {
      message: 'the worker to finish every job',
    });
    await worker.close();
    await queue.pause();
    await queue.resume();
    await queue.clean(0, 0, 'completed');

    await sameEventsUntil(logs, 'cleaned');
    const names = new Set(eventNames(logs.ours));
    assert.deepEqual(ALL_EVENTS.filter((e) => !names.has(e)), [], 'every event was produced and seen');
    const completed = logs.ours.find(([e, a]) => e === 'completed' && a.returnvalue.name === 'a');
    assert.deepEqual(completed[1].returnvalue, { name: 'a', x: 1 });
    assert.ok(logs.ours.some(([e]) => e.startsWith('completed:')));
  });

  test(`events written by our Queue and Worker: the official bullmq ${version} QueueEvents sees them as ours does`, async () => {
    const name = queueName(`own${version}`);
    const conn = await connection();
    const { logs } = await bothReaders(lib, name);

    const queue = track(new Queue(name, { connection: conn }));
    const w = track(new Worker(name, null, { connection: conn }));
    await queue.add('a', { x: 1 });
    await queue.add('custom', {}, { jobId: 'custom-1' });
    await queue.add('custom', {}, { jobId: 'custom-1' });
    const later = await queue.add('later', {}, { delay: 3_600_000, attempts: 1 });
    await later.changeDelay(7_200_000);
    await later.promote();
    await queue.add('prio', {}, { priority: 3 });
    let failedOnce = false;
    for (let i = 0; ; i++) {
      const token = `t${i}`;
      const job = await w.getNextJob(token, { block: false });
      if (!job) break;
      if (job.name === 'later' && !failedOnce) {
        failedOnce = true;
        await failJob(w, job, token, 'boom: "quoted"');
        await job.retry('failed');
        continue;
      }
      await job.updateProgress({ step: job.name });
      await job.moveToCompleted({ name: job.name, list: [1, 'two'] }, token, false);
    }
    await queue.remove('custom-1');
    await queue.pause();
    await queue.resume();
    await queue.clean(0, 0, 'completed');

    await sameEventsUntil(logs, 'cleaned');
    const names = new Set(eventNames(logs.theirs));
    for (const e of ['added', 'waiting', 'active', 'progress', 'completed', 'failed', 'retries-exhausted', 'delayed',
      'removed', 'duplicated', 'paused', 'resumed', 'drained', 'cleaned']) {
      assert.ok(names.has(e), `the official QueueEvents saw ${e}`);
    }
    const delayed = logs.theirs.filter(([e]) => e === 'delayed').map(([, a]) => a.delay);
    assert.equal(delayed.length, 2);
    assert.ok(delayed.every((d) => typeof d === 'number' && d > Date.now()), 'delay is the absolute due time');
    assert.deepEqual(
      logs.theirs.find(([e]) => e === 'failed')[1],
      { jobId: later.id, failedReason: 'boom: "quoted"', prev: 'active' },
    );
  });

  test(`waitUntilFinished across libraries (${version}): their job with our QueueEvents, ours with theirs`, async () => {
    const name = queueName(`wuf${version}`);
    const conn = await connection();
    const officialQueue = track(new lib.Queue(name, { connection: await officialConnection() }));
    const ourQueue = track(new Queue(name, { connection: conn }));
    const ourEvents = track(new QueueEvents(name, { connection: conn }));
    const theirEvents = track(new lib.QueueEvents(name, { connection: await officialConnection() }));
    await Promise.all([ourEvents.waitUntilReady(), theirEvents.waitUntilReady()]);
    const w = track(new Worker(name, null, { connection: conn }));

    const good = await officialQueue.add('good', {});
    const bad = await officialQueue.add('bad', {}, { attempts: 1 });
    const theirsOnOurs = [good.waitUntilFinished(ourEvents), bad.waitUntilFinished(ourEvents)];
    const ourJobs = [await ourQueue.getJob(good.id), await ourQueue.getJob(bad.id)];
    const oursOnTheirs = ourJobs.map((j) => j.waitUntilFinished(theirEvents));
    for (const p of [...theirsOnOurs, ...oursOnTheirs]) p.catch(() => undefined);

    const g = await w.getNextJob('t1');
    await g.moveToCompleted({ ok: [1, 2] }, 't1', false);
    const b = await w.getNextJob('t2');
    await failJob(w, b, 't2', 'it failed');

    assert.deepEqual(await theirsOnOurs[0], { ok: [1, 2] });
    assert.deepEqual(await oursOnTheirs[0], { ok: [1, 2] });
    await assert.rejects(theirsOnOurs[1], { message: 'it failed' });
    await assert.rejects(oursOnTheirs[1], { message: 'it failed' });
  });
}
