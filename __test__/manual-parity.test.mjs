// The same manual-processing session run by the official bullmq 6 and by
// bullmq-native, each on its own queue: retries, backoff, final failure,
// manual delay, rate-limit return, a stall past maxStalledCount and its
// deferred failure must leave identical Redis data and events.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import * as native from 'bullmq-native';

import { connection, queueName, rawClient } from './support/redis.mjs';

/** Everything under the queue's prefix, with clock values masked. */
async function dump(redis, name) {
  const prefix = `bull:${name}:`;
  const clock = (v) => (/^\d{12,}(\.\d+)?$/.test(v) ? 'T' : v);
  const out = {};
  for (const key of (await redis.keys(`${prefix}*`)).sort()) {
    const k = key.slice(prefix.length);
    if (k === 'meta') continue; // the official Queue also writes its version
    const type = await redis.type(key);
    if (type === 'hash') {
      const h = await redis.hgetall(key);
      for (const f of ['timestamp', 'processedOn', 'finishedOn']) if (h[f]) h[f] = 'T';
      if (h.delay && Number(h.delay) > 5000) h.delay = 'D';
      if (h.stacktrace) h.stacktrace = `${JSON.parse(h.stacktrace).length} traces`;
      if (h.opts) h.opts = JSON.parse(h.opts);
      out[k] = h;
    } else if (type === 'list') {
      out[k] = await redis.lrange(key, 0, -1);
    } else if (type === 'zset') {
      const z = await redis.zrange(key, 0, -1, 'WITHSCORES');
      out[k] = z.map((v, i) => (i % 2 && Number(v) > 1e12 ? 'T' : v));
    } else if (type === 'set') {
      out[k] = (await redis.smembers(key)).sort();
    } else if (type === 'string') {
      out[k] = `${clock(await redis.get(key))}${(await redis.pttl(key)) > 0 ? ' (expires)' : ''}`;
    } else if (type === 'stream') {
      out[k] = (await redis.xrange(key, '-', '+')).map(([, f]) => f.map(clock).join(' '));
    }
  }
  return out;
}

async function session(lib, label) {
  const name = queueName(label);
  const conn = await connection();
  const redis = await rawClient();
  const queue = new lib.Queue(name, { connection: conn });
  const worker = new lib.Worker(name, null, {
    connection: conn,
    maxStalledCount: 0,
    limiter: { max: 100, duration: 60000 },
  });
  const t = 'tok';
  await queue.add('retry-now', { n: 1 }, { attempts: 3 });
  await queue.add('backoff', { n: 2 }, { attempts: 3, backoff: 5000 });
  await queue.add('final', { n: 3 }, { attempts: 1, stackTraceLimit: 0 });
  await queue.add('manual-delay', { n: 4 });
  await queue.add('prioritized', { n: 5 }, { priority: 3 });
  await queue.add('completes', { n: 6 });
  const next = () => worker.getNextJob(t, { block: false });

  const names = [];
  let job = await next();
  names.push(job.name);
  await job.moveToFailed(new Error('e1'), t);
  job = await next();
  names.push(job.name);
  await job.moveToFailed(new Error('e2'), t);
  job = await next();
  names.push(job.name);
  await job.moveToFailed(new Error('e3'), t);
  job = await next();
  names.push(job.name);
  await job.moveToDelayed(Date.now() + 60000, t);
  job = await next();
  names.push(job.name);
  const [, nextId] = await job.moveToCompleted({ ok: true }, t, true);
  job = await lib.Job.fromId(queue, nextId);
  names.push(job.name);
  await queue.rateLimit(30000);
  assert.ok((await job.moveToWait(t)) > 0);
  await redis.del(`bull:${name}:limiter`);

  // A stall past maxStalledCount (0): the job gets its deferred failure.
  const stalled = await next();
  names.push(stalled.name);
  await redis.del(`bull:${name}:${stalled.id}:lock`);
  await redis.sadd(`bull:${name}:stalled`, stalled.id);
  const seen = new Promise((resolve) => worker.once('stalled', resolve));
  await worker.startStalledCheckTimer();
  await seen;
  await worker.close();
  await queue.close();
  return { names, data: await dump(redis, name) };
}

test('a manual session leaves the same data as with the official bullmq', async () => {
  const theirs = await session(official, 'parity-official');
  const ours = await session(native, 'parity-native');
  assert.deepEqual(ours.names, theirs.names);
  assert.deepEqual(ours.data, theirs.data);
  // The session covered what it meant to.
  const events = theirs.data.events.map((e) => e.split(' ')[1]);
  for (const e of ['failed', 'retries-exhausted', 'delayed', 'waiting', 'completed', 'stalled']) {
    assert.ok(events.includes(e), `the session emitted ${e}`);
  }
  assert.ok(Object.values(theirs.data).some((h) => h.defa === 'job stalled more than allowable limit'));
});
