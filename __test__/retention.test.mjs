// removeOnComplete / removeOnFail in every form (bool, number, { age, count,
// limit }) on the job and on the worker keep exactly the jobs 6.7 keeps. The
// same scenario runs on both packages: jobs finish in two phases more than a
// second apart, so `age: 1` has old jobs to drop.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as official from 'bullmq';
import * as ours from 'bullmq-native';

import { track } from './support/closers.mjs';
import { connection, queueName, waitFor } from './support/redis.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const VARIANTS = [
  undefined,
  true,
  false,
  0,
  2,
  { count: 2 },
  { age: 1 },
  { age: 1, count: 4 },
  { age: 1, count: 1 },
  { age: 1, limit: 1 },
  { age: 3600, count: 3 },
];

/**
 * bullmq 6.7 passes a worker-level boolean or number to its finish script as
 * it is: `true` and counts fail there ("attempt to index field 'keepJobs'"),
 * and `0` keeps everything. Those run on ours alone (see the last test).
 */
const comparableOnWorker = (opt) => opt === undefined || opt === false || typeof opt === 'object';

/** Names of the jobs left in the finished set (and whether their hashes exist), oldest first. */
async function kept(queue, state) {
  const jobs = await queue.getJobs([state], 0, -1, true);
  return jobs.map((j) => j.name);
}

/**
 * Manual processing: the option on the job (`where: 'job'`) or on the
 * worker; three jobs finish, then three more 1.2 s later.
 */
async function manualScenario(pkg, state, opt, where) {
  const conn = await connection();
  const name = queueName('keep');
  const optName = state === 'completed' ? 'removeOnComplete' : 'removeOnFail';
  const queue = track(new pkg.Queue(name, { connection: conn }));
  const workerOpts = where === 'worker' && opt !== undefined ? { [optName]: opt } : {};
  const worker = track(new pkg.Worker(name, null, { connection: conn, ...workerOpts }));
  const jobOpts = where === 'job' && opt !== undefined ? { [optName]: opt } : {};
  const finish = async (label) => {
    await queue.add(label, {}, jobOpts);
    const job = await worker.getNextJob('tok');
    if (state === 'completed') await job.moveToCompleted('ok', 'tok', false);
    else await job.moveToFailed(new Error('no'), 'tok');
  };
  for (const l of ['a1', 'a2', 'a3']) await finish(l);
  await sleep(1200);
  for (const l of ['b1', 'b2', 'b3']) await finish(l);
  return kept(queue, state);
}

/** The automatic worker with the option on the worker. */
async function workerScenario(pkg, state, opt) {
  const conn = await connection();
  const name = queueName('keep-w');
  const optName = state === 'completed' ? 'removeOnComplete' : 'removeOnFail';
  const queue = track(new pkg.Queue(name, { connection: conn }));
  let done = 0;
  const worker = track(
    new pkg.Worker(
      name,
      async () => {
        if (state === 'failed') throw new Error('no');
        return 'ok';
      },
      { connection: conn, ...(opt === undefined ? {} : { [optName]: opt }) },
    ),
  );
  worker.on(state, () => (done += 1));
  for (const l of ['a1', 'a2', 'a3']) await queue.add(l, {});
  await waitFor(() => done === 3, { message: 'the first three' });
  await sleep(1200);
  for (const l of ['b1', 'b2', 'b3']) await queue.add(l, {});
  await waitFor(() => done === 6, { message: 'the last three' });
  await worker.close();
  return kept(queue, state);
}

for (const state of ['completed', 'failed']) {
  test(`${state}: manual processing keeps what 6.7 keeps, option on the job and on the worker`, async () => {
    const rows = [];
    await Promise.all(
      VARIANTS.flatMap((opt) =>
        (comparableOnWorker(opt) ? ['job', 'worker'] : ['job']).map(async (where) => {
          const [mine, theirs] = await Promise.all([
            manualScenario(ours, state, opt, where),
            manualScenario(official, state, opt, where),
          ]);
          rows.push([JSON.stringify(opt), where, mine, theirs]);
        }),
      ),
    );
    for (const [opt, where, mine, theirs] of rows) assert.deepEqual(mine, theirs, `${state} ${opt} on the ${where}`);
    // The scenario shows each rule: a count trims, an age drops the first phase.
    const row = (opt, where) => rows.find((r) => r[0] === JSON.stringify(opt) && r[1] === where)[2];
    assert.deepEqual(row({ count: 2 }, 'job').sort(), ['b2', 'b3']);
    assert.deepEqual(row({ age: 1 }, 'job').sort(), ['b1', 'b2', 'b3']);
  });

  test(`${state}: the automatic worker's option keeps what 6.7 keeps`, async () => {
    const rows = [];
    await Promise.all(
      VARIANTS.filter(comparableOnWorker).map(async (opt) => {
        const [mine, theirs] = await Promise.all([workerScenario(ours, state, opt), workerScenario(official, state, opt)]);
        rows.push([JSON.stringify(opt), mine, theirs]);
      }),
    );
    for (const [opt, mine, theirs] of rows) assert.deepEqual(mine, theirs, `${state} worker option ${opt}`);
  });
}

test('a worker-level true or count keeps what the same job-level option keeps (not comparable with 6.7)', async () => {
  for (const state of ['completed', 'failed']) {
    for (const [opt, expected] of [
      [true, []],
      [0, []],
      [2, ['b2', 'b3']],
    ]) {
      assert.deepEqual((await manualScenario(ours, state, opt, 'worker')).sort(), expected, `${state} manual ${opt}`);
      assert.deepEqual((await workerScenario(ours, state, opt)).sort(), expected, `${state} worker ${opt}`);
      assert.deepEqual((await manualScenario(ours, state, opt, 'job')).sort(), expected, `${state} job ${opt}`);
    }
  }
});
