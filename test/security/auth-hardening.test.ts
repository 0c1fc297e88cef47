/**
 * Regression tests for issue 7 items 9-11 and 13 that need the kit around the auth package: the
 * HIGH-tier switch with auth.mode none over real HTTP, the tools/list cache key, the RFC 6750
 * challenge on a 400, and the kit config refusing a role mapping without a project.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Principal } from '@ravenhelm/auth';
import {
  createMemoryAuditSink,
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  localAuthenticator,
  oauthAuthenticatorFactory,
  type SuiteRuntime,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoServer } from '../fixtures/echo-server.js';
import { callBody } from '../fixtures/kit-harness.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';

const ONCALL = 'spiffe://ravenhelm.local/agent/oncall';
const RESOURCE = 'https://mcp.ravenhelm.test/echo';
const dir = mkdtempSync(join(tmpdir(), 'rh-auth-hardening-'));
const policyFile = join(dir, 'policy.yaml');
writeFileSync(policyFile, `servers:\n  echo:\n    spiffe:\n      default: ['${ONCALL}']\n`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: { result?: { structuredContent?: unknown; tools?: { name: string }[] }; error?: { data: { code: string } } };
}

/** POST with full control of the header list (repeated headers are sent as separate lines). */
function post(url: string, body: unknown, headers: Record<string, string | string[]> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : {} }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** A silent logger whose info and warn records (fields, msg and pino's level number) land in `lines`. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const logger = silentLogger();
  const capture = (level: number) => (obj: unknown, msg?: string) => {
    lines.push(typeof obj === 'string' ? { level, msg: obj } : { level, ...(obj as object), msg });
  };
  return Object.assign(logger, { info: capture(30), warn: capture(40) });
}

async function startEcho(
  env: Record<string, string>,
  logger = silentLogger(),
): Promise<{ rt: SuiteRuntime; http: HttpServerHandle; stop(): Promise<void> }> {
  const def = echoServer();
  const config = loadConfig({
    backendSchema: def.backendConfig,
    env: { RAVENHELM_HTTP_PORT: '0', RAVENHELM_POLICY_FILE: policyFile, ...env },
  });
  const rt = await createRuntime(def as never, config, logger, { audit: createMemoryAuditSink() });
  const http = await startHttp(rt, {
    authenticator:
      config.auth.mode === 'none' ? localAuthenticator(rt.localPrincipal) : oauthAuthenticatorFactory(config),
    authorizationServers: config.auth.issuer ? [config.auth.issuer] : [],
  });
  return {
    rt,
    http,
    async stop() {
      await http.shutdown();
      await rt.close();
    },
  };
}

// Item 10: with auth.mode none every caller that reaches the port is the local principal, and its
// configured spiffeId was never verified: HIGH must stay off exactly as over stdio.
describe('auth.mode none over HTTP', () => {
  const local = {
    RAVENHELM_AUTH_MODE: 'none',
    RAVENHELM_LOCAL_SCOPES: 'mcp:echo:admin',
    RAVENHELM_LOCAL_SPIFFE_ID: ONCALL,
  };
  const rotate = callBody('echo_secret_rotate', { name: 'db', newValue: 'x' });

  it('keeps HIGH tools off (not listed, refused) and says so at startup', async () => {
    const logs: Record<string, unknown>[] = [];
    const s = await startEcho(local, capturingLogger(logs));
    try {
      const res = await post(s.http.url, rotate);
      expect(res.status).toBe(403);
      expect(res.json.error?.data.code).toBe('ERR_TOOL_DISABLED');
      const list = await post(s.http.url, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
      const names = (list.json.result?.tools ?? []).map((t) => t.name);
      expect(names).toContain('echo_write');
      expect(names).not.toContain('echo_secret_rotate');
      const startup = logs.find((l) => l.highTools !== undefined);
      expect(startup).toMatchObject({
        level: 30,
        highTools: 'off',
        transport: 'http',
        authMode: 'none',
        msg: 'HIGH tools off with auth.mode none: the caller is the configured local principal; set RAVENHELM_LOCAL_ALLOW_HIGH=true to turn them on',
      });
    } finally {
      await s.stop();
    }
  });

  it('turns HIGH on only when explicitly allowed, with a warning', async () => {
    const logs: Record<string, unknown>[] = [];
    const s = await startEcho({ ...local, RAVENHELM_LOCAL_ALLOW_HIGH: 'true' }, capturingLogger(logs));
    try {
      const res = await post(s.http.url, rotate);
      expect(res.status).toBe(200);
      expect(res.json.result?.structuredContent).toEqual({ rotated: 'db' });
      expect(logs.find((l) => l.highTools !== undefined)).toMatchObject({ level: 40, highTools: 'on' });
    } finally {
      await s.stop();
    }
  });

  it('stdio stays off by default; OAuth over HTTP is on', async () => {
    const def = echoServer();
    for (const [env, expected] of [
      [{ RAVENHELM_TRANSPORT: 'stdio' }, 'off'],
      [{ RAVENHELM_TRANSPORT: 'http', RAVENHELM_AUTH_ISSUER: 'https://issuer.example' }, 'on'],
    ] as const) {
      const logs: Record<string, unknown>[] = [];
      const config = loadConfig({ backendSchema: def.backendConfig, env: { ...env } });
      const rt = await createRuntime(def as never, config, capturingLogger(logs), { audit: createMemoryAuditSink() });
      await rt.close();
      expect(logs.find((l) => l.highTools !== undefined)?.highTools).toBe(expected);
    }
  });
});

// Item 11: the tools/list cache was keyed by scopes.join(' '), so ['a b'] and ['a', 'b'] collided.
describe('tools/list cache key', () => {
  it('a principal whose single scope holds a space never sees the list cached for the two real scopes', async () => {
    const def = echoServer();
    const config = loadConfig({ backendSchema: def.backendConfig, env: { RAVENHELM_POLICY_FILE: policyFile } });
    const rt = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
    try {
      const names = (p: Omit<Principal, 'source' | 'roles'>) =>
        rt.pipeline.listTools({ ...p, roles: [], source: 'oauth' }).map((t) => t.name);
      const real = names({ subject: 'a', scopes: ['mcp:echo:read', 'mcp:echo:admin'], spiffeId: ONCALL });
      expect(real).toContain('echo_secret_rotate');
      const joined = names({ subject: 'b', scopes: ['mcp:echo:read mcp:echo:admin'], spiffeId: ONCALL });
      expect(joined).toEqual([]);
      // Order does not change what a caller may see, and the cache gives the same answer either way.
      const reordered = names({ subject: 'c', scopes: ['mcp:echo:admin', 'mcp:echo:read'], spiffeId: ONCALL });
      expect(reordered).toEqual(real);
    } finally {
      await rt.close();
    }
  });
});

// Item 13: RFC 6750 3.1 says a malformed request is 400 with error="invalid_request" in the challenge.
describe('the challenge on a malformed request', () => {
  let oidc: RunningOidcProvider;
  let s: Awaited<ReturnType<typeof startEcho>>;
  beforeAll(async () => {
    oidc = await startOidcProvider({ jwtResources: [RESOURCE], scopes: ['mcp:echo:read'] });
    s = await startEcho({ RAVENHELM_PUBLIC_URL: RESOURCE, RAVENHELM_AUTH_ISSUER: oidc.issuer });
  }, 30_000);
  afterAll(async () => {
    await s?.stop();
    await oidc?.stop();
  });

  it('a token in the query string gets 400 with WWW-Authenticate: Bearer error="invalid_request"', async () => {
    const token = await oidc.getToken({ scope: 'mcp:echo:read' });
    const res = await post(`${s.http.url}?access_token=${token}`, callBody('echo_noop'));
    expect(res.status).toBe(400);
    expect(res.json.error?.data.code).toBe('ERR_TOKEN_MALFORMED_REQUEST');
    const challenge = res.headers['www-authenticate'] as string;
    expect(challenge).toMatch(/^Bearer error="invalid_request", resource_metadata="[^"]+"/);
    expect(challenge).toContain('error_description="access tokens are accepted only in the Authorization header"');
    expect(challenge).not.toContain(token);
  });

  it('two Authorization headers get the same 400 challenge; one valid header is accepted', async () => {
    const token = await oidc.getToken({ scope: 'mcp:echo:read' });
    const two = await post(s.http.url, callBody('echo_noop'), { authorization: [`Bearer ${token}`, 'Bearer x.y.z'] });
    expect(two.status).toBe(400);
    expect(two.headers['www-authenticate']).toMatch(/^Bearer error="invalid_request"/);
    const one = await post(s.http.url, callBody('echo_noop'), { authorization: `Bearer ${token}` });
    expect(one.status).toBe(200);
  });
});

// Item 9 at the kit's config load: the server refuses to start, before any port is bound.
describe('kit configuration', () => {
  it('refuses auth.roleScopes without auth.projectId and auth.allowedOrgIds, naming the settings', () => {
    const def = echoServer();
    const load = (env: Record<string, string>) => () =>
      loadConfig({
        backendSchema: def.backendConfig,
        env,
        overrides: { 'auth.roleScopes': { 'docker.admin': ['mcp:docker:admin'] } },
      });
    expect(load({})).toThrow(
      /auth\.roleScopes needs auth\.projectId \(RAVENHELM_AUTH_PROJECT_ID\) and auth\.allowedOrgIds/,
    );
    expect(load({ RAVENHELM_AUTH_PROJECT_ID: '42' })).toThrow(/auth\.roleScopes needs/);
    const ok = load({ RAVENHELM_AUTH_PROJECT_ID: '42', RAVENHELM_AUTH_ALLOWED_ORG_IDS: 'org-1, org-2' })();
    expect(ok.auth).toMatchObject({ projectId: '42', allowedOrgIds: ['org-1', 'org-2'] });
  });
});
