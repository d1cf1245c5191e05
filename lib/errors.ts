/**
 * Error classes with BullMQ's names and default messages, and the one place
 * native errors are turned into them.
 */

/** Default messages of the error classes below (how BullMQ's worker recognizes them). */
export const UNRECOVERABLE_ERROR = 'bullmq:unrecoverable';
export const RATE_LIMIT_ERROR = 'bullmq:rateLimitExceeded';
export const DELAYED_ERROR = 'bullmq:movedToDelayed';
export const WAITING_ERROR = 'bullmq:movedToWait';
export const WAITING_CHILDREN_ERROR = 'bullmq:movedToWaitingChildren';
/** The message of a command that failed because its connection is closed. */
export const CONNECTION_CLOSED_ERROR_MSG = 'Connection is closed.';

/** Thrown by a processor to fail a job without further retries. */
export class UnrecoverableError extends Error {
  constructor(message: string = UNRECOVERABLE_ERROR) {
    super(message);
    this.name = this.constructor.name;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Thrown by a processor after `worker.rateLimit(ms)`; the job goes back to wait. */
export class RateLimitError extends Error {
  constructor(message: string = RATE_LIMIT_ERROR) {
    super(message);
    this.name = this.constructor.name;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Thrown by a processor after it moved its job to delayed. */
export class DelayedError extends Error {
  constructor(message: string = DELAYED_ERROR) {
    super(message);
    this.name = this.constructor.name;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Thrown by a processor after it moved its job back to wait. */
export class WaitingError extends Error {
  constructor(message: string = WAITING_ERROR) {
    super(message);
    this.name = this.constructor.name;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** Thrown by a processor after it moved its job to waiting-children. */
export class WaitingChildrenError extends Error {
  constructor(message: string = WAITING_CHILDREN_ERROR) {
    super(message);
    this.name = this.constructor.name;
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/** A command failed because the connection was closed (by `close()` or mid-flight). */
export class ConnectionClosedError extends Error {
  cause?: unknown;
  constructor(message?: string, cause?: unknown) {
    super(message ?? CONNECTION_CLOSED_ERROR_MSG);
    this.cause = cause;
    this.name = 'ConnectionClosedError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

const NATIVE_PREFIX = /^\[bullmq-native:(\w+):(-?\d+)\] /;

/**
 * Converts an error from the native layer: the binding prefixes messages with
 * `[bullmq-native:<kind>:<code>]` (src/binding/error.rs).
 */
export function fromNative(err: unknown): Error {
  if (!(err instanceof Error)) {
    return new Error(String(err));
  }
  const match = NATIVE_PREFIX.exec(err.message);
  if (!match) {
    return err;
  }
  const [, kind, code] = match;
  const message = err.message.slice(match[0].length);
  let out: Error;
  switch (kind) {
    case 'closed':
      out = new ConnectionClosedError(message);
      break;
    case 'type':
      out = new TypeError(message);
      break;
    case 'unrecoverable':
      out = new UnrecoverableError(message);
      break;
    default:
      out = new Error(message);
  }
  if (code !== '0') {
    (out as Error & { code?: number }).code = Number(code);
  }
  return out;
}

/** Awaits a native promise, converting its rejection. */
export async function native<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    throw fromNative(err);
  }
}

/**
 * As `native`, for a call that reads queue keys on behalf of `method`: an
 * error about a key of the wrong Redis type names the method.
 */
export async function nativeIn<T>(method: string, promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (err) {
    const out = fromNative(err);
    if (out.message.includes('WRONGTYPE') && !out.message.startsWith(`${method}: `)) {
      out.message = `${method}: ${out.message}`;
    }
    throw out;
  }
}
