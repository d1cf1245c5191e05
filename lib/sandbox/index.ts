/**
 * Sandboxed processors (a processor given as a file path). Placeholder until
 * the sandbox lands: creating one fails with a clear error.
 */
import type { Job } from '../job';

export interface SandboxOptions {
  useWorkerThreads?: boolean;
}

export function createSandboxedProcessor(
  path: string,
  opts: SandboxOptions = {},
): (job: Job, token?: string, signal?: AbortSignal) => Promise<unknown> {
  void path;
  void opts;
  throw new Error('sandboxed processors are not supported yet');
}
