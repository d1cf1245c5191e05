/**
 * Argument checks of the Queue's getters and control methods: each wrong
 * argument becomes a TypeError naming the method, the argument and the value.
 */
import type { JobType } from './types';

/** Every job type BullMQ's getters accept (`waiting` is an alias of `wait`). */
export const JOB_TYPES: readonly JobType[] = [
  'completed',
  'failed',
  'delayed',
  'active',
  'wait',
  'waiting',
  'paused',
  'prioritized',
  'waiting-children',
  'repeat',
];

/** BullMQ 6.x's default types for getJobs/getJobCounts (no `paused`). */
export const DEFAULT_JOB_TYPES: readonly JobType[] = [
  'active',
  'completed',
  'delayed',
  'failed',
  'prioritized',
  'waiting',
  'waiting-children',
];

/** States `clean` accepts. */
export const CLEAN_TYPES = [
  'completed',
  'failed',
  'wait',
  'waiting',
  'paused',
  'active',
  'delayed',
  'prioritized',
  'waiting-children',
] as const;
export type CleanType = (typeof CLEAN_TYPES)[number];

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function fail(method: string, what: string, expected: string, value: unknown): never {
  throw new TypeError(`${method}: ${what} must be ${expected}, got ${describe(value)}`);
}

/** An integer (negative allowed unless `min` says otherwise). */
export function integerArg(method: string, what: string, value: unknown, min?: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    fail(method, what, min === undefined ? 'an integer' : `an integer >= ${min}`, value);
  }
  if (min !== undefined && value < min) {
    fail(method, what, `an integer >= ${min}`, value);
  }
  return value;
}

/** A finite number >= 0. */
export function nonNegativeNumberArg(method: string, what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(method, what, 'a number >= 0', value);
  }
  return value;
}

export function booleanArg(method: string, what: string, value: unknown): boolean {
  if (typeof value !== 'boolean') fail(method, what, 'a boolean', value);
  return value;
}

/** An options object (undefined means none). */
export function optionsArg<T extends object>(method: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(method, 'opts', 'an object', value);
  }
  return value as Partial<T>;
}

/** A UTF-16 surrogate without its pair: such a string has no UTF-8 form for Redis. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Refuses a string that cannot be stored as it is (a lone surrogate). */
export function wellFormedArg(method: string, what: string, value: string): string {
  if (LONE_SURROGATE.test(value)) {
    throw new TypeError(`${method}: ${what} must be well-formed Unicode, got a string with a lone surrogate`);
  }
  return value;
}

/** A job id: a non-empty string (a number is taken as its decimal text). */
export function jobIdArg(method: string, value: unknown): string {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value !== 'string' || value.length === 0) fail(method, 'jobId', 'a non-empty string', value);
  return wellFormedArg(method, 'jobId', value);
}

/** A deduplication id: a non-empty string (a number is taken as its text, as in the key BullMQ builds). */
export function dedupIdArg(method: string, value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string' || value.length === 0) fail(method, 'id', 'a non-empty string', value);
  return value;
}

/** A lock token: a non-empty string. */
export function tokenArg(method: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) fail(method, 'token', 'a non-empty string', value);
  return wellFormedArg(method, 'token', value);
}

/**
 * Job types as getJobs takes them (one type, a list, or none for the
 * defaults), checked and without repeats.
 */
export function jobTypesArg(method: string, types: unknown): JobType[] {
  const list = typeof types === 'string' ? [types] : types === undefined ? [] : types;
  if (!Array.isArray(list)) {
    fail(method, 'types', 'a job type or an array of job types', types);
  }
  if (list.length === 0) return [...DEFAULT_JOB_TYPES];
  for (const t of list) {
    if (typeof t !== 'string' || !(JOB_TYPES as readonly string[]).includes(t)) {
      throw new TypeError(`${method}: unknown job type ${describe(t)}; expected one of ${JOB_TYPES.join(', ')}`);
    }
  }
  return [...new Set(list as JobType[])];
}

export function cleanTypeArg(method: string, value: unknown): CleanType {
  if (typeof value !== 'string' || !(CLEAN_TYPES as readonly string[]).includes(value)) {
    throw new TypeError(`${method}: cannot clean jobs of type ${describe(value)}; expected one of ${CLEAN_TYPES.join(', ')}`);
  }
  return value as CleanType;
}
