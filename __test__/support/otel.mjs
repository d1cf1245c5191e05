// The OpenTelemetry SDK as an application sets it up (a tracer provider, the
// AsyncLocalStorage context manager, W3C propagation, a meter provider),
// recording in memory; and a normal form of recorded spans and metrics in
// which runs on different queues, by either package, compare equal.
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

export const spanExporter = new InMemorySpanExporter();

/** Hands out what the meter provider holds when asked (`collect()`). */
class TestMetricReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  async onForceFlush() {}
  async onShutdown() {}
}
export const metricReader = new TestMetricReader();

trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] }));
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new W3CTraceContextPropagator());
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [metricReader] }));

/** The spans that ended since the last call (tests of a file run one after the other). */
export function takeSpans() {
  const spans = spanExporter.getFinishedSpans();
  spanExporter.reset();
  return spans;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIMESTAMP_ATTRIBUTES = new Set(['bullmq.job.attempt_finished_timestamp', 'bullmq.job.processed.timestamp']);

/**
 * A function normalizing text of a run: its queue names become
 * `<label>`, UUIDs `<uuid>`, scheduler iteration times `<ms>`.
 */
export function normalizer(names) {
  const entries = Object.entries(names).sort((a, b) => b[1].length - a[1].length);
  return (text) => {
    let out = String(text);
    for (const [label, name] of entries) out = out.split(name).join(`<${label}>`);
    return out.replace(UUID, '<uuid>').replace(/(repeat:[^:]+:)\d+/g, '$1<ms>');
  };
}

function normalValue(key, value, norm) {
  if (TIMESTAMP_ATTRIBUTES.has(key)) return typeof value === 'number' && value > 0 ? '<ts>' : value;
  if (typeof value === 'string') return norm(value);
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'string' ? norm(v) : v));
  return value;
}

function normalAttributes(attributes, norm) {
  const out = {};
  for (const key of Object.keys(attributes).sort()) {
    if (attributes[key] === undefined) continue;
    out[key] = normalValue(key, attributes[key], norm);
  }
  return out;
}

/**
 * The spans in a form that does not depend on the run: name, kind,
 * attributes, events, whether an exception was recorded, and the parent as
 * its name and job id (`null` for a root span, `remote` for a parent that
 * was not recorded). Sorted, so the order spans ended in does not matter.
 */
export function normalSpans(spans, names) {
  const norm = normalizer(names);
  const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
  const label = (s) => norm(`${s.name}#${s.attributes['bullmq.job.id'] ?? ''}`);
  return spans
    .map((s) => {
      const parentId = s.parentSpanContext?.spanId;
      const parent = parentId ? byId.get(parentId) : undefined;
      return {
        name: norm(s.name),
        kind: s.kind,
        attributes: normalAttributes(s.attributes, norm),
        events: s.events
          .filter((e) => e.name !== 'exception')
          .map((e) => ({ name: e.name, attributes: normalAttributes(e.attributes ?? {}, norm) })),
        exception: s.events.some((e) => e.name === 'exception'),
        parent: parentId ? (parent ? label(parent) : 'remote') : null,
      };
    })
    .sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}

/** The span whose parent is `parent` (same trace, parent span id). */
export function isChildOf(child, parent) {
  return (
    child.spanContext().traceId === parent.spanContext().traceId &&
    child.parentSpanContext?.spanId === parent.spanContext().spanId
  );
}

/**
 * The metric points recorded for `queues`, normalized: instrument name,
 * description, unit, attributes, and the value (a histogram's count).
 */
export async function normalMetrics(names) {
  const norm = normalizer(names);
  const queues = Object.values(names);
  const { resourceMetrics } = await metricReader.collect();
  const points = [];
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        if (!queues.includes(point.attributes['bullmq.queue.name'])) continue;
        points.push({
          name: metric.descriptor.name,
          description: metric.descriptor.description,
          unit: metric.descriptor.unit,
          attributes: normalAttributes(point.attributes, norm),
          value: typeof point.value === 'number' ? point.value : point.value.count,
        });
      }
    }
  }
  return points.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
}
