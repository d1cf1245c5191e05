// Which way our Lua scripts run: as a Redis Functions library (FCALL) by
// default on Redis 7+, or with EVALSHA when BULLMQ_NATIVE_SCRIPTS=eval. Each
// case runs a producer and a worker in a child process with the variable set
// as the case says, against a redis-server of its own (libraries and command
// counters are per server, and the shared one serves other tests), then
// reads what that server saw. Also: a server that forgot our scripts gets
// them again, on whichever path this process runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

import IORedis from 'ioredis';

import { Queue, Worker } from 'bullmq-native';

import { startRedis } from '../scripts/redis-server.mjs';
import { queueName, waitFor } from './support/redis.mjs';

const run = promisify(execFile);
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function freshServer() {
  const server = await startRedis();
  cleanups.push(() => server.stop());
  const client = new IORedis(server.url, { maxRetriesPerRequest: null });
  cleanups.push(() => client.quit().catch(() => client.disconnect()));
  return { server, client };
}

/** Adds two jobs and processes them in a child process whose environment has
 * BULLMQ_NATIVE_SCRIPTS = `scripts` (unset when undefined). */
async function processTwoJobsInChild(url, scripts) {
  const u = new URL(url);
  const script = `
    import { Queue, Worker } from 'bullmq-native';
    const connection = { host: ${JSON.stringify(u.hostname)}, port: ${Number(u.port)} };
    const name = ${JSON.stringify(queueName('path'))};
    const queue = new Queue(name, { connection });
    await queue.addBulk([{ name: 'a', data: {} }, { name: 'b', data: {} }]);
    let done = 0;
    const finished = new Promise((resolve) => {
      const worker = new Worker(name, async () => 'ok', { connection });
      worker.on('completed', () => ++done === 2 && resolve(worker));
    });
    const worker = await finished;
    await worker.close();
    await queue.close();
    console.log(JSON.stringify({ done, counts: await new Queue(name, { connection }).getJobCounts('completed') }));
    process.exit(0);
  `;
  const env = { ...process.env };
  delete env.BULLMQ_NATIVE_SCRIPTS;
  if (scripts !== undefined) env.BULLMQ_NATIVE_SCRIPTS = scripts;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    env,
    timeout: 60000,
  });
  return JSON.parse(stdout.trim().split('\n').pop());
}

/** Our libraries on the server, by name. */
async function ourLibraries(client) {
  const list = await client.call('FUNCTION', 'LIST');
  return list.map((lib) => lib[lib.indexOf('library_name') + 1]).filter((n) => n.startsWith('bullmq_native_'));
}

/** Calls of each command the server counted: { fcall: n, evalsha: m, ... }. */
async function commandCalls(client) {
  const info = await client.info('commandstats');
  const calls = {};
  for (const m of info.matchAll(/^cmdstat_([a-z_|]+):calls=(\d+)/gm)) calls[m[1]] = Number(m[2]);
  return calls;
}

test('by default the scripts are one Functions library, called with FCALL', async () => {
  const { server, client } = await freshServer();
  const result = await processTwoJobsInChild(server.url, undefined);
  assert.deepEqual(result, { done: 2, counts: { completed: 2 } });
  const libraries = await ourLibraries(client);
  assert.equal(libraries.length, 1, `libraries: ${libraries}`);
  const calls = await commandCalls(client);
  assert.ok(calls.fcall >= 3, `FCALL calls: ${calls.fcall}`);
  assert.equal(calls.evalsha, undefined);
  assert.equal(calls.eval, undefined);
  // Loaded once for the producer and the worker together.
  assert.equal(calls['function|load'], 1, JSON.stringify(calls));
});

test('BULLMQ_NATIVE_SCRIPTS=eval runs EVALSHA and loads no library', async () => {
  const { server, client } = await freshServer();
  const result = await processTwoJobsInChild(server.url, 'eval');
  assert.deepEqual(result, { done: 2, counts: { completed: 2 } });
  assert.deepEqual(await ourLibraries(client), []);
  const calls = await commandCalls(client);
  assert.ok(calls.evalsha >= 3, `EVALSHA calls: ${calls.evalsha}`);
  assert.equal(calls.fcall, undefined);
  assert.equal(calls['function|load'], undefined);
});

test('BULLMQ_NATIVE_SCRIPTS=functions runs FCALL', async () => {
  const { server, client } = await freshServer();
  const result = await processTwoJobsInChild(server.url, 'functions');
  assert.deepEqual(result, { done: 2, counts: { completed: 2 } });
  assert.equal((await ourLibraries(client)).length, 1);
  const calls = await commandCalls(client);
  assert.ok(calls.fcall >= 3);
  assert.equal(calls.evalsha, undefined);
});

test('a worker goes on after FUNCTION FLUSH and SCRIPT FLUSH, on either path', async () => {
  const { server, client } = await freshServer();
  const u = new URL(server.url);
  const connection = { host: u.hostname, port: Number(u.port) };
  const name = queueName('flush');
  const queue = new Queue(name, { connection });
  const completed = [];
  const worker = new Worker(name, async (job) => job.data.i, { connection });
  worker.on('completed', (job) => completed.push(job.data.i));
  cleanups.push(() => worker.close(), () => queue.close());
  await queue.add('j', { i: 1 });
  await waitFor(() => completed.length === 1, { message: 'the first job' });
  await client.call('FUNCTION', 'FLUSH');
  await client.call('SCRIPT', 'FLUSH');
  await queue.add('j', { i: 2 });
  await waitFor(() => completed.length === 2, { message: 'the job after the flush' });
  assert.deepEqual(completed, [1, 2]);
  assert.deepEqual(await queue.getJobCounts('completed', 'failed'), { completed: 2, failed: 0 });
  const onFunctions = process.env.BULLMQ_NATIVE_SCRIPTS !== 'eval';
  assert.equal((await ourLibraries(client)).length, onFunctions ? 1 : 0);
});
