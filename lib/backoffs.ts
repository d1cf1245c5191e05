/**
 * Backoffs: BullMQ's helper for retry delays. The built-in strategies
 * (`fixed`, `exponential`, with jitter) are computed by the engine, the same
 * code the workers use; other types go to the custom strategy given.
 */
import { binding } from './native';
import type { BackoffOptions } from './types';

export type BackoffStrategy = (attemptsMade: number, type?: string, err?: Error, job?: unknown) => Promise<number> | number;

export class Backoffs {
  /** `N` becomes `{ type: 'fixed', delay: N }`; an object is kept; anything else is undefined. */
  static normalize(backoff: number | BackoffOptions | undefined): BackoffOptions | undefined {
    if (typeof backoff === 'number' && Number.isFinite(backoff)) return { type: 'fixed', delay: backoff };
    return backoff ? (backoff as BackoffOptions) : undefined;
  }

  /**
   * The delay in ms before retry number `attemptsMade`; undefined without a
   * backoff. A type that is not built in needs `customStrategy`.
   */
  static calculate(
    backoff: BackoffOptions | undefined,
    attemptsMade: number,
    err?: Error,
    job?: unknown,
    customStrategy?: BackoffStrategy,
  ): Promise<number> | number | undefined {
    if (!backoff) return undefined;
    if (backoff.type === 'fixed' || backoff.type === 'exponential') {
      return binding.backoffDelay(backoff, attemptsMade) ?? undefined;
    }
    if (customStrategy) return customStrategy(attemptsMade, backoff.type, err, job);
    throw new Error(
      `Unknown backoff strategy ${backoff.type}.\n      If a custom backoff strategy is used, specify it when the queue is created.`,
    );
  }
}
