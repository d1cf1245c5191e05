/**
 * Worker: the manual-processing surface (getNextJob with tokens) and, with a
 * processor, the automatic worker.
 */
import { native } from './errors';
import { Job, rawFromFlat, resolveKeepJobs } from './job';
import type { Native } from './native';
import { binding } from './native';
import { integerArg, tokenArg } from './queue-args';
import { QueueBase } from './queue-base';
import { RateLimitError } from './errors';
import type { WorkerOptions } from './types';

export type Processor<DataType = any, ResultType = any, NameType extends string = string> = (
  job: Job<DataType, ResultType, NameType>,
  token?: string,
  signal?: AbortSignal,
) => Promise<ResultType> | ResultType;

function positiveNumber(opts: WorkerOptions, key: keyof WorkerOptions, allowZero = false): void {
  const v = opts[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new TypeError(`${String(key)} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(v)}`);
  }
}

export class Worker<DataType = any, ResultType = any, NameType extends string = string> extends QueueBase {
  declare readonly opts: WorkerOptions;
  /** A rate-limit error to throw from a processor after `worker.rateLimit(ms)`. */
  static RateLimitError(): Error {
    return new RateLimitError();
  }

  protected readonly processor?: Processor<DataType, ResultType, NameType> | null;
  private readonly nativeWorker: Promise<Native.BindingWorker>;

  constructor(
    name: string,
    processor?: Processor<DataType, ResultType, NameType> | string | null,
    opts: WorkerOptions = {},
  ) {
    super(name, opts);
    const o: WorkerOptions = {
      drainDelay: 5,
      concurrency: 1,
      lockDuration: 30000,
      maxStalledCount: 1,
      stalledInterval: 30000,
      autorun: true,
      ...opts,
      prefix: this.opts.prefix,
    };
    positiveNumber(o, 'lockDuration');
    positiveNumber(o, 'stalledInterval');
    positiveNumber(o, 'maxStalledCount', true);
    positiveNumber(o, 'drainDelay');
    positiveNumber(o, 'concurrency');
    if (o.limiter !== undefined) {
      if (
        typeof o.limiter !== 'object' ||
        typeof o.limiter.max !== 'number' ||
        typeof o.limiter.duration !== 'number' ||
        o.limiter.max <= 0 ||
        o.limiter.duration <= 0
      ) {
        throw new TypeError('limiter must be { max: positive number, duration: positive number }');
      }
    }
    if (o.lockRenewTime === undefined) o.lockRenewTime = o.lockDuration! / 2;
    (this as { opts: WorkerOptions }).opts = o;
    if (processor !== undefined && processor !== null && typeof processor !== 'function') {
      throw new TypeError('processor must be a function, a file path, or null');
    }
    this.processor = processor as Processor<DataType, ResultType, NameType> | null | undefined;
    this.nativeWorker = this.nativeQueue.then((q) =>
      native(
        binding.openWorker(q, {
          lockDuration: o.lockDuration!,
          stalledInterval: o.stalledInterval!,
          maxStalledCount: o.maxStalledCount!,
          drainDelay: o.drainDelay!,
          limiterMax: o.limiter?.max,
          limiterDuration: o.limiter?.duration,
          name: o.name,
          removeOnFail: resolveKeepJobs(undefined, o.removeOnFail),
        }),
      ),
    );
    this.nativeWorker.catch(() => undefined);
  }

  async waitUntilReady(): Promise<void> {
    await this.nativeWorker;
  }

  /**
   * Moves the next job to active, locked by `token`. With `block` (default
   * true) waits on the queue's marker first; undefined when no job came.
   */
  async getNextJob(token: string, { block = true }: { block?: boolean } = {}): Promise<Job<DataType, ResultType, NameType> | undefined> {
    tokenArg('getNextJob', token);
    if (this.closing) return undefined;
    const w = await this.nativeWorker;
    const raw = await native(w.getNextJob(token, block !== false));
    if (!raw) return undefined;
    const job = Job.fromJSON<DataType, ResultType, NameType>(this, rawFromFlat(raw.fields), raw.id);
    job.token = token;
    return job;
  }

  /** @internal */
  async _finish(finish: Native.BindingFinish): Promise<Native.BindingFetched> {
    const w = await this.nativeWorker;
    return native(w.moveToFinished(finish));
  }

  /** @internal */
  async _fail(attempt: Native.BindingFailedAttempt): Promise<Native.BindingFailed> {
    const w = await this.nativeWorker;
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
   * that stalled more than `maxStalledCount` times end failed when next
   * fetched. Needed only when processing jobs manually.
   */
  async startStalledCheckTimer(): Promise<void> {
    if (this.opts.skipStalledCheck || this.closing) return;
    const w = await this.nativeWorker;
    if (this.closing) return;
    await native(
      w.startStalledCheckTimer((report) => {
        if (report.error !== undefined && report.error !== null) {
          // An 'error' event without listeners would crash the process.
          if (this.listenerCount('error') > 0) this.emit('error', new Error(report.error));
          return;
        }
        for (const jobId of report.jobIds) this.emit('stalled', jobId, 'active');
      }),
    );
  }

  /** Closes the worker; a blocked getNextJob returns undefined promptly. */
  async close(force = false): Promise<void> {
    void force;
    if (!this.closing) {
      this.emit('closing', 'closing queue');
      this.closing = (async () => {
        try {
          const w = await this.nativeWorker;
          await w.close();
          const q = await this.nativeQueue;
          await q.close();
        } catch {
          // Never connected: nothing to close.
        }
        this.closed = true;
        this.emit('closed');
      })();
    }
    return this.closing;
  }
}
