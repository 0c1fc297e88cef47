import { describe, expect, it } from 'vitest';
import { fillTemplate } from './incident.js';
import { checkStreamSelector, flattenStreams } from './logs.js';

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
