/**
 * Tool-call traces (issue 15): with an OTLP endpoint configured, a call through the real HTTP server and the
 * SDK client produces a server span and a child client span for its backend request, exported as OTLP/HTTP
 * JSON; the backend gets the child's traceparent; a caller's traceparent is joined.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  BackendHttp,
  createRuntime,
  createToolDefiner,
  defineServer,
  loadConfig,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { staticTokens } from '../fixtures/kit-harness.js';
import { type OtlpCollector, startOtlpCollector } from '../fixtures/otlp-collector.js';
import { listen } from '../simulators/http.js';

const TOKEN = 'tok-reader-SECRET-5d1e';
const tokens = { [TOKEN]: { subject: 'reader@example.org', scopes: ['mcp:probe:read'], roles: [] } };

interface ProbeServices {
  backend: BackendHttp;
}
const defineTool = createToolDefiner<ProbeServices>();
const probeFetch = defineTool({
  name: 'probe_fetch',
  title: 'Fetch from the backend',
  description: 'Asks the backend once and returns its status.',
  toolset: 'probe',
  tier: 'LOW',
  scopes: ['mcp:probe:read'],
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ path: z.string().max(100) }),
  output: z.object({ status: z.number() }),
  handler: async ({ path }, { backend, signal }) => {
    const res = await backend.request('GET', path, { query: { api_key: 'q-SECRET-77' }, signal });
    return { status: res.status };
  },
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startTraced(env: Record<string, string> = {}) {
  const collector = await startOtlpCollector();
  cleanups.push(() => collector.close());
  const seen: { path: string; traceparent: string | undefined }[] = [];
  const backend = await listen((req, res) => {
    seen.push({ path: req.url ?? '', traceparent: req.headers.traceparent as string | undefined });
    res.writeHead(req.url?.startsWith('/down') ? 503 : 200, { 'content-type': 'application/json' }).end('{}');
  });
  cleanups.push(() => backend.close());
  const def = defineServer({
    name: 'probe',
    version: '0.0.0',
    description: 'trace test server',
    tools: [probeFetch],
    backendConfig: z.object({}),
    createServices: () => ({
      backend: new BackendHttp({ name: 'Probe', baseUrl: backend.url, timeoutMs: 2000 }),
    }),
  });
  const dir = mkdtempSync(join(tmpdir(), 'rh-trace-'));
  const config = loadConfig({
    backendSchema: def.backendConfig,
    env: {
      RAVENHELM_HTTP_PORT: '0',
      RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
      OTEL_BSP_SCHEDULE_DELAY: '5',
      RAVENHELM_INSTANCE_ID: 'replica-t',
      ...env,
    },
  });
  const rt = await createRuntime(def as never, config, silentLogger());
  const http = await startHttp(rt, {
    authenticator: staticTokens(tokens),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
  });
  const clients: Client[] = [];
  cleanups.push(async () => {
    for (const c of clients) await c.close();
    await http.shutdown();
    await rt.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    collector,
    seen,
    rt,
    async client(headers: Record<string, string> = {}) {
      const c = new Client({ name: 'trace-test', version: '1.0.0' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(http.url), {
          requestInit: { headers: { authorization: `Bearer ${TOKEN}`, ...headers } },
        }),
      );
      clients.push(c);
      return c;
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: OTLP JSON as received
type AnySpan = any;
function spansOf(collector: OtlpCollector): AnySpan[] {
  // biome-ignore lint/suspicious/noExplicitAny: OTLP JSON as received
  return collector.traces.flatMap((b: any) =>
    // biome-ignore lint/suspicious/noExplicitAny: same
    b.resourceSpans.flatMap((rs: any) => rs.scopeSpans.flatMap((ss: any) => ss.spans)),
  );
}
const attr = (span: AnySpan, key: string) =>
  span.attributes.find((a: { key: string }) => a.key === key)?.value as Record<string, unknown> | undefined;

async function until<T>(what: string, probe: () => T | undefined | false): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('tool-call traces', () => {
  it('a call produces a server span and a backend child span; the backend gets the child context', async () => {
    const t = await startTraced();
    const client = await t.client();
    const res = await client.callTool({ name: 'probe_fetch', arguments: { path: '/thing' } });
    expect(res.structuredContent).toEqual({ status: 200 });
    const spans = await until('two spans', () => spansOf(t.collector).length >= 2 && spansOf(t.collector));
    const server = spans.find((s) => s.kind === 2);
    const child = spans.find((s) => s.kind === 3);
    expect(server.name).toBe('tools/call probe_fetch');
    expect(server.parentSpanId).toBeUndefined();
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(server.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(attr(server, 'mcp.tool.name')).toEqual({ stringValue: 'probe_fetch' });
    expect(attr(server, 'ravenhelm.tier')).toEqual({ stringValue: 'LOW' });
    expect(attr(server, 'ravenhelm.outcome')).toEqual({ stringValue: 'success' });
    expect(attr(server, 'rpc.jsonrpc.request_id')?.stringValue).toMatch(/^[0-9a-f-]{36}$/);
    expect(attr(server, 'ravenhelm.principal.hash')?.stringValue).toMatch(/^[0-9a-f]{16}$/);
    expect(BigInt(server.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));

    expect(child.traceId).toBe(server.traceId);
    expect(child.parentSpanId).toBe(server.spanId);
    expect(child.name).toBe('GET Probe');
    expect(attr(child, 'http.request.method')).toEqual({ stringValue: 'GET' });
    expect(attr(child, 'http.response.status_code')).toEqual({ intValue: '200' });
    expect(attr(child, 'url.full')?.stringValue).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/thing$/);
    expect(t.seen.at(-1)?.traceparent).toBe(`00-${server.traceId}-${child.spanId}-01`);

    // resource and no secret (the bearer token, the query's api_key, the subject in clear) in any body
    // biome-ignore lint/suspicious/noExplicitAny: OTLP JSON
    const resource = (t.collector.traces[0] as any).resourceSpans[0].resource.attributes;
    expect(resource).toContainEqual({ key: 'service.name', value: { stringValue: 'ravenhelm-mcp-probe' } });
    const all = t.collector.raw.join('\n');
    expect(all).not.toMatch(/SECRET|reader@example\.org/);
  });

  it("joins the caller's traceparent, and marks a failing backend call", async () => {
    const t = await startTraced();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const client = await t.client({ traceparent: `00-${traceId}-${parent}-01` });
    await client.callTool({ name: 'probe_fetch', arguments: { path: '/down' } });
    const spans = await until('the joined spans', () => {
      const mine = spansOf(t.collector).filter((s) => s.traceId === traceId);
      return mine.length >= 2 && mine;
    });
    const server = spans.find((s) => s.kind === 2);
    const child = spans.find((s) => s.kind === 3);
    expect(server.parentSpanId).toBe(parent);
    expect(child.parentSpanId).toBe(server.spanId);
    expect(attr(child, 'http.response.status_code')).toEqual({ intValue: '503' });
    expect(child.status).toEqual({ code: 2, message: '503' });
    expect(t.seen.at(-1)?.traceparent).toBe(`00-${traceId}-${child.spanId}-01`);
  });

  it('an unsampled caller trace is propagated but not exported', async () => {
    const t = await startTraced();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const client = await t.client({ traceparent: `00-${traceId}-b7ad6b7169203331-00` });
    await client.callTool({ name: 'probe_fetch', arguments: { path: '/quiet' } });
    expect(t.seen.at(-1)?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    // a sampled call afterwards is exported; the unsampled one never is
    const sampled = await t.client();
    await sampled.callTool({ name: 'probe_fetch', arguments: { path: '/loud' } });
    await until('the sampled spans', () => spansOf(t.collector).length >= 2);
    expect(spansOf(t.collector).some((s) => s.traceId === traceId)).toBe(false);
  });

  it('a full span queue drops (and counts) spans; the call is not slowed or failed', async () => {
    // queue of one span, exported only after a minute: the second span of the call cannot be queued
    const t = await startTraced({ OTEL_BSP_MAX_QUEUE_SIZE: '1', OTEL_BSP_SCHEDULE_DELAY: '60000' });
    const client = await t.client();
    const res = await client.callTool({ name: 'probe_fetch', arguments: { path: '/thing' } });
    expect(res.structuredContent).toEqual({ status: 200 });
    const dropped = (await t.rt.metrics.traceSpans.get()).values.find((v) => v.labels.outcome === 'dropped');
    expect(dropped?.value).toBe(1);
    expect(t.collector.traces).toHaveLength(0);
  });
});
