/**
 * Worker: the automatic worker (a processor run on jobs the native run loop
 * hands out) and the manual-processing surface (getNextJob with tokens).
 *
 * The fetch loop, lock renewal, the stalled checker and cancel requests run
 * in Rust; this side wraps each raw job in a Job, calls the processor with
 * (job, token, signal) and reports the outcome. Completions that settle
 * together go to the engine in one call.
 */
import { randomUUID } from 'node:crypto';

import {
  DelayedError,
  fromNative,
  native,
  RateLimitError,
  UnrecoverableError,
  WaitingChildrenError,
  WaitingError,
} from './errors';
import { Delivery } from './delivery';
import { Job } from './job';
import { rawFromFlat, type NextJobData } from './job-codec';
import { JobScheduler } from './job-scheduler';
import type { Native } from './native';
import { binding } from './native';
import { integerArg, optionsArg, tokenArg } from './queue-args';
import { QueueBase } from './queue-base';
import { MAX_TIMEOUT } from './utils';
import { createSandboxedProcessor, type SandboxedProcessor } from './sandbox';
import { instrumentWorker, type JobTrace, type WorkerTracing } from './telemetry';
import type { JobJson, JobJsonRaw, JobsOptions, RepeatStrategy, WorkerOptions } from './types';
import { DELAY_TIME_1, delay } from './utils';

export type Processor<DataType = any, ResultType = any, NameType extends string = string> = (
  job: Job<DataType, ResultType, NameType>,
  token?: string,
  signal?: AbortSignal,
) => Promise<ResultType> | ResultType;

/**
 * Script codes of a completion refused because of the job's children
 * (pending: -4, failed: -9): BullMQ's worker then fails the job.
 */
const COMPLETION_REFUSED = new Set([-4, -9]);

/** The message BullMQ's RateLimitError carries (how the worker spots it). */
const RATE_LIMIT_MESSAGE = new RateLimitError().message;

/** A job handed to the processor and not yet reported. */
interface InFlight {
  job: Job;
  token: string;
  /** The processor's signal (only for processors taking a third argument, as BullMQ). */
  controller?: AbortController;
  /** The worker is failing this job (job.moveToFailed goes to the run loop). */
  failing: boolean;
  /** The failure reached the engine (the run loop let go of the job). */
  reported: boolean;
  /** Reporting the outcome found the queue drained (emitted after it). */
  drained?: boolean;
  /** The job's spans, when the worker has telemetry. */
  trace?: JobTrace;
  /** The attempt's outcome is taken (the processor settled, or it timed out): later ones are ignored. */
  done?: boolean;
  /** Fails the attempt when its `timeout` passes (only for jobs with one). */
  timer?: ReturnType<typeof setTimeout>;
}

/** A completion waiting to be sent with the others of the same tick. */
interface Completion {
  entry: InFlight;
  value: unknown;
  /** `[jobId, token, returnValue JSON, keepCount, keepAge, keepLimit, attempts, fetchNext]` as JSON text. */
  json: string;
}

/**
 * Most completions sent to the engine per call. Completions that settle
 * together are sent in calls of at most half the concurrency (and at most
 * this), so at least two groups of jobs are in flight: JavaScript runs one
 * group's processors while Redis finishes the other.
 */
const MAX_COMPLETIONS_PER_CALL = 64;

/** A number for the engine's JSON (what napi would take: not finite = null, read as 0). */
function jsonNumber(v: unknown): string {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? String(n) : 'null';
}

/** An option as JSON for the engine: null when absent or not JSON. */
function optionJson(v: unknown): string {
  if (v === undefined) return 'null';
  try {
    return JSON.stringify(v) ?? 'null';
  } catch {
    return 'null';
  }
}

/**
 * The attempt timeout of a job in ms: its own `timeout` option, else the
 * worker's; 0 (or a value no timer can hold, as a job added elsewhere may
 * carry) means none.
 */
function timeoutOf(jobTimeout: unknown, workerTimeout: number | undefined): number {
  const ms = jobTimeout === undefined || jobTimeout === null ? workerTimeout : jobTimeout;
  return typeof ms === 'number' && ms > 0 && ms <= MAX_TIMEOUT ? ms : 0;
}

/** Why a processor's signal aborts, and its attempt fails, when its job timed out. */
function timeoutError(jobId: string, ms: number): Error {
  const err = new Error(`job ${jobId} timed out after ${ms} ms`);
  err.name = 'TimeoutError';
  return err;
}

/** Why a processor's signal is aborted when its job's lock is gone. */
function lockLostError(jobId: string): Error {
  return new Error(`lock lost for job ${jobId}: it stalled and went back to wait`);
}

/**
 * Ids are JSON strings as they are unless they hold a quote, a backslash, a
 * control character or a surrogate (a lone one must be escaped).
 */
const PLAIN_ID = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/** `s` as a JSON string, without JSON.stringify's cost for plain ids. */
function jsonString(s: string): string {
  return PLAIN_ID.test(s) ? `"${s}"` : JSON.stringify(s);
}

function checkNumber(
  opts: WorkerOptions,
  key:
    | 'lockDuration'
    | 'stalledInterval'
    | 'drainDelay'
    | 'maxStalledCount'
    | 'maxStartedAttempts'
    | 'lockRenewTime'
    | 'runRetryDelay'
    | 'maximumRateLimitDelay'
    | 'maxEventLoopBlock'
    | 'timeout',
  message: string,
  allowZero: boolean,
): void {
  const v = opts[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new TypeError(`${message}, got ${describeValue(v)}`);
  }
}

/** BullMQ's check and message; a fraction is allowed (the engine rounds it up, as BullMQ's loop does). */
function checkConcurrency(value: unknown): asserts value is number {
  if (typeof value !== 'number' || value < 1 || !Number.isFinite(value)) {
    throw new Error('concurrency must be a finite number greater than 0');
  }
}

/**
 * The checks of a Worker's options that come before it connects (so that a
 * refused Worker leaves no connection behind), with BullMQ's messages.
 */
function checkBeforeConnecting(opts: WorkerOptions | undefined): WorkerOptions {
  if (!opts || opts.connection === undefined || opts.connection === null) {
    throw new Error('Worker requires a connection');
  }
  if (opts.concurrency !== undefined) checkConcurrency(opts.concurrency);
  return opts;
}

/** The worker's `metrics.maxDataPoints`, checked (undefined: no metrics). */
function metricsArg(metrics: WorkerOptions['metrics']): number | undefined {
  if (metrics === undefined || metrics === null) return undefined;
  if (typeof metrics !== 'object') throw new TypeError(`metrics must be an object, got ${describeValue(metrics)}`);
  const n = metrics.maxDataPoints;
  if (n === undefined) return undefined;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new TypeError(`metrics.maxDataPoints must be an integer >= 0, got ${describeValue(n)}`);
  }
  return n;
}

function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v);
  return typeof v;
}

/**
 * What a processor threw, as an Error: errors (and error-like objects from
 * other realms) as they are; any other value becomes an Error whose message
 * shows the value, so the job still fails with a readable reason.
 */
function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  if (thrown !== null && typeof thrown === 'object' && typeof (thrown as Error).message === 'string') {
    return thrown as Error;
  }
  let message: string;
  if (typeof thrown === 'string') {
    message = thrown;
  } else {
    try {
      message = typeof thrown === 'object' && thrown !== null ? (JSON.stringify(thrown) ?? String(thrown)) : String(thrown);
    } catch {
      message = String(thrown);
    }
  }
  return new Error(message);
}

function isMovedError(err: Error): boolean {
  return (
    err instanceof DelayedError ||
    err instanceof WaitingError ||
    err instanceof WaitingChildrenError ||
    err.name === 'DelayedError' ||
    err.name === 'WaitingError' ||
    err.name === 'WaitingChildrenError'
  );
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';
}

/**
 * BullMQ's worker defaults, for `worker.opts` and the checks: the engine's
 * (it applies them to what the user gave), and `autorun`, which is the
 * facade's.
 */
const WORKER_DEFAULTS: WorkerOptions = { ...binding.workerDefaults(), autorun: true };

/** Refuses invalid worker options (BullMQ's messages where it has them); returns them as given. */
function checkWorkerOptions(opts: WorkerOptions, processor: unknown): WorkerOptions {
  const o: WorkerOptions = { ...WORKER_DEFAULTS, ...opts };
  checkNumber(o, 'lockDuration', 'lockDuration must be greater than 0', false);
  checkNumber(o, 'stalledInterval', 'stalledInterval must be greater than 0', false);
  checkNumber(o, 'maxStalledCount', 'maxStalledCount must be greater or equal than 0', true);
  checkNumber(o, 'maxStartedAttempts', 'maxStartedAttempts must be greater or equal than 0', true);
  checkNumber(o, 'drainDelay', 'drainDelay must be greater than 0', false);
  checkNumber(o, 'lockRenewTime', 'lockRenewTime must be a number >= 0', true);
  checkNumber(o, 'runRetryDelay', 'runRetryDelay must be a number >= 0', true);
  checkNumber(o, 'maximumRateLimitDelay', 'maximumRateLimitDelay must be a number >= 0', true);
  checkNumber(o, 'maxEventLoopBlock', 'maxEventLoopBlock must be a number of milliseconds greater than 0', false);
  checkNumber(o, 'timeout', 'timeout must be a number >= 0', true);
  if (typeof o.timeout === 'number' && o.timeout > MAX_TIMEOUT) {
    throw new TypeError(`timeout must be at most ${MAX_TIMEOUT} ms, got ${o.timeout}`);
  }
  checkConcurrency(o.concurrency);
  if (o.limiter !== undefined) {
    if (
      typeof o.limiter !== 'object' ||
      o.limiter === null ||
      typeof o.limiter.max !== 'number' ||
      typeof o.limiter.duration !== 'number' ||
      o.limiter.max <= 0 ||
      o.limiter.duration <= 0
    ) {
      throw new TypeError('limiter must be { max: positive number, duration: positive number }');
    }
  }
  if (
    processor !== undefined &&
    processor !== null &&
    typeof processor !== 'function' &&
    typeof processor !== 'string' &&
    !(processor instanceof URL)
  ) {
    throw new TypeError(`processor must be a function, a file path, or null, got ${describeValue(processor)}`);
  }
  const repeatStrategy = o.settings?.repeatStrategy;
  if (repeatStrategy !== undefined && typeof repeatStrategy !== 'function') {
    throw new TypeError(`settings.repeatStrategy must be a function, got ${describeValue(repeatStrategy)}`);
  }
  metricsArg(o.metrics);
  return opts;
}

export class Worker<DataType = any, ResultType = any, NameType extends string = string> extends QueueBase {
  declare readonly opts: WorkerOptions;
  /** A rate-limit error to throw from a processor after `worker.rateLimit(ms)`. */
  static RateLimitError(): Error {
    return new RateLimitError();
  }

  /** Random id of this worker; lock tokens are `{id}:{n}`. */
  readonly id: string = randomUUID();
  protected readonly processor?: Processor<DataType, ResultType, NameType> | null;
  private readonly processFn?: Processor<DataType, ResultType, NameType>;
  /** The pool running a processor given as a file. */
  private readonly sandbox?: SandboxedProcessor;
  private readonly nativeWorker: Promise<Native.BindingWorker>;
  /** The native worker once open (for the synchronous getters). */
  private opened?: Native.BindingWorker;
  /** processJob's fetch-next found no job (`drained` is emitted once until one comes). */
  private processDrained = false;
  private _concurrency = 1;
  private running = false;
  private paused = false;
  /** Counts pause and resume calls: a pause acts only while it is the latest. */
  private pauseRequests = 0;
  /** Ends the wait of the pause in progress when a resume supersedes it. */
  private supersedePause?: () => void;
  /** Set once a forced close began: outcomes are no longer reported. */
  private abandoned = false;
  /** The native run loop, once started. */
  private runner?: Native.BindingWorker;
  private runnerStarted?: Promise<void>;
  /** Resolves the promise `run()` returns. */
  private endRun?: () => void;
  private readonly inFlight = new Map<string, InFlight>();
  /** Jobs handed to the processor whose outcome is not handled yet. */
  private unsettled = 0;
  private idleWaiters: (() => void)[] = [];
  private completions: Completion[] = [];
  /** Completion batches sent to the engine, by batch number, until their results come back. */
  private readonly sentBatches = new Map<number, Completion[]>();
  private batchSeq = 0;
  /** The worker's removeOnComplete as completion text (see keepText). */
  private keepFor: { opt: unknown; text?: string } = { opt: undefined };
  /** The options as the user gave them: the engine applies its defaults. */
  private readonly given: WorkerOptions;
  /** The processor takes a signal (a third parameter), as BullMQ decides. */
  private readonly wantsSignal: boolean = false;
  /** Runner events, handled after the current poll phase (see Delivery). */
  private readonly runnerEvents = new Delivery<Native.BindingRunnerEvent>((event) => this.onRunnerEvent(event));
  /** `settings.repeatStrategy`: computes the next time of pattern schedulers. */
  private readonly repeatStrategy?: RepeatStrategy;
  /** The spans of the process path and of engine reports (with `telemetry` only). */
  private readonly tracing?: WorkerTracing;

  constructor(
    name: string,
    processor?: Processor<DataType, ResultType, NameType> | string | URL | null,
    opts?: WorkerOptions,
  ) {
    // Checked before the base class opens a connection: a refused option
    // leaves nothing open.
    super(name, checkWorkerOptions(checkBeforeConnecting(opts), processor));
    const given: WorkerOptions = opts ?? {};
    this.given = given;
    const o: WorkerOptions = {
      ...WORKER_DEFAULTS,
      ...opts,
      prefix: this.opts.prefix,
    };
    this.concurrency = o.concurrency as number;
    if (!o.lockRenewTime) o.lockRenewTime = binding.defaultLockRenewTime(o.lockDuration!);
    (this as { opts: WorkerOptions }).opts = o;
    if (typeof processor === 'string' || processor instanceof URL) {
      this.sandbox = createSandboxedProcessor(processor, {
        useWorkerThreads: o.useWorkerThreads,
        workerForkOptions: o.workerForkOptions,
        workerThreadsOptions: o.workerThreadsOptions,
      });
      this.processFn = this.sandbox as Processor<DataType, ResultType, NameType>;
    } else if (typeof processor === 'function') {
      this.processFn = processor;
    }
    this.processor = typeof processor === 'function' ? processor : this.processFn;
    this.wantsSignal = (this.processFn?.length ?? 0) >= 3;
    const repeatStrategy = o.settings?.repeatStrategy;
    this.repeatStrategy = repeatStrategy;
    const metricsMaxDataPoints = metricsArg(o.metrics);
    this.nativeWorker = this.nativeQueue.then((q) =>
      native(
        binding.openWorker(q, {
          lockDuration: given.lockDuration,
          stalledInterval: given.stalledInterval,
          maxStalledCount: given.maxStalledCount,
          drainDelay: given.drainDelay,
          limiterMax: o.limiter?.max,
          limiterDuration: o.limiter?.duration,
          name: o.name,
          customRepeatStrategy: repeatStrategy !== undefined,
          metricsMaxDataPoints,
          maximumRateLimitDelay:
            given.maximumRateLimitDelay === undefined ? undefined : Math.trunc(given.maximumRateLimitDelay),
          skipVersionCheck: o.skipVersionCheck === true,
        }),
      ).then((w) => {
        this.opened = w;
        w.onError((message) => this.emit('error', fromNative(new Error(message))));
        return w;
      }),
    );
    this.nativeWorker.then(
      () => setTimeout(() => this.emit('ready'), 0),
      () => undefined,
    );
    if (o.telemetry) this.tracing = instrumentWorker(this, o.telemetry, this.processFn !== undefined);
    if (this.processFn && o.autorun) {
      this.run().catch((err) => this.emit('error', err));
    }
  }

  /**
   * Emits an event. As in BullMQ, a listener that throws is reported as an
   * `error` event, and an `error` event nobody listens to is printed instead
   * of crashing the process.
   */
  emit(event: string | symbol, ...args: any[]): boolean {
    try {
      return super.emit(event, ...args);
    } catch (err) {
      try {
        return super.emit('error', err);
      } catch (unhandled) {
        console.error(unhandled);
        return false;
      }
    }
  }

  /** Number of jobs processed at once; can be changed while running. */
  get concurrency(): number {
    return this._concurrency;
  }

  set concurrency(value: number) {
    checkConcurrency(value);
    this._concurrency = value;
    try {
      this.runner?.setConcurrency(Math.ceil(value));
    } catch {
      // The loop is starting; run() applies the value once it started.
    }
  }

  async waitUntilReady(): Promise<void> {
    await this.nativeWorker;
  }

  /** True while the worker runs its processor on jobs (between run() and close or pause). */
  isRunning(): boolean {
    return this.running;
  }

  /** True when the worker was paused with `pause()`. */
  isPaused(): boolean {
    return this.paused;
  }

  /**
   * Starts processing jobs (called by the constructor unless `autorun` is
   * false). The promise resolves when the worker stops: closed, or paused
   * once its active jobs finished.
   */
  async run(): Promise<void> {
    if (!this.processFn) {
      throw new Error('No process function is defined.');
    }
    if (this.running) {
      throw new Error('Worker is already running.');
    }
    this.running = true;
    try {
      if (this.closing || this.paused) return;
      const done = new Promise<void>((resolve) => {
        this.endRun = resolve;
      });
      const w = await this.nativeWorker;
      if (this.closing || this.paused) return;
      if (this.runnerStarted) {
        await this.runnerStarted;
        await native(w.resumeRunner());
      } else {
        this.runner = w;
        this.runnerStarted = native(
          w.run(
            {
              concurrency: Math.ceil(this._concurrency),
              // BullMQ takes a lockRenewTime of 0 as none given.
              lockRenewTime: this.opts.skipLockRenewal
                ? 0
                : this.given.lockRenewTime
                  ? Math.trunc(this.given.lockRenewTime)
                  : undefined,
              skipStalledCheck: this.opts.skipStalledCheck === true,
              tokenPrefix: this.id,
              runRetryDelay: this.given.runRetryDelay === undefined ? undefined : Math.trunc(this.given.runRetryDelay),
              maxEventLoopBlock: this.opts.maxEventLoopBlock === undefined ? undefined : Math.ceil(this.opts.maxEventLoopBlock),
            },
            // Fetched jobs start at once; what emits completed or failed
            // waits for the poll phase to end (see Delivery).
            (event) => (event.kind === 'jobs' ? this.runnerEvents.now(event) : this.runnerEvents.push(event)),
          ),
        );
        await this.runnerStarted;
        // The concurrency may have changed while the loop started.
        this.concurrency = this._concurrency;
      }
      await done;
    } finally {
      this.running = false;
      this.endRun = undefined;
    }
  }

  private onRunnerEvent(event: Native.BindingRunnerEvent): void {
    try {
      this.handleRunnerEvent(event);
    } catch (err) {
      // Never let an exception escape into the native callback.
      this.emit('error', err);
    }
  }

  private handleRunnerEvent(event: Native.BindingRunnerEvent): void {
    switch (event.kind) {
      case 'jobs': {
        const list = JSON.parse(event.jobs ?? '[]') as (string | string[])[];
        for (let i = 0; i + 2 < list.length; i += 3) {
          this.startJob(list[i] as string, list[i + 1] as string, list[i + 2] as string[]);
        }
        break;
      }
      case 'completed':
        this.completedBatch(event);
        break;
      case 'drained':
        this.emit('drained');
        break;
      case 'stalled':
        this.tracing?.stalled(event.jobIds ?? []);
        for (const jobId of event.jobIds ?? []) this.emit('stalled', jobId, 'active');
        break;
      case 'locksRenewed': {
        const jobIds = event.jobIds ?? [];
        this.tracing?.locksExtended(jobIds);
        this.emit('locksRenewed', { count: jobIds.length, jobIds });
        break;
      }
      case 'lockRenewalFailed': {
        const ids = event.jobIds ?? [];
        this.tracing?.locksExtended(ids);
        this.emit('lockRenewalFailed', ids);
        for (const jobId of ids) {
          const err = new Error(`could not renew lock for job ${jobId}`);
          this.inFlight.get(jobId)?.controller?.abort(err);
          this.emit('error', err);
        }
        break;
      }
      case 'lockLost': {
        const tokens = event.tokens ?? [];
        (event.jobIds ?? []).forEach((jobId, i) => {
          const entry = this.inFlight.get(jobId);
          // Only the attempt that lost the lock: the job may run here again.
          if (entry && entry.token === tokens[i]) entry.controller?.abort(lockLostError(jobId));
        });
        break;
      }
      case 'cancel':
        for (const jobId of event.jobIds ?? []) this.cancelJob(jobId, event.message ?? undefined);
        break;
      case 'error':
        this.emit('error', fromNative(new Error(event.message ?? 'unknown error')));
        break;
    }
  }

  /** Hands a job (its raw hash, or the hash as a flat field/value list) to the processor. */
  private startJob(id: string, token: string, fields: string[] | JobJsonRaw | JobJson): void {
    let job: Job<DataType, ResultType, NameType>;
    try {
      job = Array.isArray(fields)
        ? Job.fromFlat<DataType, ResultType, NameType>(this, fields, id)
        : Job.fromJSON<DataType, ResultType, NameType>(this, fields, id);
    } catch (err) {
      // Unreadable job: let go of it (its lock expires and the stalled
      // checker puts it back) and report why.
      this.runner?.releaseJob(id, token);
      this.emit('error', err);
      return;
    }
    job.token = token;
    // Fetched again while an attempt of it is still in flight here: that
    // attempt lost its lock (the job stalled and went back to wait).
    const previous = this.inFlight.get(id);
    if (previous && previous.token !== token) previous.controller?.abort(lockLostError(id));
    const controller = this.wantsSignal ? new AbortController() : undefined;
    const entry: InFlight = { job, token, controller, failing: false, reported: false };
    this.inFlight.set(id, entry);
    this.unsettled += 1;
    if (this.ownsNextIteration(job)) {
      const next = this.continueSchedule(job);
      this.tracing?.schedulerContinued(job, next);
      void next.then(() => this.process(entry));
    } else {
      if (this.tracing !== undefined && job.repeatJobKey) this.tracing.engineContinued(job, this.nativeQueue);
      this.process(entry);
    }
  }

  /**
   * Whether this worker computes the next iteration of the job's scheduler
   * itself: a pattern scheduler's iteration, with `settings.repeatStrategy`
   * (the engine adds every other next iteration as it fetches).
   */
  private ownsNextIteration(job: Job): boolean {
    return this.repeatStrategy !== undefined && !!job.repeatJobKey && !!job.opts.repeat?.pattern;
  }

  /**
   * Adds the next iteration of the job's scheduler at the time the worker's
   * repeat strategy gives, before the job is processed (as BullMQ does). A
   * failure is reported as an `error` event.
   */
  private async continueSchedule(job: Job): Promise<string | undefined> {
    try {
      const prev = typeof job.opts.prevMillis === 'number' ? job.opts.prevMillis : 0;
      const next = await this.repeatStrategy!(Math.max(Date.now(), prev), job.opts.repeat!, job.name);
      const q = await this.nativeQueue;
      return (await native(q.continueJobScheduler(job.id as string, typeof next === 'number' ? next : undefined))) ?? undefined;
    } catch (err) {
      this.emit('error', new Error(`Failed to add repeatable job for next iteration: ${toError(err).message}`));
      return undefined;
    }
  }

  /**
   * Why a job handed out must fail without running: a deferred failure
   * (stalled too often, or a failed child with failParentOnFailure), or
   * started more often than `maxStartedAttempts` allows. As BullMQ's worker.
   */
  private unrecoverableReason(job: Job): string | undefined {
    if (job.deferredFailure) return job.deferredFailure;
    const max = this.opts.maxStartedAttempts;
    if (max && max < job.attemptsStarted) return 'job started more than allowable limit';
    return undefined;
  }

  /** Emits `active` and runs the processor on a job handed out. */
  private process(entry: InFlight): void {
    if (this.tracing !== undefined && entry.trace === undefined) {
      // The processor, and what its outcome settles into, run in the job's span.
      const trace = (entry.trace = this.tracing.process(entry.job));
      trace.run(() => this.process(entry));
      return;
    }
    const { job, token, controller } = entry;
    this.emit('active', job, 'waiting');
    const unrecoverable = this.unrecoverableReason(job);
    if (unrecoverable !== undefined) {
      void this.settleFailed(entry, new UnrecoverableError(unrecoverable));
      return;
    }
    const timeout = timeoutOf(job.opts.timeout, this.opts.timeout);
    if (timeout > 0) {
      // Unref'd: a pending timeout alone does not keep a closed worker's process alive.
      entry.timer = setTimeout(() => this.timedOut(entry, timeout), timeout);
      entry.timer.unref();
    }
    let result: unknown;
    try {
      result = this.processFn!(job as Job<DataType, ResultType, NameType>, token, controller?.signal);
    } catch (err) {
      if (this.takeOutcome(entry)) void this.settleFailed(entry, err);
      return;
    }
    if (isThenable(result)) {
      Promise.resolve(result).then(
        (value) => this.takeOutcome(entry) && this.settleCompleted(entry, value),
        (err) => this.takeOutcome(entry) && void this.settleFailed(entry, err),
      );
    } else if (this.takeOutcome(entry)) {
      this.settleCompleted(entry, result);
    }
  }

  /** True for the first outcome of an attempt (the processor's, or its timeout); stops the timer. */
  private takeOutcome(entry: InFlight): boolean {
    if (entry.done) return false;
    entry.done = true;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    return true;
  }

  /**
   * The job's timeout passed: its signal aborts and the attempt fails (and
   * is retried while attempts remain) whatever the processor does next.
   */
  private timedOut(entry: InFlight, ms: number): void {
    if (!this.takeOutcome(entry)) return;
    const err = timeoutError(entry.job.id as string, ms);
    entry.controller?.abort(err);
    void this.settleFailed(entry, err);
  }

  /** A job's outcome was handled. */
  private settled(entry: InFlight): void {
    entry.trace?.end();
    if (this.inFlight.get(entry.job.id as string) === entry) this.inFlight.delete(entry.job.id as string);
    this.unsettled -= 1;
    if (this.unsettled === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private settleCompleted(entry: InFlight, value: unknown): void {
    if (this.abandoned) {
      this.settled(entry);
      return;
    }
    let text: string | undefined;
    try {
      text = value === undefined || value === null ? 'null' : JSON.stringify(value);
    } catch (err) {
      void this.settleFailed(entry, err);
      return;
    }
    const { job } = entry;
    const attempts = job.opts.attempts;
    // Tokens are `{worker id}:{n}` (a UUID and a number): JSON as they are.
    const json =
      `[${jsonString(job.id as string)},"${entry.token}",${text ?? 'null'},${this.keepText(job.opts.removeOnComplete)},` +
      `${typeof attempts === 'number' && Number.isInteger(attempts) ? attempts : jsonNumber(attempts ?? 0)},1]`;
    entry.trace?.completing();
    this.completions.push({ entry, value, json });
    if (this.completions.length === 1) queueMicrotask(() => this.flushCompletions());
  }

  /**
   * `removeOnComplete,workerRemoveOnComplete` of a completion: the job's and
   * the worker's options as JSON (null when absent); the engine resolves
   * them. The worker's text is kept while its option is the same plain value.
   */
  private keepText(jobOpt: JobsOptions['removeOnComplete']): string {
    const workerOpt = this.opts.removeOnComplete;
    let workerText = this.keepFor.text;
    if (workerText === undefined || this.keepFor.opt !== workerOpt) {
      workerText = optionJson(workerOpt);
      // An object may change in place: only a plain value is remembered.
      if (workerOpt === null || typeof workerOpt !== 'object') this.keepFor = { opt: workerOpt, text: workerText };
    }
    return jobOpt === undefined ? `null,${workerText}` : `${optionJson(jobOpt)},${workerText}`;
  }

  /** Sends the completions of this tick to the engine (see MAX_COMPLETIONS_PER_CALL). */
  private flushCompletions(): void {
    const all = this.completions;
    this.completions = [];
    const per = Math.min(MAX_COMPLETIONS_PER_CALL, Math.ceil(this._concurrency / 2));
    const calls = Math.ceil(all.length / per);
    const size = Math.ceil(all.length / calls);
    for (let from = 0; from < all.length; from += size) {
      this.sendCompletions(from === 0 && size >= all.length ? all : all.slice(from, from + size));
    }
  }

  /** Completes a batch in one engine call; the results come back as a `completed` runner event. */
  private sendCompletions(batch: Completion[]): void {
    const id = (this.batchSeq = (this.batchSeq + 1) >>> 0);
    let payload = '[';
    for (let i = 0; i < batch.length; i++) payload += (i > 0 ? ',' : '') + batch[i].json;
    this.sentBatches.set(id, batch);
    try {
      this.runner!.completeJobs(id, `${payload}]`);
    } catch (err) {
      this.sentBatches.delete(id);
      for (const c of batch) this.settled(c.entry);
      this.emit('error', fromNative(err as Error));
    }
  }

  /** The results of a completion batch: reports each job and starts the next ones. */
  private completedBatch(event: Native.BindingRunnerEvent): void {
    const batch = this.sentBatches.get(event.batch ?? -1);
    if (!batch) return;
    this.sentBatches.delete(event.batch!);
    if (event.jobs === undefined || event.jobs === null) {
      const err = fromNative(new Error(event.message ?? 'completing jobs failed'));
      for (const c of batch) {
        c.entry.trace?.completionFailed(err);
        this.settled(c.entry);
      }
      this.emit('error', err);
      return;
    }
    const results = JSON.parse(event.jobs) as (string | number | [string, string[]] | null)[];
    for (let i = 0; i < batch.length; i++) {
      const { entry, value } = batch[i];
      const error = results[3 * i] as string | null;
      // The next job is locked by the same token.
      const next = results[3 * i + 2] as [string, string[]] | 0;
      if (error !== null) {
        const err = fromNative(new Error(error));
        entry.trace?.completionFailed(err);
        this.emit('error', err);
        if (COMPLETION_REFUSED.has((err as { code?: number }).code as number)) {
          // As BullMQ: a parent that cannot complete fails with the reason.
          void this.failRefusedCompletion(entry, err);
          continue;
        }
      } else {
        const { job } = entry;
        job.returnvalue = value as ResultType;
        job.finishedOn = Date.now();
        job.attemptsMade += 1;
        entry.trace?.completed(value);
        this.emit('completed', job, value, 'active');
      }
      if (results[3 * i + 1] === 1) this.emit('drained');
      if (next !== 0) this.startJob(next[0], entry.token, next[1]);
      this.settled(entry);
    }
  }

  /**
   * Fails a job whose completion was refused (it has pending or failed
   * children): the job is still active and locked; the run loop let go of it.
   */
  private async failRefusedCompletion(entry: InFlight, err: Error): Promise<void> {
    try {
      const fail = () => entry.job.moveToFailed(err, entry.token, false);
      // Reported from the engine's callback: the failure's span goes back into the job's.
      await (entry.trace ? entry.trace.run(fail) : fail());
      this.emit('failed', entry.job, err, 'active');
      entry.trace?.failed(err);
    } catch (e) {
      this.emit('error', e);
    } finally {
      this.settled(entry);
    }
  }

  private async settleFailed(entry: InFlight, thrown: unknown): Promise<void> {
    const err = toError(thrown);
    const { job, token } = entry;
    const w = this.runner!;
    try {
      if (this.abandoned) return;
      if (err.message === RATE_LIMIT_MESSAGE) {
        entry.reported = true;
        await native(w.rateLimitJob(job.id as string, token));
        entry.trace?.counted('waiting');
        return;
      }
      if (isMovedError(err)) {
        entry.reported = true;
        w.releaseJob(job.id as string, token);
        return;
      }
      entry.failing = true;
      const next = await job.moveToFailed(err, token, true);
      this.emit('failed', job, err, 'active');
      entry.trace?.failed(err);
      if (entry.drained) this.emit('drained');
      if (next[0]) this.startJob(next[1], token, next[0]);
    } catch (e) {
      if (!entry.reported && !this.abandoned) {
        // The failure never reached the engine (a backoff strategy threw):
        // let go of the job; its lock expires and the stalled checker
        // recovers it.
        entry.reported = true;
        try {
          w.releaseJob(job.id as string, token);
        } catch {
          // Closed meanwhile.
        }
      }
      this.emit('error', e);
    } finally {
      this.settled(entry);
    }
  }

  /** Resolves when every job handed out was processed and reported. */
  private async whenCurrentJobsFinished(): Promise<void> {
    if (this.runnerStarted) {
      await this.runnerStarted.catch(() => undefined);
      if (this.runner) await native(this.runner.whenIdle()).catch(() => undefined);
    }
    if (this.unsettled > 0) {
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  /**
   * Cancels a job this worker is processing: its processor's signal aborts
   * with `reason`. True when the job was active here and its processor takes
   * a signal (a third parameter, as BullMQ decides), false otherwise. The
   * processor decides what to do (throwing fails the attempt as usual).
   */
  cancelJob(jobId: string, reason?: string): boolean {
    const entry = this.inFlight.get(jobId);
    if (!entry?.controller) return false;
    entry.controller.abort(reason);
    return true;
  }

  /** Cancels every job this worker is processing (see `cancelJob`). */
  cancelAllJobs(reason?: string): void {
    for (const entry of this.inFlight.values()) entry.controller?.abort(reason);
  }

  /**
   * Pauses this worker: it takes no new job. Unless `doNotWaitActive`,
   * resolves once the jobs in progress finished. Emits `paused`.
   */
  async pause(doNotWaitActive?: boolean): Promise<void> {
    if (this.paused) return;
    this.paused = true;
    // A resume() while this pause waits supersedes it: the worker stays in
    // the state asked for last, and this call resolves without pausing.
    const request = ++this.pauseRequests;
    const superseded = new Promise<void>((resolve) => (this.supersedePause = resolve));
    const current = () => request === this.pauseRequests;
    if (this.runnerStarted) {
      await Promise.race([this.runnerStarted.catch(() => undefined), superseded]);
      if (!current()) return;
      this.runner?.pauseRunner();
      if (!doNotWaitActive) {
        await Promise.race([this.whenCurrentJobsFinished(), superseded]);
        if (!current()) return;
        this.endRun?.();
      }
    }
    this.supersedePause = undefined;
    this.emit('paused');
  }

  /** Resumes a paused worker. Emits `resumed`. */
  resume(): void {
    if (this.running && !this.paused) return;
    this.paused = false;
    this.pauseRequests += 1;
    this.supersedePause?.();
    this.supersedePause = undefined;
    if (this.running) {
      this.runner?.resumeRunner().catch((err) => this.emit('error', fromNative(err)));
    } else if (this.processFn && !this.closing) {
      this.run().catch((err) => this.emit('error', err));
    }
    this.emit('resumed');
  }

  /**
   * Moves the next job to active, locked by `token`. With `block` (default
   * true) waits on the queue's marker first; undefined when no job came.
   */
  async getNextJob(token: string, opts?: { block?: boolean }): Promise<Job<DataType, ResultType, NameType> | undefined> {
    tokenArg('getNextJob', token);
    const { block = true } = optionsArg<{ block: boolean }>('getNextJob', opts);
    if (this.closing || this.paused) return undefined;
    const w = await this.nativeWorker;
    const raw = await native(w.getNextJob(token, block !== false));
    if (!raw) return undefined;
    const job = Job.fromJSON<DataType, ResultType, NameType>(this, rawFromFlat(raw.fields), raw.id);
    job.token = token;
    if (this.ownsNextIteration(job)) {
      const next = this.continueSchedule(job);
      this.tracing?.schedulerContinued(job, next);
      await next;
    } else if (this.tracing !== undefined && job.repeatJobKey) {
      this.tracing.engineContinued(job, this.nativeQueue);
    }
    this.emit('active', job, 'waiting');
    return job;
  }

  /**
   * Runs the processor on a job this worker holds with `token` (from
   * getNextJob) and records the outcome as the automatic worker does:
   * completes it, or fails the attempt (retrying while attempts remain),
   * emitting `completed` or `failed`; a `RateLimitError` sends it back to
   * wait, a `DelayedError`/`WaitingError`/`WaitingChildrenError` leaves it
   * where the processor moved it. Unless `fetchNextCallback()` is false (or
   * the worker is closing or paused), resolves with the next job, locked by
   * the same token and announced with `active`; otherwise with undefined.
   */
  async processJob(
    job: Job<DataType, ResultType, NameType>,
    token: string,
    fetchNextCallback: () => boolean = () => true,
  ): Promise<void | Job<DataType, ResultType, NameType>> {
    tokenArg('processJob', token);
    if (!this.processFn) throw new Error('No process function is defined.');
    const controller = this.wantsSignal ? new AbortController() : undefined;
    // Tracked so that cancelJob reaches its signal.
    const entry: InFlight = { job, token, controller, failing: false, reported: false };
    const id = job.id as string;
    this.inFlight.set(id, entry);
    try {
      if (job.deferredFailure) {
        return await this.recordFailed(new UnrecoverableError(job.deferredFailure), job, token, fetchNextCallback);
      }
      let result: ResultType;
      try {
        result = await this.processFn(job, token, controller?.signal);
      } catch (err) {
        return await this.recordFailed(toError(err), job, token, fetchNextCallback);
      }
      if (this.closed) return;
      const next = await job.moveToCompleted(result, token, this.mayFetchNext(fetchNextCallback));
      this.emit('completed', job, result, 'active');
      return this.nextFetched(next, token);
    } finally {
      if (this.inFlight.get(id) === entry) this.inFlight.delete(id);
    }
  }

  /** Whether a finish of processJob fetches the next job. */
  private mayFetchNext(fetchNextCallback: () => boolean): boolean {
    return fetchNextCallback() && !(this.closing || this.paused);
  }

  /** processJob's handling of a processor that threw. */
  private async recordFailed(
    err: Error,
    job: Job<DataType, ResultType, NameType>,
    token: string,
    fetchNextCallback: () => boolean,
  ): Promise<void | Job<DataType, ResultType, NameType>> {
    if (this.closed) return;
    if (err.message === RATE_LIMIT_MESSAGE) {
      await job.moveToWait(token);
      return;
    }
    const fetchNext = this.mayFetchNext(fetchNextCallback);
    if (isMovedError(err)) {
      return fetchNext ? this.getNextJob(token, { block: false }) : undefined;
    }
    const { state, next } = await job._failAttempt(err, token, fetchNext);
    this.emit('failed', job, err, 'active');
    // An attempt retried at once fetches nothing, as in BullMQ.
    return fetchNext && state !== 'waiting' ? this.nextFetched(next, token) : undefined;
  }

  /** The job a fetch-next of processJob brought (announced with `active`), or `drained` once. */
  private async nextFetched(
    next: NextJobData,
    token: string,
  ): Promise<Job<DataType, ResultType, NameType> | undefined> {
    if (next.length === 0 || next[0] === null) {
      if (!this.processDrained) {
        this.processDrained = true;
        this.emit('drained');
      }
      return undefined;
    }
    this.processDrained = false;
    const job = Job.fromJSON<DataType, ResultType, NameType>(this, next[0], next[1] as string);
    job.token = token;
    if (this.ownsNextIteration(job)) await this.continueSchedule(job);
    this.emit('active', job, 'waiting');
    return job;
  }

  /** The job schedulers of this worker's queue (on the worker's connection). */
  get jobScheduler(): Promise<JobScheduler> {
    return Promise.resolve(JobScheduler.of(this));
  }

  /**
   * Extends to `duration` ms the locks of `jobIds`, each held by the token
   * at the same index of `tokens`; resolves with the ids whose lock was gone
   * or held by another token.
   */
  async extendJobLocks(jobIds: string[], tokens: string[], duration: number): Promise<string[]> {
    if (!Array.isArray(jobIds) || !Array.isArray(tokens)) {
      throw new TypeError('extendJobLocks: jobIds and tokens must be arrays');
    }
    integerArg('extendJobLocks', 'duration', duration, 1);
    const q = await this.nativeQueue;
    // A job without a token cannot hold its lock: it is reported as failed.
    const paired = jobIds.map((_, i) => (typeof tokens[i] === 'string' ? tokens[i] : ''));
    return native(q.extendLocks(jobIds.map(String), paired, duration));
  }

  /**
   * The shortest time, in seconds, this worker blocks waiting for a job:
   * 0.001, or 0.002 on Redis before 7.0.8 (and with `skipVersionCheck`).
   */
  get minimumBlockTimeout(): number {
    return this.opened?.minimumBlockTimeout ?? 0.001;
  }

  /** The longest time, in seconds, this worker blocks waiting for a job (10). */
  get maximumBlockTimeout(): number {
    return binding.maximumBlockTimeout();
  }

  /**
   * Seconds to block waiting for a job: until `blockUntil` (ms, the due time
   * of the next delayed job; 0 when none is known) within the minimum and
   * maximum block timeouts, otherwise `drainDelay`. A value <= 0 means the
   * time has come: fetch without blocking.
   */
  protected getBlockTimeout(blockUntil: number): number {
    return binding.blockTimeout(blockUntil, Date.now(), this.opts.drainDelay!, this.minimumBlockTimeout);
  }

  /** Waits `milliseconds` (default 100), or until `abortController` aborts. */
  async delay(milliseconds?: number, abortController?: AbortController): Promise<void> {
    await delay(milliseconds || DELAY_TIME_1, abortController);
  }

  /**
   * Drops the worker's connections at once, without the steps of `close()`:
   * the worker is not closed (running jobs are not waited for) and its
   * Redis calls fail from now on. `close()` still works afterwards.
   */
  async disconnect(): Promise<void> {
    try {
      await (await this.nativeWorker).dropBlockingConnection();
    } catch {
      // Never connected.
    }
    await super.disconnect();
  }

  /** @internal */
  async _finish(finish: Native.BindingFinish): Promise<Native.BindingFetched> {
    const w = await this.nativeWorker;
    return native(w.moveToFinished(finish));
  }

  /** @internal */
  async _fail(attempt: Native.BindingFailedAttempt): Promise<Native.BindingFailed> {
    const w = await this.nativeWorker;
    const entry = this.inFlight.get(attempt.jobId);
    if (this.runner && entry && entry.failing && !entry.reported && entry.token === attempt.token) {
      // The worker failing a job of its run loop: the loop lets go of it and
      // may hand out the next one.
      entry.reported = true;
      const result = await native(this.runner.failJob(attempt));
      entry.drained = result.drained;
      return result.failed;
    }
    return native(w.moveToFailed(attempt));
  }

  /**
   * Rate limits the queue for `expireTimeMs`: workers with a `limiter` (or
   * under a global rate limit) get no job until it expires. Follow it with
   * `job.moveToWait(token)` for the job at hand, or throw
   * `Worker.RateLimitError()` from a processor.
   */
  async rateLimit(expireTimeMs: number): Promise<void> {
    integerArg('rateLimit', 'expireTimeMs', expireTimeMs, 1);
    const q = await this.nativeQueue;
    await native(q.rateLimit(expireTimeMs));
  }

  /**
   * Starts the stalled-job checker: a check now, then one every
   * `stalledInterval` until the worker closes. Active jobs whose lock expired
   * go back to wait and the worker emits `stalled` (jobId, 'active'); jobs
   * that stalled more than `maxStalledCount` times get a `deferredFailure`,
   * and the worker that fetches one next fails it instead of running it.
   * `run()` starts it by itself; call it when processing manually.
   */
  async startStalledCheckTimer(): Promise<void> {
    if (this.opts.skipStalledCheck || this.closing) return;
    const w = await this.nativeWorker;
    if (this.closing) return;
    await native(
      w.startStalledCheckTimer((report) => {
        if (report.error !== undefined && report.error !== null) {
          this.emit('error', new Error(report.error));
          return;
        }
        this.tracing?.stalled(report.jobIds);
        for (const jobId of report.jobIds) this.emit('stalled', jobId, 'active');
      }),
    );
  }

  /**
   * Closes the worker. It takes no new job; unless `force`, waits for the
   * jobs in progress to finish and be reported. A blocked fetch or
   * getNextJob returns at once. Emits `closing` then `closed`.
   */
  close(force = false): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        this.emit('closing', 'closing queue');
        let w: Native.BindingWorker | undefined;
        try {
          w = await this.nativeWorker;
        } catch {
          // Never connected: nothing to close.
        }
        if (w) {
          await this.runnerStarted?.catch(() => undefined);
          await w.stopRunner();
          // Outcomes settling after this point are not reported (forced close).
          if (force) this.abandoned = true;
          else await this.whenCurrentJobsFinished();
          this.abandoned = true;
          await w.close();
          await (await this.nativeQueue).close();
        }
        if (this.sandbox) {
          // Ends the children (a forced close does not wait for busy ones).
          const ended = this.sandbox.close().catch((err) => this.emit('error', err));
          if (!force) await ended;
        }
        this.closed = true;
        this.endRun?.();
        this.emit('closed');
      })();
    }
    return this.closing;
  }
}
