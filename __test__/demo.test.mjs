// The README's demo: `node demo/index.mjs --once` posts jobs to its own
// Express server, processes them with the manual worker loop, prints each
// job and the counts, and exits 0.
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
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run demo -- --once processes its jobs over HTTP and exits 0', async () => {
  const { code, stdout, stderr } = await runDemo({ ...process.env, REDIS_URL: await redisUrl() });
  assert.equal(code, 0, `exit code\n${stdout}\n${stderr}`);
  const lines = stdout.split('\n');

  const added = lines.filter((l) => l.startsWith('[producer] added job'));
  assert.equal(added.length, 5, stdout);
  assert.ok(lines.some((l) => /^\[demo\] POST \/jobs with priority 1\.5 -> 400 .*Priority should not be float/.test(l)), stdout);

  const finished = lines.filter((l) => l.startsWith('[demo] GET /jobs/'));
  assert.equal(finished.length, 5, stdout);
  const byName = (name) => finished.filter((l) => l.includes(` -> ${name} `));
  assert.equal(byName('resize').length, 2);
  for (const l of byName('resize')) assert.match(l, /completed after 1 attempt\(s\), progress 100: \{"path":"\/images\/\d+w\.png"\}/);
  assert.match(byName('email')[0], /completed after 1 attempt/);
  assert.match(byName('flaky')[0], /completed after 2 attempt\(s\).*"attempt":2/);
  assert.match(byName('broken')[0], /failed after 1 attempt\(s\).*this job always fails/);

  // The worker saw the flaky job fail once, then succeed.
  assert.ok(lines.some((l) => /^\[worker\] job \d+ failed \(attempt 1 of 2\): flaky failure on attempt 1/.test(l)), stdout);

  const stats = lines.find((l) => l.startsWith('[demo] GET /stats -> '));
  assert.ok(stats, stdout);
  const counts = JSON.parse(stats.slice('[demo] GET /stats -> '.length));
  assert.equal(counts.completed, 4);
  assert.equal(counts.failed, 1);
  assert.equal(counts.waiting ?? 0, 0);
  assert.equal(counts.active ?? 0, 0);
  assert.equal(counts.delayed ?? 0, 0);
  assert.equal(lines.filter(Boolean).at(-1), '[demo] done');
});
