import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { AuthError } from '../errors.js';
import { createOAuthAuthenticator } from '../oauth/authenticator.js';
import { certificateThumbprint } from '../oauth/claims.js';
import { DEV_ORG_ID, DEV_PROJECT_ID, DevIssuer } from './issuer.js';
import { runIssuerCli } from './issuer-cli.js';

const RESOURCE = 'https://127.0.0.1:8443/mcp';
const run = promisify(execFile);
let dir: string;
let issuer: DevIssuer;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ravenhelm-dev-issuer-'));
  issuer = await DevIssuer.open({ stateDir: join(dir, 'state') });
  url = (await issuer.listen({ port: 0 })).issuer;
});

afterAll(async () => {
  await issuer.close();
  await rm(dir, { recursive: true, force: true });
});

function bearer(token: string, extra: object = {}) {
  return { headers: { authorization: `Bearer ${token}` }, ...extra };
}

describe('DevIssuer', () => {
  test('keeps its key in the state directory with private modes and reuses it', async () => {
    const keyStat = await stat(join(dir, 'state', 'issuer-key.jwk'));
    expect(keyStat.mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'state'))).mode & 0o777).toBe(0o700);
    const again = await DevIssuer.open({ stateDir: join(dir, 'state') });
    expect(again.kid).toBe(issuer.kid);
    expect(again.issuer).toBe(url);
    expect(JSON.stringify(issuer.jwks)).not.toContain('"d"');
  });

  test('a minted token verifies through createOAuthAuthenticator pointed at the running issuer', async () => {
    const auth = createOAuthAuthenticator({
      issuer: url,
      resource: RESOURCE,
      projectId: DEV_PROJECT_ID,
      allowedOrgIds: [DEV_ORG_ID],
      roleScopes: { 'docker-admin': ['mcp:docker:admin'] },
    });
    const token = await issuer.mintToken({
      agent: 'oncall',
      scope: 'mcp:docker:read',
      audience: RESOURCE,
      roles: ['docker-admin'],
      ttlSeconds: 120,
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'ES256', kid: issuer.kid, typ: 'at+jwt' });
    const claims = decodeJwt(token);
    expect(claims.exp! - claims.iat!).toBe(120);
    expect(typeof claims.jti).toBe('string');
    const principal = await auth.authenticate(bearer(token));
    expect(principal).toMatchObject({ subject: 'oncall', clientId: 'oncall', issuer: url, roles: ['docker-admin'] });
    expect(principal.scopes.sort()).toEqual(['mcp:docker:admin', 'mcp:docker:read']);
    await auth.close();
  });

  test('a certificate-bound token needs the certificate; another dev key is refused', async () => {
    const auth = createOAuthAuthenticator({ issuer: url, resource: RESOURCE });
    const der = Buffer.from('not really a certificate, only its hash matters here');
    const token = await issuer.mintToken({
      agent: 'oncall',
      scope: 'mcp:docker:read',
      audience: RESOURCE,
      certThumbprint: certificateThumbprint(der),
    });
    expect((await auth.authenticate(bearer(token, { peerCertificate: der }))).subject).toBe('oncall');
    await expect(auth.authenticate(bearer(token))).rejects.toMatchObject({ code: 'ERR_TOKEN_BINDING' });
    const stranger = await DevIssuer.open({ stateDir: join(dir, 'other') });
    const forged = await stranger.mintToken({
      agent: 'oncall',
      scope: 'mcp:docker:admin',
      audience: RESOURCE,
      issuer: url,
    });
    const err = await auth.authenticate(bearer(forged)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).code).toBe('ERR_TOKEN_INVALID');
    await auth.close();
  });

  test('refuses bad mint options', async () => {
    await expect(issuer.mintToken({ agent: '../x', scope: '', audience: RESOURCE })).rejects.toThrow(/agent name/);
    await expect(issuer.mintToken({ agent: 'a', scope: '', audience: RESOURCE, ttlSeconds: 90_000 })).rejects.toThrow(
      /ttl/,
    );
    await expect(issuer.mintToken({ agent: 'a', scope: '', audience: [] })).rejects.toThrow(/audience/);
    await expect(issuer.listen({ host: '0.0.0.0', port: 0 })).rejects.toThrow(/already listening/);
    const fresh = await DevIssuer.open({ stateDir: join(dir, 'fresh') });
    await expect(fresh.listen({ host: '0.0.0.0', port: 0 })).rejects.toThrow(/loopback/);
  });
});

describe('CLI', () => {
  test('token prints only the token on stdout', async () => {
    const out: string[] = [];
    const errors: string[] = [];
    const code = await runIssuerCli(
      [
        'token',
        '--agent',
        'oncall',
        '--scope',
        'mcp:docker:read mcp:docker:write',
        '--aud',
        RESOURCE,
        '--ttl',
        '60',
        '--state',
        join(dir, 'state'),
      ],
      { stdout: (l) => out.push(l), stderr: (l) => errors.push(l) },
    );
    expect(code).toBe(0);
    expect(errors).toEqual([]);
    expect(out).toHaveLength(1);
    const auth = createOAuthAuthenticator({ issuer: url, resource: RESOURCE });
    expect((await auth.authenticate(bearer(out[0] as string))).scopes).toEqual(['mcp:docker:read', 'mcp:docker:write']);
    await auth.close();
  });

  test('usage errors exit 2 without printing a token', async () => {
    const out: string[] = [];
    const errors: string[] = [];
    const io = { stdout: (l: string) => out.push(l), stderr: (l: string) => errors.push(l) };
    expect(await runIssuerCli(['token', '--scope', 'x', '--aud', RESOURCE], io)).toBe(2);
    expect(await runIssuerCli(['token', '--agent', 'a', '--bogus'], io)).toBe(2);
    expect(out).toEqual([]);
    expect(errors.join('\n')).toMatch(/--agent NAME/);
  });

  test('token for a state directory without an issuer key says so and writes nothing there', async () => {
    const empty = join(dir, 'never-started', 'state');
    const errors: string[] = [];
    const io = { stdout: () => {}, stderr: (l: string) => errors.push(l) };
    const code = await runIssuerCli(['token', '--agent', 'a', '--scope', 'x', '--aud', RESOURCE, '--state', empty], io);
    expect(code).toBe(1);
    expect(errors.join('\n')).toMatch(/no dev issuer key in .*: start the dev issuer first .* or pass --state/);
    await expect(stat(empty)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  test('dev-issuer serves until stopped and records the issuer', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => {
      stop = r;
    });
    let listening!: (u: string) => void;
    const started = new Promise<string>((r) => {
      listening = r;
    });
    const out: string[] = [];
    const state = join(dir, 'cli-state');
    const done = runIssuerCli(
      ['dev-issuer', '--port', '0', '--state', state],
      { stdout: (l) => out.push(l), stderr: () => {} },
      {
        stop: stopped,
        onListening: (u) => listening(u),
      },
    );
    const served = await started;
    const metadata = (await (await fetch(`${served}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata.issuer).toBe(served);
    expect(metadata.jwks_uri).toBe(`${served}/jwks`);
    expect(JSON.parse(await readFile(join(state, 'issuer.json'), 'utf8')).issuer).toBe(served);
    stop();
    expect(await done).toBe(0);
    expect(JSON.parse(out[0] as string).issuer).toBe(served);
    await expect(fetch(`${served}/jwks`)).rejects.toThrow();
  });

  test('the ravenhelm-auth bin prints the token alone on stdout', async () => {
    const cli = resolve(import.meta.dirname, '../cli.ts');
    const { stdout, stderr } = await run(
      process.execPath,
      [
        '--import',
        'tsx',
        cli,
        'token',
        '--agent',
        'bin',
        '--scope',
        'mcp:docker:read',
        '--aud',
        RESOURCE,
        '--state',
        join(dir, 'state'),
      ],
      { timeout: 20_000 },
    );
    expect(stderr).toBe('');
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    expect(decodeJwt(stdout.trim()).sub).toBe('bin');
  });
});

describe('authorization code + PKCE (the approvals console login)', () => {
  const CONSOLE = 'https://localhost:8701/approvals/console';
  const OTHER_RESOURCE = 'https://localhost:8702/mcp';
  const verifier = `${'v'.repeat(20)}Abc-._~0123456789xyzXYZ`; // 43 characters
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let login: DevIssuer;
  let base: string;

  beforeAll(async () => {
    login = await DevIssuer.open({ stateDir: join(dir, 'login') });
    base = (
      await login.listen({
        port: 0,
        clients: [{ clientId: 'approvals-console', redirectUris: [CONSOLE], resources: [RESOURCE, OTHER_RESOURCE] }],
      })
    ).issuer;
  });
  afterAll(() => login.close());

  const authorizeQuery = (over: Record<string, string | undefined> = {}) => {
    const q = new URLSearchParams();
    const all: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: 'approvals-console',
      redirect_uri: CONSOLE,
      scope: 'openid mcp:approvals:approve',
      state: 'st-123',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      resource: RESOURCE,
      ...over,
    };
    for (const [k, v] of Object.entries(all)) if (v !== undefined) q.set(k, v);
    return `${base}/authorize?${q}`;
  };

  /** The login page, then its form posted as `user`: the redirect back to the console. */
  async function signIn(user: string, over: Record<string, string | undefined> = {}): Promise<URL> {
    const page = await fetch(authorizeQuery(over), { redirect: 'manual' });
    expect(page.status).toBe(200);
    const html = await page.text();
    const id = /name="login" value="([\w-]+)"/.exec(html)?.[1] as string;
    // As a browser posts it: the scopes ticked when the page opened.
    const ticked = [...html.matchAll(/<input type="checkbox" name="scope" value="([^"]+)"[^>]* checked>/g)];
    const body = new URLSearchParams({ login: id, user, action: 'allow' });
    for (const m of ticked) body.append('scope', m[1] as string);
    const posted = await fetch(`${base}/authorize`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    expect(posted.status).toBe(303);
    return new URL(posted.headers.get('location') as string);
  }

  const redeem = (params: Record<string, string>) =>
    fetch(`${base}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://localhost:8701' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        client_id: 'approvals-console',
        redirect_uri: CONSOLE,
        code_verifier: verifier,
        resource: RESOURCE,
        ...params,
      }),
    });

  test('discovery advertises the code flow with S256 only', async () => {
    const res = await fetch(`${base}/.well-known/openid-configuration`);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await res.json()).toMatchObject({
      authorization_endpoint: `${base}/authorize`,
      token_endpoint: `${base}/token`,
      grant_types_supported: ['authorization_code'],
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
    });
  });

  test('happy path: the login page passes a strict CSP, the code redeems once for an approver token', async () => {
    const page = await fetch(authorizeQuery());
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("form-action 'self' https://localhost:8701");
    const html = await page.text();
    expect(html).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=/i);
    expect(html).toMatch(/<label for="user">Dev user name<\/label>/);
    expect(html).toContain('ops-alice');

    const back = await signIn('ops-alice');
    expect(`${back.origin}${back.pathname}`).toBe(CONSOLE);
    expect(back.searchParams.get('state')).toBe('st-123');
    const code = back.searchParams.get('code') as string;
    expect(code).toMatch(/^[\w-]{43}$/);
    const res = await redeem({ code });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://localhost:8701');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { access_token: string; token_type: string; scope: string; expires_in: number };
    expect(body).toMatchObject({ token_type: 'Bearer', scope: 'mcp:approvals:approve', expires_in: 3600 });
    const auth = createOAuthAuthenticator({ issuer: base, resource: RESOURCE });
    const principal = await auth.authenticate(bearer(body.access_token));
    expect(principal).toMatchObject({ subject: 'ops-alice', clientId: 'approvals-console', issuer: base });
    expect(principal.scopes).toEqual(['mcp:approvals:approve']);
    await auth.close();

    // Reused code: refused, without echoing it.
    const again = await redeem({ code });
    expect(again.status).toBe(400);
    const text = await again.text();
    expect(JSON.parse(text).error).toBe('invalid_grant');
    expect(text).not.toContain(code);
  });

  test('a wrong verifier is refused and burns the code', async () => {
    const code = (await signIn('sec-bob')).searchParams.get('code') as string;
    const bad = await redeem({ code, code_verifier: 'w'.repeat(43) });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(JSON.parse(text).error).toBe('invalid_grant');
    expect(text).not.toContain('w'.repeat(43));
    expect((await redeem({ code })).status).toBe(400);
  });

  test('the redirect URI, client and resource must match the authorization request', async () => {
    let code = (await signIn('ops-alice')).searchParams.get('code') as string;
    expect(await (await redeem({ code, redirect_uri: `${CONSOLE}/` })).json()).toMatchObject({
      error: 'invalid_grant',
    });
    code = (await signIn('ops-alice')).searchParams.get('code') as string;
    expect(await (await redeem({ code, client_id: 'someone-else' })).json()).toMatchObject({ error: 'invalid_grant' });
    code = (await signIn('ops-alice')).searchParams.get('code') as string;
    expect(await (await redeem({ code, resource: OTHER_RESOURCE })).json()).toMatchObject({ error: 'invalid_target' });
    // The other registered resource works when it was asked for from the start.
    code = (await signIn('ops-alice', { resource: OTHER_RESOURCE })).searchParams.get('code') as string;
    const ok = (await (await redeem({ code, resource: OTHER_RESOURCE })).json()) as { access_token: string };
    expect(decodeJwt(ok.access_token).aud).toBe(OTHER_RESOURCE);
  });

  test('an unknown client or unregistered redirect URI gets an error page, never a redirect', async () => {
    for (const over of [
      { client_id: 'unknown' },
      { redirect_uri: 'https://evil.example/approvals/console' },
      { redirect_uri: `${CONSOLE}?next=https://evil.example` },
    ]) {
      const res = await fetch(authorizeQuery(over), { redirect: 'manual' });
      expect(res.status, JSON.stringify(over)).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).not.toContain('name="login"');
    }
  });

  test('plain or missing PKCE, other response types and foreign scopes or resources are refused', async () => {
    const cases: [Record<string, string | undefined>, string][] = [
      [{ code_challenge_method: 'plain', code_challenge: verifier }, 'invalid_request'],
      [{ code_challenge_method: undefined }, 'invalid_request'],
      [{ code_challenge: undefined }, 'invalid_request'],
      [{ response_type: 'token' }, 'unsupported_response_type'],
      [{ scope: 'mcp:docker:admin' }, 'invalid_scope'],
      [{ resource: 'https://localhost:9999/mcp' }, 'invalid_target'],
    ];
    for (const [over, error] of cases) {
      const res = await fetch(authorizeQuery(over), { redirect: 'manual' });
      expect(res.status, JSON.stringify(over)).toBe(303);
      const back = new URL(res.headers.get('location') as string);
      expect(`${back.origin}${back.pathname}`).toBe(CONSOLE);
      expect(back.searchParams.get('error'), JSON.stringify(over)).toBe(error);
      expect(back.searchParams.get('state')).toBe('st-123');
      expect(back.searchParams.get('code')).toBeNull();
    }
  });

  test('a login form is single-use; Cancel returns access_denied; other grant types are refused', async () => {
    const page = await (await fetch(authorizeQuery())).text();
    const id = /name="login" value="([\w-]+)"/.exec(page)?.[1] as string;
    const post = (body: Record<string, string>) =>
      fetch(`${base}/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body),
      });
    const cancelled = await post({ login: id, user: 'ops-alice', action: 'deny' });
    expect(new URL(cancelled.headers.get('location') as string).searchParams.get('error')).toBe('access_denied');
    expect((await post({ login: id, user: 'ops-alice', action: 'allow' })).status).toBe(400);
    const cc = await redeem({ grant_type: 'client_credentials', code: 'x' });
    expect(await cc.json()).toMatchObject({ error: 'unsupported_grant_type' });
    // Without a registered client list every authorization request is refused.
    const plainIssuer = await (await fetch(`${url}/authorize?client_id=approvals-console`)).text();
    expect(plainIssuer).toContain('Unknown client');
  });

  test('refuses to register a redirect URI off loopback', async () => {
    const other = await DevIssuer.open({ stateDir: join(dir, 'login-bad') });
    await expect(
      other.listen({
        port: 0,
        clients: [{ clientId: 'c', redirectUris: ['https://example.com/approvals/console'], resources: [RESOURCE] }],
      }),
    ).rejects.toThrow(/loopback/);
    await other.close();
  });
});
