// The physical floor of the c=1 Worker: one round trip per job. A c=1 worker
// of ours is watched with MONITOR while it runs; the commands that its most
// frequent script call (finish a job and fetch the next) ran inside Redis are
// turned into one script that runs the same data commands, with the same
// arguments, on keys of their own; `redis-benchmark -c 1` then calls that
// script back to back. Its calls per second are what a client that needed one
// round trip and these commands per job could reach at best on this machine.
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

/** A script running `commands` (keys moved under `floor:`), as Lua source. */
function replayScript(commands, prefix) {
  const body = commands.map(([cmd, ...args]) => {
    const moved = args.map((a) => (a.startsWith(`${prefix}:`) ? `floor:${a}` : a));
    return `redis.pcall(${[cmd, ...moved].map(luaString).join(', ')})`;
  });
  return `${body.join('\n')}\nreturn 1`;
}

/**
 * Measures the floor: `runOnce(scenario, 'ours')` runs a c=1 worker while
 * MONITOR records; returns { callsPerSec, redisUsPerCall, commands, names } or { na }.
 */
export async function measureFloor({ url, redis, runOnce, quick }) {
  const u = new URL(url);
  const host = u.hostname;
  const port = u.port || '6379';
  for (const tool of ['redis-cli', 'redis-benchmark']) {
    try {
      execFileSync(tool, ['--version'], { stdio: 'ignore' });
    } catch {
      return { na: `${tool} is not installed` };
    }
  }
  const monitor = spawn('redis-cli', ['-h', host, '-p', port, 'monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  monitor.stdout.on('data', (d) => {
    out += d;
  });
  await new Promise((r) => setTimeout(r, 200));
  const scenario = { id: 'floor', scenario: 'worker', params: { jobs: 200, warm: 20, concurrency: 1, instances: 1 } };
  const run = await runOnce(scenario, 'ours');
  monitor.kill('SIGTERM');
  await new Promise((r) => monitor.once('exit', r));
  if (run.error || run.na) return { na: `the watched worker run failed: ${(run.error ?? run.na).split('\n')[0]}` };
  const calls = scriptCalls(out.split('\n')).filter((c) => c.commands.length > 0);
  const counts = new Map();
  for (const c of calls) counts.set(c.script, (counts.get(c.script) ?? 0) + 1);
  const [top] = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  if (!top) return { na: 'MONITOR saw no script call' };
  const ofTop = calls.filter((c) => c.script === top[0]);
  // A call from the middle of the run: the steady state, a job finished and the next fetched.
  const sample = ofTop[Math.floor(ofTop.length / 2)];
  const prefix = sample.commands.flat().find((a) => /^bench\d+:/.test(a))?.split(':')[0] ?? 'bull';
  const sha = await redis.command('SCRIPT', 'LOAD', replayScript(sample.commands, prefix));
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
