/**
 * The parent's handle on one sandbox child: a forked process or a worker
 * thread running child-main, with one channel of tagged messages.
 */
import { type ChildProcess, fork, type ForkOptions } from 'node:child_process';
import type { Readable } from 'node:stream';
import { Worker as Thread, type WorkerOptions as ThreadOptions } from 'node:worker_threads';

import { fromPlainError, isTagged, TAG, toPlainError, type ToChildBody, type ToParent } from './protocol';

/** How sandbox children are started (BullMQ's option names). */
export interface SandboxedOptions {
  /** Run processors in worker threads instead of child processes (default false). */
  useWorkerThreads?: boolean;
  /** Options for `child_process.fork` when child processes are used. */
  workerForkOptions?: ForkOptions;
  /** Options for `new Worker` of `node:worker_threads` when threads are used. */
  workerThreadsOptions?: ThreadOptions;
}

/** Who hears from a child: the job it runs, or its initialization. */
export interface ChildListener {
  message(msg: ToParent): void;
  /** The child is gone; every message it sent was delivered before. */
  exit(code: number | null, signal: string | null): void;
  /** The process or thread reported an error (spawn failure, uncaught error in a thread). */
  error(err: Error): void;
}

/** Node's exit codes, for failures while a child starts. */
const EXIT_CODES: Record<number, string> = {
  1: 'Uncaught Fatal Exception',
  3: 'Internal JavaScript Parse Error',
  4: 'Internal JavaScript Evaluation Failure',
  5: 'Fatal Error',
  6: 'Non-function Internal Exception Handler',
  7: 'Internal Exception Handler Run-Time Failure',
  9: 'Invalid Argument',
  10: 'Internal JavaScript Run-Time Failure',
  12: 'Invalid Debug Argument',
  13: 'Unfinished Top-Level Await',
};

function describeExitCode(code: number | null): string {
  const c = code !== null && code > 128 ? code - 128 : code;
  return (c !== null && EXIT_CODES[c]) || `Unknown exit code ${code}`;
}

/** Flags of the parent that must not reach a forked child: code to evaluate, test and watch modes. */
const PARENT_ONLY_FLAGS = /^(-e|--eval|-p|--print|--input-type|--test|--watch|--watch-path|--watch-preserve-output)(=|$)/;
const FLAGS_WITH_VALUE = new Set(['-e', '--eval', '-p', '--print', '--input-type', '--watch-path']);

/**
 * The parent's execArgv for a forked child (as BullMQ passes it), without
 * the parent-only flags (a child given the parent's `-e` code would run it
 * instead of the sandbox) and with debugger flags moved to a free port (two
 * processes cannot listen on the same one).
 */
export function childExecArgv(execArgv: string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i];
    if (PARENT_ONLY_FLAGS.test(arg)) {
      if (FLAGS_WITH_VALUE.has(arg)) i++;
      continue;
    }
    out.push(arg.startsWith('--inspect') ? `${arg.split('=')[0]}=0` : arg);
  }
  return out;
}

function forward(from: Readable | null | undefined, to: NodeJS.WriteStream): void {
  from?.on('data', (chunk: Buffer) => to.write(chunk));
}

export class SandboxChild {
  private readonly proc?: ChildProcess;
  private readonly thread?: Thread;
  /** Set once the child exited and its channel is closed. */
  exited = false;
  /** Must not run another job (it failed fatally or is stopping). */
  retired = false;
  /** Resolves when the child is gone. */
  readonly gone: Promise<void>;
  private listener?: ChildListener;

  constructor(mainFile: string, opts: SandboxedOptions) {
    let exitCode: number | null = null;
    let signalCode: string | null = null;
    let markGone!: () => void;
    this.gone = new Promise((resolve) => (markGone = resolve));
    const finish = () => {
      if (this.exited) return;
      this.exited = true;
      this.retired = true;
      const listener = this.listener;
      this.listener = undefined;
      listener?.exit(exitCode, signalCode);
      markGone();
    };
    const onMessage = (msg: unknown) => {
      if (isTagged<ToParent>(msg)) this.dispatch(msg);
    };
    const onError = (err: Error) => {
      this.retired = true;
      this.listener?.error(err);
    };
    if (opts.useWorkerThreads) {
      const threadOpts: ThreadOptions = { ...opts.workerThreadsOptions };
      const thread = new Thread(mainFile, threadOpts);
      this.thread = thread;
      // Without stdout/stderr: true, Node pipes a thread's output to ours.
      if (threadOpts.stdout) forward(thread.stdout, process.stdout);
      if (threadOpts.stderr) forward(thread.stderr, process.stderr);
      thread.on('message', onMessage);
      thread.on('error', onError);
      // A thread delivers its pending messages before 'exit'.
      thread.on('exit', (code) => {
        exitCode = code;
        finish();
      });
    } else {
      const proc = fork(mainFile, [], { execArgv: childExecArgv(), stdio: 'pipe', ...opts.workerForkOptions });
      this.proc = proc;
      forward(proc.stdout, process.stdout);
      forward(proc.stderr, process.stderr);
      proc.on('message', onMessage);
      proc.on('error', (err) => {
        onError(err);
        // It never started (e.g. a bad execPath): no 'exit' will come.
        if (proc.pid === undefined) {
          if (proc.connected) proc.disconnect();
          finish();
        }
      });
      // Messages sent before exiting may still be in the channel: the child
      // is gone once it exited and the channel closed.
      let exitSeen = false;
      proc.on('exit', (code, signal) => {
        exitCode = code;
        signalCode = signal;
        exitSeen = true;
        if (!proc.connected) finish();
      });
      proc.on('disconnect', () => {
        if (exitSeen) finish();
      });
    }
  }

  /** The process id, or the thread id of a worker thread. */
  get id(): number {
    return this.thread ? this.thread.threadId : (this.proc?.pid ?? -1);
  }

  /** Routes the child's messages to `listener` until it is replaced or removed. */
  listen(listener: ChildListener | undefined): void {
    this.listener = listener;
  }

  private dispatch(msg: ToParent): void {
    if (this.listener) {
      this.listener.message(msg);
    } else if (msg.type === 'call') {
      this.replyStale(msg.call);
    }
  }

  /** Answers a job call whose job is no longer running in this child. */
  replyStale(call: number): void {
    const error = toPlainError(new Error('The job is no longer being processed by this sandbox child'));
    this.send({ type: 'reply', call, ok: false, error }).catch(() => undefined);
  }

  /** Sends a message; rejects when the child cannot receive it. */
  send(body: ToChildBody): Promise<void> {
    const msg = { ...body, tag: TAG };
    return new Promise((resolve, reject) => {
      try {
        if (this.thread) {
          this.thread.postMessage(msg);
          resolve();
        } else if (this.proc && this.proc.connected) {
          this.proc.send(msg, (err) => (err ? reject(err) : resolve()));
        } else {
          reject(new Error('The sandbox child has exited'));
        }
      } catch (err) {
        reject(err);
      }
    });
  }

  /** Loads the processor file in the child; rejects when it cannot. */
  init(file: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.listen(undefined);
        if (err) reject(err);
        else resolve();
      };
      this.listen({
        message: (msg) => {
          if (msg.type === 'ready') done();
          else if (msg.type === 'init-failed') done(fromPlainError(msg.error));
        },
        exit: (code, signal) =>
          done(new Error(`Error initializing child: ${describeExitCode(code)} and signal ${signal}`)),
        error: (err) => done(err),
      });
      this.send({ type: 'init', file }).catch((err: Error) => done(err));
    });
  }

  /**
   * Lets the child finish the job at hand and exit; kills it when it is
   * still there after `timeoutMs`. Resolves once it is gone.
   */
  async stop(timeoutMs: number): Promise<void> {
    this.retired = true;
    if (this.exited) return;
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      await this.send({ type: 'stop' }).catch(() => this.kill());
      await this.gone;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Ends the child at once. */
  kill(): void {
    this.retired = true;
    if (this.exited) return;
    if (this.thread) {
      this.thread.terminate().catch(() => undefined);
    } else {
      this.proc?.kill('SIGKILL');
    }
  }
}
