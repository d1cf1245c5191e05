// The README's demo: `node demo/index.mjs --once` posts jobs to its own
// Express server, for the manual worker loop (/jobs) and for the automatic
// Worker (/auto/jobs), follows a job's progress stream (Server-Sent Events
// fed by QueueEvents), prints each job and the counts, reads bull-board's
// page and queue list at /admin/queues, and exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { redisUrl } from './support/redis.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

function runDemo(env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['demo/index.mjs', '--once'], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    // The demo gives up by itself after 30 s; this only keeps a hung demo
    // from hiding its output behind the test timeout.
    const timer = setTimeout(() => child.kill('SIGKILL'), 90000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Ids of the jobs the producer added, by name, for the queue whose name matches `queue`. */
function addedJobs(lines, queue) {
  const ids = {};
  for (const l of lines) {
    const m = /^\[producer\] added job (\d+) "(\w+)" to (\S+) /.exec(l);
    if (m && queue.test(m[3])) (ids[m[2]] ??= []).push(m[1]);
  }
  return ids;
}

/** The events printed for a progress stream, in order: [event, data]. */
function sseEvents(lines, path) {
  const prefix = `[demo] SSE ${path}: `;
  return lines
    .filter((l) => l.startsWith(prefix))
    .map((l) => {
      const rest = l.slice(prefix.length);
      const space = rest.indexOf(' ');
      return [rest.slice(0, space), JSON.parse(rest.slice(space + 1))];
    });
}

function counts(lines, path) {
  const line = lines.find((l) => l.startsWith(`[demo] GET ${path} -> `));
  assert.ok(line, `no ${path} line`);
  const c = JSON.parse(line.slice(`[demo] GET ${path} -> `.length));
  for (const state of ['waiting', 'active', 'delayed', 'prioritized']) assert.equal(c[state] ?? 0, 0, `${path} ${state}`);
  return c;
}

test('npm run demo -- --once processes its jobs over HTTP, both workers, and exits 0', async () => {
  const { code, stdout, stderr } = await runDemo({ ...process.env, REDIS_URL: await redisUrl() });
  assert.equal(code, 0, `exit code\n${stdout}\n${stderr}`);
  const lines = stdout.split('\n');
  const has = (re) => assert.ok(lines.some((l) => re.test(l)), `no line matching ${re}\n${stdout}`);

  // ---- the manual worker loop on /jobs
  const manual = addedJobs(lines, /^demo-[0-9a-f]{8}$/);
  assert.equal(Object.values(manual).flat().length, 5, stdout);
  has(/^\[demo\] POST \/jobs with priority 1\.5 -> 400 .*Priority should not be float/);

  const finished = lines.filter((l) => l.startsWith('[demo] GET /jobs/'));
  assert.equal(finished.length, 5, stdout);
  const byName = (name) => finished.filter((l) => l.includes(` -> ${name} `));
  assert.equal(byName('resize').length, 2);
  for (const l of byName('resize')) assert.match(l, /completed after 1 attempt\(s\), progress 100: \{"path":"\/images\/\d+w\.png"\}/);
  assert.match(byName('email')[0], /completed after 1 attempt/);
  assert.match(byName('flaky')[0], /completed after 2 attempt\(s\).*"attempt":2/);
  assert.match(byName('broken')[0], /failed after 1 attempt\(s\).*this job always fails/);
  // The loop saw the flaky job fail once, then succeed.
  has(/^\[manual-worker\] job \d+ failed \(attempt 1 of 2\): flaky failure on attempt 1$/);
  const manualCounts = counts(lines, '/stats');
  // Four posted jobs and the flow's child on this queue.
  assert.equal(manualCounts.completed, 5);
  assert.equal(manualCounts.failed, 1);

  // ---- the automatic Worker on /auto/jobs
  const auto = addedJobs(lines, /^demo-[0-9a-f]{8}-auto$/);
  const [render] = auto.render ?? [];
  const [flaky] = auto.flaky ?? [];
  const [broken] = auto.broken ?? [];
  assert.ok(render && flaky && broken, stdout);

  // The render job's progress stream, opened while it was delayed (then
  // promoted): its state, every step in order, the result, and the end.
  const stream = sseEvents(lines, `/auto/jobs/${render}/progress`);
  assert.deepEqual(stream, [
    ['state', { state: 'delayed', progress: 0, attemptsMade: 0 }],
    ['progress', 25],
    ['progress', 50],
    ['progress', 75],
    ['progress', 100],
    ['completed', { returnvalue: { frames: 4, url: `/videos/${render}.mp4` } }],
  ]);
  has(new RegExp(`^\\[demo\\] POST /auto/jobs/${render}/promote -> 200 `));
  // The worker's own events for it: active, progress per step, completed.
  const renderLog = lines.filter((l) => l.startsWith(`[auto-worker] job ${render} `));
  assert.deepEqual(renderLog, [
    `[auto-worker] job ${render} "render" active (attempt 1 of 3)`,
    `[auto-worker] job ${render} progress 25`,
    `[auto-worker] job ${render} progress 50`,
    `[auto-worker] job ${render} progress 75`,
    `[auto-worker] job ${render} progress 100`,
    `[auto-worker] job ${render} completed after 1 attempt(s): {"frames":4,"url":"/videos/${render}.mp4"}`,
  ]);

  // Retries with exponential backoff from the queue's defaultJobOptions
  // (3 attempts, 200 ms): the delay doubles between attempts.
  assert.deepEqual(lines.filter((l) => l.startsWith(`[auto-worker] job ${flaky} `)), [
    `[auto-worker] job ${flaky} "flaky" active (attempt 1 of 3)`,
    `[auto-worker] job ${flaky} failed on attempt 1 of 3: flaky failure on attempt 1; retry in 200 ms`,
    `[auto-worker] job ${flaky} "flaky" active (attempt 2 of 3)`,
    `[auto-worker] job ${flaky} failed on attempt 2 of 3: flaky failure on attempt 2; retry in 400 ms`,
    `[auto-worker] job ${flaky} "flaky" active (attempt 3 of 3)`,
    `[auto-worker] job ${flaky} completed after 3 attempt(s): {"ok":true,"attempt":3}`,
  ]);
  assert.deepEqual(lines.filter((l) => l.startsWith(`[auto-worker] job ${broken} `)), [
    `[auto-worker] job ${broken} "broken" active (attempt 1 of 3)`,
    `[auto-worker] job ${broken} failed on attempt 1 of 3: this job always fails; retry in 200 ms`,
    `[auto-worker] job ${broken} "broken" active (attempt 2 of 3)`,
    `[auto-worker] job ${broken} failed on attempt 2 of 3: this job always fails; retry in 400 ms`,
    `[auto-worker] job ${broken} "broken" active (attempt 3 of 3)`,
    `[auto-worker] job ${broken} failed on attempt 3 of 3: this job always fails; no attempts left`,
  ]);
  // What GET /auto/jobs/:id reports once they finished.
  has(new RegExp(`^\\[demo\\] GET /auto/jobs/${render} -> render completed after 1 attempt\\(s\\), progress 100: `));
  has(new RegExp(`^\\[demo\\] GET /auto/jobs/${flaky} -> flaky completed after 3 attempt\\(s\\), progress 0: \\{"ok":true,"attempt":3\\}$`));
  has(new RegExp(`^\\[demo\\] GET /auto/jobs/${broken} -> broken failed after 3 attempt\\(s\\), progress 0: this job always fails$`));
  // The flow: a child on each queue, then the parent with both results.
  const flowLine = lines.find((l) => l.startsWith('[demo] POST /flows -> 201 '));
  assert.ok(flowLine, stdout);
  const flow = JSON.parse(flowLine.slice('[demo] POST /flows -> 201 '.length));
  assert.equal(flow.children.length, 2);
  has(new RegExp(`^\\[demo\\] flow ${flow.id}: parent completed, children's results \\{"children":2,"results":\\[`));
  const flowResult = lines.find((l) => l.startsWith(`[demo] flow ${flow.id}: `));
  assert.match(flowResult, /"path":"\/images\/64w\.png"/);
  assert.match(flowResult, /"echoed":\{"to":"flow@example.com"\}/);

  // The job scheduler produced reports while the demo ran.
  const sched = lines.find((l) => l.startsWith('[demo] scheduler "report" every 1000 ms: '));
  assert.ok(sched, stdout);
  assert.ok(Number(/: (\d+) iterations completed/.exec(sched)[1]) >= 2, sched);
  has(/^\[reports-worker\] job repeat:report:\d+ "report" completed: \{"iteration":\d+,"at":"/);

  // The deduplicated POST answered the first job's id; that job ran once.
  const dedup = lines.find((l) => l.startsWith('[demo] POST /auto/jobs twice with deduplication id "sync-7" -> ids '));
  assert.ok(dedup, stdout);
  const [firstSync, secondSync] = dedup.split('-> ids ')[1].split(', ');
  assert.equal(firstSync, secondSync);
  has(new RegExp(`^\\[demo\\] GET /auto/jobs/${firstSync} -> sync completed after 1 attempt\\(s\\)`));
  assert.equal(lines.filter((l) => l.startsWith(`[auto-worker] job ${firstSync} "sync" active`)).length, 1);
  const autoCounts = counts(lines, '/auto/stats');
  // render, flaky, sync, the flow's parent and its child on this queue.
  assert.equal(autoCounts.completed, 5);
  assert.equal(autoCounts.failed, 1);

  // The progress stream of a job that had already finished: its state, then
  // its result, and the end.
  const [done] = manual.resize;
  const doneStream = sseEvents(lines, `/jobs/${done}/progress`);
  assert.equal(doneStream.length, 2, stdout);
  assert.deepEqual(doneStream[0], ['state', { state: 'completed', progress: 100, attemptsMade: 1 }]);
  assert.equal(doneStream[1][0], 'completed');
  assert.match(doneStream[1][1].returnvalue.path, /^\/images\/\d+w\.png$/);

  // bull-board at /admin/queues: its page, and the three queues with the counts above.
  has(/^\[demo\] GET \/admin\/queues -> 200 "Bull Dashboard"$/);
  const boardLine = lines.find((l) => l.startsWith('[demo] GET /admin/queues/api/queues -> '));
  assert.ok(boardLine, stdout);
  const board = JSON.parse(boardLine.slice('[demo] GET /admin/queues/api/queues -> '.length));
  const boardNames = Object.keys(board);
  assert.equal(boardNames.length, 3, boardLine);
  const boardAuto = board[boardNames.find((n) => n.endsWith('-auto'))];
  assert.deepEqual([boardAuto.completed, boardAuto.failed], [autoCounts.completed, autoCounts.failed]);

  assert.equal(lines.filter(Boolean).at(-1), '[demo] done');
});
