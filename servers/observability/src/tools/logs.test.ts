import { describe, expect, it } from 'vitest';
import { fillTemplate, fitIncident } from './incident.js';
import { checkStreamSelector, fitLines, flattenStreams } from './logs.js';

describe('checkStreamSelector', () => {
  it('accepts log queries that start with a selector naming a label', () => {
    for (const q of ['{app="api"}', ' {app=~"web.+"} |= "x"', '{ namespace != "dev", app="a"}', '{app=`raw`}'])
      expect(() => checkStreamSelector(q), q).not.toThrow();
  });

  it('refuses bare filters, empty selectors and metric queries with a how-to', () => {
    for (const q of ['|= "error"', 'error', '{}', '{ }', 'rate({app="a"}[5m])', '{"app"="a"}']) {
      expect(() => checkStreamSelector(q), q).toThrow(/stream selector.*\{service_name="api"\} \|= "error"/);
    }
  });
});

describe('flattenStreams', () => {
  const result = [
    {
      stream: { app: 'a' },
      values: [
        ['3', 'three'],
        ['1', 'one'],
      ] as [string, string][],
    },
    { stream: { app: 'b' }, values: [['2', 'two-and-long']] as [string, string][] },
  ];

  it('merges streams in time order for both directions, labels listed once', () => {
    const back = flattenStreams(result, 'backward', 100);
    expect(back.streams).toEqual([{ app: 'a' }, { app: 'b' }]);
    expect(back.lines.map((l) => [l.line, l.stream])).toEqual([
      ['three', 0],
      ['two-and-long', 1],
      ['one', 0],
    ]);
    expect(flattenStreams(result, 'forward', 100).lines.map((l) => l.ns)).toEqual(['1', '2', '3']);
  });

  it('cuts long lines and marks them', () => {
    const cut = flattenStreams(result, 'forward', 3).lines.find((l) => l.stream === 1);
    expect(cut).toMatchObject({ line: 'two…', cut: true });
  });
});

describe('fillTemplate', () => {
  it('substitutes $service and the braced form', () => {
    const braced = ['$', '{service}'].join('');
    expect(fillTemplate(`up{job="$service"} + x{s="${braced}"} + $services`, 'api')).toBe(
      'up{job="api"} + x{s="api"} + $services',
    );
  });
});

describe('fitLines', () => {
  const streams = [{ pod: 'a'.repeat(100) }, { pod: 'b' }, { pod: 'c'.repeat(100) }];
  const line = (stream: number, n: number) => ({ time: 't', ns: String(n), stream, line: `line ${n}` });

  it('keeps the lines that fit with only the streams they use, renumbered', () => {
    const lines = [line(1, 5), line(1, 4), line(0, 3), line(2, 2), line(1, 1)];
    const all = fitLines(streams, lines, 10_000);
    expect(all).toMatchObject({ linesLeftOut: 0, streamsLeftOut: 0, labelsCut: 0, textCut: false });
    expect(all.streams).toEqual([streams[1], streams[0], streams[2]]);
    expect(all.lines.map((l) => l.stream)).toEqual([0, 0, 1, 2, 0]);

    const some = fitLines(streams, lines, 250);
    expect(JSON.stringify({ s: some.streams, l: some.lines }).length).toBeLessThanOrEqual(250);
    expect(some.lines.map((l) => l.ns)).toEqual(['5', '4']);
    expect(some.streams).toEqual([{ pod: 'b' }]);
    expect(some).toMatchObject({ linesLeftOut: 3, streamsLeftOut: 2 });
  });

  it('cuts the labels and text of a first line that does not fit alone', () => {
    const big = fitLines([{ pod: 'p'.repeat(5000) }], [{ ...line(0, 1), line: 'x'.repeat(5000) }], 1000);
    expect(big).toMatchObject({ linesLeftOut: 0, labelsCut: 1, textCut: true });
    expect(big.streams[0]?.pod).toBe(`${'p'.repeat(200)}…`);
    expect(big.lines[0]?.line.endsWith('…')).toBe(true);
    expect(JSON.stringify({ s: big.streams, l: big.lines }).length).toBeLessThanOrEqual(1000);
  });
});

describe('fitIncident', () => {
  const alert = (i: number) => ({ name: `A${i}`, summary: null, labels: { pod: `${'p'.repeat(200)}${i}` } });
  const make = () => ({
    alerts: {
      total: 40,
      truncated: true,
      items: Array.from({ length: 30 }, (_, i) => alert(i)),
      rules: { total: 5, items: Array.from({ length: 5 }, (_, i) => ({ name: `R${i}`, query: 'q'.repeat(300) })) },
    },
    metrics: { items: [{ name: 'm', total: 5, series: Array.from({ length: 5 }, () => ({ labels: {}, v: 1 })) }] },
    logs: { lines: Array.from({ length: 20 }, (_, i) => ({ line: `l${i}`.repeat(20) })), truncated: false },
  });

  it('drops log lines, then the least urgent alerts, then rules, and states each cut', () => {
    const out = make();
    const cut = fitIncident(out, 1800, { alertsHint: 'service="api"', maxAlerts: 30 });
    expect(JSON.stringify(out).length + JSON.stringify(cut).length).toBeLessThanOrEqual(1800);
    expect(out.logs.lines).toHaveLength(1);
    expect(out.alerts.items.map((a) => a.name)).toEqual(['A0']);
    const rules = out.alerts.rules.items.length;
    expect(rules).toBeLessThan(5);
    expect(rules).toBeGreaterThan(0);
    expect(cut).toEqual([
      'alerts: 1 of 40 listed, most urgent first (10 left out by maxAlerts=30, 29 by the output budget); alerts_list with matchers service="api" lists them all',
      `alert rules: ${5 - rules} of 5 left out by the output budget (rules.total counts all); alerts_list_rules with name shows each`,
      'log lines: 19 of 20 left out by the output budget (the oldest); logs_search with logs.query shows them',
    ]);
    expect(out.logs.truncated).toBe(true);
  });

  it('changes nothing that fits', () => {
    const out = make();
    const before = JSON.stringify(out);
    expect(fitIncident(out, 100_000, { alertsHint: 'x', maxAlerts: 30 })).toEqual([
      'alerts: 30 of 40 listed, most urgent first (10 left out by maxAlerts=30, 0 by the output budget); alerts_list with matchers x lists them all',
    ]);
    expect(JSON.stringify(out)).toBe(before);
  });
});
