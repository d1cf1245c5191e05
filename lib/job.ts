/**
 * Job: the JS view of a job hash, and the methods BullMQ users call on it.
 * Every Redis operation goes through the native layer; the hash codec is in
 * job-codec.ts.
 */
import { SpanKind, TelemetryAttributes } from './enums';
import { native, nativeIn, UnrecoverableError } from './errors';
import { binding, type Native } from './native';
import { booleanArg, integerArg, jobIdArg, nonNegativeNumberArg, optionsArg, tokenArg } from './queue-args';
import { Backoffs } from './backoffs';
import { checkJobOptions } from './queue';
import { recordJobMetrics, traced, type Telemetry } from './telemetry';
import { optsDecodeMap as SHORT_KEYS } from './utils';
import {
  describe,
  firstPresent,
  intField,
  jsonText,
  nextJobData,
  optsFromStored,
  parseJson,
  progressText,
  rawFromFlat,
  type NextJobData,
} from './job-codec';
import type {
  BackoffOptions,
  FinishedStatus,
  JobJson,
  JobJsonRaw,
  JobJsonSandbox,
  JobProgress,
  JobsOptions,
  JobState,
} from './types';

/** Child-failure options and the flag BullMQ stores for each in `parent` (its short key). */
const PARENT_FLAGS = (['fpof', 'rdof', 'idof', 'cpof'] as const).map((flag) => [SHORT_KEYS[flag], flag] as const);

/** How a flow entry links to its parent (BullMQ's ParentKeyOpts). */
export interface FlowParentKeyOpts {
  /** Add the job to `waiting-children` (it has children of its own). */
  addToWaitingChildren?: boolean;
  /** Leave releasing the parent to the end of the flow insert. */
  deferParentRelease?: boolean;
  parentDependenciesKey?: string;
  parentKey?: string;
}

/** The `parent` field of a child job. */
export interface ParentKeys {
  id: string;
  queueKey: string;
  fpof?: boolean;
  rdof?: boolean;
  idof?: boolean;
  cpof?: boolean;
}

/**
 * What a job needs from the Queue or Worker it belongs to.
 * @internal
 */
export interface JobHost {
  readonly name: string;
  readonly qualifiedName: string;
  readonly opts: { prefix?: string; [key: string]: any };
  _queue(): Promise<Native.BindingQueue>;
  /**
   * A Worker reports its jobs' outcomes itself (its fetch settings, state
   * and run loop); every other host through its queue handle (see
   * `Job.reportCompleted` / `Job.reportFailed`).
   */
  _finish?(finish: Native.BindingFinish): Promise<Native.BindingFetched>;
  _fail?(attempt: Native.BindingFailedAttempt): Promise<Native.BindingFailed>;
  emit(event: string | symbol, ...args: any[]): boolean;
}

export class Job<DataType = any, ReturnType = any, NameType extends string = string> {
  /** Job id; assigned by Redis unless given as `opts.jobId`. */
  id?: string;
  /** Progress reported with updateProgress. */
  progress: JobProgress = 0;
  /** Value returned by the processor when the job completed. */
  returnvalue: ReturnType = null as ReturnType;
  /** Stack traces of the failed attempts (null until the job is read or fails). */
  stacktrace: string[] | null = null;
  /** Milliseconds the job was delayed when added (undefined when not given). */
  delay: number = 0;
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
  /** Parent id and queue key, with the child-failure flags BullMQ stores. */
  parent?: ParentKeys;
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
    const given = opts ?? {};
    let repeatJobKey: unknown;
    let rest: JobsOptions = given;
    // Copied once; a second time only to leave `repeatJobKey` out.
    if (typeof given !== 'object' || 'repeatJobKey' in given) ({ repeatJobKey, ...rest } = given);
    this.opts = { attempts: 0, ...rest };
    this.id = id;
    this.timestamp = this.opts.timestamp ?? Date.now();
    // As BullMQ's: a job made without a delay has none until read back from Redis.
    this.delay = this.opts.delay as number;
    this.priority = this.opts.priority || 0;
    // As BullMQ: the key is set even when there is no backoff.
    this.opts.backoff = Backoffs.normalize(this.opts.backoff as number | BackoffOptions | undefined);
    if (typeof repeatJobKey === 'string') this.repeatJobKey = repeatJobKey;
    const parent = this.opts.parent;
    if (parent && typeof parent === 'object') {
      this.parentKey = `${parent.queue}:${parent.id}`;
      this.parent = { id: parent.id, queueKey: parent.queue };
      for (const [long, flag] of PARENT_FLAGS) {
        if (this.opts[long]) this.parent[flag] = true;
      }
    }
    this.deduplicationId = this.opts.deduplication?.id;
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

  /**
   * Job options from their stored JSON text (`opts` of a job hash): short
   * keys expanded by `optsDecode` (BullMQ's optsDecodeMap by default),
   * `tm`/`omc` folded into `telemetry`. Throws on text that is not JSON.
   */
  static optsFromJSON(rawOpts?: string, optsDecode: Readonly<Record<string, string>> = SHORT_KEYS): JobsOptions {
    return optsFromStored(JSON.parse(rawOpts || '{}'), optsDecode);
  }

  /**
   * Appends a line to the log of job `jobId` of `queue`, keeping only the
   * newest `keepLogs` lines when given. Returns the number of lines kept.
   */
  static async addJobLog(queue: JobHost, jobId: string, logRow: string, keepLogs?: number): Promise<number> {
    if (typeof logRow !== 'string') {
      throw new TypeError(`addJobLog: logRow must be a string, got ${describe(logRow)}`);
    }
    if (keepLogs !== undefined && keepLogs !== null) nonNegativeInteger(keepLogs, 'keepLogs');
    const q = await queue._queue();
    return native(q.addJobLog(idOf({ id: jobId }), logRow, typeof keepLogs === 'number' && keepLogs > 0 ? keepLogs : undefined));
  }

  /** Reads a job from Redis; undefined when it does not exist. */
  static async fromId<T = any, R = any, N extends string = string>(
    queue: JobHost,
    jobId: string,
  ): Promise<Job<T, R, N> | undefined> {
    if (!jobId) return undefined;
    const id = jobIdArg('Job.fromId', jobId);
    const q = await queue._queue();
    const raw = await nativeIn('getJob', q.getJob(id));
    return raw ? Job.fromJSON<T, R, N>(queue, rawFromFlat(raw.fields), raw.id) : undefined;
  }

  /**
   * Builds a job from its stored form. Takes the raw hash as Redis holds it
   * (string fields, short keys: what HGETALL or moveToCompleted's fetch-next
   * return, including jobs written by the official package and its legacy
   * `attemptsMade` field), or the decoded form (`asJSON()`, BullMQ 6's
   * JobJson). `json.id`, when present, wins over `jobId`, as in BullMQ.
   */
  static fromJSON<T = any, R = any, N extends string = string>(
    queue: JobHost,
    json: JobJsonRaw | JobJson,
    jobId?: string,
  ): Job<T, R, N> {
    if (json === null || typeof json !== 'object') {
      throw new TypeError('Job.fromJSON expects the job as an object');
    }
    const j = json as Record<string, any>;
    // Decoded forms carry opts as an object and numbers as numbers.
    const decoded = (typeof j.opts === 'object' && j.opts !== null) || typeof j.timestamp === 'number';
    return Job.fromFields<T, R, N>(queue, j, jobId, decoded);
  }

  /**
   * A job from its raw hash as a flat `[field, value, ...]` list (what the
   * worker's run loop delivers), read into one object of a fixed shape with
   * the fields `fromJSON` reads (others are not needed), without copying the
   * list into an object of the hash's own shape first.
   * @internal
   */
  static fromFlat<T = any, R = any, N extends string = string>(
    queue: JobHost,
    flat: string[],
    jobId: string,
  ): Job<T, R, N> {
    const j = {
      name: undefined as string | undefined,
      data: undefined as string | undefined,
      opts: undefined as string | undefined,
      timestamp: undefined as string | undefined,
      delay: undefined as string | undefined,
      priority: undefined as string | undefined,
      processedOn: undefined as string | undefined,
      ats: undefined as string | undefined,
      atm: undefined as string | undefined,
      stc: undefined as string | undefined,
      id: undefined as string | undefined,
      progress: undefined as string | undefined,
      finishedOn: undefined as string | undefined,
      attemptsMade: undefined as string | undefined,
      attemptsStarted: undefined as string | undefined,
      stalledCounter: undefined as string | undefined,
      failedReason: undefined as string | undefined,
      stacktrace: undefined as string | undefined,
      returnvalue: undefined as string | undefined,
      parentKey: undefined as string | undefined,
      parent: undefined as string | undefined,
      repeatJobKey: undefined as string | undefined,
      rjk: undefined as string | undefined,
      deduplicationId: undefined as string | undefined,
      deid: undefined as string | undefined,
      deferredFailure: undefined as string | undefined,
      defa: undefined as string | undefined,
      processedBy: undefined as string | undefined,
      pb: undefined as string | undefined,
    };
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const value = flat[i + 1];
      switch (flat[i]) {
        case 'data': j.data = value; break;
        case 'opts': j.opts = value; break;
        case 'name': j.name = value; break;
        case 'timestamp': j.timestamp = value; break;
        case 'delay': j.delay = value; break;
        case 'priority': j.priority = value; break;
        case 'processedOn': j.processedOn = value; break;
        case 'ats': j.ats = value; break;
        case 'atm': j.atm = value; break;
        case 'stc': j.stc = value; break;
        case 'id': j.id = value; break;
        case 'progress': j.progress = value; break;
        case 'finishedOn': j.finishedOn = value; break;
        case 'attemptsMade': j.attemptsMade = value; break;
        case 'attemptsStarted': j.attemptsStarted = value; break;
        case 'stalledCounter': j.stalledCounter = value; break;
        case 'failedReason': j.failedReason = value; break;
        case 'stacktrace': j.stacktrace = value; break;
        case 'returnvalue': j.returnvalue = value; break;
        case 'parentKey': j.parentKey = value; break;
        case 'parent': j.parent = value; break;
        case 'repeatJobKey': j.repeatJobKey = value; break;
        case 'rjk': j.rjk = value; break;
        case 'deduplicationId': j.deduplicationId = value; break;
        case 'deid': j.deid = value; break;
        case 'deferredFailure': j.deferredFailure = value; break;
        case 'defa': j.defa = value; break;
        case 'processedBy': j.processedBy = value; break;
        case 'pb': j.pb = value; break;
      }
    }
    return Job.fromFields<T, R, N>(queue, j, jobId, false);
  }

  private static fromFields<T, R, N extends string>(
    queue: JobHost,
    j: Record<string, any>,
    jobId: string | undefined,
    decoded: boolean,
  ): Job<T, R, N> {
    const data = typeof j.data === 'string' ? parseJson<T>(j.data || '{}', {} as T) : ((j.data ?? {}) as T);
    const storedOpts = typeof j.opts === 'string' ? parseJson<Record<string, any>>(j.opts, {}) : (j.opts ?? {});
    const job = new Job<T, R, N>(queue, j.name as N, data, optsFromStored(storedOpts), j.id || jobId);
    job.progress = decoded ? (j.progress ?? 0) : parseJson<JobProgress>(j.progress, 0);
    job.delay = intField(j.delay) ?? 0;
    job.priority = intField(j.priority) ?? 0;
    job.timestamp = intField(j.timestamp) ?? 0;
    job.finishedOn = intField(j.finishedOn) || undefined;
    job.processedOn = intField(j.processedOn) || undefined;
    job.attemptsMade = intField(firstPresent(j.attemptsMade, j.atm)) ?? 0;
    job.attemptsStarted = intField(firstPresent(j.attemptsStarted, j.ats)) ?? 0;
    job.stalledCounter = intField(firstPresent(j.stalledCounter, j.stc)) ?? 0;
    if (j.failedReason) job.failedReason = j.failedReason;
    const traces = typeof j.stacktrace === 'string' ? parseJson<unknown>(j.stacktrace, []) : j.stacktrace;
    job.stacktrace = Array.isArray(traces) ? traces : [];
    if (typeof j.returnvalue === 'string') {
      job.returnvalue = parseJson<R>(j.returnvalue, undefined as R);
    } else if (j.returnvalue !== undefined) {
      job.returnvalue = j.returnvalue;
    }
    job.parentKey = j.parentKey || undefined;
    job.parent = typeof j.parent === 'string' ? parseJson(j.parent, undefined) : (j.parent ?? undefined);
    job.repeatJobKey = firstPresent(j.repeatJobKey, j.rjk) ?? job.repeatJobKey;
    job.deduplicationId = firstPresent(j.deduplicationId, j.deid) ?? job.deduplicationId;
    job.deferredFailure = firstPresent(j.deferredFailure, j.defa);
    job.processedBy = firstPresent(j.processedBy, j.pb);
    return job;
  }

  /**
   * The job in BullMQ's JobJson form: data, failedReason, stacktrace and
   * returnvalue as JSON text, undefined fields left out. `Job.fromJSON`
   * reads it back.
   */
  asJSON(): JobJson {
    const out: Record<string, unknown> = {
      id: this.id,
      name: this.name,
      data: JSON.stringify(this.data === undefined ? {} : this.data),
      opts: this.opts,
      parent: this.parent ? { ...this.parent } : undefined,
      parentKey: this.parentKey,
      progress: this.progress,
      attemptsMade: this.attemptsMade,
      attemptsStarted: this.attemptsStarted,
      stalledCounter: this.stalledCounter,
      finishedOn: this.finishedOn,
      processedOn: this.processedOn,
      timestamp: this.timestamp,
      delay: this.delay,
      priority: this.priority,
      failedReason: JSON.stringify(this.failedReason),
      stacktrace: JSON.stringify(this.stacktrace),
      deduplicationId: this.deduplicationId,
      repeatJobKey: this.repeatJobKey,
      returnvalue: JSON.stringify(this.returnvalue),
      processedBy: this.processedBy,
    };
    for (const key of Object.keys(out)) {
      if (out[key] === undefined) delete out[key];
    }
    return out as unknown as JobJson;
  }

  toJSON(): Record<string, unknown> {
    const { queue: _queue, ...rest } = this as any;
    return rest;
  }

  /**
   * `asJSON()` with the queue's name, qualified name and prefix: what a
   * sandboxed processor gets to rebuild the job in its process.
   */
  asJSONSandbox(): JobJsonSandbox {
    return { ...this.asJSON(), queueName: this.queueName, queueQualifiedName: this.queueQualifiedName, prefix: this.prefix };
  }

  /**
   * The job as one entry of a flow insert: its JobJson (after checking its
   * options as an add does), id, the parent links given, and its queue. The
   * entry describes the job; adding it is the FlowProducer's work.
   */
  toFlowEntry(parentOpts: FlowParentKeyOpts = {}): {
    jobData: JobJson;
    jobId: string;
    parentKeyOpts: FlowParentKeyOpts;
    prefix: string;
    queueName: string;
  } {
    const jobData = this.asJSON();
    if (this.opts.sizeLimit && Buffer.byteLength(jobData.data, 'utf8') > this.opts.sizeLimit) {
      throw new Error(`The size of job ${this.name} exceeds the limit ${this.opts.sizeLimit} bytes`);
    }
    // The parent check looks at the job's parent link, as BullMQ's does.
    const { parent: _parent, ...opts } = this.opts;
    checkJobOptions(this.parentKey ? { ...opts, parent: { id: '', queue: '' } } : opts);
    return {
      jobData,
      jobId: this.id as string,
      parentKeyOpts: parentOpts,
      prefix: this.prefix,
      queueName: this.queueName,
    };
  }

  /**
   * Moves an active job to completed. With `fetchNext` (default true) returns
   * the next job (see NextJobData), already locked by the same token.
   */
  async moveToCompleted(
    returnValue: ReturnType,
    token: string,
    fetchNext = true,
  ): Promise<NextJobData> {
    const telemetry = this.telemetry;
    if (telemetry === undefined) return this.complete(returnValue, token, fetchNext);
    return traced(telemetry, SpanKind.INTERNAL, this.queue.name, 'complete', this.queue.name, async (span) => {
      span.setAttributes({ [TelemetryAttributes.JobName]: this.name, [TelemetryAttributes.JobId]: this.id });
      const next = await this.complete(returnValue, token, fetchNext);
      recordJobMetrics(telemetry, this.queue.name, this, 'completed');
      return next;
    });
  }

  private async complete(returnValue: ReturnType, token: string, fetchNext: boolean): Promise<NextJobData> {
    tokenArg('moveToCompleted', token);
    booleanArg('moveToCompleted', 'fetchNext', fetchNext);
    const value = JSON.stringify(returnValue === undefined ? null : returnValue);
    if (value === undefined) {
      throw new TypeError('returnValue is not JSON-serializable');
    }
    const result = await this.reportCompleted({
      jobId: this.id as string,
      token,
      returnValue: value,
      remove: this.opts.removeOnComplete,
      defaultRemove: this.queue.opts.removeOnComplete,
      attempts: this.opts.attempts ?? 0,
      fetchNext,
    });
    this.returnvalue = returnValue;
    this.finishedOn = Date.now();
    this.attemptsMade += 1;
    return nextJobData(result, fetchNext);
  }

  /** The telemetry of the queue or worker the job belongs to. */
  private get telemetry(): Telemetry | undefined {
    return this.queue.opts.telemetry as Telemetry | undefined;
  }

  /**
   * Fails the current attempt of an active job held by `token`. While
   * attempts are left and the error is not an `UnrecoverableError`, the job
   * is retried: to delayed for its backoff, or straight back to wait;
   * otherwise it moves to failed. `failedReason` is the error's message and
   * its stack is added to `stacktrace` (trimmed to `opts.stackTraceLimit`).
   * With `fetchNext` returns the next job (see NextJobData), already locked
   * by the same token.
   */
  async moveToFailed<E extends Error>(
    err: E,
    token: string,
    fetchNext = false,
  ): Promise<NextJobData> {
    return (await this._failAttempt(err, token, fetchNext)).next;
  }

  /**
   * `moveToFailed`, also saying where the job went: `failed`, `delayed`
   * (retry after its backoff) or `waiting` (retried now, when no next job
   * is fetched).
   * @internal
   */
  async _failAttempt<E extends Error>(
    err: E,
    token: string,
    fetchNext = false,
  ): Promise<{ state: string; next: NextJobData }> {
    if (err === null || typeof err !== 'object') {
      throw new TypeError(`moveToFailed: err must be an Error, got ${describe(err)}`);
    }
    tokenArg('moveToFailed', token);
    booleanArg('moveToFailed', 'fetchNext', fetchNext);
    const reason = err.message === undefined ? '' : String(err.message);
    this.failedReason = reason;
    const attempt: Native.BindingFailedAttempt = {
      jobId: idOf(this),
      token,
      reason,
      stack: typeof err.stack === 'string' ? err.stack : undefined,
      stacktrace: (Array.isArray(this.stacktrace) ? this.stacktrace : []).map(String),
      attemptsMade: this.attemptsMade,
      attemptsStarted: this.attemptsStarted,
      unrecoverable: err instanceof UnrecoverableError || err.name === 'UnrecoverableError',
      maxStartedAttempts: this.queue.opts.maxStartedAttempts,
      opts: JSON.stringify(this.opts),
      defaultRemoveOnFail: this.queue.opts.removeOnFail,
      fetchNext,
    };
    // The engine decides the retry; a custom backoff strategy is user code,
    // run here when the engine says the retry needs its delay.
    const strategy = this.queue.opts.settings?.backoffStrategy;
    const telemetry = this.telemetry;
    let plan = typeof strategy === 'function' || telemetry !== undefined ? binding.planFailedAttempt(attempt) : undefined;
    if (plan?.customBackoff !== undefined && plan.customBackoff !== null && typeof strategy === 'function') {
      const delay = await strategy(this.attemptsMade + 1, plan.customBackoff, err, this);
      attempt.customDelay = typeof delay === 'number' && Number.isFinite(delay) ? Math.trunc(delay) : 0;
      if (telemetry !== undefined) plan = binding.planFailedAttempt(attempt);
    }
    const result =
      telemetry === undefined
        ? await this.reportFailed(attempt)
        : await traced(
            telemetry,
            SpanKind.INTERNAL,
            this.queue.name,
            plan?.operation ?? 'fail',
            this.queue.name,
            async (span) => {
              span.setAttributes({ [TelemetryAttributes.JobName]: this.name, [TelemetryAttributes.JobId]: this.id });
              const failed = await this.reportFailed(attempt);
              const state = failed.state === 'failed' ? 'failed' : failed.state === 'delayed' ? 'delayed' : 'retried';
              recordJobMetrics(telemetry, this.queue.name, this, state);
              return failed;
            },
          );
    this.stacktrace = result.stacktrace;
    this.attemptsMade += 1;
    if (result.delay > 0) this.delay = result.delay;
    if (result.finishedOn !== undefined && result.finishedOn !== null) this.finishedOn = result.finishedOn;
    return { state: result.state, next: nextJobData(result.next, fetchNext) };
  }

  /** Reports a completion through the host (see JobHost). */
  private async reportCompleted(finish: Native.BindingFinish): Promise<Native.BindingFetched> {
    return this.queue._finish ? this.queue._finish(finish) : native((await this.queue._queue()).moveToFinished(finish));
  }

  /** Reports a failed attempt through the host (see JobHost). */
  private async reportFailed(attempt: Native.BindingFailedAttempt): Promise<Native.BindingFailed> {
    return this.queue._fail ? this.queue._fail(attempt) : native((await this.queue._queue()).moveToFailed(attempt));
  }

  /**
   * Moves an active job to delayed until `timestamp` (ms since epoch; a past
   * time means now). Does not count an attempt. `token` is the lock owner's
   * (`'0'` skips the lock check).
   */
  async moveToDelayed(timestamp: number, token?: string): Promise<void> {
    nonNegativeNumberArg('moveToDelayed', 'timestamp', timestamp);
    if (token !== undefined) tokenArg('moveToDelayed', token);
    const q = await this.queue._queue();
    this.delay = await native(q.moveToDelayed(idOf(this), token ?? '0', Math.trunc(timestamp)));
    recordJobMetrics(this.telemetry, this.queue.name, this, 'delayed');
  }

  /**
   * Moves an active job back to wait, where it runs next (or to the front of
   * its priority), without counting an attempt; used after
   * `queue.rateLimit()`. Returns the rate limit's remaining milliseconds
   * (0 when not limited).
   */
  async moveToWait(token?: string): Promise<number> {
    if (token !== undefined) tokenArg('moveToWait', token);
    const q = await this.queue._queue();
    const ttl = await native(q.moveJobFromActiveToWait(idOf(this), token ?? '0'));
    recordJobMetrics(this.telemetry, this.queue.name, this, 'waiting');
    return ttl;
  }

  /**
   * Extends the lock held by `token` to `duration` ms from now. Returns 1,
   * or 0 when the lock is missing or held by another token.
   */
  async extendLock(token: string, duration: number): Promise<number> {
    tokenArg('extendLock', token);
    integerArg('extendLock', 'duration', duration, 1);
    const q = await this.queue._queue();
    return native(q.extendLock(idOf(this), token, duration));
  }

  /** Name of the queue the job belongs to. */
  get queueName(): string {
    return this.queue.name;
  }

  /** Key prefix of the job's queue (`bull` by default). */
  get prefix(): string {
    const qualified = this.queueQualifiedName;
    const name = this.queueName;
    return qualified.length > name.length + 1 ? qualified.slice(0, qualified.length - name.length - 1) : '';
  }

  /**
   * Stores the job's progress (a number or any JSON value) and announces it:
   * a `progress` event on the events stream (QueueEvents) and a local
   * `progress` event `(job, progress)` on the job's Queue or Worker.
   */
  async updateProgress(progress: JobProgress): Promise<void> {
    const text = progressText('updateProgress', progress);
    const q = await this.queue._queue();
    await native(q.updateJobProgress(idOf(this), text));
    this.progress = progress;
    this.queue.emit('progress', this, progress);
  }

  /** Replaces the job's data in Redis (no event). */
  async updateData(data: DataType): Promise<void> {
    const text = jsonText(data === undefined ? {} : data, 'job data');
    const q = await this.queue._queue();
    await native(q.updateJobData(idOf(this), text));
    this.data = data;
  }

  /**
   * Appends a line to the job's log. With `opts.keepLogs` only that many of
   * the newest lines are kept. Returns the number of lines in the log.
   */
  async log(logRow: string): Promise<number> {
    if (typeof logRow !== 'string') {
      throw new TypeError(`logRow must be a string, got ${describe(logRow)}`);
    }
    const keepLogs = this.opts.keepLogs;
    const q = await this.queue._queue();
    return native(q.addJobLog(idOf(this), logRow, typeof keepLogs === 'number' && keepLogs > 0 ? keepLogs : undefined));
  }

  /** Deletes the job's log, or keeps only its newest `keepLogs` lines. */
  async clearLogs(keepLogs?: number): Promise<void> {
    if (keepLogs !== undefined) nonNegativeInteger(keepLogs, 'keepLogs');
    const q = await this.queue._queue();
    await native(q.clearJobLogs(idOf(this), keepLogs));
  }

  /**
   * The job's current state: `completed`, `failed`, `delayed`,
   * `prioritized`, `active`, `waiting`, `waiting-children`, or `unknown`
   * when it is in none of them (e.g. removed).
   */
  async getState(): Promise<JobState | 'unknown'> {
    const q = await this.queue._queue();
    return (await nativeIn('getState', q.jobState(idOf(this)))) as JobState | 'unknown';
  }

  /** Whether the job is in `state` (one of the names getState returns). */
  async isInState(state: JobState): Promise<boolean> {
    if (!JOB_STATES.includes(state)) {
      throw new TypeError(`Unknown job state: ${typeof state === 'string' ? state : describe(state)}`);
    }
    return (await this.getState()) === state;
  }

  /** True if the job has completed. */
  isCompleted(): Promise<boolean> {
    return this.isInState('completed');
  }

  /** True if the job has failed. */
  isFailed(): Promise<boolean> {
    return this.isInState('failed');
  }

  /** True if the job is delayed. */
  isDelayed(): Promise<boolean> {
    return this.isInState('delayed');
  }

  /** True if the job is being processed. */
  isActive(): Promise<boolean> {
    return this.isInState('active');
  }

  /** True if the job is waiting to be processed (priority 0). */
  isWaiting(): Promise<boolean> {
    return this.isInState('waiting');
  }

  /** True if the job is waiting to be processed by priority. */
  isPrioritized(): Promise<boolean> {
    return this.isInState('prioritized');
  }

  /** True if the job waits for its children to finish. */
  isWaitingChildren(): Promise<boolean> {
    return this.isInState('waiting-children');
  }

  /**
   * Removes the job from the queue, with its children unless
   * `removeChildren` is false. Throws when the job (or a pending child) is
   * locked by a worker, and for the current iteration of a job scheduler.
   * Emits `removed` (the job) on the job's Queue or Worker.
   */
  async remove(opts?: { removeChildren?: boolean }): Promise<void> {
    const { removeChildren = true } = optionsArg<{ removeChildren: boolean }>('remove', opts);
    if (typeof removeChildren !== 'boolean') {
      throw new TypeError(`removeChildren must be a boolean, got ${describe(removeChildren)}`);
    }
    const id = idOf(this);
    const q = await this.queue._queue();
    const removed = await native(q.removeJob(id, removeChildren));
    if (!removed) {
      throw new Error(`Job ${id} could not be removed because it is locked by another worker`);
    }
    this.queue.emit('removed', this);
  }

  /**
   * Frees the job's deduplication id, but only while this job still owns it
   * (another job may own it by now). Resolves true when it was freed, false
   * otherwise or when the job has no deduplication id.
   */
  async removeDeduplicationKey(): Promise<boolean> {
    if (!this.deduplicationId || typeof this.id !== 'string') return false;
    const q = await this.queue._queue();
    return native(q.removeJobDeduplicationKey(String(this.deduplicationId), this.id));
  }

  /**
   * Sends a finished job back to be processed again: it leaves `completed`
   * or `failed` (`state`, default `failed`), loses its finish fields
   * (finishedOn, processedOn, returnvalue / failedReason) and waits again.
   * `resetAttemptsMade` / `resetAttemptsStarted` zero the counters.
   */
  async retry(
    state: FinishedStatus = 'failed',
    opts: { resetAttemptsMade?: boolean; resetAttemptsStarted?: boolean } = {},
  ): Promise<void> {
    if (state !== 'completed' && state !== 'failed') {
      throw new TypeError(`state must be "completed" or "failed", got ${describe(state)}`);
    }
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('retry options must be an object');
    }
    const q = await this.queue._queue();
    await native(
      q.reprocessJob(idOf(this), {
        state,
        lifo: this.opts.lifo === true,
        resetAttemptsMade: opts.resetAttemptsMade === true,
        resetAttemptsStarted: opts.resetAttemptsStarted === true,
      }),
    );
    const self = this as { failedReason: unknown; finishedOn: unknown; processedOn: unknown; returnvalue: unknown };
    self.failedReason = null;
    self.finishedOn = null;
    self.processedOn = null;
    self.returnvalue = null;
    if (opts.resetAttemptsMade) this.attemptsMade = 0;
    if (opts.resetAttemptsStarted) this.attemptsStarted = 0;
  }

  /** Moves a delayed job to wait so it runs as soon as possible. */
  async promote(): Promise<void> {
    const q = await this.queue._queue();
    await native(q.promoteJob(idOf(this)));
    this.delay = 0;
  }

  /**
   * Re-schedules a delayed job to run `delay` milliseconds from now,
   * whatever its previous delay was.
   */
  async changeDelay(delay: number): Promise<void> {
    nonNegativeInteger(delay, 'delay');
    const q = await this.queue._queue();
    await native(q.changeJobDelay(idOf(this), delay));
    this.delay = delay;
  }

  /**
   * Changes the job's priority (0 = none, 1 = highest). A waiting job is
   * re-queued at once; with `lifo` it goes first among jobs of its priority.
   * In other states the new priority applies when the job is next queued.
   */
  async changePriority(opts: { priority?: number; lifo?: boolean }): Promise<void> {
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('changePriority expects { priority, lifo }');
    }
    const { priority = 0, lifo = false } = opts;
    // The engine checks the range (PRIORITY_LIMIT); a fraction would not reach it intact.
    nonNegativeInteger(priority, 'priority');
    if (typeof lifo !== 'boolean') {
      throw new TypeError(`lifo must be a boolean, got ${describe(lifo)}`);
    }
    const q = await this.queue._queue();
    await native(q.changeJobPriority(idOf(this), priority, lifo));
    this.priority = priority;
  }

  // ---- Parent / children (flows) ------------------------------------------

  /** The return values of this job's completed children, by child job key. */
  async getChildrenValues<CT = any>(): Promise<{ [jobKey: string]: CT }> {
    const q = await this.queue._queue();
    return valuesByKey(await native(q.getChildrenValues(idOf(this))), (v) => JSON.parse(v)) as { [jobKey: string]: CT };
  }

  /**
   * The failure reasons of the children whose failure this job ignored
   * (`ignoreDependencyOnFailure`, `continueParentOnFailure`), by child key.
   */
  async getIgnoredChildrenFailures(): Promise<{ [jobKey: string]: string }> {
    const q = await this.queue._queue();
    return valuesByKey(await native(q.getIgnoredChildrenFailures(idOf(this))), (v) => v);
  }

  /** @deprecated As BullMQ: use getIgnoredChildrenFailures. */
  async getFailedChildrenValues(): Promise<{ [jobKey: string]: string }> {
    return this.getIgnoredChildrenFailures();
  }

  /**
   * This job's children by kind: `processed` (completed, with their
   * values), `unprocessed` (pending), `failed` (failed their parent) and
   * `ignored` (failures ignored, with their reasons). Without options, all
   * of every kind; with options, only the kinds named, each a page from
   * `cursor` of about `count` children (defaults 0 and 20) with the cursor
   * of the next page (`nextProcessedCursor`, ...; 0 at the end).
   */
  async getDependencies(opts: DependenciesOpts = {}): Promise<Dependencies> {
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('getDependencies expects an options object');
    }
    const page = (p: DependencyPageOpts | boolean | undefined): Native.BindingDependencyPage | undefined => {
      if (!p) return undefined;
      if (typeof p !== 'object') return {};
      for (const key of ['cursor', 'count'] as const) {
        if (p[key] !== undefined && (typeof p[key] !== 'number' || !Number.isInteger(p[key]))) {
          throw new TypeError(`getDependencies: ${key} must be an integer, got ${describe(p[key])}`);
        }
      }
      return { cursor: p.cursor, count: p.count };
    };
    const pages = {
      processed: page(opts.processed),
      unprocessed: page(opts.unprocessed),
      ignored: page(opts.ignored),
      failed: page(opts.failed),
    };
    const paged = Object.values(pages).some((p) => p !== undefined);
    const q = await this.queue._queue();
    const d = await nativeIn('getDependencies', q.getDependencies(idOf(this), paged ? pages : undefined));
    const out: Dependencies = {};
    if (d.processed) out.processed = valuesByKey(d.processed, (v) => JSON.parse(v));
    if (d.nextProcessedCursor !== undefined && d.nextProcessedCursor !== null) out.nextProcessedCursor = d.nextProcessedCursor;
    if (d.unprocessed) out.unprocessed = d.unprocessed;
    if (d.nextUnprocessedCursor !== undefined && d.nextUnprocessedCursor !== null) out.nextUnprocessedCursor = d.nextUnprocessedCursor;
    if (d.failed) out.failed = d.failed;
    if (d.nextFailedCursor !== undefined && d.nextFailedCursor !== null) out.nextFailedCursor = d.nextFailedCursor;
    if (d.ignored) out.ignored = valuesByKey(d.ignored, (v) => v);
    if (d.nextIgnoredCursor !== undefined && d.nextIgnoredCursor !== null) out.nextIgnoredCursor = d.nextIgnoredCursor;
    return out;
  }

  /**
   * How many children of each kind this job has: the kinds set to true in
   * `opts`, or all four (`processed`, `unprocessed`, `ignored`, `failed`).
   */
  async getDependenciesCount(
    opts: { processed?: boolean; unprocessed?: boolean; ignored?: boolean; failed?: boolean } = {},
  ): Promise<{ processed?: number; unprocessed?: number; ignored?: number; failed?: number }> {
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('getDependenciesCount expects an options object');
    }
    const asked = Object.entries(opts)
      .filter(([, v]) => v)
      .map(([k]) => k);
    const kinds = asked.length ? asked : ['processed', 'unprocessed', 'ignored', 'failed'];
    const q = await this.queue._queue();
    const counts = await native(q.getDependencyCounts(idOf(this), kinds));
    const out: Record<string, number> = {};
    kinds.forEach((kind, i) => {
      out[kind] = counts[i] || 0;
    });
    return out;
  }

  /**
   * Moves this active job (held by `token`) to `waiting-children` while it
   * has a pending child (`opts.child`, or any): how a processor that added
   * children waits for them; it then throws `WaitingChildrenError`. Returns
   * false, leaving the job active, when there is no such child. Fails when a
   * child failed it (`failParentOnFailure`).
   */
  async moveToWaitingChildren(token: string, opts: { child?: { id: string; queue: string } } = {}): Promise<boolean> {
    tokenArg('moveToWaitingChildren', token);
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('moveToWaitingChildren expects an options object');
    }
    const c = opts.child;
    if (c !== undefined && c !== null && (typeof c !== 'object' || typeof c.id !== 'string' || typeof c.queue !== 'string')) {
      throw new TypeError(`moveToWaitingChildren: opts.child must be { id: string, queue: string }, got ${describe(c)}`);
    }
    const child = c ? `${c.queue}:${c.id}` : undefined;
    const q = await this.queue._queue();
    const moved = await native(q.moveToWaitingChildren(idOf(this), token, child));
    if (moved) recordJobMetrics(this.telemetry, this.queue.name, this, 'waiting-children');
    return moved;
  }

  /**
   * Detaches this pending job from its parent: the parent no longer waits
   * for it. True when the link existed and was removed.
   */
  async removeChildDependency(): Promise<boolean> {
    const q = await this.queue._queue();
    const removed = await native(q.removeChildDependency(idOf(this), this.parentKey ?? ''));
    if (removed) {
      this.parent = undefined;
      this.parentKey = undefined;
    }
    return removed;
  }

  /**
   * Removes the children this job still waits for (and theirs): not those
   * that are active (locked) or failed. The job itself stays.
   */
  async removeUnprocessedChildren(): Promise<void> {
    const q = await this.queue._queue();
    await native(q.removeUnprocessedChildren(idOf(this)));
  }

  /**
   * Waits until the job finishes, as reported by a running `QueueEvents` of
   * its queue: resolves with the job's return value when it completes and
   * rejects with an Error whose message is the failure reason when it fails
   * (a job that no longer exists rejects too). A job that already finished
   * settles at once. With `ttl` (milliseconds) it rejects when no finish was
   * seen in that time; it also rejects when the job's Worker closes.
   */
  async waitUntilFinished(
    queueEvents: {
      on(event: string, listener: (...args: any[]) => void): unknown;
      off(event: string, listener: (...args: any[]) => void): unknown;
      waitUntilReady(): Promise<void>;
    },
    ttl?: number,
  ): Promise<ReturnType> {
    if (
      queueEvents === null ||
      typeof queueEvents !== 'object' ||
      typeof queueEvents.on !== 'function' ||
      typeof queueEvents.waitUntilReady !== 'function'
    ) {
      throw new TypeError('waitUntilFinished expects a QueueEvents of the job\'s queue');
    }
    if (ttl !== undefined && (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl < 0)) {
      throw new TypeError(`ttl must be a number of milliseconds >= 0, got ${describe(ttl)}`);
    }
    const jobId = idOf(this);
    const q = await this.queue._queue();
    const host = this.queue as unknown as {
      on?: (event: string, listener: (...args: any[]) => void) => unknown;
      off?: (event: string, listener: (...args: any[]) => void) => unknown;
    };
    return new Promise<ReturnType>((resolve, reject) => {
      const completedEvent = `completed:${jobId}`;
      const failedEvent = `failed:${jobId}`;
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        queueEvents.off(completedEvent, onCompleted);
        queueEvents.off(failedEvent, onFailed);
        if (typeof host.off === 'function') host.off('closing', onClosing);
        return true;
      };
      const onCompleted = (args: { returnvalue: ReturnType }) => {
        if (settle()) resolve(args.returnvalue);
      };
      const onFailed = (args: { failedReason?: string }) => {
        if (settle()) reject(new Error(args.failedReason ?? ''));
      };
      const onClosing = (message: unknown) => {
        if (settle()) reject(new Error(String(message)));
      };
      if (ttl) {
        timer = setTimeout(() => {
          if (settle()) {
            reject(
              new Error(
                `Job wait ${this.name} timed out before finishing, no finish notification arrived after ${ttl}ms (id=${jobId})`,
              ),
            );
          }
        }, ttl);
      }
      queueEvents.on(completedEvent, onCompleted);
      queueEvents.on(failedEvent, onFailed);
      if (typeof host.on === 'function') host.on('closing', onClosing);
      // The job may have finished before the listeners were in place: once
      // the QueueEvents is reading (so no later finish can be missed), look.
      (async () => {
        await queueEvents.waitUntilReady();
        const finished = await native(q.isFinished(jobId));
        if (finished.status === 1) {
          const value = finished.value == null ? null : parseJson<ReturnType>(finished.value, undefined as ReturnType);
          onCompleted({ returnvalue: value as ReturnType });
        } else if (finished.status === 2 || finished.status === -1) {
          onFailed({ failedReason: finished.value ?? '' });
        }
      })().catch((err: unknown) => {
        if (settle()) reject(err);
      });
    });
  }
}

/** A page of one kind of children: from `cursor`, about `count` of them. */
export interface DependencyPageOpts {
  cursor?: number;
  count?: number;
}

/** Options of `getDependencies`: the kinds to page through. */
export interface DependenciesOpts {
  processed?: DependencyPageOpts | boolean;
  unprocessed?: DependencyPageOpts | boolean;
  ignored?: DependencyPageOpts | boolean;
  failed?: DependencyPageOpts | boolean;
}

/** What `getDependencies` returns (only the kinds read). */
export interface Dependencies {
  processed?: Record<string, any>;
  nextProcessedCursor?: number;
  unprocessed?: string[];
  nextUnprocessedCursor?: number;
  failed?: string[];
  nextFailedCursor?: number;
  ignored?: Record<string, any>;
  nextIgnoredCursor?: number;
}

/** A flat `[key, value, ...]` list as an object, each value read by `read`. */
function valuesByKey<T>(flat: string[], read: (value: string) => T): { [key: string]: T } {
  const out: { [key: string]: T } = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = read(flat[i + 1]);
  return out;
}

/** The states getState reports (besides `unknown`). */
const JOB_STATES: readonly string[] = [
  'completed',
  'failed',
  'delayed',
  'prioritized',
  'active',
  'waiting',
  'waiting-children',
];

function nonNegativeInteger(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  }
  if (value < 0) {
    throw new TypeError(`${name} must not be negative, got ${value}`);
  }
}

/** The id of a job that exists in Redis (created jobs always have one). */
function idOf(job: { id?: string }): string {
  if (typeof job.id !== 'string' || job.id === '') {
    throw new TypeError('the job has no id; add it to a queue first');
  }
  return job.id;
}

