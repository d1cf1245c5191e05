/**
 * Sandboxed processors: a processor given as a file runs in a pool of child
 * processes (or worker threads with `useWorkerThreads`), one job per child
 * at a time, children reused across jobs. The processor gets a stand-in job
 * whose progress, log and data calls are carried out on the real Job here.
 */
import { existsSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL, URL } from 'node:url';

import type { Job } from '../job';
import type { JobJson, JobProgress, JobsOptions } from '../types';
import { type ChildListener, SandboxChild, type SandboxedOptions } from './child';
import {
  fromPlainArgs,
  fromPlainError,
  JOB_METHODS,
  type SandboxJobJson,
  toPlainError,
  toPlainReason,
  type ToParent,
} from './protocol';

export type { SandboxedOptions } from './child';

/** A sandboxed processor: call it like a processor function; `close()` ends its children. */
export type SandboxedProcessor = ((job: Job, token?: string, signal?: AbortSignal) => Promise<any>) & {
  close(): Promise<void>;
};

/** The job a sandboxed processor receives (BullMQ's SandboxedJob). */
export interface SandboxedJob<T = any, R = any> extends Omit<JobJson, 'data' | 'opts' | 'returnvalue'> {
  data: T;
  opts: JobsOptions;
  queueName: string;
  queueQualifiedName: string;
  prefix: string;
  /** The job's return value as stored (parsed). */
  returnValue: R;
  updateProgress(value: JobProgress): Promise<void>;
  log(row: string): Promise<number>;
  updateData(data: T): Promise<void>;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
  moveToWait(token?: string): Promise<number>;
  moveToWaitingChildren(token?: string, opts?: { child?: { id: string; queue: string } }): Promise<boolean>;
  getChildrenValues<CT = any>(): Promise<{ [jobKey: string]: CT }>;
  getIgnoredChildrenFailures(): Promise<{ [jobKey: string]: string }>;
  getDependenciesCount(opts?: {
    failed?: boolean;
    ignored?: boolean;
    processed?: boolean;
    unprocessed?: boolean;
  }): Promise<{ failed?: number; ignored?: number; processed?: number; unprocessed?: number }>;
  getDependencies(opts?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

/** How long a closing child may take to finish its job before it is killed (as BullMQ). */
const CHILD_KILL_TIMEOUT = 30000;

/** Extensions taken as they are; any other path gets `.js` appended (as BullMQ). */
const PROCESSOR_EXTENSIONS = ['.js', '.ts', '.flow', '.cjs', '.mjs'];

/**
 * The processor file as a file: URL the child can import. Accepts a path
 * (relative to the working directory; `.js` appended when it has no known
 * extension), a file: URL or a `file:` URL string. Throws BullMQ's errors for
 * a file that does not exist.
 */
export function resolveProcessorFile(processorFile: string | URL): string {
  if (processorFile instanceof URL) {
    if (processorFile.protocol !== 'file:') {
      throw new TypeError(`The processor URL must be a file: URL, got ${processorFile.href}`);
    }
    if (!existsSync(processorFile)) {
      throw new Error(`URL ${processorFile.href} does not exist in the local file system`);
    }
    return processorFile.href;
  }
  if (typeof processorFile !== 'string' || processorFile === '') {
    throw new TypeError('The processor file must be a path or a file: URL');
  }
  if (processorFile.startsWith('file:')) {
    return resolveProcessorFile(new URL(processorFile));
  }
  const file = processorFile + (PROCESSOR_EXTENSIONS.includes(extname(processorFile)) ? '' : '.js');
  if (!existsSync(file)) {
    throw new Error(`File ${file} does not exist`);
  }
  return pathToFileURL(resolve(file)).href;
}

/** The job as sent to a child: BullMQ's JobJson plus the queue's names. */
function sandboxJobJson(job: Job): SandboxJobJson {
  return job.asJSONSandbox() as unknown as SandboxJobJson;
}

/** Children of one processor file: idle ones are reused, new ones started when none is idle. */
class ChildPool {
  private idle: SandboxChild[] = [];
  private readonly all = new Set<SandboxChild>();
  closed = false;

  constructor(
    private readonly mainFile: string,
    private readonly processorUrl: string,
    private readonly opts: SandboxedOptions,
  ) {}

  async retain(): Promise<SandboxChild> {
    for (let child = this.idle.pop(); child; child = this.idle.pop()) {
      if (!child.retired) return child;
    }
    const child = new SandboxChild(this.mainFile, this.opts);
    this.all.add(child);
    void child.gone.then(() => {
      this.all.delete(child);
      this.idle = this.idle.filter((c) => c !== child);
    });
    try {
      await child.init(this.processorUrl);
    } catch (err) {
      child.kill();
      throw this.closed ? closedError() : err;
    }
    if (this.closed) {
      void child.stop(CHILD_KILL_TIMEOUT);
      throw closedError();
    }
    return child;
  }

  release(child: SandboxChild): void {
    if (child.exited) return;
    if (this.closed || child.retired) {
      void child.stop(CHILD_KILL_TIMEOUT);
      return;
    }
    this.idle.push(child);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.idle = [];
    await Promise.all([...this.all].map((child) => child.stop(CHILD_KILL_TIMEOUT)));
  }
}

function closedError(): Error {
  return new Error('The sandboxed processor is closed');
}

let runSeq = 0;

/**
 * Runs `job` in `child`: settles with the processor's result or error once
 * every job call the child made has been carried out.
 */
function runInChild(child: SandboxChild, job: Job, token: string | undefined, signal?: AbortSignal): Promise<any> {
  const run = ++runSeq;
  const pending = new Set<Promise<unknown>>();
  return new Promise((resolvePromise, rejectPromise) => {
    let settled = false;
    const onAbort = () => {
      child.send({ type: 'cancel', run, reason: toPlainReason(signal?.reason) }).catch(() => undefined);
    };
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      child.listen(undefined);
      signal?.removeEventListener('abort', onAbort);
      void Promise.allSettled([...pending]).then(outcome);
    };
    const fail = (err: Error) => settle(() => rejectPromise(err));

    const onCall = (msg: Extract<ToParent, { type: 'call' }>) => {
      const done = (async () => {
        if (!(JOB_METHODS as readonly string[]).includes(msg.method)) {
          throw new TypeError(`job.${String(msg.method)} cannot be called from a sandboxed processor`);
        }
        const method = (job as unknown as Record<string, unknown>)[msg.method];
        if (typeof method !== 'function') {
          throw new Error(`job.${msg.method} is not supported by bullmq-native yet`);
        }
        return method.apply(job, fromPlainArgs(msg.args));
      })().then(
        (value) => child.send({ type: 'reply', call: msg.call, ok: true, value: value === undefined ? null : value }),
        (err) => child.send({ type: 'reply', call: msg.call, ok: false, error: toPlainError(err) }),
      );
      const tracked = done.catch(() => undefined).finally(() => pending.delete(tracked));
      pending.add(tracked);
    };

    const listener: ChildListener = {
      message: (msg) => {
        if (msg.type === 'call') {
          if (msg.run === run && !settled) onCall(msg);
          else child.replyStale(msg.call);
        } else if (msg.type === 'completed' && msg.run === run) {
          settle(() => resolvePromise(msg.value));
        } else if (msg.type === 'failed' && msg.run === run) {
          if (msg.fatal) child.retired = true;
          fail(fromPlainError(msg.error));
        }
      },
      exit: (code, exitSignal) => fail(new Error(`Unexpected exit code: ${code} signal: ${exitSignal}`)),
      error: (err) => fail(err),
    };
    child.listen(listener);
    const aborted = signal?.aborted ? toPlainReason(signal.reason) : undefined;
    child.send({ type: 'start', run, job: sandboxJobJson(job), token, aborted }).catch((err: Error) => {
      // A child that cannot be reached is of no further use.
      child.retired = true;
      fail(err);
    });
    if (signal && !aborted) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A processor that runs `processorFile` in a sandbox: a child process
 * (`child_process.fork`, with `workerForkOptions`) or, with
 * `useWorkerThreads`, a worker thread (with `workerThreadsOptions`).
 *
 * The file exports the processor as CommonJS (`module.exports = fn`) or as
 * an ES module's default export (`.js`, `.cjs`, `.mjs`; a path or a file:
 * URL). It is called as `(job, token, signal)` with a stand-in job
 * (BullMQ's SandboxedJob): data, id, name, opts, attemptsMade, ... and
 * updateProgress, log, updateData, moveToDelayed, moveToWait, ..., which run
 * on the real Job in this process, so Redis and events are updated.
 *
 * An error thrown by the processor rejects with an error of the same class
 * name (UnrecoverableError stays one), message, stack and properties. A
 * child that exits mid-job rejects with `Unexpected exit code: <code>
 * signal: <signal>` and is replaced. Aborting `signal` aborts the signal the
 * processor got (the child is not killed). `close()` lets busy children
 * finish their job, ends every child (killing those still busy after 30s)
 * and makes later calls reject.
 *
 * Throws when the file does not exist.
 */
export function createSandboxedProcessor(processorFile: string | URL, opts: SandboxedOptions = {}): SandboxedProcessor {
  const processorUrl = resolveProcessorFile(processorFile);
  const mainFile = join(__dirname, 'child-main.js');
  if (!existsSync(mainFile)) {
    throw new Error(`bullmq-native is missing its sandbox runner ${mainFile}`);
  }
  const pool = new ChildPool(mainFile, processorUrl, { ...opts });
  const processor = async (job: Job, token?: string, signal?: AbortSignal): Promise<any> => {
    if (pool.closed) throw closedError();
    const child = await pool.retain();
    try {
      return await runInChild(child, job, token, signal);
    } finally {
      pool.release(child);
    }
  };
  return Object.assign(processor, { close: () => pool.close() });
}
