/**
 * QueueEventsProducer: publishes custom events on a queue's events stream,
 * where every QueueEvents (ours and BullMQ's) receives them as
 * `on(eventName, (args, id) => …)`.
 */
import { native } from './errors';
import { describe, integerArg } from './queue-args';
import { QueueBase } from './queue-base';
import type { QueueBaseOptions } from './types';

export class QueueEventsProducer extends QueueBase {
  constructor(name: string, opts: Omit<QueueBaseOptions, 'telemetry'> = {}) {
    super(name, opts);
  }

  /**
   * Publishes a custom event: `eventName` becomes the event's name and every
   * other property a field of it (objects as JSON text, other values as
   * text). The stream is trimmed to about `maxEvents` entries.
   */
  async publishEvent<T extends { eventName: string }>(argsObj: T, maxEvents = 1000): Promise<void> {
    if (argsObj === null || typeof argsObj !== 'object') {
      throw new TypeError(`publishEvent: argsObj must be an object, got ${describe(argsObj)}`);
    }
    const { eventName, ...rest } = argsObj;
    if (typeof eventName !== 'string' || eventName === '') {
      throw new TypeError(`publishEvent: argsObj.eventName must be a non-empty string, got ${describe(eventName)}`);
    }
    integerArg('publishEvent', 'maxEvents', maxEvents, 0);
    const fields: string[] = [];
    for (const [key, value] of Object.entries(rest)) {
      if (value === undefined) continue;
      fields.push(key, fieldText(value));
    }
    const q = await this.nativeQueue;
    await native(q.publishEvent(eventName, fields, maxEvents));
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        try {
          (await this.nativeQueue).close();
        } catch {
          // Never connected: nothing to close.
        }
        this.closed = true;
      })();
    }
    return this.closing;
  }
}

/** How ioredis writes a field value: objects as JSON, the rest as their text. */
function fieldText(value: unknown): string {
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
