/**
 * A server whose RAVENHELM_AUTH_ISSUER is spelled differently from what the issuer's discovery document says
 * (localhost vs 127.0.0.1), and one whose issuer is down: a real server process, a real oidc-provider, real
 * tokens. The operator must be able to tell them apart: the caller's 503 carries Retry-After only when
 * waiting can help; the stderr JSON log says what is wrong and which variable to set, once (not per request);
 * /readyz is 503 with the reason. No token or secret in any of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningOidcProvider, startOidcProvider } from '../fixtures/oidc.js';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-issuer-'));
let op: RunningOidcProvider;
let token: string;

beforeAll(async () => {
  op = await startOidcProvider({ scopes: ['mcp:echo:read'] });
  token = await op.getToken({ resource: op.resource, scope: 'mcp:echo:read' });
});

afterAll(async () => {
  await op?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function start(issuer: string, name: string): Promise<HttpBin> {
  return startHttpBin('test/fixtures/echo-bin.ts', {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    RAVENHELM_AUTH_MODE: 'oauth',
    RAVENHELM_AUTH_ISSUER: issuer,
    RAVENHELM_PUBLIC_URL: op.resource,
    RAVENHELM_AUDIT_FILE: join(dir, `${name}.jsonl`),
  });
}

async function listTools(url: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  const body = (await res.json()) as { error: { message: string; data: Record<string, unknown> } };
  return { status: res.status, retryAfter: res.headers.get('retry-after'), error: body.error };
}

function logLines(server: HttpBin): Record<string, unknown>[] {
  return server
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function until<T>(get: () => T, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  let v = get();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    v = get();
  }
  return v;
}

describe('issuer problems seen by the caller, the log and /readyz', () => {
  it('a misspelled issuer: 503 without Retry-After, one error line naming RAVENHELM_AUTH_ISSUER, not ready', async () => {
    const configured = op.issuer.replace('127.0.0.1', 'localhost');
    const server = await start(configured, 'mismatch');
    try {
      for (let i = 0; i < 20; i++) {
        const res = await listTools(server.url);
        expect(res.status).toBe(503);
        expect(res.retryAfter).toBeNull();
        expect(res.error.data).toMatchObject({
          code: 'ERR_AUTH_UNAVAILABLE',
          retryable: false,
          reason: 'issuer_mismatch',
        });
        expect(res.error.message).not.toMatch(/try again/);
      }
      const ready = await fetch(new URL('/readyz', server.url));
      expect(ready.status).toBe(503);
      const readyBody = (await ready.json()) as { reason: string };
      expect(readyBody.reason).toContain(`names issuer ${JSON.stringify(op.issuer)}`);
      const lines = await until(
        () => logLines(server).filter((l) => l.reason === 'issuer_mismatch'),
        (l) => l.length > 0,
      );
      // Twenty refused requests and a readiness probe: one line.
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 50, server: 'echo', issuer: configured, retryable: false });
      expect(lines[0]?.setting).toBe('RAVENHELM_AUTH_ISSUER');
      expect(String(lines[0]?.msg)).toContain(`set the issuer to exactly ${JSON.stringify(op.issuer)}`);
      expect(server.stderr()).not.toContain(token);
      expect(server.stderr()).not.toContain(op.agent.clientSecret);
    } finally {
      await server.stop();
    }
  });

  it('the issuer down: 503 with Retry-After, a warning, not ready; ready again when it is back', async () => {
    const server = await start(op.issuer, 'down');
    try {
      op.setDown({ jwks: true });
      const res = await listTools(server.url);
      expect(res.status).toBe(503);
      expect(res.retryAfter).toBe('5');
      expect(res.error.data).toMatchObject({ retryable: true, retryAfterSeconds: 5, reason: 'jwks_http_503' });
      const ready = await fetch(new URL('/readyz', server.url));
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/unreachable: the JWKS at .* HTTP 503/);
      const lines = await until(
        () => logLines(server).filter((l) => l.reason === 'jwks_http_503'),
        (l) => l.length > 0,
      );
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({ level: 40, retryable: true });
      op.setDown({ jwks: false });
      // The verifier backs off up to 5 s after a failed fetch; readiness is cached for 1 s.
      let status = 0;
      const end = Date.now() + 10_000;
      while (Date.now() < end && status !== 200) {
        await new Promise((r) => setTimeout(r, 500));
        status = (await fetch(new URL('/readyz', server.url))).status;
      }
      expect(status).toBe(200);
      expect((await listTools(server.url)).status).toBe(200);
      expect(server.stderr()).not.toContain(token);
    } finally {
      op.setDown({ jwks: false });
      await server.stop();
    }
  }, 60_000);
});
