// Setup shared by the manual-processing tests: a Queue and a Worker without
// processor on a fresh queue name, closed when the test file ends.
import { after } from 'node:test';

import { Queue, Worker } from 'bullmq-native';

import { connection, queueName, rawClient } from './redis.mjs';

const closers = [];
after(() => Promise.all(closers.map((c) => c.close())));

/** Closes `c` when the test file ends. */
export function closeAfter(c) {
  closers.push(c);
  return c;
}

/** `{name, queue, worker, redis}` for a new queue; `workerOpts` go to the Worker. */
export async function setup(label, workerOpts = {}) {
  const name = queueName(label);
  const conn = await connection();
  const queue = closeAfter(new Queue(name, { connection: conn }));
  const worker = closeAfter(new Worker(name, null, { connection: conn, ...workerOpts }));
  return { name, queue, worker, redis: await rawClient() };
}
