// Wrong introspection client credentials must show up in readiness, before any user presents an opaque
// token. RFC 7662 2.2/2.3: an unknown token is 200 {"active": false}, failed client authentication is an
// error response. Checked against the real oidc-provider (lib/actions/introspection.js authenticates the
// client first, lib/shared/client_auth.js answers 401 invalid_client) and, for Zitadel, a loopback endpoint
// answering as Zitadel does: zitadel/zitadel internal/api/oidc/introspect.go returns only client
// authentication errors (oidc.ErrUnauthorizedClient, no description) and turns every token error into
// 200 {"active": false}; zitadel/oidc pkg/op/error.go WriteError sends an oidc.Error without a StatusError
// as HTTP 400 JSON (pkg/oidc/error.go: {"error":"unauthorized_client"}), not 401. Zitadel checks the client
// and the token concurrently and answers the first error: a token it cannot decode fails at once, before the
// client lookup, so a random probe may come back 200 {"active": false} even with wrong credentials. There
// the first real token's refusal is what makes readiness say so.
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

let op: RunningOidcProvider;
let opaque: string;
const authenticators: OAuthAuthenticator[] = [];
const WRONG_SECRET = 'wrong-introspection-secret-9f3c1a';

beforeAll(async () => {
  op = await startOidcProvider();
  opaque = await op.getToken({ opaque: true });
});

afterAll(async () => {
  for (const a of authenticators) await a.close();
  await op?.stop();
});

function make(config: Partial<OAuthConfig>) {
  const events: IssuerProblemEvent[] = [];
  const auth = createOAuthAuthenticator(
    { issuer: op.issuer, resource: op.opaqueResource, ...config },
    { onIssuerProblem: (e) => events.push(e) },
  );
  authenticators.push(auth);
  return { auth, events };
}

function expectNoSecrets(...texts: unknown[]): void {
  const all = JSON.stringify(texts);
  for (const secret of [opaque, WRONG_SECRET, op.introspectionClient.clientSecret, op.agent.clientSecret]) {
    expect(all).not.toContain(secret);
  }
}

async function refusal(auth: OAuthAuthenticator, presented: string): Promise<AuthError> {
  try {
    await auth.authenticate(bearer(presented));
  } catch (err) {
    if (err instanceof AuthError) return err;
    throw err;
  }
  throw new Error('the token was accepted');
}

describe('readiness checks the introspection client credentials (oidc-provider)', () => {
  test('a wrong client secret makes the server not ready before any opaque token is seen', async () => {
    const { auth, events } = make({ introspection: { ...op.introspectionClient, clientSecret: WRONG_SECRET } });
    const before = op.introspectionCount;
    const readiness = await auth.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.reason).toMatch(/misconfigured: the introspection endpoint at .* refused this server's client/);
    expect(readiness.reason).toMatch(/check the introspection client id and secret/);
    expect(events[0]).toMatchObject({
      state: 'failing',
      reason: 'introspection_client_rejected',
      setting: 'introspection.credentials',
    });
    // Polled again and again (a /readyz probe): the refusal is remembered, the issuer is not hammered.
    for (let i = 0; i < 10; i++) expect((await auth.readiness()).ready).toBe(false);
    expect(op.introspectionCount - before).toBe(1);
    expectNoSecrets(readiness, events);
  });

  test('an unknown client id makes the server not ready', async () => {
    const { auth } = make({ introspection: { clientId: 'no-such-client', clientSecret: WRONG_SECRET } });
    const readiness = await auth.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.reason).toMatch(/refused this server's client credentials \(HTTP 401/);
    expectNoSecrets(readiness);
  });

  test('good credentials: ready after one probe, rechecked only after the interval; opaque tokens verify', async () => {
    const { auth } = make({ introspection: op.introspectionClient });
    const before = op.introspectionCount;
    expect(await auth.readiness()).toEqual({ ready: true });
    for (let i = 0; i < 10; i++) expect(await auth.readiness()).toEqual({ ready: true });
    expect(op.introspectionCount - before).toBe(1);
    // Concurrent polls share one probe.
    const { auth: fresh } = make({ introspection: op.introspectionClient });
    const mid = op.introspectionCount;
    const all = await Promise.all(Array.from({ length: 5 }, () => fresh.readiness()));
    expect(all.every((r) => r.ready)).toBe(true);
    expect(op.introspectionCount - mid).toBe(1);
    const principal = await auth.authenticate(bearer(opaque));
    expect(principal.clientId).toBe(op.agent.clientId);
  });

  test('a real token introspected with good credentials counts: readiness asks nothing more', async () => {
    const { auth } = make({ introspection: op.introspectionClient });
    await auth.authenticate(bearer(opaque));
    const before = op.introspectionCount;
    expect(await auth.readiness()).toEqual({ ready: true });
    expect(op.introspectionCount - before).toBe(0);
  });
});

describe('Zitadel refuses introspection clients with 400 unauthorized_client', () => {
  let zitadel: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    zitadel = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => {
        body += chunk;
      });
      req.on('end', () => {
        // Every credential is wrong here. A token it issued gets past the token check, so the client error
        // is the answer; any other token fails decoding first and is merely inactive.
        const token = new URLSearchParams(body).get('token');
        if (token === opaque) {
          res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"unauthorized_client"}');
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"active":false}');
        }
      });
    });
  });
  afterAll(async () => {
    await zitadel?.close();
  });

  function zitadelAuth() {
    return make({
      introspection: {
        ...op.introspectionClient,
        clientSecret: WRONG_SECRET,
        endpoint: `${zitadel.url}/oauth/v2/introspect`,
      },
    });
  }

  test('an opaque token: the caller and the operator are told the credentials are wrong, not the URL', async () => {
    const { auth, events } = zitadelAuth();
    const err = await refusal(auth, opaque);
    expect(err).toMatchObject({
      code: 'ERR_AUTH_UNAVAILABLE',
      retryable: false,
      reason: 'introspection_client_rejected',
    });
    expect(events[0]).toMatchObject({
      kind: 'misconfigured',
      reason: 'introspection_client_rejected',
      setting: 'introspection.credentials',
    });
    if (events[0]?.state === 'failing') expect(events[0].detail).toContain('HTTP 400 "unauthorized_client"');
    expectNoSecrets(err.message, events);
  });

  test('the probe cannot tell, but the first real refusal makes readiness say so', async () => {
    const { auth } = zitadelAuth();
    expect(await auth.readiness()).toEqual({ ready: true });
    await refusal(auth, opaque);
    const readiness = await auth.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.reason).toMatch(/refused this server's client credentials/);
    expectNoSecrets(readiness);
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
