/**
 * The suite's own alert rules and dashboard (examples/monitoring/): promtool accepts the rules and their
 * unit tests fire each alert, and every metric the rules and the dashboard use is one a real server
 * exports at /metrics, so neither can silently point at a renamed metric.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { callBody, type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';
import { startRedis } from '../fixtures/redis.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

const run = promisify(execFile);
const DIR = join(REPO_ROOT, 'examples/monitoring');
const rules = parse(readFileSync(join(DIR, 'alerts.yaml'), 'utf8')) as {
  groups: { rules: { alert: string; expr: string; annotations: Record<string, string> }[] }[];
};
const dashboard = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
  panels: { id: number; title: string; targets: { expr: string }[] }[];
  templating: { list: { query?: string | { query?: string } }[] };
};

/** Metric names in a PromQL expression: ours (ravenhelm_*), with histogram series suffixes removed. */
function metricsIn(expr: string): string[] {
  return [...expr.matchAll(/\bravenhelm_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

let h: EchoHarness;
let exported: Set<string>;

beforeAll(async () => {
  h = await startEcho({ tokens: {} });
  const text = await (await fetch(new URL('/metrics', h.url))).text();
  exported = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string));
});

afterAll(async () => {
  await h?.stop();
});

async function promtool(args: string[]): Promise<string | undefined> {
  try {
    const { stdout, stderr } = await run('promtool', args, { cwd: DIR, timeout: 60_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') return undefined;
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout}${e.stderr}`);
  }
}

describe('alert rules', () => {
  it('pass promtool check and fire in their unit tests', async () => {
    const checked = await promtool(['check', 'rules', 'alerts.yaml']);
    // CI installs Debian's prometheus (promtool included); only a developer machine may lack it.
    if (checked === undefined && !process.env.CI) return;
    expect(checked).toMatch(/SUCCESS: 10 rules found/);
    expect(await promtool(['test', 'rules', 'alerts.test.yaml'])).toMatch(/SUCCESS/);
  });

  it('cover the signals operators need, each with a runbook in docs/operations.md', () => {
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert).sort()).toEqual([
      'RavenhelmAuditWriteFailures',
      'RavenhelmAuthenticationFailures',
      'RavenhelmBackendErrors',
      'RavenhelmBackendSlotsSaturated',
      'RavenhelmBackendUnavailable',
      'RavenhelmRateLimiting',
      'RavenhelmRedisDown',
      'RavenhelmServerDown',
      'RavenhelmSlowToolCalls',
      'RavenhelmToolErrorRate',
    ]);
    const runbook = readFileSync(join(REPO_ROOT, 'docs/operations.md'), 'utf8');
    for (const r of all) {
      expect(r.annotations.runbook_url).toBe(`docs/operations.md#${r.alert.toLowerCase()}`);
      expect(runbook, `docs/operations.md has no section for ${r.alert}`).toMatch(new RegExp(`^### ${r.alert}$`, 'm'));
    }
  });

  it('use only metrics a running server exports', () => {
    const used = rules.groups.flatMap((g) => g.rules.flatMap((r) => metricsIn(r.expr)));
    expect(used.length).toBeGreaterThan(5);
    expect(used.filter((m) => !exported.has(m))).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  it('has unique panel ids and a query in every panel', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.targets.length, p.title).toBeGreaterThan(0);
  });

  it('uses only metrics a running server exports', () => {
    const exprs = [
      ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : (v.query?.query ?? ''))),
    ];
    const used = exprs.flatMap(metricsIn);
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((m) => !exported.has(m))).toEqual([]);
  });
});

describe('the metrics the alerts rely on', () => {
  const tokens = { writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] } };
  const auth = { authorization: 'Bearer writer' };
  const sample = async (url: string, pattern: RegExp) =>
    Number(pattern.exec(await (await fetch(new URL('/metrics', url))).text())?.[1] ?? 0);

  it('count tool errors by code and failed audit writes by phase', async () => {
    const failing = await startEcho({
      tokens,
      wrapAudit: (sink) => ({
        write: (event, opts) =>
          event.phase === 'attempt' ? Promise.reject(new Error('EIO: disk gone')) : sink.write(event, opts),
        close: () => sink.close(),
      }),
    });
    try {
      await rpc(failing.url, callBody('echo_fail', { kind: 'backend' }), auth);
      await rpc(failing.url, callBody('echo_fail', { kind: 'backend' }), auth);
      expect((await rpc(failing.url, callBody('echo_write', { value: 'v' }), auth)).status).toBe(503);
      expect(
        await sample(
          failing.url,
          /^ravenhelm_tool_errors_total\{[^}]*tool="echo_fail"[^}]*code="ERR_BACKEND_UNAVAILABLE"\} (\d+)/m,
        ),
      ).toBe(2);
      expect(await sample(failing.url, /^ravenhelm_audit_write_failures_total\{[^}]*phase="attempt"\} (\d+)/m)).toBe(1);
    } finally {
      await failing.stop();
    }
  });

  it('say whether the Redis connection is up: 1, 0 while Redis is gone, 1 again once it is back', async () => {
    const redis = await startRedis({ password: 'redis-metric-pw' });
    const withRedis = await startEcho({ tokens, env: { RAVENHELM_REDIS_URL: redis.url } });
    const up = () => sample(withRedis.url, /^ravenhelm_redis_up\{server="echo"\} (\d+)$/m);
    try {
      expect(await up()).toBe(1);
      await redis.kill();
      await expect.poll(up, { timeout: 5000, interval: 100 }).toBe(0);
      await redis.restart();
      await expect.poll(up, { timeout: 10_000, interval: 100 }).toBe(1);
      // The metric never carries the URL, let alone its password.
      expect(await (await fetch(new URL('/metrics', withRedis.url))).text()).not.toContain('redis-metric-pw');
    } finally {
      await withRedis.stop();
      await redis.stop();
    }
  }, 30_000);
});
