// A seeded fuzz of the public API (see support/fuzz-driver.mjs): a few
// thousand random calls with valid and invalid arguments, in a process of its
// own. It fails on a crash of that process, a call that never settles, a
// thrown or rejected non-Error, a JS engine TypeError from inside the package,
// an unhandled rejection or uncaught exception, and a process that does not
// exit once everything closed. The failure message has the seed (FUZZ_SEED
// replays the same calls) and the calls that led to each failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { redisUrl } from './support/redis.mjs';

/** The run's calls (FUZZ_MS in the driver) plus closing and exiting stay under this. */
const PROCESS_TIMEOUT_MS = 90000;

function runDriver(env) {
  const child = spawn(process.execPath, [new URL('./support/fuzz-driver.mjs', import.meta.url).pathname], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), PROCESS_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

test('fuzz: random calls over the public API settle, with Errors only, and nothing goes unhandled', async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 32));
  t.diagnostic(`FUZZ_SEED=${seed}`);
  const { code, signal, out, err } = await runDriver({ REDIS_URL: await redisUrl(), FUZZ_SEED: String(seed) });

  const calls = new Map();
  const failures = [];
  let done;
  for (const line of out.split('\n')) {
    if (line.startsWith('C ')) {
      const space = line.indexOf(' ', 2);
      calls.set(Number(line.slice(2, space)), line.slice(space + 1));
    } else if (line.startsWith('F ')) {
      failures.push(JSON.parse(line.slice(2)));
    } else if (line.startsWith('D ')) {
      done = JSON.parse(line.slice(2));
    }
  }
  const lastCall = Math.max(0, ...calls.keys());
  if (code !== 0 || signal) {
    failures.push({
      kind: done ? 'did not exit' : 'crash',
      call: lastCall,
      detail: `the fuzz process ended with ${signal ?? `exit code ${code}`}${done ? ' after its run ended (a handle kept it alive)' : ''}; stderr:\n${err.slice(-3000)}`,
    });
  }
  if (done) t.diagnostic(`run: ${JSON.stringify(done)}`);

  if (failures.length > 0) {
    const log = join(tmpdir(), `fuzz-${seed}.log`);
    writeFileSync(log, out);
    const report = failures.slice(0, 10).map((f) => {
      const before = [];
      for (let n = Math.max(1, f.call - 15); n <= f.call; n++) if (calls.has(n)) before.push(`  ${n}: ${calls.get(n)}`);
      return `[${f.kind}] at call ${f.call}: ${f.detail}\n calls up to it:\n${before.join('\n')}`;
    });
    assert.fail(
      `fuzz found ${failures.length} failure(s) with FUZZ_SEED=${seed} (every call: ${log})\n\n${report.join('\n\n')}`,
    );
  }
  assert.ok(done, 'the run ended');
  // A broken driver whose calls all stop at once would pass vacuously.
  assert.ok(done.calls >= 500, `only ${done.calls} calls ran`);
  assert.ok(done.resolved > 0 && done.rejected + done.threw > 0, 'calls both succeeded and were refused');
  assert.ok(done.processorRuns > 0, 'the automatic workers processed jobs');
});
