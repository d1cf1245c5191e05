/**
 * The messages a sandbox parent and its child (process or worker thread)
 * exchange, and how errors and abort reasons cross between them. Messages
 * must survive both JSON (fork's default serialization) and structured
 * clone (worker threads), so everything here is plain data.
 */
import {
  DelayedError,
  RateLimitError,
  UnrecoverableError,
  WaitingChildrenError,
  WaitingError,
} from '../errors';

/** Marks our messages among anything else a processor sends on the channel. */
export const TAG = 'bullmq-native:sandbox';

/** Job methods a sandboxed processor may call; each runs on the parent's Job. */
export const JOB_METHODS = [
  'updateProgress',
  'log',
  'updateData',
  'moveToDelayed',
  'moveToWait',
  'moveToWaitingChildren',
  'getChildrenValues',
  'getIgnoredChildrenFailures',
  'getDependenciesCount',
  'getDependencies',
] as const;
export type JobMethod = (typeof JOB_METHODS)[number];

/** An error as plain data: its name, message, stack and own properties. */
export interface PlainError {
  name: string;
  message: string;
  stack?: string;
  [prop: string]: unknown;
}

/** An abort reason: an error, or any other (JSON-able) value. */
export type PlainReason = { error: PlainError } | { value: unknown };

/** One call argument: `[]` stands for undefined, which JSON cannot carry. */
export type PlainArg = [] | [unknown];

/** The job as the child receives it: BullMQ's JobJson plus queue names. */
export interface SandboxJobJson {
  id?: string;
  name: string;
  data: string;
  opts: Record<string, unknown>;
  returnvalue?: string;
  progress?: unknown;
  queueName: string;
  queueQualifiedName: string;
  prefix: string;
  [field: string]: unknown;
}

export type ToChild = { tag: typeof TAG } & (
  | { type: 'init'; file: string }
  | { type: 'start'; run: number; job: SandboxJobJson; token?: string; aborted?: PlainReason }
  | { type: 'cancel'; run: number; reason: PlainReason }
  | { type: 'reply'; call: number; ok: true; value: unknown }
  | { type: 'reply'; call: number; ok: false; error: PlainError }
  | { type: 'stop' }
);

export type ToParent = { tag: typeof TAG } & (
  | { type: 'ready' }
  | { type: 'init-failed'; error: PlainError }
  | { type: 'call'; run: number; call: number; method: JobMethod; args: PlainArg[] }
  | { type: 'completed'; run: number; value: unknown }
  /** `fatal`: the child is exiting (uncaught exception). */
  | { type: 'failed'; run: number; error: PlainError; fatal?: boolean }
);

// Distributes Omit over the union members.
type Untagged<T> = T extends unknown ? Omit<T, 'tag'> : never;
export type ToChildBody = Untagged<ToChild>;
export type ToParentBody = Untagged<ToParent>;

export function isTagged<T extends { tag: typeof TAG }>(msg: unknown): msg is T {
  return typeof msg === 'object' && msg !== null && (msg as { tag?: unknown }).tag === TAG;
}

/** A copy of `value` that JSON can carry (cycles dropped); undefined when none. */
function plainValue(value: unknown): unknown {
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  const seen = new WeakSet<object>();
  try {
    const text = JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return undefined;
        seen.add(v);
      }
      return v;
    });
    return text === undefined ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * A thrown value as plain data. Like BullMQ, a value without a message
 * (a string, a bare object, an Error with an empty message) becomes
 * `new Error(String(value))`.
 */
export function toPlainError(thrown: unknown): PlainError {
  const hasMessage =
    typeof thrown === 'object' && thrown !== null && Boolean((thrown as { message?: unknown }).message);
  const err = (hasMessage ? thrown : new Error(thrown === undefined ? undefined : String(thrown))) as Record<
    string,
    unknown
  >;
  const out: PlainError = { name: String(err.name ?? 'Error'), message: String(err.message) };
  for (const key of Object.getOwnPropertyNames(err)) {
    if (key === 'name' || key === 'message') continue;
    const v = plainValue(err[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Error classes rebuilt by name, so `instanceof` holds on the other side. */
const ERROR_CLASSES: Record<string, new (message?: string) => Error> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError,
  UnrecoverableError,
  RateLimitError,
  DelayedError,
  WaitingError,
  WaitingChildrenError,
};

/**
 * Rebuilds an error from plain data: the class of its name when known (else
 * Error, with that name), the same message and stack, and its other
 * properties.
 */
export function fromPlainError(plain: PlainError): Error {
  const Ctor = Object.prototype.hasOwnProperty.call(ERROR_CLASSES, plain.name) ? ERROR_CLASSES[plain.name] : Error;
  const err = new Ctor(plain.message) as Error & Record<string, unknown>;
  for (const [key, value] of Object.entries(plain)) {
    if (key === 'name' || key === 'message' || key === 'stack') continue;
    err[key] = value;
  }
  if (typeof plain.stack === 'string') err.stack = plain.stack;
  if (err.name !== plain.name) {
    Object.defineProperty(err, 'name', { value: plain.name, writable: true, configurable: true, enumerable: false });
  }
  return err;
}

/** An AbortSignal's reason as plain data. */
export function toPlainReason(reason: unknown): PlainReason {
  if (reason instanceof Error || (typeof reason === 'object' && reason !== null && 'message' in reason)) {
    return { error: toPlainError(reason) };
  }
  return { value: plainValue(reason) };
}

/** Rebuilds an abort reason; `AbortError`/`TimeoutError` become DOMExceptions again. */
export function fromPlainReason(plain: PlainReason): unknown {
  if ('error' in plain) {
    const { name, message } = plain.error;
    if ((name === 'AbortError' || name === 'TimeoutError') && typeof DOMException === 'function') {
      return new DOMException(message, name);
    }
    return fromPlainError(plain.error);
  }
  return plain.value;
}

export function toPlainArgs(args: unknown[]): PlainArg[] {
  return args.map((a): PlainArg => (a === undefined ? [] : [a]));
}

export function fromPlainArgs(args: PlainArg[]): unknown[] {
  return Array.isArray(args) ? args.map((a) => (Array.isArray(a) && a.length > 0 ? a[0] : undefined)) : [];
}
