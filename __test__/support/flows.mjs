// Setup shared by the flow tests: FlowProducers, queues and workers closed
// when the test file ends, queue names for a flow, and a dump of every key of
// a queue (sets included) for field-by-field comparisons.
import { after } from 'node:test';

import { FlowProducer, Queue, Worker } from 'bullmq-native';

import { connection, queueName, rawClient } from './redis.mjs';

const closers = [];
after(() => Promise.all(closers.reverse().map((c) => c.close(true).catch(() => undefined))));

/** Closes `c` when the test file ends. */
export function closeAfter(c) {
  closers.push(c);
  return c;
}

/** `{conn, redis, names, flows, queue(name, opts), worker(name, processor, opts)}`. */
export async function flowSetup(label, count = 2) {
  const conn = await connection();
  const redis = await rawClient();
  const names = Array.from({ length: count }, (_, i) => queueName(`${label}${i}`));
  const flows = closeAfter(new FlowProducer({ connection: conn }));
  const queue = (name, opts = {}) => closeAfter(new Queue(name, { connection: conn, ...opts }));
  const worker = (name, processor, opts = {}) => closeAfter(new Worker(name, processor, { connection: conn, ...opts }));
  return { conn, redis, names, flows, queue, worker };
}

/**
 * Every key of a queue as plain values: hashes as objects (`opts` and
 * `parent` parsed, so key order does not matter), lists, sets (sorted),
 * zsets as [member, score] pairs, streams as field objects without ids.
 */
export async function dumpKeys(redis, prefix, name) {
  const base = `${prefix}:${name}:`;
  const out = {};
  for (const key of (await redis.keys(`${base}*`)).sort()) {
    const suffix = key.slice(base.length);
    const type = await redis.type(key);
    if (type === 'hash') {
      const h = await redis.hgetall(key);
      for (const f of ['opts', 'parent']) if (h[f] !== undefined) h[f] = JSON.parse(h[f]);
      out[suffix] = h;
    } else if (type === 'list') {
      out[suffix] = await redis.lrange(key, 0, -1);
    } else if (type === 'set') {
      out[suffix] = (await redis.smembers(key)).sort();
    } else if (type === 'zset') {
      const flat = await redis.zrange(key, 0, -1, 'WITHSCORES');
      out[suffix] = [];
      for (let i = 0; i < flat.length; i += 2) out[suffix].push([flat[i], flat[i + 1]]);
    } else if (type === 'stream') {
      out[suffix] = (await redis.xrange(key, '-', '+')).map(([, fields]) => {
        const o = {};
        for (let i = 0; i < fields.length; i += 2) o[fields[i]] = fields[i + 1];
        return o;
      });
    } else {
      out[suffix] = await redis.get(key);
    }
  }
  return out;
}

/** The events of a queue's stream as `event:jobId[:prev]` strings. */
export async function eventLog(redis, prefix, name) {
  const entries = await redis.xrange(`${prefix}:${name}:events`, '-', '+');
  return entries.map(([, f]) => {
    const o = {};
    for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
    return [o.event, o.jobId, o.prev].filter((x) => x !== undefined).join(':');
  });
}
