/**
 * The audit guarantees of the request pipeline (issue 7, items 5-8): attempt records for every call with
 * side effects, records for pathological arguments, denial aggregation, and the shutdown grace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditSink, createMemoryAuditSink, createRuntime, loadConfig, silentLogger } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { echoServer } from '../fixtures/echo-server.js';
import { callBody, rpc, startEcho } from '../fixtures/kit-harness.js';

const tokens = {
  reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] },
  writer: { subject: 'writer', clientId: 'writer-app', scopes: ['mcp:echo:write'], roles: [] },
  writer2: { subject: 'writer2', scopes: ['mcp:echo:write'], roles: [] },
};
const auth = (who: keyof typeof tokens) => ({ authorization: `Bearer ${who}` });

describe('attempt records', () => {
  it('a MEDIUM call writes its attempt record before the handler runs', async () => {
    const h = await startEcho({ tokens });
    let recordsWhenHandlerRan = -1;
    const push = h.services.calls.push.bind(h.services.calls);
    h.services.calls.push = (...items) => {
      recordsWhenHandlerRan = h.audit.records.length;
      return push(...items);
    };
    try {
      const res = await rpc(h.url, callBody('echo_write', { value: 'v1' }), auth('writer'));
      expect(res.json.result.structuredContent).toEqual({ stored: 'v1' });
      const mine = h.audit.records.filter((r) => r.tool === 'echo_write');
      expect(mine.map((r) => [r.phase, r.outcome ?? null, r.tier])).toEqual([
        ['attempt', null, 'MEDIUM'],
        ['outcome', 'success', 'MEDIUM'],
      ]);
      expect(mine[0]?.requestId).toBe(mine[1]?.requestId);
      expect(mine[0]?.args).toEqual({ value: 'v1' });
      expect(recordsWhenHandlerRan).toBe(h.audit.records.indexOf(mine[0] as never) + 1);
      // Read-only calls have no side effects to trace: outcome only.
      await rpc(h.url, callBody('echo_say', { message: 'hi' }), auth('reader'));
      expect(h.audit.records.filter((r) => r.tool === 'echo_say').map((r) => r.phase)).toEqual(['outcome']);
    } finally {
      await h.stop();
    }
  });

  it('an argument the tool does not declare is recorded by name only, its value not shown (any server)', async () => {
    // The call is refused (unknown argument), but its attempt is audited first; no `sensitive` mark or
    // secret-looking name covers an argument sent to the wrong tool, so the kit masks every undeclared one.
    const h = await startEcho({ tokens });
    try {
      const leaked = 'hunter2-Aa1!-not-for-the-log';
      const res = await rpc(
        h.url,
        callBody('echo_write', { value: 'v1', pin: leaked, nested: { v: leaked } }),
        auth('writer'),
      );
      expect(JSON.stringify(res.json)).toMatch(/unknown argument/);
      expect(JSON.stringify(res.json)).not.toContain(leaked);
      const mine = h.audit.records.filter((r) => r.tool === 'echo_write');
      expect(mine.length).toBeGreaterThan(0);
      for (const r of mine) {
        expect(r.args).toEqual({
          value: 'v1',
          pin: '[not shown: the tool has no such argument]',
          nested: '[not shown: the tool has no such argument]',
        });
      }
      expect(JSON.stringify(h.audit.records)).not.toContain(leaked);
      expect(h.services.calls.some((c) => c.tool === 'echo_write')).toBe(false);
    } finally {
      await h.stop();
    }
  });

  it('refuses a side-effecting call whose attempt record cannot be written; read-only calls still work', async () => {
    const h = await startEcho({
      tokens,
      wrapAudit: (sink): AuditSink => ({
        write: (event, opts) =>
          event.phase === 'attempt' ? Promise.reject(new Error('EIO: disk gone')) : sink.write(event, opts),
        close: () => sink.close(),
      }),
    });
    try {
      const res = await rpc(h.url, callBody('echo_write', { value: 'v1' }), auth('writer'));
      expect(res.status).toBe(503);
      expect(res.json.error.data.code).toBe('ERR_AUDIT_UNAVAILABLE');
      expect(res.json.error.message).toMatch(/echo_write was not run: the audit log cannot be written/);
      expect(h.services.calls.some((c) => c.tool === 'echo_write')).toBe(false);
      expect((await rpc(h.url, callBody('echo_noop'), auth('reader'))).status).toBe(200);
    } finally {
      await h.stop();
    }
  });

  it('writes a record for arguments nested thousands of levels deep: refused before authorization, never a 500', async () => {
    // The transport gate refuses params nested deeper than 32 levels with -32602 before authorization, rate
    // limiting or the digest run (test/kit/http-hardening.test.ts); the refusal is still audited per caller.
    const h = await startEcho({ tokens });
    try {
      const deep = `${'['.repeat(3000)}${']'.repeat(3000)}`;
      const body = (name: string) =>
        `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"${name}","arguments":{"value":${deep}}}}`;
      for (const who of ['reader', 'writer'] as const) {
        const res = await rpc(h.url, body('echo_write'), auth(who));
        expect(res.status).not.toBe(500);
        expect(res.json?.error?.code).toBe(-32602);
      }
      const records = h.audit.records.filter((r) => r.tool === 'echo_write');
      expect(records.map((r) => [r.principal.subject, r.phase, r.outcome ?? null, r.errorCode ?? null])).toEqual([
        ['reader', 'outcome', 'denied', 'ERR_INVALID_INPUT'],
        ['writer', 'outcome', 'denied', 'ERR_INVALID_INPUT'],
      ]);
      for (const r of records) expect(r.argsDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
    } finally {
      await h.stop();
    }
  });
});

describe('denial aggregation', () => {
  it('one agent hammering a rate-limited tool: two records per window with the count, /metrics counts all', async () => {
    const h = await startEcho({
      tokens,
      env: { RAVENHELM_RATE_LIMIT_POINTS: '2', RAVENHELM_AUDIT_DENIAL_WINDOW_SECONDS: '1' },
    });
    try {
      const n = 120;
      const statuses: number[] = [];
      const t0 = Date.now();
      for (let i = 0; i < n; i++) {
        statuses.push((await rpc(h.url, callBody('echo_write', { value: `v${i}` }), auth('writer'))).status);
      }
      const windows = Math.ceil((Date.now() - t0) / 1000) + 1;
      expect(statuses.filter((s) => s === 429)).toHaveLength(n - 2);
      // Another reason for the same agent, and another agent, get their own records.
      await rpc(h.url, callBody('echo_secret_rotate', { name: 'x', newValue: 'y' }), auth('writer'));
      for (let i = 0; i < 3; i++) await rpc(h.url, callBody('echo_write', { value: 'w' }), auth('writer2'));
      const denials = (subject: string, code: string) =>
        h.audit.records.filter(
          (r) => r.outcome === 'denied' && r.principal.subject === subject && r.errorCode === code,
        );
      const counted = (subject: string, code: string) =>
        denials(subject, code).reduce((sum, r) => sum + (r.count ?? 1), 0);
      // Each window's first denial is written at once; the others are written as one summary when the
      // window ends (timers, not shutdown: the server is still running).
      expect(denials('writer', 'ERR_INSUFFICIENT_SCOPE').map((r) => r.count)).toEqual([undefined]);
      expect(denials('writer2', 'ERR_RATE_LIMITED')).toHaveLength(1);
      await expect.poll(() => counted('writer', 'ERR_RATE_LIMITED'), { timeout: 3000, interval: 50 }).toBe(n - 2);
      await expect.poll(() => counted('writer2', 'ERR_RATE_LIMITED'), { timeout: 3000, interval: 50 }).toBe(1);
      const mine = denials('writer', 'ERR_RATE_LIMITED');
      expect(mine.length).toBeLessThanOrEqual(2 * windows);
      expect(mine.length).toBeLessThan(n / 4);
      const summary = mine.find((r) => r.count !== undefined);
      expect(summary).toMatchObject({
        principal: { subject: 'writer', clientId: 'writer-app' },
        phase: 'outcome',
        outcome: 'denied',
        tier: 'MEDIUM',
      });
      expect(Date.parse(summary?.firstAt ?? '')).toBeLessThanOrEqual(Date.parse(summary?.time ?? ''));
      expect(mine.some((r) => (r.args as { value?: string }).value === `v${n - 1}`)).toBe(true);
      const metrics = await (await fetch(`${h.base}/metrics`)).text();
      expect(metrics).toMatch(
        new RegExp(
          `ravenhelm_tool_calls_total\\{server="echo",tool="echo_write",tier="MEDIUM",outcome="denied"\\} ${n - 2 + 1}\\b`,
        ),
      );
      expect(metrics).toMatch(
        new RegExp(`ravenhelm_rejections_total\\{server="echo",reason="ERR_RATE_LIMITED"\\} ${n - 2 + 1}\\b`),
      );
      expect(h.audit.records.every((r, i) => i === 0 || r.prevHash === h.audit.records[i - 1]?.hash)).toBe(true);
    } finally {
      await h.stop();
    }
  });

  it('flushes the open windows on shutdown', async () => {
    const h = await startEcho({ tokens, env: { RAVENHELM_RATE_LIMIT_POINTS: '1' } });
    for (let i = 0; i < 6; i++) await rpc(h.url, callBody('echo_write', { value: `v${i}` }), auth('writer'));
    expect(h.audit.records.filter((r) => r.outcome === 'denied')).toHaveLength(1);
    await h.stop();
    expect(h.audit.records.filter((r) => r.outcome === 'denied').map((r) => r.count ?? 1)).toEqual([1, 4]);
  });
});

describe('shutdown grace', () => {
  it('defaults to the call timeout plus a margin, so every call it lets start can finish', () => {
    const backendSchema = z.object({});
    expect(loadConfig({ backendSchema, env: {} }).http.shutdownGraceMs).toBe(35_000);
    const long = loadConfig({ backendSchema, env: { RAVENHELM_CALL_TIMEOUT_MS: '120000' } });
    expect(long.http.shutdownGraceMs).toBe(125_000);
    const set = loadConfig({ backendSchema, env: { RAVENHELM_SHUTDOWN_GRACE_MS: '2000' } });
    expect(set.http.shutdownGraceMs).toBe(2000);
  });

  it('once shutdown stops waiting, a call that has not reached its handler is refused, not run', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const h = await startEcho({
      tokens,
      wrapAudit: (sink): AuditSink => ({
        write: async (event, opts) => {
          if (event.phase === 'attempt') await held;
          return sink.write(event, opts);
        },
        close: () => sink.close(),
      }),
    });
    try {
      const call = rpc(h.url, callBody('echo_write', { value: 'late' }), auth('writer'));
      await expect.poll(() => h.rt.pipeline.inFlight, { timeout: 2000, interval: 10 }).toBe(1);
      const abandoned = h.rt.pipeline.abandonInFlight();
      release();
      await abandoned;
      const res = await call;
      expect(res.status).toBe(503);
      expect(res.json.error.data.code).toBe('ERR_SHUTTING_DOWN');
      expect(h.services.calls.some((c) => c.tool === 'echo_write')).toBe(false);
      const outcome = h.audit.records.find((r) => r.tool === 'echo_write' && r.phase === 'outcome');
      expect(outcome).toMatchObject({ outcome: 'error', errorCode: 'ERR_SHUTTING_DOWN' });
    } finally {
      await h.stop();
    }
  });

  it('warns at start when the configured grace is shorter than the call timeout', async () => {
    const lines: [Record<string, unknown>, string][] = [];
    const logger = silentLogger();
    logger.warn = ((obj: Record<string, unknown>, msg: string) => {
      lines.push([obj, msg]);
    }) as unknown as typeof logger.warn;
    const def = echoServer();
    const start = async (env: Record<string, string>) => {
      const config = loadConfig({ backendSchema: def.backendConfig, env });
      const rt = await createRuntime(def as never, config, logger, { audit: createMemoryAuditSink() });
      await rt.close();
    };
    await start({ RAVENHELM_CALL_TIMEOUT_MS: '30000' });
    expect(lines).toEqual([]);
    await start({ RAVENHELM_CALL_TIMEOUT_MS: '30000', RAVENHELM_SHUTDOWN_GRACE_MS: '10000' });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.[0]).toEqual({ shutdownGraceMs: 10000, callTimeoutMs: 30000 });
    expect(lines[0]?.[1]).toMatch(/shorter than the call timeout.*outcome unknown/);
  });

  it('a call still running when a shorter grace ends is answered and audited as outcome unknown', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rh-grace-'));
    const configFile = join(dir, 'config.yaml');
    writeFileSync(configFile, 'http:\n  shutdownGraceMs: 300\n');
    const h = await startEcho({ tokens, env: { RAVENHELM_CONFIG: configFile } });
    const inflight = rpc(h.url, callBody('echo_slow', { ms: 4000 }), auth('reader'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    const stopping = h.stop();
    const res = await inflight;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.status).toBe(200);
    expect(res.json.result.isError).toBe(true);
    expect(res.json.result.content[0].text).toMatch(/^ERR_OUTCOME_UNKNOWN: .*may or may not have taken effect/);
    await stopping;
    const outcome = h.audit.records.find((r) => r.tool === 'echo_slow' && r.phase === 'outcome');
    expect(outcome).toMatchObject({ outcome: 'unknown', errorCode: 'ERR_OUTCOME_UNKNOWN' });
    rmSync(dir, { recursive: true, force: true });
  });
});
