/**
 * alerts_list_groups lists groups by receiver, then by their label pairs (name, value) in name order, as
 * Alertmanager's UI groups them, and pages by that order: a group coming or going before the cursor moves
 * nothing after it. Against the real Alertmanager, with two routes to their own receivers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, postAlerts, startAlertmanager, waitFor } from './fixture.js';
import { call, makeServices, type Result } from './harness.js';

let am: Proc;
let services: ReturnType<typeof makeServices>;

const alert = (alertname: string, service: string, team?: string) => ({
  alertname,
  service,
  suite: 'order',
  ...(team ? { team } : {}),
});
const MATCH = { matchers: ['suite="order"'] };
/** A group as `receiver alertname/service`. */
const shown = (r: Result): string[] =>
  r.groups.map(
    (g: { receiver: string; labels: { alertname: string; service: string } }) =>
      `${g.receiver} ${g.labels.alertname}/${g.labels.service}`,
  );

async function resolve(labels: Record<string, string>[]): Promise<void> {
  const res = await fetch(`${am.url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      labels.map((l) => ({
        labels: l,
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: new Date(Date.now() - 1_000).toISOString(),
      })),
    ),
  });
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  am = await startAlertmanager({
    groupBy: ['alertname', 'service'],
    routes: [
      { receiver: 'bravo', matcher: 'team="b"' },
      { receiver: 'alpha', matcher: 'team="a"' },
    ],
  });
  services = makeServices({ alertmanager: { url: am.url } });
  // posted out of order, and each receiver's groups interleaved with the others'
  await postAlerts(am.url, [
    { labels: alert('Mem', 's1') },
    { labels: alert('Disk', 's3', 'b') },
    { labels: alert('Disk', 's1', 'a') },
    { labels: alert('Cpu', 's9') },
    { labels: alert('Cpu', 's1', 'b') },
    { labels: alert('Cpu', 's2', 'a') },
    { labels: alert('Cpu', 's1', 'a') },
  ]);
  await waitFor('7 groups', async () => (await call('alerts_list_groups', MATCH, services)).total === 7);
});

afterAll(async () => {
  await am?.stop();
});

describe('alerts_list_groups order', () => {
  it('lists groups by receiver, then by label values in label-name order', async () => {
    const all = await call('alerts_list_groups', MATCH, services);
    expect(shown(all)).toEqual([
      'alpha Cpu/s1',
      'alpha Cpu/s2',
      'alpha Disk/s1',
      'blackhole Cpu/s9',
      'blackhole Mem/s1',
      'bravo Cpu/s1',
      'bravo Disk/s3',
    ]);
  });

  it('pages in that order across a change: a group gone and one added before the cursor skip nothing', async () => {
    const first = await call('alerts_list_groups', { ...MATCH, limit: 3 }, services);
    expect(shown(first)).toEqual(['alpha Cpu/s1', 'alpha Cpu/s2', 'alpha Disk/s1']);
    expect(first.cut).toBeUndefined();
    // before the cursor: one group resolves, one fires; after it: one fires between two not yet shown
    await resolve([alert('Cpu', 's2', 'a')]);
    await postAlerts(am.url, [{ labels: alert('Cpu', 's0', 'a') }, { labels: alert('Cpu', 's5') }]);
    await waitFor('the change', async () => {
      const now = shown(await call('alerts_list_groups', MATCH, services));
      return now.includes('alpha Cpu/s0') && now.includes('blackhole Cpu/s5') && !now.includes('alpha Cpu/s2');
    });
    const second = await call('alerts_list_groups', { ...MATCH, limit: 3, cursor: first.nextCursor }, services);
    expect(shown(second)).toEqual(['blackhole Cpu/s5', 'blackhole Cpu/s9', 'blackhole Mem/s1']);
    expect(second.cut).toEqual([expect.stringMatching(/^groups before this page changed/)]);
    const third = await call('alerts_list_groups', { ...MATCH, limit: 3, cursor: second.nextCursor }, services);
    expect(shown(third)).toEqual(['bravo Cpu/s1', 'bravo Disk/s3']);
    expect(third.nextCursor).toBeUndefined();
  });

  it('refuses a cursor from a listing with other matchers', async () => {
    const first = await call('alerts_list_groups', { ...MATCH, limit: 2 }, services);
    const other = await call(
      'alerts_list_groups',
      { matchers: ['suite="order"', 'service="s1"'], limit: 2, cursor: first.nextCursor },
      services,
    ).catch((e: Error) => e);
    expect(String((other as Error).message)).toMatch(/cursor belongs to another listing of alerts_list_groups/);
  });
});
