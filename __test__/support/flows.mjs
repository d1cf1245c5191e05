// Setup shared by the flow tests: FlowProducers, queues and workers closed
// when the test file ends, and queue names for a flow.
import { after } from 'node:test';

import { FlowProducer, Queue, Worker } from 'bullmq-native';

import { connection, queueName, rawClient } from './redis.mjs';

export { dumpKeys } from './dump.mjs';

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

/** The events of a queue's stream as `event:jobId[:prev]` strings. */
export async function eventLog(redis, prefix, name) {
  const entries = await redis.xrange(`${prefix}:${name}:events`, '-', '+');
  return entries.map(([, f]) => {
    const o = {};
    for (let i = 0; i < f.length; i += 2) o[f[i]] = f[i + 1];
    return [o.event, o.jobId, o.prev].filter((x) => x !== undefined).join(':');
  });
}
