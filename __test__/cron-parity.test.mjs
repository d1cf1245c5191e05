// Our cron next-run times against the real cron-parser (see
// support/cron-parity.mjs): version, zones, end dates, H, strict, invalid
// patterns. The calendar and DST tables are in cron-parity-calendar-*.test.mjs
// and cron-parity-dst-*.test.mjs. No Redis needed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';

import { CALENDAR_STARTS, compareChains, oursNext, theirsNext, transitions } from './support/cron-parity.mjs';

const require = createRequire(import.meta.url);

test('the cron-parser under test is the one BullMQ 6.7 uses', () => {
  const version = JSON.parse(readFileSync(require.resolve('cron-parser/package.json'), 'utf8')).version;
  assert.equal(version, '5.10.3');
  const bullmq = JSON.parse(readFileSync(require.resolve('bullmq/package.json'), 'utf8'));
  assert.match(bullmq.version, /^6\.7\./);
  assert.ok(bullmq.dependencies['cron-parser'], 'bullmq depends on cron-parser');
});

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
