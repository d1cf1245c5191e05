/**
 * FlowProducer: adds trees of jobs whose parents wait for their children
 * (in any queues and prefixes) and reads them back, as in BullMQ. The engine
 * writes a whole tree in one atomic step and reads trees back; this side
 * checks and defaults each node's options and builds the `JobNode` tree of
 * `Job` objects.
 */
import { EventEmitter } from 'node:events';

import { QueueBackend } from './backend';
import { normalizeConnection } from './connection';
import { native } from './errors';
import { Job, type JobHost } from './job';
import { rawFromFlat } from './job-codec';
import { binding, type Native } from './native';
import { checkJobOptions, dataValue } from './queue';
import { checkQueueName } from './queue-base';
import { describe } from './queue-args';
import { SpanKind, TelemetryAttributes } from './enums';
import { attributeText, FlowTracing, propagatedTelemetry, traced, type Telemetry } from './telemetry';
import type { JobsOptions, QueueBaseOptions, QueueOptions } from './types';

/** A node of a flow: a job of queue `queueName` and the jobs it waits for. */
export interface FlowJobBase<T> {
  name: string;
  queueName: string;
  data?: any;
  /** Key prefix of the node's queue (default: the producer's). */
  prefix?: string;
  opts?: Omit<T, 'debounce' | 'repeat'>;
  children?: FlowChildJob[];
}

/** A child node: its parent is the node it is listed under. */
export type FlowChildJob = FlowJobBase<Omit<JobsOptions, 'parent'>>;

/** A flow's root node; `opts.parent` attaches the whole flow to an existing job. */
export type FlowJob = FlowJobBase<JobsOptions>;

/** Per-queue options of a flow, by queue name (`defaultJobOptions` apply to its nodes). */
export interface FlowQueuesOpts {
  [queueName: string]: Omit<QueueOptions, 'connection' | 'prefix'>;
}

export interface FlowOpts {
  queuesOptions: FlowQueuesOpts;
}

/** A job of a flow with the nodes under it. */
export interface JobNode {
  job: Job;
  children?: JobNode[];
}

/** Which flow `getFlow` reads: its root job, how deep, how many children of each kind per node. */
export interface NodeOpts {
  queueName: string;
  prefix?: string;
  id: string;
  /** Levels to read, the root included (default 10). */
  depth?: number;
  /** About how many children of each kind to read per node (default 20). */
  maxChildren?: number;
}

/** A node checked and defaulted, as the engine takes it. */
interface PreparedNode {
  name: string;
  queueName: string;
  prefix: string;
  data: unknown;
  opts: JobsOptions;
  timestamp: number;
  children: PreparedNode[];
}

/** Stands in for a child's parent while its options are checked (its id is the engine's). */
const CHECKED_PARENT = { id: '', queue: '' };

/** A queue of a flow's jobs: what their Job objects need, on the producer's connection. */
class FlowQueue implements JobHost {
  readonly qualifiedName: string;
  readonly opts: { prefix: string };
  private handle?: Promise<Native.BindingQueue>;

  constructor(
    private readonly producer: FlowProducer,
    readonly name: string,
    prefix: string,
  ) {
    this.qualifiedName = `${prefix}:${name}`;
    this.opts = { prefix };
  }

  _queue(): Promise<Native.BindingQueue> {
    if (!this.handle) {
      this.handle = this.producer._native().then((p) => native(p.queue(this.opts.prefix, this.name)));
    }
    return this.handle;
  }

  emit(event: string | symbol, ...args: any[]): boolean {
    return this.producer.emit(event, ...args);
  }

  on(event: string | symbol, listener: (...args: any[]) => void): this {
    this.producer.on(event, listener);
    return this;
  }

  off(event: string | symbol, listener: (...args: any[]) => void): this {
    this.producer.off(event, listener);
    return this;
  }
}

export class FlowProducer extends EventEmitter {
  readonly opts: QueueBaseOptions;
  closing: Promise<void> | undefined;
  /** Spans of the flows added (`opts.telemetry`). */
  readonly telemetry?: Telemetry;
  private readonly nativeProducer: Promise<Native.BindingFlowProducer>;
  private readonly queues = new Map<string, FlowQueue>();
  private backend: QueueBackend | undefined;

  constructor(opts: QueueBaseOptions = { connection: {} }) {
    super();
    if (opts === null || typeof opts !== 'object') {
      throw new TypeError('options must be an object');
    }
    this.opts = { ...opts, prefix: opts.prefix === undefined ? 'bull' : opts.prefix };
    if (typeof this.opts.prefix !== 'string') {
      throw new TypeError('prefix must be a string');
    }
    if (opts.telemetry) this.telemetry = opts.telemetry;
    this.nativeProducer = native(binding.openFlowProducer(normalizeConnection(opts.connection)));
    this.nativeProducer.catch((err: Error) => {
      // As BullMQ: connection failures are `error` events when someone listens.
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** Helper to extend Job class calls, as BullMQ's. */
  get Job(): typeof Job {
    return Job;
  }

  /** Resolves when connected to Redis; rejects when Redis cannot be reached. */
  async waitUntilReady(): Promise<void> {
    await this.nativeProducer;
  }

  /**
   * The backend over the producer's connection, as BullMQ 6's
   * `getBackend()` (bound to no queue, as BullMQ's: its name is empty); see
   * QueueBackend. The same object on every call.
   */
  getBackend(): QueueBackend {
    if (!this.backend) {
      const handle = this.nativeProducer.then((p) => native(p.queue(this.opts.prefix!, '')));
      handle.catch(() => undefined);
      this.backend = new QueueBackend(this.opts.prefix!, '', handle, this);
    }
    return this.backend;
  }

  /** @internal The native handle. */
  _native(): Promise<Native.BindingFlowProducer> {
    return this.nativeProducer;
  }

  /** The host of the Job objects of one queue (one per queue and prefix). */
  private queueOf(name: string, prefix: string): FlowQueue {
    const key = `${prefix}:${name}`;
    let q = this.queues.get(key);
    if (!q) {
      q = new FlowQueue(this, name, prefix);
      this.queues.set(key, q);
    }
    return q;
  }

  /**
   * Adds a flow: the root job, its children (the root waits in
   * `waiting-children` until they all finished), theirs, and so on, in any
   * queues. The whole tree is written in one atomic step. Node ids default
   * to random UUIDs. With `opts.parent` on the root, the whole flow becomes a
   * child of an existing job. `opts.queuesOptions[queueName].defaultJobOptions`
   * apply to the nodes of that queue.
   */
  async add(flow: FlowJob, opts?: FlowOpts): Promise<JobNode> {
    if (this.closing) return undefined as unknown as JobNode;
    if (flow === null || typeof flow !== 'object') throw new TypeError('add expects a flow object');
    checkFlowDeduplication([flow]);
    const telemetry = this.telemetry;
    if (telemetry === undefined) return this.addFlow(flow, opts);
    const queueName = (flow as { queueName: string }).queueName;
    return traced(telemetry, SpanKind.PRODUCER, queueName, 'addFlow', queueName, (span) => {
      span.setAttributes({ [TelemetryAttributes.FlowName]: flow.name });
      return this.addFlow(flow, opts, new FlowTracing(telemetry));
    });
  }

  private async addFlow(flow: FlowJob, opts: FlowOpts | undefined, tracing?: FlowTracing): Promise<JobNode> {
    try {
      const prepared = this.prepare(flow, opts?.queuesOptions, false, tracing);
      const p = await this.nativeProducer;
      const [ids] = JSON.parse(await native(p.addFlows(JSON.stringify([prepared]), true))) as IdTree[];
      return this.jobNode(prepared, ids, undefined, tracing);
    } finally {
      tracing?.end();
    }
  }

  /**
   * Adds several flows in one atomic step; the trees come back in the order
   * given. As in BullMQ, a flow whose root cannot be added (its parent is
   * missing) does not fail the call.
   */
  async addBulk(flows: FlowJob[]): Promise<JobNode[]> {
    if (this.closing) return undefined as unknown as JobNode[];
    if (!Array.isArray(flows)) throw new TypeError('addBulk expects an array of flows');
    for (const f of flows) {
      if (f === null || typeof f !== 'object') throw new TypeError('each flow must be an object');
    }
    checkFlowDeduplication(flows);
    const telemetry = this.telemetry;
    if (telemetry === undefined) return this.addFlows(flows);
    return traced(telemetry, SpanKind.PRODUCER, '', 'addBulkFlows', '', (span) => {
      span.setAttributes({
        [TelemetryAttributes.BulkCount]: flows.length,
        [TelemetryAttributes.BulkNames]: flows.map((f) => attributeText(f.name)).join(','),
      });
      return this.addFlows(flows, new FlowTracing(telemetry));
    });
  }

  private async addFlows(flows: FlowJob[], tracing?: FlowTracing): Promise<JobNode[]> {
    try {
      const prepared = flows.map((f) => this.prepare(f, undefined, false, tracing));
      if (prepared.length === 0) return [];
      const p = await this.nativeProducer;
      const ids = JSON.parse(await native(p.addFlows(JSON.stringify(prepared), false))) as IdTree[];
      return prepared.map((node, i) => this.jobNode(node, ids[i], undefined, tracing));
    } finally {
      tracing?.end();
    }
  }

  /**
   * Reads a flow back: the job `id` of `queueName` with its children (those
   * processed, pending, failed and ignored), `depth` levels deep, about
   * `maxChildren` of each kind per node. Undefined when the job does not
   * exist; a child whose job is gone is undefined in its place.
   */
  async getFlow(opts: NodeOpts): Promise<JobNode> {
    if (this.closing) return undefined as unknown as JobNode;
    if (opts === null || typeof opts !== 'object') throw new TypeError('getFlow expects { id, queueName }');
    checkQueueName(opts.queueName);
    if (typeof opts.id !== 'string' || opts.id === '') {
      throw new TypeError(`getFlow: id must be a non-empty string, got ${describe(opts.id)}`);
    }
    for (const key of ['depth', 'maxChildren'] as const) {
      const v = opts[key];
      if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v))) {
        throw new TypeError(`getFlow: ${key} must be an integer, got ${describe(v)}`);
      }
    }
    const prefix = opts.prefix ?? this.opts.prefix!;
    // As BullMQ's option merge: a `depth` given as undefined reads the root alone.
    const depth = 'depth' in opts && opts.depth === undefined ? 1 : opts.depth;
    const p = await this.nativeProducer;
    const text = await native(p.getFlow(prefix, opts.queueName, opts.id, depth, opts.maxChildren));
    return (text === null || text === undefined ? undefined : this.readNode(JSON.parse(text))) as JobNode;
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = (async () => {
        try {
          (await this.nativeProducer).close();
        } catch {
          // Never connected: nothing to close.
        }
      })();
    }
    await this.closing;
  }

  /** Closes the connection at once. */
  async disconnect(): Promise<void> {
    await this.close();
  }

  /**
   * Checks and defaults a node and its subtree: the queue's default job
   * options, then the node's (`parent` of a child is set by the engine).
   */
  private prepare(
    node: FlowJob | FlowChildJob,
    queuesOpts: FlowQueuesOpts | undefined,
    isChild: boolean,
    tracing?: FlowTracing,
    parentContext?: unknown,
  ): PreparedNode {
    if (node === null || typeof node !== 'object') throw new TypeError('each flow node must be an object');
    if (typeof node.name !== 'string') throw new TypeError('job name must be a string');
    checkQueueName(node.queueName);
    const prefix = node.prefix || this.opts.prefix!;
    if (typeof prefix !== 'string') throw new TypeError('prefix must be a string');
    const defaults = queuesOpts?.[node.queueName]?.defaultJobOptions ?? {};
    const opts: JobsOptions = { ...defaults, ...((node.opts ?? {}) as JobsOptions) };
    for (const key of Object.keys(opts)) {
      // A `debounce` key is refused whatever its value, as in BullMQ.
      if ((opts[key] === null || opts[key] === undefined) && key !== 'debounce') delete opts[key];
    }
    if (isChild) delete opts.parent;
    const prepared = {} as PreparedNode;
    let context: unknown;
    if (tracing) {
      // The node's job carries its span's context, as BullMQ's addNode stores
      // it: only into nodes given options.
      const opened = tracing.open(prepared, node.name, node.queueName, opts.jobId, parentContext);
      context = opened.context;
      if (node.opts) {
        const t = propagatedTelemetry((node.opts as JobsOptions).telemetry, opened.metadata);
        if (t === undefined) delete opts.telemetry;
        else opts.telemetry = t;
      }
    }
    if ((isChild || opts.parent) && (opts.deduplication as { keepLastIfActive?: boolean } | undefined)?.keepLastIfActive) {
      throw new Error('keepLastIfActive deduplication cannot be used on flow nodes with a parent');
    }
    checkJobOptions(isChild ? { ...opts, parent: CHECKED_PARENT } : opts);
    const data = dataValue(node.name, node.data, opts);
    const timestamp = opts.timestamp ?? Date.now();
    const children = node.children;
    if (children !== undefined && !Array.isArray(children)) throw new TypeError('children must be an array');
    return Object.assign(prepared, {
      name: node.name,
      queueName: node.queueName,
      prefix,
      data,
      opts,
      timestamp,
      children: (children ?? []).map((c) => this.prepare(c, queuesOpts, true, tracing, context)),
    });
  }

  /** The JobNode of an added node: its Job (with the id the engine gave) and those of its children. */
  private jobNode(
    node: PreparedNode,
    ids: IdTree,
    parent: { id: string; queue: string } | undefined,
    tracing?: FlowTracing,
  ): JobNode {
    const [id, childIds] = ids;
    tracing?.added(node, id);
    const host = this.queueOf(node.queueName, node.prefix);
    const opts: JobsOptions = parent ? { ...node.opts, parent } : node.opts;
    const job = new this.Job(host, node.name, node.data, opts, id);
    job.timestamp = node.timestamp;
    if (node.children.length === 0) return { job };
    const self = { id, queue: host.qualifiedName };
    return { job, children: node.children.map((c, i) => this.jobNode(c, childIds[i], self, tracing)) };
  }

  /** A JobNode from a tree the engine read. */
  private readNode(tree: FlowTreeJson | null): JobNode | undefined {
    if (tree === null) return undefined;
    const job = this.Job.fromJSON(this.queueOf(tree.queueName, tree.prefix), rawFromFlat(tree.fields), tree.id);
    if (!tree.children) return { job };
    return { job, children: tree.children.map((c) => this.readNode(c)) as JobNode[] };
  }
}

/** Ids of an added flow: `[id, [child, ...]]`. */
type IdTree = [string, IdTree[]];

/** A node as the engine reads it back. */
interface FlowTreeJson {
  prefix: string;
  queueName: string;
  id: string;
  fields: string[];
  children?: (FlowTreeJson | null)[];
}

/** BullMQ's rule: a node with children (a parent) cannot use deduplication. */
function checkFlowDeduplication(nodes: (FlowJob | FlowChildJob)[]): void {
  for (const node of nodes) {
    if (node === null || typeof node !== 'object') continue;
    const children = node.children;
    if (Array.isArray(children) && children.length > 0) {
      if ((node.opts as JobsOptions | undefined)?.deduplication) {
        throw new Error('Deduplication options cannot be used on flow nodes with children');
      }
      checkFlowDeduplication(children);
    }
  }
}
