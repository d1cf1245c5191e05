// What the failover tests (cluster, Sentinel) share: a worker that counts the
// runs of each job, and the check that every job completed, none is left
// behind, and a job ran twice only after it stalled.
import assert from 'node:assert/strict';

import { Worker } from 'bullmq-native';

import { waitFor } from './redis.mjs';

/** A worker on `name` that counts each job's runs (`runs`: id -> count). */
export function countingWorker(name, connection) {
  const runs = new Map();
  const worker = new Worker(
    name,
    async (job) => {
      runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, 5));
      return job.data.i;
    },
    { connection, concurrency: 4, stalledInterval: 1000, lockDuration: 3000, maxStalledCount: 5 },
  );
  return { worker, runs };
}

/** Waits for all `ids` to complete; nothing waits, runs, is delayed or failed; reruns only after stalls. */
export async function assertEachCompletedOnce(queue, ids, runs) {
  await waitFor(async () => (await queue.getJobCounts('completed')).completed === ids.length, {
    timeout: 60000,
    message: `all ${ids.length} jobs to complete`,
  });
  assert.deepEqual(await queue.getJobCounts('wait', 'active', 'delayed', 'failed'), {
    wait: 0,
    active: 0,
    delayed: 0,
    failed: 0,
  });
  for (const id of ids) {
    const n = runs.get(id) ?? 0;
    assert.ok(n >= 1, `job ${id} ran`);
    if (n > 1) assert.ok((await queue.getJob(id)).stalledCounter > 0, `job ${id} ran ${n} times without a stall`);
  }
}
