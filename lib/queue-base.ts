/**
 * What Queue and Worker share: name, prefix, connection, readiness and close.
 */
import { EventEmitter } from 'node:events';

import { QueueBackend } from './backend';
import { normalizeConnection } from './connection';
import { native } from './errors';
import { binding, type Native } from './native';
import { describe } from './queue-args';
import { traced, type Span } from './telemetry';
import type { SpanKind } from './enums';
import type { QueueBaseOptions } from './types';
import { QueueKeys } from './utils';

export function checkQueueName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError('Queue name must be provided');
  }
  if (name.includes(':')) {
    throw new TypeError('Queue name cannot contain :');
  }
}

export class QueueBase extends EventEmitter {
  readonly name: string;
  readonly opts: QueueBaseOptions;
  /** `{prefix}:{name}`. */
  readonly qualifiedName: string;
  closing: Promise<void> | undefined;
  protected closed = false;
  /** The native queue handle, once connected. */
  protected readonly nativeQueue: Promise<Native.BindingQueue>;
  private backend: QueueBackend | undefined;

  /**
   * `meta` is what a producing Queue records in the queue's `meta` hash when
   * it connects; workers pass none. With `shared`, the instance uses that
   * native queue (a helper of a Queue, on its connection) instead of its own.
   */
  constructor(
    name: string,
    opts: QueueBaseOptions = {},
    meta?: Native.BindingQueueMeta,
    shared?: Promise<Native.BindingQueue>,
  ) {
    super();
    checkQueueName(name);
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('options must be an object');
    }
    this.name = name;
    this.opts = { ...opts, prefix: opts.prefix === undefined ? 'bull' : opts.prefix };
    if (typeof this.opts.prefix !== 'string') {
      throw new TypeError('prefix must be a string');
    }
    this.qualifiedName = `${this.opts.prefix}:${name}`;
    if (shared) {
      this.nativeQueue = shared;
      return;
    }
    const connection = normalizeConnection(opts.connection);
    this.nativeQueue = native(binding.openQueue(connection, this.opts.prefix!, name, meta));
    this.nativeQueue.then(
      (q) => q.onOutage((message) => this.reportOutage(new Error(message))),
      () => undefined,
    );
    this.nativeQueue.catch((err: Error) => {
      // Surface connection failures as an `error` event, as BullMQ does; an
      // unhandled 'error' event must not crash a process that awaits
      // waitUntilReady() instead.
      if (this.listenerCount('error') > 0) {
        this.emit('error', err);
      }
    });
  }

  /**
   * Redis became unreachable (once per outage, as BullMQ emits its
   * connection's error): an `error` event, or printed when nobody listens.
   */
  protected reportOutage(err: Error): void {
    if (this.closing) return;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else console.error(err);
  }

  get prefix(): string {
    return this.opts.prefix!;
  }

  /** Resolves when connected to Redis; rejects when Redis cannot be reached. */
  async waitUntilReady(): Promise<void> {
    await this.nativeQueue;
  }

  /**
   * The backend over this instance's connection, as BullMQ 6's
   * `getBackend()`: for tools that read the Redis client (`client.info()`,
   * `client.status`) or read jobs below the Queue API (see QueueBackend).
   * The same object on every call.
   */
  getBackend(): QueueBackend {
    if (!this.backend) {
      const closer = this as unknown as { close(): Promise<void>; closing: Promise<void> | undefined };
      this.backend = new QueueBackend(this.prefix, this.name, this.nativeQueue, closer);
    }
    return this.backend;
  }

  /**
   * Runs `callback` in a span of the `telemetry` option (named
   * `{operation} {destination}`, with the queue's attributes), as BullMQ's
   * `trace`; without telemetry, just runs it. `srcPropagationMetadata` (a
   * job's stored context) parents the span.
   */
  async trace<T>(
    spanKind: SpanKind,
    operation: string,
    destination: string,
    callback: (span?: Span, dstPropagationMetadata?: string) => Promise<T> | T,
    srcPropagationMetadata?: string,
  ): Promise<T | Promise<T>> {
    const telemetry = this.opts.telemetry;
    if (!telemetry) return callback();
    return traced(telemetry, spanKind, this.name, operation, destination, callback, srcPropagationMetadata, true);
  }

  /** `{prefix}:{name}:{type}`. */
  toKey(type: string): string {
    if (typeof type !== 'string' && typeof type !== 'number') {
      throw new TypeError(`toKey: type must be a string, got ${describe(type)}`);
    }
    return `${this.qualifiedName}:${type}`;
  }

  /**
   * The key of every queue structure, by its suffix (`''` is the queue's
   * base `{prefix}:{name}:`), as BullMQ's `keys`.
   */
  get keys(): { [index: string]: string } {
    return new QueueKeys(this.prefix).getKeys(this.name);
  }

  /**
   * Drops the connection at once, without the steps of `close()` (a worker
   * neither stops its loop nor waits for its jobs; commands in flight and
   * later ones fail). `close()` still works afterwards.
   */
  async disconnect(): Promise<void> {
    try {
      const q = await this.nativeQueue;
      q.close();
    } catch {
      // Never connected: nothing to drop.
    }
  }

  /** @internal The native handle; rejects after close. */
  async _queue(): Promise<Native.BindingQueue> {
    return this.nativeQueue;
  }
}
