// @nestjs/bullmq with BullModule.queueClass / workerClass /
// flowProducerClass set to ours, in an app booted with @nestjs/testing
// (plain JS: Nest's decorators applied by hand, as TypeScript would).
// `app.close()` is graceful: a job running when it is called finishes first,
// then the worker, the queue (with forceDisconnectOnShutdown) and the flow
// producer close. The same app runs over bullmq 6.7's classes; both must do
// the same. (The README's NestJS example is run by
// docs-integrations-examples.test.mjs.)
import 'reflect-metadata';

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Injectable, Module } from '@nestjs/common';
import {
  BullModule,
  InjectFlowProducer,
  InjectQueue,
  OnQueueEvent,
  OnWorkerEvent,
  Processor,
  QueueEventsHost,
  QueueEventsListener,
  WorkerHost,
  getFlowProducerToken,
  getQueueToken,
} from '@nestjs/bullmq';
import { Test } from '@nestjs/testing';
import * as official from 'bullmq';
import * as ours from 'bullmq-native';

import { connection, queueName, waitFor } from './support/redis.mjs';

/** What `@decorator` on a class, a method or a constructor parameter does. */
const decorateClass = (cls, ...decorators) => Reflect.decorate(decorators, cls);
const decorateMethod = (cls, key, ...decorators) =>
  Reflect.decorate(decorators, cls.prototype, key, Object.getOwnPropertyDescriptor(cls.prototype, key));
const decorateParam = (cls, index, decorator) => decorator(cls, undefined, index);

/** The app's classes, with queue `name` and flow producer `flowsName`. */
function appFor(lib, name, flowsName, conn) {
  class Orders {
    constructor(queue, flows) {
      this.queue = queue;
      this.flows = flows;
    }

    place(id, slow = false) {
      return this.queue.add('order', { id, slow });
    }

    ship(ids) {
      return this.flows.add({
        name: 'shipment',
        queueName: name,
        data: { count: ids.length },
        children: ids.map((id) => ({ name: 'order', queueName: name, data: { id } })),
      });
    }
  }
  decorateParam(Orders, 0, InjectQueue(name));
  decorateParam(Orders, 1, InjectFlowProducer(flowsName));
  decorateClass(Orders, Injectable());

  class OrderProcessor extends WorkerHost {
    constructor() {
      super();
      this.events = [];
      this.release = undefined;
    }

    async process(job) {
      if (job.name === 'shipment') return `shipped ${Object.keys(await job.getChildrenValues()).length}`;
      // A slow order holds on until the test lets it go, to be running at app.close().
      if (job.data.slow) await new Promise((resolve) => (this.release = resolve));
      return `order ${job.data.id}`;
    }

    onActive(job) {
      this.events.push(['active', job.name, job.data.id ?? null]);
    }

    onCompleted(job, result) {
      this.events.push(['completed', job.name, result]);
    }

    onClosed() {
      this.events.push(['closed']);
    }
  }
  decorateMethod(OrderProcessor, 'onActive', OnWorkerEvent('active'));
  decorateMethod(OrderProcessor, 'onCompleted', OnWorkerEvent('completed'));
  decorateMethod(OrderProcessor, 'onClosed', OnWorkerEvent('closed'));
  decorateClass(OrderProcessor, Processor(name, { concurrency: 3 }));

  class OrderEvents extends QueueEventsHost {
    constructor() {
      super();
      this.completed = [];
    }

    onCompleted({ returnvalue }) {
      this.completed.push(returnvalue);
    }
  }
  decorateMethod(OrderEvents, 'onCompleted', OnQueueEvent('completed'));
  // @nestjs/bullmq builds the listener's QueueEvents from bullmq itself, whose
  // first read from '$' can start after the first jobs completed on a busy
  // machine: reading the (fresh) queue's stream from its start sees them all.
  decorateClass(OrderEvents, QueueEventsListener(name, { lastEventId: '0-0' }));

  class AppModule {}
  decorateClass(
    AppModule,
    Module({
      imports: [
        BullModule.forRoot({ connection: conn }),
        BullModule.registerQueue({ name, forceDisconnectOnShutdown: true }),
        BullModule.registerFlowProducer({ name: flowsName }),
      ],
      providers: [Orders, OrderProcessor, OrderEvents],
    }),
  );
  return { AppModule, Orders, OrderProcessor, OrderEvents };
}

/** Boots the app over `lib`'s classes and records what it does, up to and after app.close(). */
async function run(lib, label) {
  BullModule.queueClass = lib.Queue;
  BullModule.workerClass = lib.Worker;
  BullModule.flowProducerClass = lib.FlowProducer;
  const conn = await connection();
  const name = queueName(`nest-${label}`);
  const flowsName = `flows-${label}`;
  const { AppModule, Orders, OrderProcessor, OrderEvents } = appFor(lib, name, flowsName, conn);
  const app = await (await Test.createTestingModule({ imports: [AppModule] }).compile()).init();
  const queue = app.get(getQueueToken(name));
  const flows = app.get(getFlowProducerToken(flowsName));
  const processor = app.get(OrderProcessor);
  const events = app.get(OrderEvents);
  const orders = app.get(Orders);
  let closed = false;
  try {
    await events.queueEvents.waitUntilReady();
    await processor.worker.waitUntilReady();
    const first = await orders.place('A');
    const shipment = await orders.ship(['B', 'C']);
    await waitFor(() => events.completed.length === 4, { message: 'the first jobs' });
    const slow = await orders.place('D', true);
    await waitFor(() => processor.release, { message: 'the slow job to start' });

    const closing = app.close().then(() => (closed = true));
    // The worker lets the running job finish: app.close() waits for it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closedBeforeRelease = closed;
    processor.release();
    await closing;

    const check = new lib.Queue(name, { connection: conn });
    try {
      return {
        classes: [queue instanceof lib.Queue, flows instanceof lib.FlowProducer, processor.worker instanceof lib.Worker],
        ids: [first.id, slow.id],
        shipment: (await check.getJob(shipment.job.id)).returnvalue,
        slow: [await check.getJobState(slow.id), (await check.getJob(slow.id)).returnvalue],
        counts: await check.getJobCounts(),
        events: [...processor.events].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
        queueEvents: [...events.completed].sort(),
        closedBeforeRelease,
        status: [(await queue.getBackend().client).status, (await flows.getBackend().client).status],
        workerRunning: processor.worker.isRunning(),
      };
    } finally {
      await check.obliterate({ force: true });
      await check.close();
    }
  } finally {
    processor.release?.();
    if (!closed) await app.close();
  }
}

test('@nestjs/bullmq over our Queue, Worker and FlowProducer behaves as over bullmq 6.7', async () => {
  const mine = await run(ours, 'ours');
  const theirs = await run(official, 'official');
  assert.deepEqual(mine, theirs);
  assert.deepEqual(mine.classes, [true, true, true]);
  assert.deepEqual(mine.ids, ['1', '5']);
  assert.equal(mine.shipment, 'shipped 2');
  assert.deepEqual(mine.slow, ['completed', 'order D']);
  assert.equal(mine.closedBeforeRelease, false);
  assert.equal(mine.counts.completed, 5);
  assert.deepEqual(mine.queueEvents, ['order A', 'order B', 'order C', 'shipped 2']);
  assert.ok(mine.events.some(([e]) => e === 'closed'));
  assert.deepEqual(mine.status, ['end', 'end']);
  assert.equal(mine.workerRunning, false);
});
