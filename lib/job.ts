/**
 * Job: the JS view of a job hash, and the methods BullMQ users call on it.
 * Every Redis operation goes through the native layer.
 */
import { requirePositiveMs, requireToken } from './arguments';
import { native, UnrecoverableError } from './errors';
import type { Native } from './native';
import type {
  JobJson,
  JobJsonRaw,
  JobProgress,
  JobsOptions,
  KeepJobs,
} from './types';

/** Long option names BullMQ stores under a short key. */
const SHORT_KEYS: Record<string, string> = {
  de: 'deduplication',
  fpof: 'failParentOnFailure',
  cpof: 'continueParentOnFailure',
  idof: 'ignoreDependencyOnFailure',
  rdof: 'removeDependencyOnFailure',
  kl: 'keepLogs',
};

/**
 * What a job needs from the Queue or Worker it belongs to.
 * @internal
 */
export interface JobHost {
  readonly name: string;
  readonly qualifiedName: string;
  readonly opts: { prefix?: string; [key: string]: any };
  _queue(): Promise<Native.BindingQueue>;
  /** Finishes a job; a Worker records the fetch-next state. */
  _finish(finish: Native.BindingFinish): Promise<Native.BindingFetched>;
  /** Fails an attempt with the host's fetch settings (a Worker); else the queue's. */
  _fail?(attempt: Native.BindingFailedAttempt): Promise<Native.BindingFailed>;
  emit(event: string | symbol, ...args: any[]): boolean;
}

/** Expands BullMQ's stored option keys back to their public names. */
export function optsFromStored(stored: Record<string, any>): JobsOptions {
  const out: Record<string, any> = {};
  for (const [key, value] of Object.entries(stored)) {
    out[SHORT_KEYS[key] ?? key] = value;
  }
  if (out.tm !== undefined || out.omc !== undefined) {
    out.telemetry = { metadata: out.tm, omitContext: out.omc };
    delete out.tm;
    delete out.omc;
  }
  return out as JobsOptions;
}

function parseJson<T>(text: string | undefined, fallback: T): T {
  if (text === undefined || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function parseIntField(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = parseInt(text, 10);
  return Number.isNaN(n) ? undefined : n;
}

/** Flat `[field, value, ...]` to an object. */
export function rawFromFlat(fields: string[]): JobJsonRaw {
  const raw: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    raw[fields[i]] = fields[i + 1];
  }
  return raw as JobJsonRaw;
}

/** BullMQ's KeepJobs resolution: the job's option wins over the worker's. */
export function resolveKeepJobs(
  jobOpt: boolean | number | KeepJobs | undefined,
  workerOpt: boolean | number | KeepJobs | undefined,
): Native.BindingKeepJobs {
  const v = jobOpt !== undefined ? jobOpt : workerOpt;
  if (v === true) return { count: 0 };
  if (v === false || v === undefined || v === null) return { count: -1 };
  if (typeof v === 'number') return { count: v };
  return {
    count: v.count === undefined ? -1 : v.count,
    age: v.age,
    limit: v.limit,
  };
}

export class Job<DataType = any, ReturnType = any, NameType extends string = string> {
  /** Job id; assigned by Redis unless given as `opts.jobId`. */
  id?: string;
  /** Progress reported with updateProgress. */
  progress: JobProgress = 0;
  /** Value returned by the processor when the job completed. */
  returnvalue: ReturnType = null as ReturnType;
  /** Stack traces of the failed attempts. */
  stacktrace: string[] = [];
  /** Milliseconds the job was delayed when added. */
  delay = 0;
  /** Priority of the job (0 = none). */
  priority = 0;
  /** Creation time in milliseconds. */
  timestamp: number;
  /** Number of attempts finished (completed, failed or retried). */
  attemptsMade = 0;
  /** Number of times the job was moved to active. */
  attemptsStarted = 0;
  /** Number of times the job was recovered from a stall. */
  stalledCounter = 0;
  /** Reason of the last failure. */
  failedReason!: string;
  /** When the job finished. */
  finishedOn?: number;
  /** When the job was last moved to active. */
  processedOn?: number;
  /** Name of the worker that processed the job. */
  processedBy?: string;
  /** Lock token of the worker that holds the job. */
  token?: string;
  /** Full key of the parent job. */
  parentKey?: string;
  parent?: { id: string; queueKey: string };
  repeatJobKey?: string;
  deduplicationId?: string;
  /** Reason a worker must fail this job without running it. */
  deferredFailure?: string;
  /** `{prefix}:{queueName}`. */
  readonly queueQualifiedName: string;
  opts: JobsOptions;

  constructor(
    protected queue: JobHost,
    public name: NameType,
    public data: DataType,
    opts: JobsOptions = {},
    id?: string,
  ) {
    this.opts = { attempts: 0, ...opts };
    this.id = id;
    this.timestamp = opts.timestamp ?? Date.now();
    this.delay = opts.delay ?? 0;
    this.priority = opts.priority ?? 0;
    this.queueQualifiedName = queue.qualifiedName;
  }

  /** Adds a job to the queue and returns it. */
  static async create<T = any, R = any, N extends string = string>(
    queue: JobHost & { add(name: N, data: T, opts?: JobsOptions): Promise<Job<T, R, N>> },
    name: N,
    data: T,
    opts?: JobsOptions,
  ): Promise<Job<T, R, N>> {
    return queue.add(name, data, opts);
  }

  /** Adds several jobs in one round trip. */
  static async createBulk<T = any, R = any, N extends string = string>(
    queue: JobHost & {
      addBulk(jobs: { name: N; data: T; opts?: JobsOptions }[]): Promise<Job<T, R, N>[]>;
    },
    jobs: { name: N; data: T; opts?: JobsOptions }[],
  ): Promise<Job<T, R, N>[]> {
    return queue.addBulk(jobs);
  }

  /** Reads a job from Redis; undefined when it does not exist. */
  static async fromId<T = any, R = any, N extends string = string>(
    queue: JobHost,
    jobId: string,
  ): Promise<Job<T, R, N> | undefined> {
    if (!jobId) return undefined;
    const q = await queue._queue();
    const raw = await native(q.getJob(String(jobId)));
    return raw ? Job.fromJSON<T, R, N>(queue, rawFromFlat(raw.fields), raw.id) : undefined;
  }

  /** Builds a job from its raw hash (as returned by moveToCompleted with fetchNext). */
  static fromJSON<T = any, R = any, N extends string = string>(
    queue: JobHost,
    json: JobJsonRaw,
    jobId?: string,
  ): Job<T, R, N> {
    const data = parseJson<T>(json.data || '{}', {} as T);
    const opts = optsFromStored(parseJson<Record<string, any>>(json.opts, {}));
    const job = new Job<T, R, N>(queue, json.name as N, data, opts, jobId ?? (json as any).id);
    job.progress = parseJson<JobProgress>(json.progress, 0);
    job.delay = parseIntField(json.delay) ?? 0;
    job.priority = parseIntField(json.priority) ?? 0;
    job.timestamp = parseIntField(json.timestamp) ?? 0;
    job.finishedOn = parseIntField(json.finishedOn);
    job.processedOn = parseIntField(json.processedOn);
    job.attemptsMade = parseIntField(json.attemptsMade ?? json.atm) ?? 0;
    job.attemptsStarted = parseIntField(json.ats) ?? 0;
    job.stalledCounter = parseIntField(json.stc) ?? 0;
    job.failedReason = json.failedReason as string;
    job.stacktrace = parseJson<string[]>(json.stacktrace, []) ?? [];
    if (!Array.isArray(job.stacktrace)) job.stacktrace = [];
    if (json.returnvalue !== undefined) {
      job.returnvalue = parseJson<R>(json.returnvalue, undefined as R);
    }
    job.parentKey = json.parentKey;
    if (json.parent) job.parent = parseJson(json.parent, undefined);
    job.repeatJobKey = json.rjk;
    job.deduplicationId = json.deid;
    job.deferredFailure = json.defa;
    job.processedBy = json.pb;
    return job;
  }

  /** The job as BullMQ serializes it. */
  asJSON(): JobJson {
    return {
      id: this.id as string,
      name: this.name,
      data: JSON.stringify(this.data === undefined ? {} : this.data),
      opts: this.opts,
      progress: this.progress,
      attemptsMade: this.attemptsMade,
      attemptsStarted: this.attemptsStarted,
      stalledCounter: this.stalledCounter,
      finishedOn: this.finishedOn,
      processedOn: this.processedOn,
      timestamp: this.timestamp,
      failedReason: JSON.stringify(this.failedReason),
      stacktrace: JSON.stringify(this.stacktrace),
      returnvalue: JSON.stringify(this.returnvalue),
      parentKey: this.parentKey,
      processedBy: this.processedBy,
      delay: this.delay,
      priority: this.priority,
    };
  }

  toJSON(): Record<string, unknown> {
    const { queue: _queue, ...rest } = this as any;
    return rest;
  }

  /**
   * Moves an active job to completed. With `fetchNext` (default true) returns
   * `[jobData, jobId]` of the next job, already locked by the same token.
   */
  async moveToCompleted(
    returnValue: ReturnType,
    token: string,
    fetchNext = true,
  ): Promise<[JobJsonRaw, string] | []> {
    requireToken(token);
    const value = JSON.stringify(returnValue === undefined ? null : returnValue);
    if (value === undefined) {
      throw new TypeError('returnValue is not JSON-serializable');
    }
    const result = await this.queue._finish({
      jobId: this.id as string,
      token,
      returnValue: value,
      keep: resolveKeepJobs(this.opts.removeOnComplete, this.queue.opts.removeOnComplete),
      attempts: this.opts.attempts ?? 0,
      fetchNext,
    });
    this.returnvalue = returnValue;
    this.finishedOn = Date.now();
    this.attemptsMade += 1;
    if (result.job) {
      return [rawFromFlat(result.job.fields), result.job.id];
    }
    return [];
  }

  /**
   * Fails the current attempt of an active job held by `token`. While
   * attempts are left and the error is not an `UnrecoverableError`, the job
   * is retried: to delayed for its backoff, or straight back to wait;
   * otherwise it moves to failed. `failedReason` is the error's message and
   * its stack is added to `stacktrace` (trimmed to `opts.stackTraceLimit`).
   * With `fetchNext` returns `[jobData, jobId]` of the next job, already
   * locked by the same token, or `[]`.
   */
  async moveToFailed<E extends Error>(
    err: E,
    token: string,
    fetchNext = false,
  ): Promise<[JobJsonRaw, string] | []> {
    if (err === null || typeof err !== 'object') {
      throw new TypeError(`err must be an Error, got ${err === null ? 'null' : typeof err}`);
    }
    requireToken(token);
    const reason = err.message === undefined ? '' : String(err.message);
    this.failedReason = reason;
    const unrecoverable = err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
    const attempts = this.opts.attempts ?? 0;
    // A custom backoff strategy is user code: run it here, only when a retry
    // is possible; the engine decides the rest.
    let customDelay: number | undefined;
    const backoff = this.opts.backoff;
    const strategy = this.queue.opts.settings?.backoffStrategy;
    if (
      typeof strategy === 'function' &&
      typeof backoff === 'object' &&
      backoff !== null &&
      backoff.type !== 'fixed' &&
      backoff.type !== 'exponential' &&
      !unrecoverable &&
      this.attemptsMade + 1 < attempts
    ) {
      const delay = await strategy(this.attemptsMade + 1, backoff.type, err, this);
      customDelay = typeof delay === 'number' && Number.isFinite(delay) ? Math.trunc(delay) : 0;
    }
    const attempt: Native.BindingFailedAttempt = {
      jobId: this.id as string,
      token,
      reason,
      stack: typeof err.stack === 'string' ? err.stack : undefined,
      stacktrace: (Array.isArray(this.stacktrace) ? this.stacktrace : []).map(String),
      attemptsMade: this.attemptsMade,
      unrecoverable,
      customDelay,
      opts: JSON.stringify(this.opts),
      defaultKeep: resolveKeepJobs(undefined, this.queue.opts.removeOnFail),
      fetchNext,
    };
    const result = this.queue._fail
      ? await this.queue._fail(attempt)
      : await native((await this.queue._queue()).moveToFailed(attempt));
    this.stacktrace = result.stacktrace;
    this.attemptsMade += 1;
    if (result.delay > 0) this.delay = result.delay;
    if (result.finishedOn !== undefined && result.finishedOn !== null) this.finishedOn = result.finishedOn;
    const next = result.next.job;
    return next ? [rawFromFlat(next.fields), next.id] : [];
  }

  /**
   * Moves an active job to delayed until `timestamp` (ms since epoch; a past
   * time means now). Does not count an attempt. `token` is the lock owner's
   * (`'0'` skips the lock check).
   */
  async moveToDelayed(timestamp: number, token?: string): Promise<void> {
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) {
      throw new TypeError(`timestamp must be a number of milliseconds, got ${String(timestamp)}`);
    }
    if (token !== undefined) requireToken(token);
    const q = await this.queue._queue();
    this.delay = await native(q.moveToDelayed(this.id as string, token ?? '0', Math.trunc(timestamp)));
  }

  /**
   * Moves an active job back to wait, where it runs next (or to the front of
   * its priority), without counting an attempt; used after
   * `queue.rateLimit()`. Returns the rate limit's remaining milliseconds
   * (0 when not limited).
   */
  async moveToWait(token?: string): Promise<number> {
    if (token !== undefined) requireToken(token);
    const q = await this.queue._queue();
    return native(q.moveJobFromActiveToWait(this.id as string, token ?? '0'));
  }

  /**
   * Extends the lock held by `token` to `duration` ms from now. Returns 1,
   * or 0 when the lock is missing or held by another token.
   */
  async extendLock(token: string, duration: number): Promise<number> {
    requireToken(token);
    const ms = requirePositiveMs(duration, 'duration');
    const q = await this.queue._queue();
    return native(q.extendLock(this.id as string, token, ms));
  }
}
