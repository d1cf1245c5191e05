/**
 * The job hash codec: a job hash as Redis holds it (flat field lists, short
 * option keys, numbers as text) to BullMQ's JobJson shapes and options, the
 * stored JSON of values written into the hash, and the fetch-next reply of
 * moveToCompleted / moveToFailed. The Job class (job.ts) reads and writes
 * jobs through these.
 */
import type { Native } from './native';
import { optsDecodeMap as SHORT_KEYS } from './utils';
import type { JobJson, JobJsonRaw, JobProgress, JobsOptions } from './types';

/**
 * Expands BullMQ's stored option keys back to their public names (`decode`:
 * short key to long name), folding `tm` and `omc` into `telemetry`, as
 * BullMQ's reader does; every other key is kept as stored. Stored options
 * that are not an object (`null`, a number: another client's writing) read
 * as none.
 */
export function optsFromStored(
  stored: Record<string, any>,
  decode: Readonly<Record<string, string>> = SHORT_KEYS,
): JobsOptions {
  const out: Record<string, any> = {};
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return out as JobsOptions;
  for (const key of Object.keys(stored)) {
    const value = stored[key];
    if (decode[key]) {
      out[decode[key]] = value;
    } else if (key === 'tm') {
      out.telemetry = { ...out.telemetry, metadata: value };
    } else if (key === 'omc') {
      out.telemetry = { ...out.telemetry, omitContext: value };
    } else {
      out[key] = value;
    }
  }
  return out as JobsOptions;
}

/**
 * BullMQ's JobJson of a job hash read from Redis (what Queue.getDependencies
 * lists for each child): `jobJsonFromRaw`, with numbers and JSON read as
 * strictly as BullMQ there (NaN for an absent delay, priority or timestamp;
 * text that is not JSON throws); no `id` when the hash has none.
 */
export function jobJsonFromHash(raw: Record<string, string | undefined>): JobJson {
  return {
    ...jobJsonFromRaw(raw as JobJsonRaw),
    opts: optsFromStored(JSON.parse(raw.opts || '{}')),
    progress: JSON.parse(raw.progress || '0'),
    delay: parseInt(raw.delay as string, 10),
    priority: parseInt(raw.priority as string, 10),
    timestamp: parseInt(raw.timestamp as string, 10),
    attemptsStarted: parseInt(raw.ats || '0', 10),
    attemptsMade: parseInt(raw.attemptsMade || raw.atm || '0', 10),
    stalledCounter: parseInt(raw.stc || '0', 10),
    finishedOn: raw.finishedOn ? parseInt(raw.finishedOn, 10) : undefined,
    processedOn: raw.processedOn ? parseInt(raw.processedOn, 10) : undefined,
    parent: raw.parent ? JSON.parse(raw.parent) : undefined,
  } as JobJson;
}

/** A stored JSON text, or `fallback` when absent or not JSON. */
export function parseJson<T>(text: string | undefined, fallback: T): T {
  if (text === undefined || text === '') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** An integer field that may be stored as text (raw hash) or a number (decoded). */
export function intField(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value;
  if (typeof value !== 'string' || value === '') return undefined;
  const n = parseInt(value, 10);
  return Number.isNaN(n) ? undefined : n;
}

/** The first of two values that is neither undefined, null nor ''. */
export function firstPresent<T>(a: T, b: T): T | undefined {
  if (a !== undefined && a !== null && (a as unknown) !== '') return a;
  if (b !== undefined && b !== null && (b as unknown) !== '') return b;
  return undefined;
}

/** Flat `[field, value, ...]` to an object. */
export function rawFromFlat(fields: string[]): JobJsonRaw {
  const raw: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    raw[fields[i]] = fields[i + 1];
  }
  return raw as JobJsonRaw;
}

/**
 * A job's raw hash in BullMQ's decoded JobJson form (options expanded,
 * numbers as numbers; data, stacktrace and returnvalue still JSON text), as
 * 6.7's backend reads a job (getJobData) and its moveToCompleted and
 * moveToFailed hand out the next job. Fields the hash lacks are present as
 * undefined, as in BullMQ; numbers that are absent or not numbers too (BullMQ
 * gives NaN), and text that is not JSON reads as absent instead of throwing.
 * `jobJsonFromHash` keeps BullMQ's NaN and throws, for getDependencies.
 */
export function jobJsonFromRaw(raw: JobJsonRaw): JobJson {
  const out: Record<string, unknown> = {
    id: raw.id,
    name: raw.name,
    data: raw.data || '{}',
    opts: optsFromStored(parseJson<Record<string, any>>(raw.opts, {})),
    progress: parseJson<JobProgress>(raw.progress, 0),
    delay: intField(raw.delay),
    priority: intField(raw.priority),
    timestamp: intField(raw.timestamp),
    attemptsStarted: intField(raw.ats) ?? 0,
    attemptsMade: intField(firstPresent(raw.attemptsMade, raw.atm)) ?? 0,
    stalledCounter: intField(raw.stc) ?? 0,
    finishedOn: intField(raw.finishedOn) || undefined,
    processedOn: intField(raw.processedOn) || undefined,
    repeatJobKey: raw.rjk,
    debounceId: raw.deid,
    deduplicationId: raw.deid,
    failedReason: raw.failedReason,
    deferredFailure: raw.defa,
    stacktrace: raw.stacktrace,
    returnvalue: raw.returnvalue,
    parentKey: raw.parentKey,
    parent: raw.parent ? parseJson(raw.parent, undefined) : undefined,
    processedBy: raw.pb,
  };
  return out as unknown as JobJson;
}

/**
 * What moveToCompleted / moveToFailed return, as BullMQ 6.7: nothing without
 * fetch-next; else `[jobJson, jobId, 0, 0]` for the next job (locked by the
 * same token), or `[null, 0, rateLimitDelay, nextDelayedTimestamp]` when none
 * came.
 */
export type NextJobData = [JobJson, string, number, number] | [null, 0, number, number] | [];

export function nextJobData(fetched: Native.BindingFetched, fetchNext: boolean): NextJobData {
  if (!fetchNext) return [];
  const next = fetched.job;
  if (next) {
    // Without the fields the hash lacks.
    const json = jobJsonFromRaw(rawFromFlat(next.fields)) as unknown as Record<string, unknown>;
    for (const key of Object.keys(json)) {
      if (json[key] === undefined) delete json[key];
    }
    return [json as unknown as JobJson, next.id, 0, 0];
  }
  return [null, 0, fetched.rateLimited, fetched.nextDelayed];
}

/** A value's kind for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value;
}

/** The stored JSON of a progress value, checked (`method` names the caller in errors). */
export function progressText(method: string, progress: unknown): string {
  if (progress === null || !['number', 'string', 'boolean', 'object'].includes(typeof progress)) {
    throw new TypeError(`${method}: progress must be a number, string, boolean or object, got ${describe(progress)}`);
  }
  if (typeof progress === 'number' && !Number.isFinite(progress)) {
    throw new TypeError(`${method}: progress must be a finite number, got ${progress}`);
  }
  return jsonText(progress, 'progress');
}

/** JSON text of a value stored in the job hash; a TypeError when it has none. */
export function jsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new TypeError(`${what} cannot be stored as JSON: ${(err as Error).message}`);
  }
  if (text === undefined) {
    throw new TypeError(`${what} cannot be stored as JSON (got ${describe(value)})`);
  }
  return text;
}
