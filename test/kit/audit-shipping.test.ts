/**
 * Audit shipping (issue 15): committed audit records reach Loki (push API) and an OTLP/HTTP collector in
 * chain order, with the chain fields; a sink that is down costs LOW/MEDIUM records (counted, then a gap
 * marker) but never a call; a required sink that is saturated refuses HIGH calls until it recovers.
 * Everything goes through the real HTTP server, the real file sink and the SDK client.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  type SuiteRuntime,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { afterEach, describe, expect, it } from 'vitest';
import { echoServer } from '../fixtures/echo-server.js';
import { staticTokens } from '../fixtures/kit-harness.js';
import { type OtlpCollector, startOtlpCollector } from '../fixtures/otlp-collector.js';
import { LokiSimulator } from '../simulators/loki.js';

const AGENT_SPIFFE = 'spiffe://ravenhelm.local/agent/oncall';
// Token values look like secrets: none of them may reach a shipped body.
const WRITER = 'tok-writer-SECRET-7f3a';
const ADMIN = 'tok-admin-SECRET-91cc';
const tokens = {
  [WRITER]: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] },
  [ADMIN]: { subject: 'admin', scopes: ['mcp:echo:admin'], roles: [], spiffeId: AGENT_SPIFFE },
};
const POLICY = `servers:\n  echo:\n    spiffe:\n      default: ['${AGENT_SPIFFE}']\n`;

interface Shipping {
  rt: SuiteRuntime;
  http: HttpServerHandle;
  calls: { tool: string; args: unknown }[];
  auditFile: string;
  client(token: string): Promise<Client>;
  /** The local log's lines, in order. */
  lines(): string[];
  stop(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startShipping(env: Record<string, string>): Promise<Shipping> {
  const dir = mkdtempSync(join(tmpdir(), 'rh-ship-'));
  const auditFile = join(dir, 'audit.jsonl');
  const policyFile = join(dir, 'policy.yaml');
  (await import('node:fs')).writeFileSync(policyFile, POLICY);
  const services = { calls: [] as { tool: string; args: unknown }[], backendUp: true };
  const def = echoServer(services);
  const config = loadConfig({
    backendSchema: def.backendConfig,
    env: {
      RAVENHELM_HTTP_PORT: '0',
      RAVENHELM_CALL_TIMEOUT_MS: '5000',
      RAVENHELM_AUDIT_FILE: auditFile,
      RAVENHELM_INSTANCE_ID: 'replica-a',
      RAVENHELM_RATE_LIMIT_POINTS: '1000',
      RAVENHELM_AUDIT_SHIP_FLUSH_INTERVAL_MS: '5',
      RAVENHELM_AUDIT_SHIP_MAX_BACKOFF_MS: '20',
      ...env,
    },
    overrides: { policyFile },
  });
  const rt = await createRuntime(def as never, config, silentLogger());
  const http = await startHttp(rt, {
    authenticator: staticTokens(tokens),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
  });
  const clients: Client[] = [];
  const h: Shipping = {
    rt,
    http,
    calls: services.calls,
    auditFile,
    async client(token) {
      const c = new Client({ name: 'ship-test', version: '1.0.0' });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(http.url), {
          requestInit: { headers: { authorization: `Bearer ${token}` } },
        }),
      );
      clients.push(c);
      return c;
    },
    lines: () => readFileSync(auditFile, 'utf8').split('\n').filter(Boolean),
    async stop() {
      for (const c of clients) await c.close();
      await http.shutdown();
      await rt.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cleanups.push(() => h.stop());
  return h;
}

async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>): Promise<T> {
  for (let i = 0; i < 1000; i++) {
    const v = await probe();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function metric(rt: SuiteRuntime, name: string, labels: Record<string, string>): Promise<number> {
  const m = rt.metrics.registry.getSingleMetric(name);
  if (!m) throw new Error(`no metric ${name}`);
  const values = (await m.get()).values;
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Every line Loki holds, with its labels, in timestamp order. */
function lokiEntries(loki: LokiSimulator) {
  return [...loki.streams.values()]
    .flatMap((s) => s.entries.map((e) => ({ ns: e.ns, line: e.line, labels: s.labels })))
    .sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
}

async function startLoki(): Promise<LokiSimulator> {
  const loki = await new LokiSimulator().start();
  cleanups.push(() => loki.close());
  return loki;
}

async function startCollector(): Promise<OtlpCollector> {
  const c = await startOtlpCollector();
  cleanups.push(() => c.close());
  return c;
}

/** Checks that shipped lines are the log's records, in order, chained. */
function expectChained(shipped: string[], local: string[]) {
  expect(shipped).toEqual(local);
  const recs = shipped.map((l) => JSON.parse(l));
  recs.forEach((r, i) => {
    expect(r.seq).toBe(i + 1);
    if (i > 0) expect(r.prevHash).toBe(recs[i - 1].hash);
  });
}

describe('shipping to Loki', () => {
  it('pushes every committed record in chain order with the chain fields and the documented labels', async () => {
    const loki = await startLoki();
    const h = await startShipping({
      RAVENHELM_AUDIT_SHIP_LOKI_URL: loki.url,
      RAVENHELM_AUDIT_SHIP_LOKI_TENANT: 'team-ops',
    });
    const writer = await h.client(WRITER);
    for (const value of ['a', 'b', 'c']) await writer.callTool({ name: 'echo_write', arguments: { value } });
    const admin = await h.client(ADMIN);
    await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'db', newValue: 'n3w-SECRET-pw' } });
    await until('all records in Loki', () => lokiEntries(loki).length === 8 && h.lines().length === 8);
    const entries = lokiEntries(loki);
    expectChained(
      entries.map((e) => e.line),
      h.lines(),
    );
    for (const e of entries) {
      const rec = JSON.parse(e.line);
      expect(e.labels).toEqual({
        job: 'ravenhelm-audit',
        server: 'echo',
        instance: 'replica-a',
        tier: rec.tier,
        phase: rec.phase,
        ...(rec.outcome ? { outcome: rec.outcome } : {}),
      });
    }
    expect(new Set(entries.map((e) => e.labels.tier))).toEqual(new Set(['MEDIUM', 'HIGH']));
    const pushes = loki.control.requests.filter((r) => r.url.pathname === '/loki/api/v1/push');
    expect(pushes.length).toBeGreaterThan(0);
    for (const p of pushes) {
      expect(p.headers['x-scope-orgid']).toBe('team-ops');
      expect(p.headers['content-type']).toMatch(/^application\/json/);
    }
    // Counted once the push is answered: Loki may already hold the last batch while its answer is on the way.
    await until(
      'every record counted as shipped',
      async () => (await metric(h.rt, 'ravenhelm_audit_ship_records_total', { sink: 'loki', outcome: 'shipped' })) >= 8,
    );
    expect(await metric(h.rt, 'ravenhelm_audit_ship_records_total', { sink: 'loki', outcome: 'shipped' })).toBe(8);
  });

  it('ships no secret: sensitive arguments, secret-looking fields and bearer tokens stay out of every body', async () => {
    const loki = await startLoki();
    const collector = await startCollector();
    const h = await startShipping({
      RAVENHELM_AUDIT_SHIP_LOKI_URL: loki.url,
      RAVENHELM_AUDIT_SHIP_OTLP_URL: `${collector.url}/v1/logs`,
    });
    const writer = await h.client(WRITER);
    await writer.callTool({
      name: 'echo_write',
      arguments: { value: 'v', apiToken: 'api-SECRET-55', password: 'pw-SECRET-66' },
    });
    const admin = await h.client(ADMIN);
    await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'db', newValue: 'n3w-SECRET-pw' } });
    await until('records at both sinks', () => lokiEntries(loki).length === 4 && collector.logs.length > 0);
    await until('all records at the collector', async () => {
      const n = collector.logs.flatMap(logRecords).length;
      return n === 4;
    });
    const shipped = [
      ...loki.control.requests.map((r) => `${JSON.stringify(r.headers)}${r.body}`),
      ...collector.raw,
    ].join('\n');
    expect(shipped).toContain('echo_write'); // the bodies are there...
    expect(shipped).not.toMatch(/SECRET/); // ...without any secret
    expect(h.lines().join('\n')).not.toMatch(/SECRET/);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: OTLP JSON bodies as the collector received them
function logRecords(body: any): any[] {
  // biome-ignore lint/suspicious/noExplicitAny: same
  return body.resourceLogs.flatMap((rl: any) => rl.scopeLogs.flatMap((sl: any) => sl.logRecords));
}

describe('shipping to an OTLP collector', () => {
  it('exports the same records as OTLP/HTTP JSON logs, in order, with seq and hash attributes', async () => {
    const collector = await startCollector();
    const h = await startShipping({ RAVENHELM_AUDIT_SHIP_OTLP_URL: `${collector.url}/v1/logs` });
    const writer = await h.client(WRITER);
    for (const value of ['a', 'b']) await writer.callTool({ name: 'echo_write', arguments: { value } });
    await until('records at the collector', () => collector.logs.flatMap(logRecords).length === 4);
    const records = collector.logs.flatMap(logRecords);
    expectChained(
      records.map((r) => r.body.stringValue),
      h.lines(),
    );
    const attr = (r: { attributes: { key: string; value: Record<string, unknown> }[] }, key: string) =>
      r.attributes.find((a) => a.key === key)?.value;
    records.forEach((r, i) => {
      const rec = JSON.parse(r.body.stringValue);
      expect(attr(r, 'ravenhelm.audit.seq')).toEqual({ intValue: String(i + 1) });
      expect(attr(r, 'ravenhelm.audit.hash')).toEqual({ stringValue: rec.hash });
      expect(attr(r, 'mcp.tool.name')).toEqual({ stringValue: 'echo_write' });
      expect(r.timeUnixNano).toBe(`${Date.parse(rec.time)}000000`);
    });
    // biome-ignore lint/suspicious/noExplicitAny: OTLP JSON
    const resource = (collector.logs[0] as any).resourceLogs[0].resource.attributes;
    expect(resource).toContainEqual({ key: 'service.instance.id', value: { stringValue: 'replica-a' } });
    expect(resource).toContainEqual({ key: 'service.name', value: { stringValue: 'ravenhelm-mcp-echo' } });
  });
});

describe('back-pressure', () => {
  it('a sink that is down costs no call: LOW/MEDIUM drops are counted and a gap marker is shipped on recovery', async () => {
    const loki = await startLoki();
    loki.control.fail = { status: 503, text: 'Ingester is unavailable' };
    const h = await startShipping({
      RAVENHELM_AUDIT_SHIP_LOKI_URL: loki.url,
      RAVENHELM_AUDIT_SHIP_MAX_BUFFER_RECORDS: '4',
    });
    const writer = await h.client(WRITER);
    for (let i = 0; i < 6; i++) {
      const res = await writer.callTool({ name: 'echo_write', arguments: { value: `v${i}` } });
      expect(res.isError).toBeFalsy();
    }
    expect(h.calls.filter((c) => c.tool === 'echo_write')).toHaveLength(6);
    const dropped = await metric(h.rt, 'ravenhelm_audit_ship_dropped_total', { sink: 'loki', reason: 'buffer_full' });
    expect(dropped).toBe(12 - 4);
    expect(await metric(h.rt, 'ravenhelm_audit_ship_buffer_records', { sink: 'loki' })).toBe(4);
    expect(await metric(h.rt, 'ravenhelm_audit_ship_push_failures_total', { sink: 'loki' })).toBeGreaterThan(0);

    loki.control.fail = undefined;
    await until(
      'buffer drained',
      async () => (await metric(h.rt, 'ravenhelm_audit_ship_buffer_records', { sink: 'loki' })) === 0,
    );
    const entries = lokiEntries(loki);
    const markers = entries.filter((e) => e.labels.phase === 'ship_gap').map((e) => JSON.parse(e.line));
    expect(markers).toHaveLength(1);
    expect(markers[0]).toMatchObject({
      kind: 'ravenhelm.audit.ship_gap',
      sink: 'loki',
      instance: 'replica-a',
      dropped: 8,
      droppedHigh: 0,
      fromSeq: 5,
      toSeq: 12,
      reasons: ['buffer_full'],
    });
    // What arrived plus what the marker accounts for is the whole local log.
    const records = entries.filter((e) => e.labels.phase !== 'ship_gap').map((e) => e.line);
    expect(records).toEqual(h.lines().slice(0, 4));
    // Later records flow again, continuing after the gap.
    await writer.callTool({ name: 'echo_write', arguments: { value: 'after' } });
    await until('new records shipped', () => lokiEntries(loki).length === 4 + 1 + 2);
    expect(
      lokiEntries(loki)
        .filter((e) => e.labels.phase !== 'ship_gap')
        .map((e) => JSON.parse(e.line).seq),
    ).toEqual([1, 2, 3, 4, 13, 14]);
  });

  it('a batch the sink refuses (400) is not retried forever: it becomes a counted gap and later records flow', async () => {
    const loki = await startLoki();
    loki.control.fail = { status: 400, text: 'entry too far behind' };
    const h = await startShipping({ RAVENHELM_AUDIT_SHIP_LOKI_URL: loki.url });
    const writer = await h.client(WRITER);
    await writer.callTool({ name: 'echo_write', arguments: { value: 'x' } });
    await until(
      'the batch rejected',
      async () =>
        (await metric(h.rt, 'ravenhelm_audit_ship_records_total', { sink: 'loki', outcome: 'rejected' })) === 2,
    );
    loki.control.fail = undefined;
    await writer.callTool({ name: 'echo_write', arguments: { value: 'y' } });
    await until('later records shipped', () => lokiEntries(loki).length === 3);
    const entries = lokiEntries(loki);
    const marker = JSON.parse(entries.find((e) => e.labels.phase === 'ship_gap')?.line ?? '{}');
    expect(marker).toMatchObject({ dropped: 2, fromSeq: 1, toSeq: 2, reasons: ['rejected_400'] });
    expect(entries.filter((e) => e.labels.phase !== 'ship_gap').map((e) => JSON.parse(e.line).seq)).toEqual([3, 4]);
  });

  it('refuses a HIGH call while the required sink is saturated and runs it after recovery; HIGH records are never dropped', async () => {
    const collector = await startCollector();
    collector.failWith = 503;
    const h = await startShipping({
      RAVENHELM_AUDIT_SHIP_OTLP_URL: `${collector.url}/v1/logs`,
      RAVENHELM_AUDIT_SHIP_OTLP_REQUIRED: 'true',
      RAVENHELM_AUDIT_SHIP_MAX_BUFFER_RECORDS: '4',
      // saturation, not time, is what this test is about
      RAVENHELM_AUDIT_SHIP_HIGH_MAX_LAG_MS: '3600000',
    });
    const admin = await h.client(ADMIN);
    // Not saturated yet: a HIGH call runs even though pushes fail.
    const first = await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'a', newValue: 'x' } });
    expect(first.isError).toBeFalsy();
    const writer = await h.client(WRITER);
    for (let i = 0; i < 3; i++) await writer.callTool({ name: 'echo_write', arguments: { value: `v${i}` } });
    expect(await metric(h.rt, 'ravenhelm_audit_ship_buffer_records', { sink: 'otlp' })).toBe(4);

    const refused = await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'b', newValue: 'y' } }).then(
      () => undefined,
      (err: Error & { code?: number; data?: { code?: string } }) => err,
    );
    expect(refused?.data?.code ?? refused?.message).toMatch(/ERR_AUDIT_UNAVAILABLE/);
    expect(refused?.message).toMatch(/the required audit sink otlp is saturated/);
    expect(h.calls.filter((c) => c.tool === 'echo_secret_rotate')).toHaveLength(1);
    expect(await metric(h.rt, 'ravenhelm_audit_ship_dropped_total', { tier: 'HIGH' })).toBe(0);

    collector.failWith = undefined;
    await until(
      'buffer drained',
      async () => (await metric(h.rt, 'ravenhelm_audit_ship_buffer_records', { sink: 'otlp' })) === 0,
    );
    const again = await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'b', newValue: 'y' } });
    expect(again.isError).toBeFalsy();
    expect(h.calls.filter((c) => c.tool === 'echo_secret_rotate')).toHaveLength(2);
    // The refused call's HIGH outcome record (denied... or error) is in the log and was shipped, as were both HIGH runs.
    await until(
      'everything shipped',
      () =>
        collector.logs.flatMap(logRecords).filter((r) => !r.body.stringValue.includes('ship_gap')).length ===
        h.lines().length - dropsOf(collector),
    );
    const shippedHigh = collector.logs
      .flatMap(logRecords)
      .map((r) => JSON.parse(r.body.stringValue))
      .filter((r) => r.tier === 'HIGH');
    const localHigh = h
      .lines()
      .map((l) => JSON.parse(l))
      .filter((r) => r.tier === 'HIGH');
    expect(shippedHigh.map((r) => r.seq)).toEqual(localHigh.map((r) => r.seq));
  });
});

describe('the required-sink rule over time', () => {
  it('with HIGH_MAX_LAG_MS=0, one failed push to a required sink refuses HIGH calls until a push succeeds', async () => {
    const collector = await startCollector();
    collector.failWith = 503;
    const h = await startShipping({
      RAVENHELM_AUDIT_SHIP_OTLP_URL: `${collector.url}/v1/logs`,
      RAVENHELM_AUDIT_SHIP_OTLP_REQUIRED: 'true',
      RAVENHELM_AUDIT_SHIP_HIGH_MAX_LAG_MS: '0',
    });
    const writer = await h.client(WRITER);
    await writer.callTool({ name: 'echo_write', arguments: { value: 'x' } });
    await until('a failed push', async () => (await metric(h.rt, 'ravenhelm_audit_ship_push_failures_total', {})) > 0);
    const admin = await h.client(ADMIN);
    const refused = await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'a', newValue: 'x' } }).then(
      () => undefined,
      (err: Error) => err,
    );
    expect(refused?.message).toMatch(/ERR_AUDIT_UNAVAILABLE/);
    expect(refused?.message).toMatch(/required audit sink otlp .*failed every push/);
    expect(h.calls.some((c) => c.tool === 'echo_secret_rotate')).toBe(false);
    collector.failWith = undefined;
    await until('a successful push', async () => (await metric(h.rt, 'ravenhelm_audit_ship_buffer_records', {})) === 0);
    expect(
      (await admin.callTool({ name: 'echo_secret_rotate', arguments: { name: 'a', newValue: 'x' } })).isError,
    ).toBeFalsy();
  });
});

describe('replicas', () => {
  it('two replicas ship to one Loki: each instance has its own stream set and an unbroken chain from seq 1', async () => {
    const loki = await startLoki();
    const a = await startShipping({ RAVENHELM_AUDIT_SHIP_LOKI_URL: loki.url, RAVENHELM_INSTANCE_ID: 'replica-a' });
    const b = await startShipping({ RAVENHELM_AUDIT_SHIP_LOKI_URL: loki.url, RAVENHELM_INSTANCE_ID: 'replica-b' });
    const wa = await a.client(WRITER);
    const wb = await b.client(WRITER);
    for (let i = 0; i < 3; i++) {
      await wa.callTool({ name: 'echo_write', arguments: { value: `a${i}` } });
      await wb.callTool({ name: 'echo_write', arguments: { value: `b${i}` } });
    }
    await until('both replicas shipped', () => lokiEntries(loki).length === 12);
    for (const [instance, h] of [
      ['replica-a', a],
      ['replica-b', b],
    ] as const) {
      expectChained(
        lokiEntries(loki)
          .filter((e) => e.labels.instance === instance)
          .map((e) => e.line),
        h.lines(),
      );
    }
  });
});

/** How many records the gap markers at the collector account for. */
function dropsOf(collector: OtlpCollector): number {
  return collector.logs
    .flatMap(logRecords)
    .map((r) => JSON.parse(r.body.stringValue))
    .filter((r) => r.kind === 'ravenhelm.audit.ship_gap')
    .reduce((n, m) => n + m.dropped, 0);
}
