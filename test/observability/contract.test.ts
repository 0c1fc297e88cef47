import { type AnyTool, loadConfig, redactConfig, toSpec } from '@ravenhelm/kit';
import { observabilityServer, toolSpecs, tools } from '@ravenhelm/mcp-observability';
import { argumentDescriptionProblems, toolDescriptionProblems } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';

const SCOPE_FOR_TIER = { LOW: 'mcp:observability:read', MEDIUM: 'mcp:observability:write' } as const;

describe('observability tool declarations', () => {
  it('names are unique <area>_<verb>, one toolset per area', () => {
    const names = tools.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const t of tools) {
      expect(t.name).toMatch(/^[a-z]+(_[a-z]+)+$/);
      expect(t.name.startsWith(`${t.toolset}_`)).toBe(true);
    }
    expect(new Set(tools.map((t) => t.toolset))).toEqual(
      new Set(['metrics', 'alerts', 'logs', 'traces', 'dashboards', 'incident']),
    );
    expect(toolSpecs.map((s) => s.name)).toEqual(names);
  });

  it('reads are LOW/read and read-only; only silence changes are MEDIUM/write', () => {
    for (const t of tools) {
      expect(t.scopes).toEqual([SCOPE_FOR_TIER[t.tier as 'LOW' | 'MEDIUM']]);
      expect(t.annotations.readOnlyHint).toBe(t.tier === 'LOW');
      for (const k of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const)
        expect(typeof t.annotations[k]).toBe('boolean');
    }
    expect(tools.filter((t) => t.tier !== 'LOW').map((t) => t.name)).toEqual([
      'alerts_create_silence',
      'alerts_expire_silence',
    ]);
  });

  it('has one-sentence descriptions, inputs described where it adds information, object outputs', () => {
    for (const t of tools) {
      expect(toolDescriptionProblems(t.title, t.description), t.name).toEqual([]);
      const spec = toSpec('observability', t as unknown as AnyTool<object>);
      expect(spec.outputSchema.type).toBe('object');
      expect(argumentDescriptionProblems(spec.inputSchema), t.name).toEqual([]);
    }
  });
});

describe('observability config', () => {
  it('reads URLs, tenant and secrets from the environment and redacts the secrets', () => {
    const config = loadConfig({
      backendSchema: observabilityServer.backendConfig,
      backendEnv: observabilityServer.backendEnv,
      env: {
        PROMETHEUS_URL: 'http://127.0.0.1:19090',
        LOKI_TENANT: 'team-a',
        GRAFANA_TOKEN: 'glsa_secret',
        TEMPO_PASSWORD: 'tempo-pass',
        TEMPO_USERNAME: 'tempo',
        ALERTMANAGER_TIMEOUT_MS: '2500',
      },
    });
    expect(config.backend.prometheus.url).toBe('http://127.0.0.1:19090');
    expect(config.backend.alertmanager).toMatchObject({ url: 'http://127.0.0.1:9093', timeoutMs: 2500 });
    expect(config.backend.loki.tenant).toBe('team-a');
    expect(config.backend.grafana.auth.token).toBe('glsa_secret');
    const printed = JSON.stringify(redactConfig(config, observabilityServer.secretPaths));
    expect(printed).not.toContain('glsa_secret');
    expect(printed).not.toContain('tempo-pass');
    expect(printed).toContain('"username":"tempo"');
  });
});
