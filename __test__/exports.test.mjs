// The package's runtime exports against the installed bullmq 6.7's: every
// export bullmq has is ours too, except the ones README.md lists (with the
// reason) under "Exports that differ from BullMQ's"; that list names no
// export we do have.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';

/** The export names listed in the README's table of exports we leave out. */
function documentedDifferences() {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf("### Exports that differ from BullMQ's");
  assert.ok(start >= 0, "README.md has a section \"Exports that differ from BullMQ's\"");
  // Up to the next heading of any level.
  const end = readme.indexOf('\n#', start + 4);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const names = new Set();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const firstCell = line.split('|')[1];
    for (const m of firstCell.matchAll(/`([^`]+)`/g)) names.add(m[1]);
  }
  return names;
}

test("every export of bullmq 6.7 is ours too, or documented as left out", () => {
  const documented = documentedDifferences();
  // Module plumbing of a CommonJS package imported from ESM is not an export.
  const names = Object.keys(official).filter((name) => name !== '__esModule' && name !== 'default');
  const missing = names.filter((name) => !(name in ours) && !documented.has(name));
  assert.deepEqual(missing, [], 'exports of bullmq that we neither have nor document');
  const stale = [...documented].filter((name) => name in ours || !names.includes(name));
  assert.deepEqual(stale, [], 'documented differences that are not differences');
});

test('exported enums and constants have bullmq values', () => {
  for (const name of ['MetricsTime', 'ErrorCode', 'SpanKind', 'TelemetryAttributes', 'MetricNames', 'ClientType']) {
    assert.deepEqual({ ...ours[name] }, { ...official[name] }, name);
  }
  for (const name of [
    'CONNECTION_CLOSED_ERROR_MSG', 'DELAYED_ERROR', 'RATE_LIMIT_ERROR', 'UNRECOVERABLE_ERROR', 'WAITING_CHILDREN_ERROR',
    'WAITING_ERROR', 'DELAY_TIME_1', 'DELAY_TIME_5', 'PRIORITY_LIMIT', 'QUEUE_EVENT_SUFFIX', 'BULLMQ_MAJOR_VERSION',
  ]) {
    assert.equal(ours[name], official[name], name);
  }
  assert.deepEqual(ours.optsDecodeMap, official.optsDecodeMap);
  assert.deepEqual(ours.optsEncodeMap, official.optsEncodeMap);
});

test('error classes carry bullmq names and messages', () => {
  for (const name of ['UnrecoverableError', 'RateLimitError', 'DelayedError', 'WaitingError', 'WaitingChildrenError', 'ConnectionClosedError']) {
    const a = new ours[name]();
    const b = new official[name]();
    assert.equal(a.name, b.name, name);
    assert.equal(a.message, b.message, name);
    assert.ok(a instanceof Error);
  }
});

test('utilities behave as bullmq', async () => {
  assert.equal(ours.getParentKey({ id: '1', queue: 'bull:q' }), official.getParentKey({ id: '1', queue: 'bull:q' }));
  assert.equal(ours.getParentKey(undefined), undefined);
  const keys = new ours.QueueKeys('pfx');
  assert.deepEqual(keys.getKeys('q'), new official.QueueKeys('pfx').getKeys('q'));
  assert.equal(keys.toKey('q', 'wait'), 'pfx:q:wait');
  const t0 = Date.now();
  await ours.delay(30);
  assert.ok(Date.now() - t0 >= 25);
  const ac = new AbortController();
  const aborted = ours.delay(60000, ac);
  ac.abort();
  await aborted;
});

test('Backoffs computes the built-in strategies as bullmq', async () => {
  assert.deepEqual(ours.Backoffs.normalize(500), official.Backoffs.normalize(500));
  assert.deepEqual(ours.Backoffs.normalize({ type: 'exponential', delay: 3 }), { type: 'exponential', delay: 3 });
  assert.equal(ours.Backoffs.normalize(undefined), undefined);
  for (let n = 1; n <= 5; n++) {
    const exp = { type: 'exponential', delay: 100 };
    assert.equal(ours.Backoffs.calculate(exp, n), official.Backoffs.calculate(exp, n));
    const fixed = { type: 'fixed', delay: 70 };
    assert.equal(ours.Backoffs.calculate(fixed, n), official.Backoffs.calculate(fixed, n));
  }
  const jittered = ours.Backoffs.calculate({ type: 'fixed', delay: 1000, jitter: 0.5 }, 1);
  assert.ok(jittered >= 500 && jittered < 1000, `jittered delay ${jittered}`);
  assert.equal(await ours.Backoffs.calculate({ type: 'mine' }, 2, undefined, undefined, (n, type) => n * 10 + type.length), 24);
  assert.throws(() => ours.Backoffs.calculate({ type: 'mine' }, 1), /Unknown backoff strategy mine/);
  assert.throws(() => ours.Backoffs.calculate({ type: 'fixed', delay: 1, jitter: 2 }, 1), /Jitter should be between 0 and 1/);
  assert.equal(ours.Backoffs.calculate(undefined, 1), undefined);
});
