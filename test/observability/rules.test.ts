/** alerts_list_rules against a real Prometheus 2.42 evaluating the fixture's rules on a prom-client target. */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dataBudgetOf, jsonBytes } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deadUrl,
  demoRules,
  type Listening,
  listen,
  type Proc,
  silentServer,
  startExporter,
  startPrometheus,
  waitFor,
} from './fixture.js';
import { call, callError, makeServices, type Result } from './harness.js';

const BULK_GROUPS = 60;
const RULES = demoRules(BULK_GROUPS);
/** Rules in the file: 4 alerting + 2 recording + 2 per bulk group. */
const RULE_COUNT = 6 + 2 * BULK_GROUPS;

let exporter: Listening;
let prom: Proc;
let services: ReturnType<typeof makeServices>;

interface RawRule {
  name: string;
  health: string;
  state?: string;
  alerts?: unknown[];
}

async function rawRules(): Promise<RawRule[]> {
  const res = await fetch(`${prom.url}/api/v1/rules`);
  const body = (await res.json()) as { data: { groups: { rules: RawRule[] }[] } };
  return body.data.groups.flatMap((g) => g.rules);
}

const names = (r: Result) => r.rules.map((x: { name: string }) => x.name);

beforeAll(async () => {
  exporter = await startExporter();
  prom = await startPrometheus([exporter.url], { rules: RULES });
  services = makeServices({ prometheus: { url: prom.url } });
  await waitFor('the rules to fire, pend and fail', async () => {
    const rules = await rawRules();
    const by = (n: string) => rules.find((r) => r.name === n);
    return (
      by('HighErrorRoute')?.state === 'firing' &&
      by('TemperatureHigh')?.state === 'pending' &&
      (by('TemperatureHigh')?.alerts?.length ?? 0) >= 13 &&
      by('CheckoutJoinBroken')?.health === 'err' &&
      // every group evaluated once (1 s intervals): a rule's first evaluation moves it in the state order,
      // which the paging test would otherwise meet (that case has its own test below)
      rules.every((r) => r.health !== 'unknown')
    );
  });
}, 90_000);

afterAll(async () => {
  await prom?.stop();
  await exporter?.close();
});

describe('the fixture rules file', () => {
  it('is valid for promtool', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rh-rules-'));
    try {
      await writeFile(join(dir, 'rules.yml'), RULES);
      const { stdout } = await promisify(execFile)('promtool', ['check', 'rules', join(dir, 'rules.yml')]);
      expect(stdout).toContain(`SUCCESS: ${RULE_COUNT} rules found`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('alerts_list_rules', () => {
  it('puts the broken rule first, then firing, then pending, with counts', async () => {
    const r = await call('alerts_list_rules', { limit: 4 }, services);
    expect(names(r)).toEqual(['CheckoutJoinBroken', 'HighErrorRoute', 'TemperatureHigh', expect.any(String)]);
    expect(r.counts).toEqual({ firing: 1, pending: 1, inactive: 2, recording: 2 + 2 * BULK_GROUPS, err: 1 });
    expect(r).toMatchObject({ groups: 2 + BULK_GROUPS, total: RULE_COUNT, returned: 4, truncated: true });

    const [broken, firing, pending] = r.rules;
    expect(broken).toMatchObject({ type: 'alert', group: 'checkout-alerts', health: 'err', state: 'inactive' });
    expect(broken.lastError).toMatch(/many-to-many matching not allowed/);
    expect(broken.file).toMatch(/rules\.yml$/);

    expect(firing).toMatchObject({
      type: 'alert',
      health: 'ok',
      state: 'firing',
      for: '0s',
      query: 'rate(demo_requests_total{code="500"}[10s]) > 10',
      labels: { severity: 'critical', team: 'checkout' },
    });
    expect(firing.lastError).toBeUndefined();
    expect(firing.alerts).toMatchObject({ total: 1, firing: 1, pending: 0 });
    // what every alert of the rule carries (alertname, rule labels) is said once, on the rule
    expect(firing.alerts.items[0].labels).toMatchObject({ route: '/r7', code: '500', job: 'demo' });
    expect(firing.alerts.items[0].labels).not.toHaveProperty('alertname');
    expect(firing.alerts.items[0].labels).not.toHaveProperty('severity');
    expect(Number(firing.alerts.items[0].value)).toBeGreaterThan(10);
    expect(Date.parse(firing.alerts.items[0].activeAt)).toBeLessThanOrEqual(Date.now());
    expect(typeof firing.evaluationSeconds).toBe('number');
    expect(Date.parse(firing.lastEvaluation)).toBeGreaterThan(Date.now() - 60_000);

    expect(pending).toMatchObject({ state: 'pending', for: '1h', alerts: { firing: 0 } });
    expect(pending.alerts.total).toBeGreaterThanOrEqual(13);
    expect(pending.alerts.pending).toBe(pending.alerts.total);
  });

  it('filters by type, state, health, name, group and label matchers', async () => {
    const records = await call('alerts_list_rules', { type: 'record', group: 'checkout' }, services);
    expect(names(records)).toEqual(['demo:long_sum', 'service:demo_requests:rate10s']); // by name in a rank
    expect(records.rules[0]).not.toHaveProperty('state');
    expect(records.rules[0]).not.toHaveProperty('alerts');

    const alerts = await call('alerts_list_rules', { type: 'alert' }, services);
    expect(alerts.total).toBe(4);
    expect(alerts.rules.every((x: { type: string }) => x.type === 'alert')).toBe(true);

    const pending = await call('alerts_list_rules', { state: ['pending'] }, services);
    expect(names(pending)).toEqual(['TemperatureHigh']);
    const inactive = await call('alerts_list_rules', { state: ['inactive'] }, services);
    expect(names(inactive)).toEqual(['CheckoutJoinBroken', 'TemperatureAbsurd']);

    const broken = await call('alerts_list_rules', { health: 'err' }, services);
    expect(names(broken)).toEqual(['CheckoutJoinBroken']);

    const byName = await call('alerts_list_rules', { name: 'temperature' }, services);
    expect(names(byName)).toEqual(['TemperatureHigh', 'TemperatureAbsurd']);

    const byGroup = await call('alerts_list_rules', { group: 'bulk-07' }, services);
    expect(names(byGroup)).toEqual(['bulk:07:a', 'bulk:07:b']);

    const critical = await call('alerts_list_rules', { matchers: ['severity="critical"'] }, services);
    expect(names(critical)).toEqual(['HighErrorRoute']);
    // counts follow the filters other than state and health
    expect(critical.counts).toEqual({ firing: 1, pending: 0, inactive: 0, recording: 0, err: 0 });
    const notInfo = await call('alerts_list_rules', { matchers: ['severity=~"warn.*|info"', 'team!="x"'] }, services);
    expect(names(notInfo)).toEqual(['CheckoutJoinBroken', 'TemperatureHigh', 'TemperatureAbsurd']);
    // an absent label is "": this matches every rule without a team label
    const noTeam = await call('alerts_list_rules', { matchers: ['team=""'], type: 'alert' }, services);
    expect(names(noTeam)).not.toContain('HighErrorRoute');
    expect(noTeam.total).toBe(3);
    // label names that are also Object.prototype's: absent on every rule, so "" (was a crash on =~, none on =)
    const every = await call('alerts_list_rules', { type: 'alert' }, services);
    for (const matchers of [['constructor=~".*"'], ['toString=""'], ['__proto__!~".+"']]) {
      const res = await call('alerts_list_rules', { matchers, type: 'alert' }, services);
      expect(res.total, matchers[0]).toBe(every.total);
    }
  });

  it('lists the alerts active longest, the same ones on every call (Prometheus sends them in no set order)', async () => {
    const listings = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await call('alerts_list_rules', { name: 'TemperatureHigh', alertsPerRule: 3 }, services);
      const items = r.rules[0].alerts.items as { labels: Record<string, string>; activeAt: string }[];
      const since = items.map((a) => Date.parse(a.activeAt));
      expect(since).toEqual([...since].sort((a, b) => a - b));
      listings.add(items.map((a) => a.labels.sensor).join(','));
    }
    expect([...listings]).toHaveLength(1);
  });

  it('refuses bad input with what to write instead', async () => {
    const bad = await callError('alerts_list_rules', { matchers: ['severity==critical'] }, services);
    expect(bad.code).toBe('ERR_INVALID_INPUT');
    expect(bad.message).toMatch(/name="value"/);
    const state = await callError('alerts_list_rules', { state: ['burning'] }, services);
    expect(state.code).toBe('ERR_INVALID_INPUT');
    const cursor = await callError('alerts_list_rules', { cursor: 'nope' }, services);
    expect(cursor.code).toBe('ERR_INVALID_INPUT');
  });

  it('pages through many groups without repeating or losing a rule', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 10; i++) {
      const page = await call(
        'alerts_list_rules',
        { group: 'bulk', limit: 50, ...(cursor ? { cursor } : {}) },
        services,
      );
      expect(page.total).toBe(2 * BULK_GROUPS);
      seen.push(...names(page));
      cursor = page.nextCursor;
      if (!cursor) {
        expect(page.truncated).toBe(false);
        break;
      }
      expect(page).toMatchObject({ returned: 50, truncated: true });
      expect(page.cut ?? []).not.toContainEqual(expect.stringMatching(/changed since/));
    }
    expect(seen).toHaveLength(2 * BULK_GROUPS);
    expect(new Set(seen).size).toBe(2 * BULK_GROUPS);
  });

  it('refuses a cursor that is not one this tool issued', async () => {
    const bad = await callError('alerts_list_rules', { cursor: 'bm90LWEtY3Vyc29y' }, services);
    expect(bad.code).toBe('ERR_INVALID_INPUT');
  });

  it('states every cut: long queries, active alerts per rule, annotations, output bytes', async () => {
    const long = await call('alerts_list_rules', { name: 'long_sum' }, services);
    expect(long.rules[0].query).toHaveLength(1001);
    expect(long.rules[0].query.endsWith('…')).toBe(true);
    expect(long.rules[0].queryChars).toBeGreaterThan(1500);
    expect(long.cut).toEqual([expect.stringMatching(/^query cut to 1000 chars on 1 rule/)]);

    const few = await call('alerts_list_rules', { name: 'TemperatureHigh', alertsPerRule: 2 }, services);
    expect(few.rules[0].alerts.items).toHaveLength(2);
    expect(few.rules[0].alerts.total).toBeGreaterThanOrEqual(13);
    expect(few.cut).toEqual([expect.stringMatching(/^active alerts: 2 listed per rule \(alertsPerRule/)]);
    const none = await call('alerts_list_rules', { name: 'TemperatureHigh', alertsPerRule: 0 }, services);
    expect(none.rules[0].alerts.items).toEqual([]);

    const annotated = await call('alerts_list_rules', { name: 'HighErrorRoute' }, services);
    expect(annotated.rules[0].annotations.description).toHaveLength(301);
    expect(annotated.rules[0].annotations.summary).toContain('{{ $labels.route }}');
    expect(annotated.cut).toEqual(['annotation values cut to 300 chars']);

    const all = await call('alerts_list_rules', { limit: 200 }, services);
    expect(all.cut).toHaveLength(3);
    expect(all.total).toBe(RULE_COUNT);
    const tight = await call('alerts_list_rules', { limit: 200 }, services, { maxOutputBytes: 6 * 1024 });
    expect(tight.truncated).toBe(true);
    expect(tight.returned).toBeLessThan(RULE_COUNT);
    expect(Buffer.byteLength(JSON.stringify(tight))).toBeLessThanOrEqual(6 * 1024);
    expect(names(tight)[0]).toBe('CheckoutJoinBroken');
  });
});

describe('alerts_list_rules when Prometheus fails', () => {
  it('says Prometheus is unreachable when nothing listens', async () => {
    const down = makeServices({ prometheus: { url: await deadUrl() } });
    const err = await callError('alerts_list_rules', {}, down);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/^Prometheus is unreachable at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('times out on a Prometheus that never answers', async () => {
    const silent = await silentServer();
    try {
      const slow = makeServices({ prometheus: { url: silent.url, timeoutMs: 300 } });
      const err = await callError('alerts_list_rules', {}, slow);
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/Prometheus did not answer within 300 ms/);
    } finally {
      await silent.close();
    }
  });

  it('reports an HTTP error status with the backend named', async () => {
    const failing = await listen((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('rule manager not ready');
    });
    try {
      const err = await callError('alerts_list_rules', {}, makeServices({ prometheus: { url: failing.url } }));
      expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
      expect(err.message).toBe(
        'Prometheus is not able to answer the rules request right now (HTTP 503: rule manager not ready)',
      );
    } finally {
      await failing.close();
    }
  });
});

describe('alerts_list_rules within the output budget', () => {
  /** What a handler gets when the whole result must fit the default 64 KiB (RAVENHELM_MAX_OUTPUT_BYTES). */
  const share = dataBudgetOf(64 * 1024);
  const DETAIL = 'x'.repeat(500);
  let wide: Proc;
  let wideServices: ReturnType<typeof makeServices>;

  beforeAll(async () => {
    // One alert per demo_requests_total series (60 routes x 3 codes), each with a 500-char label.
    wide = await startPrometheus([exporter.url], {
      rules: `groups:
  - name: wide
    interval: 1s
    rules:
      - alert: ManySeries
        expr: label_replace(demo_requests_total, "detail", "$1-${DETAIL}", "route", "(.*)")
        labels: {severity: warning}
      - alert: Quiet
        expr: vector(1) < 0
`,
    });
    wideServices = makeServices({ prometheus: { url: wide.url } });
    await waitFor('ManySeries to fire on every series', async () => {
      const res = await fetch(`${wide.url}/api/v1/rules`);
      const body = (await res.json()) as { data: { groups: { rules: RawRule[] }[] } };
      const rule = body.data.groups.flatMap((g) => g.rules).find((r) => r.name === 'ManySeries');
      return (rule?.alerts?.length ?? 0) === 180;
    });
  }, 90_000);

  afterAll(async () => {
    await wide?.stop();
  });

  it('lists fewer alerts of a rule too wide for the budget and says so', async () => {
    const res = await call('alerts_list_rules', { alertsPerRule: 50 }, wideServices, { maxOutputBytes: share });
    expect(jsonBytes(res)).toBeLessThanOrEqual(share);
    expect(names(res)[0]).toBe('ManySeries');
    const { alerts } = res.rules[0];
    expect(alerts).toMatchObject({ total: 180, firing: 180, pending: 0 });
    expect(alerts.items.length).toBeGreaterThan(10);
    expect(alerts.items.length).toBeLessThan(50);
    expect(alerts.items[0].labels.detail).toMatch(new RegExp(`^/r\\d+-${DETAIL}$`));
    expect(res.cut).toEqual([
      'active alerts: 50 listed per rule (alertsPerRule, up to 50) on 1 rule(s); alerts.total counts all; alerts_list has them',
      'output budget: fewer active alerts listed on 1 rule(s) (alerts.items against alerts.total); lower alertsPerRule, or alerts_list with matchers alertname="<rule>" lists them all',
    ]);
    // the rule that did not fit beside it is on the next page
    expect(res).toMatchObject({ total: 2, returned: 1, truncated: true });
    const next = await call('alerts_list_rules', { alertsPerRule: 50, cursor: res.nextCursor }, wideServices, {
      maxOutputBytes: share,
    });
    expect(names(next)).toEqual(['Quiet']);
  });
});

describe('alerts_list_rules paging while rule groups are reloaded', () => {
  const ORIGINAL = Array.from({ length: 30 }, (_, i) => `g-${String(i).padStart(2, '0')}`);
  /** A group's two recording rules (a metric name has no "-"). */
  const ruleNames = (group: string) => [`${group.replace('-', '_')}:a`, `${group.replace('-', '_')}:b`];
  const groupsText = (names: readonly string[]) =>
    `groups:\n${names
      .map(
        (n) =>
          `  - name: ${n}\n    interval: 1s\n    rules:\n      - record: ${ruleNames(n)[0]}\n        expr: vector(1)\n      - record: ${ruleNames(n)[1]}\n        expr: vector(2)\n`,
      )
      .join('')}`;
  let reloading: Proc;
  let via: ReturnType<typeof makeServices>;

  /** Reloads the rules file and waits until Prometheus serves exactly `names`, each group evaluated. */
  async function serve(names: readonly string[]): Promise<void> {
    await reloading.reload({ 'rules.yml': groupsText(names) });
    await waitFor('Prometheus to serve the reloaded groups', async () => {
      const res = await fetch(`${reloading.url}/api/v1/rules`);
      const body = (await res.json()) as { data: { groups: { name: string; rules: RawRule[] }[] } };
      const served = body.data.groups.map((g) => g.name);
      return served.join() === names.join() && body.data.groups.every((g) => g.rules.every((r) => r.health === 'ok'));
    });
  }

  beforeAll(async () => {
    reloading = await startPrometheus([exporter.url], { rules: groupsText(ORIGINAL) });
    via = makeServices({ prometheus: { url: reloading.url } });
    await serve(ORIGINAL);
  }, 90_000);

  afterAll(async () => {
    await reloading?.stop();
  });

  it('a group added or removed before the cursor neither repeats nor skips a rule, and the page says so', async () => {
    const first = await call('alerts_list_rules', { limit: 20 }, via);
    expect(first).toMatchObject({ total: 60, returned: 20, truncated: true });
    expect(first).not.toHaveProperty('cut');
    const seen = names(first);
    // A group added at the top of the file: before the cursor in Prometheus's order and by name.
    await serve(['a-new', ...ORIGINAL]);
    const second = await call('alerts_list_rules', { limit: 20, cursor: first.nextCursor }, via);
    expect(second.total).toBe(62);
    const notes = [second.cut?.[0]];
    seen.push(...names(second));
    // A group the first page listed, removed.
    await serve(['a-new', ...ORIGINAL.filter((g) => g !== 'g-02')]);
    let cursor = second.nextCursor;
    for (let i = 0; i < 10 && cursor; i++) {
      const page = await call('alerts_list_rules', { limit: 20, cursor }, via);
      if (i === 0) notes.push(page.cut?.[0]);
      seen.push(...names(page));
      cursor = page.nextCursor;
    }
    expect(cursor).toBeUndefined();
    const original = seen.filter((n: string) => !n.startsWith('a_new'));
    expect(original).toHaveLength(60);
    expect(new Set(original)).toEqual(new Set(ORIGINAL.flatMap(ruleNames)));
    // listed in one order: each page goes on where the previous one stopped
    expect(original).toEqual([...original].sort());
    for (const note of notes) expect(note).toMatch(/^rules before this page changed since the previous one/);
  });

  it('refuses a cursor from a listing with other filters, and reads the cursor of an older replica as an offset', async () => {
    const first = await call('alerts_list_rules', { limit: 10, group: 'g-' }, via);
    const other = await callError('alerts_list_rules', { limit: 10, group: 'g-1', cursor: first.nextCursor }, via);
    expect(other.code).toBe('ERR_INVALID_INPUT');
    expect(other.message).toMatch(/cursor belongs to another listing of alerts_list_rules/);
    const legacy = Buffer.from('r:10:AAAAAAAAAAA').toString('base64url');
    const next = await call('alerts_list_rules', { limit: 10, group: 'g-', cursor: legacy }, via);
    expect(names(next)[0]).toBe(names(await call('alerts_list_rules', { limit: 11, group: 'g-' }, via))[10]);
    // the kit's offset cursor names no tool (dashboards_get and others issued it): not read as this list's offset
    const plain = Buffer.from('o:10').toString('base64url');
    const refused = await callError('alerts_list_rules', { limit: 10, group: 'g-', cursor: plain }, via);
    expect(refused.message).toMatch(/^cursor is an offset cursor .*which alerts_list_rules does not read/);
  });
});
