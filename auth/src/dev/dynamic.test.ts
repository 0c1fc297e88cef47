// Dynamic client registration (RFC 7591) and refresh-token rotation on the dev issuer, over real loopback HTTP.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { createOAuthAuthenticator } from '../oauth/authenticator.js';
import { MAX_DYNAMIC_CLIENTS, redirectUriMatches } from './dynamic.js';
import { DevIssuer, type DevListenOptions } from './issuer.js';

const RESOURCE = 'https://localhost:8701/mcp';
const OTHER_RESOURCE = 'https://localhost:8702/mcp';
const SCOPES = ['mcp:docker:read', 'mcp:docker:write'];
const DYNAMIC = { resources: [RESOURCE, OTHER_RESOURCE], scopes: SCOPES, accessTokenTtlSeconds: 120 };
const CALLBACK = 'http://127.0.0.1:43111/callback';
const verifier = `${'q'.repeat(20)}Abc-._~0123456789xyzXYZ`;
const challenge = createHash('sha256').update(verifier).digest('base64url');

let dir: string;
let issuer: DevIssuer;
let base: string;

async function start(stateDir: string, opts: DevListenOptions = { dynamicClients: DYNAMIC }) {
  const i = await DevIssuer.open({ stateDir: join(dir, stateDir) });
  return { issuer: i, base: (await i.listen({ port: 0, ...opts })).issuer };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ravenhelm-dyn-'));
  ({ issuer, base } = await start('main'));
});

afterAll(async () => {
  await issuer.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
});

const register = (body: unknown, at = base, type = 'application/json') =>
  fetch(`${at}/register`, {
    method: 'POST',
    headers: { 'content-type': type },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const publicClient = (over: Record<string, unknown> = {}) => ({
  client_name: 'Test MCP client',
  redirect_uris: [CALLBACK],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
  ...over,
});

async function registered(over: Record<string, unknown> = {}, at = base): Promise<string> {
  const res = await register(publicClient(over), at);
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

const authorizeUrl = (clientId: string, over: Record<string, string | undefined> = {}, at = base) => {
  const q = new URLSearchParams();
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CALLBACK,
    scope: 'mcp:docker:read',
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: RESOURCE,
    ...over,
  };
  for (const [k, v] of Object.entries(all)) if (v !== undefined) q.set(k, v);
  return `${at}/authorize?${q}`;
};

/** The login page read and posted as a person would: the URL the browser is sent back to. */
async function signIn(clientId: string, over: Record<string, string | undefined> = {}, at = base): Promise<URL> {
  const page = await fetch(authorizeUrl(clientId, over, at), { redirect: 'manual' });
  expect(page.status).toBe(200);
  const html = await page.text();
  const id = /name="login" value="([\w-]+)"/.exec(html)?.[1] as string;
  // As a browser posts it: the scopes ticked when the page opened.
  const ticked = [...html.matchAll(/<input type="checkbox" name="scope" value="([^"]+)"[^>]* checked>/g)];
  const body = new URLSearchParams({ login: id, user: 'ops-alice', action: 'allow' });
  for (const m of ticked) body.append('scope', m[1] as string);
  const posted = await fetch(`${at}/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  expect(posted.status).toBe(303);
  return new URL(posted.headers.get('location') as string);
}

const tokenRequest = (params: Record<string, string>, at = base) =>
  fetch(`${at}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });

interface Tokens {
  access_token: string;
  refresh_token?: string;
  scope: string;
  expires_in: number;
}

async function loginTokens(clientId: string, over: Record<string, string | undefined> = {}, at = base) {
  const back = await signIn(clientId, over, at);
  const res = await tokenRequest(
    {
      grant_type: 'authorization_code',
      client_id: clientId,
      code: back.searchParams.get('code') as string,
      redirect_uri: over.redirect_uri ?? CALLBACK,
      code_verifier: verifier,
      resource: over.resource ?? RESOURCE,
    },
    at,
  );
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

const refresh = (clientId: string, token: string, extra: Record<string, string> = {}, at = base) =>
  tokenRequest({ grant_type: 'refresh_token', client_id: clientId, refresh_token: token, ...extra }, at);

describe('registration (RFC 7591)', () => {
  test('a page served from this machine may register from the browser (CORS); a page from elsewhere may not', async () => {
    const inspector = 'http://localhost:6274';
    const pre = await fetch(`${base}/register`, {
      method: 'OPTIONS',
      headers: {
        origin: inspector,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(inspector);
    expect(pre.headers.get('access-control-allow-headers')).toContain('content-type');
    const made = await fetch(`${base}/register`, {
      method: 'POST',
      headers: { origin: inspector, 'content-type': 'application/json' },
      body: JSON.stringify(publicClient()),
    });
    expect(made.status).toBe(201);
    expect(made.headers.get('access-control-allow-origin')).toBe(inspector);
    for (const origin of ['https://evil.example', 'http://localhost.evil.example:6274', 'null']) {
      const foreign = await fetch(`${base}/register`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST' },
      });
      expect(foreign.headers.get('access-control-allow-origin'), origin).toBeNull();
    }
  });

  test('the metadata advertises the registration endpoint and refresh tokens only when enabled', async () => {
    const meta = (await (await fetch(`${base}/.well-known/oauth-authorization-server`)).json()) as Record<
      string,
      unknown
    >;
    expect(meta).toMatchObject({
      registration_endpoint: `${base}/register`,
      grant_types_supported: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_methods_supported: ['none'],
      code_challenge_methods_supported: ['S256'],
    });
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(SCOPES));
    const off = await start('off', {});
    try {
      const plain = (await (await fetch(`${off.base}/.well-known/oauth-authorization-server`)).json()) as Record<
        string,
        unknown
      >;
      expect(plain.registration_endpoint).toBeUndefined();
      expect((await register(publicClient(), off.base)).status).toBe(405); // no such endpoint: only GET documents
      expect(await (await refresh('x', 'y', {}, off.base)).json()).toMatchObject({ error: 'unsupported_grant_type' });
    } finally {
      await off.issuer.close();
    }
  });

  test('a public client with loopback or https redirect URIs is registered and kept in a private file', async () => {
    const res = await register(
      publicClient({
        redirect_uris: [CALLBACK, 'http://localhost/cb', 'http://[::1]:9/cb', 'https://app.example/oauth/cb'],
        scope: 'mcp:docker:read',
        software_id: 'ignored',
      }),
    );
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      client_id: expect.stringMatching(/^dyn-[\w-]{16}$/),
      client_id_issued_at: expect.any(Number),
      client_name: 'Test MCP client',
      redirect_uris: [CALLBACK, 'http://localhost/cb', 'http://[::1]:9/cb', 'https://app.example/oauth/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'mcp:docker:read',
    });
    expect(Math.abs((body.client_id_issued_at as number) - Date.now() / 1000)).toBeLessThan(60);
    const file = join(dir, 'main', 'dynamic-clients.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toContain(body.client_id as string);
    // Omitted fields take this issuer's defaults: a public client, code flow, no refresh tokens (RFC 7591 2).
    const minimal = (await (await register({ redirect_uris: [CALLBACK] })).json()) as Record<string, unknown>;
    expect(minimal).toMatchObject({ token_endpoint_auth_method: 'none', grant_types: ['authorization_code'] });
  });

  test.each([
    ['no redirect URI', { redirect_uris: undefined }, 'invalid_redirect_uri'],
    ['an empty list', { redirect_uris: [] }, 'invalid_redirect_uri'],
    ['http off loopback', { redirect_uris: ['http://example.com/cb'] }, 'invalid_redirect_uri'],
    ['http on a LAN address', { redirect_uris: ['http://192.168.1.5:8080/cb'] }, 'invalid_redirect_uri'],
    ['a fragment', { redirect_uris: ['http://127.0.0.1:3000/cb#x'] }, 'invalid_redirect_uri'],
    ['an empty fragment', { redirect_uris: ['https://app.example/cb#'] }, 'invalid_redirect_uri'],
    ['a custom scheme', { redirect_uris: ['com.example.app:/cb'] }, 'invalid_redirect_uri'],
    ['javascript:', { redirect_uris: ['javascript:alert(1)'] }, 'invalid_redirect_uri'],
    ['not a URL', { redirect_uris: ['/callback'] }, 'invalid_redirect_uri'],
    ['user info', { redirect_uris: ['https://a:b@app.example/cb'] }, 'invalid_redirect_uri'],
    ['a non-string', { redirect_uris: [42] }, 'invalid_client_metadata'],
    ['client_secret_basic', { token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
    ['client_secret_post', { token_endpoint_auth_method: 'client_secret_post' }, 'invalid_client_metadata'],
    ['private_key_jwt', { token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata'],
    ['client_credentials', { grant_types: ['client_credentials'] }, 'invalid_client_metadata'],
    ['implicit', { grant_types: ['authorization_code', 'implicit'] }, 'invalid_client_metadata'],
    ['response type token', { response_types: ['token'] }, 'invalid_client_metadata'],
    ['a scope not offered', { scope: 'mcp:docker:read mcp:gitlab:admin' }, 'invalid_client_metadata'],
    ['a long name', { client_name: 'n'.repeat(201) }, 'invalid_client_metadata'],
  ])('refuses %s', async (_label, over, error) => {
    const res = await register(publicClient(over));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe(error);
    expect(body.error_description.length).toBeGreaterThan(10);
  });

  test('refuses bodies that are not a JSON object, and oversize bodies', async () => {
    for (const [body, type] of [
      ['redirect_uris=x', 'application/x-www-form-urlencoded'],
      ['{not json', 'application/json'],
      ['[]', 'application/json'],
    ]) {
      const res = await register(body as string, base, type);
      expect(res.status, body).toBe(400);
      expect(await res.json()).toMatchObject({ error: 'invalid_client_metadata' });
    }
    const big = await register(publicClient({ client_uri: `https://app.example/${'x'.repeat(9000)}` }));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ error: 'invalid_client_metadata' });
    expect((await fetch(`${base}/register`)).status).toBe(405);
  });

  test(`keeps at most ${MAX_DYNAMIC_CLIENTS} clients: the oldest is forgotten`, async () => {
    const bounded = await start('bounded');
    try {
      const first = await registered({}, bounded.base);
      const second = await registered({}, bounded.base);
      for (let i = 2; i < MAX_DYNAMIC_CLIENTS; i++) await registered({}, bounded.base);
      expect((await fetch(authorizeUrl(first, {}, bounded.base))).status).toBe(200);
      await registered({}, bounded.base);
      const gone = await fetch(authorizeUrl(first, {}, bounded.base), { redirect: 'manual' });
      expect(gone.status).toBe(400);
      expect(await gone.text()).toContain('Unknown client');
      expect((await fetch(authorizeUrl(second, {}, bounded.base))).status).toBe(200);
      const saved = JSON.parse(await readFile(join(dir, 'bounded', 'dynamic-clients.json'), 'utf8'));
      expect(saved.clients).toHaveLength(MAX_DYNAMIC_CLIENTS);
    } finally {
      await bounded.issuer.close();
    }
  }, 60_000);
});

describe('redirect URIs at /authorize', () => {
  test('redirectUriMatches: exact, or loopback http on another port; nothing else', () => {
    const reg = ['http://127.0.0.1:1111/callback', 'http://localhost/cb?x=1', 'https://app.example/cb'];
    expect(redirectUriMatches(reg, 'http://127.0.0.1:1111/callback')).toBe(true);
    expect(redirectUriMatches(reg, 'http://127.0.0.1:2222/callback')).toBe(true);
    expect(redirectUriMatches(reg, 'http://127.0.0.1/callback')).toBe(true);
    expect(redirectUriMatches(reg, 'http://localhost:5000/cb?x=1')).toBe(true);
    expect(redirectUriMatches(reg, 'http://localhost:2222/callback')).toBe(false); // another host
    expect(redirectUriMatches(reg, 'http://127.0.0.1:2222/callback/')).toBe(false);
    expect(redirectUriMatches(reg, 'http://127.0.0.1:2222/callback?next=x')).toBe(false);
    expect(redirectUriMatches(reg, 'http://127.0.0.1:2222/callback#x')).toBe(false);
    expect(redirectUriMatches(reg, 'http://u@127.0.0.1:2222/callback')).toBe(false);
    expect(redirectUriMatches(reg, 'https://127.0.0.1:1111/callback')).toBe(false);
    expect(redirectUriMatches(reg, 'https://app.example:8443/cb')).toBe(false); // https: exact only
    expect(redirectUriMatches(reg, 'http://app.example/cb')).toBe(false);
    expect(redirectUriMatches(reg, 'not a url')).toBe(false);
  });

  test('a loopback client may come back on another port; other URIs get an error page, never a redirect', async () => {
    const id = await registered();
    const otherPort = 'http://127.0.0.1:52000/callback';
    const back = await signIn(id, { redirect_uri: otherPort });
    expect(`${back.origin}${back.pathname}`).toBe(otherPort);
    // The token request names the URI the authorization request used, port included.
    const code = back.searchParams.get('code') as string;
    const wrong = await tokenRequest({
      grant_type: 'authorization_code',
      client_id: id,
      code,
      redirect_uri: CALLBACK,
      code_verifier: verifier,
    });
    expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });
    for (const uri of [
      'http://127.0.0.1:52000/other',
      'http://localhost:43111/callback',
      'https://evil.example/callback',
      `${CALLBACK}?next=https://evil.example`,
    ]) {
      const res = await fetch(authorizeUrl(id, { redirect_uri: uri }), { redirect: 'manual' });
      expect(res.status, uri).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });

  test('a registered client may ask only for the resources and scopes the issuer offers', async () => {
    const id = await registered();
    for (const [over, error] of [
      [{ resource: 'https://localhost:9999/mcp' }, 'invalid_target'],
      [{ scope: 'mcp:gitlab:admin' }, 'invalid_scope'],
    ] as const) {
      const res = await fetch(authorizeUrl(id, over), { redirect: 'manual' });
      expect(res.status).toBe(303);
      expect(new URL(res.headers.get('location') as string).searchParams.get('error')).toBe(error);
    }
  });
});

describe('tokens and refresh tokens', () => {
  test('the code grant answers an access token for the person and client, and a refresh token', async () => {
    const id = await registered();
    const page = await (await fetch(authorizeUrl(id))).text();
    expect(page).toContain('Test MCP client');
    expect(page).toContain(id);
    const tokens = await loginTokens(id, { scope: 'mcp:docker:read offline_access' });
    expect(tokens).toMatchObject({ scope: 'mcp:docker:read', expires_in: 120 });
    expect(tokens.refresh_token).toMatch(/^[\w-]{43}$/);
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ sub: 'ops-alice', client_id: id, aud: RESOURCE, scope: 'mcp:docker:read' });
    expect((claims.exp as number) - (claims.iat as number)).toBe(120);
    const auth = createOAuthAuthenticator({ issuer: base, resource: RESOURCE });
    expect((await auth.authenticate({ headers: { authorization: `Bearer ${tokens.access_token}` } })).clientId).toBe(
      id,
    );
    await auth.close();
    // A client that did not register the refresh_token grant gets none.
    const plain = await registered({ grant_types: ['authorization_code'] });
    expect((await loginTokens(plain)).refresh_token).toBeUndefined();
  });

  test('refresh rotates the token: single use, same grant or narrower, never wider or elsewhere', async () => {
    const id = await registered();
    const first = await loginTokens(id, { scope: 'mcp:docker:read mcp:docker:write' });
    const r1 = first.refresh_token as string;

    for (const [extra, error] of [
      [{ scope: 'mcp:docker:read mcp:docker:admin' }, 'invalid_scope'],
      [{ resource: OTHER_RESOURCE }, 'invalid_target'],
    ] as const) {
      const res = await refresh(id, r1, extra);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error });
    }
    const stranger = await registered();
    const wrongClient = await refresh(stranger, r1);
    const text = await wrongClient.text();
    expect(JSON.parse(text).error).toBe('invalid_grant');
    expect(text).not.toContain(r1);

    // Refused requests did not spend it: it rotates now, narrowed to read.
    const res = await refresh(id, r1, { scope: 'mcp:docker:read', resource: RESOURCE });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const second = (await res.json()) as Tokens;
    expect(second.scope).toBe('mcp:docker:read');
    expect(second.refresh_token).toMatch(/^[\w-]{43}$/);
    expect(second.refresh_token).not.toBe(r1);
    expect(decodeJwt(second.access_token)).toMatchObject({ sub: 'ops-alice', client_id: id, aud: RESOURCE });
    // The refresh token keeps the original grant: the next refresh may have write again.
    const third = (await (await refresh(id, second.refresh_token as string)).json()) as Tokens;
    expect(third.scope).toBe('mcp:docker:read mcp:docker:write');
  });

  test('a spent refresh token presented again revokes its whole family', async () => {
    const id = await registered();
    const r1 = (await loginTokens(id)).refresh_token as string;
    const r2 = ((await (await refresh(id, r1)).json()) as Tokens).refresh_token as string;
    const reuse = await refresh(id, r1);
    expect(reuse.status).toBe(400);
    const body = await reuse.text();
    expect(JSON.parse(body)).toMatchObject({ error: 'invalid_grant' });
    expect(JSON.parse(body).error_description).toMatch(/already used.*sign in again/);
    expect(body).not.toContain(r1);
    // The legitimate holder's current token went with it; so did a later reuse attempt.
    expect(await (await refresh(id, r2)).json()).toMatchObject({ error: 'invalid_grant' });
    expect(await (await refresh(id, 'made-up-token')).json()).toMatchObject({ error: 'invalid_grant' });
    // Another sign-in of the same client is another family, untouched.
    const other = (await loginTokens(id)).refresh_token as string;
    expect((await refresh(id, other)).status).toBe(200);
  });

  test('refresh tokens expire (30 days by default)', async () => {
    const id = await registered();
    const r1 = (await loginTokens(id)).refresh_token as string;
    const r2 = (await loginTokens(id)).refresh_token as string;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 29 * 24 * 3600 * 1000);
    expect((await refresh(id, r1)).status).toBe(200);
    vi.setSystemTime(Date.now() + 2 * 24 * 3600 * 1000);
    const expired = await refresh(id, r2);
    expect(expired.status).toBe(400);
    expect(await expired.json()).toMatchObject({ error: 'invalid_grant' });
  });

  test('clients and refresh tokens (hashed, 0600) survive a restart of the issuer', async () => {
    let first = await start('restart');
    const id = await registered({}, first.base);
    const r1 = (await loginTokens(id, {}, first.base)).refresh_token as string;
    await first.issuer.close();
    const file = join(dir, 'restart', 'refresh-tokens.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const saved = await readFile(file, 'utf8');
    expect(saved).not.toContain(r1);
    expect(JSON.parse(saved).tokens[0]).not.toHaveProperty('token');

    first = await start('restart');
    try {
      const res = await refresh(id, r1, {}, first.base);
      expect(res.status).toBe(200);
      const next = (await res.json()) as Tokens;
      expect(decodeJwt(next.access_token)).toMatchObject({ iss: first.base, client_id: id, sub: 'ops-alice' });
      // The rotation was saved too: after another restart the spent token is still recognised as spent.
      await first.issuer.close();
      first = await start('restart');
      expect(await (await refresh(id, r1, {}, first.base)).json()).toMatchObject({ error: 'invalid_grant' });
      expect(await (await refresh(id, next.refresh_token as string, {}, first.base)).json()).toMatchObject({
        error: 'invalid_grant',
      });
    } finally {
      await first.issuer.close();
    }
    first = await start('restart');
    // The client itself is still registered: it signs in again without registering.
    const forOldPorts = (await loginTokens(id, {}, first.base)).refresh_token as string;
    await first.issuer.close();
    // Restarted for other resources (other demo ports): the old grant's refresh is refused, sign in again.
    const moved = await start('restart', {
      dynamicClients: { resources: ['https://localhost:9701/mcp'], scopes: SCOPES },
    });
    try {
      const refused = await refresh(id, forOldPorts, {}, moved.base);
      expect(await refused.json()).toMatchObject({
        error: 'invalid_grant',
        error_description: expect.stringMatching(/no longer serves/),
      });
      const r = (await loginTokens(id, { resource: 'https://localhost:9701/mcp' }, moved.base)).refresh_token;
      expect((await refresh(id, r as string, {}, moved.base)).status).toBe(200);
    } finally {
      await moved.issuer.close();
    }
  });

  test('listen refuses dynamic-client options that cannot work', async () => {
    const bad = await DevIssuer.open({ stateDir: join(dir, 'bad') });
    await expect(bad.listen({ port: 0, dynamicClients: { resources: [], scopes: SCOPES } })).rejects.toThrow(
      /at least one resource/,
    );
    await expect(bad.listen({ port: 0, dynamicClients: { resources: ['mcp'], scopes: SCOPES } })).rejects.toThrow(
      /absolute URI/,
    );
    await expect(bad.listen({ port: 0, dynamicClients: { resources: [RESOURCE], scopes: ['a b'] } })).rejects.toThrow(
      /scope token/,
    );
  });
});
