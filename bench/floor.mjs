// The physical floor of the c=1 Worker: one round trip per job. A c=1 worker
// of ours is watched with MONITOR while it runs; the commands that its most
// frequent script call (finish a job and fetch the next) ran inside Redis are
// turned into one script that runs the same data commands, with the same
// arguments, on keys of their own; `redis-benchmark -c 1` then calls that
// script back to back. Its calls per second are what a client that needed one
// round trip and these commands per job could reach at best on this machine.
//
// The Redis floor of the Redis-bound targets (Redis CPU per job of the c=100
// Worker and of addBulk) is measured the same way: a typical call of ours
// under MONITOR, its data commands replayed as one script, each replay on
// keys of its own among many (as a real run meets keys it has not touched
// yet), Redis' CPU per job of the call counted around `redis-benchmark`.
import { spawn, execFileSync } from 'node:child_process';

/** One MONITOR line: [source, command, ...args], or undefined. */
function parseMonitorLine(line) {
  const m = /^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
  if (!m) return undefined;
  const args = [];
  const re = /"((?:[^"\\]|\\.)*)"/g;
  let a;
  while ((a = re.exec(m[2]))) args.push(unescape(a[1]));
  return [m[1], ...args];
}

/** MONITOR's escapes (\", \\, \n, \r, \t, \xHH) back to the bytes (as latin1 text). */
function unescape(s) {
  return s.replace(/\\(x[0-9a-f]{2}|.)/g, (_, e) => {
    if (e[0] === 'x' && e.length === 3) return String.fromCharCode(parseInt(e.slice(1), 16));
    return { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }[e] ?? e;
  });
}

/** Script calls seen (EVALSHA / FCALL from a client), each with the commands it ran. */
function scriptCalls(lines) {
  const calls = [];
  let current;
  for (const line of lines) {
    const parsed = parseMonitorLine(line);
    if (!parsed) continue;
    const [source, cmd, ...args] = parsed;
    if (source === 'lua') {
      current?.commands.push([cmd, ...args]);
      continue;
    }
    current = undefined;
    const name = cmd.toUpperCase();
    if (name === 'EVALSHA' || name === 'FCALL' || name === 'EVAL') {
      current = { script: `${name} ${name === 'EVAL' ? args[0].length : args[0]}`, commands: [] };
      calls.push(current);
    }
  }
  return calls;
}

const luaString = (s) => `"${[...s].map((c) => { const n = c.charCodeAt(0); return n < 32 || n > 126 || c === '"' || c === '\\' ? `\\${String(n).padStart(3, '0')}` : c; }).join('')}"`;

/** A predicate: the argument is a key of the bench's (`prefix`). */
const ownKey = (prefix) => (a) => a.startsWith(`${prefix}:`);

/**
 * The commands of a call as Lua lines, each key of the bench's written as
 * the Lua expression `key(arg)` gives, every other argument as it was.
 */
function replayLines(commands, prefix, key) {
  const own = ownKey(prefix);
  return commands.map(([cmd, ...args]) => {
    const parts = [luaString(cmd), ...args.map((a) => (own(a) ? key(a) : luaString(a)))];
    // A call takes at most about 250 values in registers; a table does not.
    return parts.length > 100 ? `redis.pcall(unpack({${parts.join(', ')}}))` : `redis.pcall(${parts.join(', ')})`;
  });
}

/** Host and port of `url`, and what is missing to measure a floor there (undefined: nothing). */
function floorServer(url) {
  const u = new URL(url);
  return { host: u.hostname, port: u.port || '6379', missing: toolsMissing() };
}

/** redis-cli and redis-benchmark are installed, or why not. */
function toolsMissing() {
  for (const tool of ['redis-cli', 'redis-benchmark']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  return undefined;
}

/**
 * Runs `scenario` for ours under MONITOR; returns { calls } (the script calls
 * on keys of `prefix`, the bench's, with the commands each ran, of the most
 * frequent script) or { na }. Other clients of a shared Redis are left out.
 */
async function watchOurCalls({ host, port, runOnce, scenario, prefix }) {
  const monitor = spawn('redis-cli', ['-h', host, '-p', port, 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  monitor.stdout.on('data', (d) => {
    out += d;
  });
  await new Promise((r) => setTimeout(r, 200));
  const run = await runOnce(scenario, 'ours');
  monitor.kill('SIGTERM');
  await new Promise((r) => monitor.once('exit', r));
  if (run.error || run.na) return { na: `the watched run failed: ${(run.error ?? run.na).split('\n')[0]}` };
  const own = ownKey(prefix);
  const ours = (c) => c.commands.some(([, ...args]) => args.some(own));
  const calls = scriptCalls(out.split('\n')).filter(ours);
  const counts = new Map();
  for (const c of calls) counts.set(c.script, (counts.get(c.script) ?? 0) + 1);
  const [top] = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  if (!top) return { na: 'MONITOR saw no script call' };
  return { calls: calls.filter((c) => c.script === top[0]) };
}

/**
 * Measures the floor: `runOnce(scenario, 'ours')` runs a c=1 worker while
 * MONITOR records; returns { callsPerSec, redisUsPerCall, commands, names } or { na }.
 */
export async function measureFloor({ url, redis, runOnce, prefix, quick }) {
  const { host, port, missing } = floorServer(url);
  if (missing) return { na: missing };
  const scenario = { id: 'floor', scenario: 'worker', params: { jobs: 200, warm: 20, concurrency: 1, instances: 1 } };
  const watched = await watchOurCalls({ host, port, runOnce, scenario, prefix });
  if (watched.na) return watched;
  const ofTop = watched.calls;
  // A call from the middle of the run: the steady state, a job finished and the next fetched.
  const sample = ofTop[Math.floor(ofTop.length / 2)];
  // Keys moved under "<prefix>:floor:", which the bench cleans.
  const lines = replayLines(sample.commands, prefix, (a) => luaString(`${prefix}:floor:${a}`));
  const sha = await redis.command('SCRIPT', 'LOAD', `${lines.join('\n')}\nreturn 1`);
  const n = quick ? 5000 : 20000;
  const cpu0 = await redis.cpuSeconds();
  const csv = execFileSync('redis-benchmark', ['-h', host, '-p', port, '-c', '1', '-n', String(n), '--csv', 'EVALSHA', sha, '0'], {
    encoding: 'utf8',
  });
  // Redis' own time per call (the benchmark client's PING and CONFIG included, a rounding error).
  const redisUsPerCall = (((await redis.cpuSeconds()) - cpu0) * 1e6) / n;
  const row = csv.trim().split('\n').find((l) => l.startsWith('"EVALSHA'));
  const callsPerSec = row ? Number(JSON.parse(`[${row}]`)[1]) : NaN;
  if (!Number.isFinite(callsPerSec)) return { na: `could not read redis-benchmark's output: ${csv.trim().split('\n').pop()}` };
  return {
    callsPerSec,
    redisUsPerCall,
    commands: sample.commands.length,
    names: sample.commands.map((c) => c[0].toUpperCase()),
  };
}

/** Keys the replays may spread over: about as many as a measured run touches. */
const FLOOR_KEYS = 100000;

/**
 * The Redis floor per job of a batch call: `scenario` runs for ours under
 * MONITOR; of its most frequent script, the call with the median number of
 * jobs (`jobsOf(commands)`) is replayed. Each replay takes its keys from one
 * of R key spaces (redis-benchmark's __rand_int__), R chosen so that the
 * key spaces hold about FLOOR_KEYS keys; hashes the call reads whole
 * (HGETALL) are first copied into every key space, as the job hashes a real
 * call reads exist. Returns { redisUsPerJob, jobsPerCall, commands, counts }
 * or { na }.
 */
export async function measureRedisFloor({ url, redis, runOnce, prefix, scenario, jobsOf, quick }) {
  const { host, port, missing } = floorServer(url);
  if (missing) return { na: missing };
  const watched = await watchOurCalls({ host, port, runOnce, scenario, prefix });
  if (watched.na) return watched;
  const sized = watched.calls.map((c) => ({ call: c, jobs: jobsOf(c.commands) })).filter((c) => c.jobs > 0);
  if (sized.length === 0) return { na: 'no call of the watched run handled a job' };
  sized.sort((a, b) => a.jobs - b.jobs);
  const { call: sample, jobs } = sized[Math.floor(sized.length / 2)];
  const keys = new Set(sample.commands.flatMap(([, ...args]) => args.filter(ownKey(prefix))));
  const spaces = Math.max(1, Math.round(FLOOR_KEYS / keys.size));
  // Key space i is "<prefix>:floor<i, 12 digits>:" (how redis-benchmark
  // writes __rand_int__), so that the bench's cleaning removes it.
  const read = [...new Set(sample.commands.filter(([c]) => c.toUpperCase() === 'HGETALL').map(([, k]) => k))];
  if (read.length > 0) {
    await redis.command(
      'EVAL',
      `for i = 0, ${spaces - 1} do local ns = '${prefix}:floor' .. string.format('%012d', i) .. ':' ` +
        "for _, k in ipairs(KEYS) do redis.call('COPY', k, ns .. k, 'REPLACE') end end return 1",
      String(read.length),
      ...read,
    );
  }
  const body = replayLines(sample.commands, prefix, (a) => `ns .. ${luaString(a)}`);
  const script = `local ns = '${prefix}:floor' .. ARGV[1] .. ':'\n${body.join('\n')}\nreturn 1`;
  const sha = await redis.command('SCRIPT', 'LOAD', script);
  const n = Math.max(200, Math.ceil((quick ? 10000 : 50000) / jobs));
  const cpu0 = await redis.cpuSeconds();
  // Ten clients keep Redis busy, as the measured runs do.
  execFileSync('redis-benchmark', ['-h', host, '-p', port, '-c', '10', '-r', String(spaces), '-n', String(n), '-q', 'EVALSHA', sha, '0', '__rand_int__'], {
    stdio: 'ignore',
  });
  const redisUsPerJob = (((await redis.cpuSeconds()) - cpu0) * 1e6) / (n * jobs);
  const counts = {};
  for (const [c] of sample.commands) counts[c.toUpperCase()] = (counts[c.toUpperCase()] ?? 0) + 1;
  return { redisUsPerJob, jobsPerCall: jobs, commands: sample.commands.length, counts };
}
