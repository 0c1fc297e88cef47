import client from 'prom-client';
import { BackendMetrics } from './backend-metrics.js';

/** Per-process metrics. Each server process owns one registry (tests may create several). */
export class Metrics {
  readonly registry = new client.Registry();
  readonly toolCalls: client.Counter<'server' | 'tool' | 'tier' | 'outcome'>;
  readonly toolDuration: client.Histogram<'server' | 'tool' | 'tier'>;
  readonly rejections: client.Counter<'server' | 'reason'>;
  readonly inFlight: client.Gauge<'server'>;
  readonly httpRequests: client.Counter<'server' | 'status'>;
  readonly httpConnectionsDropped: client.Counter<'server'>;
  readonly toolErrors: client.Counter<'server' | 'tool' | 'code'>;
  readonly auditWriteFailures: client.Counter<'server' | 'phase'>;
  // audit shipping and traces (issue 15)
  readonly auditShipRecords: client.Counter<'server' | 'sink' | 'outcome'>;
  readonly auditShipDropped: client.Counter<'server' | 'sink' | 'tier' | 'reason'>;
  readonly auditShipBuffer: client.Gauge<'server' | 'sink'>;
  readonly auditShipPushFailures: client.Counter<'server' | 'sink'>;
  readonly traceSpans: client.Counter<'server' | 'outcome'>;
  readonly redisUp: client.Gauge<'server'>;
  readonly auditRotations: client.Counter<'server' | 'outcome'>;
  // backend calls, slot waits and slots (backend-metrics.ts): handed to createServices as ctx.metrics
  readonly backends: BackendMetrics;

  constructor(
    readonly server: string,
    opts: { processMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    this.toolCalls = new client.Counter({
      name: 'ravenhelm_tool_calls_total',
      help: 'Tool calls by server, tool, tier and outcome (success, denied, error)',
      labelNames: ['server', 'tool', 'tier', 'outcome'],
      registers,
    });
    this.toolDuration = new client.Histogram({
      name: 'ravenhelm_tool_call_duration_seconds',
      help: 'Tool call duration, from authorization to result',
      labelNames: ['server', 'tool', 'tier'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.rejections = new client.Counter({
      name: 'ravenhelm_rejections_total',
      help: 'Requests refused before a tool ran, by reason (error code)',
      labelNames: ['server', 'reason'],
      registers,
    });
    this.redisUp = new client.Gauge({
      name: 'ravenhelm_redis_up',
      help: "1 while this process's Redis connection is ready, 0 while it is lost and reconnecting (no sample without Redis)",
      labelNames: ['server'],
      registers,
    });
    this.inFlight = new client.Gauge({
      name: 'ravenhelm_tool_calls_in_flight',
      help: 'Tool calls currently running',
      labelNames: ['server'],
      registers,
    });
    this.httpRequests = new client.Counter({
      name: 'ravenhelm_http_requests_total',
      help: 'HTTP requests by status code',
      labelNames: ['server', 'status'],
      registers,
    });
    this.httpConnectionsDropped = new client.Counter({
      name: 'ravenhelm_http_connections_dropped_total',
      help: 'Connections dropped on accept because http.maxConnections were open (RAVENHELM_HTTP_MAX_CONNECTIONS)',
      labelNames: ['server'],
      registers,
    });
    this.toolErrors = new client.Counter({
      name: 'ravenhelm_tool_errors_total',
      help: 'Tool calls that ran and failed, by error code (ERR_BACKEND_UNAVAILABLE, ERR_BACKEND_TIMEOUT, ...)',
      labelNames: ['server', 'tool', 'code'],
      registers,
    });
    this.auditWriteFailures = new client.Counter({
      name: 'ravenhelm_audit_write_failures_total',
      help: 'Audit records that could not be written (attempt: the call was refused; outcome: logged)',
      labelNames: ['server', 'phase'],
      registers,
    });
    this.auditShipRecords = new client.Counter({
      name: 'ravenhelm_audit_ship_records_total',
      help: 'Audit records handled by a shipping sink, by outcome (shipped; dropped: buffer full; rejected: the sink refused the batch)',
      labelNames: ['server', 'sink', 'outcome'],
      registers,
    });
    this.auditShipDropped = new client.Counter({
      name: 'ravenhelm_audit_ship_dropped_total',
      help: 'Audit records a sink will never get (they stay in the local log; a gap marker is shipped), by tier and reason',
      labelNames: ['server', 'sink', 'tier', 'reason'],
      registers,
    });
    this.auditShipBuffer = new client.Gauge({
      name: 'ravenhelm_audit_ship_buffer_records',
      help: 'Audit records waiting to be shipped to a sink',
      labelNames: ['server', 'sink'],
      registers,
    });
    this.auditShipPushFailures = new client.Counter({
      name: 'ravenhelm_audit_ship_push_failures_total',
      help: 'Pushes to an audit sink that failed (timeout, network, non-2xx); retried with capped backoff',
      labelNames: ['server', 'sink'],
      registers,
    });
    this.traceSpans = new client.Counter({
      name: 'ravenhelm_trace_spans_total',
      help: 'Trace spans by outcome (exported; dropped: export queue full; failed: the export did not succeed)',
      labelNames: ['server', 'outcome'],
      registers,
    });
    this.auditRotations = new client.Counter({
      name: 'ravenhelm_audit_rotations_total',
      help: 'Audit log rotations by outcome (rotated; resumed: finished at a start after a crash; failed: the log keeps growing)',
      labelNames: ['server', 'outcome'],
      registers,
    });
    this.backends = new BackendMetrics(server, registers);
    if (opts.processMetrics) client.collectDefaultMetrics({ register: this.registry, prefix: 'ravenhelm_' });
  }

  reject(reason: string): void {
    this.rejections.inc({ server: this.server, reason });
  }
}
