// Chaos: a worker process under load is SIGKILLed at random moments, again
// and again, and restarted. Short locks and stalled checks let the next
// process recover the dead one's jobs. At the end every job completed, none
// failed, and a job ran more than once only after it stalled: each processor
// run is counted in a Redis hash of its own before the processor returns, and
// runs <= 1 + stalledCounter for every job; the events stream holds exactly
// one `completed` per job. Starts are counted too (a start in a process that
// was killed is a run that never finished): starts <= 1 + stalledCounter. The moments are drawn from a seeded PRNG (seed
// printed; CHAOS_SEED replays the same schedule).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

import { Queue } from 'bullmq-native';

import { connection, queueName, rawClient, redisUrl, waitFor } from './support/redis.mjs';
import { mulberry32 } from './support/prng.mjs';

const TOTAL = 4000;
const KILLS = 12;

/**
 * The worker process: counts each start in `${runsKey}:started` and each run
 * that got to the end in `runsKey` (job id -> count), then returns.
 */
function workerScript(name, url, runsKey) {
  const u = new URL(url);
  return `
    import IORedis from 'ioredis';
    import { Worker } from 'bullmq-native';
    const redis = new IORedis(${JSON.stringify(url)}, { maxRetriesPerRequest: null });
    const worker = new Worker(${JSON.stringify(name)}, async (job) => {
      await redis.hincrby(${JSON.stringify(runsKey + ':started')}, job.id, 1);
      await new Promise((r) => setTimeout(r, job.data.ms));
      await redis.hincrby(${JSON.stringify(runsKey)}, job.id, 1);
      return { i: job.data.i };
    }, {
      connection: { host: ${JSON.stringify(u.hostname)}, port: ${Number(u.port)} },
      concurrency: 16,
      lockDuration: 1000,
      stalledInterval: 300,
      // Killed often: a job may stall several times and must not fail for it.
      maxStalledCount: 1000,
    });
    worker.on('ready', () => console.log('ready'));
    worker.on('error', (err) => console.error('worker error', err));
  `;
}

function startWorker(script) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { child, exited, ready: () => out.includes('ready') };
}

test(`a worker process SIGKILLed ${KILLS} times under load: every job completes, reruns only after stalls`, async (t) => {
  const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 32));
  t.diagnostic(`CHAOS_SEED=${seed}`);
  const rnd = mulberry32(seed);
  const name = queueName('chaos');
  const runsKey = `chaos-runs:${name}`;
  const url = await redisUrl();
  const queue = new Queue(name, {
    connection: await connection(),
    // Room for every event of the run, so `completed` can be counted per job.
    streams: { events: { maxLen: 200000 } },
  });
  const redis = await rawClient();
  const script = workerScript(name, url, runsKey);
  try {
    // Every 200th job outlives its lock unless the lock is renewed.
    await queue.addBulk(
      Array.from({ length: TOTAL }, (_, i) => ({ name: 'chaos', data: { i, ms: i % 200 === 7 ? 1500 : 20 + Math.floor(rnd() * 60) } })),
    );
    const kills = [];
    for (let k = 0; k < KILLS; k++) {
      const w = startWorker(script);
      try {
        await waitFor(w.ready, { timeout: 20000, message: 'the worker process is ready' });
        // Kill at any moment from right after start to well into processing.
        const after = Math.floor(rnd() * 900) + 50;
        await new Promise((r) => setTimeout(r, after));
        kills.push({ after, completed: await queue.getCompletedCount(), active: await queue.getActiveCount() });
      } finally {
        w.child.kill('SIGKILL');
      }
      assert.equal(await w.exited, 'SIGKILL');
    }
    t.diagnostic(`kills: ${JSON.stringify(kills)}`);
    assert.ok(
      kills.every((k) => k.completed < TOTAL && k.active > 0),
      'every kill hit a process under load (jobs left, jobs active)',
    );

    const last = startWorker(script);
    try {
      await waitFor(async () => (await queue.getCompletedCount()) === TOTAL, {
        timeout: 40000,
        interval: 100,
        message: 'every job completed',
      });
    } finally {
      last.child.kill('SIGKILL');
      await last.exited;
    }

    assert.equal(await queue.getFailedCount(), 0, 'no job failed');
    assert.equal(await queue.getWaitingCount(), 0);
    assert.equal(await queue.getActiveCount(), 0);
    assert.equal(await queue.getDelayedCount(), 0);

    const runs = await redis.hgetall(runsKey);
    const starts = await redis.hgetall(`${runsKey}:started`);
    const jobs = await queue.getCompleted(0, -1);
    assert.equal(jobs.length, TOTAL);
    let rerun = 0;
    let restarted = 0;
    let stalled = 0;
    for (const job of jobs) {
      const n = Number(runs[job.id] ?? 0);
      assert.ok(n >= 1, `job ${job.id} ran (it completed)`);
      assert.ok(
        n <= 1 + job.stalledCounter,
        `job ${job.id} ran ${n} times but stalled only ${job.stalledCounter} times`,
      );
      const started = Number(starts[job.id] ?? 0);
      assert.ok(
        started >= n && started <= 1 + job.stalledCounter,
        `job ${job.id} started ${started} times, stalled ${job.stalledCounter} times`,
      );
      assert.deepEqual(job.returnvalue, { i: job.data.i });
      if (started > 1) restarted += 1;
      if (n > 1) rerun += 1;
      if (job.stalledCounter > 0) stalled += 1;
    }
    t.diagnostic(`jobs run to the end more than once: ${rerun}; started more than once: ${restarted}; stalled: ${stalled}`);
    assert.ok(stalled > 0, 'some jobs stalled and were recovered');

    const completedEvents = new Map();
    for (const [, fields] of await redis.xrange(`bull:${name}:events`, '-', '+')) {
      const f = {};
      for (let i = 0; i < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      if (f.event === 'completed') completedEvents.set(f.jobId, (completedEvents.get(f.jobId) ?? 0) + 1);
    }
    assert.equal(completedEvents.size, TOTAL, 'a completed event for every job');
    for (const [jobId, n] of completedEvents) assert.equal(n, 1, `job ${jobId} completed once`);
  } finally {
    await queue.close();
  }
});
