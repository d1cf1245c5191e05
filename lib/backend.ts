/**
 * The backend of a Queue, Worker or FlowProducer, as BullMQ 6's
 * `getBackend()` returns it, for the tools that look below those classes:
 * bull-board reads `client.info()` for its Redis panel and builds BullMQ's
 * own FlowProducer over the backend to draw flows; @nestjs/bullmq reads
 * `client.status` when the application shuts down.
 *
 * It answers the part of BullMQ's backend contract (`IQueueBackend`) that
 * such tools use: identity (keys, names), readiness and close, siblings on
 * the same connection (`forQueue`), and the reads of jobs and their
 * children, all through our engine. Changes to queues and jobs go through
 * Queue, Job and FlowProducer, not through the backend.
 */
import { EventEmitter } from 'node:events';

import { native } from './errors';
import { Job, type DependenciesOpts, type Dependencies, type JobHost } from './job';
import { jobJsonFromRaw, rawFromFlat } from './job-codec';
import type { Native } from './native';
import type { JobJson, JobState } from './types';
import { QueueKeys } from './utils';

/**
 * The Redis client a backend exposes: the state of its connection in
 * ioredis' words and the server's INFO, both from the engine's connection.
 * Not an ioredis client: other commands are not offered.
 */
export class ServerClient {
  private handle: Native.BindingQueue | undefined;
  private failed = false;

  constructor(private readonly nativeQueue: Promise<Native.BindingQueue>) {
    nativeQueue.then(
      (q) => {
        this.handle = q;
      },
      () => {
        this.failed = true;
      },
    );
  }

  /**
   * `connecting` until connected, `ready` while the connection is open,
   * `end` once it was closed (or could not be opened).
   */
  get status(): 'connecting' | 'ready' | 'end' {
    if (this.handle) return this.handle.connectionStatus() as 'ready' | 'end';
    return this.failed ? 'end' : 'connecting';
  }

  /** The server's `INFO` text: one section, or the default sections. */
  async info(section?: string): Promise<string> {
    if (section !== undefined && typeof section !== 'string') {
      throw new TypeError(`info: section must be a string, got ${typeof section}`);
    }
    const q = await this.nativeQueue;
    return native(q.serverInfo(section));
  }
}

/** What closes the instance a backend belongs to. */
interface Owner {
  close(): Promise<void>;
  readonly closing: Promise<void> | undefined;
}

export class QueueBackend extends EventEmitter {
  /** The connection's client (see ServerClient). */
  readonly client: Promise<ServerClient>;
  private readonly queueKeys: QueueKeys;
  private readonly host: JobHost;
  /** Siblings by qualified name, so reading a flow opens one handle per queue. */
  private readonly siblings: Map<string, QueueBackend>;

  /**
   * A backend of queue `name` under `prefix` over `nativeQueue`; with
   * `owner`, closing the backend closes the owner (a sibling has none).
   */
  constructor(
    readonly prefix: string,
    readonly name: string,
    private readonly nativeQueue: Promise<Native.BindingQueue>,
    private readonly owner?: Owner,
    siblings?: Map<string, QueueBackend>,
  ) {
    super();
    this.queueKeys = new QueueKeys(prefix);
    const serverClient = new ServerClient(nativeQueue);
    this.client = nativeQueue.then(() => serverClient);
    // An unread rejection here is reported by the owner already.
    this.client.catch(() => undefined);
    this.siblings = siblings ?? new Map();
    const qualifiedName = this.qualifiedName;
    this.host = {
      name,
      qualifiedName,
      opts: { prefix },
      _queue: () => nativeQueue,
      emit: (event, ...args) => this.emit(event, ...args),
    };
  }

  // ---- Identity -----------------------------------------------------------

  /** `{prefix}:{name}`. */
  get qualifiedName(): string {
    return this.queueKeys.getQueueQualifiedName(this.name);
  }

  /** The queue's keys by suffix, as `queue.keys`. */
  get keys(): Record<string, string> {
    return this.queueKeys.getKeys(this.name);
  }

  /** `{prefix}:{name}:{type}`. */
  toKey(type: string): string {
    return this.queueKeys.toKey(this.name, type);
  }

  /**
   * A child's key `{prefix}:{queue}:{id}` split into its parts; the prefix
   * is everything before the last two colons, so it may contain colons.
   */
  parseNodeKey(key: string): { prefix: string; queueName: string; id: string } {
    if (typeof key !== 'string') {
      throw new TypeError(`parseNodeKey: key must be a string, got ${typeof key}`);
    }
    const last = key.lastIndexOf(':');
    const previous = last > 0 ? key.lastIndexOf(':', last - 1) : -1;
    if (last === -1 || previous === -1) {
      const [prefix = '', queueName = '', id = ''] = key.split(':');
      return { prefix, queueName, id };
    }
    return { prefix: key.slice(0, previous), queueName: key.slice(previous + 1, last), id: key.slice(last + 1) };
  }

  /** The connection name BullMQ gives the queue's clients: `{prefix}:{base64(name)}{suffix}`. */
  clientName(suffix = ''): string {
    return `${this.prefix}:${Buffer.from(this.name).toString('base64')}${suffix}`;
  }

  /**
   * A backend of another queue on this connection (BullMQ's FlowProducer
   * reads each node of a flow through one); closing it closes nothing.
   */
  forQueue(queueName: string, prefix?: string): QueueBackend {
    const p = prefix ?? this.prefix;
    const key = `${p}:${queueName}`;
    if (p === this.prefix && queueName === this.name) return this;
    let sibling = this.siblings.get(key);
    if (!sibling) {
      const handle = this.nativeQueue.then((q) => native(q.sibling(p, queueName)));
      handle.catch(() => undefined);
      sibling = new QueueBackend(p, queueName, handle, undefined, this.siblings);
      this.siblings.set(key, sibling);
    }
    return sibling;
  }

  // ---- Lifecycle ------------------------------------------------------------

  /** Resolves once connected. */
  async waitUntilReady(): Promise<void> {
    await this.nativeQueue;
  }

  /** Set once the owner began closing. */
  get closing(): Promise<void> | undefined {
    return this.owner?.closing;
  }

  /** Closes the owner (the Queue, Worker or FlowProducer); a sibling's close does nothing. */
  async close(): Promise<void> {
    if (this.owner) await this.owner.close();
  }

  /** As close: the engine's connection closes once no command is in flight. */
  async disconnect(): Promise<void> {
    await this.close();
  }

  // ---- Reads ----------------------------------------------------------------

  /** A job with only its id, whose methods do the reads below. */
  private job(jobId: string): Job {
    return new Job(this.host, '', undefined, {}, jobId);
  }

  /** The job as BullMQ's JobJson, or undefined when it does not exist. */
  async getJobData(jobId: string): Promise<JobJson | undefined> {
    const q = await this.nativeQueue;
    const raw = await native(q.getJob(String(jobId)));
    return raw ? jobJsonFromRaw(rawFromFlat(raw.fields)) : undefined;
  }

  getState(jobId: string): Promise<JobState | 'unknown'> {
    return this.job(jobId).getState();
  }

  async isJobInState(state: string, jobId: string): Promise<boolean> {
    return (await this.getState(jobId)) === state;
  }

  getDependencies(jobId: string, opts: DependenciesOpts = {}): Promise<Dependencies> {
    return this.job(jobId).getDependencies(opts);
  }

  /** Counts of the job's children of each kind, in the order given. */
  async getDependencyCounts(jobId: string, types: string[]): Promise<number[]> {
    const q = await this.nativeQueue;
    return native(q.getDependencyCounts(String(jobId), types));
  }

  /** The stored return values of the job's completed children (JSON text), by child key. */
  async getProcessedChildrenValues(jobId: string): Promise<Record<string, string>> {
    const q = await this.nativeQueue;
    return pairs(await native(q.getChildrenValues(String(jobId))));
  }

  getIgnoredChildrenFailures(jobId: string): Promise<Record<string, string>> {
    return this.job(jobId).getIgnoredChildrenFailures();
  }

  async getJobLogs(jobId: string, start: number, end: number, asc: boolean): Promise<{ logs: string[]; count: number }> {
    const q = await this.nativeQueue;
    return native(q.getJobLogs(String(jobId), start, end, asc));
  }
}

function pairs(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}
