/**
 * Checks of method arguments shared by Job, Worker and Queue: bad arguments
 * are a TypeError with a message naming the argument.
 */

/** A lock token: a non-empty string. */
export function requireToken(token: unknown, name = 'token'): asserts token is string {
  if (typeof token !== 'string' || token.length === 0) {
    throw new TypeError(`${name} must be a non-empty string, got ${typeof token}`);
  }
}

/** A positive, finite number of milliseconds; returned as an integer. */
export function requirePositiveMs(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw new TypeError(`${name} must be a positive number of milliseconds, got ${String(value)}`);
  }
  return Math.trunc(value);
}
