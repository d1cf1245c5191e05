// Our cron next-run times (src/engine/cron.rs, through cronNextMillis) against
// the real cron-parser that BullMQ 6.7 computes job-scheduler iterations with.
// Each case follows BullMQ: a fresh parse per iteration with
// currentDate = the previous run, then next().getTime(); a next() that throws
// (end date passed, search limit) is "no run". No Redis needed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

import { CronExpressionParser } from 'cron-parser';
import { DateTime } from 'luxon';

const require = createRequire(import.meta.url);
const native = require('../index.js');
const { fromNative } = require('../dist/cjs/errors.js');

const CHAIN = 30;

/** BullMQ's computation with the real cron-parser. */
function theirsNext(pattern, tz, current, { end, hashSeed, strict } = {}) {
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

function oursNext(pattern, tz, current, { end, hashSeed, strict } = {}) {
  try {
    return native.cronNextMillis(pattern, tz, current, end, hashSeed, strict);
  } catch (err) {
    throw fromNative(err);
  }
}

/** Run times; a refused pattern (or zone) ends the chain with its message. */
function chainOf(next, pattern, tz, start, options, n = CHAIN) {
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
function compareChains(cases, n = CHAIN) {
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
function transitions(tz, fromYear, toYear) {
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
const AROUND = [-3 * 3600e3, -3600e3 - 1000, -3600e3, -1800e3, -1000, -1, 0, 1, 999, 1800e3, 3600e3 - 1, 3600e3, 7200e3];

test('the cron-parser under test is the one BullMQ 6.7 uses', () => {
  const version = JSON.parse(readFileSync(require.resolve('cron-parser/package.json'), 'utf8')).version;
  assert.equal(version, '5.10.3');
  const bullmq = JSON.parse(readFileSync(require.resolve('bullmq/package.json'), 'utf8'));
  assert.match(bullmq.version, /^6\.7\./);
  assert.ok(bullmq.dependencies['cron-parser'], 'bullmq depends on cron-parser');
});

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
const CALENDAR_STARTS = [
  Date.UTC(2024, 1, 27, 12, 0, 0),
  Date.UTC(2025, 0, 1, 0, 0, 0),
  Date.UTC(2023, 11, 31, 23, 59, 59, 500),
  Date.UTC(2026, 5, 15, 7, 7, 7, 7),
];

test('calendar patterns: steps, lists, L, #, names, day-of-month OR weekday, ?, macros, Feb 29', () => {
  const cases = [];
  for (const pattern of CALENDAR_PATTERNS) {
    for (const tz of CALENDAR_ZONES) {
      for (const start of CALENDAR_STARTS) cases.push({ pattern, tz, start });
    }
  }
  compareChains(cases);
});

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

// One test per zone: cron-parser needs minutes for them all, past the
// suite's per-test timeout.
for (const [tz, [from, to]] of Object.entries(DST_ZONES)) {
  test(`DST in ${tz}: starts just before, inside and after spring gaps and autumn overlaps`, () => {
    const cases = [];
    const changes = transitions(tz, from, to);
    assert.ok(changes.length >= 1, `${tz} has offset changes in ${from}-${to}`);
    for (const change of changes) {
      for (const delta of AROUND) {
        for (const pattern of DST_PATTERNS) cases.push({ pattern, tz, start: change + delta });
      }
    }
    compareChains(cases, 12);
  });
}

test('zones without DST and fixed offsets', () => {
  const cases = [];
  for (const tz of ['Asia/Kolkata', 'UTC', 'utc', 'GMT', 'UTC+5', 'utc-3:30', 'Etc/GMT+5', 'Asia/Kathmandu']) {
    for (const pattern of ['0 9 * * *', '*/7 * * * *', '0 0 L * *', '0 30 * * * *']) {
      for (const start of CALENDAR_STARTS) cases.push({ pattern, tz, start });
    }
  }
  compareChains(cases);
});

test('no tz: the process local zone, followed when process.env.TZ changes', () => {
  const saved = process.env.TZ;
  try {
    for (const zone of ['America/New_York', 'Australia/Lord_Howe', 'Europe/Berlin', ':Europe/London', 'Not/AZone']) {
      process.env.TZ = zone;
      const cases = [];
      const name = zone.replace(/^:/, '');
      const changes = name.includes('/') && name !== 'Not/AZone' ? transitions(name, 2025, 2025) : [Date.UTC(2025, 2, 9)];
      for (const change of changes) {
        for (const delta of [-3600e3, -1000, 0, 1800e3]) {
          for (const pattern of ['0 * * * *', '30 2 * * *', '30 1 * * *', '0 0 * * *']) {
            cases.push({ pattern, tz: undefined, start: change + delta });
          }
        }
      }
      compareChains(cases, 8);
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

/** Whether `next` takes `tz` for a plain hourly pattern. */
function acceptsZone(next, tz) {
  try {
    next('0 * * * *', tz, 0);
    return true;
  } catch {
    return false;
  }
}

test('every zone Intl knows, ICU legacy ids and links: accepted alike, same runs across the year', () => {
  const names = [
    ...Intl.supportedValuesOf('timeZone'),
    'PST', 'IST', 'EST', 'MST', 'HST', 'EST5EDT', 'CST6CDT', 'pst', 'US/Eastern', 'Asia/Calcutta',
    'america/new_york', 'EUROPE/BERLIN', 'UCT', 'Zulu', 'GMT0', 'Etc/UTC', 'local', 'system', 'default',
  ];
  const refused = [];
  const cases = [];
  for (const tz of names) {
    const theirs = acceptsZone(theirsNext, tz);
    const ours = acceptsZone(oursNext, tz);
    if (theirs !== ours) refused.push({ tz, theirs, ours });
    if (theirs && ours) {
      for (const start of [Date.UTC(2025, 2, 1), Date.UTC(2025, 8, 25)]) {
        cases.push({ pattern: '30 0-3 * * *', tz, start });
      }
    }
  }
  assert.deepEqual(refused, []);
  compareChains(cases, 60);
});

test('unknown zones are refused by both', () => {
  for (const tz of ['Foo/Bar', '', 'Etc/Unknown', '+05:30', 'GMT+5', 'Z', 'America/New York']) {
    assert.throws(() => theirsNext('0 * * * *', tz, 0), /CronDate: unhandled timestamp/);
    assert.throws(() => oursNext('0 * * * *', tz, 0), /CronDate: unhandled timestamp: unknown time zone/);
  }
});

test('end dates: the run at the end date is kept, the one after is not', () => {
  const cases = [];
  const start = Date.UTC(2025, 0, 1);
  for (const pattern of ['0 * * * *', '*/7 * * * * *', '0 0 L * *']) {
    for (const end of [start + 5 * 3600e3, start + 5 * 3600e3 - 1, start + 40 * 86400e3, start - 1000]) {
      cases.push({ pattern, tz: 'Europe/Berlin', start, options: { end } });
    }
  }
  compareChains(cases);
});

test('H forms with a hashSeed follow the same seeded draws; strict mode agrees', () => {
  const cases = [];
  for (const pattern of ['H * * * *', 'H H * * *', 'H/15 * * * *', 'H(0-29)/10 H(9-17) * * *', 'H H(0-5) H * *', 'H * * * * H', 'H(5-50) H/4 * * *']) {
    for (const hashSeed of ['job-1', 'another scheduler', 'é']) {
      cases.push({ pattern, tz: 'UTC', start: Date.UTC(2025, 0, 1), options: { hashSeed } });
    }
  }
  // Seeded, because an unseeded H is a fresh random draw at every parse (and
  // H/7 over weekdays 0-7 is refused as a duplicate when the draw gives 0,7).
  for (const pattern of ['0 0 * * * *', '0 0 12 1 * *', '* * * * * H/7']) {
    for (const hashSeed of ['job-1', 'é']) {
      cases.push({ pattern, tz: 'UTC', start: Date.UTC(2025, 0, 1), options: { strict: true, hashSeed } });
    }
  }
  compareChains(cases);
  // Unseeded H differs per parse in both; both accept it and give a run.
  assert.equal(typeof oursNext('H H * * *', 'UTC', 0), 'number');
});

const INVALID = [
  '61 * * * *',
  '* 24 * * *',
  '* * 32 * *',
  '* * 0 * *',
  '* * * 13 *',
  '* * * * 8',
  '* * * * * * *',
  '* * * * foo',
  '* * * foo *',
  '* * LW * *',
  '* * 15W * *',
  '* * * * L',
  '* * * * 1#6',
  '* * * * 1#0',
  '* * * * 1#2#3',
  '* * * * 1-5#2',
  '* * * * 1,2#2',
  '5-1 * * * *',
  '*/0 * * * *',
  '1-2/0 * * * *',
  '/5 * * * *',
  '5- * * * *',
  '1,,2 * * * *',
  '1/2/3 * * * *',
  '* * 30 2 *',
  '* * 31 4 *',
  '0,0 * * * *',
  '* * * * 0,7',
  '* * * * sun,7',
  '@every_minute',
  '@YEARLY',
  'x * * * *',
  '   ',
  '* * * * * * * *',
  'H/0 * * * *',
  'H(9-5) * * * *',
  'H(70-80) * * * *',
  'H/ * * * *',
  'H/5,57x * * * *',
  '* * H/5,40x * *',
  '1.5 * * * *',
  '* * * * MON#L',
];

test('invalid patterns: both refuse, with the same message', () => {
  const differ = [];
  for (const pattern of INVALID) {
    let theirs;
    let ours;
    try {
      theirsNext(pattern, 'UTC', 0, { hashSeed: 'seed' });
    } catch (err) {
      theirs = err.message;
    }
    try {
      oursNext(pattern, 'UTC', 0, { hashSeed: 'seed' });
    } catch (err) {
      ours = err.message;
    }
    assert.ok(theirs !== undefined, `cron-parser refuses ${JSON.stringify(pattern)}`);
    assert.ok(ours !== undefined, `we refuse ${JSON.stringify(pattern)} (cron-parser: ${theirs})`);
    if (theirs !== ours) differ.push({ pattern, theirs, ours });
  }
  assert.deepEqual(differ, []);
  const long = `0 ${'1,'.repeat(600)}1 * * *`;
  assert.throws(() => oursNext(long, 'UTC', 0), { message: 'Invalid cron expression, too long, expected at most 1024 characters' });
  assert.throws(() => oursNext('0 0 * * * *', 'UTC', 0, { strict: false }) && oursNext('* * * *', 'UTC', 0, { strict: true }), {
    message: 'Invalid cron expression, expected 6 fields',
  });
  assert.throws(() => oursNext('0 0 0 1 * 1', 'UTC', 0, { strict: true }), {
    message: 'Cannot use both dayOfMonth and dayOfWeek together in strict mode!',
  });
});
