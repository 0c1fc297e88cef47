// Fifth attack round on bearer tokens, from outside: JOSE header and JSON tricks signed with keys we control,
// served from a loopback JWKS (test/fixtures/forge.ts), through the real authenticator. Most of these are
// held by jose or by our header checks and stay here as regression tests; one was a defect (duplicate kid).
import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import { AuthError, createOAuthAuthenticator, type OAuthAuthenticator } from '@ravenhelm/auth';
import { exportJWK } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  claims as baseClaims,
  bearer,
  type LoopbackJwks,
  now,
  outcome,
  type Signer,
  sign,
  signer,
  startJwksServer,
} from '../fixtures/forge.js';

const RESOURCE = 'https://mcp.ravenhelm.test/docker';
let jwks: LoopbackJwks;
let es: Signer;
let es2: Signer;
let rs: Signer;
const authenticators: OAuthAuthenticator[] = [];

function make(extra: { clockToleranceSeconds?: number } = {}): OAuthAuthenticator {
  const a = createOAuthAuthenticator({ issuer: jwks.issuer, resource: RESOURCE, jwksUri: jwks.jwksUri, ...extra });
  authenticators.push(a);
  return a;
}

const claims = (extra: Record<string, unknown> = {}) => baseClaims(jwks.issuer, RESOURCE, extra);

/** ES256 over the exact header and payload text given (duplicate members, odd spacing, anything). */
async function signRaw(key: Signer, headerJson: string, payloadJson: string, encodePayload = true): Promise<string> {
  const privateKey = createPrivateKey({ key: (await exportJWK(key.privateKey)) as never, format: 'jwk' });
  const b64 = (text: string) => Buffer.from(text).toString('base64url');
  const input = `${b64(headerJson)}.${encodePayload ? b64(payloadJson) : payloadJson}`;
  const sig = cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

/** The refusal message, or 'accepted'. */
async function message(auth: OAuthAuthenticator, token: string): Promise<string> {
  try {
    await auth.authenticate(bearer(token));
    return 'accepted';
  } catch (err) {
    if (err instanceof AuthError) return `${err.code}: ${err.message}`;
    throw err;
  }
}

beforeAll(async () => {
  [es, es2, rs] = await Promise.all([signer('ES256'), signer('ES256'), signer('RS256')]);
  jwks = await startJwksServer([es.jwk]);
});

afterAll(async () => {
  for (const a of authenticators) await a.close();
  await jwks?.close();
});

describe('JSON and header tricks', () => {
  test('duplicate members: the last one counts for every check, as JSON.parse and jose read it', async () => {
    const header = `{"alg":"ES256","kid":"${es.kid}","typ":"at+jwt"}`;
    const body = JSON.stringify(claims()).slice(1, -1);
    // aud twice: someone else's resource last is refused, ours last is accepted; never a mix of the two.
    expect(await outcome(make(), bearer(await signRaw(es, header, `{${body},"aud":"https://other.test"}`)))).toBe(
      'ERR_TOKEN_AUDIENCE',
    );
    expect(await outcome(make(), bearer(await signRaw(es, header, `{"aud":"https://other.test",${body}}`)))).toBe(
      'accepted',
    );
    // A header whose last alg is "none", or whose last typ is an ID token's, is refused.
    const twoAlgs = `{"alg":"ES256","kid":"${es.kid}","typ":"at+jwt","alg":"none"}`;
    expect(await outcome(make(), bearer(await signRaw(es, twoAlgs, JSON.stringify(claims()))))).toBe(
      'ERR_TOKEN_INVALID',
    );
    const twoTyps = `{"alg":"ES256","kid":"${es.kid}","typ":"at+jwt","typ":"id+jwt"}`;
    expect(await outcome(make(), bearer(await signRaw(es, twoTyps, JSON.stringify(claims()))))).toBe(
      'ERR_TOKEN_INVALID',
    );
    // "__proto__" is an own member after JSON.parse: it grants nothing.
    const proto = JSON.stringify(claims({ scope: undefined })).replace(
      /}$/,
      ',"__proto__":{"scope":"mcp:docker:admin"}}',
    );
    const principal = await make().authenticate(bearer(await signRaw(es, header, proto)));
    expect(principal.scopes).toEqual([]);
  });

  test('b64:false (RFC 7797), even when declared critical, and a nested JWT (cty JWT) are refused', async () => {
    const unencoded = `{"alg":"ES256","kid":"${es.kid}","typ":"at+jwt","b64":false,"crit":["b64"]}`;
    // The unencoded JSON is not even token68 (RFC 6750 b64token): refused before any JOSE processing.
    expect(await outcome(make(), bearer(await signRaw(es, unencoded, JSON.stringify(claims()), false)))).toBe(
      'ERR_TOKEN_MALFORMED_REQUEST',
    );
    // Unencoded but token68-clean ("e30" is no JSON object either way): jose refuses b64:false for JWTs.
    expect(await outcome(make(), bearer(await signRaw(es, unencoded, 'e30', false)))).toBe('ERR_TOKEN_INVALID');
    const inner = await sign(es, claims());
    const nested = `{"alg":"ES256","kid":"${es.kid}","typ":"at+jwt","cty":"JWT"}`;
    expect(await outcome(make(), bearer(await signRaw(es, nested, inner)))).toBe('ERR_TOKEN_INVALID');
  });

  test('alg spelled in another case is not the allowed algorithm', async () => {
    for (const alg of ['es256', 'Es256', 'ES256 ', 'NONE']) {
      const header = JSON.stringify({ alg, kid: es.kid, typ: 'at+jwt' });
      expect(await outcome(make(), bearer(await signRaw(es, header, JSON.stringify(claims()))))).toBe(
        'ERR_TOKEN_INVALID',
      );
    }
  });

  test('a kid that is a path or a URL only names a key: no fetch of it, one refetch at most', async () => {
    const auth = make();
    expect(await outcome(auth, bearer(await sign(es, claims())))).toBe('accepted');
    const before = jwks.fetches;
    for (const kid of ['../../../etc/passwd', 'http://127.0.0.1:1/jwks', `${es.kid}/../x`, `${es.kid}\u0000`]) {
      expect(await outcome(auth, bearer(await sign(es, claims(), { kid })))).toBe('ERR_TOKEN_INVALID');
    }
    expect(jwks.fetches - before).toBeLessThanOrEqual(1);
  });
});

describe('JWKS with duplicate kids', () => {
  test('the same kid on keys of different types: the token alg picks the key', async () => {
    await jwks.withKeys([{ ...rs.jwk, kid: es.kid }, es.jwk], async () => {
      expect(await outcome(make(), bearer(await sign(es, claims())))).toBe('accepted');
    });
  });

  test('the same kid on two keys of one type is refused, and the reason names the duplicate kid', async () => {
    await jwks.withKeys([es.jwk, { ...es2.jwk, kid: es.kid }], async () => {
      expect(await message(make(), await sign(es, claims()))).toBe(
        'ERR_TOKEN_INVALID: the issuer publishes several keys with this token\'s "kid"; it cannot tell which one signed it',
      );
    });
  });
});

describe('clock edges (jose: expired when exp <= now - tolerance; not yet valid when nbf > now + tolerance)', () => {
  test('exactly at exp is expired; exactly at nbf is valid; tolerance moves both by its seconds', async () => {
    const t = now();
    // A second may tick between minting and checking: exp = t is expired either way; nbf = t is valid either way.
    expect(await outcome(make({ clockToleranceSeconds: 0 }), bearer(await sign(es, claims({ exp: t }))))).toBe(
      'ERR_TOKEN_EXPIRED',
    );
    expect(await outcome(make({ clockToleranceSeconds: 0 }), bearer(await sign(es, claims({ nbf: t }))))).toBe(
      'accepted',
    );
    expect(await outcome(make({ clockToleranceSeconds: 0 }), bearer(await sign(es, claims({ nbf: t + 5 }))))).toBe(
      'ERR_TOKEN_INVALID',
    );
    expect(await outcome(make({ clockToleranceSeconds: 30 }), bearer(await sign(es, claims({ nbf: t + 5 }))))).toBe(
      'accepted',
    );
    expect(await outcome(make({ clockToleranceSeconds: 30 }), bearer(await sign(es, claims({ exp: t - 40 }))))).toBe(
      'ERR_TOKEN_EXPIRED',
    );
  });
});
