// The README's "Tracing with OpenTelemetry" example, read from README.md and
// run as a program of its own (only its connection and queue name are
// replaced, by the test Redis and a queue no other test uses): the job's
// spans are in the trace of the request span that added it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { connection, queueName } from './support/redis.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The first code block after `heading` in README.md. */
function readmeExample(heading) {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README.md has "${heading}"`);
  const block = readme.slice(start).match(/```(?:js|ts)\n([\s\S]*?)```/);
  assert.ok(block, `a code block under "${heading}"`);
  return block[1];
}

/** The spans ConsoleSpanExporter printed: name and trace id of each. */
function printedSpans(stdout) {
  return [...stdout.matchAll(/traceId: '([0-9a-f]{32})',[\s\S]*?name: '([^']*)'/g)].map(([, traceId, name]) => ({
    traceId,
    name,
  }));
}

test('README: tracing with OpenTelemetry, the job continues the trace of the request that added it', async () => {
  const example = readmeExample('### Tracing with OpenTelemetry');
  const connectionLine = "const connection = { host: '127.0.0.1', port: 6379 };";
  assert.ok(example.includes(connectionLine), 'the example names its connection');
  const name = queueName('readme-tracing');
  const program = example
    .replace(connectionLine, `const connection = ${JSON.stringify(await connection())};`)
    .replaceAll("'emails'", `'${name}'`);

  const run = spawnSync(process.execPath, ['--input-type=module', '-e', program], {
    cwd: root,
    encoding: 'utf8',
    timeout: 60000,
  });
  assert.equal(run.status, 0, run.stderr);

  const request = run.stdout.match(/request in trace ([0-9a-f]{32})/);
  const job = run.stdout.match(/job 1 in trace ([0-9a-f]{32})/);
  assert.ok(request && job, run.stdout);
  assert.equal(job[1], request[1], 'the processor runs in the trace of the request');
  const spans = printedSpans(run.stdout);
  for (const span of ['POST /signup', `add ${name}.welcome`, `process ${name}`, `complete ${name}`]) {
    assert.ok(
      spans.some((s) => s.name === span && s.traceId === request[1]),
      `${span} printed in the request's trace: ${JSON.stringify(spans)}`,
    );
  }
});
