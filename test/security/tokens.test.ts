// The bearer-token security battery: real tokens from oidc-provider, then every hostile token we can
// think of, signed by keys we control and served from a loopback JWKS we control (test/fixtures/forge.ts).
// Each case asserts the exact AuthError code, and that the error message never echoes the token.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  createOAuthAuthenticator,
  DevIssuer,
  type OAuthAuthenticator,
  type OAuthConfig,
  OAuthConfigError,
  type Principal,
} from '@ravenhelm/auth';
import { exportSPKI, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  claims as baseClaims,
  bearer,
  forgeEs256,
  type LoopbackJwks,
  now,
  outcome,
  type Signer,
  sign,
  signer,
  startJwksServer,
} from '../fixtures/forge.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';

const RESOURCE = 'https://mcp.ravenhelm.test/docker';
const ROLES = 'urn:zitadel:iam:org:project:roles';
const PROJECT = '312909075212468632';
const ZITADEL = { projectId: PROJECT, allowedOrgIds: ['org-1'] };
const REPO = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let jwks: LoopbackJwks;
let es: Signer;
let es2: Signer;
let rs: Signer;
const authenticators: OAuthAuthenticator[] = [];

function track(a: OAuthAuthenticator): OAuthAuthenticator {
  authenticators.push(a);
  return a;
}

/** An authenticator for our own issuer; JWKS location given, so no discovery. */
function make(extra: Partial<OAuthConfig> = {}): OAuthAuthenticator {
  return track(createOAuthAuthenticator({ issuer: jwks.issuer, resource: RESOURCE, jwksUri: jwks.jwksUri, ...extra }));
}

/** Claims from our issuer for RESOURCE; `extra` overrides (undefined removes one). */
function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return baseClaims(jwks.issuer, RESOURCE, extra);
}

/** A correctly signed token; `extra` overrides claims, `header` overrides the header. */
function mint(extra: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key = es): Promise<string> {
  return sign(key, claims(extra), header);
}

let op: RunningOidcProvider;
let tmp: string;

beforeAll(async () => {
  [es, es2, rs] = await Promise.all([signer('ES256'), signer('ES256'), signer('RS256')]);
  jwks = await startJwksServer([es.jwk]);
  op = await startOidcProvider();
  tmp = await mkdtemp(join(tmpdir(), 'ravenhelm-tokens-'));
});

afterAll(async () => {
  for (const a of authenticators) await a.close();
  await jwks?.close();
  await op?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('real tokens from oidc-provider', () => {
  function forOp(extra: Partial<OAuthConfig> = {}): OAuthAuthenticator {
    return track(createOAuthAuthenticator({ issuer: op.issuer, resource: op.resource, ...extra }));
  }

  test('a JWT access token verifies through discovery and yields the exact principal', async () => {
    const auth = forOp();
    const token = await op.getToken({ resource: op.resource, scope: 'mcp:docker:read mcp:docker:write' });
    const spiffeId = 'spiffe://ravenhelm.local/agent/oncall';
    const principal = await auth.authenticate(bearer(token, { peerSpiffeId: spiffeId }));
    const { expiresAt, ...rest } = principal;
    expect({ ...rest, scopes: [...rest.scopes].sort() }).toEqual({
      subject: op.agent.clientId,
      clientId: op.agent.clientId,
      scopes: ['mcp:docker:read', 'mcp:docker:write'],
      roles: [],
      issuer: op.issuer,
      spiffeId,
      source: 'oauth',
    } satisfies Principal);
    expect(expiresAt).toBeGreaterThan(now());
    expect(expiresAt).toBeLessThanOrEqual(now() + 600);
    expect(await auth.ready()).toBe(true);
  });

  test('an opaque token verifies through RFC 7662 introspection; the second call is a cache hit', async () => {
    const auth = forOp({ resource: op.opaqueResource, introspection: op.introspectionClient });
    const token = await op.getToken({ resource: op.opaqueResource, scope: 'mcp:docker:read' });
    expect(token.split('.')).toHaveLength(1);
    const before = op.introspectionCount;
    const first = await auth.authenticate(bearer(token));
    expect(first).toMatchObject({ subject: op.agent.clientId, scopes: ['mcp:docker:read'], issuer: op.issuer });
    expect(op.introspectionCount - before).toBe(1);
    const second = await auth.authenticate(bearer(token));
    expect(second).toEqual(first);
    expect(op.introspectionCount - before).toBe(1);
  });

  test('a rotated signing key is picked up once the cooldown has passed; the old key keeps working', async () => {
    const local = await startOidcProvider();
    try {
      const auth = track(
        createOAuthAuthenticator({ issuer: local.issuer, resource: local.resource, jwksCooldownSeconds: 1 }),
      );
      await auth.authenticate(bearer(await local.getToken({ resource: local.resource })));
      const oldKeyToken = await local.getToken({ resource: local.resource });
      expect(local.jwksFetches()).toBe(1);
      await local.rotateKeys();
      const rotated = await local.getToken({ resource: local.resource });
      // Inside the cooldown the new kid is unknown and causes no refetch.
      expect(await outcome(auth, bearer(rotated))).toBe('ERR_TOKEN_INVALID');
      expect(local.jwksFetches()).toBe(1);
      await sleep(1100);
      expect(await outcome(auth, bearer(rotated))).toBe('accepted');
      expect(local.jwksFetches()).toBe(2);
      expect(await outcome(auth, bearer(oldKeyToken))).toBe('accepted');
      expect(local.jwksFetches()).toBe(2);
    } finally {
      await local.stop();
    }
  });

  test('an inactive opaque token is ERR_TOKEN_INVALID', async () => {
    const auth = forOp({ resource: op.opaqueResource, introspection: op.introspectionClient });
    const before = op.introspectionCount;
    expect(await outcome(auth, bearer(randomBytes(32).toString('base64url')))).toBe('ERR_TOKEN_INVALID');
    expect(op.introspectionCount - before).toBe(1);
  });

  test('the introspection endpoint down is ERR_AUTH_UNAVAILABLE', async () => {
    const auth = forOp({ resource: op.opaqueResource, introspection: op.introspectionClient });
    const token = await op.getToken({ resource: op.opaqueResource });
    op.setDown({ introspection: true });
    try {
      expect(await outcome(auth, bearer(token))).toBe('ERR_AUTH_UNAVAILABLE');
    } finally {
      op.setDown({ introspection: false });
    }
    expect(await outcome(auth, bearer(token))).toBe('accepted');
  });
});

describe('the Authorization header', () => {
  test('no header is ERR_TOKEN_MISSING', async () => {
    expect(await outcome(make(), { headers: {} })).toBe('ERR_TOKEN_MISSING');
  });
  test('a scheme other than Bearer is ERR_TOKEN_MISSING; the scheme name is case-insensitive', async () => {
    expect(await outcome(make(), { headers: { authorization: 'Basic YWdlbnQ6c2VjcmV0' } })).toBe('ERR_TOKEN_MISSING');
    expect(await outcome(make(), { headers: { authorization: `DPoP ${await mint()}` } })).toBe('ERR_TOKEN_MISSING');
    expect(await outcome(make(), { headers: { authorization: `bEaReR ${await mint()}` } })).toBe('accepted');
    expect(await outcome(make(), { headers: { authorization: `bearer ${await mint()}` } })).toBe('accepted');
  });
  test('Bearer without a token, or with two tokens, is ERR_TOKEN_MALFORMED_REQUEST', async () => {
    expect(await outcome(make(), { headers: { authorization: 'Bearer' } })).toBe('ERR_TOKEN_MALFORMED_REQUEST');
    expect(await outcome(make(), { headers: { authorization: 'Bearer a.b.c d.e.f' } })).toBe(
      'ERR_TOKEN_MALFORMED_REQUEST',
    );
  });
  test('duplicate Authorization headers are ERR_TOKEN_MALFORMED_REQUEST', async () => {
    const token = await mint();
    const req = { headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } };
    expect(await outcome(make(), req)).toBe('ERR_TOKEN_MALFORMED_REQUEST');
  });
  test('a token in the query string is ERR_TOKEN_MALFORMED_REQUEST, even next to a valid header', async () => {
    const token = await mint();
    const query = new URLSearchParams({ access_token: token });
    expect(await outcome(make(), { headers: {}, query })).toBe('ERR_TOKEN_MALFORMED_REQUEST');
    expect(await outcome(make(), bearer(token, { query }))).toBe('ERR_TOKEN_MALFORMED_REQUEST');
  });
  test('an oversized token is ERR_TOKEN_INVALID, refused before any parsing or key fetch', async () => {
    const auth = make({ maxTokenBytes: 1024 });
    const big = await mint({ padding: 'x'.repeat(2000) });
    const before = jwks.fetches;
    expect(await outcome(auth, bearer(big))).toBe('ERR_TOKEN_INVALID');
    expect(await outcome(make(), bearer('A'.repeat(9000)))).toBe('ERR_TOKEN_INVALID');
    expect(jwks.fetches).toBe(before);
  });
});

describe('signature and header attacks', () => {
  test('control: a correctly signed token is accepted', async () => {
    const principal = await make().authenticate(bearer(await mint()));
    expect(principal).toMatchObject({ subject: 'agent-oncall', clientId: 'agent-oncall', scopes: ['mcp:docker:read'] });
  });
  test('alg none is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(new UnsecuredJWT(claims()).encode()))).toBe('ERR_TOKEN_INVALID');
  });
  test('HS256 signed with the published RSA public key is ERR_TOKEN_INVALID', async () => {
    await jwks.withKeys([es.jwk, rs.jwk], async () => {
      const secret = new TextEncoder().encode(await exportSPKI(rs.publicKey));
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rs.kid }).sign(secret);
      expect(await outcome(make(), bearer(token))).toBe('ERR_TOKEN_INVALID');
    });
  });
  test('an algorithm outside the allowlist (RS256 when only ES256 is allowed) is ERR_TOKEN_INVALID', async () => {
    await jwks.withKeys([es.jwk, rs.jwk], async () => {
      const token = await mint({}, {}, rs);
      expect(await outcome(make(), bearer(token))).toBe('accepted');
      expect(await outcome(make({ algorithms: ['ES256'] }), bearer(token))).toBe('ERR_TOKEN_INVALID');
    });
  });
  test('no kid while the JWKS has several keys is ERR_TOKEN_INVALID (one key: accepted)', async () => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(es.privateKey);
    expect(await outcome(make(), bearer(token))).toBe('accepted');
    await jwks.withKeys([es.jwk, es2.jwk], async () => {
      expect(await outcome(make(), bearer(token))).toBe('ERR_TOKEN_INVALID');
    });
    // Even when only one key could match by type, an unnamed key is refused when several are published.
    await jwks.withKeys([es.jwk, rs.jwk], async () => {
      expect(await outcome(make(), bearer(token))).toBe('ERR_TOKEN_INVALID');
    });
  });
  test('an unknown crit header is ERR_TOKEN_INVALID', async () => {
    const header = { alg: 'ES256', kid: es.kid, typ: 'at+jwt' };
    expect(await outcome(make(), bearer(await forgeEs256(es, header, claims())))).toBe('accepted');
    const crit = await forgeEs256(es, { ...header, crit: ['x-ravenhelm'], 'x-ravenhelm': 1 }, claims());
    expect(await outcome(make(), bearer(crit))).toBe('ERR_TOKEN_INVALID');
  });
  test('a tampered signature is ERR_TOKEN_INVALID', async () => {
    const [h, p, s] = (await mint()).split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    sig[5] = (sig[5] as number) ^ 0x01;
    expect(await outcome(make(), bearer(`${h}.${p}.${sig.toString('base64url')}`))).toBe('ERR_TOKEN_INVALID');
  });
  test('a tampered payload is ERR_TOKEN_INVALID', async () => {
    const [h, p, s] = (await mint()).split('.') as [string, string, string];
    const payload = { ...JSON.parse(Buffer.from(p, 'base64url').toString()), scope: 'mcp:docker:admin' };
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    expect(await outcome(make(), bearer(forged))).toBe('ERR_TOKEN_INVALID');
  });
  test('a token type other than an access token is ERR_TOKEN_INVALID; typ JWT (Zitadel) is accepted', async () => {
    expect(await outcome(make(), bearer(await mint({}, { typ: 'JWT' })))).toBe('accepted');
    expect(await outcome(make(), bearer(await mint({}, { typ: 'dpop+jwt' })))).toBe('ERR_TOKEN_INVALID');
  });
});

describe('claims', () => {
  test('expired (beyond the tolerance) is ERR_TOKEN_EXPIRED', async () => {
    expect(await outcome(make(), bearer(await mint({ iat: now() - 600, exp: now() - 60 })))).toBe('ERR_TOKEN_EXPIRED');
    expect(await outcome(make(), bearer(await mint({ exp: now() - 2 })))).toBe('accepted');
  });
  test('not yet valid (nbf in the future) is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ nbf: now() + 120 })))).toBe('ERR_TOKEN_INVALID');
  });
  test('issued in the future (iat) is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ iat: now() + 120 })))).toBe('ERR_TOKEN_INVALID');
  });
  test('a missing exp is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ exp: undefined })))).toBe('ERR_TOKEN_INVALID');
  });
  test('a non-numeric exp is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ exp: String(now() + 300) })))).toBe('ERR_TOKEN_INVALID');
  });
  test('a wrong issuer is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ iss: 'https://evil.example' })))).toBe('ERR_TOKEN_INVALID');
  });
  test('a trailing-slash issuer is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ iss: `${jwks.issuer}/` })))).toBe('ERR_TOKEN_INVALID');
  });
  test('a wrong audience is ERR_TOKEN_AUDIENCE; an extra configured audience (project id) accepts it', async () => {
    const token = await mint({ aud: ['https://other.example/mcp', PROJECT] });
    expect(await outcome(make(), bearer(token))).toBe('ERR_TOKEN_AUDIENCE');
    expect(await outcome(make({ audiences: [PROJECT] }), bearer(token))).toBe('accepted');
  });
  test('an ID token (nonce or at_hash) is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ nonce: 'n-0S6_WzA2Mj' }, { typ: 'JWT' })))).toBe(
      'ERR_TOKEN_INVALID',
    );
    expect(await outcome(make(), bearer(await mint({ at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' }, { typ: 'JWT' })))).toBe(
      'ERR_TOKEN_INVALID',
    );
  });
  test('a cached token still expires', async () => {
    const auth = make({ clockToleranceSeconds: 0 });
    // Three seconds of life: enough for the first check on a loaded machine, then wait until it is over.
    const exp = now() + 3;
    const token = await mint({ exp });
    expect(await outcome(auth, bearer(token))).toBe('accepted');
    await sleep(Math.max(0, (exp + 1) * 1000 - Date.now()));
    expect(await outcome(auth, bearer(token))).toBe('ERR_TOKEN_EXPIRED');
  });
});

describe('the JWKS refetch budget and outages', () => {
  test('a flood of random kids inside one cooldown causes at most one fetch, cold or warm', async () => {
    const auth = make({ jwksCooldownSeconds: 30 });
    const tokens = await Promise.all(Array.from({ length: 50 }, () => mint({}, { kid: randomUUID() })));
    const before = jwks.fetches;
    const codes = await Promise.all(tokens.map((t) => outcome(auth, bearer(t))));
    expect(new Set(codes)).toEqual(new Set(['ERR_TOKEN_INVALID']));
    // Cold cache: the one fetch is the initial load; the unknown kids add none.
    expect(jwks.fetches - before).toBe(1);
    for (const t of tokens.slice(0, 10)) expect(await outcome(auth, bearer(t))).toBe('ERR_TOKEN_INVALID');
    expect(jwks.fetches - before).toBe(1);
    expect(await outcome(auth, bearer(await mint()))).toBe('accepted');
    // Warm cache: a concurrent flood of fresh unknown kids adds no fetch either.
    const warmCodes = await Promise.all(
      Array.from({ length: 40 }, async () => outcome(auth, bearer(await mint({}, { kid: randomUUID() })))),
    );
    expect(new Set(warmCodes)).toEqual(new Set(['ERR_TOKEN_INVALID']));
    expect(jwks.fetches - before).toBe(1);
  });
  test('after the cooldown an unknown kid refetches exactly once, and a newly published key is found', async () => {
    const auth = make({ jwksCooldownSeconds: 1 });
    expect(await outcome(auth, bearer(await mint()))).toBe('accepted');
    await sleep(1100);
    const before = jwks.fetches;
    for (let i = 0; i < 20; i++) {
      expect(await outcome(auth, bearer(await mint({}, { kid: randomUUID() })))).toBe('ERR_TOKEN_INVALID');
    }
    expect(jwks.fetches - before).toBe(1);
    await jwks.withKeys([es.jwk, es2.jwk], async () => {
      expect(await outcome(auth, bearer(await mint({}, {}, es2)))).toBe('ERR_TOKEN_INVALID'); // still cooling down
      await sleep(1100);
      expect(await outcome(auth, bearer(await mint({}, {}, es2)))).toBe('accepted');
      expect(jwks.fetches - before).toBe(2);
    });
  });
  test('JWKS endpoint down on a cold cache is ERR_AUTH_UNAVAILABLE, without a fetch per request', async () => {
    const cold = make({ jwksCooldownSeconds: 1 });
    jwks.down = true;
    try {
      const before = jwks.fetches;
      for (let i = 0; i < 10; i++) {
        expect(await outcome(cold, bearer(await mint()))).toBe('ERR_AUTH_UNAVAILABLE');
      }
      expect(jwks.fetches - before).toBe(1);
      expect(await cold.ready()).toBe(false);
    } finally {
      jwks.down = false;
    }
    // Once the endpoint is back and the backoff has passed, the cold verifier recovers.
    await sleep(1100);
    expect(await outcome(cold, bearer(await mint()))).toBe('accepted');
  });
  test('JWKS endpoint down on a warm cache: a known key still verifies, an unknown kid does not lock it out', async () => {
    const warm = make();
    expect(await outcome(warm, bearer(await mint()))).toBe('accepted');
    const warmShort = make({ jwksCooldownSeconds: 1 });
    expect(await outcome(warmShort, bearer(await mint()))).toBe('accepted');
    jwks.down = true;
    try {
      expect(await outcome(warm, bearer(await mint({ sub: 'agent-second' })))).toBe('accepted');
      // An unknown kid past the cooldown hits the failing endpoint, but known keys keep verifying.
      await sleep(1100);
      expect(await outcome(warmShort, bearer(await mint({}, { kid: randomUUID() })))).toBe('ERR_AUTH_UNAVAILABLE');
      expect(await outcome(warmShort, bearer(await mint()))).toBe('accepted');
    } finally {
      jwks.down = false;
    }
  });
  test.each([
    ['not JSON', '<html>oops</html>'],
    ['not a key set', '{"keys":"nope"}'],
  ])('a JWKS document that is %s is ERR_AUTH_UNAVAILABLE on a cold cache', async (_name, body) => {
    jwks.body = body;
    try {
      expect(await outcome(make(), bearer(await mint()))).toBe('ERR_AUTH_UNAVAILABLE');
    } finally {
      jwks.body = undefined;
    }
  });
});

describe('bindings and roles', () => {
  const der = randomBytes(600);
  const thumbprint = createHash('sha256').update(der).digest('base64url');

  test('RFC 8705: cnf x5t#S256 not matching the peer certificate is ERR_TOKEN_BINDING', async () => {
    const auth = make();
    const token = await mint({ cnf: { 'x5t#S256': thumbprint } });
    expect(await outcome(auth, bearer(token, { peerCertificate: der }))).toBe('accepted');
    // The second call is a cache hit and is still checked against the connection.
    expect(await outcome(auth, bearer(token, { peerCertificate: randomBytes(600) }))).toBe('ERR_TOKEN_BINDING');
    expect(await outcome(auth, bearer(token))).toBe('ERR_TOKEN_BINDING');
  });
  test('a DPoP-bound token (cnf.jkt) is ERR_TOKEN_BINDING', async () => {
    const token = await mint({ cnf: { jkt: 'Xn4Z2c8B0mG4c4yM5l3qYx3U6E7f1Z9bW0aR2tY5uIo' } });
    expect(await outcome(make(), bearer(token))).toBe('ERR_TOKEN_BINDING');
  });
  test('a SPIFFE binding mismatch is ERR_TOKEN_BINDING (exact IDs and /* patterns)', async () => {
    const token = await mint();
    const exact = make({ spiffeBindings: { 'agent-oncall': ['spiffe://ravenhelm.local/agent/oncall'] } });
    const ok = await exact.authenticate(bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/agent/oncall' }));
    expect(ok.spiffeId).toBe('spiffe://ravenhelm.local/agent/oncall');
    expect(await outcome(exact, bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/agent/intruder' }))).toBe(
      'ERR_TOKEN_BINDING',
    );
    expect(await outcome(exact, bearer(token))).toBe('ERR_TOKEN_BINDING');

    const pattern = make({ spiffeBindings: { 'agent-oncall': ['spiffe://ravenhelm.local/agent/*'] } });
    const viaPattern = await pattern.authenticate(
      bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/agent/oncall' }),
    );
    expect(viaPattern.spiffeId).toBe('spiffe://ravenhelm.local/agent/oncall');
    expect(await outcome(pattern, bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/server/docker' }))).toBe(
      'ERR_TOKEN_BINDING',
    );
    expect(await outcome(pattern, bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/agent/oncall/x' }))).toBe(
      'ERR_TOKEN_BINDING',
    );
    expect(await outcome(pattern, bearer(token))).toBe('ERR_TOKEN_BINDING');
    // Unbound clients are unaffected.
    const other = await mint({ sub: 'agent-report', client_id: 'agent-report' });
    expect((await pattern.authenticate(bearer(other))).spiffeId).toBeUndefined();
  });
  test('an scp array (no scope claim) and Zitadel project roles become scopes', async () => {
    const token = await mint({
      scope: undefined,
      scp: ['mcp:docker:read'],
      [`urn:zitadel:iam:org:project:${PROJECT}:roles`]: { 'ops-admin': { 'org-1': 'ravenhelm.example' } },
    });
    const p = await make({ ...ZITADEL, roleScopes: { 'ops-admin': ['mcp:docker:admin'] } }).authenticate(bearer(token));
    expect([...p.scopes].sort()).toEqual(['mcp:docker:admin', 'mcp:docker:read']);
    expect(p.roles).toEqual(['ops-admin']);
  });
  test('Zitadel role claims map to scopes; a role granted only by an org off the allowlist is ignored', async () => {
    const auth = make({
      projectId: PROJECT,
      roleScopes: { 'ops-admin': ['mcp:docker:admin'], viewer: ['mcp:grafana:read'], auditor: ['mcp:loki:read'] },
      allowedOrgIds: ['org-1'],
    });
    const token = await mint({
      [`urn:zitadel:iam:org:project:${PROJECT}:roles`]: {
        'ops-admin': { 'org-1': 'ravenhelm.example' },
        viewer: { 'org-2': 'elsewhere.example' },
        auditor: { 'org-2': 'elsewhere.example', 'org-1': 'ravenhelm.example' },
      },
    });
    const principal = await auth.authenticate(bearer(token));
    expect([...principal.roles].sort()).toEqual(['auditor', 'ops-admin']);
    expect([...principal.scopes].sort()).toEqual(['mcp:docker:admin', 'mcp:docker:read', 'mcp:loki:read']);
  });
});

// Issue 7 item 9: Zitadel asserts one roles claim per project in the token's audience, plus a generic
// claim for the requesting client's own project. Only our project's claim may grant scopes.
describe("Zitadel: only the configured project's roles count", () => {
  const ATTACKER_PROJECT = '999999999999999999';
  const roleScopes = { 'docker.admin': ['mcp:docker:admin'], 'docker.reader': ['mcp:docker:read'] };
  const attack = () =>
    mint({
      aud: [PROJECT, ATTACKER_PROJECT],
      scope: 'openid',
      [`urn:zitadel:iam:org:project:${ATTACKER_PROJECT}:roles`]: { 'docker.admin': { 'org-1': 'ravenhelm.example' } },
      [ROLES]: { 'docker.admin': { 'org-1': 'ravenhelm.example' } },
      [`urn:zitadel:iam:org:project:${PROJECT}:roles`]: { 'docker.reader': { 'org-1': 'ravenhelm.example' } },
    });

  test("a token whose audience lists our project and an attacker's gets only our project's roles", async () => {
    const auth = make({ audiences: [PROJECT], ...ZITADEL, roleScopes });
    const principal = await auth.authenticate(bearer(await attack()));
    expect(principal.roles).toEqual(['docker.reader']);
    expect(principal.scopes).toEqual(['openid', 'mcp:docker:read']);
  });

  test('the same attack through a real oidc-provider token (extra claims signed by the provider)', async () => {
    const provider = await startOidcProvider({
      extraClaims: {
        [`urn:zitadel:iam:org:project:${ATTACKER_PROJECT}:roles`]: { 'docker.admin': { 'org-1': 'x' } },
        [ROLES]: { 'docker.admin': { 'org-1': 'x' } },
        [`urn:zitadel:iam:org:project:${PROJECT}:roles`]: { 'docker.reader': { 'org-1': 'x' } },
      },
    });
    try {
      const auth = track(
        createOAuthAuthenticator({ issuer: provider.issuer, resource: provider.resource, ...ZITADEL, roleScopes }),
      );
      const principal = await auth.authenticate(bearer(await provider.getToken({ scope: 'mcp:docker:write' })));
      expect(principal.roles).toEqual(['docker.reader']);
      expect(principal.scopes).toEqual(['mcp:docker:write', 'mcp:docker:read']);
    } finally {
      await provider.stop();
    }
  });

  test('roleScopes without projectId or allowedOrgIds is refused at configuration, naming what is missing', () => {
    const refused = (config: Partial<OAuthConfig>) => {
      try {
        make(config);
      } catch (err) {
        if (err instanceof OAuthConfigError) return err.issues;
        throw err;
      }
      return [];
    };
    expect(refused({ roleScopes })).toEqual([
      'projectId: roleScopes needs projectId: the Zitadel project whose roles count (roles of any other project are ignored)',
      'allowedOrgIds: roleScopes needs allowedOrgIds: the organisations whose role grants count',
    ]);
    expect(refused({ roleScopes, projectId: PROJECT })).toEqual([
      'allowedOrgIds: roleScopes needs allowedOrgIds: the organisations whose role grants count',
    ]);
    expect(refused({ roleScopes, projectId: PROJECT, allowedOrgIds: [] })).toHaveLength(1);
    expect(refused({ roleScopes, allowedOrgIds: ['org-1'] })).toHaveLength(1);
    expect(refused({ roleScopes: { viewer: ['mcp:docker:read mcp:docker:admin'] }, ...ZITADEL })[0]).toMatch(
      /^roleScopes\.viewer\.0: must be one scope/,
    );
    expect(refused({ roleScopes, ...ZITADEL })).toEqual([]);
  });
});

// Issue 7 item 11: a scope value with whitespace in it reads as one scope here and as two wherever
// the list is joined with spaces (the tools/list cache key did exactly that).
describe('scope values', () => {
  test('an scp entry or a scope with whitespace or control characters is ERR_TOKEN_INVALID', async () => {
    expect(await outcome(make(), bearer(await mint({ scope: undefined, scp: ['mcp:docker:read mcp:x:admin'] })))).toBe(
      'ERR_TOKEN_INVALID',
    );
    expect(await outcome(make(), bearer(await mint({ scope: undefined, scp: ['mcp:docker:read\tmcp:x:admin'] })))).toBe(
      'ERR_TOKEN_INVALID',
    );
    expect(await outcome(make(), bearer(await mint({ scope: 'mcp:docker:read\nmcp:x:admin' })))).toBe(
      'ERR_TOKEN_INVALID',
    );
    expect(
      await outcome(make(), bearer(await mint({ scope: undefined, scp: ['mcp:docker:read', 'mcp:x:admin'] }))),
    ).toBe('accepted');
  });
});

describe('configuration', () => {
  function configError(config: Record<string, unknown>): OAuthConfigError {
    try {
      createOAuthAuthenticator({ issuer: jwks.issuer, resource: RESOURCE, ...config } as OAuthConfig);
    } catch (err) {
      if (err instanceof OAuthConfigError) return err;
      throw err;
    }
    throw new Error('configuration was accepted');
  }
  test('HS*, none and an empty list cannot be configured; the error names the path, never the secret', () => {
    expect(configError({ algorithms: ['ES256', 'HS256'] }).issues).toHaveLength(1);
    expect(configError({ algorithms: ['ES256', 'HS256'] }).issues[0]).toMatch(/^algorithms\.1:/);
    expect(configError({ algorithms: ['none'] }).issues[0]).toMatch(/^algorithms\.0:/);
    expect(configError({ algorithms: [] }).issues[0]).toMatch(/^algorithms:/);
    const err = configError({ algorithms: ['HS512'], introspection: { clientId: 'rs', clientSecret: 'sekrit-123' } });
    expect(err.message).not.toContain('sekrit-123');
  });
  test('plain http is refused off loopback, and secrets never appear in the error', () => {
    expect(configError({ issuer: 'http://auth.example.com' }).issues[0]).toMatch(/^issuer:/);
    const err = configError({
      jwksUri: 'http://keys.example.com/jwks',
      introspection: { clientId: 'rs', clientSecret: 'super-secret-value', endpoint: 'ftp://x' },
    });
    expect(err.issues.map((i) => i.split(':')[0]).sort()).toEqual(['introspection.endpoint', 'jwksUri']);
    expect(err.message).not.toContain('super-secret-value');
  });
});

describe('the dev issuer', () => {
  test('a DevIssuer-minted token verifies through createOAuthAuthenticator pointed at the running issuer', async () => {
    const dev = await DevIssuer.open({ stateDir: join(tmp, 'dev') });
    try {
      const { issuer: devIssuer } = await dev.start({ port: 0 });
      expect((await stat(join(tmp, 'dev', 'issuer-key.jwk'))).mode & 0o777).toBe(0o600);
      const auth = track(createOAuthAuthenticator({ issuer: devIssuer, resource: RESOURCE }));
      expect(await auth.ready()).toBe(true);
      const token = await dev.mint({
        agent: 'oncall',
        scopes: ['mcp:docker:read', 'mcp:docker:write'],
        audience: RESOURCE,
      });
      const principal = await auth.authenticate(bearer(token));
      expect({ ...principal, expiresAt: undefined }).toEqual({
        subject: 'oncall',
        clientId: 'oncall',
        scopes: ['mcp:docker:read', 'mcp:docker:write'],
        roles: [],
        issuer: devIssuer,
        spiffeId: undefined,
        source: 'oauth',
        expiresAt: undefined,
      });
      expect(principal.expiresAt).toBeGreaterThan(now() + 3500);
      expect(principal.expiresAt).toBeLessThanOrEqual(now() + 3600);
      // A dev token for another resource is refused like any other.
      const elsewhere = await dev.mint({ agent: 'oncall', scopes: [], audience: 'https://elsewhere.example/mcp' });
      expect(await outcome(auth, bearer(elsewhere))).toBe('ERR_TOKEN_AUDIENCE');

      // The CLI: `token --issuer-port` prints only the token, signed by the same state's key.
      const port = new URL(devIssuer).port;
      const { stdout, stderr } = await run(
        process.execPath,
        [
          '--import',
          'tsx',
          join(REPO, 'auth/src/cli.ts'),
          'token',
          '--agent',
          'cli-agent',
          '--scope',
          'mcp:docker:read',
        ].concat(['--aud', RESOURCE, '--ttl', '120', '--issuer-port', port, '--state', join(tmp, 'dev')]),
        { cwd: REPO, timeout: 20_000 },
      );
      expect(stderr).toBe('');
      expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
      const fromCli = await auth.authenticate(bearer(stdout.trim()));
      expect(fromCli).toMatchObject({ subject: 'cli-agent', clientId: 'cli-agent', scopes: ['mcp:docker:read'] });
      expect(fromCli.expiresAt).toBeLessThanOrEqual(now() + 120);
    } finally {
      await dev.close();
    }
  });
});
