/**
 * Zitadel's backend client under a slow or hung login and API: calls end by their deadline, and one
 * caller giving up does not fail the other calls that share its service-account login. (The simulator
 * checks that a JWT-profile assertion names its own URL as audience, so a proxy cannot sit in front of
 * it; the HTTP-level faults of BackendHttp, which this client uses, are covered by the other servers'
 * backend-faults tests.)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseKeyFile, ZitadelBackend } from '@ravenhelm/mcp-zitadel';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy } from '../fixtures/fault-proxy.js';
import { collectingGarbage, endlessJson } from '../fixtures/fault-server.js';
import { seedZitadel, startZitadelSim, type ZitadelSim } from '../simulators/zitadel.js';

let sim: ZitadelSim;
let keyFile: string;
let orgId: string;

beforeAll(async () => {
  sim = await startZitadelSim();
  orgId = seedZitadel(sim).orgId;
  keyFile = sim.addServiceAccount({ username: 'fault-test' }).keyFile;
});
afterAll(() => sim?.close());
beforeEach(() => {
  sim.control.delayMs = 0;
});

function backend(timeoutMs: number, url = sim.url): ZitadelBackend {
  return new ZitadelBackend({
    url,
    keyFile: parseKeyFile(keyFile, 'test key'),
    orgId,
    timeoutMs,
    maxResponseBytes: 1024 * 1024,
    scope: 'openid',
  });
}

describe('Zitadel logins and calls that hang', () => {
  it('one caller cancelling does not fail the calls sharing its login', async () => {
    const b = backend(5000);
    sim.control.delayMs = 600;
    const quitter = new AbortController();
    const first = b.getUser(b.serviceAccountId, quitter.signal).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    const second = b.getUser(b.serviceAccountId, new AbortController().signal).then(
      (u) => u.userId,
      (e: Error) => `failed: ${e.message}`,
    );
    setTimeout(() => quitter.abort(), 100);
    expect(await first).toMatch(/cancelled/);
    expect(await second).toBe(b.serviceAccountId);
    expect(b.tokenFetches).toBe(1);
  });

  it('a hung login or API call ends at the deadline, under garbage collection, with a clear error', async () => {
    const b = backend(1000);
    sim.control.delayMs = 10_000;
    const started = Date.now();
    const err = await collectingGarbage(() =>
      b.getUser(b.serviceAccountId).then(
        () => undefined,
        (e: Error) => e,
      ),
    );
    const ms = Date.now() - started;
    console.log(`zitadel hung login: ${ms} ms: ${err?.message}`);
    expect(ms).toBeLessThan(2000);
    expect((err as { code?: string }).code).toBe('ERR_BACKEND_TIMEOUT');
    expect(err?.message).toMatch(/^Zitadel did not answer within 1000 ms .*check the backend/);
  });

  it('an endless answer is refused at the byte cap, naming the setting', async () => {
    const u = new URL(sim.url);
    const proxy = await startFaultProxy({ host: u.hostname, port: Number(u.port) });
    try {
      proxy.mode = endlessJson({ userId: '1', username: 'x'.repeat(100) });
      const b = backend(5000, proxy.url);
      const err = await b.getUser('1').then(
        () => undefined,
        (e: Error) => e,
      );
      console.log(`zitadel endless: ${proxy.endlessBytes} bytes sent: ${err?.message}`);
      expect((err as { code?: string }).code).toBe('ERR_OUTPUT_TOO_LARGE');
      expect(err?.message).toMatch(
        /^Zitadel answered POST .* over this call's cap of 1,048,576 bytes; reading stopped there\. A token answer this large is not Zitadel's: check that ZITADEL_URL points at Zitadel, or have an operator raise backend\.maxResponseBytes$/,
      );
      expect(proxy.endlessBytes).toBeLessThan(16 * 1024 * 1024);
      await proxy.drained(3000);
    } finally {
      await proxy.close();
    }
  });

  it('a 200 that is not a JSON object (a login page behind a misrouted URL) is an error, never an empty list', async () => {
    // Not Zitadel: what answers when ZITADEL_URL points at a login page or another service that hands out a
    // token. Before the fix a memberships read came back empty, and keys_add's administrator check passed.
    for (const answer of [
      { type: 'text/html', body: '<!doctype html><title>Sign in</title><form></form>' },
      { type: 'application/json', body: '[]' },
      { type: 'application/json', body: 'null' },
    ]) {
      const page = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          if (req.url === '/oauth/v2/token') {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ access_token: 'not-a-zitadel-token', expires_in: 300 }));
            return;
          }
          res.writeHead(200, { 'content-type': answer.type });
          res.end(answer.body);
        });
      });
      await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
      try {
        const b = backend(5000, `http://127.0.0.1:${(page.address() as AddressInfo).port}`);
        const err = await b.listUserMemberships('1', { offset: 0, limit: 10 }).then(
          (r) => new Error(`read as ${JSON.stringify(r)}`),
          (e: Error) => e,
        );
        expect((err as { code?: string }).code, err.message).toBe('ERR_BACKEND_ERROR');
        expect(err.message).toMatch(
          /was not a JSON object \(HTTP 200\); check that ZITADEL_URL points at Zitadel's API/,
        );
        expect(err.message).not.toContain('not-a-zitadel-token');
      } finally {
        await new Promise((resolve) => page.close(resolve));
      }
    }
  });
});

describe('ListAdministrators answered by something that is not Zitadel', () => {
  it('an answer without Zitadel\'s pagination is an error, never "no memberships"', async () => {
    // What a proxy or another service may answer to an unknown POST. Zitadel always sends the pagination with
    // the limit it applied; without that check `{}` read as a total of 0, and keys_add's check passed.
    for (const body of ['{}', '{"administrators":[]}', '{"pagination":{"totalResult":"many","appliedLimit":"20"}}']) {
      const page = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(req.url === '/oauth/v2/token' ? JSON.stringify({ access_token: 'tok', expires_in: 300 }) : body);
        });
      });
      await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve));
      try {
        const b = backend(5000, `http://127.0.0.1:${(page.address() as AddressInfo).port}`);
        const err = await b.listAdministrators('1', { offset: 0, limit: 20 }).then(
          (r) => new Error(`read as ${JSON.stringify(r)}`),
          (e: Error) => e,
        );
        expect((err as { code?: string }).code, `${body}: ${err.message}`).toBe('ERR_BACKEND_ERROR');
        expect(err.message).toMatch(/ListAdministrators had no readable pagination/);
      } finally {
        await new Promise((resolve) => page.close(resolve));
      }
    }
  });

  it("Zitadel's own answer for an account with no memberships reads as none", async () => {
    const res = await backend(5000).listAdministrators('123', { offset: 0, limit: 20 });
    expect(res).toEqual({ total: 0, result: [], hidden: 0 });
  });
});
