// The README's examples "Using with bull-board" and "Using with NestJS", run
// as written: each is read from README.md, and run once as it stands (over
// bullmq-native) and once with its `from 'bullmq-native'` import pointed at
// the official bullmq 6.7; what each run shows must be the same. The
// bull-board example runs as a program (its Redis from REDIS_HOST and
// REDIS_PORT, its port from PORT); the NestJS one is compiled with this
// repository's TypeScript and booted with @nestjs/testing. The TypeScript
// examples are type-checked as a strict project would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { getFlowProducerToken, getQueueToken } from '@nestjs/bullmq';
import { Test } from '@nestjs/testing';
import * as official from 'bullmq';
import * as ours from 'bullmq-native';
import { Redis } from 'ioredis';
import ts from 'typescript';

import { connection, waitFor } from './support/redis.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
// Inside the package, so that the examples' imports resolve as in a project
// that installed them (`.tmp/` is ignored by git).
const workDir = join(root, '.tmp', `docs-integrations-${randomUUID().slice(0, 8)}`);
mkdirSync(workDir, { recursive: true });
after(() => rmSync(workDir, { recursive: true, force: true }));

/** The first code block of `lang` in the README section `heading`. */
function readmeExample(heading, lang) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README.md has a section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(section);
  assert.ok(m, `the section "${heading}" has a ${lang} example`);
  return m[1];
}

/** The example with its bullmq-native import pointed at `pkg`. */
function importing(code, pkg) {
  assert.match(code, /from 'bullmq-native';/);
  return code.replaceAll("from 'bullmq-native';", `from '${pkg}';`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Runs a program until it prints `ready`; resolves with a stop function. */
async function startProgram(file, env, ready) {
  const child = spawn(process.execPath, [file], { cwd: root, env: { ...process.env, ...env } });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await Promise.race([
    waitFor(() => ready.test(output), { timeout: 20000, message: `${file} to print ${ready}` }),
    exited.then((code) => {
      throw new Error(`${file} exited with ${code}:\n${output}`);
    }),
  ]);
  return {
    output: () => output,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function obliterate(lib, names) {
  const conn = await connection();
  for (const name of names) {
    const q = new lib.Queue(name, { connection: conn });
    await q.obliterate({ force: true });
    await q.close();
  }
}

/** The bull-board example over `lib`, with jobs in two states; what its API and page answer. */
async function boardExample(lib, pkg) {
  const conn = await connection();
  await obliterate(lib, ['emails', 'reports']);
  const file = join(workDir, `board-${pkg}.mjs`);
  writeFileSync(file, importing(readmeExample('Using with bull-board', 'js'), pkg));
  const port = await freePort();
  const program = await startProgram(
    file,
    { REDIS_HOST: conn.host, REDIS_PORT: String(conn.port), PORT: String(port) },
    /bull-board on http:\/\/localhost:\d+\/admin\/queues/,
  );
  const emails = new lib.Queue('emails', { connection: conn });
  try {
    await emails.add('welcome', { to: 'ada@example.com' });
    await emails.add('reminder', { to: 'bob@example.com' }, { delay: 60_000 });
    const base = `http://127.0.0.1:${port}/admin/queues`;
    const page = await fetch(base);
    const html = await page.text();
    const api = await fetch(`${base}/api/queues?activeQueue=emails&status=latest&page=1&jobsPerPage=10`);
    const { queues } = await api.json();
    return {
      printed: program.output().trim().replace(`:${port}/`, ':<port>/'),
      page: [page.status, /<title>([^<]*)<\/title>/.exec(html)?.[1]],
      queues: queues.map((q) => ({
        name: q.name,
        counts: q.counts,
        statuses: q.statuses,
        jobs: q.jobs.map((j) => [j.id, j.name, j.data, j.delay]),
      })),
    };
  } finally {
    await program.stop();
    await emails.close();
    await obliterate(lib, ['emails', 'reports']);
  }
}

test("README: the TypeScript examples type-check in a strict project", () => {
  const files = [
    ['board-cast.mts', readmeExample('Using with bull-board', 'ts')],
    ['nest-app.mts', readmeExample('Using with NestJS', 'ts')],
  ].map(([name, code]) => {
    const file = join(workDir, name);
    writeFileSync(file, code);
    return file;
  });
  const program = ts.createProgram(files, {
    strict: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: ['node'],
    skipLibCheck: true,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
  });
  const problems = ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? `${d.file.fileName}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  assert.deepEqual(problems, []);
});

test('README "Using with bull-board": the example serves the board over our queues as over bullmq 6.7', async () => {
  const mine = await boardExample(ours, 'bullmq-native');
  const theirs = await boardExample(official, 'bullmq');
  assert.deepEqual(mine, theirs);
  assert.deepEqual(mine.page, [200, 'Bull Dashboard']);
  assert.deepEqual(
    mine.queues.map((q) => [q.name, q.counts.waiting, q.counts.delayed]),
    [
      ['emails', 1, 1],
      ['reports', 0, 0],
    ],
  );
});

/** The NestJS example compiled for `pkg`, booted with @nestjs/testing; what it did. */
async function nestExample(lib, pkg) {
  const conn = await connection();
  process.env.REDIS_HOST = conn.host;
  process.env.REDIS_PORT = String(conn.port);
  await obliterate(lib, ['mail']);
  const { outputText, diagnostics } = ts.transpileModule(importing(readmeExample('Using with NestJS', 'ts'), pkg), {
    reportDiagnostics: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      experimentalDecorators: true,
      emitDecoratorMetadata: true,
    },
  });
  assert.deepEqual(diagnostics, []);
  const file = join(workDir, `app-${pkg}.mjs`);
  writeFileSync(file, outputText);
  const example = await import(pathToFileURL(file).href);

  const moduleRef = await Test.createTestingModule({ imports: [example.AppModule] }).compile();
  const app = await moduleRef.init();
  let closed = false;
  try {
    const queue = app.get(getQueueToken('mail'));
    const flows = app.get(getFlowProducerToken('mail-flows'));
    const processor = app.get(example.MailProcessor);
    const events = app.get(example.MailEvents);
    // The listener's QueueEvents reads new events only: let it connect and
    // block in its first XREAD before anything is added (on a busy machine
    // the read can come well after the connection is ready).
    await events.queueEvents.waitUntilReady();
    const probe = new Redis(conn.port, conn.host);
    try {
      await waitFor(async () => /cmd=xread/.test(await probe.client('LIST')), { message: "the listener's first XREAD" });
    } finally {
      probe.disconnect();
    }

    const service = app.get(example.MailService);
    const welcome = await service.send('ada@example.com');
    const digest = await service.sendDigest(['bob@example.com', 'eve@example.com']);
    await waitFor(() => processor.sent.length === 4 && events.completed.length === 4, {
      message: 'the example to process its jobs',
    });
    const ran = {
      classes: [queue instanceof lib.Queue, flows instanceof lib.FlowProducer, processor.worker instanceof lib.Worker],
      welcomeId: welcome.id,
      digestState: await digest.job.getState(),
      digestResult: (await queue.getJob(digest.job.id)).returnvalue,
      sent: [...processor.sent].sort(),
      completed: [...events.completed].sort(),
      counts: await queue.getJobCounts(),
      statusOpen: [(await queue.getBackend().client).status, (await flows.getBackend().client).status],
    };
    await app.close();
    closed = true;
    return {
      ...ran,
      statusClosed: [(await queue.getBackend().client).status, (await flows.getBackend().client).status],
      workerRunning: processor.worker.isRunning(),
    };
  } finally {
    if (!closed) await app.close();
    await obliterate(lib, ['mail']);
  }
}

test('README "Using with NestJS": the example runs on our classes as on bullmq 6.7', async () => {
  const mine = await nestExample(ours, 'bullmq-native');
  const theirs = await nestExample(official, 'bullmq');
  assert.deepEqual(mine, theirs);
  assert.deepEqual(mine.classes, [true, true, true]);
  assert.deepEqual(mine.sent, ['digest of 2', 'sent to ada@example.com', 'sent to bob@example.com', 'sent to eve@example.com']);
  assert.deepEqual(mine.completed, mine.sent);
  assert.equal(mine.digestState, 'completed');
  assert.deepEqual(mine.statusOpen, ['ready', 'ready']);
  assert.deepEqual(mine.statusClosed, ['end', 'end']);
  assert.equal(mine.workerRunning, false);
});
