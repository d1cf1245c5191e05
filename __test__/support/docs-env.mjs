// What the documentation examples import instead of 'bullmq': bullmq-native's
// classes, with the test Redis and a prefix of the current test as defaults
// (the examples use fixed queue names and often no connection), so that each
// example runs as written. Everything created is closed by `closeDocsEnv`.
import { randomUUID } from 'node:crypto';

import * as native from 'bullmq-native';

import { connection as testConnection } from './redis.mjs';

let defaults = {};
let created = [];

/** Starts a fresh environment; returns `{connection, prefix}`. */
export async function docsEnv() {
  defaults = { connection: await testConnection(), prefix: `docs-${randomUUID().slice(0, 8)}` };
  return defaults;
}

/** Closes the queues and workers the examples made (workers forcibly). */
export async function closeDocsEnv() {
  const all = created;
  created = [];
  await Promise.all(all.map((c) => (c instanceof native.Worker ? c.close(true) : c.close()).catch(() => undefined)));
}

export class Queue extends native.Queue {
  constructor(name, opts = {}) {
    super(name, { ...defaults, ...opts });
    created.push(this);
  }
}

export class Worker extends native.Worker {
  constructor(name, processor, opts = {}) {
    super(name, processor, { ...defaults, ...opts });
    created.push(this);
  }
}

export const { Job, UnrecoverableError, DelayedError, RateLimitError, WaitingError, WaitingChildrenError } = native;
