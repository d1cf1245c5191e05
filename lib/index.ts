/**
 * bullmq-native: BullMQ's API on a Rust engine. Swap `from 'bullmq'` for
 * `from 'bullmq-native'`.
 */
export type { QueueBackend, ServerClient } from './backend';
export { FlowProducer } from './flow-producer';
export type { FlowChildJob, FlowJob, FlowJobBase, FlowOpts, FlowQueuesOpts, JobNode, NodeOpts } from './flow-producer';
export { Job } from './job';
export type {
  DependenciesOpts,
  DependencyPageOpts,
  DependencyPageOpts as DependencyOpts,
  FlowParentKeyOpts as ParentKeyOpts,
  JobHost,
} from './job';
export { Queue } from './queue';
export {
  JobScheduler,
  LEGACY_REPEATABLE_JOBS_MIGRATION_URL,
  defaultRepeatStrategy,
  getLegacyRepeatableJobError,
  getNextMillis,
  hasLegacyRepeatableKeyShape,
  isLegacyRepeatableJobKey,
} from './job-scheduler';
export type { ObliterateOpts, PromoteJobsOpts, RetryJobsOpts } from './queue';
export { QueueEvents } from './queue-events';
export { QueueEventsProducer } from './queue-events-producer';
export type { QueueEventsListener, QueueEventsOptions } from './queue-events';
export { Worker } from './worker';
export type { Processor } from './worker';
export type { SandboxedJob, SandboxedOptions } from './sandbox';
export {
  CONNECTION_CLOSED_ERROR_MSG,
  ConnectionClosedError,
  DELAYED_ERROR,
  DelayedError,
  RATE_LIMIT_ERROR,
  RateLimitError,
  UNRECOVERABLE_ERROR,
  UnrecoverableError,
  WAITING_CHILDREN_ERROR,
  WAITING_ERROR,
  WaitingChildrenError,
  WaitingError,
} from './errors';
export { Backoffs } from './backoffs';
export type { BackoffStrategy } from './backoffs';
export { ClientType, ErrorCode, MetricNames, MetricsTime, SpanKind, TelemetryAttributes } from './enums';
export {
  BULLMQ_MAJOR_VERSION,
  DELAY_TIME_1,
  DELAY_TIME_5,
  PRIORITY_LIMIT,
  QUEUE_EVENT_SUFFIX,
  QueueKeys,
  delay,
  getParentKey,
  optsDecodeMap,
  optsEncodeMap,
} from './utils';
export { QueueBase } from './queue-base';
export { trace, withDetachedContext } from './telemetry';
export type {
  AttributeValue,
  Attributes,
  ContextManager,
  Counter,
  Exception,
  Gauge,
  Histogram,
  JobTelemetryOptions,
  Meter,
  MetricOptions,
  Span,
  SpanOptions,
  Telemetry,
  Time,
  Tracer,
} from './telemetry';
export type { ConnectionOptions, RedisConnectionOptions } from './connection';
export * from './types';
