import { describe, expect, it } from 'vitest';
import type { PromRule, PromRuleGroup } from '../backends/prometheus.js';
import { parseMatchers } from '../matchers.js';
import { fitRules, labelTest, RULE_BOUNDS, ruleRank, summarizeRule } from './rules.js';

const group: PromRuleGroup = { name: 'g', file: '/etc/prometheus/rules.yml', interval: 30, rules: [] };
const alerting = (over: Partial<PromRule>): PromRule => ({
  type: 'alerting',
  name: 'A',
  query: 'up == 0',
  health: 'ok',
  state: 'inactive',
  duration: 300,
  labels: {},
  annotations: {},
  alerts: [],
  ...over,
});

describe('ruleRank', () => {
  it('orders broken, firing, pending, unknown, inactive alerting, recording', () => {
    const rules: PromRule[] = [
      { type: 'recording', name: 'r', query: 'x', health: 'ok' },
      alerting({ name: 'inactive' }),
      alerting({ name: 'unknown', health: 'unknown' }),
      alerting({ name: 'pending', state: 'pending' }),
      alerting({ name: 'firing', state: 'firing' }),
      { type: 'recording', name: 'broken-record', query: 'x', health: 'err', lastError: 'boom' },
    ];
    expect([...rules].sort((a, b) => ruleRank(a) - ruleRank(b)).map((r) => r.name)).toEqual([
      'broken-record',
      'firing',
      'pending',
      'unknown',
      'inactive',
      'r',
    ]);
  });
});

describe('labelTest', () => {
  it('applies =, !=, =~ and !~ anchored, with absent labels as ""', () => {
    const test = (m: string[]) => labelTest(parseMatchers(m));
    expect(test(['severity="critical"'])({ severity: 'critical' })).toBe(true);
    expect(test(['severity!="critical"'])({})).toBe(true);
    expect(test(['severity=~"crit"'])({ severity: 'critical' })).toBe(false);
    expect(test(['severity=~"crit.*"'])({ severity: 'critical' })).toBe(true);
    expect(test(['team!~".+"'])({})).toBe(true);
    expect(test(['team!~".+"'])({ team: 'a' })).toBe(false);
    expect(test(['a="1"', 'b="2"'])({ a: '1', b: '3' })).toBe(false);
    expect(test([])({})).toBe(true);
  });
});

describe('summarizeRule', () => {
  it('lists firing alerts before pending ones, without the labels the rule gives them all', () => {
    const rule = alerting({
      state: 'firing',
      labels: { severity: 'page' },
      keepFiringFor: 600,
      alerts: [
        { labels: { alertname: 'A', severity: 'page', instance: 'p' }, state: 'pending', activeAt: 't1', value: '1' },
        { labels: { alertname: 'A', severity: 'page', instance: 'f' }, state: 'firing', activeAt: 't0', value: '2' },
      ],
    });
    const s = summarizeRule(group, rule, 5);
    expect(s).toMatchObject({ type: 'alert', for: '5m', keepFiringFor: '10m', group: 'g', file: group.file });
    expect(s.alerts).toEqual({
      total: 2,
      firing: 1,
      pending: 1,
      items: [
        { labels: { instance: 'f' }, state: 'firing', activeAt: 't0', value: '2' },
        { labels: { instance: 'p' }, state: 'pending', activeAt: 't1', value: '1' },
      ],
    });
    expect(summarizeRule(group, rule, 1).alerts?.items.map((a) => a.labels.instance)).toEqual(['f']);
  });

  it('cuts long queries and errors and says the full query length', () => {
    const query = 'x'.repeat(RULE_BOUNDS.queryChars + 5);
    const s = summarizeRule(group, alerting({ query, health: 'err', lastError: 'e'.repeat(2000) }), 3);
    expect(s.query).toHaveLength(RULE_BOUNDS.queryChars + 1);
    expect(s.queryChars).toBe(query.length);
    expect(s.lastError).toHaveLength(RULE_BOUNDS.errorChars + 1);
    const short = summarizeRule(group, alerting({}), 3);
    expect(short).not.toHaveProperty('queryChars');
    expect(short).not.toHaveProperty('lastError');
    expect(short).not.toHaveProperty('keepFiringFor');
  });

  it('gives recording rules no state, for or alerts, and null for a rule never evaluated', () => {
    const s = summarizeRule(group, { type: 'recording', name: 'r', query: 'sum(up)', health: 'unknown' }, 3);
    expect(s).toEqual({
      name: 'r',
      type: 'record',
      group: 'g',
      file: group.file,
      health: 'unknown',
      query: 'sum(up)',
      labels: {},
      lastEvaluation: null,
      evaluationSeconds: null,
    });
  });
});

describe('fitRules', () => {
  const wide = (n: number, width: number) =>
    summarizeRule(
      group,
      alerting({
        state: 'firing',
        labels: { owner: 'o'.repeat(width) },
        alerts: Array.from({ length: n }, (_, i) => ({
          labels: { alertname: 'A', pod: `${'p'.repeat(width)}-${i}` },
          state: 'firing',
          activeAt: '2026-01-01T00:00:00Z',
          value: '1',
        })),
      }),
      50,
    );

  it('lists fewer alerts of a rule over the budget, then cuts its values, and says so', () => {
    const rules = [wide(50, 300)];
    expect(fitRules(rules, 4000)).toEqual([
      expect.stringMatching(/^output budget: fewer active alerts listed on 1 rule\(s\)/),
    ]);
    expect(JSON.stringify(rules).length).toBeLessThanOrEqual(4000);
    expect(rules[0]?.alerts?.items.length).toBeGreaterThan(0);
    expect(rules[0]?.alerts?.total).toBe(50);

    const wider = [wide(5, 3000)];
    expect(fitRules(wider, 1000)).toEqual([
      expect.stringMatching(/^output budget: fewer active alerts/),
      'output budget: label and annotation values cut to 100 chars on 1 rule(s)',
    ]);
    expect(wider[0]?.alerts?.items).toEqual([]);
    expect(wider[0]?.labels.owner).toBe(`${'o'.repeat(100)}…`);
  });

  it('leaves a page that fits alone', () => {
    const rules = [wide(3, 10)];
    const before = JSON.stringify(rules);
    expect(fitRules(rules, 10_000)).toEqual([]);
    expect(JSON.stringify(rules)).toBe(before);
  });
});
