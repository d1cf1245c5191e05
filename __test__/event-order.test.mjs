// A listener attached right after `await queue.add(...)` sees that job's
// events, on the worker and on QueueEvents, as with BullMQ, even when the
// machine is busy (the engine's threads then run ahead of JavaScript; see
// lib/delivery.ts for why that could reorder callbacks). Four busy child
// processes load both cores while a few hundred jobs go through.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

import { QueueEvents } from 'bullmq-native';

import { track } from './support/closers.mjs';
import { setup } from './support/workers.mjs';

/** Resolves true when `emitter` emits `event` for `jobId` within `ms`, else false. */
function seen(emitter, event, jobId, idOf, ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      emitter.off(event, handler);
      resolve(false);
    }, ms);
    function handler(...args) {
      if (idOf(...args) !== jobId) return;
      clearTimeout(timer);
      emitter.off(event, handler);
      resolve(true);
    }
    emitter.on(event, handler);
  });
}

test('completed listeners attached right after await queue.add() see the job complete, under CPU load', async () => {
  const { name, queue, connection, worker } = await setup('order');
  const w = worker(async (job) => job.data.i);
  const events = track(new QueueEvents(name, { connection }));
  await Promise.all([w.waitUntilReady(), events.waitUntilReady()]);
  const burners = [0, 1, 2, 3].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
  try {
    const missed = [];
    for (let i = 0; i < 300; i++) {
      const job = await queue.add('j', { i });
      const checks = await Promise.all([
        seen(w, 'completed', job.id, (j) => j.id, 2000),
        seen(events, 'completed', job.id, (e) => e.jobId, 2000),
      ]);
      checks.forEach((ok, k) => ok || missed.push(`${['worker', 'QueueEvents'][k]} completed of job ${job.id}`));
      // Let the worker go idle now and then, so both the blocked and the busy paths are met.
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    assert.deepEqual(missed, []);
  } finally {
    for (const b of burners) b.kill('SIGKILL');
  }
});
