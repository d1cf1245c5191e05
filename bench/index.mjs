// The benchmark: bullmq-native against the official bullmq and bee-queue on
// the same Redis, in the same run, as ratios. See the "Benchmark" section of
// the README. bee-queue is compared on both sides' fast path: ours with
// `removeOnComplete: true` ("ours-fast") against bee-queue with
// `removeOnSuccess: true`.
//
//   npm run bench                      full run (about 5 minutes on 2 cores), writes bench/RESULTS.md
//   npm run bench -- --quick           short run (1 round, fewer jobs)
//   npm run bench -- --only add,worker groups: add, worker, latency, memory, queues
//   npm run bench -- --rounds 5        rounds per implementation (median reported)
//   npm run bench -- --write           also write RESULTS.md for a --quick / --only run
//
// Every measured run is a fresh child process (bench/run.mjs) loading one
// implementation, so client CPU and peak RSS are per implementation and per
// scenario. All runs share one redis-server started here (or REDIS_URL);
// between runs the bench's own data is removed (FLUSHDB on the server started
// here, the bench's prefix otherwise). Rounds alternate which implementation
// goes first; an untimed warm-up pass comes before the first round.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startRedis } from '../scripts/redis-server.mjs';
import { Resp } from './resp.mjs';
import { measureFloor, measureRedisFloor } from './floor.mjs';
import { renderReport } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const argv = process.argv.slice(2);

function option(name) {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

const quick = argv.includes('--quick');
const GROUPS = ['add', 'worker', 'latency', 'memory', 'queues'];
const only = option('--only')?.split(',').map((s) => s.trim()).filter(Boolean) ?? GROUPS;
for (const g of only) {
  if (!GROUPS.includes(g)) throw new Error(`--only: unknown group "${g}" (groups: ${GROUPS.join(', ')})`);
}
const rounds = Number(option('--rounds') ?? (quick ? 1 : 3));
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
const write = argv.includes('--write') || (!quick && only.length === GROUPS.length);
const known = new Set(['--quick', '--only', '--rounds', '--write']);
for (const [i, a] of argv.entries()) {
  if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown option ${a}`);
  if (!a.startsWith('--') && !['--only', '--rounds'].includes(argv[i - 1])) throw new Error(`unexpected argument ${a}`);
}

// ---- Scenarios ------------------------------------------------------------

/** Ours and bullmq with a user's defaults. */
const IMPLS = ['ours', 'bullmq'];
/** Also each fast path: ours with removeOnComplete: true, and bee-queue (removeOnSuccess: true). */
const ALL_IMPLS = ['ours', 'bullmq', 'ours-fast', 'bee'];

const q = (full, short) => (quick ? short : full);
const fmtK = (n) => n.toLocaleString('en-US');

function scenarios() {
  const list = [];
  const adds = [
    ['addBulk', 'addBulk', '(batches of 1,000)', q(50000, 10000), { mode: 'bulk', batch: 1000, warm: 5000 }],
    ['add-1', 'add, one at a time', '', q(10000, 2000), { mode: 'single', inFlight: 1, warm: 1000 }],
    ['add-100', 'add, 100 in flight', '', q(30000, 5000), { mode: 'single', inFlight: 100, warm: 2000 }],
  ];
  for (const [id, what, how, jobs, params] of adds) {
    const label = id === 'addBulk' ? `${what} ${fmtK(jobs)} jobs ${how}` : `${what} (${fmtK(jobs)} jobs)`;
    list.push({ group: 'add', id, label, scenario: 'add', impls: ALL_IMPLS, params: { ...params, jobs } });
  }
  for (const instances of [1, 4]) {
    for (const concurrency of [1, 10, 100, 1000]) {
      const jobs = concurrency === 1 ? q(10000, 2000) * (instances === 1 ? 1 : 2) : q(30000, 5000);
      list.push({
        group: 'worker',
        id: `worker-c${concurrency}-x${instances}`,
        label: `Worker c=${fmtK(concurrency)}, ${instances} instance${instances > 1 ? 's' : ''} (${fmtK(jobs)} jobs)`,
        scenario: 'worker',
        impls: concurrency === 1000 ? IMPLS : ALL_IMPLS,
        concurrency,
        instances,
        params: { jobs, warm: 500, concurrency, instances },
      });
    }
  }
  // Redis on one core and the workers on the other, as production runs Redis
  // on its own machine (needs taskset and two cores; n/a otherwise).
  for (const concurrency of [1, 100]) {
    const jobs = concurrency === 1 ? q(10000, 2000) : q(30000, 5000);
    list.push({
      group: 'worker',
      id: `worker-c${concurrency}-x1-pinned`,
      label: `Worker c=${fmtK(concurrency)}, 1 instance, Redis pinned to CPU 0 and the workers to CPU 1 (${fmtK(jobs)} jobs)`,
      scenario: 'worker',
      impls: ALL_IMPLS,
      pinned: true,
      concurrency,
      instances: 1,
      params: { jobs, warm: 500, concurrency, instances: 1 },
    });
  }
  const samples = q(300, 50);
  list.push({
    group: 'latency',
    id: 'latency',
    label: `pick-up latency, idle worker (${samples} jobs)`,
    scenario: 'latency',
    impls: ALL_IMPLS,
    params: { samples, warm: 20 },
  });
  const backlog = q(100000, 20000);
  list.push({
    group: 'memory',
    id: 'memory',
    label: `${fmtK(backlog)} waiting jobs, Worker c=1,000`,
    scenario: 'worker',
    impls: IMPLS,
    params: { jobs: backlog, warm: 1000, concurrency: 1000, instances: 1, sampleRss: true },
  });
  list.push({
    group: 'queues',
    id: 'idle-100',
    label: '100 queues, a Queue and a Worker each, idle',
    scenario: 'idle',
    impls: IMPLS,
    params: { queues: 100, idleMs: q(10000, 3000) },
  });
  return list.filter((s) => only.includes(s.group));
}

// ---- Running ----------------------------------------------------------------

const prefix = `bench${process.pid}`;
let serial = 0;

function runChild(spec, timeoutMs = 600000, cpu = undefined) {
  return new Promise((resolve) => {
    const args = [join(here, 'run.mjs'), JSON.stringify(spec)];
    const [cmd, argv] = cpu === undefined ? [process.execPath, args] : ['taskset', ['-c', String(cpu), process.execPath, ...args]];
    const child = spawn(cmd, argv, {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, BULLMQ_NATIVE_LOG: '' },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (!line) {
        resolve({ error: `child exited (${signal ?? code}) without a result:\n${out.trim()}` });
        return;
      }
      resolve(JSON.parse(line.slice('RESULT '.length)));
    });
  });
}

async function clean(redis, ownServer) {
  if (ownServer) {
    await redis.command('FLUSHDB');
    return;
  }
  let cursor = '0';
  do {
    const [next, keys] = await redis.command('SCAN', cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.command('UNLINK', ...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** One measured run of one implementation: clean Redis, fill if needed, run. */
async function runOnce(s, impl, ctx) {
  if (s.pinned && !ctx.pinned) return { na: ctx.pinnedNa ?? 'no pinned Redis' };
  const { redis, url, ownServer } = s.pinned ? ctx.pinned : ctx;
  const cpu = s.pinned ? 1 : undefined;
  await clean(redis, ownServer);
  const queue = `${s.id}-${impl}-${++serial}`;
  const base = { impl, url, prefix, queue };
  if (s.scenario === 'worker') {
    const filled = await runChild({
      ...base,
      scenario: 'fill',
      params: { queues: [{ queue, jobs: s.params.jobs }, { queue: `${queue}-warm`, jobs: s.params.warm }] },
    }, undefined, cpu);
    if (filled.error || filled.na) return filled;
  }
  return runChild({ ...base, scenario: s.scenario, params: s.params }, undefined, cpu);
}

/**
 * A second redis-server pinned to CPU 0 (the pinned rows' runs are pinned to
 * CPU 1), when the machine has two cores and taskset; else why not.
 */
async function startPinnedRedis() {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  if (cores < 2) return { na: 'needs two cores' };
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  } catch {
    return { na: 'taskset is not available' };
  }
  const server = await startRedis();
  execFileSync('taskset', ['-a', '-p', '-c', '0', String(server.process.pid)], { stdio: 'ignore' });
  const redis = await Resp.connect(server.url);
  return { server, redis, url: server.url, ownServer: true };
}

function progress(text) {
  process.stderr.write(`${text}\n`);
}

function describeRun(r) {
  if (r.na) return `n/a (${r.na})`;
  if (r.error) return `ERROR ${r.error.split('\n')[0]}`;
  if (r.connections !== undefined) {
    return `${r.connections} connections, idle Redis CPU ${r.idleRedisCpuPct.toFixed(2)}% (alone ${r.aloneRedisCpuPct.toFixed(2)}%), idle client CPU ${r.idleClientCpuPct.toFixed(2)}%`;
  }
  const parts = [];
  if (r.opsPerSec !== undefined) parts.push(`${Math.round(r.opsPerSec).toLocaleString('en-US')} jobs/s`);
  if (r.p50Ms !== undefined) parts.push(`p50 ${r.p50Ms.toFixed(2)} ms p99 ${r.p99Ms.toFixed(2)} ms`);
  parts.push(`Redis ${r.redisUsPerJob.toFixed(1)} µs/job`, `client ${r.clientUsPerJob.toFixed(1)} µs/job`);
  parts.push(`RSS ${r.peakRssMB.toFixed(0)} MB`);
  return parts.join(', ');
}

// ---- Machine facts ------------------------------------------------------------

function git(args) {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Which cargo profile built the loaded .node file (release is what counts). */
function nativeBuild() {
  const node = readdirSync(root).find((f) => f.startsWith('bullmq-native.') && f.endsWith('.node'));
  if (!node) return 'missing (run npm run build)';
  const bytes = readFileSync(join(root, node));
  const targetDir = process.env.CARGO_TARGET_DIR || join(root, 'target');
  if (!existsSync(targetDir)) return 'unknown (no target/ directory)';
  const dirs = [targetDir, ...readdirSync(targetDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && /-(linux|darwin|windows)/.test(d.name))
    .map((d) => join(targetDir, d.name))];
  for (const profile of ['release', 'debug']) {
    for (const dir of dirs) {
      for (const file of ['libbullmq_native.so', 'libbullmq_native.dylib', 'bullmq_native.dll']) {
        const lib = join(dir, profile, file);
        if (existsSync(lib) && statSync(lib).size === bytes.length && readFileSync(lib).equals(bytes)) {
          return profile;
        }
      }
    }
  }
  return 'unknown (not found under target/)';
}

async function machine(redis) {
  const server = await redis.info('server');
  const cpus = os.cpus();
  const head = git(['rev-parse', '--short', 'HEAD']);
  // The report this run rewrites does not count as a change.
  const dirty = git(['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/RESULTS.md']);
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    nproc: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    cpu: cpus[0]?.model ?? 'unknown',
    memGB: os.totalmem() / 1024 ** 3,
    redis: server.redis_version,
    node: process.version,
    bullmq: JSON.parse(readFileSync(join(root, 'node_modules/bullmq/package.json'), 'utf8')).version,
    bee: JSON.parse(readFileSync(join(root, 'node_modules/bee-queue/package.json'), 'utf8')).version,
    ours: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version,
    commit: head ? `${head}${dirty ? ' (with uncommitted changes)' : ''}` : 'unknown',
    build: nativeBuild(),
    loadBefore: os.loadavg(),
  };
}

// ---- Main ----------------------------------------------------------------------

async function main() {
  if (!existsSync(join(root, 'dist/esm/index.mjs'))) {
    throw new Error('dist/ is missing: run `npm run build` (release native build + TypeScript) first');
  }
  let server;
  let url = process.env.REDIS_URL;
  const ownServer = !url;
  if (ownServer) {
    server = await startRedis();
    url = server.url;
  }
  const redis = await Resp.connect(url);
  const started = Date.now();
  let ctx;
  try {
    const facts = await machine(redis);
    if (facts.build !== 'release') {
      progress(`WARNING: the native module is not the release build (${facts.build}); run \`npm run build:native\`.`);
    }
    ctx = { redis, url, ownServer };
    const list = scenarios();
    const results = new Map(list.map((s) => [s.id, Object.fromEntries(s.impls.map((i) => [i, []]))]));
    const na = new Map();
    if (list.some((s) => s.pinned)) {
      const pinned = await startPinnedRedis();
      if (pinned.na) ctx.pinnedNa = pinned.na;
      else ctx.pinned = pinned;
    }

    progress(`bench: Redis ${facts.redis} at ${url}${ownServer ? ' (started for the bench)' : ''}; ${rounds} round(s)`);
    // Untimed warm-up pass: each implementation once through a small add and worker run.
    progress('warm-up (untimed)...');
    for (const impl of ALL_IMPLS) {
      const warmAdd = { id: 'warm-add', scenario: 'add', params: { mode: 'bulk', jobs: 5000, batch: 1000, warm: 1000 } };
      await runOnce(warmAdd, impl, ctx);
      if (list.some((s) => s.scenario === 'worker' || s.scenario === 'latency')) {
        const warmWorker = { id: 'warm-worker', scenario: 'worker', params: { jobs: 2000, warm: 200, concurrency: 10, instances: 1 } };
        const r = await runOnce(warmWorker, impl, ctx);
        if (r.na) {
          na.set(impl, r.na);
          progress(`  ${impl}: Worker with a processor: n/a (${r.na})`);
        }
      }
    }

    for (const s of list) {
      progress(`${s.label}`);
      const needsProcessor = s.scenario === 'worker' || s.scenario === 'latency';
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? s.impls : [...s.impls].reverse();
        for (const impl of order) {
          if (needsProcessor && na.has(impl)) {
            if (round === 0) results.get(s.id)[impl].push({ na: na.get(impl) });
            continue;
          }
          const r = await runOnce(s, impl, ctx);
          progress(`  round ${round + 1} ${impl.padEnd(6)} ${describeRun(r)}`);
          results.get(s.id)[impl].push(r);
          if (r.na && !s.pinned) na.set(impl, r.na);
        }
      }
    }
    await clean(redis, ownServer);
    if (list.some((s) => s.group === 'worker')) {
      progress('floor: one round trip per job (redis-benchmark -c 1)...');
      facts.floor = await measureFloor({ url, redis, runOnce: (s, impl) => runOnce(s, impl, ctx), prefix, quick });
      progress(`  ${facts.floor.na ? `n/a (${facts.floor.na})` : `${Math.round(facts.floor.callsPerSec).toLocaleString('en-US')} calls/s, ${facts.floor.commands} data commands per call`}`);
      await clean(redis, ownServer);
    }
    // The Redis floors: the data commands of a typical batch call, alone.
    const eventsOf = (event) => (commands) =>
      commands.filter(([c, ...args]) => c.toUpperCase() === 'XADD' && args.includes(event)).length;
    const redisFloors = [
      ['worker', 'redisFloorWorker', 'Worker c=100 (finish and fetch-next)', { id: 'floor-c100', scenario: 'worker', params: { jobs: q(10000, 3000), warm: 200, concurrency: 100, instances: 1 } }, eventsOf('completed')],
      ['add', 'redisFloorAdd', 'addBulk (batches of 1,000)', { id: 'floor-add', scenario: 'add', params: { mode: 'bulk', batch: 1000, warm: 1000, jobs: q(5000, 2000) } }, eventsOf('added')],
    ];
    for (const [group, key, what, scenario, jobsOf] of redisFloors) {
      if (!only.includes(group)) continue;
      progress(`Redis floor: ${what}, its data commands alone...`);
      facts[key] = await measureRedisFloor({ url, redis, runOnce: (s, impl) => runOnce(s, impl, ctx), prefix, scenario, jobsOf, quick });
      const f = facts[key];
      progress(`  ${f.na ? `n/a (${f.na})` : `${f.redisUsPerJob.toFixed(1)} µs/job, ${f.jobsPerCall} jobs and ${f.commands} data commands per call`}`);
      await clean(redis, ownServer);
    }
    facts.loadAfter = os.loadavg();
    facts.minutes = (Date.now() - started) / 60000;
    const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
    const report = renderReport({ facts, command, list, results, rounds, quick });
    process.stdout.write(`\n${report}`);
    if (write) {
      writeFileSync(join(here, 'RESULTS.md'), report);
      progress('\nwritten to bench/RESULTS.md');
    }
  } finally {
    redis.close();
    if (server) await server.stop();
    if (ctx?.pinned) {
      ctx.pinned.redis.close();
      await ctx.pinned.server.stop();
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
