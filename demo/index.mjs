// bullmq-native demo: an Express producer and two workers in one process,
// written exactly as with BullMQ (only the import differs).
//
//   queue "demo"       routes under /       worked by a manual-processing loop
//   queue "demo-auto"  routes under /auto   worked by an automatic Worker
//                                          (concurrency 2, 3 attempts with
//                                          exponential backoff by default)
// Both route sets are the same:
//   POST /jobs                {name?, data?, delay?, priority?, attempts?, backoff?,
//                              deduplication?} -> 201 {id}
//   GET  /jobs/:id            state, progress, attempts, result or failure
//   GET  /jobs/:id/progress   Server-Sent Events: the job's state, then its live
//                             progress, then `completed` or `failed` (the end)
//   POST /jobs/:id/promote    runs a delayed job now
//   GET  /stats               job counts by state
//   POST /flows               {name?, data?, children: [{name, data?, queue?: 'manual'|'auto'}]}
//                             a parent on "demo-auto" that runs once its children (in both
//                             queues) are done and returns their results -> 201 {id, children}
//   queue "demo-reports"      a job scheduler adds a "report" job every REPORT_EVERY ms
//                             (default 1000), run by a third Worker
//   GET  /admin/queues        bull-board over the three queues
//
// `npm run demo` serves on PORT (default 3000) until Ctrl-C.
// `npm run demo -- --once` posts jobs to both queues over HTTP, follows one
// job's progress stream, waits until every job is processed, prints the
// results and the counts, and exits (0 when every job ended as expected).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';
import { FlowProducer, Job, Queue, QueueEvents, Worker } from 'bullmq-native';

const once = process.argv.includes('--once');
const redis = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const connection = {
  host: redis.hostname,
  port: Number(redis.port || 6379),
  ...(redis.password ? { password: decodeURIComponent(redis.password) } : {}),
};
// Fresh queues per --once run, so their counts are this run's alone.
const queueName = process.env.DEMO_QUEUE ?? (once ? `demo-${randomUUID().slice(0, 8)}` : 'demo');
const autoQueueName = `${queueName}-auto`;
const reportsQueueName = `${queueName}-reports`;
const reportEvery = Number(process.env.REPORT_EVERY ?? 1000);

const log = (who, message) => console.log(`[${who}] ${message}`);

// -------------------------------------------------------------------- work
// What the work is, whichever worker runs it: "resize" reports progress and
// returns a path, "render" reports progress after each of its data.steps
// steps, "flaky" fails until its attempt number reaches data.failUntil,
// "broken" always fails.
async function work(job) {
  switch (job.name) {
    case 'resize': {
      await job.updateProgress(50);
      const result = { path: `/images/${job.data.width ?? 100}w.png` };
      await job.updateProgress(100);
      return result;
    }
    case 'render': {
      const steps = job.data.steps ?? 4;
      for (let step = 1; step <= steps; step++) {
        await sleep(job.data.stepMs ?? 250); // one frame's worth of work
        await job.updateProgress(Math.round((step * 100) / steps));
      }
      return { frames: steps, url: `/videos/${job.id}.mp4` };
    }
    case 'flaky':
      if (job.attemptsMade + 1 < (job.data.failUntil ?? 2)) {
        throw new Error(`flaky failure on attempt ${job.attemptsMade + 1}`);
      }
      return { ok: true, attempt: job.attemptsMade + 1 };
    case 'broken':
      throw new Error('this job always fails');
    case 'collect': {
      // A flow's parent: runs once every child finished, with their results.
      const values = await job.getChildrenValues();
      return { children: Object.keys(values).length, results: Object.values(values) };
    }
    case 'report':
      return { iteration: job.opts.repeat?.count ?? null, at: new Date(job.timestamp).toISOString() };
    default:
      return { echoed: job.data };
  }
}

// ------------------------------------------------------------------ queues
const queue = new Queue(queueName, { connection });
// Jobs of the automatic worker's queue get 3 attempts, retried after 200 ms,
// then 400 ms (exponential backoff), unless the job says otherwise.
const autoQueue = new Queue(autoQueueName, {
  connection,
  defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 200 } },
});
// Flows: a parent job waiting for children, here across the two queues.
const flows = new FlowProducer({ connection });
// A queue of scheduled reports: its job scheduler adds one every reportEvery ms.
const reportsQueue = new Queue(reportsQueueName, { connection });
await reportsQueue.upsertJobScheduler('report', { every: reportEvery }, { name: 'report', data: {} });
// The events of each queue, whoever writes them: the progress route reads them.
const queueEvents = new QueueEvents(queueName, { connection });
const autoQueueEvents = new QueueEvents(autoQueueName, { connection });

// ---------------------------------------------------------------- producer
// The same routes for each queue.
function jobRoutes(queue, queueEvents) {
  const router = express.Router();

  router.post('/jobs', async (req, res) => {
    const { name = 'task', data = {}, ...options } = req.body ?? {};
    const { delay, priority, attempts, backoff, deduplication } = options;
    // Options left out keep the queue's defaults (an explicit undefined would not).
    const opts = Object.fromEntries(
      Object.entries({ delay, priority, attempts, backoff, deduplication }).filter(([, v]) => v !== undefined),
    );
    try {
      const job = await queue.add(name, data, opts);
      log('producer', `added job ${job.id} "${name}" to ${queue.name} ${JSON.stringify(opts)}`);
      res.status(201).json({ id: job.id, name });
    } catch (err) {
      // Invalid options (a negative delay, a float priority, ...) are the caller's fault.
      log('producer', `rejected "${name}": ${err.message}`);
      res.status(400).json({ error: err.message });
    }
  });

  router.get('/jobs/:id', async (req, res) => {
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

  // Live progress as Server-Sent Events: `state` (where the job is now), then
  // a `progress` event per update, then `completed` or `failed`, and the end.
  router.get('/jobs/:id/progress', async (req, res) => {
    const { id } = req.params;
    const send = (event, data) => {
      if (!res.writableEnded && !res.destroyed) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    // Listen first, then read the job: no update between the two is missed.
    // Updates that come while reading are sent after the `state` event.
    let early = [];
    const onProgress = ({ data }) => (early ? early.push(data) : send('progress', data));
    queueEvents.on(`progress:${id}`, onProgress);
    res.on('close', () => queueEvents.off(`progress:${id}`, onProgress));

    const state = await queue.getJobState(id);
    const job = await queue.getJob(id);
    if (!job || state === 'unknown') {
      queueEvents.off(`progress:${id}`, onProgress);
      res.status(404).json({ error: `job ${id} not found` });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    send('state', { state, progress: job.progress, attemptsMade: job.attemptsMade });
    for (const data of early) send('progress', data);
    early = undefined;
    // Settles on the job's `completed:{id}` or `failed:{id}` event, or at
    // once when the job had already finished.
    try {
      send('completed', { returnvalue: await job.waitUntilFinished(queueEvents) });
    } catch (err) {
      send('failed', { failedReason: err.message });
    }
    res.end();
  });

  router.post('/jobs/:id/promote', async (req, res) => {
    const job = await queue.getJob(req.params.id);
    if (!job) {
      res.status(404).json({ error: `job ${req.params.id} not found` });
      return;
    }
    try {
      await job.promote();
      log('producer', `promoted job ${job.id} of ${queue.name}`);
      res.json({ id: job.id, state: await job.getState() });
    } catch (err) {
      res.status(409).json({ error: err.message }); // e.g. not delayed
    }
  });

  router.get('/stats', async (_req, res) => {
    res.json(await queue.getJobCounts());
  });

  return router;
}

const app = express();
app.use(express.json());
// A flow: the parent on the automatic worker's queue, each child on the queue
// it names ("manual" or "auto"); the parent returns its children's results.
app.post('/flows', async (req, res) => {
  const { name = 'collect', data = {}, children = [] } = req.body ?? {};
  if (!Array.isArray(children) || children.length === 0) {
    res.status(400).json({ error: 'children must be a non-empty array' });
    return;
  }
  try {
    const tree = await flows.add({
      name,
      queueName: autoQueueName,
      data,
      children: children.map((c) => ({
        name: c.name,
        data: c.data ?? {},
        queueName: c.queue === 'manual' ? queueName : autoQueueName,
      })),
    });
    const ids = tree.children.map((c) => `${c.job.queueName}:${c.job.id}`);
    log('producer', `added flow ${tree.job.id} "${name}" to ${autoQueueName} with children ${ids.join(', ')}`);
    res.status(201).json({ id: tree.job.id, children: ids });
  } catch (err) {
    res.status(400).json({ error: err.message });
  }
});
// bull-board, the dashboard: every queue of the demo, its jobs and actions.
const board = new ExpressAdapter();
board.setBasePath('/admin/queues');
createBullBoard({
  queues: [queue, autoQueue, reportsQueue].map((q) => new BullMQAdapter(q)),
  serverAdapter: board,
});
app.use('/admin/queues', board.getRouter());
app.use(jobRoutes(queue, queueEvents));
app.use('/auto', jobRoutes(autoQueue, autoQueueEvents));
app.use((err, _req, res, _next) => {
  if (res.headersSent) res.end();
  else res.status(500).json({ error: err.message });
});

// ------------------------------------------------------ manual worker loop
// Manual processing, as in BullMQ's guide: take a job with a token, finish it
// with the same token; moveToCompleted hands back the next job already locked.
const worker = new Worker(queueName, null, { connection, drainDelay: 1 });
const token = randomUUID();
let stopping = false;

const attemptOf = (job) => `attempt ${job.attemptsMade + 1} of ${Math.max(job.opts.attempts ?? 1, 1)}`;

async function workerLoop() {
  let job;
  while (!stopping) {
    job ??= await worker.getNextJob(token);
    if (!job) continue;
    const attempt = attemptOf(job);
    log('manual-worker', `job ${job.id} "${job.name}" started (${attempt})`);
    let next = [];
    try {
      const result = await work(job);
      next = await job.moveToCompleted(result, token, true);
      log('manual-worker', `job ${job.id} completed: ${JSON.stringify(result)}`);
    } catch (err) {
      // With attempts left the job goes back to wait (or delayed, with backoff).
      await job.moveToFailed(err, token, false);
      log('manual-worker', `job ${job.id} failed (${attempt}): ${err.message}`);
    }
    const [nextData, nextId] = next;
    job = nextData ? Job.fromJSON(worker, nextData, nextId) : undefined;
  }
}

// -------------------------------------------------------- automatic worker
// The Worker fetches jobs itself and runs up to `concurrency` at once; a
// thrown error fails the attempt, and the queue's backoff decides the retry.
const autoWorker = new Worker(autoQueueName, (job) => work(job), { connection, concurrency: 2 });
autoWorker.on('active', (job) => log('auto-worker', `job ${job.id} "${job.name}" active (${attemptOf(job)})`));
autoWorker.on('progress', (job, progress) => log('auto-worker', `job ${job.id} progress ${JSON.stringify(progress)}`));
autoWorker.on('completed', (job, result) =>
  log('auto-worker', `job ${job.id} completed after ${job.attemptsMade} attempt(s): ${JSON.stringify(result)}`),
);
autoWorker.on('failed', (job, err) => {
  const attempts = Math.max(job.opts.attempts ?? 1, 1);
  const next = job.attemptsMade < attempts ? `retry in ${job.delay} ms` : 'no attempts left';
  log('auto-worker', `job ${job.id} failed on attempt ${job.attemptsMade} of ${attempts}: ${err.message}; ${next}`);
});
autoWorker.on('error', (err) => log('auto-worker', `error: ${err.message}`));

// ------------------------------------------------------ scheduled reports
const reportsWorker = new Worker(reportsQueueName, (job) => work(job), { connection });
reportsWorker.on('completed', (job, result) => log('reports-worker', `job ${job.id} "${job.name}" completed: ${JSON.stringify(result)}`));
reportsWorker.on('error', (err) => log('reports-worker', `error: ${err.message}`));

// -------------------------------------------------------------------- main
// Listening once the QueueEvents read: every event after this is seen.
await Promise.all([queueEvents.waitUntilReady(), autoQueueEvents.waitUntilReady()]);
const server = await new Promise((resolve, reject) => {
  const s = app.listen(once ? 0 : Number(process.env.PORT ?? 3000), '127.0.0.1', () => resolve(s));
  s.on('error', reject);
});
const base = `http://127.0.0.1:${server.address().port}`;
log('demo', `on ${redis.host}, HTTP on ${base}`);
log('demo', `  /jobs      -> queue "${queueName}", manual worker loop`);
log('demo', `  /auto/jobs -> queue "${autoQueueName}", automatic Worker (concurrency ${autoWorker.concurrency})`);
log('demo', `  /flows     -> a parent on "${autoQueueName}" with children on both queues`);
log('demo', `  scheduler "report" -> queue "${reportsQueueName}" every ${reportEvery} ms`);
log('demo', `  /admin/queues -> bull-board over the three queues`);
const loop = workerLoop();

async function shutdown() {
  stopping = true;
  await reportsQueue.removeJobScheduler('report');
  await Promise.all([worker.close(), autoWorker.close(), reportsWorker.close()]);
  await loop;
  server.closeAllConnections(); // progress streams still open
  await new Promise((resolve) => server.close(resolve));
  await Promise.all([queueEvents.close(), autoQueueEvents.close()]);
  await Promise.all([queue.close(), autoQueue.close(), reportsQueue.close(), flows.close()]);
}

// ------------------------------------------------------ --once: the client
async function request(method, path, body) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

async function post(path, body) {
  const { status, body: reply } = await request('POST', path, body);
  if (status !== 201) throw new Error(`POST ${path} answered ${status}: ${JSON.stringify(reply)}`);
  return reply.id;
}

/** The events of a Server-Sent Events stream, parsed, until the server ends it (30 s at most). */
async function* serverSentEvents(path) {
  const res = await fetch(base + path, { headers: { accept: 'text/event-stream' }, signal: AbortSignal.timeout(30000) });
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) data += line.slice('data: '.length);
      }
      yield { event, data: JSON.parse(data) };
    }
  }
}

/** Polls GET {prefix}/jobs/:id until each job completed or failed. */
async function waitForJobs(prefix, ids) {
  const deadline = Date.now() + 30000;
  const finished = new Map();
  while (finished.size < ids.length) {
    if (Date.now() > deadline) throw new Error(`jobs still unfinished: ${ids.filter((id) => !finished.has(id))}`);
    for (const id of ids) {
      if (finished.has(id)) continue;
      const { body } = await request('GET', `${prefix}/jobs/${id}`);
      if (body.state === 'completed' || body.state === 'failed') finished.set(id, body);
    }
    await sleep(50);
  }
  return [...finished].sort(([a], [b]) => Number(a) - Number(b));
}

/** Prints each finished job; false when one did not end as expected. */
function report(prefix, finished, expected) {
  let ok = true;
  for (const [id, job] of finished) {
    const outcome = job.state === 'completed' ? JSON.stringify(job.returnvalue) : job.failedReason;
    log('demo', `GET ${prefix}/jobs/${id} -> ${job.name} ${job.state} after ${job.attemptsMade} attempt(s), progress ${JSON.stringify(job.progress)}: ${outcome}`);
    const want = expected.get(id);
    if (job.state !== want.state || job.attemptsMade !== want.attempts || (job.state === 'completed' && job.returnvalue === null)) {
      ok = false;
      log('demo', `job ${id} should have ${want.state} after ${want.attempts} attempt(s)`);
    }
  }
  return ok;
}

/** Reads a job's progress stream to its end, printing each event. */
async function followProgress(path, onEvent = () => {}) {
  const events = [];
  for await (const e of serverSentEvents(path)) {
    log('demo', `SSE ${path}: ${e.event} ${JSON.stringify(e.data)}`);
    events.push(e);
    await onEvent(e);
  }
  return events;
}

async function runOnce() {
  let ok = true;

  // The manual worker loop's queue.
  const posts = [
    { name: 'resize', data: { width: 200 } },
    { name: 'resize', data: { width: 800 }, priority: 1 },
    { name: 'email', data: { to: 'ada@example.com' }, delay: 300 },
    { name: 'flaky', data: { failUntil: 2 }, attempts: 2 },
    { name: 'broken', data: {} },
  ];
  const expected = new Map();
  for (const body of posts) {
    const id = await post('/jobs', body);
    const failing = body.name === 'broken';
    expected.set(id, { state: failing ? 'failed' : 'completed', attempts: body.name === 'flaky' ? 2 : 1 });
  }
  const rejected = await request('POST', '/jobs', { name: 'bad', priority: 1.5 });
  log('demo', `POST /jobs with priority 1.5 -> ${rejected.status} ${JSON.stringify(rejected.body)}`);
  if (rejected.status !== 400) throw new Error('an invalid priority was accepted');

  // The automatic Worker's queue: the queue's defaults give 3 attempts with
  // exponential backoff. The render job waits (delayed) until its progress
  // stream is open, so the stream shows every step.
  const renderId = await post('/auto/jobs', { name: 'render', data: { steps: 4, stepMs: 50 }, delay: 60000 });
  const autoExpected = new Map([[renderId, { state: 'completed', attempts: 1 }]]);
  autoExpected.set(await post('/auto/jobs', { name: 'flaky', data: { failUntil: 3 } }), { state: 'completed', attempts: 3 });
  autoExpected.set(await post('/auto/jobs', { name: 'broken' }), { state: 'failed', attempts: 3 });

  // Deduplication: while the first job with id "sync-7" waits (delayed), a
  // second POST with the same deduplication id adds nothing and answers
  // with the first job's id.
  const sync = { name: 'sync', data: { user: 7 }, delay: 300, deduplication: { id: 'sync-7' } };
  const syncIds = [await post('/auto/jobs', sync), await post('/auto/jobs', sync)];
  log('demo', `POST /auto/jobs twice with deduplication id "sync-7" -> ids ${syncIds.join(', ')}`);
  if (syncIds[0] !== syncIds[1]) {
    ok = false;
    log('demo', 'the second POST with the same deduplication id should have answered the first job id');
  }
  autoExpected.set(syncIds[0], { state: 'completed', attempts: 1 });

  const renderEvents = await followProgress(`/auto/jobs/${renderId}/progress`, async (e) => {
    if (e.event === 'state' && e.data.state === 'delayed') {
      const promoted = await request('POST', `/auto/jobs/${renderId}/promote`);
      log('demo', `POST /auto/jobs/${renderId}/promote -> ${promoted.status} ${JSON.stringify(promoted.body)}`);
    }
  });
  const seen = renderEvents.filter((e) => e.event === 'progress').map((e) => e.data);
  const last = renderEvents.at(-1);
  log('demo', `progress of job ${renderId} over SSE: ${seen.join(', ')}; ended with ${last?.event}`);
  if (renderEvents[0]?.data.state !== 'delayed' || seen.join() !== '25,50,75,100' || last?.event !== 'completed') {
    ok = false;
    log('demo', `the progress stream of job ${renderId} should go delayed, 25, 50, 75, 100, completed`);
  }

  // A flow: a child on each queue; the parent runs when both are done.
  const flow = await request('POST', '/flows', {
    name: 'collect',
    children: [
      { name: 'resize', data: { width: 64 }, queue: 'manual' },
      { name: 'email', data: { to: 'flow@example.com' }, queue: 'auto' },
    ],
  });
  if (flow.status !== 201) throw new Error(`POST /flows answered ${flow.status}: ${JSON.stringify(flow.body)}`);
  log('demo', `POST /flows -> 201 ${JSON.stringify(flow.body)}`);
  const [[, parent]] = await waitForJobs('/auto', [flow.body.id]);
  log('demo', `flow ${flow.body.id}: parent ${parent.state}, children's results ${JSON.stringify(parent.returnvalue)}`);
  if (parent.state !== 'completed' || parent.returnvalue?.children !== 2) {
    ok = false;
    log('demo', `the flow's parent should complete with the results of its 2 children`);
  }

  // The job scheduler: at least two "report" iterations ran meanwhile.
  const deadline = Date.now() + 15000;
  let reports = [];
  while (Date.now() < deadline) {
    reports = await reportsQueue.getCompleted();
    if (reports.length >= 2) break;
    await sleep(100);
  }
  const [scheduler] = await reportsQueue.getJobSchedulers();
  log('demo', `scheduler "report" every ${scheduler?.every} ms: ${reports.length} iterations completed (${reports.map((j) => j.id).reverse().join(', ')}), next at ${new Date(scheduler?.next).toISOString()}`);
  if (reports.length < 2 || !reports.every((j) => j.repeatJobKey === 'report')) {
    ok = false;
    log('demo', 'the "report" scheduler should have produced two completed iterations');
  }

  ok = report('', await waitForJobs('', [...expected.keys()]), expected) && ok;
  ok = report('/auto', await waitForJobs('/auto', [...autoExpected.keys()]), autoExpected) && ok;

  // The progress stream of a job that already finished: its state, its end.
  const doneId = [...expected.keys()][0];
  const doneEvents = await followProgress(`/jobs/${doneId}/progress`);
  if (doneEvents.map((e) => e.event).join() !== 'state,completed' || doneEvents[0].data.state !== 'completed') {
    ok = false;
    log('demo', `the progress stream of finished job ${doneId} should be its state, then completed`);
  }

  for (const prefix of ['', '/auto']) {
    const stats = await request('GET', `${prefix}/stats`);
    log('demo', `GET ${prefix}/stats -> ${JSON.stringify(stats.body)}`);
  }

  // The dashboard: its page, and the queues with their counts as it lists them.
  const page = await fetch(`${base}/admin/queues`);
  const title = /<title>([^<]*)<\/title>/.exec(await page.text())?.[1];
  log('demo', `GET /admin/queues -> ${page.status} "${title}"`);
  const { body: listed } = await request('GET', '/admin/queues/api/queues');
  const boardCounts = Object.fromEntries(listed.queues.map((q) => [q.name, q.counts]));
  log('demo', `GET /admin/queues/api/queues -> ${JSON.stringify(boardCounts)}`);
  const autoStats = (await request('GET', '/auto/stats')).body;
  if (page.status !== 200 || title !== 'Bull Dashboard' || boardCounts[autoQueueName]?.failed !== autoStats.failed) {
    ok = false;
    log('demo', 'bull-board should serve its page and list the queues with their counts');
  }
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
  log('demo', `     curl ${base}/jobs/1   and   curl ${base}/stats`);
  log('demo', `     curl -X POST ${base}/auto/jobs -H 'content-type: application/json' -d '{"name":"render","data":{"steps":8}}'`);
  log('demo', `     curl -N ${base}/auto/jobs/1/progress   (Ctrl-C to stop)`);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, async () => {
      log('demo', 'stopping');
      await shutdown();
      process.exit(0);
    });
  }
}
