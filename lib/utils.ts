/**
 * Small helpers and constants that BullMQ exports and users import. The
 * layout's facts (key suffixes, stored short keys, the priority limit) are
 * the engine's, read from the binding.
 */
import { binding } from './native';

/** The major version of BullMQ whose API and Redis layout this package follows. */
export const BULLMQ_MAJOR_VERSION = 6;

/** Long option names BullMQ stores under a short key: short to long, and back. */
export const optsDecodeMap: Readonly<Record<string, string>> = Object.fromEntries(
  binding.storedOptionKeys().map(([short, long]) => [short, long]),
);
export const optsEncodeMap: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(optsDecodeMap).map(([short, long]) => [long, short]),
);

/** The key of a parent job, from a job's `parent` option (`{ id, queue }`). */
export function getParentKey(opts?: { id: string; queue: string }): string | undefined {
  if (opts) return `${opts.queue}:${opts.id}`;
  return undefined;
}

/** Builds queue key names: `{prefix}:{queueName}:{type}`. */
export class QueueKeys {
  constructor(public readonly prefix = 'bull') {}

  /** Every key of a queue by its suffix (`''`: the base `{prefix}:{name}:`). */
  getKeys(name: string): Record<string, string> {
    const keys: Record<string, string> = {};
    for (const suffix of QUEUE_KEY_SUFFIXES) keys[suffix] = this.toKey(name, suffix);
    return keys;
  }

  toKey(name: string, type: string): string {
    return `${this.getQueueQualifiedName(name)}:${type}`;
  }

  getQueueQualifiedName(name: string): string {
    return `${this.prefix}:${name}`;
  }
}

/** Suffixes of the keys in BullMQ's key map (`queue.keys`). */
export const QUEUE_KEY_SUFFIXES: readonly string[] = ['', ...binding.queueKeySuffixes()];

/** The highest priority a job may have (2^21 - 1). */
export const PRIORITY_LIMIT: number = binding.priorityLimit();

/** The longest job `timeout` in ms (the longest delay a Node timer takes; a longer one fires at once). */
export const MAX_TIMEOUT = 2 ** 31 - 1;
/** Suffix of the connection name of a QueueEvents (`{prefix}:{base64(queue)}:qe`). */
export const QUEUE_EVENT_SUFFIX = ':qe';
/** Pauses BullMQ's loops use, in milliseconds. */
export const DELAY_TIME_5 = 5000;
export const DELAY_TIME_1 = 100;

/**
 * Resolves after `ms` milliseconds, or as soon as `abortController` aborts
 * (it resolves then too, as BullMQ's `delay`).
 */
export function delay(ms: number, abortController?: AbortController): Promise<void> {
  return new Promise((resolve) => {
    const signal = abortController?.signal;
    const done = () => {
      signal?.removeEventListener('abort', done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(done, ms);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done);
  });
}
