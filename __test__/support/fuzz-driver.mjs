// The fuzz run of __test__/fuzz.test.mjs, in a process of its own so that a
// crash is seen with the calls that led to it. A seeded PRNG picks calls over
// the public API (Queue, Worker manual and automatic, Job, QueueEvents,
// QueueEventsProducer, FlowProducer, JobScheduler) with valid and invalid
// arguments; each call is raced against a deadline.
//
// Output, one line each (stdout to a pipe is synchronous on Linux, so the
// lines written before a crash are there):
//   C <n> <call>            before call n runs
//   F <json>                a failure: {kind, call, detail}
//   S <n> <ms>              call n took more than a second (to see where the time goes)
//   D <json>                the run ended: {calls, ms, closeMs, failures}
// Failure kinds: `hang` (a call did not settle before the deadline),
// `non-error` (a call threw or rejected with something not an Error, or an
// `error`/`failed` event carried one), `internal` (a JS engine TypeError or
// RangeError from inside the package: a bug, not an argument check),
// `unhandled` (an unhandled rejection or uncaught exception).
//
// Redis stays up for the whole run (no `error` event while Redis is down is
// known issue (c), fixed elsewhere; not exercised here).
//
// Env: REDIS_URL, FUZZ_SEED, FUZZ_CALLS (default 5000), FUZZ_MS (time budget
// of the calls, default 40000).
import {
  DelayedError,
  FlowProducer,
  Job,
  JobScheduler,
  Queue,
  QueueEvents,
  QueueEventsProducer,
  RateLimitError,
  UnrecoverableError,
  WaitingChildrenError,
  Worker,
} from 'bullmq-native';
import { BullMQOtel } from 'bullmq-otel';

import { mulberry32 } from './prng.mjs';

const seed = Number(process.env.FUZZ_SEED);
const CALLS = Number(process.env.FUZZ_CALLS ?? 5000);
const BUDGET_MS = Number(process.env.FUZZ_MS ?? 40000);
/** A call that has not settled by then hangs (the slowest legit one, a blocking getNextJob while a delayed job is due later, waits up to 10 s, as in BullMQ). */
const DEADLINE_MS = 15000;
const url = new URL(process.env.REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port) };
const prefix = `fuzz${seed}`;
const rnd = mulberry32(seed);

// ---- recording -------------------------------------------------------------

let callNo = 0;
const out = (line) => process.stdout.write(`${line}\n`);
const failures = [];
function fail(kind, detail, call = callNo) {
  const f = { kind, call, detail: String(detail).slice(0, 2000) };
  failures.push(f);
  out(`F ${JSON.stringify(f)}`);
}

/**
 * Messages of TypeErrors and RangeErrors that V8 itself throws: from inside
 * the package, they are bugs. Our argument checks have messages of their own
 * (which may quote V8's after theirs, as "job data is not JSON-serializable: …").
 */
const ENGINE_ERROR =
  /^(?:Cannot read propert|Cannot set propert|is not a function|is not iterable|is not a constructor|Cannot convert|Cannot destructure|Invalid array length|Maximum call stack|circular structure|serialize a BigInt|Cannot create property|Cannot use 'in' operator|Invalid time value|toISOString|Reduce of empty array|undefined is not|null is not)/;

/**
 * Known issue (d), fixed elsewhere: napi's own texts for a value of the wrong
 * type ("Failed to convert napi value into rust type `bool` on ..."). They are
 * Errors, just unclear ones: counted, not failed, until that lands.
 */
let knownNapiConversion = 0;
const KNOWN_NAPI_CONVERSION = /Failed to convert napi value|Failed to convert JavaScript value/;

/** Checks what a call threw or rejected with (or an event carried). */
function checkError(err, where) {
  if (!(err instanceof Error)) {
    fail('non-error', `${where}: ${fmt(err)}`);
    return;
  }
  if (KNOWN_NAPI_CONVERSION.test(err.message)) {
    knownNapiConversion += 1;
    return;
  }
  if ((err instanceof TypeError || err instanceof RangeError) && ENGINE_ERROR.test(err.message)) {
    // The processor of this run never throws these, so any comes from the package.
    fail('internal', `${where}: ${err.stack}`);
  }
}

process.on('unhandledRejection', (reason) => fail('unhandled', `unhandledRejection: ${reason?.stack ?? fmt(reason)}`));
process.on('uncaughtException', (err) => fail('unhandled', `uncaughtException: ${err?.stack ?? fmt(err)}`));

// ---- values ----------------------------------------------------------------

const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1));
const chance = (p) => rnd() < p;
const pick = (list) => list[Math.floor(rnd() * list.length)];

/** Names of a queue's keys: ids and names that collide with them. */
const KEY_NAMES = [
  'wait', 'meta', 'events', 'id', 'active', 'completed', 'failed', 'delayed', 'paused', 'prioritized',
  'marker', 'limiter', 'stalled', 'stalled-check', 'repeat', 'de', 'pc', 'waiting-children', 'metrics',
  'logs', 'lock', 'dependencies', 'processed', 'unsuccessful', 'failed-children',
];

function str() {
  switch (int(0, 11)) {
    case 0: return '';
    case 1: return pick(KEY_NAMES);
    case 2: return pick(['é', '日本語', '🎉x', 'Ω≈ç√', '\u202e\u0301']);
    case 3: return pick(['\ud800', 'a\udfffb', '\udbff\udbff', '\ud83d']);
    case 4: return pick(['a:b', 'a:b:c', ':', 'x:y:z:w', '{tag}', '*', '?', '[', '%s']);
    case 5: return pick(['0', '-1', '12', '1e3', '0:1', ' 7', 'NaN', 'null', 'undefined', 'true']);
    case 6: return pick([' ', '\n', '\u0000', '\t\r', '"', '\\', "'", '`']);
    case 7: return chance(0.3) ? 'x'.repeat(int(100000, 600000)) : 'y'.repeat(int(1, 3000));
    default: return Array.from({ length: int(1, 12) }, () => String.fromCharCode(int(32, 126))).join('');
  }
}

function num() {
  switch (int(0, 5)) {
    case 0: return pick([0, -0, 1, -1, 0.5, -2.5, 1.5]);
    case 1: return pick([NaN, Infinity, -Infinity]);
    case 2: return pick([2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e21]);
    case 3: return int(-1000000, 1000000);
    default: return int(0, 50);
  }
}

function any(depth = 0) {
  switch (int(0, 16)) {
    case 0: return undefined;
    case 1: return null;
    case 2: return chance(0.5);
    case 3: case 4: return num();
    case 5: case 6: case 7: return str();
    case 8: return 10n;
    case 9: return Symbol('fuzz');
    case 10: return () => 'fn';
    case 11: return depth > 2 ? [] : Array.from({ length: int(0, 3) }, () => any(depth + 1));
    case 12: case 13: {
      if (depth > 2) return {};
      const o = {};
      for (let i = int(0, 3); i > 0; i--) o[chance(0.5) ? str().slice(0, 20) : pick(KEY_NAMES)] = any(depth + 1);
      return o;
    }
    case 14: return pick([new Date(int(0, 2 ** 40)), new Date(NaN), Buffer.from('buf'), new Error('as value'), Object.create(null), new Map([[1, 2]])]);
    case 15: { const c = { a: 1 }; c.self = c; return c; }
    default: return new Uint8Array(2);
  }
}

/** A JSON-friendly value (data of jobs meant to be processed). */
function plain(depth = 0) {
  switch (int(0, 6)) {
    case 0: return null;
    case 1: return num();
    case 2: return str().slice(0, 200);
    case 3: return chance(0.5);
    case 4: return depth > 2 ? [] : Array.from({ length: int(0, 3) }, () => plain(depth + 1));
    default: {
      const o = {};
      if (depth < 3) for (let i = int(0, 3); i > 0; i--) o[pick(['a', 'b', 'id', 'wait', '日本'])] = plain(depth + 1);
      return o;
    }
  }
}

/** JSON text of a value, or some text when it has none (stored fields may hold anything). */
function jsonOf(v) {
  try {
    return JSON.stringify(v) ?? 'undefined';
  } catch {
    return '{"not": "json"';
  }
}

/** A short description of a value for the call log. */
function fmt(v, depth = 0) {
  try {
    if (typeof v === 'string') {
      return v.length > 40 ? `${JSON.stringify(v.slice(0, 20))}…(length ${v.length})` : JSON.stringify(v);
    }
    if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'symbol' || typeof v === 'undefined' || typeof v === 'boolean' || v === null) return String(v);
    if (typeof v === 'function') return '[function]';
    if (v instanceof Job) return `Job(${fmt(v.id)})`;
    if (v instanceof Error) return `${v.name}(${fmt(v.message)})`;
    if (v instanceof Date) return `Date(${v.getTime()})`;
    if (Buffer.isBuffer(v)) return 'Buffer';
    if (depth > 3) return '…';
    if (Array.isArray(v)) return `[${v.map((x) => fmt(x, depth + 1)).join(', ')}]`;
    if (typeof v === 'object') {
      const name = v.constructor?.name;
      if (name && name !== 'Object') return `[${name}]`;
      if (v.self === v) return '{circular}';
      return `{${Object.entries(v).map(([k, x]) => `${fmt(k)}: ${fmt(x, depth + 1)}`).join(', ')}}`;
    }
  } catch {
    // fall through
  }
  return String(typeof v);
}

// ---- the objects under test -----------------------------------------------

const name = 'q';
const childQueue = 'kids';
const base = { connection, prefix };
const queue = new Queue(name, base);
// The same queue through the telemetry wrappers (no SDK: the API's no-op tracer).
const telemetry = new BullMQOtel('fuzz');
const tracedQueue = new Queue(name, { ...base, telemetry });
const closeLater = [queue, tracedQueue];
/** Promises that may never settle (run(), a ttl-less waitUntilFinished): checked once everything closed. */
const longLived = [];
const queues = [queue, tracedQueue];
const jobs = [];
const ids = ['1', '2', '3'];
/** Tokens of jobs fetched by hand or seen in a processor. */
const tokens = ['tok-a', 'tok-b'];
const manualWorkers = [];
const autoWorkers = [];
const events = [];
let flow = new FlowProducer({ ...base, telemetry });
closeLater.push(flow);
const producer = new QueueEventsProducer(name, base);
closeLater.push(producer);
const scheduler = new JobScheduler(name, base);
closeLater.push(scheduler);

function remember(job) {
  if (!(job instanceof Job)) return;
  jobs.push(job);
  if (jobs.length > 200) jobs.splice(0, 100);
  if (typeof job.id === 'string') {
    ids.push(job.id);
    if (ids.length > 200) ids.splice(0, 100);
  }
  if (typeof job.token === 'string') tokens.push(job.token);
  if (tokens.length > 50) tokens.splice(2, 25);
}

function rememberResult(value) {
  if (value instanceof Job) remember(value);
  else if (Array.isArray(value)) for (const v of value) rememberResult(v);
  else if (value && typeof value === 'object' && value.job instanceof Job) {
    remember(value.job);
    for (const c of value.children ?? []) rememberResult(c);
  }
}

function watch(emitter, label) {
  emitter.on('error', (err) => checkError(err, `${label} error event`));
  emitter.on('failed', (...args) => {
    const err = args.find((a) => a instanceof Error) ?? args[1];
    if (label.startsWith('worker') && !(err instanceof Error)) fail('non-error', `${label} failed event: ${fmt(err)}`);
  });
}
watch(queue, 'queue');
watch(tracedQueue, 'queue(telemetry)');

/** A processor run on jobs of the automatic workers: deterministic per run number. */
let runNo = 0;
async function processor(job, token, signal) {
  remember(job);
  const r = mulberry32(seed ^ (runNo += 1));
  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));
  const safely = async (p) => {
    try {
      await p;
    } catch (err) {
      checkError(err, `job method in processor`);
    }
  };
  switch (Math.floor(r() * 14)) {
    case 0: return job.data;
    case 1: throw new Error('processor failed');
    case 2: throw pick(['a string', 42, null, undefined, { o: 1 }]);
    case 3: return 10n; // not serializable: the job fails
    case 4: { const c = {}; c.c = c; return c; }
    case 5: await safely(job.updateProgress(chance(0.5) ? num() : plain())); return 'progressed';
    case 6: await safely(job.log(str().slice(0, 100))); return 'logged';
    case 7: await sleep(Math.floor(r() * 30)); return { slept: true };
    case 8:
      // Until the signal aborts (a timeout, a cancel, a lost lock) or 300 ms.
      await new Promise((res) => {
        const t = setTimeout(res, 300);
        signal?.addEventListener('abort', () => { clearTimeout(t); res(); });
      });
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
      return 'waited';
    case 9:
      await safely(job.moveToDelayed(Date.now() + 50, token));
      throw new DelayedError();
    case 10:
      throw new UnrecoverableError('unrecoverable');
    case 11: {
      let moved = false;
      try {
        moved = await job.moveToWaitingChildren(token);
      } catch (err) {
        checkError(err, 'moveToWaitingChildren in processor');
      }
      if (moved) throw new WaitingChildrenError();
      return 'no children';
    }
    case 12:
      await safely(this?.rateLimit?.(20));
      throw new RateLimitError();
    default: return Promise.reject(new Error('rejected'));
  }
}

function workerOpts(valid) {
  const o = { ...base, drainDelay: 1 };
  if (valid) {
    Object.assign(o, {
      concurrency: int(1, 8),
      lockDuration: pick([500, 1000, 5000]),
      stalledInterval: pick([300, 1000, 5000]),
      maxStalledCount: int(0, 3),
    });
    if (chance(0.3)) o.timeout = int(20, 400);
    if (chance(0.2)) o.removeOnComplete = { count: int(0, 10) };
    if (chance(0.2)) o.limiter = { max: int(1, 50), duration: int(10, 500) };
    if (chance(0.2)) o.maxStartedAttempts = int(1, 5);
    if (chance(0.3)) o.telemetry = telemetry;
    return o;
  }
  const key = pick(['concurrency', 'lockDuration', 'stalledInterval', 'maxStalledCount', 'drainDelay', 'limiter',
    'timeout', 'metrics', 'settings', 'lockRenewTime', 'removeOnComplete', 'maxStartedAttempts', 'name', 'prefix', 'autorun']);
  o[key] = any();
  return o;
}

function newAutoWorker() {
  let w;
  try {
    // Some with autorun false, started later by a fuzzed run().
    const opts = workerOpts(!chance(0.2));
    if (chance(0.15)) opts.autorun = false;
    w = new Worker(chance(0.95) ? name : any(), processor, opts);
  } catch (err) {
    checkError(err, 'new Worker');
    return undefined;
  }
  watch(w, 'worker');
  autoWorkers.push(w);
  closeLater.push(w);
  return w;
}

function newManualWorker() {
  const w = new Worker(name, null, { ...base, drainDelay: 0.2, lockDuration: pick([500, 2000, 30000]) });
  watch(w, 'worker(manual)');
  manualWorkers.push(w);
  closeLater.push(w);
  return w;
}

function newQueueEvents() {
  let e;
  try {
    e = new QueueEvents(chance(0.95) ? name : any(), { ...base, blockingTimeout: chance(0.8) ? int(1, 2000) : any(), autorun: chance(0.9) });
  } catch (err) {
    checkError(err, 'new QueueEvents');
    return undefined;
  }
  e.on('error', (err) => checkError(err, 'queueEvents error event'));
  events.push(e);
  closeLater.push(e);
  return e;
}

newAutoWorker();
newManualWorker();
newQueueEvents();

// ---- argument makers -------------------------------------------------------

const id = () => (chance(0.6) && ids.length ? pick(ids) : chance(0.5) ? str() : any());
const token = () => (chance(0.7) ? pick(tokens) : any());
const maybe = (f) => (chance(0.5) ? f() : undefined);
const JOB_TYPES = ['completed', 'failed', 'delayed', 'active', 'wait', 'waiting', 'paused', 'prioritized', 'repeat', 'waiting-children'];
const types = () => (chance(0.7) ? Array.from({ length: int(0, 4) }, () => pick(JOB_TYPES)) : any());

/** Job options: mostly valid ones, one key at a time fuzzed. */
function jobOpts() {
  if (chance(0.1)) return any();
  const o = {};
  if (chance(0.3)) {
    // Known issue (a), fixed elsewhere: a custom jobId equal to a key name of
    // the queue ('wait', 'meta', 'events', ...) stores nothing. Not drawn here
    // until that lands; such ids are fuzzed everywhere else.
    let jobId;
    do jobId = str(); while (KEY_NAMES.includes(jobId));
    o.jobId = jobId.slice(0, 200);
  }
  if (chance(0.2)) o.delay = int(0, 300);
  if (chance(0.2)) o.priority = int(0, 20);
  if (chance(0.3)) o.attempts = int(1, 4);
  if (chance(0.2)) o.backoff = chance(0.5) ? int(0, 50) : { type: pick(['fixed', 'exponential', 'custom-x']), delay: int(0, 50) };
  if (chance(0.1)) o.lifo = true;
  if (chance(0.2)) o.removeOnComplete = pick([true, false, int(0, 5), { count: int(0, 5), age: int(1, 100) }]);
  if (chance(0.2)) o.removeOnFail = pick([true, false, int(0, 5)]);
  if (chance(0.2)) o.timeout = int(10, 300);
  if (chance(0.1)) o.deduplication = { id: str().slice(0, 50), ...(chance(0.5) ? { ttl: int(1, 500) } : {}) };
  if (chance(0.05)) o.parent = { id: id(), queue: `${prefix}:${name}` };
  if (chance(0.1)) o.keepLogs = int(0, 5);
  if (chance(0.1)) o.stackTraceLimit = int(0, 5);
  if (chance(0.05)) o.sizeLimit = int(1, 100);
  if (chance(0.15)) o[pick(['delay', 'priority', 'attempts', 'backoff', 'jobId', 'timeout', 'removeOnComplete', 'deduplication', 'parent', 'timestamp', 'lifo', 'keepLogs', str().slice(0, 10)])] = any();
  return o;
}

function repeatOpts() {
  if (chance(0.1)) return any();
  const o = {};
  if (chance(0.6)) o.every = chance(0.8) ? int(50, 2000) : num();
  else o.pattern = pick(['*/2 * * * * *', '0 0 * * *', '* * * * *', 'not a cron', '61 * * * *', '', any()]);
  if (chance(0.3)) o.limit = int(1, 5);
  if (chance(0.2)) o.immediately = true;
  if (chance(0.1)) o.tz = pick(['Europe/Paris', 'Nowhere/Land', '']);
  if (chance(0.1)) o[pick(['startDate', 'endDate', 'offset', 'count'])] = any();
  return o;
}

function flowNode(depth = 0) {
  if (chance(0.05)) return any();
  const node = {
    name: chance(0.9) ? str().slice(0, 30) : any(),
    queueName: chance(0.8) ? pick([name, childQueue]) : str().slice(0, 30),
    data: plain(),
  };
  if (chance(0.5)) node.opts = jobOpts();
  if (depth < 2 && chance(0.6)) node.children = Array.from({ length: int(0, 3) }, () => flowNode(depth + 1));
  return node;
}

const someQueue = () => pick(queues);
const someJob = () => (jobs.length ? pick(jobs) : undefined);
const someEvents = () => (events.length ? pick(events) : newQueueEvents());

// ---- the calls -------------------------------------------------------------

/** [weight, make] — make() returns [description, thunk] (or undefined when it has nothing to call). */
const CALLS_TABLE = [
  [10, () => { const a = [chance(0.9) ? str().slice(0, 50) : any(), chance(0.8) ? plain() : any(), jobOpts()]; return [`queue.add(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().add(...a)]; }],
  [3, () => { const a = chance(0.9) ? Array.from({ length: int(0, 20) }, () => (chance(0.95) ? { name: str().slice(0, 20), data: plain(), opts: jobOpts() } : any())) : any(); return [`queue.addBulk(${fmt(a)})`, () => someQueue().addBulk(a)]; }],
  [5, () => { const a = id(); return [`queue.getJob(${fmt(a)})`, () => someQueue().getJob(a)]; }],
  [3, () => { const a = [types(), maybe(num), maybe(num), maybe(any)]; return [`queue.getJobs(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().getJobs(...a)]; }],
  [2, () => { const a = chance(0.8) ? Array.from({ length: int(0, 3) }, () => pick(JOB_TYPES)) : [any()]; return [`queue.getJobCounts(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().getJobCounts(...a)]; }],
  [1, () => { const a = [any(), any()]; return [`queue.getJobCountByTypes(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().getJobCountByTypes(...a)]; }],
  [2, () => { const m = pick(['count', 'getWaitingCount', 'getActiveCount', 'getPrioritizedCount', 'getCompletedCount', 'getFailedCount', 'getWaitingChildrenCount', 'getWorkers', 'getWorkersCount', 'isPaused', 'getVersion', 'getMeta', 'getGlobalConcurrency', 'getGlobalRateLimit', 'isMaxed', 'getJobSchedulersCount', 'removeDeprecatedPriorityKey', 'waitUntilReady']); return [`queue.${m}()`, () => someQueue()[m]()]; }],
  [3, () => { const m = pick(['getWaiting', 'getActive', 'getDelayed', 'getPrioritized', 'getCompleted', 'getFailed', 'getWaitingChildren']); const a = [maybe(num), maybe(num)]; return [`queue.${m}(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue()[m](...a)]; }],
  [2, () => { const a = [id()]; return [`queue.getJobState(${fmt(a[0])})`, () => someQueue().getJobState(...a)]; }],
  [1, () => { const a = [maybe(num)]; return [`queue.getDelayedCount(${fmt(a[0])})`, () => someQueue().getDelayedCount(...a)]; }],
  [2, () => { const a = [id(), maybe(num), maybe(num), maybe(any)]; return [`queue.getJobLogs(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().getJobLogs(...a)]; }],
  [1, () => { const a = [maybe(num)]; return [`queue.getRateLimitTtl(${fmt(a[0])})`, () => someQueue().getRateLimitTtl(...a)]; }],
  [2, () => { const m = pick(['getDeduplicationJobId', 'getDebounceJobId', 'removeDeduplicationKey', 'removeDebounceKey']); const a = chance(0.7) ? str() : any(); return [`queue.${m}(${fmt(a)})`, () => someQueue()[m](a)]; }],
  [1, () => ['queue.pause()', () => someQueue().pause()]],
  [2, () => ['queue.resume()', () => someQueue().resume()]],
  [1, () => { const a = maybe(any); return [`queue.drain(${fmt(a)})`, () => someQueue().drain(a)]; }],
  [2, () => { const a = [chance(0.7) ? int(0, 1000) : any(), maybe(() => (chance(0.7) ? int(0, 100) : any())), maybe(() => (chance(0.7) ? pick(['completed', 'failed', 'wait', 'active', 'paused', 'delayed', 'prioritized']) : any()))]; return [`queue.clean(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().clean(...a)]; }],
  [0.3, () => { const a = chance(0.7) ? { force: chance(0.5), count: maybe(() => int(1, 100)) } : any(); return [`queue.obliterate(${fmt(a)})`, () => someQueue().obliterate(a)]; }],
  [1, () => { const a = chance(0.7) ? int(1, 100) : any(); return [`queue.rateLimit(${fmt(a)})`, () => someQueue().rateLimit(a)]; }],
  [1, () => ['queue.removeRateLimitKey()', () => someQueue().removeRateLimitKey()]],
  [1, () => { const a = chance(0.6) ? { state: pick(['failed', 'completed', any()]), count: maybe(() => int(1, 50)), timestamp: maybe(num) } : any(); return [`queue.retryJobs(${fmt(a)})`, () => someQueue().retryJobs(a)]; }],
  [1, () => { const a = chance(0.6) ? { count: maybe(() => int(1, 50)) } : any(); return [`queue.promoteJobs(${fmt(a)})`, () => someQueue().promoteJobs(a)]; }],
  [1, () => { const a = [chance(0.8) ? pick(['completed', 'failed']) : any(), maybe(num), maybe(num)]; return [`queue.getMetrics(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().getMetrics(...a)]; }],
  [1, () => { const a = maybe(() => (chance(0.5) ? { env: str().slice(0, 20) } : any())); return [`queue.exportPrometheusMetrics(${fmt(a)})`, () => someQueue().exportPrometheusMetrics(a)]; }],
  [1, () => { const a = chance(0.7) ? int(1, 20) : any(); return [`queue.setGlobalConcurrency(${fmt(a)})`, () => someQueue().setGlobalConcurrency(a)]; }],
  [1, () => ['queue.removeGlobalConcurrency()', () => someQueue().removeGlobalConcurrency()]],
  [1, () => { const a = [chance(0.7) ? int(1, 100) : any(), chance(0.7) ? int(1, 200) : any()]; return [`queue.setGlobalRateLimit(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().setGlobalRateLimit(...a)]; }],
  [1, () => ['queue.removeGlobalRateLimit()', () => someQueue().removeGlobalRateLimit()]],
  [1, () => { const a = chance(0.8) ? Array.from({ length: int(0, 4) }, () => (chance(0.8) ? int(0, 10) : any())) : any(); return [`queue.getCountsPerPriority(${fmt(a)})`, () => someQueue().getCountsPerPriority(a)]; }],
  [2, () => { const a = [id(), any()]; return [`queue.updateJobProgress(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().updateJobProgress(...a)]; }],
  [2, () => { const a = [id(), chance(0.7) ? str() : any(), maybe(num)]; return [`queue.addJobLog(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().addJobLog(...a)]; }],
  [1, () => { const a = [id(), maybe(any)]; return [`queue.cancelJob(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().cancelJob(...a)]; }],
  [2, () => { const a = [id(), maybe(() => (chance(0.7) ? { removeChildren: chance(0.5) } : any()))]; return [`queue.remove(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().remove(...a)]; }],
  [1, () => { const a = chance(0.7) ? int(0, 5000) : any(); return [`queue.trimEvents(${fmt(a)})`, () => someQueue().trimEvents(a)]; }],
  [1, () => { const a = chance(0.8) ? str() : any(); return [`queue.toKey(${fmt(a)})`, () => someQueue().toKey(a)]; }],
  [1, () => ['queue.defaultJobOptions / keys / metaValues', () => { const q = someQueue(); return [q.defaultJobOptions, q.keys, q.metaValues]; }]],
  // Job schedulers (Queue methods and a JobScheduler of its own).
  [3, () => { const a = [chance(0.8) ? str().slice(0, 40) : any(), repeatOpts(), maybe(() => (chance(0.8) ? { name: str().slice(0, 20), data: plain(), opts: jobOpts() } : any()))]; return [`queue.upsertJobScheduler(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().upsertJobScheduler(...a)]; }],
  [2, () => { const a = chance(0.8) ? str().slice(0, 40) : any(); return [`queue.getJobScheduler(${fmt(a)})`, () => someQueue().getJobScheduler(a)]; }],
  [1, () => { const a = [maybe(num), maybe(num), maybe(any)]; return [`queue.getJobSchedulers(${a.map((x) => fmt(x)).join(', ')})`, () => someQueue().getJobSchedulers(...a)]; }],
  [2, () => { const a = chance(0.8) ? str().slice(0, 40) : any(); return [`queue.removeJobScheduler(${fmt(a)})`, () => someQueue().removeJobScheduler(a)]; }],
  [1, () => ['queue.jobScheduler', () => someQueue().jobScheduler]],
  [1, () => { const a = [str().slice(0, 40), repeatOpts(), str().slice(0, 20), plain(), chance(0.8) ? jobOpts() : any(), maybe(() => (chance(0.5) ? { override: chance(0.5), producerId: maybe(str) } : any()))]; return [`jobScheduler.upsertJobScheduler(${a.map((x) => fmt(x)).join(', ')})`, () => scheduler.upsertJobScheduler(...a)]; }],
  [1, () => { const m = pick(['removeJobScheduler', 'isJobScheduler', 'getScheduler']); const a = chance(0.8) ? str().slice(0, 40) : any(); return [`jobScheduler.${m}(${fmt(a)})`, () => scheduler[m](a)]; }],
  [1, () => { const a = [maybe(num), maybe(num), maybe(any)]; return [`jobScheduler.getJobSchedulers(${a.map((x) => fmt(x)).join(', ')})`, () => scheduler.getJobSchedulers(...a)]; }],
  [0.5, () => ['jobScheduler.getSchedulersCount()', () => scheduler.getSchedulersCount()]],
  [1, () => { const a = chance(0.7) ? { nextMillis: num(), jobSchedulerId: str().slice(0, 40) } : any(); return [`jobScheduler.getSchedulerNextJobId(${fmt(a)})`, () => scheduler.getSchedulerNextJobId(a)]; }],
  [1, () => { const a = [maybe(() => (chance(0.5) ? jsonOf(plain()) : any())), maybe(() => (chance(0.5) ? jsonOf(jobOpts()) : any()))]; return [`jobScheduler.getTemplateFromJSON(${a.map((x) => fmt(x)).join(', ')})`, () => scheduler.getTemplateFromJSON(...a)]; }],
  // Manual workers.
  [5, () => { const w = pick(manualWorkers); // Mostly not blocking: with a delayed job due later, a blocking call waits up to 10 s.
    const a = [token(), chance(0.9) ? { block: chance(0.1) } : any()]; return [`manualWorker.getNextJob(${a.map((x) => fmt(x)).join(', ')})`, () => w.getNextJob(...a)]; }],
  [1, () => { const w = pick(manualWorkers); return ['manualWorker.startStalledCheckTimer()', () => w.startStalledCheckTimer()]; }],
  [1, () => { const w = pick(manualWorkers); const a = chance(0.7) ? int(1, 50) : any(); return [`manualWorker.rateLimit(${fmt(a)})`, () => w.rateLimit(a)]; }],
  [0.5, () => { const w = pick(manualWorkers); return ['manualWorker.run()', () => w.run()]; }],
  [0.3, () => ['new manual Worker', () => { if (manualWorkers.length > 3) return manualWorkers.shift().close(chance(0.5)); newManualWorker(); return undefined; }]],
  // Automatic workers.
  [0.5, () => ['new Worker', () => { if (autoWorkers.length > 3) return autoWorkers.shift().close(chance(0.5)); newAutoWorker(); return undefined; }]],
  [0.5, () => { const w = pick(autoWorkers); const a = maybe(() => (chance(0.8) ? chance(0.5) : any())); return w ? [`worker.close(${fmt(a)})`, () => w.close(a)] : undefined; }],
  [1, () => {
    const w = pick(autoWorkers);
    if (!w) return undefined;
    // Known issue (b), fixed elsewhere: pause(true) then resume() in the same
    // tick. pause is awaited before any later call and never starts in a
    // group (see PAUSE_OR_RESUME), so the two never share a tick.
    const a = maybe(() => (chance(0.8) ? chance(0.5) : any()));
    return [`worker.pause(${fmt(a)})`, () => w.pause(a)];
  }],
  [1.5, () => { const w = pick(autoWorkers); return w ? ['worker.resume()', () => w.resume()] : undefined; }],
  [0.5, () => { const w = pick(autoWorkers); // Resolves when the worker closes (or pauses): checked at the end.
    return w ? ['worker.run()', () => w.run(), true] : undefined; }],
  [1, () => { const w = pick([...autoWorkers, ...manualWorkers]); const a = chance(0.8) ? int(1, 10) : any(); return w ? [`worker.concurrency = ${fmt(a)}`, () => { w.concurrency = a; }] : undefined; }],
  [1, () => { const w = pick(autoWorkers); const a = [id(), maybe(any)]; return w ? [`worker.cancelJob(${a.map((x) => fmt(x)).join(', ')})`, () => w.cancelJob(...a)] : undefined; }],
  [0.5, () => { const w = pick(autoWorkers); const a = maybe(any); return w ? [`worker.cancelAllJobs(${fmt(a)})`, () => w.cancelAllJobs(a)] : undefined; }],
  [0.5, () => { const w = pick([...autoWorkers, ...manualWorkers]); return w ? ['worker.isRunning() / isPaused() / waitUntilReady()', () => { w.isRunning(); w.isPaused(); return w.waitUntilReady(); }] : undefined; }],
  // Jobs.
  [2, () => { const j = someJob(); const a = any(); return j && [`job(${fmt(j.id)}).updateProgress(${fmt(a)})`, () => j.updateProgress(a)]; }],
  [2, () => { const j = someJob(); const a = chance(0.6) ? plain() : any(); return j && [`job(${fmt(j.id)}).updateData(${fmt(a)})`, () => j.updateData(a)]; }],
  [2, () => { const j = someJob(); const a = chance(0.7) ? str() : any(); return j && [`job(${fmt(j.id)}).log(${fmt(a)})`, () => j.log(a)]; }],
  [1, () => { const j = someJob(); const a = maybe(num); return j && [`job(${fmt(j.id)}).clearLogs(${fmt(a)})`, () => j.clearLogs(a)]; }],
  [3, () => { const j = someJob(); const m = pick(['getState', 'isCompleted', 'isFailed', 'isDelayed', 'isActive', 'isWaiting', 'isPrioritized', 'isWaitingChildren', 'getChildrenValues', 'getIgnoredChildrenFailures', 'getFailedChildrenValues', 'removeChildDependency', 'removeUnprocessedChildren', 'removeDeduplicationKey', 'promote', 'asJSON', 'toJSON']); return j && [`job(${fmt(j.id)}).${m}()`, () => j[m]()]; }],
  [1, () => { const j = someJob(); const a = chance(0.7) ? pick(JOB_TYPES) : any(); return j && [`job(${fmt(j.id)}).isInState(${fmt(a)})`, () => j.isInState(a)]; }],
  [1, () => { const j = someJob(); const a = maybe(() => (chance(0.7) ? { removeChildren: chance(0.5) } : any())); return j && [`job(${fmt(j.id)}).remove(${fmt(a)})`, () => j.remove(a)]; }],
  [2, () => { const j = someJob(); const a = [maybe(() => (chance(0.8) ? pick(['failed', 'completed']) : any())), maybe(() => (chance(0.7) ? { resetAttemptsMade: chance(0.5), resetAttemptsStarted: chance(0.5) } : any()))]; return j && [`job(${fmt(j.id)}).retry(${a.map((x) => fmt(x)).join(', ')})`, () => j.retry(...a)]; }],
  [1, () => { const j = someJob(); const a = chance(0.7) ? int(0, 500) : any(); return j && [`job(${fmt(j.id)}).changeDelay(${fmt(a)})`, () => j.changeDelay(a)]; }],
  [1, () => { const j = someJob(); const a = chance(0.7) ? { priority: maybe(() => int(0, 30)), lifo: maybe(() => chance(0.5)) } : any(); return j && [`job(${fmt(j.id)}).changePriority(${fmt(a)})`, () => j.changePriority(a)]; }],
  [1, () => { const j = someJob(); const m = pick(['getDependencies', 'getDependenciesCount']); const a = maybe(() => (chance(0.6) ? { processed: chance(0.5) ? true : { count: int(0, 5), cursor: int(0, 5) }, unprocessed: chance(0.5), failed: maybe(() => chance(0.5)), ignored: maybe(() => chance(0.5)) } : any())); return j && [`job(${fmt(j.id)}).${m}(${fmt(a)})`, () => j[m](a)]; }],
  [2, () => { const j = someJob(); const a = [chance(0.7) ? plain() : any(), token(), maybe(any)]; return j && [`job(${fmt(j.id)}).moveToCompleted(${a.map((x) => fmt(x)).join(', ')})`, () => j.moveToCompleted(...a)]; }],
  [2, () => { const j = someJob(); const a = [chance(0.7) ? new Error(str().slice(0, 50)) : any(), token(), maybe(any)]; return j && [`job(${fmt(j.id)}).moveToFailed(${a.map((x) => fmt(x)).join(', ')})`, () => j.moveToFailed(...a)]; }],
  [1, () => { const j = someJob(); const a = [chance(0.7) ? Date.now() + int(-1000, 1000) : any(), maybe(token)]; return j && [`job(${fmt(j.id)}).moveToDelayed(${a.map((x) => fmt(x)).join(', ')})`, () => j.moveToDelayed(...a)]; }],
  [1, () => { const j = someJob(); const a = [maybe(token)]; return j && [`job(${fmt(j.id)}).moveToWait(${fmt(a[0])})`, () => j.moveToWait(...a)]; }],
  [1, () => { const j = someJob(); const a = [token(), chance(0.7) ? int(1, 30000) : any()]; return j && [`job(${fmt(j.id)}).extendLock(${a.map((x) => fmt(x)).join(', ')})`, () => j.extendLock(...a)]; }],
  [1, () => { const j = someJob(); const a = [token(), maybe(() => (chance(0.5) ? { child: { id: id(), queue: `${prefix}:${childQueue}` } } : any()))]; return j && [`job(${fmt(j.id)}).moveToWaitingChildren(${a.map((x) => fmt(x)).join(', ')})`, () => j.moveToWaitingChildren(...a)]; }],
  [1.5, () => {
    const j = someJob();
    if (!j) return undefined;
    const e = chance(0.9) ? someEvents() : any();
    // No long valid ttl: as in BullMQ, its timer would hold the process after
    // every object closed (closing a QueueEvents does not end the wait).
    const ttl = chance(0.8) ? int(0, 1500) : chance(0.5) ? undefined : pick([-1, NaN, Infinity, 'soon', null, {}, 10n]);
    const desc = `job(${fmt(j.id)}).waitUntilFinished(queueEvents, ${fmt(ttl)})`;
    // Without a ttl it may rightly never settle: checked at the end only.
    return [desc, () => j.waitUntilFinished(e, ttl), ttl === undefined];
  }],
  [1, () => { const a = [someQueue(), id()]; return [`Job.fromId(queue, ${fmt(a[1])})`, () => Job.fromId(...a)]; }],
  [1, () => { const a = [str().slice(0, 20), chance(0.8) ? plain() : any(), jobOpts()]; return [`Job.create(queue, ${a.map((x) => fmt(x)).join(', ')})`, () => Job.create(someQueue(), ...a)]; }],
  [0.5, () => { const a = chance(0.8) ? Array.from({ length: int(0, 4) }, () => ({ name: str().slice(0, 20), data: plain(), opts: jobOpts() })) : any(); return [`Job.createBulk(queue, ${fmt(a)})`, () => Job.createBulk(someQueue(), a)]; }],
  [0.5, () => { const a = chance(0.5) ? { name: 'x', data: '{}', opts: jsonOf(any()), timestamp: String(num()) } : any(); return [`Job.fromJSON(queue, ${fmt(a)})`, () => Job.fromJSON(someQueue(), a, str())]; }],
  // QueueEvents and QueueEventsProducer.
  [0.3, () => ['new QueueEvents', () => { if (events.length > 3) return events.shift().close(); newQueueEvents(); return undefined; }]],
  [0.5, () => { const e = someEvents(); return e && ['queueEvents.run()', () => e.run(), true]; }],
  [0.5, () => { const e = someEvents(); return e && ['queueEvents.waitUntilReady()', () => e.waitUntilReady()]; }],
  [1, () => { const a = [chance(0.8) ? { eventName: chance(0.8) ? str().slice(0, 30) : any(), [pick(['a', 'jobId', 'event'])]: any() } : any(), maybe(num)]; return [`producer.publishEvent(${a.map((x) => fmt(x)).join(', ')})`, () => producer.publishEvent(...a)]; }],
  // Flows.
  [3, () => { const a = [flowNode(), maybe(() => (chance(0.7) ? { queuesOptions: { [name]: { defaultJobOptions: jobOpts() } } } : any()))]; return [`flow.add(${a.map((x) => fmt(x)).join(', ')})`, () => flow.add(...a)]; }],
  [1, () => { const a = chance(0.8) ? Array.from({ length: int(0, 3) }, () => flowNode()) : any(); return [`flow.addBulk(${fmt(a)})`, () => flow.addBulk(a)]; }],
  [2, () => { const a = chance(0.8) ? { id: id(), queueName: pick([name, childQueue, str()]), depth: maybe(num), maxChildren: maybe(num), prefix: maybe(() => (chance(0.8) ? prefix : any())) } : any(); return [`flow.getFlow(${fmt(a)})`, () => flow.getFlow(a)]; }],
  [0.1, () => ['flow.close() and a new FlowProducer', () => { const old = flow; flow = new FlowProducer(base); closeLater.push(flow); return old.close(); }]],
  // Constructors with random arguments.
  [0.5, () => { const a = [chance(0.7) ? str().slice(0, 30) : any(), chance(0.8) ? { ...base, ...(chance(0.3) ? { defaultJobOptions: jobOpts() } : {}), ...(chance(0.2) ? { prefix: any() } : {}) } : any()]; return [`new Queue(${fmt(a[0])}, …)`, () => { const q = new Queue(...a); closeLater.push(q); if (chance(0.5) && queues.length < 4) { queues.push(q); watch(q, 'queue'); } return q.waitUntilReady(); }]; }],
  [0.2, () => ['queue.close() (not the main one)', () => (queues.length > 1 ? queues.splice(int(1, queues.length - 1), 1)[0].close() : undefined)]],
];

const totalWeight = CALLS_TABLE.reduce((s, [w]) => s + w, 0);
function drawCall() {
  let x = rnd() * totalWeight;
  let make = CALLS_TABLE[0][1];
  for (const [w, m] of CALLS_TABLE) {
    x -= w;
    if (x < 0) {
      make = m;
      break;
    }
  }
  try {
    return make();
  } catch (err) {
    // A fault of this driver (making arguments), not of the package.
    out(`X ${err?.stack ?? err}`);
    process.exit(3);
  }
}

/** How the calls ended (printed at the end: a run whose calls all fail early tests little). */
const tally = { threw: 0, returned: 0, resolved: 0, rejected: 0 };

/** Runs a thunk: a synchronous throw or a rejection must be an Error; a promise must settle before the deadline. */
async function runCall(n, desc, thunk, mayNeverSettle) {
  let result;
  try {
    result = thunk();
  } catch (err) {
    tally.threw += 1;
    checkError(err, desc);
    return;
  }
  if (!result || typeof result.then !== 'function') {
    tally.returned += 1;
    rememberResult(result);
    return;
  }
  const settled = result.then(
    (v) => {
      tally.resolved += 1;
      rememberResult(v);
    },
    (err) => {
      tally.rejected += 1;
      checkError(err, desc);
    },
  );
  if (mayNeverSettle) {
    longLived.push({ n, desc, settled });
    return;
  }
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), DEADLINE_MS);
  });
  const t0 = Date.now();
  const outcome = await Promise.race([settled, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') fail('hang', `${desc} did not settle within ${DEADLINE_MS} ms`, n);
  else if (Date.now() - t0 > 1000) out(`S ${n} ${Date.now() - t0} ms`);
}

// ---- the run ---------------------------------------------------------------

/** Calls kept out of groups started together (known issue (b), see worker.pause above). */
const PAUSE_OR_RESUME = /^worker\.(pause|resume)\(/;

const started = Date.now();
while (callNo < CALLS && Date.now() - started < BUDGET_MS) {
  callNo += 1;
  const made = drawCall();
  if (!made) continue;
  const [desc, thunk, mayNeverSettle] = made;
  out(`C ${callNo} ${desc}`);
  // Now and then a few calls start together (their order then varies).
  if (chance(0.05) && !PAUSE_OR_RESUME.test(desc)) {
    const group = [runCall(callNo, desc, thunk, mayNeverSettle)];
    for (let k = int(1, 3); k > 0; k--) {
      const more = drawCall();
      if (!more || PAUSE_OR_RESUME.test(more[0])) continue;
      callNo += 1;
      out(`C ${callNo} ${more[0]} (started with the previous)`);
      group.push(runCall(callNo, more[0], more[1], more[2]));
    }
    await Promise.all(group);
  } else {
    await runCall(callNo, desc, thunk, mayNeverSettle);
  }
}
const callsMs = Date.now() - started;
const closeStarted = Date.now();

// Everything closes, then every call that was allowed to wait settles.
callNo += 1;
out(`C ${callNo} close everything`);
for (const c of closeLater.reverse()) {
  const closing = Promise.resolve().then(() => c.close());
  await runCall(callNo, `close ${c.constructor.name}(${fmt(c.name)})`, () => closing, false);
}
for (const { n, desc, settled } of longLived) {
  // A ttl-less waitUntilFinished may stay pending for good once its
  // QueueEvents closed (a rejection, if any, was checked); run() must end
  // when its worker or QueueEvents closed.
  if (desc.includes('waitUntilFinished')) continue;
  let timer;
  const outcome = await Promise.race([
    settled,
    new Promise((resolve) => {
      timer = setTimeout(() => resolve('timeout'), DEADLINE_MS);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === 'timeout') fail('hang', `${desc} still pending after every object closed`, n);
}
out(`D ${JSON.stringify({ calls: callNo, ms: callsMs, closeMs: Date.now() - closeStarted, failures: failures.length, processorRuns: runNo, knownNapiConversion, ...tally })}`);
// Lets a leaked handle show: the test expects the process to exit by itself.
process.exitCode = 0;
