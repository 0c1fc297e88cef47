import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrafanaSimulator } from '../simulators/grafana.js';
import { LokiSimulator } from '../simulators/loki.js';
import { TempoSimulator } from '../simulators/tempo.js';
import { deadUrl } from './fixture.js';

// The real bin over stdio, the way mcp.json starts it, configured only through environment variables.
const root = fileURLToPath(new URL('../..', import.meta.url));
const BIN = ['--conditions=@ravenhelm/source', '--import', 'tsx', 'servers/observability/src/bin.ts'];
const TOKEN = 'glsa_stdio_secret_token';
const loki = new LokiSimulator();
const tempo = new TempoSimulator();
const grafana = new GrafanaSimulator(TOKEN);
let env: Record<string, string>;
let client: Client;

beforeAll(async () => {
  await Promise.all([loki.start(), tempo.start(), grafana.start()]);
  loki.push({ service_name: 'api' }, [{ atMs: Date.now() - 1000, line: 'level=error msg="stdio works"' }]);
  grafana.add({ uid: 'api-main', title: 'API main', tags: ['api'] });
  env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    PROMETHEUS_URL: await deadUrl(),
    LOKI_URL: loki.url,
    LOKI_TENANT: 'team-stdio',
    TEMPO_URL: tempo.url,
    GRAFANA_URL: grafana.url,
    GRAFANA_TOKEN: TOKEN,
  };
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...BIN, '--stdio'],
    cwd: root,
    env,
    stderr: 'ignore',
  });
  client = new Client({ name: 'observability-stdio-test', version: '0' });
  await client.connect(transport);
});

afterAll(async () => {
  await client?.close();
  await Promise.all([loki.close(), tempo.close(), grafana.close()]);
});

describe('ravenhelm-mcp-observability --stdio', () => {
  it('lists every toolset with output schemas and annotations', async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    for (const n of ['metrics_query_range', 'alerts_list', 'logs_search', 'traces_get', 'dashboards_get'])
      expect(names).toContain(n);
    expect(names).toContain('incident_get_context');
    const range = tools.find((t) => t.name === 'metrics_query_range');
    expect(range?.outputSchema?.type).toBe('object');
    expect(range?.annotations).toEqual({ readOnlyHint: true, openWorldHint: false });
  });

  it('answers with structured content from the backends named in the environment', async () => {
    const logs = await client.callTool({ name: 'logs_search', arguments: { query: '{service_name="api"}' } });
    expect(logs.isError).toBeFalsy();
    expect(logs.structuredContent).toMatchObject({ returned: 1, lines: [{ line: 'level=error msg="stdio works"' }] });
    expect(loki.control.requests.at(-1)?.headers['x-scope-orgid']).toBe('team-stdio');
    const dashboards = await client.callTool({ name: 'dashboards_search', arguments: { query: 'api' } });
    expect(dashboards.structuredContent).toMatchObject({ total: 1, dashboards: [{ uid: 'api-main' }] });
  });

  it('returns tool errors the model can read, without secrets', async () => {
    const missing = await client.callTool({
      name: 'traces_get',
      arguments: { traceId: '0123456789abcdef0123456789abcdef' },
    });
    expect(missing.isError).toBe(true);
    expect(JSON.stringify(missing.content)).toMatch(/ERR_NOT_FOUND.*Tempo has no trace/);
    const down = await client.callTool({ name: 'metrics_query', arguments: { query: 'up' } });
    expect(down.isError).toBe(true);
    expect(JSON.stringify(down.content)).toMatch(/ERR_BACKEND_UNAVAILABLE.*Prometheus is unreachable/);
    const badQuery = await client.callTool({ name: 'logs_search', arguments: { query: '{service_name="api"} |= x' } });
    expect(badQuery.isError).toBe(true);
    expect(JSON.stringify(badQuery.content)).toMatch(/ERR_QUERY_INVALID.*parse error at line 1, col 25/);
    grafana.control.fail = { status: 500, text: `echo: Bearer ${TOKEN}` };
    try {
      const echoed = await client.callTool({ name: 'dashboards_search', arguments: {} });
      expect(echoed.isError).toBe(true);
      expect(JSON.stringify(echoed)).not.toContain(TOKEN);
      expect(JSON.stringify(echoed.content)).toMatch(/Bearer \[redacted\]/);
    } finally {
      grafana.control.fail = undefined;
    }
  });

  it('prints its configuration with the backend secrets redacted', () => {
    const run = spawnSync(process.execPath, [...BIN, '--print-config'], {
      cwd: root,
      env: { ...env, TEMPO_USERNAME: 'tempo', TEMPO_PASSWORD: 'tempo-secret-pw' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain(loki.url);
    expect(run.stdout).toContain('team-stdio');
    expect(run.stdout).not.toContain(TOKEN);
    expect(run.stdout).not.toContain('tempo-secret-pw');
    expect(run.stderr).not.toContain(TOKEN);
  });
});
