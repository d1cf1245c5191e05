// Test helpers: the Redis to use (REDIS_URL, or a server started for this
// file alone), unique queue names, a raw client for inspecting keys, and
// polling with deadlines instead of timing assertions.
import { randomUUID } from 'node:crypto';
import { after } from 'node:test';

import IORedis from 'ioredis';

import { startRedisOrExit } from '../../scripts/redis-server.mjs';

let urlPromise;

/** The URL of the Redis the tests use. */
export function redisUrl() {
  if (!urlPromise) {
    urlPromise = process.env.REDIS_URL
      ? Promise.resolve(process.env.REDIS_URL)
      : startRedisOrExit().then((server) => {
          after(() => server.stop());
          return server.url;
        });
  }
  return urlPromise;
}

/** `{host, port}` connection options for the Redis under test. */
export async function connection() {
  const u = new URL(await redisUrl());
  return { host: u.hostname, port: Number(u.port) };
}

/** A queue name no other test uses. */
export function queueName(label = 'q') {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

const clients = [];
/** A plain ioredis client for inspecting what the engine wrote. */
export async function rawClient() {
  const client = new IORedis(await redisUrl(), { maxRetriesPerRequest: null });
  clients.push(client);
  return client;
}
after(async () => {
  await Promise.all(clients.map((c) => c.quit().catch(() => undefined)));
});

/** Polls `fn` until it returns a truthy value or the deadline passes. */
export async function waitFor(fn, { timeout = 10000, interval = 20, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${message}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Reads the events stream of a queue as [{event, ...fields}]. */
export async function streamEvents(client, prefix, queue) {
  const entries = await client.xrange(`${prefix}:${queue}:events`, '-', '+');
  return entries.map(([id, fields]) => {
    const o = { id };
    for (let i = 0; i < fields.length; i += 2) o[fields[i]] = fields[i + 1];
    return o;
  });
}
