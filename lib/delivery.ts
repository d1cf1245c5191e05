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
 *
 * Deferring costs latency, though: a worker whose fetched jobs waited for
 * the check phase ran about a quarter slower at concurrency 100. Items that
 * no listener can be waiting on after an `await` (jobs handed to a worker,
 * which only start work) go through `now`, handled at once unless earlier
 * items still wait, so the order of what is handled never changes.
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

  /** Handles `item` at once when nothing waits before it, else after what waits. */
  now(item: T): void {
    if (this.scheduled) this.pending.push(item);
    else this.handle(item);
  }

  private drain(): void {
    const items = this.pending;
    this.pending = [];
    this.scheduled = false;
    for (const item of items) this.handle(item);
  }
}
