// Every opaque token not seen before costs one RFC 7662 introspection request at the issuer, so made-up
// tokens sent by anyone who can reach the server would become requests at the issuer, one for one, as fast as
// they arrive (verified tokens are cached and concurrent requests with one token share a check, but a flood
// of distinct tokens has neither). The authenticator holds at most introspection.maxConcurrent of them in
// flight per replica and refuses the rest at once, without asking the issuer. Checked against the real
// oidc-provider, behind a loopback relay that holds requests until the test lets them through.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthError, createOAuthAuthenticator, type OAuthAuthenticator } from '@ravenhelm/auth';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { bearer } from '../fixtures/forge.js';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';

let op: RunningOidcProvider;
let relay: Server;
let relayUrl: string;
/** Requests the relay holds: each forwards to the issuer's real introspection endpoint when called. */
const held: (() => Promise<void>)[] = [];
let forwarded = 0;

beforeAll(async () => {
  op = await startOidcProvider();
  const metadata = (await (await fetch(`${op.issuer}/.well-known/openid-configuration`)).json()) as {
    introspection_endpoint: string;
  };
  relay = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      held.push(async () => {
        forwarded++;
        const answer = await fetch(metadata.introspection_endpoint, {
          method: 'POST',
          headers: {
            'content-type': String(req.headers['content-type']),
            authorization: String(req.headers.authorization ?? ''),
            accept: 'application/json',
          },
          body: Buffer.concat(chunks),
        });
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
      });
    });
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/token/introspection`;
});

afterAll(async () => {
  relay?.closeAllConnections();
  await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
  await op?.stop();
});

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!ok()) throw new Error(`timed out waiting for ${what}`);
}

test('new opaque tokens beyond introspection.maxConcurrent are refused at once, without a request to the issuer', async () => {
  const auth: OAuthAuthenticator = createOAuthAuthenticator({
    issuer: op.issuer,
    resource: op.opaqueResource,
    introspection: { ...op.introspectionClient, endpoint: relayUrl, maxConcurrent: 2 },
  });
  try {
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => op.getToken({ opaque: true })));
    const first = [auth.authenticate(bearer(a as string)), auth.authenticate(bearer(b as string))];
    await until('two introspections at the relay', () => held.length === 2);

    const refused = await auth.authenticate(bearer(c as string)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(AuthError);
    expect(refused).toMatchObject({
      code: 'ERR_AUTH_UNAVAILABLE',
      retryable: true,
      retryAfterSeconds: 1,
      reason: 'introspection_busy',
    });
    expect((refused as AuthError).message).toMatch(/too many new opaque tokens .* try again in 1 s/);
    expect(held).toHaveLength(2); // the third token never reached the issuer

    for (const go of held.splice(0)) await go();
    const principals = await Promise.all(first);
    expect(principals.every((p) => p.subject.length > 0)).toBe(true);

    // The slots are free again: the refused token now verifies; verified tokens no longer ask the issuer.
    const retried = auth.authenticate(bearer(c as string));
    await until('the retried introspection at the relay', () => held.length === 1);
    for (const go of held.splice(0)) await go();
    expect((await retried).subject.length).toBeGreaterThan(0);
    const before = forwarded;
    await Promise.all([a, b, c].map((t) => auth.authenticate(bearer(t as string))));
    expect(forwarded).toBe(before);
  } finally {
    await auth.close();
  }
});
