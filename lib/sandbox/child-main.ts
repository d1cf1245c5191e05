/**
 * The program a sandbox child runs, as a forked process or a worker thread.
 * It loads the user's processor file on `init`, runs one job per `start`
 * with a job object whose methods (updateProgress, log, updateData, ...)
 * are carried out by the parent on the real Job, and reports the result.
 */
import { parentPort } from 'node:worker_threads';

import {
  fromPlainError,
  fromPlainReason,
  isTagged,
  type JobMethod,
  type PlainReason,
  type SandboxJobJson,
  TAG,
  toPlainArgs,
  toPlainError,
  type ToChild,
  type ToParentBody,
} from './protocol';

type ProcessorFn = (job: unknown, token?: string, signal?: AbortSignal) => unknown;

// tsc turns `import()` into `require()` for CommonJS output; a processor file
// may be an ES module, so keep a real dynamic import.
const importFile = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>;

const port = parentPort;

/** Sends a message to the parent; resolves once it is handed to the channel. */
async function send(body: ToParentBody): Promise<void> {
  const msg = { ...body, tag: TAG };
  if (port) {
    port.postMessage(msg);
    return;
  }
  await new Promise<void>((resolve, reject) => {
    if (!process.send || !process.connected) {
      reject(new Error('The sandbox child has no channel to its parent'));
      return;
    }
    process.send(msg, undefined, undefined, (err) => (err ? reject(err) : resolve()));
  });
}

let processor: ProcessorFn | undefined;
/** The job being run. */
interface Current {
  run: number;
  controller: AbortController;
  done?: Promise<void>;
}
let current: Current | undefined;
let callSeq = 0;
const calls = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

async function init(file: string): Promise<void> {
  try {
    const mod = await importFile(file);
    let fn = mod?.default;
    // A transpiled ES module loaded as CommonJS: `exports.default = fn`.
    if (fn && typeof fn === 'object' && typeof fn.default === 'function') fn = fn.default;
    if (typeof fn !== 'function') {
      throw new Error('No function is exported in processor file');
    }
    processor = fn as ProcessorFn;
  } catch (err) {
    // A child without a processor is of no use: report and leave.
    try {
      await send({ type: 'init-failed', error: toPlainError(err) });
    } finally {
      process.exit(1);
    }
    return;
  }
  await send({ type: 'ready' });
}

/** Asks the parent to run `method` on the real Job of run `run`. */
function callParent(run: number, method: JobMethod, args: unknown[]): Promise<any> {
  const call = ++callSeq;
  return new Promise((resolve, reject) => {
    calls.set(call, { resolve, reject });
    send({ type: 'call', run, call, method, args: toPlainArgs(args) }).catch((err: Error) => {
      calls.delete(call);
      reject(err);
    });
  });
}

function parseJson(text: unknown, fallback: unknown): unknown {
  if (typeof text !== 'string' || text === '') return fallback;
  try {
    return JSON.parse(text);
  } catch {
    return fallback;
  }
}

/** The job object a sandboxed processor receives (BullMQ's SandboxedJob). */
function sandboxedJob(json: SandboxJobJson, run: number): Record<string, unknown> {
  const job: Record<string, unknown> = {
    ...json,
    data: parseJson(json.data, {}),
    opts: json.opts ?? {},
    returnValue: parseJson(json.returnvalue, {}),
  };
  const methods: Record<JobMethod, (...args: any[]) => Promise<any>> = {
    async updateProgress(progress: unknown) {
      // Readable at once, as on a real Job.
      job.progress = progress;
      await callParent(run, 'updateProgress', [progress]);
    },
    log: (row: unknown) => callParent(run, 'log', [row]),
    async updateData(data: unknown) {
      await callParent(run, 'updateData', [data]);
      job.data = data;
    },
    async moveToDelayed(timestamp: unknown, token?: unknown) {
      await callParent(run, 'moveToDelayed', [timestamp, token]);
    },
    moveToWait: (token?: unknown) => callParent(run, 'moveToWait', [token]),
    moveToWaitingChildren: (token?: unknown, opts?: unknown) => callParent(run, 'moveToWaitingChildren', [token, opts]),
    getChildrenValues: () => callParent(run, 'getChildrenValues', []),
    getIgnoredChildrenFailures: () => callParent(run, 'getIgnoredChildrenFailures', []),
    getDependenciesCount: (opts?: unknown) => callParent(run, 'getDependenciesCount', [opts]),
    getDependencies: (opts?: unknown) => callParent(run, 'getDependencies', [opts]),
  };
  return Object.assign(job, methods);
}

function start(run: number, json: SandboxJobJson, token: string | undefined, aborted?: PlainReason): void {
  if (!processor || current) {
    send({
      type: 'failed',
      run,
      error: toPlainError(new Error('The sandbox child is not idle and cannot start a job')),
    }).catch(() => undefined);
    return;
  }
  const fn = processor;
  const controller = new AbortController();
  if (aborted) controller.abort(fromPlainReason(aborted));
  const state: Current = { run, controller };
  current = state;
  state.done = (async () => {
    let result: ToParentBody;
    try {
      const value = await fn(sandboxedJob(json, run), token, controller.signal);
      result = { type: 'completed', run, value: value === undefined ? null : value };
    } catch (err) {
      result = { type: 'failed', run, error: toPlainError(err) };
    }
    try {
      await send(result);
    } catch (err) {
      // The value could not be sent (not serializable): fail the job instead.
      await send({ type: 'failed', run, error: toPlainError(err) }).catch(() => undefined);
    } finally {
      current = undefined;
    }
  })();
}

/** Finishes the job at hand, then exits. */
async function stop(): Promise<never> {
  try {
    await current?.done;
  } finally {
    process.exit(0);
  }
}

function onMessage(msg: unknown): void {
  if (!isTagged<ToChild>(msg)) return;
  switch (msg.type) {
    case 'init':
      void init(msg.file);
      break;
    case 'start':
      start(msg.run, msg.job, msg.token ?? undefined, msg.aborted);
      break;
    case 'cancel':
      if (current && current.run === msg.run && !current.controller.signal.aborted) {
        current.controller.abort(fromPlainReason(msg.reason));
      }
      break;
    case 'reply': {
      const pending = calls.get(msg.call);
      if (!pending) break;
      calls.delete(msg.call);
      if (msg.ok) pending.resolve(msg.value);
      else pending.reject(fromPlainError(msg.error));
      break;
    }
    case 'stop':
      void stop();
      break;
  }
}

if (port) {
  port.on('message', onMessage);
} else {
  process.on('message', onMessage);
  // Without its parent the child cannot report anything.
  process.on('disconnect', () => process.exit(0));
  // As BullMQ's children: a terminating signal lets the job at hand finish.
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

// An uncaught error leaves the child in an unknown state: fail the job at
// hand with it, then exit (the parent replaces the child).
process.on('uncaughtException', (err) => {
  const run = current?.run;
  const report =
    run === undefined ? Promise.resolve() : send({ type: 'failed', run, error: toPlainError(err), fatal: true });
  report.catch(() => undefined).finally(() => process.exit(1));
});
