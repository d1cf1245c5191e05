/**
 * JobScheduler: job factories that add a job at a fixed interval (`every`) or
 * at the times of a cron pattern, as in BullMQ 6.7. The engine keeps the
 * schedule (engine/scheduler): it checks the options, computes the times,
 * writes BullMQ's layout, and adds each next iteration when a worker fetches
 * the current one. This side checks argument shapes and turns the results
 * into Jobs and JobSchedulerJson objects.
 */
import { fromNative, native, nativeIn } from './errors';
import { Job, type JobHost } from './job';
import { optsFromStored } from './job-codec';
import { binding, type Native } from './native';
import { describe, optionsArg } from './queue-args';
import { QueueBase } from './queue-base';
import { instrumentJobScheduler } from './telemetry';
import type {
  JobSchedulerJson,
  JobSchedulerTemplateJson,
  JobsOptions,
  QueueOptions,
  RepeatOptions,
  RepeatStrategy,
} from './types';
import { serializeData } from './queue';

/** A date option as milliseconds, the form the engine and Redis keep. */
function dateMillis(method: string, what: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === '' || value === 0) return undefined;
  if (!(value instanceof Date) && typeof value !== 'string' && typeof value !== 'number') {
    throw new TypeError(`${method}: ${what} must be a Date, a string or a number, got ${describe(value)}`);
  }
  const ms = new Date(value).getTime();
  if (Number.isNaN(ms)) throw new TypeError(`${method}: ${what} is not a valid date, got ${describe(value)}`);
  return ms;
}

/** The repeat options as the engine takes them: the dates in milliseconds. */
function repeatJson(method: string, repeatOpts: RepeatOptions): string {
  if (repeatOpts === null || typeof repeatOpts !== 'object') {
    throw new TypeError(`${method}: repeatOpts must be an object, got ${describe(repeatOpts)}`);
  }
  const out: Record<string, unknown> = { ...repeatOpts };
  for (const key of ['startDate', 'endDate'] as const) {
    if (key in out) out[key] = dateMillis(method, `repeatOpts.${key}`, repeatOpts[key]);
  }
  return JSON.stringify(out);
}

/** A synchronous call into the engine, its errors as the facade's. */
function nativeSync<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw fromNative(err);
  }
}

/** Where BullMQ explains moving legacy (v5) repeatable jobs to job schedulers. */
export const LEGACY_REPEATABLE_JOBS_MIGRATION_URL: string = binding.LEGACY_REPEATABLE_JOBS_MIGRATION_URL;

/**
 * Whether `key` has the shape of a legacy (v5) repeatable job's key
 * (`name:id:endDate:tz:pattern|every`); a scheduler id may have it too, so
 * this alone does not tell them apart (see `JobScheduler.isJobScheduler`).
 */
export function hasLegacyRepeatableKeyShape(key: string): boolean {
  return typeof key === 'string' && binding.hasLegacyRepeatableKeyShape(key);
}

/** The same test as `hasLegacyRepeatableKeyShape`, under BullMQ's other name. */
export const isLegacyRepeatableJobKey: typeof hasLegacyRepeatableKeyShape = hasLegacyRepeatableKeyShape;

/** The error BullMQ 6 raises where a legacy repeatable job is met instead of a scheduler. */
export function getLegacyRepeatableJobError(key: string): Error {
  return new Error(binding.legacyRepeatableJobMessage(String(key)));
}

/**
 * BullMQ's default strategy for pattern schedules: the first time of
 * `opts.pattern` (in `opts.tz`) after `millis`, or after `opts.startDate`
 * when that is later; now with `opts.immediately`; undefined when none is
 * left before `opts.endDate`. A custom `settings.repeatStrategy` can fall
 * back to it.
 */
export const defaultRepeatStrategy = (millis: number, opts: RepeatOptions): number | undefined =>
  nativeSync(() => binding.patternNextMillis(millis, repeatJson('defaultRepeatStrategy', opts))) ?? undefined;

/**
 * The next time after `millis` of a schedule: for `opts.every` the next
 * multiple of the interval (the current one with `opts.immediately`), for
 * `opts.pattern` as `defaultRepeatStrategy`.
 */
export const getNextMillis = (millis: number, opts: RepeatOptions): number | undefined =>
  nativeSync(() => binding.scheduleNextMillis(millis, repeatJson('getNextMillis', opts))) ?? undefined;

/** A template from its stored data and options (JSON text). */
function templateFromJSON<D = any>(rawData?: string | null, rawOpts?: string | null): JobSchedulerTemplateJson<D> {
  for (const [what, raw] of [['rawData', rawData], ['rawOpts', rawOpts]] as const) {
    if (raw !== undefined && raw !== null && typeof raw !== 'string') {
      throw new TypeError(`getTemplateFromJSON: ${what} must be JSON text, got ${describe(raw)}`);
    }
  }
  const template: JobSchedulerTemplateJson<D> = {};
  if (rawData) template.data = JSON.parse(rawData);
  if (rawOpts) template.opts = optsFromStored(JSON.parse(rawOpts));
  return template;
}

/** BullMQ's JobSchedulerJson from the engine's record. */
function schedulerJson(s: Native.BindingJobScheduler): JobSchedulerJson {
  const out: JobSchedulerJson = { key: s.key, name: s.name, next: (s.next ?? null) as number };
  if (s.iterationCount != null) out.iterationCount = s.iterationCount;
  if (s.limit != null) out.limit = s.limit;
  if (s.startDate != null) out.startDate = s.startDate;
  if (s.endDate != null) out.endDate = s.endDate;
  if (s.tz != null) out.tz = s.tz;
  if (s.pattern != null) out.pattern = s.pattern;
  if (s.every != null) out.every = s.every;
  if (s.offset != null) out.offset = s.offset;
  if (s.templateData != null || s.templateOpts != null) out.template = templateFromJSON(s.templateData, s.templateOpts);
  return out;
}

function idArg(method: string, id: unknown): string {
  if (typeof id !== 'string' || id === '') {
    throw new TypeError(`${method}: jobSchedulerId must be a non-empty string, got ${describe(id)}`);
  }
  return id;
}

/** The scheduler each Queue or Worker serves through `jobScheduler`, made on first use. */
const hostSchedulers = new WeakMap<JobHost, JobScheduler>();

/**
 * The job schedulers of a queue. `Queue` uses one (`queue.jobScheduler`);
 * it can also be created on its own with the queue's name and options.
 */
export class JobScheduler extends QueueBase {
  /** The strategy for pattern times given in `settings.repeatStrategy`, if any. */
  private readonly repeatStrategy?: RepeatStrategy;
  /** What the Jobs it returns belong to: the Queue it serves, or itself. */
  private readonly jobHost: JobHost;
  private readonly ownConnection: boolean;

  /**
   * The one scheduler over `host`'s connection (`queue.jobScheduler`,
   * `worker.jobScheduler`), made on first use; its errors are the host's.
   */
  static of(host: JobHost): JobScheduler {
    let scheduler = hostSchedulers.get(host);
    if (!scheduler) {
      scheduler = new JobScheduler(host.name, host.opts, host);
      scheduler.on('error', (err) => host.emit('error', err));
      hostSchedulers.set(host, scheduler);
    }
    return scheduler;
  }

  /**
   * `host`: the Queue this scheduler serves (its connection is shared and
   * the Jobs returned belong to it).
   */
  constructor(name: string, opts: QueueOptions = {}, host?: JobHost) {
    super(name, opts, undefined, host?._queue());
    this.jobHost = host ?? this;
    this.ownConnection = host === undefined;
    const strategy = opts?.settings?.repeatStrategy;
    if (strategy !== undefined && typeof strategy !== 'function') {
      throw new TypeError(`settings.repeatStrategy must be a function, got ${describe(strategy)}`);
    }
    this.repeatStrategy = strategy;
    if (opts?.telemetry) instrumentJobScheduler(this, opts.telemetry);
  }

  /**
   * Creates the scheduler `jobSchedulerId`, or updates it in place (its
   * pending iteration is replaced, never doubled), and returns the iteration
   * it added; undefined when the schedule has nothing left to run (its
   * `limit` reached, or no pattern time left). With `override: false` (what a
   * worker does for the iteration `producerId` it fetched) it only adds the
   * next iteration and returns that.
   */
  async upsertJobScheduler<T = any, R = any, N extends string = string>(
    jobSchedulerId: string,
    repeatOpts: RepeatOptions,
    jobName: N,
    jobData: T,
    opts: JobsOptions,
    overrideOpts?: { override?: boolean; producerId?: string },
  ): Promise<Job<T, R, N> | undefined> {
    const method = 'upsertJobScheduler';
    const { override, producerId } = optionsArg<{ override: boolean; producerId: string }>(method, overrideOpts);
    idArg(method, jobSchedulerId);
    if (typeof jobName !== 'string') throw new TypeError(`${method}: the template name must be a string, got ${describe(jobName)}`);
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${method}: opts must be an object, got ${describe(opts)}`);
    const repeat = repeatJson(method, repeatOpts);
    if (repeatOpts.immediately && repeatOpts.every) {
      console.warn("Using option immediately with every does not affect the job's schedule. Job will run immediately anyway.");
    }
    const q = await this.nativeQueue;
    const next = await this.strategyTime(repeatOpts, jobName, opts);
    if (!override) {
      if (typeof producerId !== 'string') throw new TypeError(`${method}: producerId must be a string`);
      const id = await native(q.continueJobScheduler(producerId, next.custom ? next.millis : undefined));
      return id ? Job.fromId<T, R, N>(this.jobHost, id) : undefined;
    }
    const made = await native(
      q.upsertJobScheduler({
        id: jobSchedulerId,
        repeat,
        name: jobName,
        data: serializeData(jobData),
        opts: JSON.stringify(opts),
        customStrategy: next.custom,
        nextMillis: next.millis,
      }),
    );
    if (!made) return undefined;
    return new Job<T, R, N>(this.jobHost, jobName, jobData, JSON.parse(made.opts) as JobsOptions, made.id);
  }

  /**
   * The time the custom strategy gives a pattern (BullMQ calls it with the
   * later of now and `opts.prevMillis`); `custom: false` without one.
   */
  private async strategyTime(
    repeatOpts: RepeatOptions,
    name: string,
    opts: JobsOptions,
  ): Promise<{ custom: boolean; millis?: number }> {
    if (!this.repeatStrategy || !repeatOpts.pattern || repeatOpts.every) return { custom: false };
    const prev = typeof opts.prevMillis === 'number' ? opts.prevMillis : 0;
    const millis = await this.repeatStrategy(Math.max(Date.now(), prev), repeatOpts, name);
    return { custom: true, millis: typeof millis === 'number' ? millis : undefined };
  }

  /** Removes a scheduler and its delayed iteration: 0 when removed, 1 when there was none. */
  async removeJobScheduler(jobSchedulerId: string): Promise<number> {
    const q = await this.nativeQueue;
    return (await native(q.removeJobScheduler(idArg('removeJobScheduler', jobSchedulerId)))) ? 0 : 1;
  }

  /** Whether `id` names a job scheduler (and not a legacy repeatable job). */
  async isJobScheduler(id: string): Promise<boolean> {
    const q = await this.nativeQueue;
    return native(q.isJobScheduler(idArg('isJobScheduler', id)));
  }

  /** One scheduler; undefined when there is none with this id. */
  async getScheduler<D = any>(id: string): Promise<JobSchedulerJson<D> | undefined> {
    const q = await this.nativeQueue;
    const s = await nativeIn('getJobScheduler', q.getJobScheduler(idArg('getJobScheduler', id)));
    return s ? schedulerJson(s) : undefined;
  }

  /**
   * Schedulers ordered by the time of their pending iteration, positions
   * `start..end` (inclusive), latest first unless `asc`.
   */
  async getJobSchedulers<D = any>(start = 0, end = -1, asc = false): Promise<JobSchedulerJson<D>[]> {
    for (const [what, v] of [['start', start], ['end', end]] as const) {
      if (!Number.isInteger(v)) throw new TypeError(`getJobSchedulers: ${what} must be an integer, got ${describe(v)}`);
    }
    const q = await this.nativeQueue;
    return (await nativeIn('getJobSchedulers', q.getJobSchedulers(start, end, asc === true))).map(schedulerJson);
  }

  /** The number of schedulers. */
  async getSchedulersCount(): Promise<number> {
    const q = await this.nativeQueue;
    return nativeIn('getJobSchedulersCount', q.getJobSchedulersCount());
  }

  /** The id of a scheduler's iteration at `nextMillis`: `repeat:{id}:{millis}`. */
  getSchedulerNextJobId(opts: { nextMillis: number; jobSchedulerId: string }): string {
    const method = 'getSchedulerNextJobId';
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${method}: opts must be an object, got ${describe(opts)}`);
    const { nextMillis, jobSchedulerId } = opts;
    if (typeof jobSchedulerId !== 'string') {
      throw new TypeError(`${method}: jobSchedulerId must be a string, got ${describe(jobSchedulerId)}`);
    }
    if (typeof nextMillis !== 'number') throw new TypeError(`${method}: nextMillis must be a number, got ${describe(nextMillis)}`);
    return `repeat:${jobSchedulerId}:${nextMillis}`;
  }

  /** A template from its stored data and options (JSON). */
  getTemplateFromJSON<D = any>(rawData?: string, rawOpts?: string): JobSchedulerTemplateJson<D> {
    return templateFromJSON<D>(rawData, rawOpts);
  }

  /** Closes the connection, unless it is the Queue's. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        if (this.ownConnection) {
          try {
            (await this.nativeQueue).close();
          } catch {
            // Never connected: nothing to close.
          }
        }
        this.closed = true;
      })();
    }
    return this.closing;
  }
}
