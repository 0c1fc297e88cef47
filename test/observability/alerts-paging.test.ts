/**
 * Alert lists change between two pages: an alert resolves, another fires, a silence expires. Paged by offset,
 * the next page then skips or repeats one without a word. Pages resume after the last key shown (severity,
 * start, fingerprint) and say in `cut` when the set before the cursor changed. Against the real Alertmanager.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, postAlerts, startAlertmanager, waitFor } from './fixture.js';
import { call, makeServices, type Result } from './harness.js';

let am: Proc;
let services: ReturnType<typeof makeServices>;

async function activeAlerts(): Promise<number> {
  const res = await fetch(`${am.url}/api/v2/alerts?active=true`);
  return ((await res.json()) as unknown[]).length;
}

/** Resolves alerts the way a sender does: the same labels with endsAt in the past. */
async function resolve(labels: Record<string, string>[]): Promise<void> {
  const past = new Date(Date.now() - 1_000).toISOString();
  const res = await fetch(`${am.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      labels.map((l) => ({ labels: l, startsAt: new Date(Date.now() - 60_000).toISOString(), endsAt: past })),
    ),
  });
  expect(res.status).toBe(200);
}

const pageAlert = (i: number) => ({ alertname: 'Paged', service: `svc${i}`, severity: 'warning', instance: `p${i}` });
const fps = (r: Result): string[] => r.alerts.map((a: { fingerprint: string }) => a.fingerprint);
const names = (r: Result): string[] => r.alerts.map((a: { labels: { instance: string } }) => a.labels.instance);

beforeAll(async () => {
  am = await startAlertmanager({ groupBy: ['alertname', 'service'] });
  services = makeServices({ alertmanager: { url: am.url } });
  await postAlerts(
    am.url,
    Array.from({ length: 12 }, (_, i) => ({ labels: pageAlert(i) })),
  );
  await waitFor('12 alerts', async () => (await activeAlerts()) === 12);
});

afterAll(async () => {
  await am?.stop();
});

describe('alert lists resume after the last key shown', () => {
  it('alerts_list: pages of an unchanged list are exact and say nothing', async () => {
    const all = await call('alerts_list', { matchers: ['alertname="Paged"'] }, services);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(
        'alerts_list',
        { matchers: ['alertname="Paged"'], limit: 5, ...(cursor ? { cursor } : {}) },
        services,
      );
      expect(page.cut).toBeUndefined();
      seen.push(...fps(page));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(fps(all));
  });

  it('alerts_list: two alerts on page 1 resolve, another fires: page 2 goes on after the last shown and says so', async () => {
    const before = await call('alerts_list', { matchers: ['alertname="Paged"'] }, services);
    const first = await call('alerts_list', { matchers: ['alertname="Paged"'], limit: 4 }, services);
    expect(first.nextCursor).toEqual(expect.any(String));
    const shown = names(first);
    const gone = shown.slice(0, 2).map((p) => pageAlert(Number(p.slice(1))));
    // two alerts of page 1 resolve; a critical one (sorted before everything) fires
    await resolve(gone);
    await postAlerts(am.url, [
      { labels: { alertname: 'Paged', service: 'new', severity: 'critical', instance: 'new' } },
    ]);
    await waitFor('the change', async () => {
      const r = await call('alerts_list', { matchers: ['alertname="Paged"'] }, services);
      return r.total === 11 && r.alerts[0].labels.instance === 'new';
    });
    const second = await call(
      'alerts_list',
      { matchers: ['alertname="Paged"'], limit: 4, cursor: first.nextCursor },
      services,
    );
    // exactly the 5th..8th of the list as it was: nothing skipped, nothing repeated
    expect(names(second)).toEqual(names(before).slice(4, 8));
    expect(second.cut).toEqual([expect.stringMatching(/^alerts before this page changed/)]);
    await postAlerts(
      am.url,
      gone.map((labels) => ({ labels })),
    );
    await resolve([{ alertname: 'Paged', service: 'new', severity: 'critical', instance: 'new' }]);
    await waitFor(
      'the list as it was',
      async () =>
        (await call('alerts_list', { matchers: ['alertname="Paged"'] }, services)).alerts[0].labels.instance !== 'new',
    );
  });

  it('alerts_list_groups: a group on page 1 resolves: page 2 skips none', async () => {
    await waitFor(
      '12 groups',
      async () => (await call('alerts_list_groups', { matchers: ['alertname="Paged"'] }, services)).total === 12,
    );
    const before = await call('alerts_list_groups', { matchers: ['alertname="Paged"'] }, services);
    const service = (g: { labels: { service: string } }) => g.labels.service;
    const first = await call('alerts_list_groups', { matchers: ['alertname="Paged"'], limit: 4 }, services);
    const gone = service(first.groups[1]) as string;
    await resolve([pageAlert(Number(gone.slice(3)))]);
    await waitFor(
      'the group to go',
      async () => (await call('alerts_list_groups', { matchers: ['alertname="Paged"'] }, services)).total === 11,
    );
    const second = await call(
      'alerts_list_groups',
      { matchers: ['alertname="Paged"'], limit: 4, cursor: first.nextCursor },
      services,
    );
    expect(second.groups.map(service)).toEqual(before.groups.slice(4, 8).map(service));
    expect(second.cut).toEqual([expect.stringMatching(/^groups before this page changed/)]);
    await postAlerts(am.url, [{ labels: pageAlert(Number(gone.slice(3))) }]);
  });

  it('alerts_list_silences: a silence on page 1 expires: page 2 skips none', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${am.url}/api/v2/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          matchers: [{ name: 'instance', value: `p${i}`, isRegex: false, isEqual: true }],
          startsAt: new Date(Date.now() - i * 60_000).toISOString(),
          endsAt: new Date(Date.now() + 3_600_000).toISOString(),
          createdBy: 'test',
          comment: `paging ${i}`,
        }),
      });
      ids.push(((await res.json()) as { silenceID: string }).silenceID);
    }
    try {
      const before = await call('alerts_list_silences', {}, services);
      expect(before.total).toBe(6);
      const first = await call('alerts_list_silences', { limit: 2 }, services);
      expect(first.cut).toBeUndefined();
      await fetch(`${am.url}/api/v2/silence/${first.silences[0].id}`, { method: 'DELETE' });
      const second = await call('alerts_list_silences', { limit: 2, cursor: first.nextCursor }, services);
      const id = (s: { id: string }) => s.id;
      expect(second.silences.map(id)).toEqual(before.silences.slice(2, 4).map(id));
      expect(second.cut).toEqual([expect.stringMatching(/^silences before this page changed/)]);
    } finally {
      for (const id of ids) await fetch(`${am.url}/api/v2/silence/${id}`, { method: 'DELETE' });
    }
  });

  it('refuses a cursor it did not issue, and an offset cursor, which names no tool', async () => {
    const bad = await call('alerts_list', { cursor: 'zzz' }, services).catch((e: Error) => e);
    expect(String((bad as Error).message)).toMatch(/cursor is not one alerts_list issued/);
    // once read as a start index by every tool: an offset cursor of any listing went on "from 10" here
    const old = await call(
      'alerts_list',
      { matchers: ['alertname="Paged"'], limit: 2, cursor: Buffer.from('o:10').toString('base64url') },
      services,
    ).catch((e: Error) => e);
    expect(String((old as Error).message)).toMatch(
      /^cursor is an offset cursor .*which alerts_list does not read; omit it/,
    );
  });
});
