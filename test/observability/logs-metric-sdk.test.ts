/**
 * logs_query_metric through the real SDK `Client` over stdio, with the client's output-schema validation on
 * (it checks structuredContent against the outputSchema it read in tools/list) and Ajv in strict draft-07 and
 * 2020-12 modes, for every shape the tool answers: summary, raw, budget-cut, empty, and a refusal.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LokiSimulator } from '../simulators/loki.js';
import { deadUrl } from './fixture.js';
import { connectObservabilityStdio } from './stdio-client.js';

const loki = new LokiSimulator();
let client: Client;
const now = Date.now();

beforeAll(async () => {
  await loki.start();
  for (let p = 0; p < 30; p++) {
    loki.push(
      { env: 'prod', app: `app-${p % 3}`, pod: `pod-${p}` },
      Array.from({ length: p + 1 }, (_, i) => ({ atMs: now - 240_000 + i * 1000, line: `level=error n=${i}` })),
    );
  }
  client = await connectObservabilityStdio('logs-metric-sdk', {
    PROMETHEUS_URL: await deadUrl(),
    LOKI_URL: loki.url,
    // small enough that a 30-series summary is cut to fit
    RAVENHELM_MAX_OUTPUT_BYTES: '8192',
  });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await loki.close();
});

describe('logs_query_metric through the SDK Client', () => {
  it('every answer validates against the listed output schema; a refusal is an isError result', async () => {
    const { tools } = await client.listTools();
    const listed = tools.find((t) => t.name === 'logs_query_metric');
    expect(listed?.outputSchema?.type).toBe('object');
    const validators = [new Ajv({ strict: true, allErrors: true }), new Ajv2020({ strict: true, allErrors: true })].map(
      (a) => a.compile(listed?.outputSchema ?? {}),
    );
    const base = { start: 'now-5m', step: '1m' };
    const cases = [
      { query: 'sum by (app) (count_over_time({env="prod"} |= "error" [1m]))', ...base },
      { query: 'count_over_time({env="prod"} [1m])', ...base, topK: 100, points: 60 },
      { query: 'topk(3, sum by (pod) (rate({env="prod"} [1m])))', ...base, mode: 'raw' },
      { query: 'sum(bytes_over_time({env="nowhere"} [1m]))', ...base },
    ];
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
    const answers: Record<string, any>[] = [];
    for (const args of cases) {
      const res = await client.callTool({ name: 'logs_query_metric', arguments: args });
      expect(res.isError, JSON.stringify(res.content).slice(0, 300)).toBeFalsy();
      const structured = res.structuredContent as Record<string, unknown>;
      for (const validate of validators) expect(validate(structured), JSON.stringify(validate.errors)).toBe(true);
      answers.push(structured);
    }
    expect(answers[0]).toMatchObject({ total: 3, returned: 3, truncated: false });
    // 30 pods do not fit the share of 8 KiB: a page, the rest counted, a cursor to continue
    expect(answers[1]).toMatchObject({ total: 30, truncated: true, nextCursor: expect.any(String) });
    expect(answers[1]?.rest.series).toBe(30 - answers[1]?.returned);
    // topk(3) per step: the top three change from step to step, each series kept with its own pod
    expect(answers[2]).toMatchObject({ mode: 'raw', raw: expect.any(Array) });
    expect(answers[2]?.total).toBeGreaterThanOrEqual(3);
    expect(answers[3]).toMatchObject({ total: 0, returned: 0, series: [] });

    const refused = await client.callTool({ name: 'logs_query_metric', arguments: { query: '{env="prod"}' } });
    expect(refused.isError).toBe(true);
    const text = (refused.content as { text?: string }[]).map((c) => c.text ?? '').join('\n');
    expect(text).toMatch(/ERR_QUERY_INVALID/);
    expect(text).toMatch(/logs_search/);
  });
});
