import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadUrl, type Proc, postAlerts, startAlertmanager, waitFor } from './fixture.js';
import { call, callError, makeServices } from './harness.js';

let am: Proc;
let services: ReturnType<typeof makeServices>;
const NOISE = 30;

async function amSilence(id: string): Promise<{ status: { state: string }; matchers: unknown[]; createdBy: string }> {
  const res = await fetch(`${am.url}/api/v2/silence/${id}`);
  return (await res.json()) as { status: { state: string }; matchers: unknown[]; createdBy: string };
}

beforeAll(async () => {
  am = await startAlertmanager();
  services = makeServices({ alertmanager: { url: am.url } });
  await postAlerts(am.url, [
    {
      labels: { alertname: 'HighErrorRate', service: 'checkout', severity: 'critical' },
      annotations: { summary: 'checkout 5xx above 5%' },
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=rate%28http_5xx%5B5m%5D%29',
    },
    { labels: { alertname: 'DiskFull', service: 'db', severity: 'warning' }, annotations: { summary: '/var at 97%' } },
    ...Array.from({ length: NOISE }, (_, i) => ({
      labels: { alertname: 'Noise', service: 'batch', severity: 'info', instance: `i${i}` },
    })),
  ]);
  await waitFor('every alert to be active', async () => {
    const res = await fetch(`${am.url}/api/v2/alerts?active=true&silenced=false&inhibited=false&unprocessed=false`);
    return ((await res.json()) as unknown[]).length === NOISE + 2;
  });
});

afterAll(async () => {
  await am?.stop();
});

describe('alerts_list', () => {
  it('lists alerts most severe first with counts by state, paged', async () => {
    const first = await call('alerts_list', { limit: 10 }, services);
    expect(first).toMatchObject({
      total: NOISE + 2,
      returned: 10,
      truncated: true,
      counts: { active: NOISE + 2, suppressed: 0, unprocessed: 0 },
    });
    expect(first.alerts[0]).toMatchObject({
      name: 'HighErrorRate',
      severity: 'critical',
      state: 'active',
      annotations: { summary: 'checkout 5xx above 5%' },
      receivers: ['blackhole'],
    });
    // Every time Alertmanager keeps: when it started, when it resolves unless sent again, when it last
    // changed; and the link to the rule that fired it, only where the sender gave one.
    const [top, second] = first.alerts;
    expect(top.generatorURL).toBe('http://prometheus.example:9090/graph?g0.expr=rate%28http_5xx%5B5m%5D%29');
    expect(Date.parse(top.endsAt) - Date.parse(top.startsAt)).toBe(3_660_000);
    expect(Date.parse(top.updatedAt)).toBeGreaterThanOrEqual(Date.parse(top.startsAt));
    expect(second).not.toHaveProperty('generatorURL');
    expect(first.alerts[1].name).toBe('DiskFull');
    const seen = new Set<string>(first.alerts.map((a: { fingerprint: string }) => a.fingerprint));
    let cursor = first.nextCursor;
    for (let i = 0; i < 10 && cursor; i++) {
      const page = await call('alerts_list', { limit: 10, cursor }, services);
      for (const a of page.alerts) seen.add(a.fingerprint);
      cursor = page.nextCursor;
    }
    expect(cursor).toBeUndefined();
    expect(seen.size).toBe(NOISE + 2);
  });

  it('filters by severity and label matchers', async () => {
    const warning = await call('alerts_list', { severity: 'warning' }, services);
    expect(warning.alerts.map((a: { name: string }) => a.name)).toEqual(['DiskFull']);
    const checkout = await call('alerts_list', { matchers: ['service="checkout"'] }, services);
    expect(checkout).toMatchObject({ total: 1, alerts: [{ name: 'HighErrorRate' }] });
    const regex = await call('alerts_list', { matchers: ['instance=~"i1.*"'] }, services);
    expect(regex.total).toBe(11);
  });

  it('refuses "==" and other malformed matchers with the expected syntax, for every tool', async () => {
    const before = await fetch(`${am.url}/api/v2/silences`).then((r) => r.json() as Promise<unknown[]>);
    for (const [bad, why] of [
      ['alertname==HighErrorRate', /"==" is not an operator/],
      ['alertname=~"(unclosed"', /the regex does not compile \(error parsing regexp: missing closing \)/],
      ['alertname="unterminated', /unterminated quote/],
      ['alertname=', /value is missing/],
      ['alertname=two words', /quote it/],
    ] as const) {
      for (const [tool, extra] of [
        ['alerts_list', {}],
        ['alerts_list_groups', {}],
        ['alerts_list_silences', {}],
        ['alerts_create_silence', { author: 'a', comment: 'bad matcher', duration: '1h' }],
      ] as const) {
        const err = await callError(tool, { ...extra, matchers: [bad] }, services);
        expect(err.code, `${tool} ${bad}`).toBe('ERR_INVALID_INPUT');
        expect(err.message).toMatch(why);
        expect(err.message).toContain('write name="value", name!="value", name=~"regex" or name!~"regex"');
      }
    }
    const after = await fetch(`${am.url}/api/v2/silences`).then((r) => r.json() as Promise<unknown[]>);
    expect(after.length).toBe(before.length);
  });

  it('accepts the same syntax in every tool: quoted, bare and negated values', async () => {
    const bare = await call('alerts_list', { matchers: ['service=checkout'] }, services);
    expect(bare).toMatchObject({ total: 1, alerts: [{ name: 'HighErrorRate' }] });
    const negated = await call('alerts_list', { matchers: ['alertname!="Noise"', 'severity!~"warn.*"'] }, services);
    expect(negated.alerts.map((a: { name: string }) => a.name)).toEqual(['HighErrorRate']);
    const groups = await call('alerts_list_groups', { matchers: ['alertname="DiskFull"'] }, services);
    expect(groups).toMatchObject({ total: 1, groups: [{ alertNames: ['DiskFull'] }] });
  });

  it('refuses a malformed matcher before calling Alertmanager', async () => {
    const err = await callError('alerts_list', { matchers: ['service checkout'] }, services);
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/matchers.0: "service checkout": not a label matcher; write name="value"/);
  });
});

describe('alerts_list_groups', () => {
  it('summarizes the groups with receiver and counts', async () => {
    const res = await call('alerts_list_groups', {}, services);
    expect(res.total).toBe(3);
    const noise = res.groups.find((g: { labels: Record<string, string> }) => g.labels.alertname === 'Noise');
    expect(noise).toMatchObject({
      receiver: 'blackhole',
      alerts: NOISE,
      states: { active: NOISE, suppressed: 0, unprocessed: 0 },
      alertNames: ['Noise'],
      labels: { alertname: 'Noise', service: 'batch' },
    });
    expect(noise).not.toHaveProperty('cut');
  });

  it('says when a group holds more alert names than it lists, and where to see them all', async () => {
    // Grouped by service only, so one group holds 14 alert names.
    const byService = await startAlertmanager({ groupBy: ['service'] });
    try {
      const names = Array.from({ length: 14 }, (_, i) => `Broken${String(i).padStart(2, '0')}`);
      await postAlerts(byService.url, [
        ...names.map((alertname) => ({ labels: { alertname, service: 'payments' } })),
        { labels: { alertname: 'Lonely', service: 'search' } },
      ]);
      const via = makeServices({ alertmanager: { url: byService.url } });
      await waitFor('both groups', async () => (await call('alerts_list_groups', {}, via)).total === 2);
      const res = await call('alerts_list_groups', {}, via);
      const payments = res.groups.find((g: { labels: Record<string, string> }) => g.labels.service === 'payments');
      expect(payments).toMatchObject({ alerts: 14, labels: { service: 'payments' } });
      expect(payments.alertNames).toHaveLength(10);
      expect(names).toEqual(expect.arrayContaining(payments.alertNames));
      expect(payments.cut).toEqual([
        'alertNames: 10 of 14 shown; alerts_list with the group labels as matchers lists every alert',
      ]);
      const search = res.groups.find((g: { labels: Record<string, string> }) => g.labels.service === 'search');
      expect(search).toMatchObject({ alertNames: ['Lonely'] });
      expect(search).not.toHaveProperty('cut');
      // and the way the statement names does show them all
      const all = await call('alerts_list', { matchers: ['service="payments"'] }, via);
      expect(new Set(all.alerts.map((a: { name: string }) => a.name))).toEqual(new Set(names));
    } finally {
      await byService.stop();
    }
  });
});

describe('silences', () => {
  it('creates a silence that Alertmanager applies, lists it, then expires it', async () => {
    const created = await call(
      'alerts_create_silence',
      {
        matchers: ['alertname="DiskFull"'],
        author: 'agent@test',
        comment: 'INC-42: disk being expanded',
        duration: '2h',
      },
      services,
    );
    const id = created.silence.id as string;
    expect(created.silence).toMatchObject({
      state: 'active',
      createdBy: 'agent@test',
      matchers: ['alertname="DiskFull"'],
    });
    expect((await amSilence(id)).matchers).toEqual([
      { name: 'alertname', value: 'DiskFull', isRegex: false, isEqual: true },
    ]);
    const hours = (Date.parse(created.silence.endsAt) - Date.parse(created.silence.startsAt)) / 3_600_000;
    expect(hours).toBeCloseTo(2, 1);
    expect((await amSilence(id)).status.state).toBe('active');

    await waitFor('DiskFull to be suppressed', async () => {
      const r = await call('alerts_list', { state: ['suppressed'] }, services);
      return r.total === 1;
    });
    const suppressed = await call('alerts_list', { state: ['suppressed'] }, services);
    expect(suppressed.alerts[0]).toMatchObject({ name: 'DiskFull', state: 'suppressed', silencedBy: [id] });
    expect(suppressed.counts.suppressed).toBe(1);

    const listed = await call('alerts_list_silences', {}, services);
    expect(listed.silences.map((s: { id: string }) => s.id)).toContain(id);

    const expired = await call('alerts_expire_silence', { silenceId: id }, services);
    expect(expired).toMatchObject({ previousState: 'active', alreadyExpired: false, silence: { state: 'expired' } });
    expect((await amSilence(id)).status.state).toBe('expired');
    const again = await call('alerts_expire_silence', { silenceId: id }, services);
    expect(again).toMatchObject({ previousState: 'expired', alreadyExpired: true });

    const active = await call('alerts_list_silences', {}, services);
    expect(active.silences.map((s: { id: string }) => s.id)).not.toContain(id);
    const all = await call('alerts_list_silences', { state: ['expired'] }, services);
    expect(all.silences.map((s: { id: string }) => s.id)).toContain(id);
  });

  it('refuses durations outside 1m..7d and match-everything silences', async () => {
    const base = { matchers: ['alertname="Noise"'], author: 'a', comment: 'why not' };
    const long = await callError('alerts_create_silence', { ...base, duration: '8d' }, services);
    expect(long.code).toBe('ERR_INVALID_INPUT');
    expect(long.message).toMatch(/outside 1m\.\.7d/);
    const short = await callError('alerts_create_silence', { ...base, duration: '30s' }, services);
    expect(short.code).toBe('ERR_INVALID_INPUT');
    for (const matchers of [
      ['alertname=~".*"'],
      ['alertname!="Noise"'],
      ['alertname=~".+"', 'service!~"db"'],
      // Exclusions of nothing and regexes that accept every value: each matched all 32 alerts.
      ['alertname!=""'],
      ['alertname!~""'],
      ['alertname=~".*."'],
      ['alertname=~"(.+)"'],
      ['alertname=~"\\w+"'],
    ]) {
      const all = await callError('alerts_create_silence', { ...base, matchers, duration: '1h' }, services);
      expect(all.code).toBe('ERR_INVALID_INPUT');
      expect(all.message).toMatch(/at least one concrete label value/);
    }
    const silences = (await (await fetch(`${am.url}/api/v2/silences`)).json()) as { comment: string }[];
    expect(silences.filter((s) => s.comment === 'why not')).toEqual([]);
  });

  it('refuses regexes that are not a short list of exact values, which Alertmanager matches to every alert', async () => {
    const base = { author: 'a', comment: 'broad regex', duration: '1h' };
    for (const matcher of [
      // each passed the old probe test (they reject "", a random hex value and most fixed probes)
      'alertname=~"[A-Z][A-Za-z0-9]*"',
      'alertname=~"[A-Z].*"',
      'service=~"[a-z]+"',
      'alertname=~"(?i)[a-z]+"',
    ]) {
      // what the guard is for: Alertmanager itself matches every alert with it
      const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent(matcher)}`);
      expect(((await res.json()) as unknown[]).length, matcher).toBe(NOISE + 2);
      const err = await callError('alerts_create_silence', { ...base, matchers: [matcher] }, services);
      expect(err.code, matcher).toBe('ERR_INVALID_INPUT');
      expect(err.message).toMatch(/at least one concrete label value/);
    }
    const silences = (await (await fetch(`${am.url}/api/v2/silences`)).json()) as { comment: string }[];
    expect(silences.filter((s) => s.comment === base.comment)).toEqual([]);
  });

  it('accepts a regex listing exact values, and Alertmanager mutes exactly those alerts', async () => {
    const created = await call(
      'alerts_create_silence',
      { matchers: ['alertname=~"^(DiskFull|HighError[R]ate)$"'], author: 'a', comment: 'two names', duration: '1h' },
      services,
    );
    const id = created.silence.id as string;
    try {
      await waitFor('the two alerts to be suppressed', async () => {
        const r = await call('alerts_list', { state: ['suppressed'] }, services);
        return r.total === 2;
      });
      const muted = await call('alerts_list', { state: ['suppressed'] }, services);
      expect(muted.alerts.map((a: { name: string }) => a.name).sort()).toEqual(['DiskFull', 'HighErrorRate']);
      expect(muted.counts).toMatchObject({ active: NOISE, suppressed: 2 });
    } finally {
      await fetch(`${am.url}/api/v2/silence/${id}`, { method: 'DELETE' });
    }
    await waitFor('the alerts to be active again', async () => {
      const r = await call('alerts_list', { state: ['suppressed'] }, services);
      return r.total === 0;
    });
  });

  it('finds the silences that mute an alert by its labels, as Alertmanager decides it (not by matcher text)', async () => {
    const post = async (matchers: object[], comment: string) => {
      const res = await fetch(`${am.url}/api/v2/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          matchers,
          startsAt: new Date().toISOString(),
          endsAt: new Date(Date.now() + 3_600_000).toISOString(),
          createdBy: 'test',
          comment,
        }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { silenceID: string }).silenceID;
    };
    const regex = await post([{ name: 'service', value: 'check.*', isRegex: true, isEqual: true }], 'regex');
    const other = await post([{ name: 'alertname', value: 'DiskFull', isRegex: false, isEqual: true }], 'other');
    const notProd = await post(
      [
        { name: 'service', value: 'checkout', isRegex: false, isEqual: true },
        { name: 'env', value: 'prod', isRegex: false, isEqual: false },
      ],
      'absent env',
    );
    const partial = await post([{ name: 'service', value: 'check', isRegex: true, isEqual: true }], 'unanchored');
    try {
      const labels = { alertname: 'HighErrorRate', service: 'checkout', severity: 'critical' };
      // Alertmanager itself mutes HighErrorRate with exactly these two (an absent env is "", not "prod")
      await waitFor('Alertmanager to silence HighErrorRate', async () => {
        const r = await call('alerts_list', { matchers: ['alertname="HighErrorRate"'] }, services);
        return [...r.alerts[0].silencedBy].sort().join() === [regex, notProd].sort().join();
      });
      const found = await call('alerts_list_silences', { labels }, services);
      expect(found.silences.map((s: { id: string }) => s.id).sort()).toEqual([regex, notProd].sort());
      const inProd = await call('alerts_list_silences', { labels: { ...labels, env: 'prod' } }, services);
      expect(inProd.silences.map((s: { id: string }) => s.id)).toEqual([regex]);
      // matchers stay Alertmanager's textual filter: silences written with exactly that matcher
      const textual = await call('alerts_list_silences', { matchers: ['service="checkout"'] }, services);
      expect(textual.silences.map((s: { id: string }) => s.id)).toEqual([notProd]);
      expect(other).not.toBe(partial);
    } finally {
      for (const id of [regex, other, notProd, partial]) {
        await fetch(`${am.url}/api/v2/silence/${id}`, { method: 'DELETE' });
      }
    }
  });

  it('says ERR_NOT_FOUND for an unknown silence', async () => {
    const err = await callError('alerts_expire_silence', { silenceId: randomUUID() }, services);
    expect(err.code).toBe('ERR_NOT_FOUND');
  });
});

describe('alert values Alertmanager quotes its own way, and alerts larger than a page', () => {
  it('a matcher on a value with a tab or a control character finds the alert (quoted as Alertmanager parses)', async () => {
    const note = 'a\tb\u0001c';
    await postAlerts(am.url, [{ labels: { alertname: 'TabbedNote', note, severity: 'info' } }]);
    await waitFor('the tabbed alert', async () => {
      const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('alertname="TabbedNote"')}`);
      return ((await res.json()) as unknown[]).length === 1;
    });
    // JSON-quoted (`note="a\tb\u0001c"`), Alertmanager read the escapes literally and matched nothing.
    const hit = await call('alerts_list', { matchers: [`note="${note}"`] }, services);
    expect(hit.alerts.map((a: { name: string }) => a.name)).toEqual(['TabbedNote']);
    expect(hit.alerts[0].labels.note).toBe(note);
    const none = await call('alerts_list', { matchers: ['note="a b\u0001c"'] }, services);
    expect(none.total).toBe(0);
  });

  it('one alert with 80 long annotations and 60 labels is bounded, says what was cut, and the page fits', async () => {
    const annotations = Object.fromEntries(
      Array.from({ length: 80 }, (_, i) => [`note${i}`, `${i}:${'x'.repeat(900)}`]),
    );
    const labels: Record<string, string> = { alertname: 'Verbose', severity: 'critical' };
    for (let i = 0; i < 60; i++) labels[`l${String(i).padStart(2, '0')}`] = i === 0 ? 'y'.repeat(300) : `v${i}`;
    await postAlerts(am.url, [{ labels, annotations }]);
    await waitFor('the verbose alert', async () => {
      const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('alertname="Verbose"')}`);
      return ((await res.json()) as unknown[]).length === 1;
    });
    // The kit's share of a 64 KiB budget for the data (the answer carries it twice): 2/5.
    const budget = Math.floor((64 * 1024 * 2) / 5);
    const page = await call('alerts_list', { limit: 50 }, services, { maxOutputBytes: budget });
    expect(Buffer.byteLength(JSON.stringify(page))).toBeLessThanOrEqual(budget);
    const verbose = page.alerts[0];
    expect(verbose.name).toBe('Verbose'); // critical: first
    expect(Object.keys(verbose.labels)).toHaveLength(40);
    expect(verbose.labels).toMatchObject({ alertname: 'Verbose', severity: 'critical' });
    expect(verbose.labels.l00).toBe(`${'y'.repeat(200)}…`);
    const kept = Object.keys(verbose.annotations).length;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(80);
    expect(verbose.cut).toEqual([
      'labels: 40 of 62 kept',
      '1 label value(s) cut to 200 chars',
      `${kept} annotation value(s) cut to 500 chars`,
      `annotations: ${kept} of 80 kept (2000 chars in all)`,
    ]);
    // The rest of the page still comes: the big alert no longer crowds it out.
    expect(page.returned).toBeGreaterThan(10);
    expect(page.alerts.slice(1).every((a: { cut?: unknown }) => a.cut === undefined)).toBe(true);
  });
});

describe('alert times in other zones', () => {
  it('lists the newest alert first whatever offset its sender wrote (Alertmanager keeps the offset)', async () => {
    // A Prometheus running with TZ=Asia/Karachi sends its times as +05:00; another sender writes UTC.
    const karachi = (ms: number) => `${new Date(ms + 5 * 3600_000).toISOString().slice(0, 19)}+05:00`;
    const now = Date.now();
    const alerts = [
      { labels: { alertname: 'OlderInKarachiTime', team: 'tz' }, startsAt: karachi(now - 2 * 3600_000) },
      { labels: { alertname: 'NewerInUtc', team: 'tz' }, startsAt: new Date(now - 3600_000).toISOString() },
    ].map((a) => ({ ...a, endsAt: new Date(now + 3600_000).toISOString() }));
    const posted = await fetch(`${am.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts),
    });
    expect(posted.status).toBe(200);
    await waitFor('the two alerts', async () => {
      const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('team="tz"')}`);
      return ((await res.json()) as unknown[]).length === 2;
    });
    const res = await call('alerts_list', { matchers: ['team="tz"'] }, services);
    expect(res.alerts.find((a: { name: string }) => a.name === 'OlderInKarachiTime')?.startsAt).toMatch(/\+05:00$/);
    expect(res.alerts.map((a: { name: string }) => a.name)).toEqual(['NewerInUtc', 'OlderInKarachiTime']);
    // Silences too: amtool writes its host's zone. Both pending (start tomorrow), the UTC one later.
    const silence = async (startsAt: string, endsAt: string, comment: string) => {
      const body = {
        matchers: [{ name: 'team', value: 'tz', isRegex: false }],
        startsAt,
        endsAt,
        createdBy: 't',
        comment,
      };
      const created = await fetch(`${am.url}/api/v2/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(created.status).toBe(200);
    };
    const day = 86_400_000;
    await silence(karachi(now + day), karachi(now + 2 * day), 'earlier, Karachi time');
    await silence(new Date(now + day + 3600_000).toISOString(), new Date(now + 2 * day).toISOString(), 'later, UTC');
    const silences = await call('alerts_list_silences', { state: ['pending'], matchers: ['team="tz"'] }, services);
    expect(silences.silences.map((x: { comment: string }) => x.comment)).toEqual([
      'later, UTC',
      'earlier, Karachi time',
    ]);
  });
});

describe('Alertmanager down', () => {
  it('names Alertmanager as unreachable', async () => {
    const down = makeServices({ alertmanager: { url: await deadUrl() } });
    const err = await callError('alerts_list', {}, down);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/^Alertmanager is unreachable/);
  });
});
