// Introspection with private_key_jwt (RFC 7523 client assertions), the way a Zitadel API application with a
// JWT key calls its introspection endpoint: the key comes as the JSON key file Zitadel lets you download
// (type "application", keyId, key, appId, clientId; zitadel.com/docs "Authentication methods": JWT with
// private key). Checked against the real oidc-provider with a client registered for private_key_jwt and
// its public key: a good key introspects opaque tokens; a key the issuer does not know is refused and
// readiness says so; a bad key file stops the start with a reason that never shows the key.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthError,
  createOAuthAuthenticator,
  type IssuerProblemEvent,
  type OAuthAuthenticator,
  type OAuthConfig,
  OAuthConfigError,
} from '@ravenhelm/auth';
import { loadConfig, oauthAuthenticatorFactory, redactConfig } from '@ravenhelm/kit';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { bearer } from '../fixtures/forge.js';
import { type RunningOidcProvider, startOidcProvider, type ZitadelApplicationKeyFile } from '../fixtures/oidc.js';

let op: RunningOidcProvider;
let keyFile: ZitadelApplicationKeyFile;
let opaque: string;
let dir: string;
const authenticators: OAuthAuthenticator[] = [];

beforeAll(async () => {
  op = await startOidcProvider({ privateKeyJwtClient: true });
  keyFile = op.introspectionKeyFile as ZitadelApplicationKeyFile;
  opaque = await op.getToken({ opaque: true });
  dir = await mkdtemp(join(tmpdir(), 'pkjwt-'));
});

afterAll(async () => {
  for (const a of authenticators) await a.close();
  await op?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function make(introspection: NonNullable<OAuthConfig['introspection']>) {
  const events: IssuerProblemEvent[] = [];
  const auth = createOAuthAuthenticator(
    { issuer: op.issuer, resource: op.opaqueResource, introspection },
    { onIssuerProblem: (e) => events.push(e) },
  );
  authenticators.push(auth);
  return { auth, events };
}

async function writeKeyFile(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content), { mode: 0o600 });
  return path;
}

function otherRsaPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ type: 'pkcs1', format: 'pem' })
    .toString();
}

/** The key body (between the PEM armour lines): what must never show up anywhere. */
function keyBody(pem: string): string {
  return pem.split('\n').slice(1, 3).join('');
}

function configError(introspection: NonNullable<OAuthConfig['introspection']>): OAuthConfigError {
  try {
    make(introspection);
  } catch (err) {
    if (err instanceof OAuthConfigError) return err;
    throw err;
  }
  throw new Error('the configuration was accepted');
}

describe('private_key_jwt introspection against oidc-provider', () => {
  test('a Zitadel key file (path): readiness passes and an opaque token is accepted', async () => {
    const path = await writeKeyFile('good.json', keyFile);
    const { auth } = make({ keyFile: path });
    expect(auth.config.introspection?.authMethod).toBe('private_key_jwt');
    expect(await auth.readiness()).toEqual({ ready: true });
    const principal = await auth.authenticate(bearer(opaque));
    expect(principal.clientId).toBe(op.agent.clientId);
  });

  test('the key file JSON given directly (an env var) works the same, with an explicit matching clientId', async () => {
    const { auth } = make({ authMethod: 'private_key_jwt', clientId: keyFile.clientId, key: JSON.stringify(keyFile) });
    const principal = await auth.authenticate(bearer(opaque));
    expect(principal.clientId).toBe(op.agent.clientId);
  });

  test('the assertion: iss = sub = client id, aud = the issuer, kid = keyId, short-lived, a fresh jti each time', async () => {
    // A loopback relay in front of the provider's endpoint records what the authenticator sends.
    const bodies: URLSearchParams[] = [];
    const relay = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', async () => {
        bodies.push(new URLSearchParams(body));
        const answer = await fetch(op.introspectionEndpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
      });
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `http://127.0.0.1:${(relay.address() as AddressInfo).port}/introspect`;
      const { auth } = make({ endpoint, key: JSON.stringify(keyFile) });
      expect(await auth.readiness()).toEqual({ ready: true });
      await auth.authenticate(bearer(opaque));
      expect(bodies).toHaveLength(2);
      const jtis = new Set<unknown>();
      for (const body of bodies) {
        expect(body.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
        expect(body.get('client_secret')).toBeNull();
        const assertion = body.get('client_assertion') as string;
        expect(decodeProtectedHeader(assertion)).toMatchObject({ alg: 'RS256', kid: keyFile.keyId });
        const claims = decodeJwt(assertion);
        expect(claims).toMatchObject({ iss: keyFile.clientId, sub: keyFile.clientId, aud: op.issuer });
        expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(60);
        jtis.add(claims.jti);
      }
      expect(jtis.size).toBe(2);
    } finally {
      relay.closeAllConnections();
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });

  test('a key the issuer does not know: refused, readiness says so and names the key id, never the key', async () => {
    const wrong = { ...keyFile, key: otherRsaPem() };
    const { auth, events } = make({ key: JSON.stringify(wrong) });
    const readiness = await auth.readiness();
    expect(readiness.ready).toBe(false);
    expect(readiness.reason).toMatch(/refused this server's client credentials \(HTTP 401 "invalid_client"\)/);
    expect(readiness.reason).toContain(`keyId ${keyFile.keyId}`);
    expect(events[0]).toMatchObject({ state: 'failing', reason: 'introspection_client_rejected' });
    let refused: unknown;
    try {
      await auth.authenticate(bearer(opaque));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(AuthError);
    expect((refused as AuthError).code).toBe('ERR_AUTH_UNAVAILABLE');
    const all = JSON.stringify([readiness, events, (refused as AuthError).message]);
    for (const body of [keyBody(wrong.key), keyBody(keyFile.key), opaque]) expect(all).not.toContain(body);
  });
});

describe('the key file is checked at start, with reasons that never show the key', () => {
  test('missing file', () => {
    const err = configError({ keyFile: join(dir, 'absent.json') });
    expect(err.issues[0]).toMatch(/^introspection\.keyFile: cannot read the key file .*absent\.json \(ENOENT\)/);
  });

  test('not JSON: the parser message (which quotes the input) is not passed on', async () => {
    const err = configError({ keyFile: await writeKeyFile('pem.json', keyFile.key) });
    expect(err.issues[0]).toMatch(/is not JSON; download a JSON key for the API application/);
    expect(err.message).not.toContain(keyBody(keyFile.key));
  });

  test('a service account key (wrong type)', async () => {
    const { type: _t, clientId: _c, appId: _a, ...rest } = keyFile;
    const err = configError({
      keyFile: await writeKeyFile('sa.json', { ...rest, type: 'serviceaccount', userId: '1' }),
    });
    expect(err.issues[0]).toMatch(/has type "serviceaccount", not "application" \(a service account key/);
    expect(err.message).not.toContain(keyBody(keyFile.key));
  });

  test('an unparsable key', async () => {
    const broken = { ...keyFile, key: keyFile.key.replace(/[A-Za-z]{8}/, '!!!!!!!!') };
    const err = configError({ key: JSON.stringify(broken) });
    expect(err.issues[0]).toMatch(/^introspection\.key: the "key" in the configured key JSON is not a PEM private key/);
    expect(err.message).not.toContain(keyBody(broken.key));
  });

  test('a key file of another client than the configured clientId', async () => {
    const err = configError({ clientId: 'someone-else', keyFile: await writeKeyFile('c.json', keyFile) });
    expect(err.issues[0]).toMatch(
      /belongs to client mcp-resource-server-jwt, not the configured introspection clientId/,
    );
  });

  test('incomplete or mixed settings name the setting', () => {
    expect(configError({ authMethod: 'private_key_jwt', clientId: 'x' }).issues[0]).toMatch(
      /^introspection\.keyFile: private_key_jwt needs keyFile/,
    );
    expect(configError({ clientId: 'x', clientSecret: 'y', key: '{}' }).issues[0]).toMatch(
      /^introspection\.clientSecret: private_key_jwt signs with the key file/,
    );
    const mixed = { authMethod: 'client_secret_basic' as const, clientId: 'x', clientSecret: 'y', key: '{}' };
    expect(configError(mixed).issues[0]).toMatch(/^introspection\.authMethod:/);
    expect(configError({ clientId: 'x' }).issues[0]).toMatch(/^introspection\.clientSecret: client_secret_basic needs/);
  });
});

describe('the kit passes the key settings through from the environment', () => {
  const backendSchema = z.object({});
  test('RAVENHELM_INTROSPECTION_KEY_FILE: the served authenticator introspects with the key', async () => {
    const config = loadConfig({
      backendSchema,
      env: {
        RAVENHELM_AUTH_ISSUER: op.issuer,
        RAVENHELM_INTROSPECTION_KEY_FILE: await writeKeyFile('kit.json', keyFile),
      },
    });
    const auth = (await oauthAuthenticatorFactory(config)(op.opaqueResource)) as OAuthAuthenticator;
    authenticators.push(auth);
    expect(await auth.readiness()).toEqual({ ready: true });
    expect((await auth.authenticate(bearer(opaque))).clientId).toBe(op.agent.clientId);
  });

  test('RAVENHELM_INTROSPECTION_KEY (the JSON): works, and --print-config redacts it', async () => {
    const config = loadConfig({
      backendSchema,
      env: { RAVENHELM_AUTH_ISSUER: op.issuer, RAVENHELM_INTROSPECTION_KEY: JSON.stringify(keyFile) },
    });
    expect(JSON.stringify(redactConfig(config))).not.toContain(keyBody(keyFile.key));
    const auth = (await oauthAuthenticatorFactory(config)(op.opaqueResource)) as OAuthAuthenticator;
    authenticators.push(auth);
    expect((await auth.authenticate(bearer(opaque))).clientId).toBe(op.agent.clientId);
  });
});
