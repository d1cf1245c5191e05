/**
 * Hands what the engine reports to a handler after the event loop's current
 * poll phase, in arrival order.
 *
 * Every engine callback reaches JavaScript through a libuv async handle, and
 * libuv runs pending handles in the order they were created, not the order
 * they were signalled. A promise settled by the engine (a `queue.add`) uses a
 * handle newer than a long-lived worker's or QueueEvents' one, so in one poll
 * phase a job's `completed` could be emitted before the `await queue.add()`
 * that added it resumed — and a listener attached right after that await
 * would miss it, which never happens with BullMQ. Emitting from
 * `setImmediate` (the check phase, after every handle signalled so far has
 * run) keeps BullMQ's order at the cost of one callback per batch.
 */
export class Delivery<T> {
  private pending: T[] = [];
  private scheduled = false;

  constructor(private readonly handle: (item: T) => void) {}

  push(item: T): void {
    this.pending.push(item);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    const items = this.pending;
    this.pending = [];
    this.scheduled = false;
    for (const item of items) this.handle(item);
  }
}
