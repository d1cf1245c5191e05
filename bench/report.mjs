// Turns the runs of bench/index.mjs into the Markdown report printed on the
// console and written to bench/RESULTS.md: machine facts, the targets (met /
// not met, with the distance), and one table per group with, for every
// scenario, ours, bullmq and the ratio ours/bullmq, and where bee-queue ran,
// both fast paths (ours with removeOnComplete: true, bee-queue with
// removeOnSuccess: true) and their ratio.

const METRICS = [
  'opsPerSec', 'redisUsPerJob', 'clientUsPerJob', 'peakRssMB', 'p50Ms', 'p99Ms', 'rssEarlyMB', 'rssLateMB',
  'redisScriptUsPerJob', 'redisCommandUsPerJob', 'redisCommandsPerJob',
  'connections', 'idleRedisCpuPct', 'aloneRedisCpuPct', 'addedRedisCpuPct', 'idleClientCpuPct',
];

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Medians of one implementation's runs, or its n/a / error status. */
function summarize(runs) {
  const ok = runs.filter((r) => !r.na && !r.error);
  if (ok.length === 0) {
    const na = runs.find((r) => r.na);
    if (na) return { na: na.na };
    const err = runs.find((r) => r.error);
    return { error: err ? err.error.split('\n')[0] : 'not run' };
  }
  const out = { runs: ok };
  for (const m of METRICS) out[m] = median(ok.map((r) => r[m]));
  return out;
}

const int = (n) => Math.round(n).toLocaleString('en-US');
const dec = (n, d = 1) => (n === undefined ? '–' : n.toFixed(d));
const kilo = (n) => (n >= 10000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : `${Math.round(n)}`);
const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? '–' : `${(a / b).toFixed(2)}×`);

function statusCell(s) {
  if (s.na) return `n/a (${s.na})`;
  return `error: ${s.error}`;
}

/** Row names of the implementations, and the ratio rows: [numerator, denominator, title]. */
const IMPL_NAMES = { ours: 'ours', bullmq: 'bullmq', 'ours-fast': 'ours, removeOnComplete', bee: 'bee-queue, removeOnSuccess' };
const RATIOS = [
  ['ours', 'bullmq', 'ours/bullmq'],
  ['ours-fast', 'bee', 'ours/bee-queue (fast paths)'],
];
const usable = (x) => x && !x.na && !x.error;

/**
 * A Markdown table with, per scenario, a row for each implementation run and
 * one for each ratio (ours/bullmq, and the fast paths ours/bee-queue). Each
 * column: title, alignment, the cell of one implementation's medians, and the
 * metric its ratio is of (none: no ratio; bold: the column the scenario is
 * about).
 */
function table(list, sums, columns) {
  const rows = [
    `| Scenario | | ${columns.map((c) => c.title).join(' | ')} |`,
    `|---|---|${columns.map((c) => (c.align === 'left' ? '---' : '--:')).join('|')}|`,
  ];
  for (const s of list) {
    const sum = sums.get(s.id);
    const impls = Object.keys(sum);
    const line = (impl, first) => {
      const x = sum[impl];
      const head = `| ${first ? s.label : ''} | ${IMPL_NAMES[impl] ?? impl} |`;
      if (!usable(x)) return `${head} ${statusCell(x)} |${' |'.repeat(columns.length - 1)}`;
      return `${head} ${columns.map((c) => c.cell(x)).join(' | ')} |`;
    };
    impls.forEach((impl, i) => rows.push(line(impl, i === 0)));
    for (const [a, b, title] of RATIOS) {
      if (!usable(sum[a]) || !usable(sum[b])) continue;
      const cells = columns.map((c) => {
        if (!c.metric) return '';
        const r = ratio(sum[a][c.metric], sum[b][c.metric]);
        return c.bold ? `**${r}**` : r;
      });
      rows.push(`| | **${title}** | ${cells.join(' | ')} |`);
    }
  }
  return rows.join('\n');
}

const perRound = (metric, fmt) => (x) => x.runs.map((r) => fmt(r[metric])).join(' / ');
const cpuColumns = [
  { title: 'Redis µs/job', cell: (x) => dec(x.redisUsPerJob), metric: 'redisUsPerJob' },
  { title: 'client µs/job', cell: (x) => dec(x.clientUsPerJob), metric: 'clientUsPerJob' },
];

function throughputTable(list, sums) {
  return table(list, sums, [
    { title: 'jobs/s', cell: (x) => int(x.opsPerSec), metric: 'opsPerSec', bold: true },
    { title: 'per round', align: 'left', cell: perRound('opsPerSec', kilo) },
    ...cpuColumns,
    { title: 'peak RSS MB', cell: (x) => dec(x.peakRssMB, 0), metric: 'peakRssMB' },
  ]);
}

function latencyTable(list, sums) {
  return table(list, sums, [
    { title: 'p50 ms', cell: (x) => dec(x.p50Ms, 2), metric: 'p50Ms' },
    { title: 'p99 ms', cell: (x) => dec(x.p99Ms, 2), metric: 'p99Ms', bold: true },
    { title: 'p99 per round', align: 'left', cell: perRound('p99Ms', (v) => dec(v, 2)) },
    ...cpuColumns,
    { title: 'peak RSS MB', cell: (x) => dec(x.peakRssMB, 0), metric: 'peakRssMB' },
  ]);
}

function memoryTable(list, sums) {
  return table(list, sums, [
    { title: 'jobs/s', cell: (x) => int(x.opsPerSec), metric: 'opsPerSec' },
    { title: 'RSS MB, 20-40% of jobs', cell: (x) => dec(x.rssEarlyMB, 0), metric: 'rssEarlyMB' },
    { title: 'RSS MB, last 20% of jobs', cell: (x) => dec(x.rssLateMB, 0), metric: 'rssLateMB' },
    { title: 'peak RSS MB', cell: (x) => dec(x.peakRssMB, 0), metric: 'peakRssMB', bold: true },
    ...cpuColumns,
  ]);
}

/** Many idle queues: what they hold open and what idling costs. */
function idleTable(list, sums) {
  return table(list, sums, [
    { title: 'connections', cell: (x) => int(x.connections), metric: 'connections', bold: true },
    { title: 'idle Redis CPU %', cell: (x) => dec(x.idleRedisCpuPct, 2), metric: 'idleRedisCpuPct', bold: true },
    { title: 'Redis alone, CPU %', cell: (x) => dec(x.aloneRedisCpuPct, 2) },
    { title: 'added by the queues, CPU %', cell: (x) => dec(x.addedRedisCpuPct, 2), metric: 'addedRedisCpuPct' },
    { title: 'idle client CPU %', cell: (x) => dec(x.idleClientCpuPct, 2), metric: 'idleClientCpuPct' },
  ]);
}

/**
 * Where Redis' time per job goes (INFO commandstats around the timed part):
 * the data commands themselves (those scripts run included) are the part any
 * client writing BullMQ's layout pays; the rest is script overhead and the
 * cost of requests (network, event loop).
 */
function redisSplitTable(list, sums) {
  const overhead = (x) => x.redisScriptUsPerJob - x.redisCommandUsPerJob;
  return table(list, sums, [
    { title: 'Redis CPU µs/job', cell: (x) => dec(x.redisUsPerJob), metric: 'redisUsPerJob', bold: true },
    { title: 'in scripts µs/job', cell: (x) => dec(x.redisScriptUsPerJob), metric: 'redisScriptUsPerJob' },
    { title: 'data commands µs/job', cell: (x) => dec(x.redisCommandUsPerJob), metric: 'redisCommandUsPerJob' },
    { title: 'data commands per job', cell: (x) => dec(x.redisCommandsPerJob) },
    { title: 'script overhead µs/job', cell: (x) => dec(overhead(x)) },
  ]);
}

/** One line per target of the speed issue: met / not met and by how much. */
function targets(sums, facts) {
  const lines = [];
  const get = (id) => sums.get(id);
  const unavailable = (id, what, impls = ['ours', 'bullmq']) => {
    const s = get(id);
    if (!s) return `not measured (${what} not run)`;
    for (const impl of impls) {
      if (!s[impl]) return `not measured: ${IMPL_NAMES[impl]} not run`;
      if (s[impl].na) return `not measured: ${IMPL_NAMES[impl]}: n/a (${s[impl].na})`;
      if (s[impl].error) return `not measured: ${IMPL_NAMES[impl]} failed (${s[impl].error})`;
    }
    return undefined;
  };
  const speedup = (id, what, want, a = 'ours', b = 'bullmq') => {
    const peer = b === 'bee' ? 'bee-queue (fast paths: removeOnComplete / removeOnSuccess)' : b;
    const missing = unavailable(id, what, [a, b]);
    if (missing) return `${what}: at least ${want}× ${peer} — ${missing}`;
    const s = get(id);
    const r = s[a].opsPerSec / s[b].opsPerSec;
    const verdict = r >= want ? 'met' : `NOT met, ${(want / r).toFixed(2)}× short`;
    return `${what}: at least ${want}× ${peer} — ${verdict}: ${r.toFixed(2)}× (${int(s[a].opsPerSec)} vs ${int(s[b].opsPerSec)} jobs/s)`;
  };
  const ceiling = (id, what, max, floor) => {
    const missing = unavailable(id, what);
    if (missing) return `${what}: at most ${max} µs — ${missing}`;
    const { ours, bullmq } = get(id);
    const v = ours.redisUsPerJob;
    const verdict = v <= max ? 'met' : `NOT met, ${(v - max).toFixed(1)} µs over`;
    const limit =
      floor && !floor.na
        ? `; the data commands of the call alone (Redis floor) cost ${floor.redisUsPerJob.toFixed(1)} µs, ours is ${(v / floor.redisUsPerJob).toFixed(2)}× that`
        : '';
    return `${what}: at most ${max} µs — ${verdict}: ${v.toFixed(1)} µs (bullmq ${bullmq.redisUsPerJob.toFixed(1)} µs)${limit}`;
  };
  lines.push(speedup('worker-c100-x1', 'Worker c=100 (1 instance)', 3));
  lines.push(speedup('worker-c100-x1', 'Worker c=100 (1 instance)', 3, 'ours-fast', 'bee'));
  {
    const floor = facts.redisFloorWorker;
    const s = get('worker-c100-x1');
    if (floor && !floor.na && s && usable(s.ours) && usable(s.bullmq)) {
      const busy = (s.ours.opsPerSec * s.ours.redisUsPerJob) / 1e6;
      const most = 1e6 / floor.redisUsPerJob;
      lines.push(
        `(what limits it) Worker c=100: Redis was busy ${(busy * 100).toFixed(0)}% of its core; running only the data commands of our call (Redis floor), one core serves at most ${int(most)} jobs/s, ${(most / s.bullmq.opsPerSec).toFixed(2)}× bullmq`,
      );
    }
  }
  lines.push(ceiling('worker-c100-x1', 'Redis CPU per processed job (Worker c=100)', 12, facts.redisFloorWorker));
  lines.push(ceiling('addBulk', 'Redis CPU per added job (addBulk)', 6, facts.redisFloorAdd));
  {
    const what = 'Worker c=1 (1 instance): at least 0.8× the floor of one round trip per job';
    const floor = facts.floor;
    const missing = unavailable('worker-c1-x1', what);
    if (!floor) lines.push(`${what} — not measured (the floor was not run)`);
    else if (floor.na) lines.push(`${what} — not measured: floor n/a (${floor.na})`);
    else if (missing) lines.push(`${what} — ${missing}`);
    else {
      const { ours, bullmq } = get('worker-c1-x1');
      const r = ours.opsPerSec / floor.callsPerSec;
      const verdict = r >= 0.8 ? 'met' : `NOT met, ${(0.8 / r).toFixed(2)}× short`;
      lines.push(
        `${what} — ${verdict}: ${r.toFixed(2)}× (${int(ours.opsPerSec)} jobs/s vs a floor of ${int(floor.callsPerSec)} calls/s; bullmq ${(bullmq.opsPerSec / floor.callsPerSec).toFixed(2)}×)`,
      );
    }
  }
  {
    const what = 'No scenario below 1.0× bullmq';
    const below = [];
    let compared = 0;
    for (const [id, s] of sums) {
      if (!usable(s.ours) || !usable(s.bullmq)) continue;
      const metric = id === 'latency' ? 'p99Ms' : id === 'memory' ? 'peakRssMB' : 'opsPerSec';
      compared += 1;
      // Lower is better for latency and memory.
      const r = metric === 'opsPerSec' ? s.ours[metric] / s.bullmq[metric] : s.bullmq[metric] / s.ours[metric];
      if (r < 1) below.push(`${id} ${r.toFixed(2)}×`);
    }
    lines.push(`${what} — ${compared === 0 ? 'not measured' : below.length === 0 ? `met (${compared} scenarios)` : `NOT met: ${below.join(', ')}`}`);
  }
  lines.push(speedup('addBulk', 'addBulk', 2, 'ours', 'bee').replace('(fast paths: removeOnComplete / removeOnSuccess)', 'bulk add (saveAll)'));
  for (const id of ['add-1', 'add-100']) {
    if (get(id) && !unavailable(id, id)) {
      const { ours, bullmq } = get(id);
      lines.push(
        `(for reference) Redis CPU per added job, ${id === 'add-1' ? 'add one at a time' : 'add 100 in flight'}: ${ours.redisUsPerJob.toFixed(1)} µs (bullmq ${bullmq.redisUsPerJob.toFixed(1)} µs)`,
      );
    }
  }
  {
    const what = 'Pick-up latency p99 no worse than bullmq';
    const missing = unavailable('latency', 'latency');
    if (missing) lines.push(`${what} — ${missing}`);
    else {
      const { ours, bullmq } = get('latency');
      const verdict = ours.p99Ms <= bullmq.p99Ms ? 'met' : `NOT met, ${(ours.p99Ms - bullmq.p99Ms).toFixed(2)} ms worse`;
      lines.push(`${what} — ${verdict}: ${ours.p99Ms.toFixed(2)} ms vs ${bullmq.p99Ms.toFixed(2)} ms (p50 ${ours.p50Ms.toFixed(2)} vs ${bullmq.p50Ms.toFixed(2)} ms)`);
    }
  }
  {
    const what = 'Memory flat with the backlog at concurrency 1,000';
    const missing = unavailable('memory', 'memory');
    if (missing) lines.push(`${what} — ${missing}`);
    else {
      const { ours, bullmq } = get('memory');
      const small = get('worker-c1000-x1');
      const checks = [];
      let ok = ours.rssLateMB <= ours.rssEarlyMB * 1.25;
      checks.push(
        `${ours.rssLateMB.toFixed(0)} MB during the last 20% of jobs vs ${ours.rssEarlyMB.toFixed(0)} MB during 20-40% (peak ${ours.peakRssMB.toFixed(0)} MB)`,
      );
      if (small && usable(small.ours)) {
        ok = ok && ours.peakRssMB <= small.ours.peakRssMB * 1.25;
        checks.push(`peak vs ${small.ours.peakRssMB.toFixed(0)} MB peak with the smaller backlog of the Worker c=1,000 row`);
      }
      lines.push(
        `${what} (RSS late in the run within 1.25× of RSS early in it, and peak within 1.25× of the small-backlog run's) — ${ok ? 'met' : 'NOT met'}: ours ${checks.join(', ')}; bullmq peak ${bullmq.peakRssMB.toFixed(0)} MB`,
      );
    }
  }
  return lines.map((l) => `- ${l}`).join('\n');
}

/** The floor row: one round trip per job, as redis-benchmark measured it. */
function floorSection(floor, c1) {
  if (!floor) return undefined;
  const out = [
    '### Floor: one round trip per job',
    '',
    'A c=1 worker of ours ran under `MONITOR`; the data commands its most frequent script call ran ' +
      '(finish the job, fetch the next) were put in one script of their own, on keys of their own, which ' +
      '`redis-benchmark -c 1` called back to back: the most jobs per second a client needing one round trip ' +
      'and these commands per job could reach on this machine.',
    '',
    '| | calls or jobs/s | of the floor |',
    '|---|--:|--:|',
  ];
  if (floor.na) {
    out.push(`| floor | n/a (${floor.na}) | |`);
    return out.join('\n');
  }
  out.push(`| floor (${floor.commands} data commands per call) | ${int(floor.callsPerSec)} | 1.00× |`);
  if (c1) {
    for (const [impl, x] of Object.entries(c1)) {
      if (usable(x)) out.push(`| Worker c=1, ${IMPL_NAMES[impl]} | ${int(x.opsPerSec)} | ${(x.opsPerSec / floor.callsPerSec).toFixed(2)}× |`);
    }
  }
  out.push('');
  out.push(`Commands of the call: ${floor.names.join(', ')}.`);
  out.push('', ...c1Breakdown(floor, c1));
  return out.join('\n');
}

/** The Redis floors of a group: [facts key, scenario id, what]. */
const REDIS_FLOORS = {
  worker: ['redisFloorWorker', 'worker-c100-x1', 'Worker c=100, 1 instance'],
  add: ['redisFloorAdd', 'addBulk', 'addBulk'],
};

/**
 * The Redis floor of a group's Redis-bound target: Redis' CPU per job when
 * it runs only the data commands of a typical call of ours, against what
 * each implementation cost it, and the throughput Redis could give at most
 * at each cost (one core busy).
 */
function redisFloorSection(group, facts, sums) {
  const [key, id, what] = REDIS_FLOORS[group] ?? [];
  const floor = key && facts[key];
  if (!floor) return undefined;
  const out = [
    `### Redis floor: ${what}, the data commands alone`,
    '',
    `A run of ours under \`MONITOR\`; of its most frequent script call, the call with the median number of jobs ` +
      'had its data commands replayed as one script by `redis-benchmark -c 10`, each replay on keys of its own ' +
      '(about 100,000 keys in all, the job hashes it reads copied in), so that only what these commands cost Redis ' +
      'is left: no script logic, arguments or reply of ours. "At most" is one core of Redis divided by the cost per job.',
    '',
    '| | Redis µs/job | of the floor | at most jobs/s (Redis-bound) | measured jobs/s |',
    '|---|--:|--:|--:|--:|',
  ];
  if (floor.na) {
    out.push(`| floor | n/a (${floor.na}) | | | |`);
    return out.join('\n');
  }
  out.push(`| floor (${floor.jobsPerCall} jobs, ${floor.commands} data commands per call) | ${dec(floor.redisUsPerJob)} | 1.00× | ${int(1e6 / floor.redisUsPerJob)} | – |`);
  for (const [impl, x] of Object.entries(sums.get(id) ?? {})) {
    if (!usable(x)) continue;
    out.push(
      `| ${IMPL_NAMES[impl]} | ${dec(x.redisUsPerJob)} | ${(x.redisUsPerJob / floor.redisUsPerJob).toFixed(2)}× | ${int(1e6 / x.redisUsPerJob)} | ${int(x.opsPerSec)} |`,
    );
  }
  out.push('', `Data commands of the call: ${Object.entries(floor.counts).map(([c, n]) => `${c} ×${n}`).join(', ')}.`);
  return out.join('\n');
}

/**
 * Where the time of one job goes at concurrency 1: the wall time per job
 * split into Redis' CPU, the client process' CPU (all its threads), and the
 * rest, when neither side computes: the loopback round trip, and the
 * wake-ups of the threads and processes that pass the job along.
 */
function c1Breakdown(floor, c1) {
  const out = [
    '#### Per-job time at concurrency 1',
    '',
    '| | wall µs/job | Redis CPU µs/job | client CPU µs/job | neither busy µs/job |',
    '|---|--:|--:|--:|--:|',
  ];
  const wall = 1e6 / floor.callsPerSec;
  // redis-benchmark's own CPU is not measured: its part is in "neither".
  out.push(`| floor (redis-benchmark -c 1) | ${dec(wall)} | ${dec(floor.redisUsPerCall)} | – | ${dec(wall - floor.redisUsPerCall)} |`);
  for (const [impl, x] of Object.entries(c1 ?? {})) {
    if (!usable(x)) continue;
    const w = 1e6 / x.opsPerSec;
    // Both sides can be busy at once (the client finishing one job while Redis runs the next call).
    const rest = Math.max(0, w - x.redisUsPerJob - x.clientUsPerJob);
    out.push(`| Worker c=1, ${IMPL_NAMES[impl]} | ${dec(w)} | ${dec(x.redisUsPerJob)} | ${dec(x.clientUsPerJob)} | ${dec(rest)} |`);
  }
  return out;
}

export function renderReport({ facts, command, list, results, rounds, quick }) {
  const sums = new Map();
  for (const s of list) {
    const r = results.get(s.id);
    sums.set(s.id, Object.fromEntries(Object.entries(r).map(([impl, runs]) => [impl, summarize(runs)])));
  }
  const load = (l) => l.map((x) => x.toFixed(2)).join(' / ');
  const groups = [
    ['Adding jobs', 'add', throughputTable],
    ['Processing: no-op Worker', 'worker', throughputTable],
    ['Pick-up latency (add → processor called, idle worker)', 'latency', latencyTable],
    ['Memory', 'memory', memoryTable],
    ['Many queues in one process', 'queues', idleTable],
  ];
  const out = [];
  out.push('# Benchmark results');
  out.push('');
  out.push(
    `bullmq-native ${facts.ours} (commit ${facts.commit}, native build: ${facts.build}) against the official bullmq ${facts.bullmq} ` +
      `and bee-queue ${facts.bee}, on the same Redis in the same run. bee-queue runs on its fast path (\`removeOnSuccess: true\`) ` +
      `and is compared with ours on ours (\`removeOnComplete: true\`); the pinned rows run Redis on CPU 0 and the clients on CPU 1.${quick ? ' **Quick run**: fewer jobs, not representative.' : ''}`,
  );
  out.push('');
  out.push('| | |');
  out.push('|---|---|');
  out.push(`| Command | \`${command}\` |`);
  out.push(`| Date | ${facts.date} |`);
  out.push(`| CPU | ${facts.cpu}, ${facts.nproc} cores (nproc), ${facts.memGB.toFixed(1)} GB RAM |`);
  out.push(`| Redis | ${facts.redis}, loopback, no persistence |`);
  out.push(`| Node | ${facts.node} |`);
  out.push(`| Load average (1 / 5 / 15 min) | before ${load(facts.loadBefore)}, after ${load(facts.loadAfter)} |`);
  out.push(`| Rounds | ${rounds} per implementation, alternating which goes first; medians shown |`);
  out.push(`| Runtime | ${facts.minutes.toFixed(1)} min |`);
  out.push('');
  out.push(
    'Every run is a fresh Node process loading one implementation; Redis CPU is the `INFO cpu` delta ' +
      '(used_cpu_user + used_cpu_sys) around the timed part, client CPU is `process.cpuUsage()` of the ' +
      'process (all its threads), peak RSS is `process.resourceUsage().maxRSS`. Redis is emptied between runs. ' +
      'Worker runs process jobs added beforehand by a separate process of the same implementation. ' +
      'A load average near or above the core count means other work shared the machine and the figures are noisy.',
  );
  const busy = Math.max(facts.loadBefore[0], facts.loadAfter[0]);
  if (busy >= facts.nproc * 0.75) {
    out.push('');
    out.push(
      `**Note: the machine was busy** (1-minute load average up to ${busy.toFixed(2)} on ${facts.nproc} cores): ` +
        'other processes shared the CPUs during this run, so absolute figures are lower and noisier than on an idle ' +
        'machine. Both implementations ran under the same conditions, alternating, so the ratios are the figures to read.',
    );
  }
  out.push('');
  out.push('## Targets (ours against bullmq, same run)');
  out.push('');
  out.push(targets(sums, facts));
  for (const [title, group, render] of groups) {
    const inGroup = list.filter((s) => s.group === group);
    if (inGroup.length === 0) continue;
    out.push('');
    out.push(`## ${title}`);
    out.push('');
    out.push(render(inGroup, sums));
    if (group === 'worker') {
      const floor = floorSection(facts.floor, sums.get('worker-c1-x1'));
      if (floor) out.push('', floor);
    }
    const redisFloor = redisFloorSection(group, facts, sums);
    if (redisFloor) out.push('', redisFloor);
  }
  const split = list.filter((s) => s.group === 'add' || s.group === 'worker');
  if (split.length > 0) {
    out.push('');
    out.push("## Where Redis' time goes");
    out.push('');
    out.push(
      'From `INFO commandstats` read before and after the timed part: times Redis measures around each call ' +
        '(wall-clock, so close to CPU time only when nothing else shares the machine). *In scripts* is the time of ' +
        'the script calls (EVALSHA), commands they run included. *Data commands* is the time of the commands that ' +
        'read and write the queue (HSET, XADD, SET, LREM, ZADD, ...), those run inside scripts included: what ' +
        "writing BullMQ's layout costs whoever writes it. *Script overhead* is script time minus command time " +
        '(Lua, argument and reply conversion). The rest of the Redis CPU goes to reading requests, writing replies ' +
        'and the event loop.',
    );
    out.push('');
    out.push(redisSplitTable(split, sums));
  }
  out.push('');
  return out.join('\n');
}
