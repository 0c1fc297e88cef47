import { execFile } from 'node:child_process';
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
