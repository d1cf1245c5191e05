/**
 * Telemetry: the spans and metrics BullMQ 6.7 records through its
 * `Telemetry` interface (what `bullmq-otel` implements), with the same span
 * names, kinds, attributes and events, and the same context propagation
 * through a job's `opts.telemetry.metadata` (stored as `tm`), so that traces
 * link across producers and workers of either package.
 *
 * Nothing here runs unless a `telemetry` option was given: Queue, Worker and
 * JobScheduler instances with one get traced versions of their public
 * methods (`instrument*`), and the Worker's process path asks for a
 * `JobTrace` only when it has a `WorkerTracing`.
 */
import { MetricNames, SpanKind, TelemetryAttributes as A } from './enums';
import type { Native } from './native';

// ---- The interface (BullMQ's, so that its adapters fit) ----------------------

/**
 * A telemetry system: a tracer and a context manager, and optionally a meter
 * for metrics. `new BullMQOtel()` from `bullmq-otel` is one.
 */
export interface Telemetry<Context = any> {
  /** Starts spans. */
  tracer: Tracer<Context>;
  /** Holds the active context and turns contexts into metadata strings and back. */
  contextManager: ContextManager<Context>;
  /** Creates the counters, histograms and gauges jobs are measured with. */
  meter?: Meter;
}

export interface ContextManager<Context = any> {
  /** Runs `fn` with `context` active and returns what it returns. */
  with<A extends (...args: any[]) => any>(context: Context, fn: A): ReturnType<A>;
  /** The context active now. */
  active(): Context;
  /**
   * An empty context, for long-lived loops that must not stay attached to
   * the span that started them. Optional.
   */
  root?(): Context;
  /** The context as a string, stored in a job to continue its trace elsewhere. */
  getMetadata(context: Context): string;
  /** The context that `metadata` describes, derived from `activeContext`. */
  fromMetadata(activeContext: Context, metadata: string): Context;
}

export interface Tracer<Context = any> {
  /** Starts a span, a child of the span in `context` (default: the active context). */
  startSpan(name: string, options?: SpanOptions, context?: Context): Span;
}

export interface SpanOptions {
  kind: SpanKind;
}

export interface Span<Context = any> {
  /** `ctx` with this span as its current span. */
  setSpanOnContext(ctx: Context): Context;
  setAttribute(key: string, value: AttributeValue): void;
  setAttributes(attributes: Attributes): void;
  addEvent(name: string, attributes?: Attributes): void;
  recordException(exception: Exception, time?: Time): void;
  /** Ends the span (only ended spans are exported). */
  end(): void;
}

export interface Attributes {
  [attribute: string]: AttributeValue | undefined;
}

export type AttributeValue =
  | string
  | number
  | boolean
  | Array<null | undefined | string>
  | Array<null | undefined | number>
  | Array<null | undefined | boolean>;

export type Exception =
  | string
  | { code?: string | number; name?: string; message?: string; stack?: string };

export type Time = [number, number] | number | Date;

export interface Meter {
  createCounter(name: string, options?: MetricOptions): Counter;
  createHistogram(name: string, options?: MetricOptions): Histogram;
  createGauge(name: string, options?: MetricOptions): Gauge;
}

export interface MetricOptions {
  description?: string;
  unit?: string;
}

export interface Counter {
  add(value: number, attributes?: Attributes): void;
}

export interface Histogram {
  record(value: number, attributes?: Attributes): void;
}

export interface Gauge {
  record(value: number, attributes?: Attributes): void;
}

/** A job's telemetry options: the propagated context, or `omitContext` to store none. */
export interface JobTelemetryOptions {
  /** The producer's context as metadata (set by the producer's span unless omitted). */
  metadata?: string;
  /** Do not store the producer's context in the job. */
  omitContext?: boolean;
}

// ---- Spans ----------------------------------------------------------------------

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as PromiseLike<unknown>).then === 'function';
}

/**
 * Runs `fn` in a span named `{operation} {destination}` (or `operation`
 * alone), with the queue name and operation as attributes and the span
 * active. `srcMetadata` (a job's stored context) makes the span a child of
 * the span that stored it. With `wantsMetadata`, `fn` gets the span's own
 * context as metadata, to store in the jobs it adds. The span records what
 * `fn` throws or rejects with, and ends when `fn`'s result settles; a result
 * that is not a promise is returned as it is.
 */
export function traced<T>(
  telemetry: Telemetry,
  kind: SpanKind,
  queueName: string,
  operation: string,
  destination: string,
  fn: (span: Span, metadata?: string) => T,
  srcMetadata?: string,
  wantsMetadata = false,
): T {
  const { tracer, contextManager } = telemetry;
  const current = contextManager.active();
  const parent = srcMetadata ? contextManager.fromMetadata(current, srcMetadata) : undefined;
  const span = tracer.startSpan(destination ? `${operation} ${destination}` : operation, { kind }, parent);
  let settlesLater = false;
  try {
    span.setAttributes({ [A.QueueName]: queueName, [A.QueueOperation]: operation });
    // A consumer continues the producer's trace; everything else stays in
    // the caller's context (the stored context only parents the span).
    const ctx = span.setSpanOnContext(kind === SpanKind.CONSUMER && parent !== undefined ? parent : current);
    const metadata = wantsMetadata ? contextManager.getMetadata(ctx) : undefined;
    const result = contextManager.with(ctx, () => fn(span, metadata));
    if (!isThenable(result)) return result;
    settlesLater = true;
    return Promise.resolve(result).then(
      (value) => {
        span.end();
        return value;
      },
      (err: unknown) => {
        span.recordException(err as Exception);
        span.end();
        throw err;
      },
    ) as T;
  } catch (err) {
    span.recordException(err as Exception);
    throw err;
  } finally {
    if (!settlesLater) span.end();
  }
}

/**
 * BullMQ's `trace` helper: runs `callback` in a span when `telemetry` is
 * given (see `traced`), or just runs it. A callback declared with two
 * parameters gets the span's context as metadata.
 */
export async function trace<T>(
  telemetry: Telemetry | undefined,
  spanKind: SpanKind,
  queueName: string,
  operation: string,
  destination: string,
  callback: (span?: Span, dstPropagationMetadata?: string) => Promise<T> | T,
  srcPropagationMetadata?: string,
): Promise<T> {
  if (!telemetry) return callback();
  return traced(telemetry, spanKind, queueName, operation, destination, callback, srcPropagationMetadata, callback.length === 2);
}

/**
 * Runs `callback` under the context manager's empty context (`root()`), so
 * that a long-lived loop it starts is not attached to the active span; as it
 * is when there is no telemetry or the context manager has no `root`.
 */
export function withDetachedContext<T>(telemetry: Telemetry | undefined, callback: () => T): T {
  const contextManager = telemetry?.contextManager;
  if (!contextManager || typeof contextManager.root !== 'function') return callback();
  return contextManager.with(contextManager.root(), callback);
}

/**
 * The telemetry options a job added in a producer span stores, by BullMQ's
 * rule for bulk adds, flow nodes and scheduler iterations: the job's own
 * metadata wins, else the span's unless `omitContext`.
 */
export function propagatedTelemetry(
  own: JobTelemetryOptions | undefined,
  metadata: string | undefined,
): JobTelemetryOptions | undefined {
  if (!metadata) return own;
  const omitContext = own?.omitContext;
  const kept = own?.metadata || (!omitContext && metadata);
  return kept || omitContext ? { metadata: kept as string, omitContext } : own;
}

// ---- Metrics ----------------------------------------------------------------------

/** The job states BullMQ counts, and each one's counter. */
const STATE_COUNTERS = {
  completed: MetricNames.JobsCompleted,
  failed: MetricNames.JobsFailed,
  delayed: MetricNames.JobsDelayed,
  retried: MetricNames.JobsRetried,
  waiting: MetricNames.JobsWaiting,
  'waiting-children': MetricNames.JobsWaitingChildren,
} as const;

export type CountedState = keyof typeof STATE_COUNTERS;

/** What the metrics of a job read. */
interface MeasuredJob {
  name: string;
  processedOn?: number;
}

/**
 * Counts a job reaching `state` on the meter (if any), and records how long
 * it has been processed when it was.
 */
export function recordJobMetrics(
  telemetry: Telemetry | undefined,
  queueName: string,
  job: MeasuredJob,
  state: CountedState,
): void {
  const meter = telemetry?.meter;
  if (!meter) return;
  const attributes = { [A.QueueName]: queueName, [A.JobName]: job.name, [A.JobState]: state };
  meter.createCounter(STATE_COUNTERS[state], { description: `Number of jobs ${state}`, unit: '1' }).add(1, attributes);
  if (job.processedOn) {
    meter
      .createHistogram(MetricNames.JobDuration, { description: 'Job processing duration', unit: 'ms' })
      .record(Date.now() - job.processedOn, attributes);
  }
}

/** Records job counts by state as the `bullmq.queue.jobs` gauge (if there is a meter). */
export function recordJobCounts(telemetry: Telemetry | undefined, queueName: string, counts: { [state: string]: number }): void {
  const meter = telemetry?.meter;
  if (!meter) return;
  const gauge = meter.createGauge(MetricNames.QueueJobsCount, { description: 'Number of jobs in the queue by state', unit: '{jobs}' });
  for (const [state, count] of Object.entries(counts)) {
    gauge.record(count, { [A.QueueName]: queueName, [A.QueueJobsState]: state });
  }
}

// ---- Traced methods -------------------------------------------------------------

type AnyMethod = (...args: any[]) => any;

/** How one public method is traced. */
interface MethodSpan {
  kind: SpanKind;
  /** The operation (and the span name's first word); default: the method's name. */
  operation?: string;
  /** The span name's second word; default: the queue name. */
  destination?: (args: any[]) => string;
  /** Attributes known from the arguments. */
  before?: (args: any[]) => Attributes;
  /** Attributes known from the result. */
  after?: (result: any, args: any[]) => Attributes | undefined;
  /** The arguments to call the method with, given the span's context as metadata. */
  propagate?: (args: any[], metadata: string | undefined) => any[];
  /** Run this other (untraced) method instead: an alias must not open two spans. */
  runs?: string;
}

/**
 * Replaces methods of `target` (an instance) with traced versions that call
 * the methods it had (so subclass overrides stay in effect). The prototype
 * is left alone: instances without telemetry run the plain methods.
 */
/**
 * A span's destination from the arguments, before the method checks them
 * (a name that is no string, a Symbol, gets the method's own error).
 */
function destinationOf(spec: MethodSpan, args: any[], queueName: string): string {
  try {
    return spec.destination!(args);
  } catch {
    return queueName;
  }
}

/** A value as span attribute text, whatever it is (names are checked after spans start). */
export function attributeText(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return String(value);
  } catch {
    return typeof value;
  }
}

function instrument(target: any, telemetry: Telemetry, queueName: string, specs: { [method: string]: MethodSpan }): void {
  const originals: { [method: string]: AnyMethod } = {};
  for (const method of Object.keys(specs)) originals[method] = target[method];
  for (const [method, spec] of Object.entries(specs)) {
    const original = originals[spec.runs ?? method];
    target[method] = function (this: unknown, ...args: any[]) {
      return traced(
        telemetry,
        spec.kind,
        queueName,
        spec.operation ?? method,
        spec.destination ? destinationOf(spec, args, queueName) : queueName,
        (span, metadata) => {
          if (spec.before) {
            // Attributes are read from the arguments before the method checks
            // them: arguments it refuses get its own error, not one from here.
            let attributes: Attributes | undefined;
            try {
              attributes = spec.before(args);
            } catch {
              attributes = undefined;
            }
            if (attributes) span.setAttributes(attributes);
          }
          const callArgs = spec.propagate ? spec.propagate(args, metadata) : args;
          const result = original.apply(this, callArgs);
          if (!spec.after) return result;
          return Promise.resolve(result).then((value) => {
            const attributes = spec.after!(value, args);
            if (attributes) span.setAttributes(attributes);
            return value;
          });
        },
        undefined,
        spec.propagate !== undefined,
      );
    };
  }
}

/** `opts` with the telemetry a single add stores (BullMQ's `Queue.add` rule). */
function addOpts(opts: any, metadata: string | undefined): any {
  // Options that are not an object stay as given: the method refuses them.
  if (!metadata || (opts !== undefined && opts !== null && typeof opts !== 'object') || opts?.telemetry?.omitContext) {
    return opts;
  }
  return { ...opts, telemetry: { metadata } };
}

/** What a traced Queue is. */
interface QueueLike {
  readonly name: string;
}

/** Traces a Queue's public methods as BullMQ 6.7 does. */
export function instrumentQueue(queue: QueueLike, telemetry: Telemetry): void {
  instrument(queue, telemetry, queue.name, {
    add: {
      kind: SpanKind.PRODUCER,
      destination: ([name]) => `${queue.name}.${name}`,
      propagate: ([name, data, opts], metadata) => [name, data, addOpts(opts, metadata)],
      after: (job, [name]) => ({ [A.JobName]: name, [A.JobId]: job.id }),
    },
    addBulk: {
      kind: SpanKind.PRODUCER,
      before: ([jobs]) =>
        Array.isArray(jobs) ? { [A.BulkNames]: jobs.map((j: { name: string }) => j?.name), [A.BulkCount]: jobs.length } : {},
      propagate: ([jobs], metadata) => [
        Array.isArray(jobs)
          ? jobs.map((j) =>
              j !== null && typeof j === 'object'
                ? { ...j, opts: { ...j.opts, telemetry: propagatedTelemetry(j.opts?.telemetry, metadata) } }
                : j,
            )
          : jobs,
      ],
    },
    pause: { kind: SpanKind.INTERNAL },
    resume: { kind: SpanKind.INTERNAL },
    close: { kind: SpanKind.INTERNAL },
    rateLimit: { kind: SpanKind.INTERNAL, before: ([ms]) => ({ [A.QueueRateLimit]: ms }) },
    removeDebounceKey: {
      kind: SpanKind.INTERNAL,
      before: ([id]) => ({ [A.JobKey]: id }),
      runs: 'removeDeduplicationKey',
    },
    removeDeduplicationKey: { kind: SpanKind.INTERNAL, before: ([id]) => ({ [A.DeduplicationKey]: id }) },
    remove: {
      kind: SpanKind.INTERNAL,
      before: ([jobId, { removeChildren = true } = {}]) => ({
        [A.JobId]: jobId,
        [A.JobOptions]: JSON.stringify({ removeChildren }),
      }),
    },
    updateJobProgress: {
      kind: SpanKind.INTERNAL,
      before: ([jobId, progress]) => ({ [A.JobId]: jobId, [A.JobProgress]: JSON.stringify(progress) }),
    },
    drain: { kind: SpanKind.INTERNAL, before: ([delayed = false]) => ({ [A.QueueDrainDelay]: delayed }) },
    clean: {
      kind: SpanKind.INTERNAL,
      after: (ids: string[], [grace, limit, type = 'completed']) => ({
        [A.QueueGrace]: grace,
        [A.JobType]: type,
        [A.QueueCleanLimit]: limit || Infinity,
        [A.QueueCleanCount]: ids.length,
      }),
    },
    obliterate: { kind: SpanKind.INTERNAL },
    retryJobs: { kind: SpanKind.PRODUCER, before: ([opts = {}]) => ({ [A.QueueOptions]: JSON.stringify(opts) }) },
    promoteJobs: { kind: SpanKind.INTERNAL, before: ([opts = {}]) => ({ [A.QueueOptions]: JSON.stringify(opts) }) },
    trimEvents: { kind: SpanKind.INTERNAL, before: ([maxLength]) => ({ [A.QueueEventMaxLength]: maxLength }) },
  });
}

/** Traces a JobScheduler's upserts (BullMQ's `add` span of the iteration it adds). */
export function instrumentJobScheduler(scheduler: QueueLike, telemetry: Telemetry): void {
  instrument(scheduler, telemetry, scheduler.name, {
    upsertJobScheduler: {
      kind: SpanKind.PRODUCER,
      operation: 'add',
      destination: (args) => `${scheduler.name}.${args[2]}`,
      propagate: (args, metadata) => {
        const opts = args[4];
        if (opts === null || typeof opts !== 'object') return args;
        const copy = [...args];
        copy[4] = { ...opts, telemetry: propagatedTelemetry(opts.telemetry, metadata) };
        return copy;
      },
      after: (job, [jobSchedulerId]) => (job ? { [A.JobSchedulerId]: jobSchedulerId, [A.JobId]: job.id } : undefined),
    },
  });
}

/** What the worker tracing reads of a Worker. */
export interface TracedWorker {
  readonly id: string;
  readonly name: string;
  readonly opts: { name?: string; skipStalledCheck?: boolean };
  closing: Promise<void> | undefined;
  isRunning(): boolean;
  isPaused(): boolean;
}

/** A job as the process span reads it. */
interface TracedJob {
  id?: string;
  name: string;
  opts: { telemetry?: JobTelemetryOptions };
  attemptsMade: number;
  processedOn?: number;
  finishedOn?: number;
}

/**
 * The spans of a Worker whose work happens where BullMQ 6.7 has no span
 * to wrap: a job's processing (run by the facade, finished by the engine),
 * and what the engine reports (stalled checks, lock renewals, the next
 * iterations of schedulers it adds).
 */
export class WorkerTracing {
  /**
   * The context the worker was started in: BullMQ's fetch loop runs in it,
   * so it parents the process spans of jobs that carry no context.
   */
  private base: unknown;
  /** The context BullMQ's stalled checker loop runs in (see stalledCheckStarted). */
  private checker: unknown;

  constructor(
    private readonly worker: TracedWorker,
    readonly telemetry: Telemetry,
  ) {
    this.base = telemetry.contextManager.active();
    this.checker = this.base;
  }

  private span(operation: string, kind: SpanKind, attributes: Attributes, events?: [string, Attributes][]): void {
    traced(this.telemetry, kind, this.worker.name, operation, this.worker.name, (span) => {
      span.setAttributes(attributes);
      if (events) for (const [name, attrs] of events) span.addEvent(name, attrs);
    });
  }

  private workerAttributes(): Attributes {
    return { [A.WorkerId]: this.worker.id, [A.WorkerName]: this.worker.opts.name };
  }

  /**
   * The span BullMQ opens when its stalled checker starts (ours starts in
   * the engine). The checks that follow run detached from the caller when
   * the context manager can (`root()`), else in the caller's context.
   */
  stalledCheckStarted(): void {
    if (this.worker.opts.skipStalledCheck || this.worker.closing) return;
    this.span('startStalledCheckTimer', SpanKind.INTERNAL, this.workerAttributes());
    const cm = this.telemetry.contextManager;
    this.checker = typeof cm.root === 'function' ? cm.root() : cm.active();
  }

  /** The worker starts (again): its fetch loop runs in the caller's context. */
  started(): void {
    this.base = this.telemetry.contextManager.active();
  }

  /**
   * A stalled check of the engine ran and moved `jobIds` (often none) back
   * to wait. The check runs in the engine; the span is opened when its
   * report reaches the worker.
   */
  stalled(jobIds: string[]): void {
    this.telemetry.contextManager.with(this.checker, () =>
      this.span(
        'moveStalledJobsToWait',
        SpanKind.INTERNAL,
        { ...this.workerAttributes(), [A.WorkerStalledJobs]: jobIds },
        jobIds.map((id) => ['job stalled', { [A.JobId]: id }]),
      ),
    );
  }

  /**
   * The engine renewed (or failed to renew) the locks of `jobIds`; the span
   * is opened when the result is reported, one per result.
   */
  locksExtended(jobIds: string[]): void {
    this.telemetry.contextManager.with(this.base, () =>
      this.span('extendLocks', SpanKind.INTERNAL, { ...this.workerAttributes(), [A.WorkerJobsToExtendLocks]: jobIds }),
    );
  }

  /**
   * The next iteration of the job's scheduler was added (by the engine as it
   * fetched the job, or by the worker's repeat strategy): BullMQ's `add`
   * span, ending when `nextId` (the iteration's id, if any) is known.
   */
  schedulerContinued(job: TracedJob & { repeatJobKey?: string }, nextId: Promise<string | undefined>): void {
    const schedulerId = job.repeatJobKey!;
    void traced(
      this.telemetry,
      SpanKind.PRODUCER,
      this.worker.name,
      'add',
      `${this.worker.name}.${job.name}`,
      (span) =>
        nextId.then(
          (id) => {
            if (id) span.setAttributes({ [A.JobSchedulerId]: schedulerId, [A.JobId]: id });
          },
          () => undefined,
        ),
    );
  }

  /**
   * The engine added the next iteration of the job's scheduler as it
   * fetched the job: the span is opened when the job reaches the worker,
   * and names the iteration pending now (read from the scheduler).
   */
  engineContinued(job: TracedJob & { repeatJobKey?: string }, queue: Promise<Native.BindingQueue>): void {
    const schedulerId = job.repeatJobKey!;
    const nextId = queue
      .then((q) => q.getJobScheduler(schedulerId))
      .then((s) => (s && typeof s.next === 'number' ? `repeat:${schedulerId}:${s.next}` : undefined));
    this.telemetry.contextManager.with(this.base, () => this.schedulerContinued(job, nextId));
  }

  /** Opens the process span of a job handed to the processor. */
  process(job: TracedJob): JobTrace {
    return new JobTrace(this.telemetry, this.worker.name, this.workerAttributes(), this.base, job);
  }
}

/**
 * One job's `process` span (a consumer span, continuing the trace the job
 * carries) and its `complete` child, which the worker's batched completion
 * cannot open by wrapping a call.
 */
export class JobTrace {
  private readonly span: Span;
  /** The context the processor runs in. */
  private readonly ctx: unknown;
  private completeSpan?: Span;

  /**
   * `base`: the context of the worker's fetch loop, which parents the span
   * when the job carries no context.
   */
  constructor(
    private readonly telemetry: Telemetry,
    private readonly queueName: string,
    workerAttributes: Attributes,
    base: unknown,
    private readonly job: TracedJob,
  ) {
    const { tracer, contextManager } = telemetry;
    const metadata = job.opts?.telemetry?.metadata;
    const parent = metadata ? contextManager.fromMetadata(base, metadata) : base;
    this.span = tracer.startSpan(`process ${queueName}`, { kind: SpanKind.CONSUMER }, parent);
    this.span.setAttributes({
      [A.QueueName]: queueName,
      [A.QueueOperation]: 'process',
      ...workerAttributes,
      [A.JobId]: job.id,
      [A.JobName]: job.name,
    });
    this.ctx = this.span.setSpanOnContext(parent);
  }

  /** Runs `fn` with the process span active (the processor and what it settles into). */
  run<T>(fn: () => T): T {
    return this.telemetry.contextManager.with(this.ctx, fn);
  }

  /** The processor returned: the completion is on its way to the engine. */
  completing(): void {
    const name = this.queueName;
    this.completeSpan = this.telemetry.tracer.startSpan(`complete ${name}`, { kind: SpanKind.INTERNAL }, this.ctx);
    this.completeSpan.setAttributes({
      [A.QueueName]: name,
      [A.QueueOperation]: 'complete',
      [A.JobName]: this.job.name,
      [A.JobId]: this.job.id,
    });
  }

  /** The engine completed the job. */
  completed(result: unknown): void {
    recordJobMetrics(this.telemetry, this.queueName, this.job, 'completed');
    this.completeSpan?.end();
    this.completeSpan = undefined;
    this.span.addEvent('job completed', { [A.JobResult]: JSON.stringify(result) });
    this.span.setAttributes({ [A.JobAttemptsMade]: this.job.attemptsMade });
  }

  /** The engine refused the completion (or the call failed). */
  completionFailed(err: unknown): void {
    this.completeSpan?.recordException(err as Exception);
    this.completeSpan?.end();
    this.completeSpan = undefined;
  }

  /** The attempt failed and the failure was stored. */
  failed(err: Error): void {
    this.span.addEvent('job failed', { [A.JobFailedReason]: err.message });
    this.span.setAttributes({ [A.JobAttemptsMade]: this.job.attemptsMade });
  }

  /** The job went to `state` without a Job method that counts it. */
  counted(state: CountedState): void {
    recordJobMetrics(this.telemetry, this.queueName, this.job, state);
  }

  /** The job's outcome was handled: the process span ends. */
  end(): void {
    this.completeSpan?.end();
    this.span.setAttributes({
      [A.JobAttemptFinishedTimestamp]: this.job.finishedOn || Date.now(),
      [A.JobProcessedTimestamp]: this.job.processedOn,
    });
    this.span.end();
  }
}

/**
 * Traces a Worker's public methods as BullMQ 6.7 does, and returns the
 * tracing of its process path and engine reports. `hasProcessor`: the
 * worker runs a processor (`run()` starts its stalled checker).
 */
export function instrumentWorker(worker: TracedWorker, telemetry: Telemetry, hasProcessor: boolean): WorkerTracing {
  const tracing = new WorkerTracing(worker, telemetry);
  const w = worker as any;
  const name = worker.name;
  const workerAttributes = (): Attributes => ({ [A.WorkerId]: worker.id, [A.WorkerName]: worker.opts.name });
  const original = {
    getNextJob: w.getNextJob as AnyMethod,
    run: w.run as AnyMethod,
    resume: w.resume as AnyMethod,
    close: w.close as AnyMethod,
    startStalledCheckTimer: w.startStalledCheckTimer as AnyMethod,
  };
  instrument(worker, telemetry, name, {
    rateLimit: {
      kind: SpanKind.INTERNAL,
      before: ([ms]) => ({ [A.WorkerId]: worker.id, [A.WorkerRateLimit]: ms }),
    },
    pause: {
      kind: SpanKind.INTERNAL,
      before: ([doNotWaitActive]) => ({ ...workerAttributes(), [A.WorkerDoNotWaitActive]: doNotWaitActive }),
    },
  });
  // As BullMQ: the span follows the fetch, a child of the context the job carries.
  w.getNextJob = async function (this: unknown, token: string, opts: { block?: boolean } = {}) {
    const job = await original.getNextJob.call(this, token, opts);
    const block = opts?.block ?? true;
    return traced(
      telemetry,
      SpanKind.INTERNAL,
      name,
      'getNextJob',
      name,
      (span) => {
        span.setAttributes({
          [A.WorkerId]: worker.id,
          [A.QueueName]: name,
          [A.WorkerName]: worker.opts.name,
          [A.WorkerOptions]: JSON.stringify({ block }),
          [A.JobId]: job?.id,
        });
        return job;
      },
      job?.opts?.telemetry?.metadata,
    );
  };
  w.run = function (this: unknown) {
    if (hasProcessor && !worker.isRunning() && !worker.closing && !worker.isPaused()) {
      tracing.started();
      tracing.stalledCheckStarted();
    }
    return original.run.call(this);
  };
  w.resume = function (this: unknown) {
    if (worker.isRunning() && !worker.isPaused()) return original.resume.call(this);
    const wasRunning = worker.isRunning();
    const result = traced(telemetry, SpanKind.INTERNAL, name, 'resume', name, (span) => {
      span.setAttributes(workerAttributes());
      return original.resume.call(this);
    });
    // A worker paused without waiting kept running: its stalled checker
    // starts again, outside the resume span.
    if (wasRunning) tracing.stalledCheckStarted();
    return result;
  };
  w.close = function (this: unknown, force = false) {
    if (worker.closing) return original.close.call(this, force);
    return traced(telemetry, SpanKind.INTERNAL, name, 'close', name, (span) => {
      span.setAttributes({ ...workerAttributes(), [A.WorkerForceClose]: force });
      return original.close.call(this, force);
    });
  };
  w.startStalledCheckTimer = function (this: unknown) {
    tracing.stalledCheckStarted();
    return original.startStalledCheckTimer.call(this);
  };
  return tracing;
}

/**
 * Opens a producer span under `parent` (default: the active context) that
 * the caller ends, and returns it with its context as metadata: what a
 * flow's nodes need, whose spans end once the engine gave the nodes' ids.
 */
export function openSpan(
  telemetry: Telemetry,
  kind: SpanKind,
  queueName: string,
  operation: string,
  destination: string,
  parent?: unknown,
): { span: Span; context: unknown; metadata: string } {
  const { tracer, contextManager } = telemetry;
  const base = parent ?? contextManager.active();
  const span = tracer.startSpan(destination ? `${operation} ${destination}` : operation, { kind }, base);
  span.setAttributes({ [A.QueueName]: queueName, [A.QueueOperation]: operation });
  const context = span.setSpanOnContext(base);
  return { span, context, metadata: contextManager.getMetadata(context) };
}

/**
 * The `addNode` spans of a flow being added: one per node, each a child of
 * its parent node's span, whose context the node's job stores. BullMQ ends
 * them before the flow is written, knowing the node ids already; here the
 * engine gives the ids, so they end once it did (or failed to).
 */
export class FlowTracing {
  private readonly spans: Span[] = [];
  private readonly byNode = new Map<object, Span>();

  constructor(private readonly telemetry: Telemetry) {}

  /**
   * Opens the span of `node` (a key for `added`) under `parent` (the
   * context `open` returned for its parent node; default: the active one).
   */
  open(node: object, name: string, queueName: string, jobId: string | undefined, parent?: unknown): { context: unknown; metadata: string } {
    const opened = openSpan(this.telemetry, SpanKind.PRODUCER, queueName, 'addNode', queueName, parent);
    opened.span.setAttributes({ [A.JobName]: name, [A.JobId]: jobId });
    this.spans.push(opened.span);
    this.byNode.set(node, opened.span);
    return opened;
  }

  /** The engine gave `node` the id `id`. */
  added(node: object, id: string): void {
    this.byNode.get(node)?.setAttributes({ [A.JobId]: id });
  }

  /** Ends every span opened (children first). */
  end(): void {
    for (let i = this.spans.length - 1; i >= 0; i--) this.spans[i].end();
  }
}
