// Part 2 of 2 of the calendar table of the cron parity test (support/cron-parity.mjs).
import { test } from 'node:test';

import { compareChains, calendarCases, shard } from './support/cron-parity.mjs';

test('calendar patterns: steps, lists, L, #, names, day-of-month OR weekday, ?, macros, Feb 29 (part 2 of 2)', () => {
  compareChains(shard(calendarCases(), 1, 2));
});
