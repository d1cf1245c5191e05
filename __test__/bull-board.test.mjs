// bull-board over our queues: its BullMQ adapter takes our Queue, and every
// route its UI reads and every action it offers (see support/board.mjs)
// answers as it does over the official bullmq 6.7 in the same scenario, on
// the same Redis. Its Redis panel is answered by our engine.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import * as official from 'bullmq';
import * as ours from 'bullmq-native';

import { boardScenario } from './support/board.mjs';
import { track } from './support/closers.mjs';
import { connection, queueName, rawClient } from './support/redis.mjs';

test("bull-board's adapter accepts our Queue as a BullMQ 6 queue", async () => {
  const queue = track(new ours.Queue(queueName('board-adapter'), { connection: await connection() }));
  const adapter = new BullMQAdapter(queue);
  // A v6 queue (one with a backend) has no `paused` status tab.
  assert.deepEqual(adapter.getStatuses(), ['latest', 'active', 'waiting', 'waiting-children', 'prioritized', 'completed', 'failed', 'delayed']);
  assert.equal(adapter.getQueueQualifiedName(), `bull:${queue.name}`);
  assert.equal(adapter.getQueueKey('completed'), `bull:${queue.name}:completed`);
  assert.equal(queue.getBackend(), queue.getBackend(), 'one backend per queue');
});

test("the Redis panel is the server's INFO, read through our engine", async () => {
  const queue = track(new ours.Queue(queueName('board-info'), { connection: await connection() }));
  const client = await queue.getBackend().client;
  assert.equal(client.status, 'ready');
  const redis = await rawClient();
  const expected = /redis_version:(\S+)/.exec(await redis.info('server'))[1];
  const info = await client.info();
  assert.equal(/redis_version:(\S+)/.exec(info)[1], expected);
  assert.match(info, /# Memory/);
  assert.doesNotMatch(await client.info('server'), /used_memory:/);
  const adapter = new BullMQAdapter(queue);
  assert.match(await adapter.getRedisInfo(), /redis_version:/);
  await queue.close();
  assert.equal(client.status, 'end');
});

test('every route and action of bull-board answers as over bullmq 6.7', async () => {
  const conn = await connection();
  const theirs = await boardScenario(official, { connection: conn, label: 'official' });
  const mine = await boardScenario(ours, { connection: conn, label: 'ours' });
  assert.deepEqual(
    mine.map(([label]) => label),
    theirs.map(([label]) => label),
  );
  for (let i = 0; i < theirs.length; i++) {
    assert.deepEqual(mine[i], theirs[i], `step "${theirs[i][0]}"`);
  }
  // The scenario saw what it meant to: a sample of the answers.
  const byLabel = new Map(mine.map(([label, status, body]) => [label, { status, body }]));
  assert.equal(byLabel.get('redis stats').body.backend, 'redis');
  assert.deepEqual(byLabel.get('workers').body.workers.map((w) => w.name), ['board-worker']);
  assert.equal(byLabel.get('job 2 (failed)').body.job.failedReason, 'boom 2');
  const flow = byLabel.get('flow of a child').body.flowRoot;
  assert.equal(flow.state, 'waiting-children');
  assert.deepEqual(flow.children.map((c) => [c.name, c.state]), [['child-a', 'waiting'], ['child-b', 'waiting']]);
  assert.deepEqual(byLabel.get('retry all failed').body, { retried: 1, skipped: 0 });
  assert.equal(byLabel.get('obliterate').status, 200);
});
