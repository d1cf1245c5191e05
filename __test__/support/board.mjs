// bull-board (@bull-board/api + @bull-board/express) mounted over the queues
// of one library, and one scenario driven through its HTTP API: every route
// the UI reads and every action it offers. The same scenario runs over
// bullmq-native and over the official bullmq, and the answers, normalized
// (queue names, flow ids, times, connection ids), must be the same.
import { once } from 'node:events';

import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import express from 'express';

import { waitFor } from './redis.mjs';

export const BASE_PATH = '/admin/queues';

/**
 * Starts an Express server with bull-board at BASE_PATH over `queues`;
 * resolves with its base URL and a close function.
 */
export async function startBoard(queues, uiConfig = {}) {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(BASE_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: { uiConfig },
  });
  const app = express();
  app.use(BASE_PATH, serverAdapter.getRouter());
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${server.address().port}${BASE_PATH}`;
  return {
    url,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** One request to the board's API; resolves with `[status, body]`. */
async function call(url, method, path, body) {
  const res = await fetch(`${url}${path}`, {
    method: method.toUpperCase(),
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = text;
  try {
    parsed = text === '' ? '' : JSON.parse(text);
  } catch {
    // an HTML or empty answer stays text
  }
  return [res.status, parsed];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A deep copy of `value` where what differs between two runs of the same
 * scenario is replaced: the run's queue names by their roles, flow node ids
 * (UUIDs) by their order of appearance, times by `<time>` (or `<ms>` for a
 * remaining duration), and connection details of workers and Redis.
 */
export function normalize(value, names) {
  const uuids = names.uuids ?? new Map();
  const text = (s) => {
    let out = s;
    for (const [real, role] of names) out = out.split(real).join(role);
    // A scheduler's iteration is named after the time it is due.
    out = out.replace(/^(repeat:[^:]+:)\d{13}$/, '$1<time>');
    out = out.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (u) => {
      if (!uuids.has(u)) uuids.set(u, `<uuid${uuids.size + 1}>`);
      return uuids.get(u);
    });
    return out;
  };
  const walk = (v, key) => {
    if (Array.isArray(v)) {
      const items = v.map((x) => walk(x, key));
      // A parent's pending children come from a Redis set, in no set order.
      if (key === 'children') items.sort((x, y) => String(x.name).localeCompare(String(y.name)));
      return items;
    }
    if (v !== null && typeof v === 'object') {
      const out = {};
      for (const k of Object.keys(v).sort()) out[text(k)] = walk(v[k], k);
      return out;
    }
    if (typeof v === 'number') {
      if (v > 1_500_000_000_000) return '<time>';
      // A delay the board sets from a wall-clock time is some ms short of it.
      if (key === 'delay' && v > 1000) return Math.round(v / 1000) * 1000;
      if (['uptime', 'age', 'activeRateLimitTtl', 'port'].includes(key)) return `<${key}>`;
      if (key === 'used' || key === 'peak' || key === 'total' || key === 'fragmentationRatio') return '<memory>';
      if (key === 'connected' || key === 'blocked') return '<clients>';
      return v;
    }
    if (typeof v === 'string') {
      if (key === 'processedBy' || key === 'addr' || key === 'token') return `<${key}>`;
      if (UUID.test(v)) return text(v);
      // Stack traces name files and lines of each library's own code.
      if (key === 'stacktrace' || (typeof key === 'number' && v.includes('\n    at '))) return v.split('\n')[0];
      return text(v);
    }
    return v;
  };
  return walk(value);
}

/**
 * Runs the scenario over `lib` (`{ Queue, Worker, FlowProducer }` of one
 * package): builds queues in every state, then reads every route and
 * performs every action through bull-board. Resolves with the steps, each
 * `[label, status, body]`, bodies normalized.
 */
export async function boardScenario(lib, { connection, label }) {
  const { Queue, Worker, FlowProducer } = lib;
  const suffix = `${label}-${Math.random().toString(36).slice(2, 8)}`;
  const mainName = `board-main-${suffix}`;
  const otherName = `board-other-${suffix}`;
  const names = new Map([
    [mainName, '<main>'],
    [otherName, '<other>'],
  ]);
  const closers = [];
  const steps = [];
  const main = new Queue(mainName, { connection, defaultJobOptions: { attempts: 1 } });
  const other = new Queue(otherName, { connection });
  closers.push(main, other);
  let board;
  try {
    await main.waitUntilReady();
    await other.waitUntilReady();

    // Finished jobs, with logs, progress and metrics, by a named worker.
    await main.add('ok', { n: 1 });
    await main.add('bad', { n: 2 });
    await main.add('bad', { n: 3 });
    const worker = new Worker(
      mainName,
      async (job) => {
        await job.log(`processing ${job.name}`);
        await job.updateProgress(50);
        if (job.name === 'bad') throw new Error(`boom ${job.data.n}`);
        return { done: job.data.n };
      },
      { connection, name: 'board-worker', metrics: { maxDataPoints: 60 } },
    );
    closers.push(worker);
    await waitFor(async () => {
      const c = await main.getJobCounts('completed', 'failed');
      return c.completed === 1 && c.failed === 2;
    }, { message: 'the first jobs to finish' });

    board = await startBoard([main, other]);
    const step = async (stepLabel, method, path, body) => {
      const [status, res] = await call(board.url, method, path, body);
      steps.push([stepLabel, status, normalize(res, names)]);
      return [status, res];
    };
    const q = encodeURIComponent;
    const list = (stepLabel, status = 'latest', page = 1) =>
      step(stepLabel, 'get', `/api/queues?activeQueue=${q(mainName)}&status=${status}&page=${page}&jobsPerPage=10`);

    // The worker's connection, while it runs.
    const [, workersBody] = await call(board.url, 'get', `/api/queues/${q(mainName)}/workers`);
    // Redis' client ids differ between runs.
    const workers = (workersBody.workers ?? []).map((w) => ({ ...w, id: typeof w.id }));
    steps.push(['workers', 200, normalize({ ...workersBody, workers }, names)]);
    await worker.close();

    // Jobs in the other states.
    await main.add('later', { n: 4 }, { delay: 3_600_000 });
    await main.add('later-old', { n: 5 }, { delay: 3_600_000, timestamp: Date.now() - 60_000 });
    await main.add('urgent', { n: 6 }, { priority: 5 });
    await main.add('plain', { n: 7 });
    const flows = new FlowProducer({ connection });
    closers.push(flows);
    const flow = await flows.add({
      name: 'parent',
      queueName: mainName,
      data: { step: 'parent' },
      children: [
        { name: 'child-a', queueName: otherName, data: { step: 'a' } },
        { name: 'child-b', queueName: otherName, data: { step: 'b' } },
      ],
    });
    // Flow ids are random: named by their place in the flow.
    names.uuids = new Map([
      [flow.job.id, '<parent id>'],
      [flow.children[0].job.id, '<child-a id>'],
      [flow.children[1].job.id, '<child-b id>'],
    ]);
    await main.upsertJobScheduler('hourly', { every: 3_600_000 }, { name: 'tick', data: { tick: true } });

    // Reads.
    await step('redis stats', 'get', '/api/redis/stats');
    await list('queues: latest');
    for (const status of ['active', 'waiting', 'waiting-children', 'prioritized', 'completed', 'failed', 'delayed', 'paused']) {
      await list(`queues: ${status}`, status);
    }
    await step('job 1 (completed)', 'get', `/api/queues/${q(mainName)}/1`);
    await step('job 2 (failed)', 'get', `/api/queues/${q(mainName)}/2`);
    await step('job 4 (delayed)', 'get', `/api/queues/${q(mainName)}/4`);
    await step('job missing', 'get', `/api/queues/${q(mainName)}/999`);
    await step('logs of job 1', 'get', `/api/queues/${q(mainName)}/1/logs`);
    await step('metrics', 'get', `/api/queues/${q(mainName)}/metrics`);
    await step('default job options', 'get', `/api/queues/${q(mainName)}/default-job-options`);
    await step('rate limit', 'get', `/api/queues/${q(mainName)}/rate-limit`);
    await step('job schedulers', 'get', '/api/job-schedulers');
    await step('job schedulers of main', 'get', `/api/job-schedulers?queueName=${q(mainName)}`);
    const parentId = flow.job.id;
    const childId = flow.children[0].job.id;
    await step('flow of the parent', 'get', `/api/queues/${q(mainName)}/${parentId}/flow?depth=3&maxChildren=20`);
    await step('flow of a child', 'get', `/api/queues/${q(otherName)}/${childId}/flow?depth=3&maxChildren=20`);
    await step('flow of the child alone', 'get', `/api/queues/${q(otherName)}/${childId}/flow?root=node&depth=3&maxChildren=20`);
    await step('flow of a plain job', 'get', `/api/queues/${q(mainName)}/1/flow?depth=3&maxChildren=20`);
    await step('the parent', 'get', `/api/queues/${q(mainName)}/${parentId}`);

    // Actions, each followed by what the board then shows.
    await step('retry job 2', 'put', `/api/queues/${q(mainName)}/2/retry`);
    await step('retry job 1 (completed)', 'put', `/api/queues/${q(mainName)}/1/retry`);
    await step('retry a waiting job', 'put', `/api/queues/${q(mainName)}/7/retry`);
    await list('after retrying one', 'waiting');
    await step('retry all failed', 'put', `/api/queues/${q(mainName)}/retry/failed`);
    await step('retry all delayed (not retriable)', 'put', `/api/queues/${q(mainName)}/retry/delayed`);
    await list('after retrying all', 'waiting');
    await step('promote job 4', 'put', `/api/queues/${q(mainName)}/4/promote`);
    await list('after promoting one', 'delayed');
    await step('clean delayed', 'put', `/api/queues/${q(mainName)}/clean/delayed`);
    await list('after cleaning delayed', 'delayed');
    await step('clean completed (none older than the grace time)', 'put', `/api/queues/${q(mainName)}/clean/completed`);
    await step('change priority of job 6', 'patch', `/api/queues/${q(mainName)}/6/priority`, { priority: 9 });
    await step('job 6 after the change', 'get', `/api/queues/${q(mainName)}/6`);
    await step('update data of job 7', 'patch', `/api/queues/${q(mainName)}/7/update-data`, { jobData: { n: 70, edited: true } });
    await step('job 7 after the update', 'get', `/api/queues/${q(mainName)}/7`);
    await step('remove job 1', 'put', `/api/queues/${q(mainName)}/1/clean`);
    await step('job 1 after removal', 'get', `/api/queues/${q(mainName)}/1`);
    const [, added] = await step('add a job', 'post', `/api/queues/${q(mainName)}/add`, {
      name: 'from-board',
      data: { via: 'board' },
      options: { delay: 60_000 },
    });
    await step('change delay of the added job', 'patch', `/api/queues/${q(mainName)}/${added.job?.id}/delay`, { runAt: Date.now() + 120_000 });
    await list('after adding', 'delayed');
    await step('promote all', 'put', `/api/queues/${q(mainName)}/promote`);
    await list('after promoting all', 'waiting');
    await step('pause', 'put', `/api/queues/${q(mainName)}/pause`);
    await list('paused');
    await step('resume', 'put', `/api/queues/${q(mainName)}/resume`);
    await step('pause all', 'put', '/api/queues/pause');
    await step('queues after pause all', 'get', '/api/queues');
    await step('resume all', 'put', '/api/queues/resume');
    await step('set global concurrency', 'put', `/api/queues/${q(mainName)}/concurrency`, { concurrency: 3 });
    await step('set rate limit', 'put', `/api/queues/${q(mainName)}/rate-limit`, { max: 5, duration: 1000 });
    await step('rate limit after setting', 'get', `/api/queues/${q(mainName)}/rate-limit`);
    await step('release rate limit', 'put', `/api/queues/${q(mainName)}/rate-limit/release`);
    await list('after concurrency and rate limit');
    await step('update job scheduler', 'patch', `/api/queues/${q(mainName)}/job-schedulers/hourly`, { every: 7_200_000 });
    await step('run job scheduler', 'put', `/api/queues/${q(mainName)}/job-schedulers/hourly/run`);
    await step('job schedulers after the update', 'get', `/api/job-schedulers?queueName=${q(mainName)}`);
    await step('remove job scheduler', 'put', `/api/queues/${q(mainName)}/job-schedulers/hourly/remove`);
    await step('remove a missing job scheduler', 'put', `/api/queues/${q(mainName)}/job-schedulers/hourly/remove`);
    await step('remove unprocessed children', 'put', `/api/queues/${q(mainName)}/${parentId}/remove-unprocessed-children`);
    await step('flow after removing children', 'get', `/api/queues/${q(mainName)}/${parentId}/flow?depth=3&maxChildren=20`);
    await step('empty', 'put', `/api/queues/${q(mainName)}/empty`);
    await list('after emptying');
    await step('obliterate a running queue', 'put', `/api/queues/${q(otherName)}/obliterate`, { force: true });
    await step('pause the other queue', 'put', `/api/queues/${q(otherName)}/pause`);
    await step('obliterate', 'put', `/api/queues/${q(otherName)}/obliterate`, { force: true });
    await step('queues at the end', 'get', '/api/queues');
    await step('the board page', 'get', '/');
    return steps;
  } finally {
    if (board) await board.close();
    await main.obliterate({ force: true }).catch(() => undefined);
    for (const c of closers.reverse()) await c.close();
  }
}
