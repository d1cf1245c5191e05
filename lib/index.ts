/**
 * bullmq-native: BullMQ's API on a Rust engine. Swap `from 'bullmq'` for
 * `from 'bullmq-native'`.
 */
export { Job } from './job';
export type { JobHost } from './job';
export { Queue } from './queue';
export { JobScheduler } from './job-scheduler';
export type { ObliterateOpts, PromoteJobsOpts, RetryJobsOpts } from './queue';
export { QueueEvents } from './queue-events';
export type { QueueEventsListener, QueueEventsOptions } from './queue-events';
export { Worker } from './worker';
export type { Processor } from './worker';
export type { SandboxedJob, SandboxedOptions } from './sandbox';
export {
  DelayedError,
  RateLimitError,
  UnrecoverableError,
  WaitingChildrenError,
  WaitingError,
} from './errors';
export type { ConnectionOptions, RedisConnectionOptions } from './connection';
export * from './types';
