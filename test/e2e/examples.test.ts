/** The examples must only use settings that exist: a renamed variable breaks this test, not a deployment. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KIT_ENV, loadConfig } from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { parsePolicy } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../fixtures/spawn.js';

const EXAMPLES = join(REPO_ROOT, 'examples');
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : [join(dir, f)]));
const BACKEND_ENV = new Set([
  'DOCKER_HOST',
  'PROMETHEUS_URL',
  'ALERTMANAGER_URL',
  'LOKI_URL',
  'TEMPO_URL',
  'GRAFANA_URL',
  'GRAFANA_TOKEN',
]);

describe('examples', () => {
  const all = files(EXAMPLES);

  it('name only RAVENHELM_* variables the kit reads', () => {
    const used = new Set<string>();
    for (const f of all) for (const m of readFileSync(f, 'utf8').matchAll(/\bRAVENHELM_[A-Z_]+\b/g)) used.add(m[0]);
    // Besides the kit's settings: the config-file variable, the demo's issuer port, and the shell
    // variables the examples tell users to export their tokens into (RAVENHELM_TOKEN*).
    const known = new Set([
      ...Object.keys(KIT_ENV),
      'RAVENHELM_CONFIG',
      'RAVENHELM_DEV_ISSUER_PORT',
      'RAVENHELM_DEMO_BASE_PORT',
      'RAVENHELM_CA_FILE',
      'RAVENHELM_APPROVALS_TOKEN', // read by the approvals CLI (ravenhelm-approvals --token-env default)
    ]);
    expect([...used].filter((v) => !known.has(v) && !v.startsWith('RAVENHELM_TOKEN'))).toEqual([]);
    expect(used.size).toBeGreaterThan(5);
  });

  it('are valid YAML and JSON', () => {
    for (const f of all.filter((p) => /\.ya?ml$/.test(p))) {
      for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) expect(doc.errors, f).toEqual([]);
    }
    const mcp = JSON.parse(readFileSync(join(EXAMPLES, 'mcp.json'), 'utf8')) as {
      mcpServers: Record<string, { env?: Record<string, string> }>;
    };
    expect(Object.keys(mcp.mcpServers).length).toBeGreaterThan(0);
  });

  it('configure the Docker server the way the Kubernetes example does', () => {
    const docs = parseAllDocuments(readFileSync(join(EXAMPLES, 'kubernetes/docker-mcp.yaml'), 'utf8')).map((d) =>
      d.toJS(),
    );
    const policyMap = docs.find((d) => d.kind === 'ConfigMap');
    const deployment = docs.find((d) => d.kind === 'Deployment');
    const env = Object.fromEntries(
      (deployment.spec.template.spec.containers[0].env as { name: string; value?: string }[])
        .filter((e) => e.value !== undefined && !e.name.includes('REDIS'))
        .map((e) => [e.name, e.value as string]),
    );
    for (const name of Object.keys(env)) expect(KIT_ENV[name] !== undefined || BACKEND_ENV.has(name), name).toBe(true);
    const config = loadConfig({
      backendSchema: dockerServer.backendConfig,
      backendEnv: dockerServer.backendEnv ?? {},
      env: { ...env, RAVENHELM_POLICY_FILE: '' },
    });
    expect(config.http.trustDomain).toBe('ravenhelm.local');
    expect(config.http.tls?.bundleFile).toBe('/run/svid/svid_bundle.pem');
    expect(config.http.publicUrl).toBe('https://docker.mcp.example.internal/mcp');
    const policy = parsePolicy(policyMap.data['policy.yaml'] as string);
    expect(policy.servers.docker?.confirm).toBe('destructive');
  });
});
