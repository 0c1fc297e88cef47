/**
 * The whole HTTP pipeline with real parts: a real OAuth authorization server (oidc-provider) issuing
 * tokens for this resource, real mTLS with X.509-SVIDs from a test CA, the kit's own wiring
 * (oauthAuthenticatorFactory + peerWiring), a file audit log. Each case asserts the exact status and code.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  oauthAuthenticatorFactory,
  peerWiring,
  type SuiteRuntime,
  silentLogger,
  startHttp,
  verifyAuditChain,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoServer } from '../fixtures/echo-server.js';
import { callBody } from '../fixtures/kit-harness.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';
import { makeCa, makeLeaf, type TestCa, type TestIssuer } from '../fixtures/pki.js';

const RESOURCE = 'https://mcp.ravenhelm.test/echo';
const OTHER_RESOURCE = 'https://mcp.ravenhelm.test/other';
/** Opaque tokens carry this audience, configured as an extra accepted audience (like a Zitadel project id). */
const OPAQUE_AUDIENCE = 'https://mcp.ravenhelm.test/project-123';
const ONCALL = 'spiffe://ravenhelm.local/agent/oncall';
const dir = mkdtempSync(join(tmpdir(), 'rh-pipeline-'));

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: {
    result?: Record<string, unknown> & { isError?: boolean };
    error?: { code: number; message: string; data: Record<string, unknown> };
  };
}

function post(
  url: string,
  body: unknown,
  opts: { token?: string; cert?: TestIssuer; ca?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const u = new URL(url);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...opts.headers,
        },
        ...(u.protocol === 'https:'
          ? { ca: opts.ca, cert: opts.cert?.certPem, key: opts.cert?.keyPem, servername: 'localhost' }
          : {}),
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? JSON.parse(text) : {} }),
        );
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

let oidc: RunningOidcProvider;
let ca: TestCa;
let otherCa: TestCa;
let oncall: TestIssuer;
let intruder: TestIssuer;
let foreign: TestIssuer;

beforeAll(async () => {
  oidc = await startOidcProvider({
    jwtResources: [RESOURCE, OTHER_RESOURCE],
    opaqueResource: OPAQUE_AUDIENCE,
    scopes: ['mcp:echo:read', 'mcp:echo:write', 'mcp:echo:admin'],
  });
  ca = await makeCa({ name: 'ravenhelm test bundle' });
  otherCa = await makeCa({ name: 'somebody else' });
  oncall = await makeLeaf({ ca, uris: [ONCALL] });
  intruder = await makeLeaf({ ca, uris: ['spiffe://ravenhelm.local/agent/intruder'] });
  foreign = await makeLeaf({ ca: otherCa, uris: [ONCALL] });
  const server = await makeLeaf({
    ca,
    uris: ['spiffe://ravenhelm.local/server/echo'],
    dns: ['localhost'],
    ips: ['127.0.0.1'],
  });
  writeFileSync(join(dir, 'svid.pem'), server.certPem);
  writeFileSync(join(dir, 'svid_key.pem'), server.keyPem);
  writeFileSync(join(dir, 'svid_bundle.pem'), ca.certPem);
  writeFileSync(join(dir, 'policy.yaml'), `servers:\n  echo:\n    spiffe:\n      default: ['${ONCALL}']\n`);
}, 60_000);

afterAll(async () => {
  await oidc?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(
  env: Record<string, string>,
): Promise<{ rt: SuiteRuntime; http: HttpServerHandle; stop(): Promise<void> }> {
  const def = echoServer();
  const config = loadConfig({
    backendSchema: def.backendConfig,
    env: {
      RAVENHELM_HTTP_PORT: '0',
      RAVENHELM_PUBLIC_URL: RESOURCE,
      RAVENHELM_AUTH_ISSUER: oidc.issuer,
      RAVENHELM_INTROSPECTION_CLIENT_ID: oidc.introspectionClient.clientId,
      RAVENHELM_INTROSPECTION_CLIENT_SECRET: oidc.introspectionClient.clientSecret,
      RAVENHELM_AUTH_AUDIENCES: OPAQUE_AUDIENCE,
      RAVENHELM_POLICY_FILE: join(dir, 'policy.yaml'),
      RAVENHELM_AUDIT_FILE: join(dir, `audit-${Math.random().toString(36).slice(2)}.jsonl`),
      ...env,
    },
  });
  const rt = await createRuntime(def as never, config, silentLogger());
  const peer = await peerWiring(config, silentLogger());
  const http = await startHttp(rt, {
    authenticator: oauthAuthenticatorFactory(config),
    authorizationServers: [oidc.issuer],
    ...(peer.tls ? { tls: peer.tls } : {}),
    ...(peer.peer ? { peer: peer.peer } : {}),
  });
  peer.onServer?.(http.server as import('node:https').Server);
  return {
    rt,
    http,
    async stop() {
      await http.shutdown();
      peer.close?.();
      await rt.close();
    },
  };
}

describe('direct mTLS + OAuth (real authorization server)', () => {
  let s: Awaited<ReturnType<typeof start>>;
  let url: string;
  beforeAll(async () => {
    s = await start({
      RAVENHELM_TLS_CERT_FILE: join(dir, 'svid.pem'),
      RAVENHELM_TLS_KEY_FILE: join(dir, 'svid_key.pem'),
      RAVENHELM_TLS_BUNDLE_FILE: join(dir, 'svid_bundle.pem'),
    });
    url = s.http.url;
  }, 30_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('a real JWT access token for this resource lists and calls tools', async () => {
    const token = await oidc.getToken({ scope: 'mcp:echo:read' });
    const list = await post(url, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token, ca: ca.certPem });
    expect(list.status).toBe(200);
    const names = ((list.json.result?.tools ?? []) as { name: string }[]).map((t) => t.name);
    expect(names).toContain('echo_say');
    expect(names).not.toContain('echo_write');
    const call = await post(url, callBody('echo_say', { message: 'hi' }), { token, ca: ca.certPem });
    expect(call.json.result?.structuredContent).toEqual({ message: 'hi' });
  });

  it('an opaque token is introspected', async () => {
    const token = await oidc.getToken({ opaque: true, scope: 'mcp:echo:read' });
    const res = await post(url, callBody('echo_noop'), { token, ca: ca.certPem });
    expect(res.status).toBe(200);
  });

  it('401 invalid_token for a token the same issuer minted for another resource', async () => {
    const token = await oidc.getToken({ resource: OTHER_RESOURCE, scope: 'mcp:echo:read' });
    const res = await post(url, callBody('echo_noop'), { token, ca: ca.certPem });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(res.json.error?.data.code).toBe('ERR_TOKEN_AUDIENCE');
  });

  it('401 with the challenge when no token is sent, even with a valid SVID', async () => {
    const res = await post(url, callBody('echo_noop'), { cert: oncall, ca: ca.certPem });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain(
      // RFC 9728 3.1: the well-known URI of the resource https://mcp.ravenhelm.test/echo.
      `resource_metadata="https://mcp.ravenhelm.test/.well-known/oauth-protected-resource/echo"`,
    );
  });

  it('HIGH: refused without a client certificate, refused for an agent not on the allowlist, allowed for the right agent', async () => {
    const token = await oidc.getToken({ scope: 'mcp:echo:admin' });
    const args = { name: 'db', newValue: 'never-in-the-audit-log' };
    const none = await post(url, callBody('echo_secret_rotate', args), { token, ca: ca.certPem });
    expect(none.status).toBe(403);
    expect(none.json.error?.data.code).toBe('ERR_TIER_SPIFFE_REQUIRED');
    const wrong = await post(url, callBody('echo_secret_rotate', args), { token, cert: intruder, ca: ca.certPem });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error?.data.code).toBe('ERR_TIER_SPIFFE_REQUIRED');
    const ok = await post(url, callBody('echo_secret_rotate', args), { token, cert: oncall, ca: ca.certPem });
    expect(ok.status).toBe(200);
    expect(ok.json.result?.structuredContent).toEqual({ rotated: 'db' });
    const auditFile = s.rt.config.audit.file as string;
    const text = readFileSync(auditFile, 'utf8');
    expect(text).not.toContain('never-in-the-audit-log');
    const records = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tool: string; phase: string; outcome?: string; principal: { spiffeId?: string } });
    const mine = records.filter((r) => r.tool === 'echo_secret_rotate');
    expect(mine.map((r) => `${r.phase}:${r.outcome ?? ''}`)).toEqual([
      'outcome:denied',
      'outcome:denied',
      'attempt:',
      'outcome:success',
    ]);
    expect(mine[2]?.principal.spiffeId).toBe(ONCALL);
    expect(await verifyAuditChain(auditFile)).toMatchObject({ ok: true });
  });

  it('401 ERR_PEER_CERT_INVALID for a client certificate from another CA', async () => {
    const token = await oidc.getToken({ scope: 'mcp:echo:read' });
    const res = await post(url, callBody('echo_noop'), { token, cert: foreign, ca: ca.certPem });
    expect(res.status).toBe(401);
    expect(res.json.error?.data.code).toBe('ERR_PEER_CERT_INVALID');
  });
});

describe('behind Traefik: the forwarded client certificate', () => {
  const forwarded = (cert: TestIssuer) =>
    cert.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');

  it('is believed from a trusted proxy and verified against the bundle', async () => {
    const s = await start({
      RAVENHELM_TRUSTED_PROXIES: '127.0.0.1',
      RAVENHELM_FORWARDED_BUNDLE_FILE: join(dir, 'svid_bundle.pem'),
    });
    try {
      const token = await oidc.getToken({ scope: 'mcp:echo:admin' });
      const call = callBody('echo_secret_rotate', { name: 'db', newValue: 'x' });
      const ok = await post(s.http.url, call, { token, headers: { 'x-forwarded-tls-client-cert': forwarded(oncall) } });
      expect(ok.status).toBe(200);
      const forged = await post(s.http.url, call, {
        token,
        headers: { 'x-forwarded-tls-client-cert': forwarded(foreign) },
      });
      expect(forged.status).toBe(401);
      expect(forged.json.error?.data.code).toBe('ERR_PEER_CERT_INVALID');
    } finally {
      await s.stop();
    }
  });

  it('is ignored from anybody else', async () => {
    const s = await start({
      RAVENHELM_TRUSTED_PROXIES: '127.0.0.2',
      RAVENHELM_FORWARDED_BUNDLE_FILE: join(dir, 'svid_bundle.pem'),
    });
    try {
      const token = await oidc.getToken({ scope: 'mcp:echo:admin' });
      const res = await post(s.http.url, callBody('echo_secret_rotate', { name: 'db', newValue: 'x' }), {
        token,
        headers: { 'x-forwarded-tls-client-cert': forwarded(oncall) },
      });
      expect(res.status).toBe(403);
      expect(res.json.error?.data.code).toBe('ERR_TIER_SPIFFE_REQUIRED');
    } finally {
      await s.stop();
    }
  });
});
