// Sandboxed processors: a processor file run in child processes or worker
// threads, driven with real jobs fetched by a Worker without processor.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { UnrecoverableError } from 'bullmq-native';

import { childExecArgv } from '../dist/cjs/sandbox/child.js';
import { createSandboxedProcessor } from '../dist/cjs/sandbox/index.js';
import { setup } from './support/manual.mjs';
import { streamEvents, waitFor } from './support/redis.mjs';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const fixture = (file) => join(fixtures, file);

const sandboxes = [];
after(() => Promise.all(sandboxes.map((s) => s.close())));

/** A sandboxed processor closed when the file ends. */
function sandbox(file, opts) {
  const s = createSandboxedProcessor(file, opts);
  sandboxes.push(s);
  return s;
}

/** Adds a job and fetches it as active: `{job, token, name, worker, queue, redis}`. */
async function activeJob(label, data = {}, opts = {}) {
  const ctx = await setup(label);
  await ctx.queue.add('work', data, opts);
  const token = `token-${label}`;
  const job = await ctx.worker.getNextJob(token);
  assert.ok(job, 'a job was fetched');
  return { ...ctx, job, token };
}

/** True while a process with this pid exists. */
function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const modes = [
  { label: 'child processes', opts: {} },
  { label: 'worker threads', opts: { useWorkerThreads: true } },
];

for (const { label, opts } of modes) {
  const threads = opts.useWorkerThreads === true;
  /** Which child ran: the thread id or the process id. */
  const childOf = (r) => (threads ? r.threadId : r.pid);

  describe(`sandboxed processors in ${label}`, () => {
    test('a CommonJS processor gets the job, its token and a signal; one child serves job after job', async () => {
      const run = sandbox(fixture('sandbox-echo.cjs'), opts);
      const first = await activeJob('echo', { n: 1 }, { attempts: 2 });
      const r1 = await run(first.job, first.token, new AbortController().signal);
      assert.equal(r1.kind, 'cjs');
      if (threads) {
        assert.equal(r1.pid, process.pid);
        assert.ok(r1.threadId > 0, 'ran in a worker thread');
      } else {
        assert.notEqual(r1.pid, process.pid, 'ran in another process');
        assert.equal(r1.threadId, 0);
      }
      assert.equal(r1.id, first.job.id);
      assert.equal(r1.name, 'work');
      assert.deepEqual(r1.data, { n: 1 });
      assert.equal(r1.opts.attempts, 2);
      assert.equal(r1.attemptsMade, 0);
      assert.equal(r1.attemptsStarted, 1);
      assert.equal(r1.queueName, first.name);
      assert.equal(r1.queueQualifiedName, `bull:${first.name}`);
      assert.equal(r1.prefix, 'bull');
      assert.equal(r1.token, first.token);
      assert.equal(r1.signal, true);

      const second = await activeJob('echo2', { n: 2 });
      const r2 = await run(second.job, second.token);
      assert.deepEqual(r2.data, { n: 2 });
      assert.equal(childOf(r2), childOf(r1), 'the idle child was reused');
      await first.job.moveToCompleted(r1, first.token, false);
      assert.equal(JSON.parse(await first.redis.hget(`bull:${first.name}:${first.job.id}`, 'returnvalue')).id, r1.id);
    });

    test('an ES module default export, a file: URL and a transpiled default export', async () => {
      const { job, token } = await activeJob('esm', { esm: true });
      const viaUrl = sandbox(pathToFileURL(fixture('sandbox-echo.mjs')), opts);
      assert.deepEqual(
        { ...(await viaUrl(job, token)), pid: 0, threadId: 0 },
        { kind: 'esm', pid: 0, threadId: 0, id: job.id, data: { esm: true }, token },
      );
      const viaUrlString = sandbox(pathToFileURL(fixture('sandbox-echo.mjs')).href, opts);
      assert.equal((await viaUrlString(job, token)).kind, 'esm');
      const transpiled = sandbox(fixture('sandbox-transpiled.cjs'), opts);
      assert.deepEqual(await transpiled(job, token), { kind: 'transpiled', data: { esm: true } });
    });

    test('progress, logs and data changes in the child reach Redis and the parent Job', async () => {
      // No extension: `.js` is appended, as BullMQ does.
      const run = sandbox(fixture('sandbox-progress'), opts);
      const { job, token, name, worker, redis } = await activeJob('progress', { original: 1 });
      const heard = [];
      worker.on('progress', (j, p) => heard.push([j.id, p]));
      const seen = await run(job, token);
      // Calls the child did not await are done when the job settles.
      assert.deepEqual(job.progress, { step: 'last' });
      assert.deepEqual(job.data, { original: 1, touched: true });
      assert.deepEqual(seen, {
        progress: { step: 'two' },
        data: { original: 1, touched: true },
        lines: 1,
        logError: { name: 'TypeError', message: 'logRow must be a string, got 5', isTypeError: true },
      });
      const key = `bull:${name}:${job.id}`;
      assert.equal(await redis.hget(key, 'progress'), '{"step":"last"}');
      assert.deepEqual(JSON.parse(await redis.hget(key, 'data')), { original: 1, touched: true });
      assert.deepEqual(await redis.lrange(`${key}:logs`, 0, -1), ['first line', 'unawaited line']);
      const progressEvents = (await streamEvents(redis, 'bull', name)).filter((e) => e.event === 'progress');
      assert.deepEqual(
        progressEvents.map((e) => [e.jobId, e.data]),
        [
          [job.id, '42'],
          [job.id, '{"step":"two"}'],
          [job.id, '{"step":"last"}'],
        ],
      );
      assert.deepEqual(heard, [
        [job.id, 42],
        [job.id, { step: 'two' }],
        [job.id, { step: 'last' }],
      ]);
    });

    test('an error thrown in the child arrives with its message, stack and properties', async () => {
      const run = sandbox(fixture('sandbox-throws.cjs'), opts);
      const { job, token, name, redis } = await activeJob('throws', { kind: 'error' });
      const err = await run(job, token).then(
        () => assert.fail('the processor should fail'),
        (e) => e,
      );
      assert.ok(err instanceof Error);
      assert.equal(err.message, 'processor failed');
      assert.match(err.stack, /sandbox-throws\.cjs/);
      assert.equal(err.code, 'E_FIXTURE');
      assert.deepEqual(err.details, { n: 1 });
      await job.moveToFailed(err, token);
      const hash = await redis.hgetall(`bull:${name}:${job.id}`);
      assert.equal(hash.failedReason, 'processor failed');
      assert.match(JSON.parse(hash.stacktrace)[0], /sandbox-throws\.cjs/);

      const other = await activeJob('throws-string', { kind: 'string' });
      await assert.rejects(run(other.job, other.token), (e) => e instanceof Error && e.message === 'plain string');
    });

    test('a result the channel cannot carry fails the job; the child stays usable', async () => {
      const run = sandbox(fixture('sandbox-throws.cjs'), opts);
      const { job, token } = await activeJob('unsendable', { kind: 'unsendable' });
      const err = await run(job, token).then(
        () => assert.fail('the processor should fail'),
        (e) => e,
      );
      assert.ok(err instanceof Error);
      assert.match(err.message, threads ? /could not be cloned/ : /BigInt/);
      const next = await activeJob('after-unsendable', { kind: 'string' });
      await assert.rejects(run(next.job, next.token), { message: 'plain string' });
    });

    test('an UnrecoverableError thrown in the child stays unrecoverable', async () => {
      const run = sandbox(fixture('sandbox-throws.cjs'), opts);
      const { job, token } = await activeJob('unrecoverable', { kind: 'unrecoverable' }, { attempts: 3 });
      const err = await run(job, token).catch((e) => e);
      assert.ok(err instanceof UnrecoverableError);
      assert.equal(err.name, 'UnrecoverableError');
      assert.equal(err.message, 'give up');
      await job.moveToFailed(err, token);
      // With attempts left, only an unrecoverable error ends the job failed.
      assert.equal(await job.getState(), 'failed');
    });

    test('a child that exits mid-job fails the job and is replaced by a new one', async () => {
      const run = sandbox(fixture('sandbox-exit.cjs'), opts);
      const first = await activeJob('exit-first');
      const before = await run(first.job, first.token);
      const { job, token, name, redis } = await activeJob('exit', { code: 7 });
      await assert.rejects(run(job, token), { message: 'Unexpected exit code: 7 signal: null' });
      assert.deepEqual(await redis.lrange(`bull:${name}:${job.id}:logs`, 0, -1), ['about to exit']);
      if (!threads) assert.equal(processAlive(before.pid), false, 'the child process is gone');
      const next = await activeJob('exit-next');
      const after = await run(next.job, next.token);
      assert.notEqual(childOf(after), childOf(before), 'a new child runs the next job');
    });

    test('an uncaught exception in the child fails the job with that error', async () => {
      const run = sandbox(fixture('sandbox-throws.cjs'), opts);
      const first = await activeJob('uncaught', { kind: 'uncaught' });
      await assert.rejects(run(first.job, first.token), { message: 'uncaught in child' });
      // The pool starts a new child for the next job.
      const next = await activeJob('after-uncaught', { kind: 'string' });
      await assert.rejects(run(next.job, next.token), { message: 'plain string' });
    });

    test('aborting the signal aborts the processor; the child stays for the next job', async () => {
      const run = sandbox(fixture('sandbox-hang.mjs'), opts);
      const { job, token, name, redis } = await activeJob('abort');
      const controller = new AbortController();
      const pending = run(job, token, controller.signal);
      const started = await waitFor(async () => JSON.parse((await redis.hget(`bull:${name}:${job.id}`, 'progress')) ?? '0'), {
        message: 'the processor to start',
      });
      assert.equal(started.abortedAtStart, false);
      controller.abort(new Error('cancelled by test'));
      await assert.rejects(pending, { message: 'cancelled by test' });

      const other = await activeJob('abort-default');
      const c2 = new AbortController();
      const pending2 = run(other.job, other.token, c2.signal);
      await waitFor(async () => other.redis.hget(`bull:${other.name}:${other.job.id}`, 'progress'), {
        message: 'the second processor to start',
      });
      c2.abort();
      await assert.rejects(pending2, { name: 'AbortError' });

      const next = await activeJob('abort-next', { quick: true });
      const where = await run(next.job, next.token);
      assert.equal(childOf(where), childOf(started), 'the child was not killed');
    });

    test('a signal aborted before the call is aborted in the child from the start', async () => {
      const run = sandbox(fixture('sandbox-hang.mjs'), opts);
      const { job, token } = await activeJob('pre-aborted');
      const controller = new AbortController();
      controller.abort('too late');
      await assert.rejects(run(job, token, controller.signal), (e) => e === 'too late' || e?.message === 'too late');
    });

    test('concurrent jobs run in separate children', async () => {
      const run = sandbox(fixture('sandbox-hang.mjs'), opts);
      const a = await activeJob('conc-a');
      const b = await activeJob('conc-b');
      const ca = new AbortController();
      const cb = new AbortController();
      const pa = run(a.job, a.token, ca.signal);
      const pb = run(b.job, b.token, cb.signal);
      const progressOf = async (ctx) => JSON.parse((await ctx.redis.hget(`bull:${ctx.name}:${ctx.job.id}`, 'progress')) ?? '0');
      const wa = await waitFor(() => progressOf(a), { message: 'job a to start' });
      const wb = await waitFor(() => progressOf(b), { message: 'job b to start' });
      assert.notEqual(childOf(wa), childOf(wb));
      ca.abort(new Error('stop a'));
      cb.abort(new Error('stop b'));
      await Promise.all([assert.rejects(pa, { message: 'stop a' }), assert.rejects(pb, { message: 'stop b' })]);
    });

    test('a file that exports no function fails the job', async () => {
      const run = sandbox(fixture('sandbox-no-function.cjs'), opts);
      const { job, token } = await activeJob('nofn');
      await assert.rejects(run(job, token), { message: 'No function is exported in processor file' });
    });

    test('a child that cannot start fails the job and close still completes', async () => {
      const broken = threads
        ? { useWorkerThreads: true, workerThreadsOptions: { execArgv: ['--no-such-node-flag'] } }
        : { workerForkOptions: { execPath: fixture('no-such-node-binary') } };
      const run = createSandboxedProcessor(fixture('sandbox-echo.cjs'), broken);
      const { job, token } = await activeJob('cannot-start');
      await assert.rejects(run(job, token), threads ? /no-such-node-flag/ : /ENOENT/);
      await run.close();
    });

    test('close lets busy children finish, ends every child and refuses later jobs', async () => {
      const markers = mkdtempSync(join(tmpdir(), 'sandbox-exit-'));
      after(() => rmSync(markers, { recursive: true, force: true }));
      const run = createSandboxedProcessor(fixture('sandbox-hang.mjs'), opts);
      const a = await activeJob('close-a', { exitMarker: markers });
      const b = await activeJob('close-b', { exitMarker: markers });
      const ca = new AbortController();
      const cb = new AbortController();
      const pa = run(a.job, a.token, ca.signal);
      const pb = run(b.job, b.token, cb.signal);
      for (const ctx of [a, b]) {
        await waitFor(() => ctx.redis.hget(`bull:${ctx.name}:${ctx.job.id}`, 'progress'), { message: 'jobs to start' });
      }
      const closing = run.close();
      ca.abort(new Error('finish a'));
      cb.abort(new Error('finish b'));
      // Each busy child delivered its job's outcome before leaving.
      await Promise.all([assert.rejects(pa, { message: 'finish a' }), assert.rejects(pb, { message: 'finish b' })]);
      await closing;
      await waitFor(() => readdirSync(markers).length === 2, { message: 'both children to exit' });
      if (!threads) {
        const pids = readdirSync(markers).map((f) => Number(f.split('-')[0]));
        await waitFor(() => pids.every((pid) => !processAlive(pid)), { message: 'child processes to be gone' });
      }
      const c = await activeJob('close-c');
      await assert.rejects(run(c.job, c.token), { message: 'The sandboxed processor is closed' });
    });
  });
}

test('a processor file that does not exist is refused up front, with BullMQ messages', () => {
  const missing = fixture('no-such-processor');
  assert.throws(() => createSandboxedProcessor(missing), { message: `File ${missing}.js does not exist` });
  const missingUrl = pathToFileURL(fixture('no-such-processor.mjs'));
  assert.throws(() => createSandboxedProcessor(missingUrl), {
    message: `URL ${missingUrl.href} does not exist in the local file system`,
  });
  assert.throws(() => createSandboxedProcessor(new URL('https://example.com/p.js')), TypeError);
});

test('a forked child gets the parent execArgv without code to evaluate, test or watch modes', () => {
  assert.deepEqual(
    childExecArgv([
      '--input-type=module',
      '-e',
      'run()',
      '--max-old-space-size=128',
      '--inspect=9229',
      '--test',
      '--watch-path',
      'src',
      '--enable-source-maps',
      '--print',
      '1',
    ]),
    ['--max-old-space-size=128', '--inspect=0', '--enable-source-maps'],
  );
});
