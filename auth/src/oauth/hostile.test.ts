import { createHash, createPrivateKey, sign as cryptoSign, type KeyObject, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuthError } from '../errors.js';
import type { AuthRequest } from '../principal.js';
import { createOAuthAuthenticator, type OAuthAuthenticator, OAuthConfigError } from './authenticator.js';
import type { OAuthConfig } from './config.js';

// A loopback issuer we control, so we can forge what a real authorization server never produces.
const RESOURCE = 'https://mcp.ravenhelm.test/docker';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Math.floor(Date.now() / 1000);

interface Signer {
  kid: string;
  alg: 'ES256' | 'RS256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function signer(alg: 'ES256' | 'RS256'): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = randomUUID();
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

let server: Server;
let issuer: string;
let published: JWK[] = [];
let fetches = 0;
let jwksDown = false;
let jwksBody: string | undefined;
let es: Signer;
let es2: Signer;
let rs: Signer;
const authenticators: OAuthAuthenticator[] = [];

function make(extra: Partial<OAuthConfig> = {}): OAuthAuthenticator {
  const a = createOAuthAuthenticator({ issuer, resource: RESOURCE, jwksUri: `${issuer}/jwks`, ...extra });
  authenticators.push(a);
  return a;
}

function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const t = now();
  return {
    iss: issuer,
    sub: 'agent-oncall',
    client_id: 'agent-oncall',
    aud: RESOURCE,
    scope: 'mcp:docker:read',
    iat: t,
    exp: t + 300,
    jti: randomUUID(),
    ...extra,
  };
}

async function mint(
  extra: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
  key: Signer = es,
): Promise<string> {
  return new SignJWT(claims(extra))
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header })
    .sign(key.privateKey);
}

/** Signs arbitrary header/payload bytes with node:crypto (for headers jose refuses to produce, like unknown crit). */
function forgeEs256(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const sig = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

function bearer(token: string, extra: Partial<AuthRequest> = {}): AuthRequest {
  return { headers: { authorization: `Bearer ${token}` }, ...extra };
}

async function failure(p: Promise<unknown>): Promise<AuthError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AuthError) return err;
    throw err;
  }
  throw new Error('expected an AuthError, the token was accepted');
}

async function codeOf(auth: OAuthAuthenticator, req: AuthRequest): Promise<string> {
  const err = await failure(auth.authenticate(req));
  // Whatever the reason, the message never echoes the credentials.
  const header = req.headers.authorization;
  for (const h of Array.isArray(header) ? header : header ? [header] : []) {
    const token = h.replace(/^\S+\s+/, '');
    if (token.length > 8) expect(err.message).not.toContain(token);
  }
  return err.code;
}

beforeAll(async () => {
  es = await signer('ES256');
  es2 = await signer('ES256');
  rs = await signer('RS256');
  published = [es.jwk];
  server = createServer((req, res) => {
    if (req.url === '/jwks') {
      fetches++;
      if (jwksDown) return void res.writeHead(503).end();
      if (jwksBody !== undefined) return void res.writeHead(200, { 'content-type': 'application/json' }).end(jwksBody);
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify({ keys: published }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const a of authenticators) await a.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('the Authorization header', () => {
  test('no header is ERR_TOKEN_MISSING', async () => {
    expect(await codeOf(make(), { headers: {} })).toBe('ERR_TOKEN_MISSING');
  });
  test('another scheme (Basic) is ERR_TOKEN_MISSING', async () => {
    expect(await codeOf(make(), { headers: { authorization: 'Basic YWdlbnQ6c2VjcmV0' } })).toBe('ERR_TOKEN_MISSING');
  });
  test('the scheme is case-insensitive', async () => {
    const principal = await make().authenticate({ headers: { authorization: `bearer ${await mint()}` } });
    expect(principal.subject).toBe('agent-oncall');
  });
  test('Bearer without a token, or with two tokens, is ERR_TOKEN_MALFORMED_REQUEST', async () => {
    expect(await codeOf(make(), { headers: { authorization: 'Bearer' } })).toBe('ERR_TOKEN_MALFORMED_REQUEST');
    expect(await codeOf(make(), { headers: { authorization: 'Bearer a.b.c d.e.f' } })).toBe(
      'ERR_TOKEN_MALFORMED_REQUEST',
    );
  });
  test('duplicate Authorization headers are ERR_TOKEN_MALFORMED_REQUEST', async () => {
    const token = await mint();
    const req = { headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] } };
    expect(await codeOf(make(), req)).toBe('ERR_TOKEN_MALFORMED_REQUEST');
  });
  test('a token in the query string is ERR_TOKEN_MALFORMED_REQUEST, even next to a valid header', async () => {
    const token = await mint();
    expect(await codeOf(make(), { headers: {}, query: new URLSearchParams({ access_token: token }) })).toBe(
      'ERR_TOKEN_MALFORMED_REQUEST',
    );
    expect(await codeOf(make(), bearer(token, { query: new URLSearchParams({ access_token: token }) }))).toBe(
      'ERR_TOKEN_MALFORMED_REQUEST',
    );
  });
  test('an oversized token is refused before any parsing or key fetch', async () => {
    const auth = make({ maxTokenBytes: 1024 });
    const before = fetches;
    const big = await mint({ padding: 'x'.repeat(2000) });
    expect(await codeOf(auth, bearer(big))).toBe('ERR_TOKEN_INVALID');
    expect(fetches).toBe(before);
    const junk = `${'A'.repeat(9000)}`;
    expect(await codeOf(make(), bearer(junk))).toBe('ERR_TOKEN_INVALID');
  });
});

describe('signature and header attacks', () => {
  test('a valid token is accepted (control)', async () => {
    const principal = await make().authenticate(bearer(await mint()));
    expect(principal).toMatchObject({ subject: 'agent-oncall', clientId: 'agent-oncall', scopes: ['mcp:docker:read'] });
  });
  test('alg none is ERR_TOKEN_INVALID', async () => {
    const token = new UnsecuredJWT(claims()).encode();
    expect(await codeOf(make(), bearer(token))).toBe('ERR_TOKEN_INVALID');
  });
  test('HS256 signed with the public key as the HMAC secret is ERR_TOKEN_INVALID', async () => {
    published = [es.jwk, rs.jwk];
    try {
      const pem = await exportSPKI(rs.publicKey);
      const secret = new TextEncoder().encode(pem);
      const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rs.kid }).sign(secret);
      expect(await codeOf(make(), bearer(token))).toBe('ERR_TOKEN_INVALID');
    } finally {
      published = [es.jwk];
    }
  });
  test('an algorithm outside the allowlist is ERR_TOKEN_INVALID', async () => {
    published = [es.jwk, rs.jwk];
    try {
      const token = await mint({}, {}, rs);
      expect((await make().authenticate(bearer(token))).subject).toBe('agent-oncall');
      expect(await codeOf(make({ algorithms: ['ES256'] }), bearer(token))).toBe('ERR_TOKEN_INVALID');
    } finally {
      published = [es.jwk];
    }
  });
  test('no kid is accepted with one published key and refused with several', async () => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' }).sign(es.privateKey);
    expect((await make().authenticate(bearer(token))).subject).toBe('agent-oncall');
    published = [es.jwk, es2.jwk];
    try {
      expect(await codeOf(make(), bearer(token))).toBe('ERR_TOKEN_INVALID');
      // Even when only one key could match by type, an unnamed key is refused when several are published.
      published = [es.jwk, rs.jwk];
      expect(await codeOf(make(), bearer(token))).toBe('ERR_TOKEN_INVALID');
    } finally {
      published = [es.jwk];
    }
  });
  test('an unknown crit header is ERR_TOKEN_INVALID', async () => {
    const key = createPrivateKey({ key: (await exportJWK(es.privateKey)) as never, format: 'jwk' });
    const good = forgeEs256({ alg: 'ES256', kid: es.kid, typ: 'at+jwt' }, claims(), key);
    expect((await make().authenticate(bearer(good))).subject).toBe('agent-oncall');
    const crit = forgeEs256(
      { alg: 'ES256', kid: es.kid, typ: 'at+jwt', crit: ['x-ravenhelm'], 'x-ravenhelm': 1 },
      claims(),
      key,
    );
    expect(await codeOf(make(), bearer(crit))).toBe('ERR_TOKEN_INVALID');
  });
  test('a tampered signature or payload is ERR_TOKEN_INVALID', async () => {
    const [h, p, s] = (await mint()).split('.') as [string, string, string];
    const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expect(await codeOf(make(), bearer(`${h}.${p}.${flipped}`))).toBe('ERR_TOKEN_INVALID');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.scope = 'mcp:docker:admin';
    const forged = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    expect(await codeOf(make(), bearer(forged))).toBe('ERR_TOKEN_INVALID');
  });
  test('a token type other than an access token is ERR_TOKEN_INVALID; typ JWT (Zitadel) is accepted', async () => {
    expect((await make().authenticate(bearer(await mint({}, { typ: 'JWT' })))).subject).toBe('agent-oncall');
    expect(await codeOf(make(), bearer(await mint({}, { typ: 'dpop+jwt' })))).toBe('ERR_TOKEN_INVALID');
  });
  test('an ID token (nonce or at_hash) is ERR_TOKEN_INVALID', async () => {
    expect(await codeOf(make(), bearer(await mint({ nonce: 'n-0S6_WzA2Mj' }, { typ: 'JWT' })))).toBe(
      'ERR_TOKEN_INVALID',
    );
    expect(await codeOf(make(), bearer(await mint({ at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' }, { typ: 'JWT' })))).toBe(
      'ERR_TOKEN_INVALID',
    );
  });
});

describe('claims', () => {
  test('expired is ERR_TOKEN_EXPIRED (beyond the clock tolerance only)', async () => {
    expect(await codeOf(make(), bearer(await mint({ exp: now() - 60 })))).toBe('ERR_TOKEN_EXPIRED');
    expect((await make().authenticate(bearer(await mint({ exp: now() - 2 })))).subject).toBe('agent-oncall');
  });
  test('not yet valid (nbf) and issued in the future (iat) are ERR_TOKEN_INVALID', async () => {
    expect(await codeOf(make(), bearer(await mint({ nbf: now() + 120 })))).toBe('ERR_TOKEN_INVALID');
    expect(await codeOf(make(), bearer(await mint({ iat: now() + 120 })))).toBe('ERR_TOKEN_INVALID');
  });
  test('missing or non-numeric exp is ERR_TOKEN_INVALID', async () => {
    expect(await codeOf(make(), bearer(await mint({ exp: undefined })))).toBe('ERR_TOKEN_INVALID');
    expect(await codeOf(make(), bearer(await mint({ exp: String(now() + 300) })))).toBe('ERR_TOKEN_INVALID');
  });
  test('a wrong issuer or a trailing-slash issuer is ERR_TOKEN_INVALID', async () => {
    expect(await codeOf(make(), bearer(await mint({ iss: 'https://evil.example' })))).toBe('ERR_TOKEN_INVALID');
    expect(await codeOf(make(), bearer(await mint({ iss: `${issuer}/` })))).toBe('ERR_TOKEN_INVALID');
  });
  test('a wrong audience is ERR_TOKEN_AUDIENCE; a configured extra audience (project id) is accepted', async () => {
    const token = await mint({ aud: ['https://other.example/mcp', '312909075212468632'] });
    expect(await codeOf(make(), bearer(token))).toBe('ERR_TOKEN_AUDIENCE');
    expect((await make({ audiences: ['312909075212468632'] }).authenticate(bearer(token))).subject).toBe(
      'agent-oncall',
    );
  });
  test('scp arrays and Zitadel project roles become scopes', async () => {
    const token = await mint({
      scope: undefined,
      scp: ['mcp:docker:read'],
      'urn:zitadel:iam:org:project:312909075212468632:roles': { 'ops-admin': { 'org-1': 'ravenhelm.example' } },
    });
    const p = await make({ roleScopes: { 'ops-admin': ['mcp:docker:admin'] } }).authenticate(bearer(token));
    expect(p.scopes.sort()).toEqual(['mcp:docker:admin', 'mcp:docker:read']);
    expect(p.roles).toEqual(['ops-admin']);
  });
  test('a cached token still expires', async () => {
    const auth = make({ clockToleranceSeconds: 0 });
    const token = await mint({ exp: now() + 1 });
    await auth.authenticate(bearer(token));
    await sleep(2100);
    expect(await codeOf(auth, bearer(token))).toBe('ERR_TOKEN_EXPIRED');
  });
});

describe('the JWKS refetch budget', () => {
  test('a flood of unknown kids causes no refetch inside the cooldown', async () => {
    const auth = make({ jwksCooldownSeconds: 30 });
    await auth.authenticate(bearer(await mint()));
    const before = fetches;
    const codes = await Promise.all(
      Array.from({ length: 40 }, async () => codeOf(auth, bearer(await mint({}, { kid: randomUUID() })))),
    );
    expect(new Set(codes)).toEqual(new Set(['ERR_TOKEN_INVALID']));
    expect(fetches).toBe(before);
  });
  test('after the cooldown a flood of unknown kids causes exactly one refetch', async () => {
    const auth = make({ jwksCooldownSeconds: 1 });
    await auth.authenticate(bearer(await mint()));
    await sleep(1100);
    const before = fetches;
    for (let i = 0; i < 20; i++) {
      expect(await codeOf(auth, bearer(await mint({}, { kid: randomUUID() })))).toBe('ERR_TOKEN_INVALID');
    }
    expect(fetches).toBe(before + 1);
  });
  test('JWKS down: cold cache is ERR_AUTH_UNAVAILABLE without a fetch per request, warm cache verifies', async () => {
    const warm = make();
    await warm.authenticate(bearer(await mint()));
    jwksDown = true;
    try {
      const cold = make({ jwksCooldownSeconds: 1 });
      const before = fetches;
      for (let i = 0; i < 10; i++) {
        expect(await codeOf(cold, bearer(await mint()))).toBe('ERR_AUTH_UNAVAILABLE');
      }
      expect(fetches).toBe(before + 1);
      expect((await warm.authenticate(bearer(await mint()))).subject).toBe('agent-oncall');
      // An unknown kid on the warm verifier hits the failing endpoint but does not lock out known keys.
      await sleep(1100);
      const warmShort = make({ jwksCooldownSeconds: 1 });
      jwksDown = false;
      await warmShort.authenticate(bearer(await mint()));
      jwksDown = true;
      await sleep(1100);
      expect(await codeOf(warmShort, bearer(await mint({}, { kid: randomUUID() })))).toBe('ERR_AUTH_UNAVAILABLE');
      expect((await warmShort.authenticate(bearer(await mint()))).subject).toBe('agent-oncall');
      // Once the endpoint is back and the backoff has passed, the cold verifier recovers.
      jwksDown = false;
      await sleep(1100);
      expect((await cold.authenticate(bearer(await mint()))).subject).toBe('agent-oncall');
    } finally {
      jwksDown = false;
    }
  });
});

describe('a broken JWKS document', () => {
  test.each([
    ['not JSON', '<html>oops</html>'],
    ['not a key set', '{"keys":"nope"}'],
  ])('%s on a cold cache is ERR_AUTH_UNAVAILABLE', async (_name, body) => {
    jwksBody = body;
    try {
      expect(await codeOf(make(), bearer(await mint()))).toBe('ERR_AUTH_UNAVAILABLE');
    } finally {
      jwksBody = undefined;
    }
  });
});

describe('bindings', () => {
  const der = randomBytes(600);
  const otherDer = randomBytes(600);
  const thumb = createHash('sha256').update(der).digest('base64url');

  test('RFC 8705: a certificate-bound token needs that certificate on the connection', async () => {
    const auth = make();
    const token = await mint({ cnf: { 'x5t#S256': thumb } });
    expect((await auth.authenticate(bearer(token, { peerCertificate: der }))).subject).toBe('agent-oncall');
    // The second call is a cache hit and is still bound.
    expect(await codeOf(auth, bearer(token, { peerCertificate: otherDer }))).toBe('ERR_TOKEN_BINDING');
    expect(await codeOf(auth, bearer(token))).toBe('ERR_TOKEN_BINDING');
  });
  test('a DPoP-bound token (cnf.jkt) is ERR_TOKEN_BINDING', async () => {
    expect(
      await codeOf(make(), bearer(await mint({ cnf: { jkt: 'Xn4Z2c8B0mG4c4yM5l3qYx3U6E7f1Z9bW0aR2tY5uIo' } }))),
    ).toBe('ERR_TOKEN_BINDING');
  });
  test('SPIFFE binding: a bound client must come from a matching SPIFFE ID', async () => {
    const auth = make({ spiffeBindings: { 'agent-oncall': ['spiffe://ravenhelm.local/agent/*'] } });
    const token = await mint();
    const ok = await auth.authenticate(bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/agent/oncall' }));
    expect(ok.spiffeId).toBe('spiffe://ravenhelm.local/agent/oncall');
    expect(await codeOf(auth, bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/server/docker' }))).toBe(
      'ERR_TOKEN_BINDING',
    );
    expect(await codeOf(auth, bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/agent/oncall/x' }))).toBe(
      'ERR_TOKEN_BINDING',
    );
    expect(await codeOf(auth, bearer(token))).toBe('ERR_TOKEN_BINDING');
    // Unbound clients are unaffected.
    const other = await mint({ sub: 'agent-report', client_id: 'agent-report' });
    expect((await auth.authenticate(bearer(other))).spiffeId).toBeUndefined();
  });
});

describe('configuration', () => {
  function configError(config: Record<string, unknown>): OAuthConfigError {
    try {
      createOAuthAuthenticator({ issuer, resource: RESOURCE, ...config } as OAuthConfig);
    } catch (err) {
      if (err instanceof OAuthConfigError) return err;
      throw err;
    }
    throw new Error('configuration was accepted');
  }
  test('symmetric and none algorithms cannot be configured', () => {
    expect(configError({ algorithms: ['ES256', 'HS256'] }).issues[0]).toMatch(/^algorithms\.1:/);
    expect(configError({ algorithms: ['none'] }).issues[0]).toMatch(/^algorithms\.0:/);
    expect(configError({ algorithms: [] }).issues[0]).toMatch(/^algorithms:/);
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
