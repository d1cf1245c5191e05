// bullmq-native demo: an Express producer and a manual-processing worker loop
// in one process, written exactly as with BullMQ (only the import differs).
//
//   POST /jobs      {name?, data?, delay?, priority?, attempts?, backoff?} -> 201 {id}
//   GET  /jobs/:id  state, progress, attempts, result or failure
//   GET  /stats     job counts by state
//
// `npm run demo` serves on PORT (default 3000) until Ctrl-C.
// `npm run demo -- --once` posts a few jobs to itself over HTTP, waits until
// they are processed, prints the results and the counts, and exits (0 when
// every job ended as expected).
import { randomUUID } from 'node:crypto';

import express from 'express';
import { Job, Queue, Worker } from 'bullmq-native';

const once = process.argv.includes('--once');
const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = {
  host: redis.hostname,
  port: Number(redis.port || 6379),
  ...(redis.password ? { password: decodeURIComponent(redis.password) } : {}),
};
// A fresh queue per --once run, so its counts are this run's alone.
const queueName = process.env.DEMO_QUEUE ?? (once ? `demo-${randomUUID().slice(0, 8)}` : 'demo');

const log = (who, message) => console.log(`[${who}] ${message}`);

// ---------------------------------------------------------------- producer
const queue = new Queue(queueName, { connection });

const app = express();
app.use(express.json());

app.post('/jobs', async (req, res) => {
  const { name = 'task', data = {}, delay, priority, attempts, backoff } = req.body ?? {};
  try {
    const job = await queue.add(name, data, { delay, priority, attempts, backoff });
    log('producer', `added job ${job.id} "${name}" ${JSON.stringify({ delay, priority, attempts })}`);
    res.status(201).json({ id: job.id, name });
  } catch (err) {
    // Invalid options (a negative delay, a float priority, ...) are the caller's fault.
    log('producer', `rejected "${name}": ${err.message}`);
    res.status(400).json({ error: err.message });
  }
});

app.get('/jobs/:id', async (req, res) => {
  // The state first: the job read after it is at least as recent, so a
  // "completed" job always comes with its result.
  const state = await queue.getJobState(req.params.id);
  const job = await queue.getJob(req.params.id);
  if (!job) {
    res.status(404).json({ error: `job ${req.params.id} not found` });
    return;
  }
  res.json({
    id: job.id,
    name: job.name,
    state,
    progress: job.progress,
    attemptsMade: job.attemptsMade,
    returnvalue: job.returnvalue ?? null,
    failedReason: job.failedReason ?? null,
  });
});

app.get('/stats', async (_req, res) => {
  res.json(await queue.getJobCounts());
});

app.use((err, _req, res, _next) => {
  res.status(500).json({ error: err.message });
});

// ------------------------------------------------------------------ worker
// What the work is: "resize" reports progress and returns a path, "flaky"
// fails until its attempt number reaches data.failUntil, "broken" always fails.
async function work(job) {
  switch (job.name) {
    case 'resize': {
      await job.updateProgress(50);
      const result = { path: `/images/${job.data.width ?? 100}w.png` };
      await job.updateProgress(100);
      return result;
    }
    case 'flaky':
      if (job.attemptsMade + 1 < (job.data.failUntil ?? 2)) {
        throw new Error(`flaky failure on attempt ${job.attemptsMade + 1}`);
      }
      return { ok: true, attempt: job.attemptsMade + 1 };
    case 'broken':
      throw new Error('this job always fails');
    default:
      return { echoed: job.data };
  }
}

// Manual processing, as in BullMQ's guide: take a job with a token, finish it
// with the same token; moveToCompleted hands back the next job already locked.
const worker = new Worker(queueName, null, { connection, drainDelay: 1 });
const token = randomUUID();
let stopping = false;

async function workerLoop() {
  let job;
  while (!stopping) {
    job ??= await worker.getNextJob(token);
    if (!job) continue;
    const attempt = `attempt ${job.attemptsMade + 1} of ${Math.max(job.opts.attempts ?? 1, 1)}`;
    log('worker', `job ${job.id} "${job.name}" started (${attempt})`);
    let next = [];
    try {
      const result = await work(job);
      next = await job.moveToCompleted(result, token, true);
      log('worker', `job ${job.id} completed: ${JSON.stringify(result)}`);
    } catch (err) {
      // With attempts left the job goes back to wait (or delayed, with backoff).
      await job.moveToFailed(err, token, false);
      log('worker', `job ${job.id} failed (${attempt}): ${err.message}`);
    }
    const [nextData, nextId] = next;
    job = nextData ? Job.fromJSON(worker, nextData, nextId) : undefined;
  }
}

// -------------------------------------------------------------------- main
const server = await new Promise((resolve, reject) => {
  const s = app.listen(once ? 0 : Number(process.env.PORT ?? 3000), '127.0.0.1', () => resolve(s));
  s.on('error', reject);
});
const base = `http://127.0.0.1:${server.address().port}`;
log('demo', `queue "${queueName}" on ${redis.host}, HTTP on ${base}`);
const loop = workerLoop();

async function shutdown() {
  stopping = true;
  await worker.close();
  await loop;
  await new Promise((resolve) => server.close(resolve));
  await queue.close();
}

async function request(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

async function runOnce() {
  const posts = [
    { name: 'resize', data: { width: 200 } },
    { name: 'resize', data: { width: 800 }, priority: 1 },
    { name: 'email', data: { to: 'ada@example.com' }, delay: 300 },
    { name: 'flaky', data: { failUntil: 2 }, attempts: 2 },
    { name: 'broken', data: {} },
  ];
  const expected = new Map();
  for (const body of posts) {
    const { status, body: reply } = await request('POST', '/jobs', body);
    if (status !== 201) throw new Error(`POST /jobs answered ${status}: ${JSON.stringify(reply)}`);
    expected.set(reply.id, body.name === 'broken' ? 'failed' : 'completed');
  }
  const rejected = await request('POST', '/jobs', { name: 'bad', priority: 1.5 });
  log('demo', `POST /jobs with priority 1.5 -> ${rejected.status} ${JSON.stringify(rejected.body)}`);
  if (rejected.status !== 400) throw new Error('an invalid priority was accepted');

  const deadline = Date.now() + 30000;
  const finished = new Map();
  while (finished.size < expected.size) {
    if (Date.now() > deadline) throw new Error(`jobs still unfinished: ${[...expected.keys()].filter((id) => !finished.has(id))}`);
    for (const id of expected.keys()) {
      if (finished.has(id)) continue;
      const { body } = await request('GET', `/jobs/${id}`);
      if (body.state === 'completed' || body.state === 'failed') finished.set(id, body);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let ok = true;
  for (const [id, job] of [...finished].sort(([a], [b]) => Number(a) - Number(b))) {
    const outcome = job.state === 'completed' ? JSON.stringify(job.returnvalue) : job.failedReason;
    log('demo', `GET /jobs/${id} -> ${job.name} ${job.state} after ${job.attemptsMade} attempt(s), progress ${JSON.stringify(job.progress)}: ${outcome}`);
    if (job.state !== expected.get(id) || (job.state === 'completed' && job.returnvalue === null)) {
      ok = false;
      log('demo', `job ${id} should have ${expected.get(id)} with a ${job.state === 'completed' ? 'result' : 'reason'}`);
    }
  }
  const stats = await request('GET', '/stats');
  log('demo', `GET /stats -> ${JSON.stringify(stats.body)}`);
  return ok;
}

if (once) {
  let code = 0;
  try {
    code = (await runOnce()) ? 0 : 1;
  } catch (err) {
    console.error(`[demo] ${err.stack ?? err}`);
    code = 1;
  }
  await shutdown();
  log('demo', code === 0 ? 'done' : 'failed');
  process.exit(code);
} else {
  log('demo', `try: curl -X POST ${base}/jobs -H 'content-type: application/json' -d '{"name":"resize","data":{"width":300},"delay":1000}'`);
  log('demo', `     curl ${base}/jobs/1   and   curl ${base}/stats   (Ctrl-C to stop)`);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      log('demo', 'stopping');
      await shutdown();
      process.exit(0);
    });
  }
}
