import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig, redactConfig } from './config.js';

const backendSchema = z.object({ url: z.string().default('http://127.0.0.1:9090'), token: z.string().optional() });
const dir = mkdtempSync(join(tmpdir(), 'rh-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loadConfig', () => {
  it('has working defaults with nothing configured', () => {
    const c = loadConfig({ backendSchema, env: {} });
    expect(c.transport).toBe('http');
    expect(c.http).toMatchObject({ host: '127.0.0.1', port: 8700, path: '/mcp', maxBodyBytes: 1048576 });
    expect(c.backend.url).toBe('http://127.0.0.1:9090');
    expect(c.limits.maxOutputBytes).toBe(65536);
  });

  it('layers file < environment < flags', () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'http:\n  port: 9000\n  host: 0.0.0.0\nbackend:\n  url: http://from-file\nlogLevel: debug\n');
    const c = loadConfig({
      backendSchema,
      backendEnv: { PROM_URL: 'url' },
      env: { RAVENHELM_HTTP_PORT: '9100', PROM_URL: 'http://from-env' },
      file,
      overrides: { 'http.port': '9200' },
    });
    expect(c.http.port).toBe(9200);
    expect(c.http.host).toBe('0.0.0.0');
    expect(c.backend.url).toBe('http://from-env');
    expect(c.logLevel).toBe('debug');
  });

  it('names the field and the problem when a value is wrong', () => {
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_HTTP_PORT: 'eighty' } })).toThrow(/http\.port/);
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_TRANSPORT: 'carrier-pigeon' } })).toThrow(/transport/);
    // ... and the variable that set it, which is what the operator typed.
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_RATE_LIMIT_POINTS: 'abc' } })).toThrow(
      /^invalid configuration: rateLimit\.points: .* \(from RAVENHELM_RATE_LIMIT_POINTS\)$/,
    );
    expect(() =>
      loadConfig({ backendSchema, backendEnv: { PROM_TOKEN: 'token' }, env: {}, overrides: { 'http.port': 'x' } }),
    ).toThrow(/http\.port: .* \(from a command-line flag\)/);
  });

  it('reads a scope list comma- or space-separated, as OAuth writes it', () => {
    const scopes = (value: string) =>
      loadConfig({ backendSchema, env: { RAVENHELM_LOCAL_SCOPES: value } }).local.scopes;
    expect(scopes('mcp:docker:read mcp:docker:write')).toEqual(['mcp:docker:read', 'mcp:docker:write']);
    expect(scopes('mcp:docker:read, mcp:docker:write')).toEqual(['mcp:docker:read', 'mcp:docker:write']);
    expect(scopes(' mcp:docker:admin ')).toEqual(['mcp:docker:admin']);
  });

  it('reports a missing config file clearly', () => {
    expect(() => loadConfig({ backendSchema, env: {}, file: join(dir, 'missing.yaml') })).toThrow(
      /cannot read config file .*missing\.yaml: ENOENT/,
    );
  });

  it('passes auth.introspection.maxConcurrent to the authenticator (a setting the kit used to drop)', () => {
    const c = loadConfig({
      backendSchema,
      env: { RAVENHELM_INTROSPECTION_CLIENT_ID: 'rs', RAVENHELM_INTROSPECTION_CLIENT_SECRET: 's' },
      overrides: { 'backend.token': 't', 'auth.introspection.maxConcurrent': '4' },
    });
    expect(c.auth.introspection).toMatchObject({ clientId: 'rs', maxConcurrent: 4 });
  });

  it('reads how long a key set and the JWTs it verified are trusted, within the auth package bounds', () => {
    const env = { RAVENHELM_AUTH_JWKS_CACHE_MAX_AGE_SECONDS: '3600' };
    expect(loadConfig({ backendSchema, env }).auth.jwksCacheMaxAgeSeconds).toBe(3600);
    expect(loadConfig({ backendSchema }).auth.jwksCacheMaxAgeSeconds).toBeUndefined();
    for (const bad of ['0', '86401', 'soon']) {
      expect(() => loadConfig({ backendSchema, env: { RAVENHELM_AUTH_JWKS_CACHE_MAX_AGE_SECONDS: bad } })).toThrow(
        /auth\.jwksCacheMaxAgeSeconds/,
      );
    }
  });

  it('passes the private_key_jwt key settings through, and redacts the key JSON', () => {
    const c = loadConfig({
      backendSchema,
      env: {
        RAVENHELM_INTROSPECTION_KEY_FILE: '/run/secrets/zitadel-app.json',
        RAVENHELM_INTROSPECTION_KEY: '{"k":1}',
      },
    });
    expect(c.auth.introspection).toEqual({ keyFile: '/run/secrets/zitadel-app.json', key: '{"k":1}' });
    expect(redactConfig(c)).toMatchObject({ auth: { introspection: { key: '[redacted]' } } });
  });

  it('redacts secrets for --print-config', () => {
    const c = loadConfig({
      backendSchema,
      env: {
        RAVENHELM_INTROSPECTION_CLIENT_ID: 'rs',
        RAVENHELM_INTROSPECTION_CLIENT_SECRET: 's3cret-value',
        RAVENHELM_REDIS_URL: 'redis://:pw@127.0.0.1:6379',
      },
      overrides: { 'backend.token': 'tok-123' },
    });
    const printed = JSON.stringify(redactConfig(c, ['token']));
    expect(printed).not.toContain('s3cret-value');
    expect(printed).not.toContain('tok-123');
    expect(printed).not.toContain(':pw@');
    expect(printed).toContain('"clientId":"rs"');
    // Which Redis stays visible; its credentials and query (a client may read a password there) do not.
    expect(redactConfig(c)).toMatchObject({ redis: { url: 'redis://[redacted]@127.0.0.1:6379' } });
    const shown = (url: string) =>
      (redactConfig(loadConfig({ backendSchema, env: { RAVENHELM_REDIS_URL: url } })) as { redis: { url: string } })
        .redis.url;
    expect(shown('rediss://cache.internal:6380/2?password=pw2')).toBe('rediss://cache.internal:6380/2?[redacted]');
    expect(shown('redis://user:pw3@cache:6379')).toBe('redis://[redacted]@cache:6379');
    expect(shown('redis://cache:6379')).toBe('redis://cache:6379');
  });
});

describe('HTTP connection limits', () => {
  it('defaults bound slow clients and connections; the environment sets them', () => {
    const d = loadConfig({ backendSchema, env: {} }).http;
    expect([d.maxConnections, d.headersTimeoutMs, d.requestTimeoutMs]).toEqual([1000, 10_000, 30_000]);
    const c = loadConfig({
      backendSchema,
      env: {
        RAVENHELM_HTTP_MAX_CONNECTIONS: '64',
        RAVENHELM_HTTP_HEADERS_TIMEOUT_MS: '2000',
        RAVENHELM_HTTP_REQUEST_TIMEOUT_MS: '5000',
      },
    }).http;
    expect([c.maxConnections, c.headersTimeoutMs, c.requestTimeoutMs]).toEqual([64, 2000, 5000]);
  });

  it('refuses a request deadline shorter than the headers deadline, and a cap of 0, naming the variables', () => {
    expect(() =>
      loadConfig({
        backendSchema,
        env: { RAVENHELM_HTTP_HEADERS_TIMEOUT_MS: '20000', RAVENHELM_HTTP_REQUEST_TIMEOUT_MS: '5000' },
      }),
    ).toThrow(/RAVENHELM_HTTP_REQUEST_TIMEOUT_MS.*at least as long as .*RAVENHELM_HTTP_HEADERS_TIMEOUT_MS/);
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_HTTP_MAX_CONNECTIONS: '0' } })).toThrow(
      /http\.maxConnections: .* \(from RAVENHELM_HTTP_MAX_CONNECTIONS\)/,
    );
  });
});

describe('boolean settings from the environment', () => {
  it("reads 'false' as false and refuses nonsense", () => {
    expect(loadConfig({ backendSchema, env: { RAVENHELM_LOCAL_ALLOW_HIGH: 'false' } }).local.allowHigh).toBe(false);
    expect(loadConfig({ backendSchema, env: { RAVENHELM_LOCAL_ALLOW_HIGH: 'true' } }).local.allowHigh).toBe(true);
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_LOCAL_ALLOW_HIGH: 'maybe' } })).toThrow(
      /local\.allowHigh/,
    );
  });
});

describe('audit shipping and traces settings', () => {
  it('reads the sinks from the environment and redacts their headers in --print-config', () => {
    const c = loadConfig({
      backendSchema,
      env: {
        RAVENHELM_AUDIT_SHIP_LOKI_URL: 'http://loki:3100',
        RAVENHELM_AUDIT_SHIP_LOKI_TENANT: 'ops',
        RAVENHELM_AUDIT_SHIP_LOKI_HEADERS: 'Authorization=Basic%20c2VjcmV0,X-Extra=1',
        RAVENHELM_AUDIT_SHIP_OTLP_REQUIRED: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_HEADERS: 'api-key=k-SECRET',
      },
    });
    expect(c.auditShip).toMatchObject({
      lokiUrl: 'http://loki:3100',
      lokiTenant: 'ops',
      lokiHeaders: { Authorization: 'Basic c2VjcmV0', 'X-Extra': '1' },
      otlpRequired: true,
      maxBufferRecords: 10_000,
    });
    expect(c.traces.baseEndpoint).toBe('http://collector:4318');
    const printed = JSON.stringify(redactConfig(c));
    expect(printed).toContain('http://loki:3100');
    expect(printed).not.toContain('c2VjcmV0');
    expect(printed).not.toContain('k-SECRET');
    expect(redactConfig(c)).toMatchObject({
      auditShip: { lokiHeaders: { Authorization: '[redacted]', 'X-Extra': '[redacted]' }, otlpHeaders: {} },
    });
  });

  it('refuses credentials in a sink URL and malformed header lists, naming the setting', () => {
    expect(() =>
      loadConfig({ backendSchema, env: { RAVENHELM_AUDIT_SHIP_LOKI_URL: 'http://user:pw@loki:3100' } }),
    ).toThrow(/auditShip.lokiUrl.*credentials/);
    expect(() => loadConfig({ backendSchema, env: { RAVENHELM_AUDIT_SHIP_OTLP_HEADERS: 'no-equals-sign' } })).toThrow(
      /auditShip.otlpHeaders.*name=value/,
    );
  });
});

describe('Redis TLS settings', () => {
  const tlsEnv = {
    RAVENHELM_REDIS_URL: 'rediss://:pw@redis.internal:6380',
    RAVENHELM_REDIS_TLS_CA_FILE: '/tls/ca.crt',
    RAVENHELM_REDIS_TLS_CERT_FILE: '/tls/tls.crt',
    RAVENHELM_REDIS_TLS_KEY_FILE: '/tls/tls.key',
    RAVENHELM_REDIS_TLS_SERVER_NAME: 'redis-master.redis.svc',
  };

  it('reads the CA, client certificate, key and server name from the environment', () => {
    const c = loadConfig({ backendSchema, env: tlsEnv });
    expect(c.redis.tls).toEqual({
      caFile: '/tls/ca.crt',
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      serverName: 'redis-master.redis.svc',
    });
    // Paths are no secret (the key's content is, and it is never read into the config); the URL's password is.
    const printed = JSON.stringify(redactConfig(c));
    expect(printed).toContain('/tls/tls.key');
    expect(printed).not.toContain(':pw@');
  });

  it('accepts a CA alone (server-only TLS) and a Sentinel TLS URL', () => {
    const c = loadConfig({
      backendSchema,
      env: { RAVENHELM_REDIS_URL: 'rediss+sentinel://s1:26379/m', RAVENHELM_REDIS_TLS_CA_FILE: '/tls/ca.crt' },
    });
    expect(c.redis.tls).toEqual({ caFile: '/tls/ca.crt' });
  });

  it('refuses a certificate without its key, and a key without its certificate', () => {
    const { RAVENHELM_REDIS_TLS_KEY_FILE: _k, ...noKey } = tlsEnv;
    const { RAVENHELM_REDIS_TLS_CERT_FILE: _c, ...noCert } = tlsEnv;
    for (const env of [noKey, noCert]) {
      expect(() => loadConfig({ backendSchema, env })).toThrow(
        /RAVENHELM_REDIS_TLS_CERT_FILE\) and redis\.tls\.keyFile \(RAVENHELM_REDIS_TLS_KEY_FILE\) go together/,
      );
    }
  });

  it('refuses TLS files with a plain redis:// URL, or without a URL, and says to use rediss://', () => {
    for (const url of ['redis://:pw@redis.internal:6379', 'redis+sentinel://s1:26379/m', undefined]) {
      const env: NodeJS.ProcessEnv = { ...tlsEnv, RAVENHELM_REDIS_URL: url };
      let message = '';
      try {
        loadConfig({ backendSchema, env });
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message, String(url)).toMatch(/RAVENHELM_REDIS_URL is not a TLS URL: use rediss:\/\//);
      expect(message).not.toContain('pw');
    }
  });
});

describe('maps keyed by names the operator writes', () => {
  it('refuses a role or binding named __proto__ instead of silently dropping it', () => {
    for (const [key, body] of [
      ['roleScopes', '    __proto__: ["mcp:docker:admin"]\n'],
      ['spiffeBindings', '    __proto__: ["spiffe://example.org/agent"]\n'],
    ] as const) {
      const file = join(dir, `${key}.yaml`);
      const scoped = key === 'roleScopes' ? '  projectId: "1"\n  allowedOrgIds: ["2"]\n' : '';
      writeFileSync(file, `auth:\n${scoped}  ${key}:\n${body}    other: ["x"]\n`);
      expect(() => loadConfig({ backendSchema, env: {}, file })).toThrow(
        /named "__proto__" is not supported: rename it/,
      );
    }
  });
});
