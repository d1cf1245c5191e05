// Part 3 of 4 of the dst table of the cron parity test (support/cron-parity.mjs).
import { test } from 'node:test';

import { compareChains, dstCases, shard } from './support/cron-parity.mjs';

test('DST: starts just before, inside and after spring gaps and autumn overlaps (part 3 of 4)', () => {
  compareChains(shard(dstCases(), 2, 4), 12);
});
