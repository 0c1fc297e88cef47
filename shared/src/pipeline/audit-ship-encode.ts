import { otlpAttributes, otlpResource, unixNano } from '../telemetry/otlp.js';
import type { CommittedRecord } from './audit.js';

// How shipped audit records look on the wire: one encoder per sink kind.

/** Shipped in place of records a sink never got: "nothing silently lost". Not part of the hash chain. */
export interface GapMarker {
  kind: 'ravenhelm.audit.ship_gap';
  sink: string;
  server: string;
  instance: string;
  /** Records not shipped to this sink, and how many of them were HIGH tier. */
  dropped: number;
  droppedHigh: number;
  /** Lowest and highest seq among them: the local log of `instance` has them all. */
  fromSeq: number;
  toSeq: number;
  reasons: string[];
  time: string;
}

export interface ShipIdentity {
  server: string;
  instance: string;
  /** OTLP service.name. */
  serviceName: string;
}

export interface ShipEncoder {
  contentType: string;
  encode(records: readonly CommittedRecord[], markers: readonly GapMarker[]): string;
}

/**
 * Loki stream labels: all low-cardinality (tool names and request ids stay in the line). `outcome` only on
 * outcome records; gap markers go to their own stream with `phase="ship_gap"`.
 */
export function lokiLabels(id: ShipIdentity, rec: CommittedRecord): Record<string, string> {
  return {
    job: 'ravenhelm-audit',
    server: id.server,
    instance: id.instance,
    tier: rec.tier,
    phase: rec.phase,
    ...(rec.outcome ? { outcome: rec.outcome } : {}),
  };
}

/** A distinct, ordered nanosecond timestamp per record: the record's millisecond plus its seq. */
function recordNs(rec: CommittedRecord): string {
  return (BigInt(Date.parse(rec.time)) * 1_000_000n + BigInt(rec.seq % 1_000_000)).toString();
}

/** Loki push API, JSON body: `{streams: [{stream: {labels}, values: [["<ns>", "<line>"]]}]}`. */
export function lokiEncoder(id: ShipIdentity): ShipEncoder {
  return {
    contentType: 'application/json',
    encode(records, markers) {
      const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
      const add = (labels: Record<string, string>, ns: string, line: string) => {
        const key = JSON.stringify(labels);
        let s = streams.get(key);
        if (!s) {
          s = { stream: labels, values: [] };
          streams.set(key, s);
        }
        s.values.push([ns, line]);
      };
      for (const m of markers) {
        add(
          { job: 'ravenhelm-audit', server: id.server, instance: id.instance, phase: 'ship_gap' },
          unixNano(Date.parse(m.time)),
          JSON.stringify(m),
        );
      }
      for (const rec of records) add(lokiLabels(id, rec), recordNs(rec), rec.line);
      return JSON.stringify({ streams: [...streams.values()] });
    },
  };
}

/** OTLP/HTTP JSON logs: one resource, one scope, one log record per audit record (body = the JSON line). */
export function otlpLogsEncoder(id: ShipIdentity): ShipEncoder {
  const resource = otlpResource(id.serviceName, id.instance);
  return {
    contentType: 'application/json',
    encode(records, markers) {
      const now = unixNano(Date.now());
      const logRecords = [
        ...markers.map((m) => ({
          timeUnixNano: unixNano(Date.parse(m.time)),
          observedTimeUnixNano: now,
          severityNumber: m.droppedHigh > 0 ? 17 : 13, // ERROR : WARN
          severityText: m.droppedHigh > 0 ? 'ERROR' : 'WARN',
          body: { stringValue: JSON.stringify(m) },
          attributes: otlpAttributes({
            'ravenhelm.audit.phase': 'ship_gap',
            'ravenhelm.audit.dropped': m.dropped,
            'ravenhelm.audit.from_seq': m.fromSeq,
            'ravenhelm.audit.to_seq': m.toSeq,
          }),
        })),
        ...records.map((rec) => ({
          timeUnixNano: unixNano(Date.parse(rec.time)),
          observedTimeUnixNano: now,
          severityNumber: rec.outcome === 'error' || rec.outcome === 'unknown' ? 13 : 9, // WARN : INFO
          severityText: rec.outcome === 'error' || rec.outcome === 'unknown' ? 'WARN' : 'INFO',
          body: { stringValue: rec.line },
          attributes: otlpAttributes({
            'ravenhelm.audit.seq': rec.seq,
            'ravenhelm.audit.hash': rec.hash,
            'ravenhelm.server': rec.server,
            'ravenhelm.tier': rec.tier,
            'ravenhelm.audit.phase': rec.phase,
            'ravenhelm.outcome': rec.outcome,
            'mcp.tool.name': rec.tool,
          }),
        })),
      ];
      return JSON.stringify({
        resourceLogs: [{ resource, scopeLogs: [{ scope: { name: 'ravenhelm.audit' }, logRecords }] }],
      });
    },
  };
}
