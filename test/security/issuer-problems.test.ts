// A wrong issuer setting must not look like an outage. Real oidc-provider tokens against an authenticator
// whose issuer is misconfigured (RFC 8414 3.3 / OpenID Connect Discovery 4.3: the discovery document's
// issuer must be identical to the one it was fetched for), pointed at the wrong URL, or facing an issuer
// that is down: the caller's error says whether retrying can help, the operator hook says what is wrong and
// what to set (once per reason, then at most every interval), readiness says not ready and why, and no
// token or secret appears anywhere.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AuthError,
  createOAuthAuthenticator,
  type IssuerProblemEvent,
  type OAuthAuthenticator,
  type OAuthConfig,
} from '@ravenhelm/auth';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { bearer } from '../fixtures/forge.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let op: RunningOidcProvider;
let token: string;
let opaque: string;
const authenticators: OAuthAuthenticator[] = [];

beforeAll(async () => {
  op = await startOidcProvider();
  token = await op.getToken({ resource: op.resource });
  opaque = await op.getToken({ opaque: true });
});

afterAll(async () => {
  for (const a of authenticators) await a.close();
  await op?.stop();
});

function make(config: Partial<OAuthConfig>, repeatAfterMs = 60_000) {
  const events: IssuerProblemEvent[] = [];
  const auth = createOAuthAuthenticator(
    { issuer: op.issuer, resource: op.resource, ...config },
    { onIssuerProblem: (e) => events.push(e), repeatAfterMs },
  );
  authenticators.push(auth);
  return { auth, events };
}

async function refusal(auth: OAuthAuthenticator, presented = token): Promise<AuthError> {
  try {
    await auth.authenticate(bearer(presented));
  } catch (err) {
    if (err instanceof AuthError) return err;
    throw err;
  }
  throw new Error('the token was accepted');
}

/** Nothing the operator or the caller sees may carry a token or the introspection secret. */
function expectNoSecrets(...texts: unknown[]): void {
  const all = JSON.stringify(texts);
  for (const secret of [token, opaque, op.introspectionClient.clientSecret, op.agent.clientSecret]) {
    expect(all).not.toContain(secret);
  }
}

describe('a misconfigured issuer is told apart from an outage', () => {
  test('issuer spelled differently from the discovery document: not retryable, logged once, not ready', async () => {
    const configured = op.issuer.replace('127.0.0.1', 'localhost');
    const { auth, events } = make({ issuer: configured });
    const errors: AuthError[] = [];
    for (let i = 0; i < 25; i++) errors.push(await refusal(auth));
    for (const err of errors) {
      expect(err.code).toBe('ERR_AUTH_UNAVAILABLE');
      expect(err.retryable).toBe(false);
      expect(err.retryAfterSeconds).toBeUndefined();
      expect(err.reason).toBe('issuer_mismatch');
      expect(err.message).not.toMatch(/try again/);
      expect(err.message).toMatch(/retrying will not help/);
    }
    // One report for 25 refusals, naming both values and what to set.
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event).toMatchObject({
      state: 'failing',
      kind: 'misconfigured',
      reason: 'issuer_mismatch',
      setting: 'issuer',
    });
    if (event?.state !== 'failing') throw new Error('expected a failing event');
    expect(event.detail).toContain(JSON.stringify(op.issuer));
    expect(event.detail).toContain(JSON.stringify(configured));
    expect(event.action).toContain(`set the issuer to exactly ${JSON.stringify(op.issuer)}`);
    const readiness = await auth.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.reason).toMatch(/misconfigured: the discovery document at .* names issuer/);
    expect(await auth.ready()).toBe(false);
    expectNoSecrets(
      errors.map((e) => e.message),
      events,
      readiness,
    );
  });

  test('a trailing slash openid-client would forgive is a mismatch too (every token iss would fail)', async () => {
    const { auth } = make({ issuer: `${op.issuer}/` });
    const err = await refusal(auth);
    expect(err).toMatchObject({ code: 'ERR_AUTH_UNAVAILABLE', retryable: false, reason: 'issuer_mismatch' });
  });

  test('the problem is reported again after the interval, with the count of refusals in between', async () => {
    const { auth, events } = make({ issuer: op.issuer.replace('127.0.0.1', 'localhost') }, 400);
    for (let i = 0; i < 5; i++) await refusal(auth);
    expect(events).toHaveLength(1);
    await sleep(450);
    await refusal(auth);
    expect(events).toHaveLength(2);
    expect(events[1]).toMatchObject({ state: 'failing', reason: 'issuer_mismatch', suppressed: 4 });
  });

  test('a discovery URL that answers 404 (wrong issuer path) is a misconfiguration', async () => {
    const { auth, events } = make({ issuer: `${op.issuer}/wrong-tenant` });
    const err = await refusal(auth);
    expect(err).toMatchObject({ code: 'ERR_AUTH_UNAVAILABLE', retryable: false, reason: 'discovery_http_404' });
    expect(events[0]).toMatchObject({ kind: 'misconfigured', reason: 'discovery_http_404' });
  });

  test('a discovery URL that is not JSON metadata (a web page) is a misconfiguration', async () => {
    const html = await serve((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'),
    );
    try {
      const { auth } = make({ issuer: html.url });
      expect(await refusal(auth)).toMatchObject({ retryable: false, reason: 'discovery_invalid' });
    } finally {
      await html.close();
    }
  });

  test('an issuer nobody listens on is an outage: retryable, Retry-After, a warning not an error', async () => {
    const closed = await serve(() => undefined);
    await closed.close();
    const { auth, events } = make({ issuer: closed.url });
    const err = await refusal(auth);
    expect(err).toMatchObject({
      code: 'ERR_AUTH_UNAVAILABLE',
      retryable: true,
      retryAfterSeconds: 5,
      reason: 'discovery_unreachable',
    });
    expect(err.message).toMatch(/try again in 5 s/);
    expect(events[0]).toMatchObject({ kind: 'unreachable', reason: 'discovery_unreachable' });
    if (events[0]?.state === 'failing') expect(events[0].detail).toContain('ECONNREFUSED');
  });

  test('JWKS answering 503: retryable while down, ready again and one recovery report once it is back', async () => {
    const { auth, events } = make({ jwksCooldownSeconds: 1 });
    op.setDown({ jwks: true });
    try {
      for (let i = 0; i < 10; i++) {
        expect(await refusal(auth)).toMatchObject({ retryable: true, retryAfterSeconds: 5, reason: 'jwks_http_503' });
      }
      expect(events).toEqual([
        expect.objectContaining({ state: 'failing', kind: 'unreachable', reason: 'jwks_http_503' }),
      ]);
      const readiness = await auth.readiness();
      expect(readiness).toMatchObject({ ready: false });
      expect(readiness.reason).toMatch(/unreachable: the JWKS at .* answered HTTP 503/);
    } finally {
      op.setDown({ jwks: false });
    }
    await sleep(1100); // the back-off after a failed fetch
    await auth.authenticate(bearer(token));
    expect(events.at(-1)).toEqual({ state: 'recovered', reason: 'jwks_http_503' });
    expect(await auth.readiness()).toEqual({ ready: true });
    expectNoSecrets(events);
  });

  test('introspection credentials the issuer refuses are a misconfiguration; the secret is never shown', async () => {
    const { auth, events } = make({
      resource: op.opaqueResource,
      introspection: { ...op.introspectionClient, clientSecret: 'wrong-secret-value-123456' },
    });
    const err = await refusal(auth, opaque);
    expect(err).toMatchObject({ retryable: false, reason: 'introspection_client_rejected' });
    expect(events[0]).toMatchObject({ kind: 'misconfigured', setting: 'introspection.credentials' });
    expectNoSecrets(err.message, events);
    expect(JSON.stringify([err.message, events])).not.toContain('wrong-secret-value-123456');
  });
});

describe('introspection timeout', () => {
  test('httpTimeoutMs 700 waits 700 ms, not a whole second', async () => {
    const hang = await serve(() => undefined); // accepts, never answers
    try {
      const { auth, events } = make({
        resource: op.opaqueResource,
        httpTimeoutMs: 700,
        introspection: { ...op.introspectionClient, endpoint: `${hang.url}/introspect` },
      });
      const started = performance.now();
      const err = await refusal(auth, opaque);
      const waited = performance.now() - started;
      expect(err).toMatchObject({ code: 'ERR_AUTH_UNAVAILABLE', retryable: true, reason: 'introspection_timeout' });
      expect(waited).toBeGreaterThanOrEqual(650);
      expect(waited).toBeLessThan(950);
      expect(events[0]).toMatchObject({ kind: 'unreachable', setting: 'introspection.endpoint' });
    } finally {
      await hang.close();
    }
  });
});

async function serve(
  handler: Parameters<typeof createServer>[1] & {},
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
