/**
 * Metric and label lists page by key: a series (a metric name, a label value) appearing between two pages
 * before the cursor makes the next page neither repeat nor skip one, and the page says the list changed.
 * Paged by offset, each new name before the cursor pushed the next page back by one. Against the real
 * Prometheus scraping an exporter whose series grow during the test.
 */
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Listening, listen, type Proc, startPrometheus, waitFor } from './fixture.js';
import { call, makeServices, type Result } from './harness.js';

let prom: Proc;
let exporter: Listening;
let services: ReturnType<typeof makeServices>;
const registry = new Registry();
const gauge = new Gauge({ name: 'paging_g', help: 'Paging test gauge.', labelNames: ['k'], registers: [registry] });

/** Exposes one more metric name, `paging_m<n>`. */
function addMetric(n: string): void {
  new Gauge({ name: `paging_m${n}`, help: `Paging metric ${n}.`, registers: [registry] }).set(1);
}

beforeAll(async () => {
  for (let i = 10; i < 22; i++) {
    addMetric(String(i));
    gauge.set({ k: `k${i}` }, i);
  }
  exporter = await listen((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  prom = await startPrometheus([exporter.url]);
  services = makeServices({ prometheus: { url: prom.url } });
  await waitFor('12 names and 12 series', async () => {
    const names = await call('metrics_list_names', { filter: 'paging_m' }, services);
    const series = await call('metrics_query', { query: 'paging_g' }, services);
    return names.total === 12 && series.total === 12;
  });
});

afterAll(async () => {
  await prom?.stop();
  await exporter?.close();
});

const ks = (r: Result): string[] => r.samples.map((s: { labels: { k: string } }) => s.labels.k);

describe('metric lists page by key', () => {
  it('metrics_list_names: a name appearing before the cursor repeats none on the next page', async () => {
    const before = await call('metrics_list_names', { filter: 'paging_m' }, services);
    const first = await call('metrics_list_names', { filter: 'paging_m', limit: 5 }, services);
    expect(first.names).toEqual(before.names.slice(0, 5));
    addMetric('05');
    await waitFor(
      'paging_m05',
      async () => (await call('metrics_list_names', { filter: 'paging_m' }, services)).total === 13,
    );
    const second = await call(
      'metrics_list_names',
      { filter: 'paging_m', limit: 5, cursor: first.nextCursor },
      services,
    );
    expect(second.names).toEqual(before.names.slice(5, 10));
    expect(second.note).toMatch(/^The metric names changed since the previous page/);
    const third = await call(
      'metrics_list_names',
      { filter: 'paging_m', limit: 5, cursor: second.nextCursor },
      services,
    );
    expect(third.names).toEqual(before.names.slice(10));
    expect(third.nextCursor).toBeUndefined();
  });

  it('metrics_list_label_values and metrics_query: a series appearing before the cursor skips and repeats none', async () => {
    // an absolute time ahead (Prometheus looks back 5m from it): pages of a relative one read their first page's
    // instant, when the series added below did not exist yet
    const time = String(Math.floor(Date.now() / 1000) + 120);
    const values = await call('metrics_list_label_values', { label: 'k', match: ['paging_g'] }, services);
    const samples = await call('metrics_query', { query: 'paging_g', time }, services);
    // samples in label order (k10..k21), as the values
    expect(ks(samples)).toEqual(values.values);
    const firstValues = await call(
      'metrics_list_label_values',
      { label: 'k', match: ['paging_g'], limit: 4 },
      services,
    );
    const firstSamples = await call('metrics_query', { query: 'paging_g', time, limit: 4 }, services);
    const firstDesc = await call('metrics_query', { query: 'paging_g', time, sort: 'desc', limit: 4 }, services);
    expect(ks(firstDesc)).toEqual(['k21', 'k20', 'k19', 'k18']);
    gauge.set({ k: 'k05' }, 20.5); // before every cursor: first by labels, between k21 and k20 by value
    await waitFor('k05', async () => (await call('metrics_query', { query: 'paging_g', time }, services)).total === 13);
    const secondValues = await call(
      'metrics_list_label_values',
      { label: 'k', match: ['paging_g'], limit: 4, cursor: firstValues.nextCursor },
      services,
    );
    expect(secondValues.values).toEqual(values.values.slice(4, 8));
    const secondSamples = await call(
      'metrics_query',
      { query: 'paging_g', time, limit: 4, cursor: firstSamples.nextCursor },
      services,
    );
    expect(ks(secondSamples)).toEqual(ks(samples).slice(4, 8));
    expect(secondSamples.note).toMatch(/^The samples changed since the previous page/);
    const secondDesc = await call(
      'metrics_query',
      { query: 'paging_g', time, sort: 'desc', limit: 4, cursor: firstDesc.nextCursor },
      services,
    );
    expect(ks(secondDesc)).toEqual(['k17', 'k16', 'k15', 'k14']);
    expect(secondDesc.note).toMatch(/value changed/);
  });

  it('refuses a cursor of another listing, naming the tool', async () => {
    const first = await call('metrics_list_label_values', { label: 'k', match: ['paging_g'], limit: 2 }, services);
    const err = await call(
      'metrics_list_label_values',
      { label: 'job', match: ['paging_g'], limit: 2, cursor: first.nextCursor },
      services,
    ).catch((e: Error) => e);
    expect(String((err as Error).message)).toMatch(/belongs to another listing of metrics_list_label_values/);
  });

  it('metrics_query keeps the order a query sorts by (sort_desc, topk), across pages', async () => {
    // paging_g{k="kN"} is N: sort_desc gives k21 first, which label order would put last
    const all = await call('metrics_query', { query: 'sort_desc(paging_g)' }, services);
    const want = ks(all);
    const values = all.samples.map((x: { value: string }) => Number(x.value));
    expect(values).toEqual([...values].sort((a, b) => b - a));
    expect(want[0]).toBe('k21');
    const first = await call('metrics_query', { query: 'sort_desc(paging_g)', limit: 4 }, services);
    const second = await call(
      'metrics_query',
      { query: 'sort_desc(paging_g)', limit: 4, cursor: first.nextCursor },
      services,
    );
    expect([...ks(first), ...ks(second)]).toEqual(want.slice(0, 8));
    const top = await call('metrics_query', { query: 'topk(3, paging_g)' }, services);
    expect(ks(top)).toEqual(want.slice(0, 3));
    const plain = await call('metrics_query', { query: 'paging_g' }, services);
    expect(ks(plain)).toEqual([...ks(plain)].sort());
  });
});

describe('range answers page by key', () => {
  it('metrics_query_range (summary and raw) and a range selector: a series appearing before the cursor skips and repeats none', async () => {
    const range = new Gauge({
      name: 'paging_r',
      help: 'Range paging gauge.',
      labelNames: ['k'],
      registers: [registry],
    });
    for (let i = 10; i < 22; i++) range.set({ k: `k${i}` }, i);
    const count = async () => (await call('metrics_query', { query: 'paging_r' }, services)).total;
    await waitFor('12 paging_r series', async () => (await count()) === 12);
    // absolute times reaching ahead: pages of a relative range read their first page's window, in which the
    // series added below does not exist (range-window.test.ts)
    const nowS = Math.floor(Date.now() / 1000);
    const summary = { query: 'paging_r', start: String(nowS - 300), end: String(nowS + 120), step: '15s', topK: 4 };
    const at = String(nowS + 120);
    const rows = (r: Result): string[] => (r.series ?? r.raw).map((s: { labels: { k: string } }) => s.labels.k);
    const firstTop = await call('metrics_query_range', summary, services);
    expect(rows(firstTop)).toEqual(['k21', 'k20', 'k19', 'k18']);
    const firstRaw = await call('metrics_query_range', { ...summary, mode: 'raw' }, services);
    expect(rows(firstRaw)).toEqual(['k10', 'k11', 'k12', 'k13']);
    const firstSel = await call('metrics_query', { query: 'paging_r[5m]', time: at, limit: 4 }, services);
    expect(rows(firstSel)).toEqual(['k10', 'k11', 'k12', 'k13']);
    // before every cursor: first by labels, between k21 and k20 by max
    range.set({ k: 'k05' }, 20.5);
    await waitFor('k05', async () => (await count()) === 13);
    await waitFor('k05 in the range', async () => (await call('metrics_query_range', summary, services)).total === 13);
    const secondTop = await call('metrics_query_range', { ...summary, cursor: firstTop.nextCursor }, services);
    const secondRaw = await call(
      'metrics_query_range',
      { ...summary, mode: 'raw', cursor: firstRaw.nextCursor },
      services,
    );
    const secondSel = await call(
      'metrics_query',
      { query: 'paging_r[5m]', time: at, limit: 4, cursor: firstSel.nextCursor },
      services,
    );
    expect(rows(secondTop)).toEqual(['k17', 'k16', 'k15', 'k14']);
    expect(rows(secondRaw)).toEqual(['k14', 'k15', 'k16', 'k17']);
    expect(rows(secondSel)).toEqual(['k14', 'k15', 'k16', 'k17']);
    expect(secondTop.total).toBe(13);
    expect(secondTop.cut).toEqual([expect.stringMatching(/^The series changed since the previous page.*max changed/)]);
    expect(secondRaw.cut).toEqual([expect.stringMatching(/^The series changed since the previous page/)]);
    expect(secondSel.note).toMatch(/^The series changed since the previous page/);
    // the rest is what this page leaves out: 13 series, 4 shown
    expect(secondTop.rest).toMatchObject({ series: 9, max: 21 });
  });
});
