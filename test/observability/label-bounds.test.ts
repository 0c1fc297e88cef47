import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Proc, startPrometheus } from './fixture.js';
import { call, makeServices } from './harness.js';

/**
 * A query under the 4,000-char limit can build a label value of any length (label_join joins one label with
 * itself as often as it is named): one such series used to make the whole answer ERR_OUTPUT_TOO_LARGE, which
 * no filter or limit could narrow. Values are bounded per series and the answer says so.
 */
let prom: Proc;
let services: ReturnType<typeof makeServices>;
const BIG = 'x'.repeat(1000);
const wide = (v: string) =>
  `label_join(label_replace(${v}, "a", "${BIG}", "", ""), "c", "", ${Array(30).fill('"a"').join(',')})`;
const QUERY = `${wide('vector(1)')} or ${wide('label_replace(vector(2), "k", "v", "", "")')}`;

beforeAll(async () => {
  prom = await startPrometheus([]);
  services = makeServices({ prometheus: { url: prom.url } });
});

afterAll(async () => {
  await prom?.stop();
});

describe('series with very long label values', () => {
  const opts = { maxOutputBytes: 16 * 1024 };
  const cutSaid = (r: Record<string, unknown>) => expect(r.cut).toEqual([expect.stringMatching(/label values cut/)]);

  it('metrics_query answers both series with their values cut, and says so', async () => {
    const r = await call('metrics_query', { query: QUERY }, services, opts);
    expect(r.total).toBe(2);
    expect(r.returned).toBe(2);
    for (const s of r.samples) expect(s.labels.c.length).toBeLessThan(1000);
    expect(r.samples.map((s: { labels: { k?: string } }) => s.labels.k ?? '').sort()).toEqual(['', 'v']);
    cutSaid(r);
  });

  it('metrics_query_range answers in summary and raw modes, and says so', async () => {
    for (const mode of ['summary', 'raw']) {
      const r = await call(
        'metrics_query_range',
        { query: QUERY, start: 'now-5m', end: 'now', step: '1m', mode },
        services,
        opts,
      );
      expect(r.returned).toBe(2);
      cutSaid(r);
    }
  });

  it('says nothing for series whose labels are short', async () => {
    const r = await call('metrics_query', { query: 'vector(1)' }, services, opts);
    expect(r.cut).toBeUndefined();
  });
});
