// Helpers of the QueueEvents tests: recording what a QueueEvents emits, and
// failing a job through our worker.
const STREAM_ID = /^\d+-\d+$/;

/**
 * Records what a QueueEvents (ours or the official one) emits for stream
 * entries: [event, ...args], in emit order. Only emits whose last argument is
 * a stream id count, so connection-level events of either library are left
 * out; `{event}:{jobId}` emits are included.
 */
export function recordEmits(queueEvents) {
  const log = [];
  const emit = queueEvents.emit;
  queueEvents.emit = function (event, ...args) {
    const last = args.at(-1);
    if (typeof last === 'string' && STREAM_ID.test(last)) {
      log.push([event, ...structuredClone(args)]);
    }
    return emit.call(this, event, ...args);
  };
  return log;
}

/** The event names of a log, without the `{event}:{jobId}` copies. */
export function eventNames(log) {
  return log.map(([e]) => e).filter((e) => !e.includes(':'));
}

/**
 * Fails a job held by `token` with job.moveToFailed (no attempts left, so it
 * ends failed), emitting `failed` and `retries-exhausted`.
 */
export function failJob(_worker, job, token, reason) {
  return job.moveToFailed(new Error(reason), token, false);
}
