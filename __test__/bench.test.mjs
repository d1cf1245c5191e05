// The benchmark (`npm run bench`, README "Benchmark") runs ours and the
// official bullmq side by side and reports ratios. This checks that a quick
// run of its add group works end to end against the test Redis, and of its
// queues group on a Redis of its own, and reports what the issues ask for; it
// asserts no speed (that is the benchmark's job).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { redisUrl } from './support/redis.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Runs the bench on the test Redis, or (`ownRedis`) on one it starts for itself. */
async function runBench(args, { ownRedis = false } = {}) {
  const env = { ...process.env, REDIS_URL: await redisUrl() };
  if (ownRedis) delete env.REDIS_URL;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bench/index.mjs', ...args], { cwd: root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The cells of a ratio row (`title`: ours/bullmq, ours/bee-queue ...) among
 * the rows of `label`'s scenario.
 */
function ratioRow(report, label, title = 'ours/bullmq') {
  const lines = report.split('\n');
  const at = lines.findIndex((l) => l.startsWith(`| ${label}`));
  assert.ok(at >= 0, `a row for ${label}`);
  const rows = [];
  for (let i = at + 1; i < lines.length && /^\|\s*\|/.test(lines[i]); i++) rows.push(lines[i]);
  assert.ok(rows.some((l) => /^\|\s*\| bullmq \|/.test(l)), `bullmq's row under ${label}`);
  const row = rows.find((l) => l.startsWith(`| | **${title}** |`));
  assert.ok(row, `the ${title} row under ${label}`);
  return row.split('|').slice(3, -1).map((c) => c.trim());
}

test('a quick run of the add group compares ours with bullmq on one Redis and reports ratios and the Redis split', { timeout: 300000 }, async () => {
  const { code, stdout, stderr } = await runBench(['--quick', '--only', 'add']);
  assert.equal(code, 0, `bench exited ${code}:\n${stderr}`);
  assert.match(stderr, /round 1 ours .* jobs\/s/);
  assert.match(stderr, /round 1 bullmq .* jobs\/s/);
  assert.match(stderr, /round 1 bee .* jobs\/s/);
  assert.match(stderr, /round 1 ours-fast .* jobs\/s/);
  // Every target line of the add group, met or with its distance.
  assert.match(stdout, /- addBulk: at least 2× bee-queue bulk add \(saveAll\) — (met|NOT met, [\d.]+× short): [\d.]+× \([\d,]+ vs [\d,]+ jobs\/s\)/);
  assert.match(stdout, /- No scenario below 1\.0× bullmq — (met \(3 scenarios\)|NOT met: .+)/);
  assert.match(
    stdout,
    /- Redis CPU per added job \(addBulk\): at most 6 µs — (met|NOT met, [\d.]+ µs over): [\d.]+ µs \(bullmq [\d.]+ µs\); the data commands of the call alone \(Redis floor\) cost [\d.]+ µs, ours is [\d.]+× that/,
  );
  // The Redis floor: the replayed call's data commands (a plain added job
  // is one HSET and two XADDs), and ours and bullmq measured against it.
  const floor = stdout.split('### Redis floor: addBulk, the data commands alone')[1];
  assert.ok(floor, 'the Redis floor section of addBulk');
  const floorRow = /^\| floor \((\d+) jobs, (\d+) data commands per call\) \| ([\d.]+) \| 1\.00× \| [\d,]+ \| – \|$/m.exec(floor);
  assert.ok(floorRow, `the floor row:\n${floor}`);
  assert.ok(Number(floorRow[2]) >= 3 * Number(floorRow[1]), `data commands per call: ${floorRow[2]} for ${floorRow[1]} jobs`);
  assert.ok(Number(floorRow[3]) > 0, 'Redis µs per job of the floor');
  assert.match(floor, /^\| ours \| [\d.]+ \| [\d.]+× \| [\d,]+ \| [\d,]+ \|$/m);
  assert.match(floor, /^\| bullmq \| [\d.]+ \| [\d.]+× \| [\d,]+ \| [\d,]+ \|$/m);
  assert.match(floor, /Data commands of the call: .*HSET ×\d+.*XADD ×\d+/);
  // Both tables carry a ratio for each scenario.
  const [adding, split] = stdout.split("## Where Redis' time goes");
  assert.ok(split, "the Redis split section");
  for (const label of ['addBulk', 'add, one at a time', 'add, 100 in flight']) {
    assert.match(ratioRow(adding, label)[0], /^\*\*[\d.]+×\*\*$/, `throughput ratio of ${label}`);
    assert.match(ratioRow(adding, label, 'ours/bee-queue (fast paths)')[0], /^\*\*[\d.]+×\*\*$/, `bee-queue ratio of ${label}`);
    const cells = ratioRow(split, label);
    assert.match(cells[0], /^\*\*[\d.]+×\*\*$/, `Redis CPU ratio of ${label}`);
    assert.match(cells[2], /^[\d.]+×$/, `data command ratio of ${label}`);
  }
  // Our add script runs HSET and two XADDs per plain job, so a run that read
  // the command stats reports at least three data commands per added job.
  const ours = split.split('\n').find((l) => l.startsWith('| addBulk'));
  const perJob = Number(ours.split('|')[6]);
  assert.ok(perJob >= 3, `data commands per added job: ${perJob}`);
});

test('a quick run of the queues group counts the connections of 100 idle queues and what idling costs Redis', { timeout: 300000 }, async () => {
  // Its own Redis: the connections of other tests must not be counted.
  const { code, stdout, stderr } = await runBench(['--quick', '--only', 'queues'], { ownRedis: true });
  assert.equal(code, 0, `bench exited ${code}:\n${stderr}`);
  const [, section] = stdout.split('## Many queues in one process');
  assert.ok(section, 'the many-queues section');
  const label = '100 queues, a Queue and a Worker each, idle';
  const cellsOf = (impl) => {
    const line = section.split('\n').find((l) => l.includes(`| ${impl} |`));
    assert.ok(line, `${impl}'s row`);
    return line.split('|').slice(3, -1).map((c) => c.trim());
  };
  // One shared command connection, a blocking one per Worker, one cancel
  // subscriber; bullmq opens one per Queue and two per Worker.
  assert.equal(cellsOf('ours')[0], '102');
  assert.equal(cellsOf('bullmq')[0], '300');
  for (const impl of ['ours', 'bullmq']) {
    const [, idle, alone, added] = cellsOf(impl).map(Number);
    assert.ok(idle >= 0 && alone >= 0, `${impl}: CPU figures ${cellsOf(impl)}`);
    assert.ok(Math.abs(idle - alone - added) < 0.02, `${impl}: added = idle - alone`);
  }
  assert.match(ratioRow(section, label)[0], /^\*\*0\.34×\*\*$/);
});
