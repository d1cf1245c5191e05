/**
 * QueueEvents: the events of a queue as every producer and worker writes
 * them to the queue's events stream, whichever process (or library) they
 * run in. The engine reads the stream on its own connection and hands over
 * whole batches; this class turns each entry into BullMQ's event and
 * arguments.
 */
import { Delivery } from './delivery';
import { fromNative, native } from './errors';
import { binding, type Native } from './native';
import { describe } from './queue-args';
import { QueueBase } from './queue-base';
import type { JobProgress, QueueBaseOptions } from './types';

/** As BullMQ's: QueueEvents records no spans, so it takes no `telemetry`. */
export interface QueueEventsOptions extends Omit<QueueBaseOptions, 'telemetry'> {
  /** Start reading when constructed (default true); otherwise call `run()`. */
  autorun?: boolean;
  /**
   * Read the events after this stream id, e.g. the id of the last event a
   * previous QueueEvents saw (`'0-0'` = from the oldest event kept). By
   * default only events added after reading starts are read.
   */
  lastEventId?: string;
  /** Milliseconds one blocking read of the stream waits (default 10000). */
  blockingTimeout?: number;
}

/**
 * The events and their arguments. `id` is the id of the stream entry. Each
 * event that names a job is also emitted as `{event}:{jobId}`, e.g.
 * `completed:42`, with the same arguments.
 */
export interface QueueEventsListener<ReturnType = any> {
  /** A job was moved to active (`prev` is the state it came from). */
  active: (args: { jobId: string; prev?: string }, id: string) => void;
  /** A job was added. */
  added: (args: { jobId: string; name: string }, id: string) => void;
  /** `clean` removed `count` jobs (a string, as stored). */
  cleaned: (args: { count: string }, id: string) => void;
  /** A job completed; `returnvalue` is the processor's result, parsed from JSON. */
  completed: (args: { jobId: string; returnvalue: ReturnType; prev?: string }, id: string) => void;
  /** An add was skipped because a job with the same deduplication id exists. */
  deduplicated: (args: { jobId: string; deduplicationId: string; deduplicatedJobId: string }, id: string) => void;
  /** A job was delayed; `delay` is the timestamp (ms) at which it becomes due. */
  delayed: (args: { jobId: string; delay: number }, id: string) => void;
  /** The queue ran out of waiting jobs (delayed jobs may remain). */
  drained: (id: string) => void;
  /** An add was skipped because a job with that id exists. */
  duplicated: (args: { jobId: string }, id: string) => void;
  /** Reading the events stream failed (it is retried), or a listener threw. */
  error: (err: Error) => void;
  /** A job failed (finally, or an attempt when it is retried later). */
  failed: (args: { jobId: string; failedReason: string; prev?: string }, id: string) => void;
  /** The queue was paused. */
  paused: (args: object, id: string) => void;
  /** A job reported progress; `data` is parsed from JSON. */
  progress: (args: { jobId: string; data: JobProgress }, id: string) => void;
  /** A job was removed. */
  removed: (args: { jobId: string; prev: string }, id: string) => void;
  /** The queue was resumed. */
  resumed: (args: object, id: string) => void;
  /** A job failed its last attempt; `attemptsMade` is a string, as stored. */
  'retries-exhausted': (args: { jobId: string; attemptsMade: string }, id: string) => void;
  /** A job's lock expired while active; it was moved back to wait (or failed). */
  stalled: (args: { jobId: string }, id: string) => void;
  /** A job is waiting to be processed (`prev` is the state it came from). */
  waiting: (args: { jobId: string; prev?: string }, id: string) => void;
  /** A parent job waits for its children. */
  'waiting-children': (args: { jobId: string; prev?: string }, id: string) => void;
}

type Listener = (...args: any[]) => void;

/** BullMQ parses these fields as JSON; text that is not JSON is passed as is. */
function parseJsonField(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class QueueEvents<ReturnType = any> extends QueueBase {
  declare readonly opts: QueueEventsOptions;
  private running = false;
  /** Batches from the engine, handled after the current poll phase (see Delivery). */
  private readonly batches = new Delivery<Native.BindingEventBatch>((batch) => this.onBatch(batch));
  private readonly nativeEvents: Promise<Native.BindingQueueEvents>;
  /** Set by `run()`: resolves once the reader's start position is fixed. */
  private starting: Promise<void> | undefined;
  private readonly stopped: Promise<void>;
  private stop!: () => void;

  constructor(name: string, opts: QueueEventsOptions = {}) {
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('options must be an object');
    }
    const { autorun = true, ...rest } = opts;
    const { blockingTimeout = 10000, lastEventId } = rest;
    if (typeof blockingTimeout !== 'number' || !Number.isSafeInteger(blockingTimeout) || blockingTimeout < 0) {
      throw new TypeError(`blockingTimeout must be an integer >= 0 (milliseconds), got ${describe(blockingTimeout)}`);
    }
    if (lastEventId !== undefined && (typeof lastEventId !== 'string' || lastEventId === '')) {
      throw new TypeError(`lastEventId must be a stream id such as "0-0", got ${describe(lastEventId)}`);
    }
    super(name, rest);
    (this as { opts: QueueEventsOptions }).opts = { ...this.opts, blockingTimeout };
    this.stopped = new Promise((resolve) => {
      this.stop = resolve;
    });
    this.nativeEvents = this.nativeQueue.then((q) =>
      native(binding.openQueueEvents(q, { blockingTimeout, lastEventId })),
    );
    // Failures surface through waitUntilReady(), run() and `error`.
    this.nativeEvents.catch(() => undefined);
    if (autorun) {
      this.run().catch(async (err: Error) => {
        // A connection failure was already reported by QueueBase.
        const connected = await this.nativeQueue.then(
          () => true,
          () => false,
        );
        if (connected && this.listenerCount('error') > 0) this.emit('error', err);
      });
    }
  }

  /**
   * Starts reading events (only needed with `autorun: false`). Resolves when
   * the QueueEvents is closed; rejects if it is already running.
   */
  async run(): Promise<void> {
    if (this.running) {
      throw new Error('Queue Events is already running.');
    }
    this.running = true;
    if (this.closing) return;
    this.starting = this.nativeEvents.then((events) =>
      native(events.start((batch) => this.batches.push(batch))),
    );
    try {
      await this.starting;
    } catch (err) {
      this.running = false;
      this.starting = undefined;
      if (this.closing) return;
      throw err;
    }
    await this.stopped;
  }

  /**
   * Resolves when connected to Redis and, once `run()` was called, when
   * reading has started: every event added after that is seen.
   */
  async waitUntilReady(): Promise<void> {
    await this.nativeEvents;
    if (this.starting) await this.starting;
  }

  /** Stops reading (a pending blocking read is interrupted) and closes the connections. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        try {
          const events = await this.nativeEvents;
          await events.close();
        } catch {
          // Never connected: nothing to stop.
        }
        try {
          const q = await this.nativeQueue;
          await q.close();
        } catch {
          // Never connected.
        }
        this.closed = true;
        this.stop();
      })();
    }
    return this.closing;
  }

  /**
   * Drops the connections at once, without the steps of `close()`: no more
   * events arrive, `run()` does not end and `close()` still works afterwards.
   */
  async disconnect(): Promise<void> {
    try {
      await (await this.nativeEvents).close();
    } catch {
      // Never connected.
    }
    await super.disconnect();
  }

  on<U extends keyof QueueEventsListener<ReturnType>>(event: U, listener: QueueEventsListener<ReturnType>[U]): this;
  on(event: string | symbol, listener: Listener): this;
  on(event: string | symbol, listener: Listener): this {
    return super.on(event, listener);
  }

  once<U extends keyof QueueEventsListener<ReturnType>>(event: U, listener: QueueEventsListener<ReturnType>[U]): this;
  once(event: string | symbol, listener: Listener): this;
  once(event: string | symbol, listener: Listener): this {
    return super.once(event, listener);
  }

  off<U extends keyof QueueEventsListener<ReturnType>>(event: U, listener: QueueEventsListener<ReturnType>[U]): this;
  off(event: string | symbol, listener: Listener): this;
  off(event: string | symbol, listener: Listener): this {
    return super.off(event, listener);
  }

  /** One batch from the engine: the entries of one read, or a read error. */
  private onBatch(batch: Native.BindingEventBatch): void {
    if (this.closing) return;
    if (batch.error !== undefined && batch.error !== null) {
      if (this.listenerCount('error') > 0) this.emit('error', fromNative(new Error(batch.error)));
      return;
    }
    for (const entry of batch.entries) {
      this.dispatch(entry.id, entry.fields);
    }
  }

  /** Emits one stream entry with BullMQ's event name and arguments. */
  private dispatch(id: string, fields: string[]): void {
    const args: Record<string, any> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) {
      args[fields[i]] = fields[i + 1];
    }
    const { event, ...rest } = args;
    if (typeof event !== 'string') return;
    switch (event) {
      case 'progress':
        rest.data = parseJsonField(rest.data);
        break;
      case 'completed':
        rest.returnvalue = parseJsonField(rest.returnvalue);
        break;
      case 'delayed':
        rest.delay = Number(rest.delay);
        break;
    }
    if (event === 'drained') {
      this.safeEmit(event, id);
      return;
    }
    this.safeEmit(event, rest, id);
    if (rest.jobId) {
      this.safeEmit(`${event}:${rest.jobId}`, rest, id);
    }
  }

  /**
   * Emits without letting a throwing listener stop the reading: the error
   * goes to `error` listeners, or is rethrown outside the reader.
   */
  private safeEmit(event: string, ...args: unknown[]): void {
    if (event === 'error' && this.listenerCount('error') === 0) return;
    try {
      this.emit(event, ...args);
    } catch (err) {
      if (event !== 'error' && this.listenerCount('error') > 0) {
        this.emit('error', err as Error);
      } else {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}
