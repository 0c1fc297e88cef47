// The person chooses the token's scopes on the dev issuer's sign-in page (RFC 6749 3.3), over real loopback HTTP.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createOAuthAuthenticator } from '../oauth/authenticator.js';
import { DevIssuer } from './issuer.js';

const DOCKER = 'https://localhost:8701/mcp';
const TRAEFIK = 'https://localhost:8702/mcp';
const LEVELS = ['read', 'write', 'admin'];
const SCOPES = ['docker', 'traefik'].flatMap((s) => LEVELS.map((l) => `mcp:${s}:${l}`));
const CALLBACK = 'http://127.0.0.1:43111/callback';
const CONSOLE = 'https://localhost:8701/approvals/console';
const CONSOLE_SCOPES = ['mcp:approvals:approve', 'mcp:approvals:read'];
const verifier = `${'v'.repeat(20)}Abc-._~0123456789xyzXYZ`;
const challenge = createHash('sha256').update(verifier).digest('base64url');

let dir: string;
let issuer: DevIssuer;
let base: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ravenhelm-scopes-'));
  issuer = await DevIssuer.open({ stateDir: join(dir, 'issuer') });
  ({ issuer: base } = await issuer.listen({
    port: 0,
    clients: [{ clientId: 'approvals-console', redirectUris: [CONSOLE], resources: [DOCKER], scopes: CONSOLE_SCOPES }],
    dynamicClients: { resources: [DOCKER, TRAEFIK], scopes: SCOPES },
  }));
});

afterAll(async () => {
  await issuer.close();
  await rm(dir, { recursive: true, force: true });
});

async function registered(): Promise<string> {
  const res = await fetch(`${base}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Scope <b>choice</b> client',
      redirect_uris: [CALLBACK],
      grant_types: ['authorization_code', 'refresh_token'],
      token_endpoint_auth_method: 'none',
    }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

/** The sign-in page for `clientId` asking for `scope`: its HTML and the pending login's id. */
async function open(clientId: string, scope: string, over: Record<string, string> = {}) {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CALLBACK,
    scope,
    state: 'st',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: DOCKER,
    ...over,
  });
  const page = await fetch(`${base}/authorize?${q}`, { redirect: 'manual' });
  const html = await page.text();
  expect(page.status, html.slice(0, 300)).toBe(200);
  return { html, login: loginOf(html) };
}

const loginOf = (html: string) => /name="login" value="([\w-]+)"/.exec(html)?.[1] as string;

/** Every scope checkbox on the page, and whether it is ticked. */
const boxes = (html: string) =>
  [...html.matchAll(/<input type="checkbox" name="scope" value="([^"]+)" id="[^"]+"( checked)?>/g)].map((m) => ({
    scope: m[1] as string,
    checked: m[2] !== undefined,
  }));

/** The form posted with exactly `scopes` ticked (a person's choice, or a forged body). */
const post = (login: string, scopes: readonly string[]) => {
  const body = new URLSearchParams({ login, user: 'ops-alice', action: 'allow' });
  for (const s of scopes) body.append('scope', s);
  return fetch(`${base}/authorize`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
};

interface Tokens {
  access_token: string;
  refresh_token?: string;
  scope: string;
}

async function redeem(clientId: string, posted: Response, redirectUri = CALLBACK): Promise<Tokens> {
  expect(posted.status).toBe(303);
  const code = new URL(posted.headers.get('location') as string).searchParams.get('code') as string;
  const res = await fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: clientId,
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      resource: DOCKER,
    }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Tokens;
}

describe('the sign-in page offers the scopes the client may receive for the resource', () => {
  test("a self-registered client: that server's scopes, the requested ones ticked, each with its meaning", async () => {
    const id = await registered();
    const { html } = await open(id, 'mcp:docker:read offline_access');
    expect(boxes(html)).toEqual([
      { scope: 'mcp:docker:read', checked: true },
      { scope: 'mcp:docker:write', checked: false },
      { scope: 'mcp:docker:admin', checked: false },
    ]);
    expect(html).toContain('<code>mcp:docker:read</code>: list and read');
    expect(html).toContain('<code>mcp:docker:write</code>: start, stop, restart and other changes');
    expect(html).toContain('<code>mcp:docker:admin</code>: HIGH-tier tools, which also need a SPIFFE ID over mTLS');
    // Another server's scopes and the client-only ones are no choice here; the client's name is escaped.
    expect(html).not.toContain('mcp:traefik:');
    expect(html).not.toMatch(/value="(openid|offline_access)"/);
    expect(html).toContain('Scope &lt;b&gt;choice&lt;/b&gt; client');
    expect(html).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=/i);
  });

  test('a configured console client: its own scopes', async () => {
    const { html } = await open('approvals-console', 'openid mcp:approvals:approve', { redirect_uri: CONSOLE });
    expect(boxes(html)).toEqual([
      { scope: 'mcp:approvals:approve', checked: true },
      { scope: 'mcp:approvals:read', checked: false },
    ]);
    expect(html).toContain(
      '<code>mcp:approvals:approve</code>: approve or deny requests waiting in the approvals console',
    );
  });
});

describe('the scopes the person ticks are the ones granted', () => {
  test('extra allowed scopes: the token and the `scope` field carry exactly those', async () => {
    const id = await registered();
    const { login } = await open(id, 'mcp:docker:read');
    const tokens = await redeem(id, await post(login, ['mcp:docker:write', 'mcp:docker:read']));
    expect(tokens.scope).toBe('mcp:docker:read mcp:docker:write');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ scope: 'mcp:docker:read mcp:docker:write', aud: DOCKER });
    const auth = createOAuthAuthenticator({ issuer: base, resource: DOCKER });
    try {
      const principal = await auth.authenticate({ headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(principal.scopes.sort()).toEqual(['mcp:docker:read', 'mcp:docker:write']);
    } finally {
      await auth.close();
    }
  });

  test('fewer than requested: an unticked scope is left out', async () => {
    const id = await registered();
    const { html, login } = await open(id, 'mcp:docker:read mcp:docker:write');
    expect(boxes(html).filter((b) => b.checked)).toHaveLength(2);
    const tokens = await redeem(id, await post(login, ['mcp:docker:read']));
    expect(tokens.scope).toBe('mcp:docker:read');
  });

  test('a console client may be granted another of its scopes; openid passes through as before', async () => {
    const { login } = await open('approvals-console', 'openid mcp:approvals:approve', { redirect_uri: CONSOLE });
    const tokens = await redeem('approvals-console', await post(login, CONSOLE_SCOPES), CONSOLE);
    expect(tokens.scope).toBe('mcp:approvals:approve mcp:approvals:read');
    expect(decodeJwt(tokens.access_token).scope).toBe('mcp:approvals:approve mcp:approvals:read');
  });

  test.each([
    ["another server's scope", ['mcp:docker:read', 'mcp:traefik:write']],
    ['a scope the issuer never offers', ['mcp:docker:read', 'mcp:gitlab:admin']],
    ['a client-only scope posted as a choice', ['mcp:docker:read', 'openid']],
    ['markup', ['<script>x</script>']],
  ])('refuses %s with a page, grants nothing and burns the sign-in', async (_label, scopes) => {
    const id = await registered();
    const { login } = await open(id, 'mcp:docker:read');
    const res = await post(login, scopes);
    const html = await res.text();
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(html).toContain('Scope not allowed');
    expect(html).toContain('mcp:docker:read mcp:docker:write mcp:docker:admin');
    expect(html).not.toContain('<script>');
    expect((await post(login, ['mcp:docker:read'])).status).toBe(400);
  });

  test('a console client may not be granted a scope outside its own list', async () => {
    const { login } = await open('approvals-console', 'mcp:approvals:approve', { redirect_uri: CONSOLE });
    const res = await post(login, ['mcp:approvals:approve', 'mcp:docker:write']);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Scope not allowed');
  });

  test('unticking every scope shows the form again with a clear message; the new form then signs in', async () => {
    const id = await registered();
    const { login } = await open(id, 'mcp:docker:read');
    const res = await post(login, []);
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Tick at least one scope');
    expect(boxes(html).every((b) => !b.checked)).toBe(true);
    const again = loginOf(html);
    expect(again).not.toBe(login);
    expect((await post(login, ['mcp:docker:read'])).status).toBe(400); // the old form is spent
    expect((await redeem(id, await post(again, ['mcp:docker:write']))).scope).toBe('mcp:docker:write');
  });

  test('refresh keeps the wider scope the person granted', async () => {
    const id = await registered();
    const { login } = await open(id, 'mcp:docker:read offline_access');
    const first = await redeem(id, await post(login, ['mcp:docker:read', 'mcp:docker:write']));
    expect(first.refresh_token).toBeTruthy();
    const res = await fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: id,
        refresh_token: first.refresh_token as string,
      }),
    });
    expect(res.status).toBe(200);
    const refreshed = (await res.json()) as Tokens;
    expect(refreshed.scope).toBe('mcp:docker:read mcp:docker:write');
    expect(decodeJwt(refreshed.access_token).scope).toBe('mcp:docker:read mcp:docker:write');
  });
});
