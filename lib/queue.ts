/**
 * Queue: the producer API (add, addBulk, getters, control), as in BullMQ.
 */
import { randomUUID } from 'node:crypto';

import { fromNative, native, nativeIn } from './errors';
import { Job } from './job';
import { jobJsonFromHash, progressText, rawFromFlat } from './job-codec';
import { binding, type Native } from './native';
import { QueueBase } from './queue-base';
import {
  booleanArg,
  cleanTypeArg,
  dedupIdArg,
  describe,
  integerArg,
  jobIdArg,
  jobTypesArg,
  nonNegativeNumberArg,
  optionsArg,
  type CleanType,
  wellFormedArg,
} from './queue-args';
import type {
  JobProgress,
  JobJson,
  JobSchedulerJson,
  JobSchedulerTemplateOptions,
  JobState,
  JobType,
  JobsOptions,
  Metrics,
  QueueOptions,
  RepeatOptions,
} from './types';
import { MAX_TIMEOUT, PRIORITY_LIMIT } from './utils';
import { version } from './version';
import { JobScheduler } from './job-scheduler';
import { instrumentQueue, recordJobCounts } from './telemetry';

/** Checks job options once, with BullMQ's rules and messages. */
export function checkJobOptions(opts: JobsOptions): void {
  if (opts === null || typeof opts !== 'object') {
    throw new TypeError('job options must be an object');
  }
  const intOpt = (key: 'delay' | 'priority' | 'attempts' | 'timestamp' | 'stackTraceLimit' | 'keepLogs') => {
    const v = opts[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw new TypeError(`opts.${key} must be a number, got ${typeof v}`);
    }
    if (typeof v === 'number' && v < 0) {
      throw new TypeError(`opts.${key} must not be negative, got ${v}`);
    }
  };
  intOpt('delay');
  intOpt('priority');
  intOpt('attempts');
  intOpt('timestamp');
  intOpt('stackTraceLimit');
  intOpt('keepLogs');
  if (opts.timeout !== undefined) {
    const t = opts.timeout;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > MAX_TIMEOUT) {
      throw new TypeError(`opts.timeout must be a number of ms from 0 to ${MAX_TIMEOUT}, got ${describe(t)}`);
    }
  }
  if (opts.priority !== undefined) {
    if (!Number.isInteger(opts.priority)) {
      throw new Error('Priority should not be float');
    }
    if (opts.priority > PRIORITY_LIMIT) {
      throw new Error(`Priority should be between 0 and ${PRIORITY_LIMIT}`);
    }
  }
  if (opts.jobId !== undefined) {
    if (typeof opts.jobId !== 'string') {
      throw new TypeError('opts.jobId must be a string');
    }
    wellFormedArg('add', 'opts.jobId', opts.jobId);
    if (opts.jobId === '0' || opts.jobId.startsWith('0:')) {
      throw new Error("JobId cannot be '0' or start with 0:");
    }
    if (`${parseInt(opts.jobId, 10)}` === opts.jobId) {
      throw new Error('Custom Id cannot be integers');
    }
    if (opts.jobId.includes(':') && opts.jobId.split(':').length !== 3) {
      throw new Error('Custom Id cannot contain :');
    }
    // An id naming one of the queue's keys would be written over that key.
    const reserved = binding.reservedJobIdError(opts.jobId);
    if (reserved !== null && reserved !== undefined) throw new Error(reserved);
  }
  const exclusive = [
    'removeDependencyOnFailure',
    'failParentOnFailure',
    'continueParentOnFailure',
    'ignoreDependencyOnFailure',
  ].filter((key) => opts[key]);
  if (exclusive.length > 1) {
    throw new Error(`The following options cannot be used together: ${exclusive.join(', ')}`);
  }
  if (opts.deduplication) {
    if (!opts.deduplication.id) {
      throw new Error('Deduplication id must be provided');
    }
    if (opts.parent) {
      throw new Error('Deduplication and parent options cannot be used together');
    }
  }
  if (Object.prototype.hasOwnProperty.call(opts, 'debounce')) {
    throw new Error('Debounce option has been removed. Use deduplication option instead');
  }
  if (opts.backoff !== undefined) {
    const b = opts.backoff;
    if (typeof b === 'number') {
      if (!Number.isFinite(b) || b < 0) throw new TypeError('opts.backoff must be a non-negative number');
    } else if (b === null || typeof b !== 'object' || typeof b.type !== 'string') {
      throw new TypeError('opts.backoff must be a number or an object with a type');
    }
  }
}

/** JSON text of job data; undefined data is stored as `{}` as in BullMQ. */
export function serializeData(data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data === undefined ? {} : data);
  } catch (err) {
    throw new TypeError(`job data is not JSON-serializable: ${(err as Error).message}`);
  }
  if (text === undefined) {
    throw new TypeError(`job data is not JSON-serializable (got ${typeof data})`);
  }
  return text;
}

/**
 * Job data as the value to embed in the JSON sent to the engine, so that its
 * stored text is exactly `JSON.stringify(data)`: data whose top-level text is
 * not that of the value embedded (a `toJSON`) goes as the parsed text. Checks
 * `opts.sizeLimit`.
 */
export function dataValue(name: string, data: unknown, opts: JobsOptions): unknown {
  const value: unknown = data === undefined ? {} : data;
  const t = typeof value;
  const plain =
    value === null ||
    t === 'string' ||
    t === 'number' ||
    t === 'boolean' ||
    (t === 'object' && typeof (value as { toJSON?: unknown }).toJSON !== 'function');
  if (plain && !opts.sizeLimit) return value;
  const dataText = serializeData(data);
  if (opts.sizeLimit && Buffer.byteLength(dataText, 'utf8') > opts.sizeLimit) {
    throw new Error(`The size of job ${name} exceeds the limit ${opts.sizeLimit} bytes`);
  }
  return JSON.parse(dataText);
}

/** The events stream's max length the queue records: `streams.events.maxLen`, BullMQ's 10000 by default. */
function eventsMaxLen(opts: QueueOptions): number {
  return opts.streams?.events?.maxLen ?? 10000;
}

/**
 * What a Queue records in `meta` when it connects (BullMQ's `metaValues`):
 * the events stream's max length and `bullmq-native:<version>`; nothing with
 * `skipMetasUpdate`.
 */
function metaOnOpen(opts: QueueOptions): Native.BindingQueueMeta | undefined {
  if (opts === null || typeof opts !== 'object' || opts.skipMetasUpdate) return undefined;
  const maxLen = eventsMaxLen(opts);
  if (typeof maxLen !== 'number' || !Number.isSafeInteger(maxLen) || maxLen < 0) {
    throw new TypeError(`streams.events.maxLen must be an integer >= 0, got ${describe(maxLen)}`);
  }
  return { maxLenEvents: maxLen, version: `bullmq-native:${version}` };
}

/** A checked job: its row of the native batch (`[name, data, opts, timestamp]`) and what its Job object needs. */
interface PreparedJob {
  row: [string, unknown, JobsOptions, number];
  /** The data as given (the Job object keeps it). */
  data: unknown;
  merged: JobsOptions;
  timestamp: number;
}

/** Jobs per native call of addBulk (see addBulk). */
const ADD_PIECE = 250;

/**
 * Expands the ids the engine sends back: JSON where a run of consecutive
 * numeric ids is `[first, count]`.
 */
function expandIds(text: string): string[] {
  const parts = JSON.parse(text) as (string | [number, number])[];
  if (parts.length === 1 && typeof parts[0] === 'string') return parts as string[];
  const ids: string[] = [];
  for (const part of parts) {
    if (typeof part === 'string') {
      ids.push(part);
    } else {
      const [first, count] = part;
      for (let k = 0; k < count; k++) ids.push(String(first + k));
    }
  }
  return ids;
}

/** Options of `obliterate`. */
export interface ObliterateOpts {
  /** Also remove active jobs (otherwise their presence is an error). */
  force?: boolean;
  /** Jobs removed per script call (default 1000, the engine's). */
  count?: number;
}

/** Options of `retryJobs`. */
export interface RetryJobsOpts {
  /** `failed` (default) or `completed`. */
  state?: 'failed' | 'completed';
  /** Jobs moved per script call (default 1000, the engine's). */
  count?: number;
  /** Only jobs finished at or before this time (default now). */
  timestamp?: number;
}

/** Options of `promoteJobs`. */
export interface PromoteJobsOpts {
  /** Jobs moved per script call (default 1000, the engine's). */
  count?: number;
}

export class Queue<DataType = any, ResultType = any, NameType extends string = string> extends QueueBase {
  declare readonly opts: QueueOptions;
  /** A random id of this Queue instance, as BullMQ gives one. */
  readonly token: string = randomUUID();
  /** Options applied to every job unless the job overrides them. */
  readonly jobsOpts: JobsOptions;

  /** The native handle once connected (see nativeNow). */
  private handle: Native.BindingQueue | undefined;

  constructor(name: string, opts: QueueOptions = {}) {
    super(name, opts, metaOnOpen(opts));
    this.jobsOpts = opts.defaultJobOptions ?? {};
    if (opts.telemetry) instrumentQueue(this, opts.telemetry);
    this.nativeQueue.then(
      (q) => {
        this.handle = q;
      },
      () => undefined,
    );
  }

  get defaultJobOptions(): JobsOptions {
    return { ...this.jobsOpts };
  }

  /**
   * Checks and defaults one job. Its row for the native batch carries the
   * data as a value (the batch is serialized once; see dataValue).
   */
  private prepareJob(name: NameType, data: DataType, opts?: JobsOptions): PreparedJob {
    if (typeof name !== 'string') {
      throw new TypeError('job name must be a string');
    }
    if (opts !== undefined && opts !== null && typeof opts !== 'object') {
      // Spread, a string would become one option per character.
      throw new TypeError(`job options must be an object, got ${describe(opts)}`);
    }
    const merged: JobsOptions = { ...this.jobsOpts, ...(opts ?? {}) };
    // BullMQ drops null options when it stores them: null means "not given".
    // (A `debounce` key is refused whatever its value, as in BullMQ.)
    for (const key of Object.keys(merged)) {
      if (merged[key] === null && key !== 'debounce') delete merged[key];
    }
    checkJobOptions(merged);
    const value = dataValue(name, data, merged);
    const timestamp = merged.timestamp ?? Date.now();
    return { row: [name, value, merged, timestamp], data, merged, timestamp };
  }

  /** The JSON text of a batch; a job that cannot be serialized fails as it would alone. */
  private static batchText(prepared: PreparedJob[], start: number, end: number): string {
    const rows = new Array(end - start);
    for (let i = start; i < end; i++) rows[i - start] = prepared[i].row;
    try {
      return JSON.stringify(rows);
    } catch (err) {
      for (let i = start; i < end; i++) {
        serializeData(prepared[i].row[1]);
        JSON.stringify(prepared[i].row[2]);
      }
      throw err;
    }
  }

  /** The native handle; once connected, without an await per call. */
  private nativeNow(): Native.BindingQueue | Promise<Native.BindingQueue> {
    return this.handle ?? this.nativeQueue;
  }

  /** Hands a batch to the engine (queued in call order) and resolves with its ids. */
  private static sendBatch(q: Native.BindingQueue, text: string): Promise<string[]> {
    return q.addJobs(text).then(expandIds, (err: unknown) => {
      throw fromNative(err);
    });
  }

  private newJob(p: PreparedJob, id: string): Job<DataType, ResultType, NameType> {
    // As BullMQ's: the job's opts are those given; the time it was given goes to `timestamp` alone.
    const job = new Job<DataType, ResultType, NameType>(this, p.row[0] as NameType, p.data as DataType, p.merged, id);
    job.timestamp = p.timestamp;
    return job;
  }

  /**
   * Adds a job to the queue; emits `waiting` with the job. With
   * `deduplication`, an add while another job owns the id adds nothing: the
   * Job returned then has the owner's id (and the data and options given).
   */
  async add(name: NameType, data: DataType, opts?: JobsOptions): Promise<Job<DataType, ResultType, NameType>> {
    const p = this.prepareJob(name, data, opts);
    const text = Queue.batchText([p], 0, 1);
    const q = this.nativeNow();
    const [id] = await Queue.sendBatch(q instanceof Promise ? await q : q, text);
    const job = this.newJob(p, id);
    this.emit('waiting', job);
    return job;
  }

  /**
   * Adds several jobs. Every job is checked and serialized first (a job
   * that cannot be added fails the call before anything is sent); then the
   * jobs go in pieces of 250, sent one after the other without waiting for
   * replies, so Redis adds a piece while the next one crosses over. As in
   * BullMQ, each job is added atomically, the batch as a whole is not; ids
   * follow the input order.
   */
  async addBulk(
    jobs: { name: NameType; data: DataType; opts?: JobsOptions }[],
  ): Promise<Job<DataType, ResultType, NameType>[]> {
    if (!Array.isArray(jobs)) {
      throw new TypeError('addBulk expects an array of jobs');
    }
    const n = jobs.length;
    const prepared = new Array<PreparedJob>(n);
    for (let i = 0; i < n; i++) {
      const j = jobs[i];
      if (j === null || typeof j !== 'object') throw new TypeError('each job must be an object');
      prepared[i] = this.prepareJob(j.name, j.data, j.opts);
    }
    if (n === 0) return [];
    const texts: string[] = [];
    for (let start = 0; start < n; start += ADD_PIECE) {
      texts.push(Queue.batchText(prepared, start, Math.min(start + ADD_PIECE, n)));
    }
    const handle = this.nativeNow();
    const q = handle instanceof Promise ? await handle : handle;
    const out = new Array<Job<DataType, ResultType, NameType>>(n);
    const pieces = texts.map((text, k) =>
      Queue.sendBatch(q, text).then((ids) => {
        // Built as each piece comes back, while Redis adds the next ones.
        const base = k * ADD_PIECE;
        for (let i = 0; i < ids.length; i++) out[base + i] = this.newJob(prepared[base + i], ids[i]);
      }),
    );
    // The first failure in input order wins, as when one call added them all.
    for (const settled of await Promise.allSettled(pieces)) {
      if (settled.status === 'rejected') throw settled.reason;
    }
    return out;
  }

  // ---- Job schedulers ----------------------------------------------------

  /** The queue's job schedulers (on the queue's connection). */
  get jobScheduler(): Promise<JobScheduler> {
    return Promise.resolve(JobScheduler.of(this));
  }

  /**
   * Creates or updates the job scheduler `jobSchedulerId`: a job factory
   * that adds a job every `repeatOpts.every` ms or at the times of
   * `repeatOpts.pattern`, made from `jobTemplate` (name defaults to the
   * scheduler id; options go over the queue's defaultJobOptions). Updating
   * replaces the pending iteration, so a scheduler never has two. Returns
   * the iteration just added (normally delayed), or undefined when the
   * schedule has nothing left to run.
   */
  async upsertJobScheduler(
    jobSchedulerId: string,
    repeatOpts: Omit<RepeatOptions, 'key'>,
    jobTemplate?: { name?: NameType; data?: DataType; opts?: JobSchedulerTemplateOptions },
  ): Promise<Job<DataType, ResultType, NameType> | undefined> {
    if (jobTemplate !== undefined && (jobTemplate === null || typeof jobTemplate !== 'object')) {
      throw new TypeError(`upsertJobScheduler: jobTemplate must be an object, got ${describe(jobTemplate)}`);
    }
    const scheduler = await this.jobScheduler;
    return scheduler.upsertJobScheduler<DataType, ResultType, NameType>(
      jobSchedulerId,
      repeatOpts,
      (jobTemplate?.name ?? jobSchedulerId) as NameType,
      (jobTemplate?.data ?? {}) as DataType,
      { ...this.jobsOpts, ...jobTemplate?.opts },
      { override: true },
    );
  }

  /** A job scheduler; undefined when there is none with this id. */
  async getJobScheduler(id: string): Promise<JobSchedulerJson<DataType> | undefined> {
    return (await this.jobScheduler).getScheduler<DataType>(id);
  }

  /**
   * Job schedulers by the time of their next iteration, positions
   * `start..end`, latest first unless `asc`.
   */
  async getJobSchedulers(start?: number, end?: number, asc?: boolean): Promise<JobSchedulerJson<DataType>[]> {
    return (await this.jobScheduler).getJobSchedulers<DataType>(start, end, asc);
  }

  /** The number of job schedulers. */
  async getJobSchedulersCount(): Promise<number> {
    return (await this.jobScheduler).getSchedulersCount();
  }

  /** Removes a job scheduler and its delayed iteration; true when it existed. */
  async removeJobScheduler(jobSchedulerId: string): Promise<boolean> {
    return (await (await this.jobScheduler).removeJobScheduler(jobSchedulerId)) === 0;
  }

  /** Reads a job; undefined when it does not exist. */
  async getJob(jobId: string): Promise<Job<DataType, ResultType, NameType> | undefined> {
    return Job.fromId<DataType, ResultType, NameType>(this, jobIdArg('getJob', jobId));
  }

  // ---- Getters -----------------------------------------------------------

  /**
   * Jobs in the given states (one type, a list, or none for every state but
   * `paused`), positions `start..end` of each state (inclusive; negative
   * counts from the end). `asc` lists oldest first; the default is newest
   * first. `waiting` is the wait list.
   */
  async getJobs(
    types?: JobType[] | JobType,
    start = 0,
    end = -1,
    asc = false,
  ): Promise<Job<DataType, ResultType, NameType>[]> {
    const list = jobTypesArg('getJobs', types);
    integerArg('getJobs', 'start', start);
    integerArg('getJobs', 'end', end);
    booleanArg('getJobs', 'asc', asc);
    const q = await this.nativeQueue;
    const raws = await nativeIn('getJobs', q.getJobs(list, start, end, asc));
    return raws.map((raw) => Job.fromJSON<DataType, ResultType, NameType>(this, rawFromFlat(raw.fields), raw.id));
  }

  /**
   * Job counts per type, as an object keyed by the types asked for (by
   * default: active, completed, delayed, failed, prioritized, waiting,
   * waiting-children).
   */
  async getJobCounts(...types: JobType[]): Promise<{ [index: string]: number }> {
    return this.countsOf('getJobCounts', types);
  }

  /**
   * `getJobCounts`, also recorded on the telemetry's meter (when there is
   * one) as the gauge `bullmq.queue.jobs`, one value per state.
   */
  async recordJobCountsMetric(...types: JobType[]): Promise<{ [index: string]: number }> {
    const counts = await this.countsOf('recordJobCountsMetric', types);
    recordJobCounts(this.opts.telemetry, this.name, counts);
    return counts;
  }

  private async countsOf(method: string, types: JobType[]): Promise<{ [index: string]: number }> {
    const list = jobTypesArg(method, types);
    const q = await this.nativeQueue;
    const counts = await nativeIn(method, q.getJobCounts(list));
    const out: { [index: string]: number } = {};
    list.forEach((t, i) => {
      out[t] = counts[i] ?? 0;
    });
    return out;
  }

  /** The number of jobs in all the given types together. */
  async getJobCountByTypes(...types: JobType[]): Promise<number> {
    const counts = await this.countsOf('getJobCountByTypes', types);
    return Object.values(counts).reduce((sum, n) => sum + n, 0);
  }

  /** Jobs still to be processed: waiting, delayed, prioritized and waiting-children. */
  async count(): Promise<number> {
    return this.getJobCountByTypes('waiting', 'delayed', 'prioritized', 'waiting-children');
  }

  /** The state of a job: completed, failed, delayed, prioritized, active, waiting, waiting-children or unknown. */
  async getJobState(jobId: string): Promise<JobState | 'unknown'> {
    const id = jobIdArg('getJobState', jobId);
    const q = await this.nativeQueue;
    return (await nativeIn('getJobState', q.jobState(id))) as JobState | 'unknown';
  }

  /** Number of jobs waiting to be processed (the wait list). */
  async getWaitingCount(): Promise<number> {
    return this.getJobCountByTypes('waiting');
  }

  /** Number of jobs being processed. */
  async getActiveCount(): Promise<number> {
    return this.getJobCountByTypes('active');
  }

  /**
   * Number of delayed jobs; with `timestamp` (ms) only those due strictly
   * before it.
   */
  async getDelayedCount(timestamp?: number): Promise<number> {
    if (timestamp === undefined) return this.getJobCountByTypes('delayed');
    if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp)) {
      throw new TypeError(`timestamp must be a safe integer in milliseconds, got ${describe(timestamp)}`);
    }
    const q = await this.nativeQueue;
    const [count] = await nativeIn('getDelayedCount', q.getJobCounts(['delayed'], timestamp));
    return count ?? 0;
  }

  /** Number of jobs waiting with a priority. */
  async getPrioritizedCount(): Promise<number> {
    return this.getJobCountByTypes('prioritized');
  }

  /** Number of completed jobs. */
  async getCompletedCount(): Promise<number> {
    return this.getJobCountByTypes('completed');
  }

  /** Number of failed jobs. */
  async getFailedCount(): Promise<number> {
    return this.getJobCountByTypes('failed');
  }

  /** Number of parent jobs waiting for their children. */
  async getWaitingChildrenCount(): Promise<number> {
    return this.getJobCountByTypes('waiting-children');
  }

  /** Waiting jobs, oldest first. */
  async getWaiting(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    return this.getJobs(['waiting'], start, end, true);
  }

  /** Parent jobs waiting for their children, oldest first. */
  async getWaitingChildren(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    return this.getJobs(['waiting-children'], start, end, true);
  }

  /** Active jobs, oldest first. */
  async getActive(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    return this.getJobs(['active'], start, end, true);
  }

  /** Delayed jobs, the earliest due first. */
  async getDelayed(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    return this.getJobs(['delayed'], start, end, true);
  }

  /** Prioritized jobs, in the order they will run. */
  async getPrioritized(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    return this.getJobs(['prioritized'], start, end, true);
  }

  /** Completed jobs, newest first. */
  async getCompleted(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    return this.getJobs(['completed'], start, end, false);
  }

  /** Failed jobs, newest first. */
  async getFailed(start = 0, end = -1): Promise<Job<DataType, ResultType, NameType>[]> {
    return this.getJobs(['failed'], start, end, false);
  }

  /**
   * Log lines of a job, `start..end` from the oldest line (`asc`, default) or
   * from the newest, and the total number of lines.
   */
  async getJobLogs(jobId: string, start = 0, end = -1, asc = true): Promise<{ logs: string[]; count: number }> {
    const id = jobIdArg('getJobLogs', jobId);
    integerArg('getJobLogs', 'start', start);
    integerArg('getJobLogs', 'end', end);
    booleanArg('getJobLogs', 'asc', asc);
    const q = await this.nativeQueue;
    return nativeIn('getJobLogs', q.getJobLogs(id, start, end, asc));
  }

  /**
   * The workers of this queue, from Redis' client list: each is the client's
   * fields, with `name` set to the queue name and `rawname` the client name.
   */
  async getWorkers(): Promise<{ [index: string]: string }[]> {
    const q = await this.nativeQueue;
    return native(q.getWorkers());
  }

  /** Number of workers of this queue. */
  async getWorkersCount(): Promise<number> {
    return (await this.getWorkers()).length;
  }

  /**
   * The QueueEvents connected to this queue, from Redis' client list (as
   * getWorkers: `name` is the queue name, `rawname` the client name).
   * @deprecated as in BullMQ.
   */
  async getQueueEvents(): Promise<{ [index: string]: string }[]> {
    const q = await this.nativeQueue;
    return native(q.getQueueEvents());
  }

  /**
   * Ids of the jobs in the given states, positions `start..end` of each
   * state (default 0..1; negative counts from the end), oldest first with
   * `asc`, newest first by default; an id in two states once. Unlike
   * getJobs, the jobs are not read.
   */
  async getRanges(types: JobType[], start = 0, end = 1, asc = false): Promise<string[]> {
    if (!Array.isArray(types)) {
      throw new TypeError(`getRanges: types must be an array of job types, got ${describe(types)}`);
    }
    const list = types.length === 0 ? [] : jobTypesArg('getRanges', types);
    integerArg('getRanges', 'start', start);
    integerArg('getRanges', 'end', end);
    booleanArg('getRanges', 'asc', asc);
    const q = await this.nativeQueue;
    return native(q.getRanges(list, start, end, asc));
  }

  /**
   * Children `start..end` (`end` -1: all) of the parent job `parentId`:
   * completed ones (`type` 'processed', each item with its return value
   * `v`, or `err` when that is not JSON) or pending ones; `jobs` are the
   * children's job data, `total` the number of children of that type. The
   * children come in Redis' set order, so a page is stable only while the
   * children do not change.
   */
  async getDependencies(
    parentId: string,
    type: 'processed' | 'pending',
    start: number,
    end: number,
  ): Promise<{ items: { id: string; v?: any; err?: string }[]; jobs: JobJson[]; total: number }> {
    const id = jobIdArg('getDependencies', parentId);
    integerArg('getDependencies', 'start', start);
    integerArg('getDependencies', 'end', end);
    const processed = type === 'processed';
    const q = await this.nativeQueue;
    const page = await native(q.getChildrenPage(id, processed, start, end));
    const items = page.ids.map((childKey, i) => {
      if (!page.values) return { id: childKey };
      try {
        return { id: childKey, v: JSON.parse(page.values[i]) };
      } catch (err) {
        return { id: childKey, err: (err as Error).message };
      }
    });
    const jobs = page.jobs.map((flat) => jobJsonFromHash(rawFromFlat(flat) as unknown as Record<string, string>));
    return { items, jobs, total: page.total };
  }

  /** True when the queue is paused globally. */
  async isPaused(): Promise<boolean> {
    const q = await this.nativeQueue;
    return native(q.isPaused());
  }

  /**
   * Milliseconds the rate limit still holds. With `maxJobs`, 0 unless that
   * many jobs were counted; without it, the global rate limit's max is used,
   * or else the limiter's raw TTL (-2 when there is none, -1 without expiry).
   */
  async getRateLimitTtl(maxJobs?: number): Promise<number> {
    if (maxJobs !== undefined) integerArg('getRateLimitTtl', 'maxJobs', maxJobs, 0);
    const q = await this.nativeQueue;
    return native(q.getRateLimitTtl(maxJobs ?? 0));
  }

  /** The id of the job that owns deduplication id `id`, or null when none does. */
  async getDeduplicationJobId(id: string): Promise<string | null> {
    const dedupId = dedupIdArg('getDeduplicationJobId', id);
    const q = await this.nativeQueue;
    return (await native(q.getDeduplicationJobId(dedupId))) ?? null;
  }

  /** @deprecated use getDeduplicationJobId. */
  async getDebounceJobId(id: string): Promise<string | null> {
    return this.getDeduplicationJobId(id);
  }

  // ---- Control -----------------------------------------------------------

  /**
   * Frees deduplication id `id` whichever job owns it, so the next add with
   * it is added. Resolves with the number of keys deleted (0 or 1).
   */
  async removeDeduplicationKey(id: string): Promise<number> {
    const dedupId = dedupIdArg('removeDeduplicationKey', id);
    const q = await this.nativeQueue;
    return native(q.removeDeduplicationKey(dedupId));
  }

  /** @deprecated use removeDeduplicationKey. */
  async removeDebounceKey(id: string): Promise<number> {
    return this.removeDeduplicationKey(id);
  }

  /** Pauses processing of the queue for every worker; emits `paused`. */
  async pause(): Promise<void> {
    const q = await this.nativeQueue;
    await native(q.pause());
    this.emit('paused');
  }

  /** Resumes a paused queue; emits `resumed`. */
  async resume(): Promise<void> {
    const q = await this.nativeQueue;
    await native(q.resume());
    this.emit('resumed');
  }

  /**
   * Removes the jobs waiting to be processed (wait and prioritized, and
   * delayed when `delayed` is true). Active, finished and waiting-children
   * jobs stay, and so do the pending iterations of job schedulers.
   */
  async drain(delayed = false): Promise<void> {
    booleanArg('drain', 'delayed', delayed);
    const q = await this.nativeQueue;
    await native(q.drain(delayed));
  }

  /**
   * Removes up to `limit` jobs (0 or undefined: all) of one type that are
   * older than `grace` milliseconds, and returns their ids. Emits `cleaned`
   * (ids, type) per batch.
   */
  async clean(grace: number, limit: number = 0, type: CleanType = 'completed'): Promise<string[]> {
    nonNegativeNumberArg('clean', 'grace', grace);
    integerArg('clean', 'limit', limit, 0);
    const state = cleanTypeArg('clean', type);
    const normalized = state === 'waiting' ? 'wait' : state;
    const q = await this.nativeQueue;
    const batches = await native(q.clean(normalized, Math.floor(Date.now() - grace), limit));
    const removed: string[] = [];
    for (const ids of batches) {
      this.emit('cleaned', ids, normalized);
      removed.push(...ids);
    }
    return removed;
  }

  /**
   * Destroys the queue and all its data. Pauses it first; fails with
   * "Cannot obliterate queue with active jobs" unless `force`.
   */
  async obliterate(opts?: ObliterateOpts): Promise<void> {
    const o = optionsArg<ObliterateOpts>('obliterate', opts);
    const force = o.force === undefined ? false : booleanArg('obliterate', 'opts.force', o.force);
    const count = o.count === undefined ? undefined : integerArg('obliterate', 'opts.count', o.count, 1);
    await this.pause();
    const q = await this.nativeQueue;
    await native(q.obliterate(force, count));
  }

  /**
   * Rate-limits the queue for `expireTimeMs` milliseconds: workers with a
   * limiter (or a global rate limit) fetch nothing meanwhile.
   */
  async rateLimit(expireTimeMs: number): Promise<void> {
    integerArg('rateLimit', 'expireTimeMs', expireTimeMs, 1);
    const q = await this.nativeQueue;
    await native(q.rateLimit(expireTimeMs));
  }

  /** Moves failed (or completed) jobs back to wait, to be processed again. */
  async retryJobs(opts: RetryJobsOpts = {}): Promise<void> {
    const o = optionsArg<RetryJobsOpts>('retryJobs', opts);
    const state = o.state ?? 'failed';
    if (state !== 'failed' && state !== 'completed') {
      throw new TypeError(`retryJobs: opts.state must be "failed" or "completed", got ${describe(state)}`);
    }
    const count = o.count === undefined ? undefined : integerArg('retryJobs', 'opts.count', o.count, 1);
    const timestamp = o.timestamp === undefined ? Date.now() : integerArg('retryJobs', 'opts.timestamp', o.timestamp, 0);
    const q = await this.nativeQueue;
    await native(q.retryJobs(state, count, timestamp));
  }

  /** Moves every delayed job to wait. */
  async promoteJobs(opts: PromoteJobsOpts = {}): Promise<void> {
    const o = optionsArg<PromoteJobsOpts>('promoteJobs', opts);
    const count = o.count === undefined ? undefined : integerArg('promoteJobs', 'opts.count', o.count, 1);
    const q = await this.nativeQueue;
    await native(q.promoteJobs(count));
  }

  // ---- Metrics -------------------------------------------------------------

  /**
   * Metrics of finished jobs (`completed` or `failed`), recorded by workers
   * with the `metrics` option: the total `count` in `meta`, and the jobs
   * finished per minute, newest first, data points `start..end`.
   */
  async getMetrics(type: 'completed' | 'failed', start = 0, end = -1): Promise<Metrics> {
    integerArg('getMetrics', 'start', start);
    integerArg('getMetrics', 'end', end);
    const q = await this.nativeQueue;
    const m = await nativeIn('getMetrics', q.getMetrics(type, start, end));
    return { meta: { count: m.count, prevTS: m.prevTs, prevCount: m.prevCount }, data: m.data, count: m.points };
  }

  /**
   * The queue's job counts by state (gauges) and its completed and failed
   * totals (counters) in Prometheus' text format; `globalVariables` become
   * labels of every sample.
   */
  async exportPrometheusMetrics(globalVariables?: Record<string, string>): Promise<string> {
    const labels: string[] = [];
    if (globalVariables !== undefined && globalVariables !== null) {
      if (typeof globalVariables !== 'object') {
        throw new TypeError(`exportPrometheusMetrics: globalVariables must be an object, got ${describe(globalVariables)}`);
      }
      for (const [k, v] of Object.entries(globalVariables)) {
        const t = typeof v;
        if (t !== 'string' && t !== 'number' && t !== 'boolean' && t !== 'bigint') {
          throw new TypeError(`exportPrometheusMetrics: globalVariables.${k} must be a string, got ${describe(v)}`);
        }
        labels.push(k, String(v));
      }
    }
    const q = await this.nativeQueue;
    return native(q.exportPrometheusMetrics(labels));
  }

  // ---- Queue-wide settings (the `meta` hash) --------------------------------

  /** What this Queue records in `meta` when it connects (unless `skipMetasUpdate`). */
  get metaValues(): { [index: string]: string | number } {
    return {
      'opts.maxLenEvents': eventsMaxLen(this.opts),
      version: `bullmq-native:${version}`,
    };
  }

  /**
   * The `version` recorded in the queue's meta by the last Queue that
   * connected (`{library}:{version}`), or null when none did.
   */
  async getVersion(): Promise<string | null> {
    const q = await this.nativeQueue;
    return native(q.getMetaField('version'));
  }

  /**
   * The queue's settings as stored in `meta`: `concurrency`, `max`,
   * `duration` and `maxLenEvents` as numbers when set, `paused`, and every
   * other field (such as `version`) as stored.
   */
  async getMeta(): Promise<{ [index: string]: string | number | boolean }> {
    const q = await this.nativeQueue;
    const m = await native(q.getMeta());
    const out: { [index: string]: string | number | boolean } = {};
    for (let i = 0; i + 1 < m.rest.length; i += 2) out[m.rest[i]] = m.rest[i + 1];
    if (m.concurrency != null) out.concurrency = m.concurrency;
    if (m.maxLenEvents != null) out.maxLenEvents = m.maxLenEvents;
    if (m.max != null) out.max = m.max;
    if (m.duration != null) out.duration = m.duration;
    out.paused = m.paused;
    return out;
  }

  /**
   * Sets the global concurrency: at most `concurrency` jobs of this queue
   * run at once, over all workers (ours and BullMQ's).
   */
  async setGlobalConcurrency(concurrency: number): Promise<void> {
    integerArg('setGlobalConcurrency', 'concurrency', concurrency);
    const q = await this.nativeQueue;
    await native(q.setGlobalConcurrency(concurrency));
  }

  /** The global concurrency, or null when none is set. */
  async getGlobalConcurrency(): Promise<number | null> {
    const q = await this.nativeQueue;
    return (await native(q.getGlobalConcurrency())) ?? null;
  }

  /** Removes the global concurrency; resolves with the number of fields removed. */
  async removeGlobalConcurrency(): Promise<number> {
    const q = await this.nativeQueue;
    return native(q.removeGlobalConcurrency());
  }

  /**
   * Sets the global rate limit: at most `max` jobs started per `duration`
   * milliseconds, over all workers.
   */
  async setGlobalRateLimit(max: number, duration: number): Promise<void> {
    integerArg('setGlobalRateLimit', 'max', max);
    integerArg('setGlobalRateLimit', 'duration', duration);
    const q = await this.nativeQueue;
    await native(q.setGlobalRateLimit(max, duration));
  }

  /** The global rate limit, or null unless both its values are set. */
  async getGlobalRateLimit(): Promise<{ max: number; duration: number } | null> {
    const q = await this.nativeQueue;
    return (await native(q.getGlobalRateLimit())) ?? null;
  }

  /** Removes the global rate limit; resolves with the number of fields removed. */
  async removeGlobalRateLimit(): Promise<number> {
    const q = await this.nativeQueue;
    return native(q.removeGlobalRateLimit());
  }

  /** Deletes the rate limiter's counter, so a limit in force ends now. */
  async removeRateLimitKey(): Promise<number> {
    const q = await this.nativeQueue;
    return native(q.removeRateLimitKey());
  }

  /** True when a global concurrency is set and that many jobs are active. */
  async isMaxed(): Promise<boolean> {
    const q = await this.nativeQueue;
    return native(q.isMaxed());
  }

  /** Number of waiting jobs per priority (priority 0: the wait list), keyed by priority. */
  async getCountsPerPriority(priorities: number[]): Promise<{ [index: string]: number }> {
    if (!Array.isArray(priorities)) {
      throw new TypeError(`getCountsPerPriority: priorities must be an array, got ${describe(priorities)}`);
    }
    const unique = [...new Set(priorities)];
    unique.forEach((p, i) => integerArg('getCountsPerPriority', `priorities[${i}]`, p, 0));
    const q = await this.nativeQueue;
    const counts = await nativeIn('getCountsPerPriority', q.getCountsPerPriority(unique));
    const out: { [index: string]: number } = {};
    unique.forEach((p, i) => {
      out[`${p}`] = counts[i] ?? 0;
    });
    return out;
  }

  /** Deletes the `priority` key that very old BullMQ versions wrote. */
  async removeDeprecatedPriorityKey(): Promise<number> {
    const q = await this.nativeQueue;
    return native(q.removeDeprecatedPriorityKey());
  }

  /** Stores a job's progress and announces it, as `job.updateProgress`. */
  async updateJobProgress(jobId: string, progress: JobProgress): Promise<void> {
    const id = jobIdArg('updateJobProgress', jobId);
    const q = await this.nativeQueue;
    const text = progressText('updateJobProgress', progress);
    await native(q.updateJobProgress(id, text));
  }

  /** Appends a line to a job's log; resolves with the number of lines kept. */
  async addJobLog(jobId: string, logRow: string, keepLogs?: number): Promise<number> {
    const id = jobIdArg('addJobLog', jobId);
    if (typeof logRow !== 'string') {
      throw new TypeError(`addJobLog: logRow must be a string, got ${describe(logRow)}`);
    }
    if (keepLogs !== undefined) integerArg('addJobLog', 'keepLogs', keepLogs, 0);
    const q = await this.nativeQueue;
    return native(q.addJobLog(id, logRow, keepLogs && keepLogs > 0 ? keepLogs : undefined));
  }

  /**
   * Cancels a job that is active on one of our workers, from any process
   * (an extension beyond BullMQ): the worker holding it aborts its
   * processor's signal with `reason`. Resolves true when a worker held the
   * job, false when none did (or none answered within 5 seconds). Workers of
   * the official `bullmq` package do not take part.
   */
  async cancelJob(jobId: string, reason?: string): Promise<boolean> {
    const id = jobIdArg('cancelJob', jobId);
    if (reason !== undefined && typeof reason !== 'string') {
      throw new TypeError(`cancelJob: reason must be a string, got ${describe(reason)}`);
    }
    const q = await this.nativeQueue;
    return native(q.cancelJob(id, reason));
  }

  /**
   * Removes jobs whose keys exist while no state of the queue holds them
   * (left by a crash or by deleting state keys by hand), with their logs,
   * lock and dependency keys. Scans the queue's keys `count` at a time;
   * with `limit` > 0 stops once that many were removed. Returns how many
   * were removed (`count` defaults to 1000). To go in steps:
   * `while (await queue.removeOrphanedJobs(1000, 10000)) {}`.
   */
  async removeOrphanedJobs(count?: number, limit = 0): Promise<number> {
    if (count !== undefined) integerArg('removeOrphanedJobs', 'count', count, 1);
    integerArg('removeOrphanedJobs', 'limit', limit, 0);
    const q = await this.nativeQueue;
    return native(q.removeOrphanedJobs(count, limit));
  }

  /** Closes the queue's connections. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        try {
          const q = await this.nativeQueue;
          await q.close();
        } catch {
          // A queue that never connected has nothing to close.
        }
        this.closed = true;
      })();
    }
    return this.closing;
  }

  /**
   * Closes the queue's connections at once. A Queue has nothing to wait for,
   * so this is close() (what @nestjs/bullmq calls after close at shutdown).
   */
  async disconnect(): Promise<void> {
    await this.close();
  }

  /**
   * Removes a job, with its children unless `removeChildren` is false.
   * Returns 1 when removed (or when there was nothing to remove) and 0 when
   * the job or one of its pending children is locked by a worker; emits
   * `removed` (the job id) on removal. The current iteration of a job
   * scheduler cannot be removed this way (error code -8).
   */
  async remove(jobId: string, opts?: { removeChildren?: boolean }): Promise<number> {
    if (typeof jobId !== 'string' || jobId === '') {
      throw new TypeError(`jobId must be a non-empty string, got ${typeof jobId === 'string' ? '""' : typeof jobId}`);
    }
    const { removeChildren = true } = optionsArg<{ removeChildren: boolean }>('remove', opts);
    if (typeof removeChildren !== 'boolean') {
      throw new TypeError(`removeChildren must be a boolean, got ${typeof removeChildren}`);
    }
    const q = await this.nativeQueue;
    const removed = await native(q.removeJob(jobId, removeChildren));
    if (removed) this.emit('removed', jobId);
    return removed ? 1 : 0;
  }

  /**
   * Trims the queue's events stream to about `maxLength` events, dropping
   * the oldest. Trimming is approximate, as in BullMQ: only whole internal
   * nodes of the stream are removed, so somewhat more may stay. Resolves
   * with the number of events removed.
   */
  async trimEvents(maxLength: number): Promise<number> {
    integerArg('trimEvents', 'maxLength', maxLength, 0);
    const q = await this.nativeQueue;
    return native(q.trimEvents(maxLength));
  }
}

export { rawFromFlat };
