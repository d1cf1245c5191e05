// One measured run: a fresh Node process that loads ONE implementation (ours
// or the official bullmq), runs one scenario through the public API with the
// defaults a user would have, and prints one `RESULT {json}` line.
//
// Usage (done by bench/index.mjs): node bench/run.mjs '<json spec>'
//   spec = { impl, scenario, url, prefix, queue, params }
//   impl: 'ours' | 'bullmq' (defaults), 'ours-fast' (ours, jobs added with
//   removeOnComplete: true) or 'bee' (bee-queue with removeOnSuccess: true):
//   the last two are each side's fast path, compared with each other.
//
// Client CPU is process.cpuUsage() (all threads of this process, so our tokio
// threads count), Redis CPU is the INFO cpu delta (used_cpu_user +
// used_cpu_sys) around the timed part, peak RSS is resourceUsage().maxRSS.
import { performance } from 'node:perf_hooks';

import { Resp } from './resp.mjs';

const spec = JSON.parse(process.argv[2]);
const { impl, scenario, url, prefix, queue: queueName, params } = spec;
const u = new URL(url);
const connection = { host: u.hostname, port: Number(u.port) };
if (u.password) connection.password = decodeURIComponent(u.password);
if (u.username) connection.username = decodeURIComponent(u.username);
const db = u.pathname.replace('/', '');
if (db) connection.db = Number(db);

const isBee = impl === 'bee';
const lib = impl === 'bullmq' ? await import('bullmq') : isBee ? null : await import('bullmq-native');
const { Queue, Worker } = isBee ? await beeAdapter() : lib;

/**
 * bee-queue behind the few members of BullMQ's API the scenarios use:
 * a producer Queue (add, addBulk) and a Worker (run, 'completed'). Producers
 * neither process nor subscribe; everything removes a job once it succeeded
 * (bee-queue's fast path, as `removeOnComplete: true` is ours).
 */
async function beeAdapter() {
  const { default: Bee } = await import('bee-queue');
  const { EventEmitter } = await import('node:events');
  const redis = { host: connection.host, port: connection.port, password: connection.password, db: connection.db };
  const settings = (extra) => ({ redis, prefix, removeOnSuccess: true, ...extra });
  class BeeProducer {
    constructor(name) {
      this.bee = new Bee(name, settings({ isWorker: false, getEvents: false }));
    }
    waitUntilReady() {
      return this.bee.ready();
    }
    add(_name, data) {
      return this.bee.createJob(data).save();
    }
    async addBulk(jobs) {
      const errors = await this.bee.saveAll(jobs.map((j) => this.bee.createJob(j.data)));
      if (errors.size > 0) throw [...errors.values()][0];
    }
    close() {
      return this.bee.close();
    }
  }
  class BeeWorker extends EventEmitter {
    constructor(name, processor, opts) {
      super();
      this.processor = processor;
      this.concurrency = opts.concurrency ?? 1;
      this.bee = new Bee(name, settings({ isWorker: true, getEvents: false }));
      this.bee.on('succeeded', (job, result) => this.emit('completed', job, result));
      this.bee.on('error', (err) => this.emit('error', err));
      if (opts.autorun !== false) void this.waitUntilReady().then(() => this.run());
    }
    waitUntilReady() {
      return this.bee.ready();
    }
    run() {
      this.bee.process(this.concurrency, (job) => this.processor(job));
    }
    close() {
      return this.bee.close();
    }
  }
  return { Queue: BeeProducer, Worker: BeeWorker };
}

/** A small, typical payload. */
const payload = (i) => ({ index: i, email: `user${i}@example.com`, template: 'welcome', locale: 'en' });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class NotImplemented extends Error {}

/** A no-op Worker through BullMQ's API; a constructor that refuses a processor means "not implemented". */
function newWorker(name, processor, opts) {
  try {
    return new Worker(name, processor, { connection, prefix, ...opts });
  } catch (err) {
    throw new NotImplemented(`Worker with a processor throws: ${err.message}`);
  }
}

/** Script commands: their time includes the commands they run. */
const SCRIPT_COMMANDS = new Set(['eval', 'evalsha', 'eval_ro', 'evalsha_ro', 'fcall', 'fcall_ro']);
/** The bench's own commands, left out of the split. */
const OWN_COMMANDS = new Set(['info']);

/**
 * Where Redis' time per job went, from two INFO commandstats readings: in
 * script calls, and in the data commands (those run by scripts included).
 * Script time minus command time is what running the scripts cost on top of
 * their commands (Lua, argument and reply conversion), when all commands ran
 * inside scripts.
 */
function commandSplit(before, after, jobs) {
  let script = 0;
  let commands = 0;
  let calls = 0;
  for (const [name, { calls: c1, usec: u1 }] of Object.entries(after)) {
    if (OWN_COMMANDS.has(name)) continue;
    const usec = u1 - (before[name]?.usec ?? 0);
    const n = c1 - (before[name]?.calls ?? 0);
    if (SCRIPT_COMMANDS.has(name)) script += usec;
    else {
      commands += usec;
      calls += n;
    }
  }
  return { redisScriptUsPerJob: script / jobs, redisCommandUsPerJob: commands / jobs, redisCommandsPerJob: calls / jobs };
}

/** Runs `fn` as the timed part; Redis and client CPU are measured around it. */
async function measure(redis, jobs, fn) {
  const s0 = await redis.commandStats();
  const r0 = await redis.cpuSeconds();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const extra = await fn();
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  const r1 = await redis.cpuSeconds();
  const s1 = await redis.commandStats();
  const seconds = (t1 - t0) / 1000;
  return {
    jobs,
    seconds,
    opsPerSec: jobs / seconds,
    redisUsPerJob: ((r1 - r0) * 1e6) / jobs,
    clientUsPerJob: (c1.user + c1.system) / jobs,
    ...commandSplit(s0, s1, jobs),
    ...extra,
  };
}

function newQueue(name) {
  if (isBee) return new Queue(name);
  const defaultJobOptions = impl === 'ours-fast' ? { removeOnComplete: true } : undefined;
  return new Queue(name, { connection, prefix, defaultJobOptions });
}

async function addBulkJobs(queue, from, count, batch) {
  for (let start = from; start < from + count; start += batch) {
    const n = Math.min(batch, from + count - start);
    const jobs = new Array(n);
    for (let k = 0; k < n; k++) jobs[k] = { name: 'job', data: payload(start + k) };
    await queue.addBulk(jobs);
  }
}

async function addJobs(queue, from, count, inFlight) {
  let next = from;
  const end = from + count;
  const lane = async () => {
    while (next < end) {
      const i = next++;
      await queue.add('job', payload(i));
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
}

/** addBulk / add sequential / add with N in flight. */
async function runAdd(redis) {
  const queue = newQueue(queueName);
  await queue.waitUntilReady();
  const { mode, jobs, batch = 1000, inFlight = 1, warm } = params;
  const go = (from, count) =>
    mode === 'bulk' ? addBulkJobs(queue, from, count, batch) : addJobs(queue, from, count, inFlight);
  await go(0, warm);
  const result = await measure(redis, jobs, () => go(warm, jobs));
  await queue.close();
  return result;
}

/** Untimed: fills queues (each { queue, jobs }) with addBulk batches of 1,000. */
async function runFill() {
  for (const { queue: name, jobs } of params.queues) {
    const queue = newQueue(name);
    await addBulkJobs(queue, 0, jobs, 1000);
    await queue.close();
  }
  return {};
}

/** Closes workers, giving up after a while (a broken worker must not hang the run). */
async function closeAll(closables) {
  await Promise.race([Promise.all(closables.map((c) => c.close().catch(() => undefined))), sleep(10000)]);
}

/**
 * Starts `instances` no-op workers on `name`; `go()` resolves once `jobs`
 * 'completed' events were seen. Uses autorun: false + run() when the class has
 * run() (BullMQ's API), so connecting is not part of the timed part.
 */
async function startWorkers(name, jobs, { concurrency, instances }) {
  const manual = typeof Worker.prototype.run === 'function';
  const state = { completed: 0, processed: 0, error: undefined };
  let done;
  const finished = new Promise((resolve) => {
    done = resolve;
  });
  const workers = [];
  for (let i = 0; i < instances; i++) {
    let w;
    try {
      w = newWorker(
        name,
        async () => {
          state.processed++;
        },
        { concurrency, ...(manual ? { autorun: false } : {}) },
      );
    } catch (err) {
      await closeAll(workers);
      throw err;
    }
    w.on('completed', () => {
      if (++state.completed === jobs) done();
    });
    w.on('error', (err) => {
      state.error = err;
    });
    workers.push(w);
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  return {
    state,
    workers,
    go() {
      if (manual) {
        for (const w of workers) {
          Promise.resolve()
            .then(() => w.run())
            .catch((err) => {
              state.error = err;
            });
        }
      }
      return finished;
    },
  };
}

/** Waits for `promise`, or fails as "not implemented" after `ms`. */
async function probe(promise, ms, state) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const r = await Promise.race([promise, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') {
    const why =
      state.processed === 0
        ? 'the processor was never called'
        : `the processor ran ${state.processed} times but only ${state.completed} 'completed' events came`;
    throw new NotImplemented(`${why}${state.error ? ` (worker error: ${state.error.message})` : ''}`);
  }
}

/**
 * No-op workers over a pre-filled queue (filled by a separate process, so its
 * memory is not counted here); first an untimed warm-up on its own queue that
 * also tells whether the Worker processes at all.
 */
async function runWorker(redis) {
  const { jobs, warm, concurrency, instances, sampleRss } = params;
  const w0 = await startWorkers(`${queueName}-warm`, warm, { concurrency, instances });
  try {
    await probe(w0.go(), 15000, w0.state);
  } finally {
    await closeAll(w0.workers);
  }
  const ws = await startWorkers(queueName, jobs, { concurrency, instances });
  // RSS once the worker runs at full concurrency (20-40% of the jobs done)
  // and over the last 20%: memory that grows with the jobs processed shows
  // as growth from the one to the other (the first jobs are the start-up).
  let rssEarly = 0;
  let rssLate = 0;
  let sampler;
  if (sampleRss) {
    sampler = setInterval(() => {
      const done = ws.state.completed;
      if (done >= jobs * 0.2 && done < jobs * 0.4) rssEarly = Math.max(rssEarly, process.memoryUsage.rss());
      else if (done >= jobs * 0.8) rssLate = Math.max(rssLate, process.memoryUsage.rss());
    }, 50);
  }
  const result = await measure(redis, jobs, async () => {
    await probe(ws.go(), 300000, ws.state);
  });
  if (sampler) clearInterval(sampler);
  await closeAll(ws.workers);
  if (sampleRss) {
    result.rssEarlyMB = rssEarly / 1048576;
    result.rssLateMB = rssLate / 1048576;
  }
  return result;
}

/**
 * Pick-up latency on an idle worker: one job at a time, from just before
 * queue.add() to the processor being called, with a pause between jobs so
 * the worker is back to waiting on Redis.
 */
async function runLatency(redis) {
  const { samples, warm } = params;
  const queue = newQueue(queueName);
  await queue.waitUntilReady();
  let onCall;
  let onCompleted;
  const state = { completed: 0, processed: 0, error: undefined };
  let worker;
  try {
    worker = newWorker(
      queueName,
      async () => {
        state.processed++;
        onCall?.(performance.now());
      },
      {},
    );
  } catch (err) {
    await queue.close();
    throw err;
  }
  worker.on('completed', () => {
    state.completed++;
    onCompleted?.();
  });
  worker.on('error', (err) => {
    state.error = err;
  });
  await worker.waitUntilReady();
  await sleep(200);

  const one = async (i, timeoutMs) => {
    const called = new Promise((resolve) => {
      onCall = resolve;
    });
    const completed = new Promise((resolve) => {
      onCompleted = resolve;
    });
    const t0 = performance.now();
    const added = queue.add('latency', payload(i));
    added.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    await probe(called, timeoutMs, state);
    const t1 = await called;
    await added;
    await probe(completed, timeoutMs, state);
    return t1 - t0;
  };
  try {
    for (let i = 0; i < warm; i++) {
      await one(i, i === 0 ? 15000 : 10000);
      await sleep(5 + Math.random() * 10);
    }
    const latencies = [];
    const result = await measure(redis, samples, async () => {
      for (let i = 0; i < samples; i++) {
        await sleep(5 + Math.random() * 20);
        latencies.push(await one(warm + i, 10000));
      }
      return {};
    });
    latencies.sort((a, b) => a - b);
    const pct = (p) => latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)];
    result.p50Ms = pct(50);
    result.p99Ms = pct(99);
    delete result.opsPerSec;
    return result;
  } finally {
    await closeAll([worker, queue]);
  }
}

/**
 * Many queues in one process: `queues` queues, each with a Queue and an
 * automatic Worker, all idle. Reports the connections they opened (CLIENT
 * LIST, this probe's own excluded) and the CPU Redis and this process spend
 * per second while nothing happens (the blocking waits and keep-alives),
 * beside what Redis spends idling with none of them connected.
 */
async function runIdle(redis) {
  const clients = async () => (await redis.command('CLIENT', 'LIST')).trim().split('\n').length;
  const before = await clients();
  // What Redis spends idling on its own (its timers), for the part the queues add.
  const a0 = await redis.cpuSeconds();
  await sleep(params.idleMs);
  const aloneRedisCpuPct = ((await redis.cpuSeconds()) - a0) * 1000 * 100 / params.idleMs;
  const objects = [];
  for (let i = 0; i < params.queues; i++) {
    const name = `${queueName}-${i}`;
    objects.push(new Queue(name, { connection, prefix }));
    objects.push(newWorker(name, async () => undefined, { concurrency: 1 }));
  }
  try {
    await Promise.all(objects.map((o) => o.waitUntilReady()));
    await sleep(1000);
    const connections = (await clients()) - before;
    const r0 = await redis.cpuSeconds();
    const c0 = process.cpuUsage();
    await sleep(params.idleMs);
    const c1 = process.cpuUsage(c0);
    const r1 = await redis.cpuSeconds();
    return {
      connections,
      idleRedisCpuPct: ((r1 - r0) * 1000 * 100) / params.idleMs,
      aloneRedisCpuPct,
      addedRedisCpuPct: ((r1 - r0) * 1000 * 100) / params.idleMs - aloneRedisCpuPct,
      idleClientCpuPct: ((c1.user + c1.system) / 1000 * 100) / params.idleMs,
    };
  } finally {
    await closeAll(objects);
  }
}

const scenarios = { add: runAdd, fill: runFill, worker: runWorker, latency: runLatency, idle: runIdle };

let out;
let redis;
try {
  redis = await Resp.connect(url);
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  out = await run(redis);
  out.peakRssMB = process.resourceUsage().maxRSS / 1024;
} catch (err) {
  out = err instanceof NotImplemented ? { na: err.message } : { error: err.stack || String(err) };
}
redis?.close();
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`, () => process.exit(0));
