// Setup shared by the automatic-worker tests: a queue, workers closed when
// the test file ends (forcibly, so a hanging processor cannot block it),
// gates that hold processors until released, and event recorders.
import { spawn } from 'node:child_process';
import { after } from 'node:test';

import { Queue, Worker } from 'bullmq-native';

import { connection, queueName, rawClient } from './redis.mjs';

const closers = [];
after(() => Promise.all(closers.map((c) => c.close(true).catch(() => undefined))));

/** Closes `c` (forcibly) when the test file ends unless the test closed it. */
export function closeAfter(c) {
  closers.push(c);
  return c;
}

/** `{name, queue, connection, redis, worker(processor, opts)}` for a new queue. */
export async function setup(label) {
  const name = queueName(label);
  const conn = await connection();
  const queue = closeAfter(new Queue(name, { connection: conn }));
  const redis = await rawClient();
  const worker = (processor, opts = {}) =>
    closeAfter(new Worker(name, processor, { connection: conn, ...opts }));
  return { name, queue, connection: conn, redis, worker };
}

/** A promise with its resolve function exposed. */
export function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Records every emission of the given events as [name, ...args]. */
export function record(emitter, names) {
  const seen = [];
  for (const n of names) emitter.on(n, (...args) => seen.push([n, ...args]));
  return seen;
}

/** Resolves after `ms` (for checks that nothing more happens meanwhile). */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs an ES module `script` in a child Node process from the package root
 * (so it can import 'bullmq-native'); resolves `{code, out}` (stdout) once it
 * exits, or `code: 'still running'` after `timeout` ms (it is then killed).
 */
export function runScript(script, { timeout = 30000 } = {}) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('../..', import.meta.url),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: 'still running', out });
    }, timeout);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
