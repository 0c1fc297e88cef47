/**
 * Benchmark: the cost of authentication per call.
 *   1. authenticate() alone: cached token (the same JWT every call) vs uncached (a fresh JWT every
 *      call: signature check + claims), against a no-op authenticator as the baseline.
 *   2. end to end over HTTP: no-op tool calls/s with OAuth (cached token) vs auth mode none.
 *   3. a client certificate forwarded by Traefik (peerFromForwardedCert, leaf + intermediate, ECDSA P-256):
 *      verified every call (the cache emptied first, as before the cache existed) vs served from the cache.
 *   4. a kept-alive direct mTLS connection after a trust-bundle rotation: a connection still accepted vs one the
 *      new bundle refuses (before the verdict was cached, each refused request verified the chain again).
 * Keys come from the dev issuer on loopback; JWKS is fetched once and cached, as in production.
 * Run: npm run bench -- auth   (or: node --conditions=@ravenhelm/source --import tsx test/bench/auth.ts)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket, connect as tlsConnect } from 'node:tls';
import {
  type AuthRequest,
  clearForwardedPeerCache,
  createOAuthAuthenticator,
  DevIssuer,
  directPeerStats,
  mtlsServerOptions,
  peerFromForwardedCert,
  peerFromRequest,
  recordHandshakeBundle,
} from '@ravenhelm/auth';
import { localAuthenticator } from '@ravenhelm/kit';
import { makeCa, makeIntermediate, makeLeaf } from '../fixtures/pki.js';
import { CONCURRENCY, NOOP_CALL, runIfMain, SECONDS, startKit } from './common.js';
import { runLoad } from './load.js';

const N = Number(process.env.BENCH_AUTH_CALLS ?? 5000);
const RESOURCE = 'http://127.0.0.1/bench/mcp';

async function perCall(label: string, n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(200, n); i++) await fn(i); // warm-up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${label.padEnd(44)} ${us.toFixed(2).padStart(8)} µs/call`);
  return us;
}

/** Traefik's forwarded client certificate: a full chain verification vs a cache hit, per request. */
async function forwardedBench(base: number): Promise<void> {
  const td = 'bench.test';
  const root = await makeCa({ name: 'bench root' });
  const mid = await makeIntermediate(root);
  const leaf = await makeLeaf({ ca: mid, uris: [`spiffe://${td}/agent/bench`], eku: ['clientAuth'] });
  const body = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\n/g, '');
  const header = `${body(leaf.certPem)},${body(mid.certPem)}`;
  const opts = { bundle: root.certPem, trustDomain: td };
  const n = Math.min(N, 1000); // a verification costs milliseconds: keep the uncached run short
  console.log(`forwarded client certificate (leaf + intermediate), ${n} calls each`);
  const uncached = await perCall('forwarded, verified every call (no cache)', n, async () => {
    clearForwardedPeerCache();
    return peerFromForwardedCert(header, opts);
  });
  const cached = await perCall('forwarded, cached', N, async () => peerFromForwardedCert(header, opts));
  console.log(
    `cost over baseline: uncached +${(uncached - base).toFixed(2)} µs, cached +${(cached - base).toFixed(2)} µs; ratio uncached/cached ${(uncached / cached).toFixed(1)}`,
  );
}

/** A real server-side TLSSocket from an mTLS handshake; then requests on it after a rotation, accepted or refused. */
export async function rotatedConnectionBench(): Promise<void> {
  const td = 'bench.test';
  const [root, other] = await Promise.all([makeCa({ name: 'bench root' }), makeCa({ name: 'bench other root' })]);
  const [srv, client] = await Promise.all([
    makeLeaf({ ca: root, uris: [`spiffe://${td}/server/bench`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
    makeLeaf({ ca: root, uris: [`spiffe://${td}/agent/bench`], eku: ['clientAuth'] }),
  ]);
  let serverSide: TLSSocket | undefined;
  const server = createTlsServer(mtlsServerOptions({ cert: srv.certPem, key: srv.keyPem, ca: root.certPem }), (s) => {
    serverSide = s;
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const socket = tlsConnect({ host: '127.0.0.1', port, cert: client.certPem, key: client.keyPem, ca: root.certPem });
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  while (!serverSide) await new Promise((r) => setTimeout(r, 5));
  recordHandshakeBundle(serverSide, root.certPem);
  const req = { socket: serverSide, headers: {}, rawHeaders: [] } as unknown as IncomingMessage;
  const kept = { trustDomain: td, bundle: `${other.certPem}${root.certPem}` }; // overlap: the CA stays
  const dropped = { trustDomain: td, bundle: other.certPem }; // the CA left the bundle
  const n = Math.min(N, 1000);
  console.log(`kept-alive mTLS connection after a bundle rotation, ${n} requests each`);
  const accepted = await perCall('CA kept: accepted', n, async () => peerFromRequest(req, kept));
  const before = directPeerStats().chainChecks;
  const refused = await perCall('CA dropped: refused', n, async () => {
    try {
      peerFromRequest(req, dropped);
    } catch {}
  });
  console.log(
    `chain verifications for ${n + Math.min(200, n)} refused requests: ${directPeerStats().chainChecks - before}; ratio refused/accepted ${(refused / accepted).toFixed(1)}`,
  );
  socket.destroy();
  server.close();
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rh-bench-auth-'));
  const issuer = await DevIssuer.open({ stateDir: dir });
  const { issuer: issuerUrl } = await issuer.listen({ port: 0 });
  try {
    const auth = createOAuthAuthenticator({ issuer: issuerUrl, resource: RESOURCE });
    const req = (token: string): AuthRequest => ({ headers: { authorization: `Bearer ${token}` } });
    const one = await issuer.mint({ agent: 'bench', scopes: ['mcp:echo:read'], audience: RESOURCE });
    const fresh = await Promise.all(
      Array.from({ length: N + 200 }, (_, i) =>
        issuer.mint({ agent: `bench-${i}`, scopes: ['mcp:echo:read'], audience: RESOURCE }),
      ),
    );
    const noop = localAuthenticator({ subject: 'x', scopes: [], roles: [], source: 'stdio' });
    console.log(`authenticate(), ${N} calls each (ES256 JWTs from the dev issuer)`);
    const base = await perCall('baseline: no-op authenticator', N, () => noop.authenticate(req(one)));
    const cached = await perCall('OAuth, cached token (same JWT)', N, () => auth.authenticate(req(one)));
    const uncached = await perCall('OAuth, uncached (a new JWT each call)', N, (i) =>
      auth.authenticate(req(fresh[i] as string)),
    );
    console.log(
      `cost over baseline: cached +${(cached - base).toFixed(2)} µs, uncached +${(uncached - base).toFixed(2)} µs`,
    );
    await forwardedBench(base);
    await rotatedConnectionBench();

    const load = { concurrency: CONCURRENCY, maxSeconds: SECONDS, body: NOOP_CALL };
    const results: Record<string, number> = {};
    for (const mode of ['none', 'oauth'] as const) {
      const http = await startKit(
        mode === 'none' ? undefined : () => createOAuthAuthenticator({ issuer: issuerUrl, resource: RESOURCE }),
      );
      const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
      if (mode === 'oauth') headers.authorization = `Bearer ${one}`;
      await runLoad({ ...load, url: http.url, headers, maxSeconds: 1 });
      const r = await runLoad({ ...load, url: http.url, headers });
      results[mode] = r.perSecond;
      console.log(
        `HTTP no-op tool call, auth ${mode.padEnd(6)} ${r.perSecond.toFixed(0).padStart(7)} calls/s  p50 ${r.p50ms} ms  p99 ${r.p99ms} ms  (${r.failed} failed)`,
      );
      await http.close();
    }
    console.log(`ratio oauth(cached)/none: ${((results.oauth ?? 0) / (results.none ?? 1)).toFixed(2)}`);
    await auth.close?.();
  } finally {
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

runIfMain(import.meta, main);
