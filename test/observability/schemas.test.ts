/**
 * Every observability tool's input and output schema, as tools/list carries them, compiled by Ajv in
 * draft-07 and 2020-12 modes (strict): plain constructs every common validator reads the same way. The
 * SDK-client test (sdk-client.test.ts) proves real answers validate; this proves the schemas themselves.
 */
import { toolSpecs } from '@ravenhelm/mcp-observability';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';

const validators = {
  'draft-07': new Ajv({ strict: true, allErrors: true }),
  '2020-12': new Ajv2020({ strict: true, allErrors: true }),
};

describe('observability schemas under Ajv', () => {
  for (const [mode, ajv] of Object.entries(validators)) {
    it(`compile in ${mode} mode, with no tuple forms`, () => {
      const failures: string[] = [];
      for (const t of toolSpecs) {
        for (const [which, schema] of [
          ['input', t.inputSchema],
          ['output', t.outputSchema],
        ] as const) {
          try {
            ajv.compile(schema);
          } catch (err) {
            failures.push(`${t.name} ${which}: ${(err as Error).message}`);
          }
          if (/prefixItems|"items":false/.test(JSON.stringify(schema))) failures.push(`${t.name} ${which}: tuple form`);
        }
      }
      expect(failures).toEqual([]);
    });
  }

  it('accept [time, average] pairs and refuse a wrong top-level kind (the listed schema is shallow; the server checks the full shape)', () => {
    const spec = toolSpecs.find((t) => t.name === 'metrics_query_range');
    if (!spec) throw new Error('metrics_query_range missing');
    const answer = (pair: unknown[]) => ({
      query: 'up',
      start: 1,
      end: 2,
      step: 1,
      mode: 'summary',
      pointsPerSeries: 1,
      series: [
        {
          labels: {},
          stats: { min: 1, max: 1, avg: 1, last: 1, p95: 1, samples: 1, nonFinite: 0 },
          downsampled: [pair],
        },
      ],
      rest: { series: 0, min: null, max: null },
      total: 1,
      returned: 1,
      truncated: false,
    });
    for (const ajv of Object.values(validators)) {
      const validate = ajv.compile(spec.outputSchema);
      expect(validate(answer([1767268800, 1]))).toBe(true);
      expect(validate(answer([1767268800, null]))).toBe(true);
      expect(validate({ ...answer([1767268800, 1]), series: {} })).toBe(false);
    }
  });
});
