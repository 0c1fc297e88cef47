import { loadConfig, redactConfig } from '@ravenhelm/kit';
import { secretsServer, toolSpecs, tools } from '@ravenhelm/mcp-secrets';
import { describe, expect, it } from 'vitest';

describe('secrets tool declarations', () => {
  it('names are unique <area>_<verb> and start with their toolset', () => {
    const names = tools.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const t of tools) {
      expect(t.name).toMatch(/^[a-z]+(_[a-z]+)+$/);
      expect(t.name.startsWith(`${t.toolset}_`), t.name).toBe(true);
    }
    expect(toolSpecs.map((s) => s.name)).toEqual(names);
  });

  it('reads of metadata are LOW, anything that touches a value is HIGH; destructive writes say so', () => {
    const tier = Object.fromEntries(tools.map((t) => [t.name, t.tier]));
    expect(tier).toEqual({
      secrets_list: 'LOW',
      secrets_describe: 'LOW',
      secrets_get: 'HIGH',
      secrets_put: 'HIGH',
      secrets_rotate: 'HIGH',
      secrets_delete: 'HIGH',
      secrets_restore: 'HIGH',
      store_audit: 'LOW',
      files_audit: 'LOW',
      files_migrate: 'HIGH',
    });
    for (const t of tools) {
      expect(t.scopes.every((s: string) => /^mcp:secrets:(read|write|admin)$/.test(s))).toBe(true);
      if (t.annotations.readOnlyHint) expect(t.scopes).toEqual(['mcp:secrets:read']);
      for (const k of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        expect(typeof t.annotations[k]).toBe('boolean');
      }
    }
    const destructive = tools.filter((t) => t.annotations.destructiveHint).map((t) => t.name);
    expect(destructive).toEqual(['secrets_put', 'secrets_rotate', 'secrets_delete', 'files_migrate']);
  });

  it('marks every argument that carries a secret as sensitive', () => {
    const sensitive = toolSpecs.flatMap((s) =>
      Object.entries((s.inputSchema.properties ?? {}) as Record<string, { sensitive?: boolean }>)
        .filter(([, p]) => p.sensitive === true)
        .map(([k]) => `${s.name}.${k}`),
    );
    expect(sensitive).toEqual(['secrets_get.revealToken', 'secrets_put.value']);
  });
});

describe('secrets config', () => {
  it('reads endpoint, region, roots and limits from the environment and redacts the fingerprint key', () => {
    const config = loadConfig({
      backendSchema: secretsServer.backendConfig,
      backendEnv: secretsServer.backendEnv,
      env: {
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL: 'http://localhost:4566',
        SECRETS_FILE_ROOTS: '/srv/app,/srv/deploy',
        SECRETS_TIMEOUT_MS: '2500',
        SECRETS_FINGERPRINT_KEY: 'fingerprint-key-0123456789',
        RAVENHELM_REDIS_URL: 'redis://:redis-pw-5531@127.0.0.1:6379',
      },
    });
    expect(config.backend).toMatchObject({
      region: 'eu-west-1',
      endpoint: 'http://localhost:4566',
      timeoutMs: 2500,
      files: { roots: ['/srv/app', '/srv/deploy'], maxFiles: 500 },
    });
    const printed = JSON.stringify(redactConfig(config, secretsServer.secretPaths));
    expect(config.backend.revealRedisUrl).toBe('redis://:redis-pw-5531@127.0.0.1:6379');
    expect(printed).not.toContain('fingerprint-key-0123456789');
    expect(printed).not.toContain('redis-pw-5531');
    expect(printed).toContain('localhost:4566');
  });

  it('refuses a malformed endpoint with a message naming the field', () => {
    expect(() =>
      loadConfig({
        backendSchema: secretsServer.backendConfig,
        backendEnv: secretsServer.backendEnv,
        env: { AWS_ENDPOINT_URL: 'not a url' },
      }),
    ).toThrow(/endpoint/);
  });
});
