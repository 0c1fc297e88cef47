import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { type RunningOidcProvider, startOidcProvider } from '../../../test/fixtures/oidc.js';
import { AuthError } from '../errors.js';
import type { AuthRequest } from '../principal.js';
import { createOAuthAuthenticator, type OAuthAuthenticator } from './authenticator.js';
import type { OAuthConfig } from './config.js';

const PROJECT = 'p1';
const ROLES_CLAIM = `urn:zitadel:iam:org:project:${PROJECT}:roles`;
/** The roles every test token carries, for our project and (ignored) for another one. */
const ZITADEL = { projectId: PROJECT, allowedOrgIds: ['org-1', 'org-2'] };

function bearer(token: string, extra: Partial<AuthRequest> = {}): AuthRequest {
  return { headers: { authorization: `Bearer ${token}` }, ...extra };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AuthError) return err.code;
    throw err;
  }
  return 'accepted';
}

/**
 * Stops Date (only Date: sockets and timers stay real) at `at`, for cooldowns, back-offs and cache lifetimes:
 * the test moves the clock, so how long key generation or a request takes on a loaded machine cannot carry
 * a step past a limit it is meant to stay inside.
 */
function freezeClock(at = Date.now()): { advance(ms: number): void } {
  vi.useFakeTimers({ toFake: ['Date'], now: at });
  return { advance: (ms) => vi.setSystemTime(Date.now() + ms) };
}

afterEach(() => {
  vi.useRealTimers();
});

let op: RunningOidcProvider;
const authenticators: OAuthAuthenticator[] = [];
function make(extra: Partial<OAuthConfig> = {}): OAuthAuthenticator {
  const a = createOAuthAuthenticator({ issuer: op.issuer, resource: op.resource, ...extra });
  authenticators.push(a);
  return a;
}

beforeAll(async () => {
  op = await startOidcProvider({
    extraClaims: {
      [ROLES_CLAIM]: { 'ops-admin': { 'org-1': 'ravenhelm.example' }, viewer: { 'org-2': 'other' } },
      'urn:zitadel:iam:org:project:roles': { intruder: { 'org-1': 'ravenhelm.example' } },
      'urn:zitadel:iam:org:project:p2:roles': { intruder: { 'org-1': 'ravenhelm.example' } },
    },
  });
});

afterAll(async () => {
  for (const a of authenticators) await a.close();
  await op.stop();
});

describe('JWT access tokens from oidc-provider', () => {
  test('a real token verifies through discovery and yields the principal', async () => {
    const auth = make({ ...ZITADEL, roleScopes: { 'ops-admin': ['mcp:docker:admin'], intruder: ['mcp:x:admin'] } });
    const token = await op.getToken({ scope: 'mcp:docker:read mcp:docker:write' });
    const principal = await auth.authenticate(bearer(token, { peerSpiffeId: 'spiffe://ravenhelm.local/agent/oncall' }));
    expect(principal.subject).toBe(op.agent.clientId);
    expect(principal.clientId).toBe(op.agent.clientId);
    expect(principal.scopes.sort()).toEqual(['mcp:docker:admin', 'mcp:docker:read', 'mcp:docker:write']);
    expect(principal.roles.sort()).toEqual(['ops-admin', 'viewer']);
    expect(principal.issuer).toBe(op.issuer);
    expect(principal.source).toBe('oauth');
    expect(principal.spiffeId).toBe('spiffe://ravenhelm.local/agent/oncall');
    expect(principal.expiresAt).toBeGreaterThan(Date.now() / 1000);
    expect(await auth.ready()).toBe(true);
  });

  test('allowedOrgIds drops roles granted by other organisations', async () => {
    const auth = make({
      jwksUri: op.jwksUri,
      projectId: PROJECT,
      roleScopes: { viewer: ['mcp:docker:read'] },
      allowedOrgIds: ['org-1'],
    });
    const principal = await auth.authenticate(bearer(await op.getToken({})));
    expect(principal.roles).toEqual(['ops-admin']);
    expect(principal.scopes).toEqual([]);
  });

  test('a token for another resource is refused with ERR_TOKEN_AUDIENCE; an extra audience accepts it', async () => {
    const other = await startOidcProvider({ jwtResources: ['https://other.example/mcp'] });
    try {
      const token = await other.getToken({});
      const strict = make({
        issuer: other.issuer,
        jwksUri: other.jwksUri,
        resource: 'https://mcp.ravenhelm.test/docker',
      });
      expect(await codeOf(strict.authenticate(bearer(token)))).toBe('ERR_TOKEN_AUDIENCE');
      const lenient = make({
        issuer: other.issuer,
        jwksUri: other.jwksUri,
        resource: 'https://mcp.ravenhelm.test/docker',
        audiences: ['https://other.example/mcp'],
      });
      expect((await lenient.authenticate(bearer(token))).subject).toBe(other.agent.clientId);
    } finally {
      await other.stop();
    }
  });

  test('a token from another issuer is refused naming both issuers', async () => {
    const local = await startOidcProvider({});
    try {
      const token = await local.getToken({});
      const strict = make({ issuer: 'https://zitadel.example.test', resource: local.resource, jwksUri: local.jwksUri });
      const err = await strict.authenticate(bearer(token)).then(
        () => undefined,
        (e: AuthError) => e,
      );
      expect(err?.code).toBe('ERR_TOKEN_INVALID');
      expect(err?.message).toBe(
        `token issuer ${JSON.stringify(local.issuer)} is not the issuer this server trusts (https://zitadel.example.test)`,
      );
    } finally {
      await local.stop();
    }
  });

  test('a verified token is served from the cache without verifying again', async () => {
    const local = await startOidcProvider({});
    try {
      const config = { issuer: local.issuer, resource: local.resource, jwksUri: local.jwksUri, jwksCooldownSeconds: 0 };
      const auth = make(config);
      const token = await local.getToken({});
      await auth.authenticate(bearer(token));
      // The signing key disappears: verifying again would fail, the cached result does not.
      await local.rotateKeys({ dropOld: true });
      expect((await auth.authenticate(bearer(token))).subject).toBe(local.agent.clientId);
      expect(auth.cachedTokens).toBe(1);
      expect(await codeOf(make(config).authenticate(bearer(token)))).toBe('ERR_TOKEN_INVALID');
    } finally {
      await local.stop();
    }
  });

  test('a verified JWT is reused for at most jwksCacheMaxAgeSeconds, to the millisecond', async () => {
    const auth = make({ jwksUri: op.jwksUri, jwksCacheMaxAgeSeconds: 1 });
    const clock = freezeClock(Math.floor(Date.now() / 1000) * 1000 + 500);
    const token = await op.getToken({});
    await auth.authenticate(bearer(token));
    const fetches = op.jwksFetchCount;
    clock.advance(999);
    await auth.authenticate(bearer(token));
    expect(op.jwksFetchCount).toBe(fetches);
    // Past the key set's age the token is checked again, against a key set fetched again.
    clock.advance(1);
    expect((await auth.authenticate(bearer(token))).subject).toBe(op.agent.clientId);
    expect(op.jwksFetchCount).toBe(fetches + 1);
  });

  test('a rotated signing key is picked up once the refetch cooldown has passed', async () => {
    const local = await startOidcProvider({});
    try {
      const clock = freezeClock();
      const auth = make({
        issuer: local.issuer,
        resource: local.resource,
        jwksUri: local.jwksUri,
        jwksCooldownSeconds: 2,
      });
      await auth.authenticate(bearer(await local.getToken({})));
      expect(local.jwksFetchCount).toBe(1);
      await local.rotateKeys();
      const rotated = await local.getToken({});
      // Inside the cooldown, to its last millisecond, the unknown kid does not trigger a refetch.
      expect(await codeOf(auth.authenticate(bearer(rotated)))).toBe('ERR_TOKEN_INVALID');
      clock.advance(1999);
      expect(await codeOf(auth.authenticate(bearer(rotated)))).toBe('ERR_TOKEN_INVALID');
      expect(local.jwksFetchCount).toBe(1);
      clock.advance(1);
      expect((await auth.authenticate(bearer(rotated))).subject).toBe(local.agent.clientId);
      expect(local.jwksFetchCount).toBe(2);
    } finally {
      await local.stop();
    }
  });

  test('JWKS down on a cold cache is ERR_AUTH_UNAVAILABLE; a warm cache still verifies', async () => {
    const local = await startOidcProvider({});
    try {
      const clock = freezeClock();
      const token = await local.getToken({});
      const warm = make({ issuer: local.issuer, resource: local.resource, jwksUri: local.jwksUri });
      await warm.authenticate(bearer(token));
      local.setDown({ jwks: true });
      const cold = make({
        issuer: local.issuer,
        resource: local.resource,
        jwksUri: local.jwksUri,
        jwksCooldownSeconds: 1,
      });
      expect(await codeOf(cold.authenticate(bearer(token)))).toBe('ERR_AUTH_UNAVAILABLE');
      const fetches = local.jwksFetchCount;
      expect(await cold.ready()).toBe(false);
      const second = await local.getToken({});
      expect((await warm.authenticate(bearer(second))).subject).toBe(local.agent.clientId);
      local.setDown({ jwks: false });
      // The failure backoff (min(5 s, cooldown)) holds to its last millisecond without another fetch.
      clock.advance(999);
      expect(await codeOf(cold.authenticate(bearer(token)))).toBe('ERR_AUTH_UNAVAILABLE');
      expect(local.jwksFetchCount).toBe(fetches);
      clock.advance(1);
      expect((await cold.authenticate(bearer(token))).subject).toBe(local.agent.clientId);
      expect(local.jwksFetchCount).toBe(fetches + 1);
    } finally {
      await local.stop();
    }
  });

  test('an unreachable issuer (discovery fails) is ERR_AUTH_UNAVAILABLE', async () => {
    const local = await startOidcProvider({});
    const token = await local.getToken({});
    await local.stop();
    const auth = make({ issuer: local.issuer, resource: local.resource, httpTimeoutMs: 1000 });
    expect(await codeOf(auth.authenticate(bearer(token)))).toBe('ERR_AUTH_UNAVAILABLE');
  });
});

describe('opaque tokens through RFC 7662 introspection', () => {
  function introspecting(extra: Partial<OAuthConfig> = {}): OAuthAuthenticator {
    return make({
      resource: op.opaqueResource,
      introspection: { clientId: op.resourceServer.clientId, clientSecret: op.resourceServer.clientSecret },
      ...extra,
    });
  }

  test('an opaque token introspects once and is cached', async () => {
    const auth = introspecting({ ...ZITADEL, roleScopes: { 'ops-admin': ['mcp:docker:admin'] } });
    const token = await op.getToken({ opaque: true, scope: 'mcp:docker:read' });
    const before = op.introspectionCount;
    const principal = await auth.authenticate(bearer(token));
    expect(principal.subject).toBe(op.agent.clientId);
    expect(principal.clientId).toBe(op.agent.clientId);
    expect(principal.scopes.sort()).toEqual(['mcp:docker:admin', 'mcp:docker:read']);
    expect(principal.issuer).toBe(op.issuer);
    await auth.authenticate(bearer(token));
    expect(op.introspectionCount - before).toBe(1);
  });

  test('concurrent requests with one token share a single introspection', async () => {
    const auth = introspecting();
    const token = await op.getToken({ opaque: true, scope: 'mcp:docker:read' });
    const before = op.introspectionCount;
    const principals = await Promise.all(Array.from({ length: 25 }, () => auth.authenticate(bearer(token))));
    expect(new Set(principals.map((p) => p.subject))).toEqual(new Set([op.agent.clientId]));
    expect(op.introspectionCount - before).toBe(1);
  });

  test('introspection results are cached for cacheMaxSeconds, to the millisecond', async () => {
    const auth = introspecting({
      introspection: {
        clientId: op.resourceServer.clientId,
        clientSecret: op.resourceServer.clientSecret,
        cacheMaxSeconds: 1,
      },
    });
    // Half-way through a second: a lifetime rounded to whole seconds would end 500 ms early.
    const clock = freezeClock(Math.floor(Date.now() / 1000) * 1000 + 500);
    const token = await op.getToken({ opaque: true });
    const before = op.introspectionCount;
    await auth.authenticate(bearer(token));
    clock.advance(999);
    await auth.authenticate(bearer(token));
    expect(op.introspectionCount - before).toBe(1);
    clock.advance(1);
    await auth.authenticate(bearer(token));
    expect(op.introspectionCount - before).toBe(2);
  });

  test('an explicit introspection endpoint works without discovery', async () => {
    const auth = introspecting({
      introspection: {
        endpoint: op.introspectionEndpoint,
        clientId: op.resourceServer.clientId,
        clientSecret: op.resourceServer.clientSecret,
      },
    });
    const principal = await auth.authenticate(bearer(await op.getToken({ opaque: true, scope: 'mcp:docker:read' })));
    expect(principal.scopes).toContain('mcp:docker:read');
  });

  test('an unknown (inactive) opaque token is ERR_TOKEN_INVALID', async () => {
    const auth = introspecting();
    expect(await codeOf(auth.authenticate(bearer('q0X4zHq3w9Vb2L7yYp8sK1mNcRtUaE5fGhJd6iOwZ-_')))).toBe(
      'ERR_TOKEN_INVALID',
    );
  });

  test('an opaque token for another resource is ERR_TOKEN_AUDIENCE', async () => {
    const auth = introspecting({ resource: 'https://mcp.ravenhelm.test/elsewhere' });
    expect(await codeOf(auth.authenticate(bearer(await op.getToken({ opaque: true }))))).toBe('ERR_TOKEN_AUDIENCE');
  });

  test('wrong introspection credentials and a down endpoint are ERR_AUTH_UNAVAILABLE', async () => {
    const token = await op.getToken({ opaque: true });
    const wrong = introspecting({ introspection: { clientId: op.resourceServer.clientId, clientSecret: 'nope' } });
    const err = await wrong.authenticate(bearer(token)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe('ERR_AUTH_UNAVAILABLE');
    expect((err as AuthError).message).not.toContain(token);
    expect((err as AuthError).message).not.toContain('nope');
    op.setDown({ introspection: true });
    try {
      expect(await codeOf(introspecting().authenticate(bearer(token)))).toBe('ERR_AUTH_UNAVAILABLE');
    } finally {
      op.setDown({ introspection: false });
    }
  });

  test('without introspection configured an opaque token is ERR_TOKEN_INVALID', async () => {
    const auth = make({ resource: op.opaqueResource });
    expect(await codeOf(auth.authenticate(bearer(await op.getToken({ opaque: true }))))).toBe('ERR_TOKEN_INVALID');
  });
});
