// Job schedulers shared with the official bullmq 6.7 on one Redis: the same
// upsert writes the same keys and fields; the iteration a worker adds on
// fetch is the same whichever package's worker fetched; a scheduler made
// by either package is continued by the other's workers; both read the same
// getJobSchedulers().
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import { Queue, Worker } from 'bullmq-native';

import { connection, queueName, rawClient, waitFor } from './support/redis.mjs';
import { track } from './support/closers.mjs';


/** A queue of each package on one new queue name. */
async function pair(label) {
  const name = queueName(label);
  const conn = await connection();
  return {
    name,
    conn,
    ours: track(new Queue(name, { connection: conn })),
    theirs: track(new official.Queue(name, { connection: conn })),
  };
}

/** A job hash with its times (they differ from run to run) replaced. */
function timeless(hash) {
  const out = { ...hash };
  for (const f of ['timestamp', 'delay', 'processedOn']) if (f in out) out[f] = '<t>';
  if (out.opts) {
    const opts = JSON.parse(out.opts);
    for (const f of ['timestamp', 'delay']) if (f in opts) opts[f] = '<t>';
    out.opts = opts;
  }
  return out;
}

/** The keys a scheduler left: its hash, its repeat score, and its iterations' hashes. */
async function schedulerKeys(redis, name, id) {
  const iterations = {};
  for (const key of (await redis.keys(`bull:${name}:repeat:${id}:*`)).sort()) {
    const jobId = key.slice(`bull:${name}:`.length);
    if (/^repeat:[^:]+:\d+$/.test(jobId)) iterations[jobId] = timeless(await redis.hgetall(key));
  }
  const hash = await redis.hgetall(`bull:${name}:repeat:${id}`);
  // Key order in stored options is free (BullMQ's are Lua cjson's).
  if (hash.opts) hash.opts = JSON.parse(hash.opts);
  return {
    hash,
    score: await redis.zscore(`bull:${name}:repeat`, id),
    delayed: await redis.zrange(`bull:${name}:delayed`, 0, -1, 'WITHSCORES'),
    wait: await redis.lrange(`bull:${name}:wait`, 0, -1),
    iterations,
  };
}

const UPSERTS = [
  ['every', { every: 60000 }, { name: 'tick', data: { a: [1, 'x/y'] }, opts: { attempts: 2, backoff: 500, removeOnComplete: 5 } }],
  ['offset', { every: 60000, offset: 250, limit: 4 }, undefined],
  ['pattern', { pattern: '0 30 9 * * 1-5', tz: 'America/New_York', endDate: Date.UTC(2300, 0, 1) }, { data: { p: true }, opts: { priority: 2 } }],
  ['prio', { every: 60000 }, { opts: { priority: 4, lifo: true, keepLogs: 3 } }],
];

test('the same upsert writes the same scheduler hash, repeat score and iteration job', async () => {
  const redis = await rawClient();
  const start = Math.ceil((Date.now() + 120000) / 60000) * 60000 + 17;
  for (const [label, repeat, template] of UPSERTS) {
    const a = await pair(`up-${label}-ours`);
    const b = await pair(`up-${label}-theirs`);
    const opts = { ...repeat, ...(repeat.pattern ? {} : { startDate: start }) };
    const mine = await a.ours.upsertJobScheduler('s', opts, template);
    const theirs = await b.theirs.upsertJobScheduler('s', opts, template);
    assert.equal(mine.id, theirs.id, label);
    assert.equal(mine.name, theirs.name, label);
    assert.deepEqual(mine.data, theirs.data, label);
    assert.equal(mine.repeatJobKey, theirs.repeatJobKey, label);
    assert.deepEqual(await schedulerKeys(redis, a.name, 's'), await schedulerKeys(redis, b.name, 's'), label);
    // Upserting again (in place) leaves the same, too.
    await a.ours.upsertJobScheduler('s', opts, template);
    await b.theirs.upsertJobScheduler('s', opts, template);
    assert.deepEqual(await schedulerKeys(redis, a.name, 's'), await schedulerKeys(redis, b.name, 's'), `${label} again`);
    assert.deepEqual(await a.ours.getJobSchedulers(), await b.theirs.getJobSchedulers(), label);
    assert.deepEqual(await a.theirs.getJobSchedulers(), await a.ours.getJobSchedulers(), label);
    assert.deepEqual(await b.ours.getJobScheduler('s'), await b.theirs.getJobScheduler('s'), label);
  }
});

test('the iteration added on fetch is the same whichever package fetched', async () => {
  const redis = await rawClient();
  const runs = [];
  for (const [label, WorkerClass] of [['ours', Worker], ['theirs', official.Worker]]) {
    const p = await pair(`fetch-${label}`);
    const start = Date.now() + 400;
    await p.theirs.upsertJobScheduler('s', { every: 60000, startDate: start }, { name: 'n', data: { d: 1 }, opts: { attempts: 3 } });
    const worker = track(new WorkerClass(p.name, null, { connection: p.conn }));
    const job = await waitFor(() => worker.getNextJob('tok', { block: false }), { message: `the first iteration (${label})` });
    assert.equal(job.id, `repeat:s:${start}`);
    const keys = await schedulerKeys(redis, p.name, 's');
    assert.deepEqual(Object.keys(keys.iterations), [`repeat:s:${start}`, `repeat:s:${start + 60000}`], label);
    // The times of this run, as placeholders (the lock token is the worker's).
    assert.equal(keys.hash.offset, String(start % 60000), label);
    keys.hash.offset = 'OFFSET';
    const names = [[(start + 60000) * 4096, 'NEXT_SCORE'], [start + 60000, 'NEXT'], [start, 'START']];
    const rename = (v) => {
      if (typeof v === 'number') return names.find(([n]) => n === v)?.[1] ?? v;
      if (typeof v === 'string') return names.reduce((t, [n, to]) => t.replaceAll(String(n), to), v);
      if (Array.isArray(v)) return v.map(rename);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [rename(k), rename(x)]));
      return v;
    };
    runs.push(rename(keys));
  }
  assert.deepEqual(runs[0], runs[1]);
});

test('a scheduler of the official Queue is continued by our Worker', async () => {
  const p = await pair('theirs-to-ours');
  await p.theirs.upsertJobScheduler('o', { every: 250 }, { name: 'official', data: { from: 'bullmq' } });
  const seen = [];
  const worker = track(new Worker(p.name, async (job) => void seen.push(job), { connection: p.conn, drainDelay: 1 }));
  await waitFor(() => seen.length >= 3, { message: 'three iterations', timeout: 15000 });
  await worker.close();
  assert.deepEqual(seen.slice(0, 3).map((j) => j.opts.repeat.count), [1, 2, 3]);
  assert.ok(seen.every((j) => j.name === 'official' && j.data.from === 'bullmq' && j.repeatJobKey === 'o'));
  const s = await p.theirs.getJobScheduler('o');
  assert.equal(s.iterationCount, seen.length + 1);
  assert.equal(await p.theirs.getDelayedCount() + (await p.theirs.getWaitingCount()), 1);
});

test('our scheduler is continued by the official Worker', async () => {
  const p = await pair('ours-to-theirs');
  await p.ours.upsertJobScheduler('n', { every: 250, limit: 3 }, { name: 'native', data: { from: 'native' } });
  const seen = [];
  const worker = track(new official.Worker(p.name, async (job) => void seen.push(job), { connection: p.conn, drainDelay: 1 }));
  await waitFor(() => seen.length >= 3, { message: 'three iterations', timeout: 15000 });
  await new Promise((r) => setTimeout(r, 600));
  await worker.close();
  assert.equal(seen.length, 3, 'the limit holds');
  assert.deepEqual(seen.map((j) => j.opts.repeat.count), [1, 2, 3]);
  assert.ok(seen.every((j) => j.name === 'native' && j.data.from === 'native'));
  assert.deepEqual(await p.ours.getJobSchedulers(), await p.theirs.getJobSchedulers());
  assert.equal(await p.ours.removeJobScheduler('n'), true);
  assert.equal(await p.theirs.getJobSchedulersCount(), 0);
});
