// Shared by the cron parity tests: our cron next-run times (src/engine/cron.rs,
// through cronNextMillis) against the real cron-parser that BullMQ 6.7
// computes job-scheduler iterations with. Each case follows BullMQ: a fresh
// parse per iteration with currentDate = the previous run, then
// next().getTime(); a next() that throws (end date passed, search limit) is
// "no run". The large tables are split over several files (shards), because
// cron-parser alone needs minutes for them, past the suite's per-file timeout.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { CronExpressionParser } from 'cron-parser';
import { DateTime } from 'luxon';

const require = createRequire(import.meta.url);
const native = require('../../index.js');
const { fromNative } = require('../../dist/cjs/errors.js');

const CHAIN = 30;

/** BullMQ's computation with the real cron-parser. */
export function theirsNext(pattern, tz, current, { end, hashSeed, strict } = {}) {
  const options = { tz, currentDate: new Date(current) };
  if (end !== undefined) options.endDate = end;
  if (hashSeed !== undefined) options.hashSeed = hashSeed;
  if (strict !== undefined) options.strict = strict;
  const expression = CronExpressionParser.parse(pattern, options);
  try {
    return expression.next().getTime();
  } catch {
    return null;
  }
}

export function oursNext(pattern, tz, current, { end, hashSeed, strict } = {}) {
  try {
    return native.cronNextMillis(pattern, tz, current, end, hashSeed, strict);
  } catch (err) {
    throw fromNative(err);
  }
}

/** Run times; a refused pattern (or zone) ends the chain with its message. */
export function chainOf(next, pattern, tz, start, options, n = CHAIN) {
  const out = [];
  let at = start;
  for (let i = 0; i < n; i += 1) {
    let t;
    try {
      t = next(pattern, tz, at, options);
    } catch (err) {
      out.push(`refused: ${err.message}`);
      break;
    }
    out.push(t);
    if (t === null) break;
    at = t;
  }
  return out;
}

const iso = (t) => (typeof t === 'number' ? new Date(t).toISOString() : t);

/** Runs every case and fails once with all mismatches listed. */
export function compareChains(cases, n = CHAIN) {
  const mismatches = [];
  let compared = 0;
  for (const c of cases) {
    const theirs = chainOf(theirsNext, c.pattern, c.tz, c.start, c.options, n);
    const ours = chainOf(oursNext, c.pattern, c.tz, c.start, c.options, n);
    compared += theirs.length;
    if (JSON.stringify(theirs) !== JSON.stringify(ours)) {
      const at = Array.from({ length: Math.max(theirs.length, ours.length) }, (_, i) => i).find((i) => theirs[i] !== ours[i]);
      mismatches.push({
        pattern: c.pattern,
        tz: c.tz ?? '(none)',
        start: iso(c.start),
        step: at,
        theirs: iso(theirs[at] ?? null),
        ours: iso(ours[at] ?? null),
      });
    }
  }
  assert.deepEqual(mismatches.slice(0, 20), [], `${mismatches.length} of ${cases.length} chains differ`);
  assert.ok(compared > cases.length, 'chains were compared');
  return compared;
}

/** Instants where the zone's offset changes between `from` and `to` (ms). */
export function transitions(tz, fromYear, toYear) {
  const out = [];
  const offsetAt = (t) => DateTime.fromMillis(t, { zone: tz }).offset;
  let t = Date.UTC(fromYear, 0, 1);
  const stop = Date.UTC(toYear + 1, 0, 1);
  const step = 3_600_000;
  let before = offsetAt(t);
  for (; t < stop; t += step) {
    const after = offsetAt(t + step);
    if (after !== before) {
      let lo = t;
      let hi = t + step;
      while (hi - lo > 1000) {
        const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
        if (offsetAt(mid) === before) lo = mid;
        else hi = mid;
      }
      out.push(hi);
      before = after;
    }
  }
  return out;
}

/** Start points around a transition: before, in the gap or repeated hour, after. */
export const AROUND = [-3 * 3600e3, -3600e3 - 1000, -3600e3, -1800e3, -1000, -1, 0, 1, 999, 1800e3, 3600e3 - 1, 3600e3, 7200e3];

const CALENDAR_PATTERNS = [
  '* * * * *',
  '*/7 * * * *',
  '3-59/5 * * * *',
  '0 9-17/2 * * *',
  '15,45 8,20 * * *',
  '*/10 * * * * *',
  '5,25,45 */3 * * * *',
  '30 15 10 * * *',
  '0 0 * * *',
  '0 12 L * *',
  '0 6 L 2 *',
  '0 12 * * 5L',
  '0 12 * * 7L',
  '0 12 * * 1#2',
  '0 8 * * sun#1',
  '0 0 * 2 1#5',
  '0 10 * * MON-FRI',
  '0 10 * JAN,jul,Dec *',
  '0 10 1 feb-apr/2 *',
  '0 0 13 * 5',
  '0 0 1,15 * 1',
  '0 0 1-31 * 1',
  '0 0 ? * 3',
  '0 0 10 ? *',
  '0 0 29 2 *',
  '0 0 0 29 2 *',
  '0 0 31 * *',
  '0 0 30 1,2 *',
  '0 0 31 2,4 *',
  '0 0 * * 0,7',
  '0 0 * * 1-7/2',
  '0 0 * * 6-7',
  '0 12 1-7 * 1',
  '@yearly',
  '@annually',
  '@monthly',
  '@weekly',
  '@daily',
  '@hourly',
  '@minutely',
  '@secondly',
  '@weekdays',
  '@weekends',
  '',
  '30 * * *',
];
const CALENDAR_ZONES = ['UTC', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', undefined];
export const CALENDAR_STARTS = [
  Date.UTC(2024, 1, 27, 12, 0, 0),
  Date.UTC(2025, 0, 1, 0, 0, 0),
  Date.UTC(2023, 11, 31, 23, 59, 59, 500),
  Date.UTC(2026, 5, 15, 7, 7, 7, 7),
];

const DST_PATTERNS = [
  '0 * * * *',
  '*/7 * * * *',
  '30 * * * *',
  '*/20 * * * * *',
  '0 0-23 * * *',
  '0 */2 * * *',
  '30 2 * * *',
  '0 2 * * *',
  '30 1 * * *',
  '0 1,2,3 * * *',
  '15,45 0-3 * * *',
  '0 30 1-3 * * *',
  '0 0 * * *',
  '30 0 * * *',
  '0 23 * * *',
  '59 1 * * *',
  '0 3 * * 0',
  '@hourly',
];
const DST_ZONES = {
  'America/New_York': [2024, 2026],
  'Europe/London': [2024, 2026],
  'Europe/Berlin': [2024, 2026],
  'Australia/Lord_Howe': [2024, 2026],
  'America/Sao_Paulo': [2017, 2018],
  'America/Havana': [2025, 2025],
  'America/Santiago': [2025, 2025],
  'Pacific/Chatham': [2025, 2025],
  'Europe/Dublin': [2025, 2025],
  'Antarctica/Troll': [2025, 2025],
  'Pacific/Apia': [2011, 2011],
};

/** Every calendar pattern in every calendar zone from every calendar start. */
export function calendarCases() {
  const cases = [];
  for (const pattern of CALENDAR_PATTERNS) {
    for (const tz of CALENDAR_ZONES) {
      for (const start of CALENDAR_STARTS) cases.push({ pattern, tz, start });
    }
  }
  return cases;
}

/** Every DST pattern from every start around every offset change of the DST zones. */
export function dstCases() {
  const cases = [];
  for (const [tz, [from, to]] of Object.entries(DST_ZONES)) {
    const changes = transitions(tz, from, to);
    assert.ok(changes.length >= 1, `${tz} has offset changes in ${from}-${to}`);
    for (const change of changes) {
      for (const delta of AROUND) {
        for (const pattern of DST_PATTERNS) cases.push({ pattern, tz, start: change + delta });
      }
    }
  }
  return cases;
}

/** Part `index` (from 0) of `count` of `cases`, taken round robin so each part mixes zones. */
export function shard(cases, index, count) {
  return cases.filter((_, i) => i % count === index);
}
