/**
 * Queue: the producer API (add, addBulk, getters, control), as in BullMQ.
 */
import { native } from './errors';
import { Job, rawFromFlat } from './job';
import type { Native } from './native';
import { QueueBase } from './queue-base';
import type { JobsOptions, QueueOptions } from './types';

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
  if (opts.priority !== undefined) {
    if (!Number.isInteger(opts.priority)) {
      throw new Error('Priority should not be float');
    }
    if (opts.priority > 2097152) {
      throw new Error('Priority should be between 0 and 2097152');
    }
  }
  if (opts.jobId !== undefined) {
    if (typeof opts.jobId !== 'string') {
      throw new TypeError('opts.jobId must be a string');
    }
    if (opts.jobId === '0' || opts.jobId.startsWith('0:')) {
      throw new Error("JobId cannot be '0' or start with 0:");
    }
    if (/^\d+$/.test(opts.jobId)) {
      throw new Error('Custom Id cannot be integers');
    }
    if (opts.jobId.includes(':') && opts.jobId.split(':').length !== 3) {
      throw new Error('Custom Id cannot contain :');
    }
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

export class Queue<DataType = any, ResultType = any, NameType extends string = string> extends QueueBase {
  declare readonly opts: QueueOptions;
  /** Options applied to every job unless the job overrides them. */
  readonly jobsOpts: JobsOptions;

  constructor(name: string, opts: QueueOptions = {}) {
    super(name, opts);
    this.jobsOpts = opts.defaultJobOptions ?? {};
  }

  get defaultJobOptions(): JobsOptions {
    return { ...this.jobsOpts };
  }

  private prepareJob(name: NameType, data: DataType, opts?: JobsOptions) {
    if (typeof name !== 'string') {
      throw new TypeError('job name must be a string');
    }
    const merged: JobsOptions = { ...this.jobsOpts, ...(opts ?? {}) };
    // BullMQ drops null options when it stores them: null means "not given".
    for (const key of Object.keys(merged)) {
      if (merged[key] === null) delete merged[key];
    }
    checkJobOptions(merged);
    const dataText = serializeData(data);
    const timestamp = merged.timestamp ?? Date.now();
    const native: Native.BindingNewJob = {
      name,
      data: dataText,
      opts: JSON.stringify(merged),
      timestamp,
    };
    return { merged, native, timestamp };
  }

  /** Adds a job to the queue. */
  async add(name: NameType, data: DataType, opts?: JobsOptions): Promise<Job<DataType, ResultType, NameType>> {
    const [job] = await this.addBulk([{ name, data, opts }]);
    return job;
  }

  /** Adds several jobs in one round trip. */
  async addBulk(
    jobs: { name: NameType; data: DataType; opts?: JobsOptions }[],
  ): Promise<Job<DataType, ResultType, NameType>[]> {
    if (!Array.isArray(jobs)) {
      throw new TypeError('addBulk expects an array of jobs');
    }
    const prepared = jobs.map((j) => {
      if (j === null || typeof j !== 'object') throw new TypeError('each job must be an object');
      return this.prepareJob(j.name, j.data, j.opts);
    });
    const q = await this.nativeQueue;
    const added = await native(q.addJobs(prepared.map((p) => p.native)));
    return added.map((a, i) => {
      const { merged, timestamp } = prepared[i];
      const job = new Job<DataType, ResultType, NameType>(this, jobs[i].name, jobs[i].data, {
        ...merged,
        timestamp,
      }, a.id);
      return job;
    });
  }

  /** Reads a job; undefined when it does not exist. */
  async getJob(jobId: string): Promise<Job<DataType, ResultType, NameType> | undefined> {
    return Job.fromId<DataType, ResultType, NameType>(this, jobId);
  }

  /** @internal */
  async _finish(finish: Native.BindingFinish): Promise<Native.BindingFetched> {
    const q = await this.nativeQueue;
    return native(q.moveToFinished(finish));
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
}

export { rawFromFlat };
