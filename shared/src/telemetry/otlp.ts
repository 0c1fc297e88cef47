import { safeUrl } from '../backend-http.js';

// OTLP/HTTP with the JSON encoding, written by hand so that no OpenTelemetry SDK loads at start-up.
// Spec: https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding (trace and span ids are hex
// strings, not base64; enums are integers; 64-bit integers may be decimal strings) and
// opentelemetry-proto `opentelemetry/proto/{common,resource,logs,trace}/v1/*.proto` for the field names.

export type OtlpValue = { stringValue: string } | { intValue: string } | { boolValue: boolean };
export interface OtlpKeyValue {
  key: string;
  value: OtlpValue;
}

/** OTLP attributes from a plain object; undefined values are left out, integers become intValue strings. */
export function otlpAttributes(attrs: Record<string, string | number | boolean | undefined>): OtlpKeyValue[] {
  const out: OtlpKeyValue[] = [];
  for (const [key, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    if (typeof v === 'boolean') out.push({ key, value: { boolValue: v } });
    else if (typeof v === 'number' && Number.isSafeInteger(v)) out.push({ key, value: { intValue: String(v) } });
    else out.push({ key, value: { stringValue: String(v) } });
  }
  return out;
}

/** The resource every signal of this process carries. */
export function otlpResource(serviceName: string, instanceId: string): { attributes: OtlpKeyValue[] } {
  return {
    attributes: otlpAttributes({
      'service.name': serviceName,
      'service.instance.id': instanceId,
      'telemetry.sdk.name': 'ravenhelm-kit',
      'telemetry.sdk.language': 'nodejs',
    }),
  };
}

/** Milliseconds since the epoch (fractions allowed) as an OTLP fixed64 nanosecond string. */
export function unixNano(ms: number): string {
  const whole = Math.floor(ms);
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1_000_000))).toString();
}

/**
 * Parses `name=value,name2=value2` (the OTEL_EXPORTER_OTLP_HEADERS format: values URL-encoded) or takes a
 * mapping as it is (YAML config). Throws on an entry without `=`.
 */
export function parseHeaderList(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const out: Record<string, string> = {};
  for (const part of v.split(',')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error('headers must be name=value pairs separated by commas');
    out[part.slice(0, eq).trim()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}

export type PostOutcome = { ok: true; status: number } | { ok: false; retry: boolean; status?: number; reason: string };

/**
 * POSTs one body with a deadline. Says whether a failure is worth retrying (network, timeout, 408, 429,
 * 5xx) or not (other 4xx: the receiver refuses this body and will refuse it again). Never puts the body,
 * the headers or a URL's query into the reason.
 */
export async function postWithTimeout(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<PostOutcome> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.ok) return { ok: true, status: res.status };
    const retry = res.status === 408 || res.status === 429 || res.status >= 500;
    return { ok: false, retry, status: res.status, reason: `${safeUrl(url)} answered ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why =
      e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.name ?? 'network error');
    return { ok: false, retry: true, reason: `${safeUrl(url)} unreachable (${why})` };
  }
}
