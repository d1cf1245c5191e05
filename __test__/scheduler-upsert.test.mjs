// Job schedulers, the producer side: upsertJobScheduler's options (every,
// pattern, tz, limit, count, immediately, startDate, endDate, offset) and
// BullMQ's errors, upserting in place (never two pending iterations, also
// under concurrent upserts), the getters, removal, and a Queue's own
// repeatStrategy.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { JobScheduler, Queue } from 'bullmq-native';

import { closeAfter } from './support/manual.mjs';
import { connection, queueName, rawClient } from './support/redis.mjs';

async function setup(label, opts = {}) {
  const name = queueName(label);
  const queue = closeAfter(new Queue(name, { connection: await connection(), ...opts }));
  return { name, queue, redis: await rawClient() };
}

/** Ids of every iteration job of a queue (any state). */
async function iterationIds(redis, name) {
  const keys = await redis.keys(`bull:${name}:repeat:*:*`);
  return keys.map((k) => k.slice(`bull:${name}:`.length)).sort();
}

test('an every scheduler: its first iteration runs now, the scheduler hash and repeat set as BullMQ writes them', async () => {
  const { name, queue, redis } = await setup('every');
  const before = Date.now();
  const job = await queue.upsertJobScheduler('s', { every: 500 }, { name: 'tick', data: { a: 1 }, opts: { attempts: 3 } });
  assert.match(job.id, /^repeat:s:\d+$/);
  const millis = Number(job.id.split(':')[2]);
  assert.ok(millis >= before && millis <= Date.now());
  assert.equal(job.name, 'tick');
  assert.deepEqual(job.data, { a: 1 });
  assert.equal(job.repeatJobKey, 's');
  assert.equal(job.delay, 0);
  assert.deepEqual(job.opts.repeat, { every: 500, count: 1 });
  assert.equal(job.opts.jobId, job.id);
  assert.deepEqual(await redis.zrange(`bull:${name}:repeat`, 0, -1, 'WITHSCORES'), ['s', String(millis)]);
  assert.deepEqual(await redis.hgetall(`bull:${name}:repeat:s`), {
    name: 'tick',
    every: '500',
    offset: String(millis % 500),
    opts: '{"attempts":3}',
    data: '{"a":1}',
    ic: '1',
  });
  assert.deepEqual(await redis.lrange(`bull:${name}:wait`, 0, -1), [job.id]);
  const hash = await redis.hgetall(`bull:${name}:${job.id}`);
  assert.equal(hash.rjk, 's');
  assert.equal(hash.delay, '0');
  assert.equal(hash.name, 'tick');
  assert.deepEqual(JSON.parse(hash.opts), {
    attempts: 3,
    repeat: { every: 500, count: 1 },
    delay: 0,
    jobId: job.id,
    timestamp: JSON.parse(hash.opts).timestamp,
    repeatJobKey: 's',
  });
  assert.equal(await queue.getJobState(job.id), 'waiting');
});

test('a pattern scheduler waits delayed for its first time; tz and offset are honoured', async () => {
  const { name, queue, redis } = await setup('pattern');
  const job = await queue.upsertJobScheduler('p', { pattern: '0 0 12 * * *', tz: 'Asia/Tokyo' });
  const millis = Number(job.id.split(':')[2]);
  // 12:00 in Tokyo is 03:00 UTC.
  assert.equal(new Date(millis).getUTCHours(), 3);
  assert.ok(millis > Date.now());
  assert.equal(job.name, 'p', 'the name defaults to the scheduler id');
  assert.equal(job.opts.prevMillis, millis);
  assert.ok(job.delay > 0);
  assert.equal(await queue.getJobState(job.id), 'delayed');
  assert.equal((await redis.hget(`bull:${name}:repeat:p`, 'tz')), 'Asia/Tokyo');

  const offset = await queue.upsertJobScheduler('o', { every: 60000, offset: 1234 });
  const at = Number(offset.id.split(':')[2]);
  assert.equal(at % 60000, 1234);
  assert.ok(at > Date.now() - 1000);
  assert.equal(await redis.hget(`bull:${name}:repeat:o`, 'offset'), '1234');
  assert.deepEqual(offset.opts.repeat, { every: 60000, offset: 1234, count: 1 });
});

test('startDate, endDate, limit, count and immediately', async () => {
  const { name, queue, redis } = await setup('dates');
  const start = Date.now() + 60000;
  const later = await queue.upsertJobScheduler('start', { every: 1000, startDate: new Date(start) });
  assert.equal(later.id, `repeat:start:${start}`);
  assert.equal(await redis.hget(`bull:${name}:repeat:start`, 'startDate'), String(start));
  assert.equal(later.opts.repeat.startDate, start);

  const cronStart = Date.UTC(2100, 0, 1, 0, 0, 30);
  const cron = await queue.upsertJobScheduler('cron-start', { pattern: '0 * * * * *', startDate: cronStart });
  assert.equal(cron.id, `repeat:cron-start:${Date.UTC(2100, 0, 1, 0, 1, 0)}`);

  const end = Date.now() + 3600000;
  const ending = await queue.upsertJobScheduler('end', { pattern: '0 0 0 1 1 *', endDate: new Date(end).toISOString() });
  assert.equal(ending, undefined, 'no pattern time before endDate');
  assert.equal(await queue.getJobScheduler('end'), undefined);

  await assert.rejects(queue.upsertJobScheduler('past', { every: 10, endDate: Date.now() - 1000 }), {
    message: 'End date must be greater than current timestamp',
  });

  // count is the iterations already made; past the limit nothing is created.
  assert.equal(await queue.upsertJobScheduler('done', { every: 1000, limit: 3, count: 3 }), undefined);
  const counted = await queue.upsertJobScheduler('counted', { every: 1000, limit: 3, count: 1 });
  assert.deepEqual(counted.opts.repeat, { every: 1000, limit: 3, count: 2 });
  assert.equal(await redis.hget(`bull:${name}:repeat:counted`, 'limit'), '3');

  const now = Date.now();
  const immediate = await queue.upsertJobScheduler('now', { pattern: '0 0 0 1 1 *', immediately: true });
  assert.equal(immediate.delay, 0);
  assert.ok(Number(immediate.id.split(':')[2]) >= now);
  assert.equal(await queue.getJobState(immediate.id), 'waiting');
  assert.equal(immediate.opts.repeat.immediately, undefined, 'immediately is not kept');
});

test('BullMQ errors for contradictory options', async () => {
  const { queue } = await setup('errors');
  await assert.rejects(queue.upsertJobScheduler('a', { every: 10, pattern: '* * * * *' }), {
    message: 'Both .pattern and .every options are defined for this repeatable job',
  });
  await assert.rejects(queue.upsertJobScheduler('a', {}), {
    message: 'Either .pattern or .every options must be defined for this repeatable job',
  });
  await assert.rejects(queue.upsertJobScheduler('a', { pattern: '* * * * *', immediately: true, startDate: Date.now() }), {
    message: 'Both .immediately and .startDate options are defined for this repeatable job',
  });
  await assert.rejects(queue.upsertJobScheduler('a', { every: 10 }, { opts: { debounce: { id: 'x' } } }), {
    message: 'Debounce option has been removed. Use deduplication option instead',
  });
  await assert.rejects(queue.upsertJobScheduler('a', { pattern: 'not a pattern' }));
  assert.equal(await queue.getJobSchedulersCount(), 0);
});

test('upserting again updates the scheduler in place: same pending iteration, new every, pattern or template', async () => {
  const { name, queue, redis } = await setup('update');
  const first = await queue.upsertJobScheduler('s', { every: 60000, offset: 10 }, { data: { v: 1 } });
  const again = await queue.upsertJobScheduler('s', { every: 60000, offset: 10 }, { data: { v: 2 }, opts: { priority: 3 } });
  assert.equal(again.id, first.id, 'an unchanged interval keeps the iteration time');
  assert.deepEqual(await iterationIds(redis, name), [first.id]);
  const stored = await queue.getJob(first.id);
  assert.deepEqual(stored.data, { v: 2 });
  assert.equal(stored.opts.priority, 3);
  assert.equal((await queue.getJobScheduler('s')).template.data.v, 2);

  const faster = await queue.upsertJobScheduler('s', { every: 30000 });
  assert.notEqual(faster.id, first.id);
  assert.deepEqual(await iterationIds(redis, name), [faster.id]);
  assert.equal((await queue.getJobScheduler('s')).every, 30000);

  const cron = await queue.upsertJobScheduler('s', { pattern: '0 0 * * * *' });
  assert.deepEqual(await iterationIds(redis, name), [cron.id]);
  const s = await queue.getJobScheduler('s');
  assert.equal(s.pattern, '0 0 * * * *');
  assert.equal(s.every, undefined);
  assert.equal(s.iterationCount, 1);
  assert.equal(await queue.getJobSchedulersCount(), 1);
  assert.deepEqual(await redis.zrange(`bull:${name}:delayed`, 0, -1), [cron.id]);
});

test('many concurrent upserts of one id leave exactly one pending iteration', async () => {
  const { name, queue, redis } = await setup('concurrent');
  const jobs = await Promise.all(
    Array.from({ length: 25 }, (_, i) => queue.upsertJobScheduler('c', { every: 400 }, { data: { i } })),
  );
  assert.equal(new Set(jobs.map((j) => j.id)).size, 1);
  assert.deepEqual(await iterationIds(redis, name), [jobs[0].id]);
  const waiting = (await redis.lrange(`bull:${name}:wait`, 0, -1)).concat(await redis.zrange(`bull:${name}:delayed`, 0, -1));
  assert.deepEqual(waiting, [jobs[0].id]);
  const patterns = await Promise.all(
    Array.from({ length: 10 }, () => queue.upsertJobScheduler('cp', { pattern: '*/30 * * * * *' })),
  );
  assert.equal(new Set(patterns.map((j) => j.id)).size, 1);
  assert.equal((await iterationIds(redis, name)).filter((id) => id.startsWith('repeat:cp:')).length, 1);
});

test('getters, removal and the JobScheduler class', async () => {
  const { name, queue, redis } = await setup('getters');
  await queue.upsertJobScheduler('late', { every: 1000, startDate: Date.now() + 90000 });
  await queue.upsertJobScheduler('soon', { every: 1000, startDate: Date.now() + 30000 }, { name: 'n', data: { d: 1 }, opts: { removeOnComplete: true } });
  const all = await queue.getJobSchedulers();
  assert.deepEqual(all.map((s) => s.key), ['late', 'soon']);
  assert.deepEqual((await queue.getJobSchedulers(0, -1, true)).map((s) => s.key), ['soon', 'late']);
  assert.deepEqual((await queue.getJobSchedulers(0, 0, true)).map((s) => s.key), ['soon']);
  const soon = await queue.getJobScheduler('soon');
  assert.deepEqual(soon, {
    key: 'soon',
    name: 'n',
    next: soon.startDate,
    iterationCount: 1,
    startDate: soon.startDate,
    every: 1000,
    offset: soon.startDate % 1000,
    template: { data: { d: 1 }, opts: { removeOnComplete: true } },
  });
  assert.equal(await queue.getJobSchedulersCount(), 2);
  assert.equal(await queue.getJobScheduler('nope'), undefined);

  const scheduler = await queue.jobScheduler;
  assert.ok(scheduler instanceof JobScheduler);
  assert.equal(await scheduler.isJobScheduler('soon'), true);
  assert.equal(await scheduler.isJobScheduler('nope'), false);
  assert.equal(await scheduler.getSchedulersCount(), 2);
  assert.equal(scheduler.getSchedulerNextJobId({ jobSchedulerId: 'x', nextMillis: 5 }), 'repeat:x:5');

  const pending = `repeat:soon:${soon.next}`;
  assert.equal(await queue.removeJobScheduler('soon'), true);
  assert.equal(await queue.removeJobScheduler('soon'), false);
  assert.equal(await redis.exists(`bull:${name}:${pending}`, `bull:${name}:repeat:soon`), 0);
  assert.deepEqual(await redis.zrange(`bull:${name}:delayed`, 0, -1), [`repeat:late:${(await queue.getJobScheduler('late')).next}`]);
  assert.equal(await queue.getJobSchedulersCount(), 1);

  // A standalone JobScheduler on its own connection.
  const own = closeAfter(new JobScheduler(name, { connection: await connection() }));
  assert.deepEqual((await own.getJobSchedulers()).map((s) => s.key), ['late']);
  assert.equal(await own.removeJobScheduler('late'), 0);
  assert.equal(await own.removeJobScheduler('late'), 1);
});

test("a Queue's repeatStrategy computes pattern times", async () => {
  const calls = [];
  const { queue } = await setup('strategy', {
    settings: {
      repeatStrategy: (millis, opts, name) => {
        calls.push([typeof millis, opts.pattern, name]);
        return millis + 120000;
      },
    },
  });
  const before = Date.now();
  const job = await queue.upsertJobScheduler('s', { pattern: 'my-own-syntax' }, { name: 'n' });
  const at = Number(job.id.split(':')[2]);
  assert.ok(at >= before + 120000 && at <= Date.now() + 120000);
  assert.deepEqual(calls, [['number', 'my-own-syntax', 'n']]);
  const every = await queue.upsertJobScheduler('e', { every: 1000 });
  assert.equal(calls.length, 1, 'every schedulers do not use the strategy');
  assert.ok(every.id.startsWith('repeat:e:'));
});

test('the schedule helpers compute what bullmq 6.7 computes', async () => {
  const official = await import('bullmq');
  const mod = await import('bullmq-native');
  const base = Date.UTC(2031, 4, 6, 7, 8, 9, 123);
  const cases = [
    { every: 1000 },
    { every: 60000, immediately: true },
    { pattern: '0 30 9 * * 1-5', tz: 'America/New_York' },
    { pattern: '*/15 * * * *', startDate: new Date(base + 3 * 3600e3) },
    { pattern: '0 0 1 1 *', endDate: base + 1000 },
    { pattern: '0 0 12 * * *', tz: 'Asia/Kolkata', startDate: String(new Date(base - 1e9).toISOString()) },
  ];
  for (const opts of cases) {
    const label = JSON.stringify(opts);
    assert.equal(mod.getNextMillis(base, opts), official.getNextMillis(base, opts), `getNextMillis ${label}`);
    if (opts.pattern) {
      assert.equal(mod.defaultRepeatStrategy(base, opts), official.defaultRepeatStrategy(base, opts), `defaultRepeatStrategy ${label}`);
    }
  }
  assert.throws(() => mod.getNextMillis(base, { every: 5, pattern: '* * * * *' }), {
    message: 'Both .pattern and .every options are defined for this repeatable job',
  });
  // A pattern that cron-parser rejects is an error for both.
  assert.throws(() => official.defaultRepeatStrategy(base, { pattern: 'not a pattern' }));
  assert.throws(() => mod.defaultRepeatStrategy(base, { pattern: 'not a pattern' }));

  for (const key of ['name:id::America/New_York:0 * * * *', 'a:b:123::5000', 'a:b:c:d', 'a:b:x7::5000', 'plain', 'n:i:::', 'x:y::tz:*/5 * * * *']) {
    assert.equal(mod.hasLegacyRepeatableKeyShape(key), official.hasLegacyRepeatableKeyShape(key), key);
    assert.equal(mod.isLegacyRepeatableJobKey(key), official.isLegacyRepeatableJobKey(key), key);
  }
  assert.equal(mod.LEGACY_REPEATABLE_JOBS_MIGRATION_URL, official.LEGACY_REPEATABLE_JOBS_MIGRATION_URL);
  const mine = mod.getLegacyRepeatableJobError('a:b::c:5000');
  assert.ok(mine instanceof Error);
  assert.equal(mine.message, official.getLegacyRepeatableJobError('a:b::c:5000').message);
});
