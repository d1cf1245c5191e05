// Records what a QueueEvents (ours or the official one) emits for stream
// entries: [event, ...args], in emit order. Only emits whose last argument is
// a stream id count, so connection-level events of either library are left
// out; `{event}:{jobId}` emits are included.
const STREAM_ID = /^\d+-\d+$/;

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
