import { describe, expect, it } from 'vitest';
import { checkMetricQuery, lokiDefaultStep, rangesOf } from './logs-metric.js';

describe('checkMetricQuery', () => {
  it('accepts metric queries, leaving their syntax to Loki', () => {
    for (const q of ['rate({app="a"}[5m])', ' sum by (app) (count_over_time({env="prod"} |= "x" [1h]))', 'topk(3, x{'])
      expect(() => checkMetricQuery(q), q).not.toThrow();
  });

  it('refuses a log query pointing at logs_search, and a query without a selector', () => {
    expect(() => checkMetricQuery(' {app="a"} |= "x"')).toThrow(
      /logs_search.*sum\(count_over_time\(\{app="a"\} \|= "x" \[5m\]\)\)/,
    );
    expect(() => checkMetricQuery('rate(errors[5m])')).toThrow(/needs a stream selector/);
  });
});

describe('rangesOf', () => {
  it('reads every distinct range selector, compound durations included', () => {
    expect(rangesOf('sum(rate({a="b"}[5m])) / sum(rate({a="c"} [ 5m ]))')).toEqual([300]);
    expect(rangesOf('count_over_time({a="b"}[1h30m])')).toEqual([5400]);
    expect(rangesOf('count_over_time({a="b"}[1d]) - count_over_time({a="b"}[500ms])')).toEqual([86_400, 0.5]);
    expect(rangesOf('{a="b"}')).toEqual([]);
  });
});

describe('lokiDefaultStep', () => {
  it('is floor(range / 250) seconds, at least 1 (pkg/loghttp/params.go)', () => {
    expect(lokiDefaultStep(3600)).toBe(14);
    expect(lokiDefaultStep(6 * 3600)).toBe(86);
    expect(lokiDefaultStep(100)).toBe(1);
  });
});
