/** Option and data types, named and shaped as in BullMQ. */
import type { ConnectionOptions } from './connection';
import type { JobTelemetryOptions, Telemetry } from './telemetry';

export interface BackoffOptions {
  /** `fixed`, `exponential`, or the name of a custom strategy. */
  type: 'fixed' | 'exponential' | (string & {});
  /** Delay in milliseconds (base delay for exponential). */
  delay?: number;
  /** 0..1: how much of the delay is randomized. */
  jitter?: number;
}

export interface KeepJobs {
  /** Maximum age in seconds of jobs to keep. */
  age?: number;
  /** Maximum number of jobs to keep. */
  count?: number;
  /** Maximum number of jobs removed per cleanup. */
  limit?: number;
}

export interface ParentOptions {
  /** Parent job id. */
  id: string;
  /** Parent's queue qualified name, `{prefix}:{queueName}`. */
  queue: string;
}

/**
 * Deduplication of adds: while a job owns `id`, adding another job with the
 * same id adds nothing and returns the owner (event `deduplicated`).
 */
export interface DeduplicationOptions {
  /** The deduplication id. */
  id: string;
  /**
   * Milliseconds the id stays owned (throttling); without it the id is owned
   * until the job completes, fails or is removed.
   */
  ttl?: number;
  /** With `ttl`: each deduplicated add starts the ttl again. */
  extend?: boolean;
  /** While the owner is delayed, the new job replaces it. */
  replace?: boolean;
  /**
   * While the owner is delayed, it is due again after the new add's delay,
   * counted from the new add's timestamp (no delay = now). The owner keeps
   * its id and data. Ignored with `replace`.
   */
  reschedule?: boolean;
  /**
   * While the owner is active, the latest deduplicated add is kept and
   * added as a job once the owner completes or fails: at most one job runs
   * and one waits per id. The id then never expires on its own (`ttl` is
   * ignored).
   */
  keepLastIfActive?: boolean;
}

export interface BaseJobOptions {
  /** Milliseconds since epoch; defaults to now. */
  timestamp?: number;
  /** 1 (highest) .. 2 097 151 (lowest); 0 means no priority. */
  priority?: number;
  /** Milliseconds to wait before the job can be processed. */
  delay?: number;
  /** Total number of attempts (retries + 1). */
  attempts?: number;
  /** Backoff for retries: a delay in ms (fixed) or a strategy. */
  backoff?: number | BackoffOptions;
  /** Add to the right of the wait list (runs next). */
  lifo?: boolean;
  /** true removes when completed; a number or KeepJobs keeps that many. */
  removeOnComplete?: boolean | number | KeepJobs;
  /** true removes when failed; a number or KeepJobs keeps that many. */
  removeOnFail?: boolean | number | KeepJobs;
  /** Number of stack trace lines to keep per failed attempt. */
  stackTraceLimit?: number;
  /** Maximum number of log lines kept for the job. */
  keepLogs?: number;
  /** Maximum size in bytes of the job's data. */
  sizeLimit?: number;
  /**
   * Milliseconds an attempt may run (an extension of bullmq-native): then
   * the processor's signal aborts with a `TimeoutError` and the attempt fails
   * with `job <id> timed out after <ms> ms`, retried while attempts remain,
   * whatever the processor does next. Overrides the worker's `timeout`; 0
   * means none. The official bullmq stores and ignores it.
   */
  timeout?: number;
  parent?: ParentOptions;
  failParentOnFailure?: boolean;
  ignoreDependencyOnFailure?: boolean;
  removeDependencyOnFailure?: boolean;
  continueParentOnFailure?: boolean;
  deduplication?: DeduplicationOptions;
  /** Set on a scheduler's iterations: the repeat options and its iteration count. */
  repeat?: RepeatOptions;
  /** Set on a scheduler's pattern iterations: their scheduled time. */
  prevMillis?: number;
  /**
   * Telemetry of the job: `metadata` is the context of the span that added
   * it (set by the producer), `omitContext` stores none.
   */
  telemetry?: JobTelemetryOptions;
  /** Internal: the job scheduler an iteration belongs to (stored as `rjk`). */
  repeatJobKey?: string;
  [key: string]: unknown;
}

export interface JobsOptions extends BaseJobOptions {
  /** Custom job id; an existing id returns the existing job. */
  jobId?: string;
}

export interface QueueBaseOptions {
  connection?: ConnectionOptions;
  /** Key prefix, default `bull`. */
  prefix?: string;
  /**
   * Records spans (and with a meter, metrics) of the operations, as BullMQ
   * does: for example `new BullMQOtel()` from `bullmq-otel`.
   */
  telemetry?: Telemetry;
  /** @deprecated not in use, as in BullMQ. */
  blockingConnection?: boolean;
  /**
   * BullMQ's check of the Redis version (this engine makes none); a Worker
   * then takes the server for an old Redis (`minimumBlockTimeout` 2 ms).
   */
  skipVersionCheck?: boolean;
  /** Accepted for BullMQ compatibility; calls wait for the connection either way. */
  skipWaitingForReady?: boolean;
}

export interface QueueOptions extends QueueBaseOptions {
  defaultJobOptions?: JobsOptions;
  streams?: { events?: { maxLen?: number } };
  skipMetasUpdate?: boolean;
  settings?: AdvancedRepeatOptions;
}

/** How job schedulers compute the next time of a pattern. */
export interface AdvancedRepeatOptions {
  /**
   * Computes the time (ms) of a pattern scheduler's next iteration from
   * `millis` (now, or the previous iteration's time when later); undefined
   * means there is none. Replaces the built-in cron evaluation.
   */
  repeatStrategy?: RepeatStrategy;
}

/** A custom way to compute a scheduler's next time. */
export type RepeatStrategy = (
  millis: number,
  opts: RepeatOptions,
  name?: string,
) => number | undefined | Promise<number | undefined>;

/** When a job scheduler runs (BullMQ's RepeatOptions). */
export interface RepeatOptions {
  /** A cron pattern (seconds optional), e.g. `0 15 3 * * *`. */
  pattern?: string;
  /** Milliseconds between iterations (instead of a pattern). */
  every?: number;
  /** Time zone of the pattern (IANA name). */
  tz?: string;
  /** Accepted and stored, as in BullMQ (cron-parser 5 ignores it). */
  utc?: boolean;
  /** Maximum number of iterations. */
  limit?: number;
  /** Iterations already made: the count the next one starts from. */
  count?: number;
  /** Run a pattern's first iteration now instead of at its first time. */
  immediately?: boolean;
  /** No iteration before this time. */
  startDate?: Date | string | number;
  /** No iteration after this time. */
  endDate?: Date | string | number;
  /** For `every`: the position of iterations within each interval, in ms. */
  offset?: number;
  /** @internal The previous iteration's time. */
  prevMillis?: number;
  /** Custom key (kept in the iteration's options). */
  key?: string;
  /** @deprecated Not used. */
  jobId?: string;
}

/** Options of the jobs a scheduler makes (jobId, repeat, delay and deduplication are the scheduler's). */
export type JobSchedulerTemplateOptions = Omit<JobsOptions, 'jobId' | 'repeat' | 'delay' | 'deduplication'>;

/** The job a scheduler makes at each iteration. */
export interface JobSchedulerTemplateJson<D = any> {
  data?: D;
  opts?: JobSchedulerTemplateOptions;
}

/** A job scheduler as stored (what getJobScheduler(s) return). */
export interface JobSchedulerJson<D = any> {
  /** The scheduler id. */
  key: string;
  /** Name of the jobs it makes. */
  name: string;
  id?: string | null;
  /** Iterations made so far. */
  iterationCount?: number;
  limit?: number;
  startDate?: number;
  endDate?: number;
  tz?: string;
  pattern?: string;
  every?: number;
  /** Time (ms) of the pending iteration. */
  next?: number;
  offset?: number;
  template?: JobSchedulerTemplateJson<D>;
}

export interface MetricsOptions {
  /** Minutes of data points to keep (for example `MetricsTime.ONE_WEEK * 2`). */
  maxDataPoints?: number;
}

/** What `queue.getMetrics` returns. */
export interface Metrics {
  meta: { count: number; prevTS: number; prevCount: number };
  /** Jobs finished per minute, newest first. */
  data: number[];
  /** Number of data points stored. */
  count: number;
}

export interface RateLimiterOptions {
  /** Max jobs per duration. */
  max: number;
  /** Duration in milliseconds. */
  duration: number;
}

export interface WorkerOptions extends QueueBaseOptions {
  /** Worker name, stored as `processedBy` and shown by getWorkers. */
  name?: string;
  autorun?: boolean;
  concurrency?: number;
  limiter?: RateLimiterOptions;
  lockDuration?: number;
  lockRenewTime?: number;
  stalledInterval?: number;
  maxStalledCount?: number;
  /**
   * Most times a job may start processing, completing or failing; a job
   * handed out more often fails with an UnrecoverableError ('job started more
   * than allowable limit'). Unset or 0: no limit.
   */
  maxStartedAttempts?: number;
  skipStalledCheck?: boolean;
  skipLockRenewal?: boolean;
  /** Seconds to wait on an empty queue before fetching again. */
  drainDelay?: number;
  removeOnComplete?: KeepJobs;
  removeOnFail?: KeepJobs;
  /** Record per-minute metrics of finished jobs, keeping `maxDataPoints` minutes (see `queue.getMetrics`). */
  metrics?: MetricsOptions;
  settings?: { backoffStrategy?: BackoffStrategy } & AdvancedRepeatOptions;
  /** Sandboxed processors run in worker threads instead of child processes. */
  useWorkerThreads?: boolean;
  /** Options for `child_process.fork` of sandboxed processors. */
  workerForkOptions?: import('node:child_process').ForkOptions;
  /** Options for the worker threads of sandboxed processors (`useWorkerThreads`). */
  workerThreadsOptions?: import('node:worker_threads').WorkerOptions;
  /** Milliseconds to wait after a failed fetch before trying again. */
  runRetryDelay?: number;
  /**
   * Longest sleep in milliseconds while rate limited (default 30000): the
   * worker fetches again, promoting due delayed jobs, at least this often.
   */
  maximumRateLimitDelay?: number;
  /**
   * An extension (not a BullMQ option). Locks are renewed by the engine, off
   * the event loop, so a processor that blocks the loop (CPU-bound work)
   * keeps its jobs; but once the loop has not answered for this many
   * milliseconds the worker stops renewing the locks of its jobs, so they
   * expire and the stalled checker hands them to another worker. Default
   * 60000.
   */
  maxEventLoopBlock?: number;
  /**
   * Default attempt timeout in ms for jobs without their own `timeout` job
   * option (an extension of bullmq-native; see that option). 0 or unset: none.
   */
  timeout?: number;
}

export type BackoffStrategy = (
  attemptsMade: number,
  type?: string,
  err?: Error,
  job?: unknown,
) => Promise<number> | number;

export type JobProgress = string | boolean | number | object;

export type JobState =
  | 'completed'
  | 'failed'
  | 'active'
  | 'delayed'
  | 'prioritized'
  | 'waiting'
  | 'waiting-children';

export type JobType = JobState | 'paused' | 'repeat' | 'wait';

export type FinishedStatus = 'completed' | 'failed';

/** The raw job hash as stored in Redis (what `Job.fromJSON` takes). */
export interface JobJsonRaw {
  name: string;
  data: string;
  opts: string;
  timestamp: string;
  delay?: string;
  priority?: string;
  progress?: string;
  processedOn?: string;
  finishedOn?: string;
  returnvalue?: string;
  failedReason?: string;
  stacktrace?: string;
  atm?: string;
  attemptsMade?: string;
  ats?: string;
  stc?: string;
  parentKey?: string;
  parent?: string;
  rjk?: string;
  deid?: string;
  defa?: string;
  pb?: string;
  [key: string]: string | undefined;
}

/** What `job.asJSON()` returns: every field as a string. */
export interface JobJson {
  id: string;
  name: string;
  data: string;
  opts: JobsOptions;
  progress: JobProgress;
  attemptsMade: number;
  attemptsStarted: number;
  stalledCounter: number;
  finishedOn?: number;
  processedOn?: number;
  timestamp: number;
  failedReason?: string;
  stacktrace?: string;
  returnvalue?: string;
  parent?: { id: string; queueKey: string; [flag: string]: unknown };
  parentKey?: string;
  repeatJobKey?: string;
  deduplicationId?: string;
  /** @deprecated the same as `deduplicationId`. */
  debounceId?: string;
  deferredFailure?: string;
  processedBy?: string;
  delay?: number;
  priority?: number;
}

/** `asJSON()` of a job with its queue's names (what a sandboxed processor gets). */
export interface JobJsonSandbox extends JobJson {
  queueName: string;
  queueQualifiedName: string;
  prefix: string;
}

/** The options of a job of `addBulk`. */
export type BulkJobOptions = Omit<JobsOptions, 'repeat'>;

/** The options BullMQ lets a queue apply to all its jobs. */
export type DefaultJobOptions = Pick<
  BaseJobOptions,
  | 'timestamp'
  | 'priority'
  | 'delay'
  | 'attempts'
  | 'backoff'
  | 'lifo'
  | 'removeOnComplete'
  | 'removeOnFail'
  | 'keepLogs'
  | 'stackTraceLimit'
  | 'sizeLimit'
>;

/** Options of `worker.getNextJob`. */
export interface GetNextJobOptions {
  /** Wait on the queue's marker when no job is ready (default true). */
  block?: boolean;
}

/** Options of `job.retry`. */
export interface RetryOptions {
  /** Set `attemptsMade` back to 0. */
  resetAttemptsMade?: boolean;
  /** Set `attemptsStarted` back to 0. */
  resetAttemptsStarted?: boolean;
}

/** Options of `job.moveToWaitingChildren`. */
export interface MoveToWaitingChildrenOpts {
  /** Wait only while this child is pending. */
  child?: { id: string; queue: string };
}

/** Options of a FlowProducer. */
export type FlowProducerOptions = QueueBaseOptions;

/** Options of a QueueEventsProducer. */
export type QueueEventsProducerOptions = QueueBaseOptions;
