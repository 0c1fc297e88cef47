// Fifth attack round on what the issuer sends back. oidc-provider (the real one) protects the registered
// introspection members (extra claims cannot turn `active`, `aud`, `iss` or `exp` into something else: checked
// below), but it puts any extra claim into the answer, however large; jose and openid-client read a whole body
// into memory. Every backend read here has a byte cap (DESIGN.md), the issuer's answers included.
import { AuthError, createOAuthAuthenticator, type OAuthAuthenticator } from '@ravenhelm/auth';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  bearer,
  claims,
  type LoopbackJwks,
  outcome,
  type Signer,
  sign,
  signer,
  startJwksServer,
} from '../fixtures/forge.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';

const MIB = 1024 * 1024;
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

function track(a: OAuthAuthenticator): OAuthAuthenticator {
  closers.push(() => a.close());
  return a;
}

/** The AuthError a request ends with: code and reason, or 'accepted'. */
async function result(auth: OAuthAuthenticator, token: string): Promise<string> {
  try {
    await auth.authenticate(bearer(token));
    return 'accepted';
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    return `${err.code} ${err.reason ?? ''}`.trim();
  }
}

describe('introspection answers from oidc-provider with extra claims', () => {
  async function provider(extraClaims: Record<string, unknown>): Promise<RunningOidcProvider> {
    const op = await startOidcProvider({ extraClaims });
    closers.push(() => op.stop());
    return op;
  }
  const authFor = (op: RunningOidcProvider) =>
    track(
      createOAuthAuthenticator({
        issuer: op.issuer,
        resource: op.opaqueResource,
        introspection: op.introspectionClient,
      }),
    );

  test('extra claims named active, aud, iss, exp or token_type change nothing', async () => {
    const op = await provider({
      active: 'true',
      aud: 'https://other.test',
      iss: 'https://evil.test',
      exp: 'never',
      token_type: 'refresh_token',
    });
    expect(await result(authFor(op), await op.getToken({ opaque: true }))).toBe('accepted');
  });

  test('an answer over 1 MiB is refused with the reason; 200 KiB of claims still verifies', async () => {
    const small = await provider({ blob: 'x'.repeat(200 * 1024) });
    expect(await result(authFor(small), await small.getToken({ opaque: true }))).toBe('accepted');
    const huge = await provider({ blob: 'x'.repeat(2 * MIB) });
    expect(await result(authFor(huge), await huge.getToken({ opaque: true }))).toBe(
      'ERR_AUTH_UNAVAILABLE introspection_too_large',
    );
  });
});

describe('a JWKS over 1 MiB', () => {
  let jwks: LoopbackJwks;
  let es: Signer;
  beforeAll(async () => {
    es = await signer('ES256');
    jwks = await startJwksServer([es.jwk]);
    closers.push(() => jwks.close());
  });

  test('is refused with the reason; the same keys with padding under the cap verify', async () => {
    const make = () =>
      track(createOAuthAuthenticator({ issuer: jwks.issuer, resource: 'https://mcp.test/r', jwksUri: jwks.jwksUri }));
    const token = await sign(es, claims(jwks.issuer, 'https://mcp.test/r'));
    jwks.body = JSON.stringify({ keys: [es.jwk], padding: 'x'.repeat(500 * 1024) });
    expect(await outcome(make(), bearer(token))).toBe('accepted');
    jwks.body = JSON.stringify({ keys: [es.jwk], padding: 'x'.repeat(2 * MIB) });
    expect(await result(make(), token)).toBe('ERR_AUTH_UNAVAILABLE jwks_too_large');
  });
});
