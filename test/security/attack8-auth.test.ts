// Attack round 8 on @ravenhelm/auth, from outside: real TLS/mTLS handshakes with generated certificates and
// real tokens. Each block names what broke before its fix.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import {
  AuthError,
  createOAuthAuthenticator,
  createSpiffeTls,
  directPeerStats,
  isAuthError,
  mtlsServerOptions,
  peerFromRequest,
  type SpiffeTls,
} from '@ravenhelm/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claims, now, sign, signer, startJwksServer } from '../fixtures/forge.js';
import { startOidcProvider } from '../fixtures/oidc.js';
import { makeCa, makeLeaf, type TestCa, type TestIssuer } from '../fixtures/pki.js';
import { keptAliveClient } from './kept-alive.js';

const TD = 'ravenhelm.test';
const ALICE = `spiffe://${TD}/agent/alice`;

let ca: TestCa;
let newRoot: TestCa;
let serverA: TestIssuer;
let serverB: TestIssuer;
let alice: TestIssuer;
const servers: Server[] = [];
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  [ca, newRoot] = await Promise.all([makeCa({ name: 'attack8 root' }), makeCa({ name: 'attack8 new root' })]);
  [serverA, serverB, alice] = await Promise.all([
    makeLeaf({ ca, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
    makeLeaf({ ca: newRoot, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
    makeLeaf({ ca, uris: [ALICE], eku: ['clientAuth'] }),
  ]);
});
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  for (const c of cleanups) c();
});

/**
 * An HTTPS server built from createSpiffeTls, answering each request with the peer it resolves. `attach: false`
 * leaves onServer to the test (a server listening before the wiring knows it, as startHttp then onServer does).
 */
async function rotatingServer(name: string, attach = true) {
  const dir = mkdtempSync(join(tmpdir(), `rh-attack8-${name}-`));
  const paths = {
    certFile: join(dir, 'svid.pem'),
    keyFile: join(dir, 'svid_key.pem'),
    bundleFile: join(dir, 'bundle.pem'),
  };
  const write = (c: TestIssuer, pem: string) => {
    writeFileSync(paths.certFile, c.certPem);
    writeFileSync(paths.keyFile, c.keyPem);
    writeFileSync(paths.bundleFile, pem);
  };
  write(serverA, ca.certPem);
  let rotations = 0;
  const wiring: SpiffeTls = await createSpiffeTls({
    ...paths,
    trustDomain: TD,
    debounceMs: 50,
    onError: () => {},
    onRotate: () => rotations++,
  });
  const server = createServer(wiring.options, (req, res) => {
    wiring.peer(req).then(
      (peer) => res.end(peer.spiffeId ?? 'anonymous'),
      (err: unknown) => res.end(isAuthError(err) ? `${err.code}: ${err.message}` : `crash: ${String(err)}`),
    );
  });
  if (attach) wiring.onServer(server);
  servers.push(server);
  cleanups.push(() => {
    wiring.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    wiring,
    port: (server.address() as AddressInfo).port,
    /** Rotates (default: to the new root, the old CA leaving the bundle) and waits until the wiring applied it. */
    rotate: async (cert: TestIssuer = serverB, bundle: string = newRoot.certPem) => {
      const before = rotations;
      write(cert, bundle);
      const deadline = Date.now() + 5000;
      while (rotations === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(rotations).toBe(before + 1);
    },
  };
}

/** A TLS connection from alice, its handshake done on both sides. */
async function openAlice(port: number): Promise<TLSSocket> {
  const socket = tlsConnect({
    host: '127.0.0.1',
    port,
    cert: alice.certPem,
    key: alice.keyPem,
    ca: [ca.certPem, newRoot.certPem],
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => resolve());
    socket.once('error', reject);
  });
  socket.setEncoding('utf8');
  // Let the server finish its side of the handshake (its 'secureConnection').
  await new Promise((r) => setTimeout(r, 100));
  return socket;
}

/** One HTTP/1.1 request on an open socket; resolves with the response body (the server answers with close). */
function rawGet(socket: TLSSocket, close = true): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const onData = (c: string) => {
      data += c;
      const head = data.indexOf('\r\n\r\n');
      if (head < 0) return;
      const length = /content-length: (\d+)/i.exec(data.slice(0, head));
      const body = data.slice(head + 4);
      if (length && body.length >= Number(length[1])) {
        socket.off('data', onData);
        resolve(body);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: ${close ? 'close' : 'keep-alive'}\r\n\r\n`);
  });
}

describe('a kept-alive connection that fails the re-check after a bundle rotation', () => {
  // Before: every following request on that connection verified the chain again (signatures, ~2 ms): a client
  // keeping such connections open and busy made the server burn CPU. The verdict holds per bundle generation.
  it('is verified once, then refused from the cached verdict on every request', async () => {
    const { port, rotate } = await rotatingServer('refuse-once');
    const { agent, get } = keptAliveClient(port, {
      cert: alice.certPem,
      key: alice.keyPem,
      ca: [ca.certPem, newRoot.certPem],
    });
    try {
      expect(await get()).toEqual({ body: ALICE, reused: false });
      await rotate();
      const before = directPeerStats().chainChecks;
      const answers = [];
      for (let i = 0; i < 6; i++) answers.push(await get());
      for (const a of answers) {
        expect(a.reused).toBe(true);
        expect(a.body).toMatch(/^ERR_PEER_CERT_INVALID: client certificate no longer chains to the trust bundle/);
      }
      expect(directPeerStats().chainChecks - before).toBe(1);
    } finally {
      agent.destroy();
    }
  });
});

describe('an SVID rotation that keeps the bundle', () => {
  // The server's own certificate rotates every half-life; only a new bundle can change a client's verdict.
  it('costs new connections no chain verification', async () => {
    const { port, rotate } = await rotatingServer('svid-only');
    const renewed = await makeLeaf({
      ca,
      uris: [`spiffe://${TD}/server/echo`],
      ips: ['127.0.0.1'],
      eku: ['serverAuth'],
    });
    await rotate(renewed, ca.certPem);
    const before = directPeerStats().chainChecks;
    const socket = await openAlice(port);
    try {
      expect(await rawGet(socket)).toBe(ALICE);
      expect(directPeerStats().chainChecks - before).toBe(0);
    } finally {
      socket.destroy();
    }
  });
});

describe('connections the wiring has not seen the handshake of (accepted before onServer)', () => {
  // Before: a connection accepted before onServer had no handshake record, so its first request took the bundle
  // of that moment as the one its handshake was verified against: a client whose CA had been dropped in between
  // kept its identity on that connection.
  it('a connection opened before onServer, first used after a rotation that drops its CA, is refused', async () => {
    const { server, wiring, port, rotate } = await rotatingServer('early', false);
    const socket = await openAlice(port);
    try {
      wiring.onServer(server);
      await rotate();
      expect(await rawGet(socket)).toMatch(
        /^ERR_PEER_CERT_INVALID: client certificate does not chain to the trust bundle in force: certificate does not chain to a trust bundle CA$/,
      );
    } finally {
      socket.destroy();
    }
  });

  it('without a rotation it keeps its identity (verified once against the bundle in force)', async () => {
    const { server, wiring, port } = await rotatingServer('early-ok', false);
    const socket = await openAlice(port);
    try {
      wiring.onServer(server);
      const before = directPeerStats().chainChecks;
      expect(await rawGet(socket, false)).toBe(ALICE);
      expect(await rawGet(socket, false)).toBe(ALICE);
      expect(await rawGet(socket)).toBe(ALICE);
      expect(directPeerStats().chainChecks - before).toBeLessThanOrEqual(1);
    } finally {
      socket.destroy();
    }
  });

  // Before: a rotation before onServer changed the bundle peer() checks against but never reached the server's
  // TLS context: new connections were still verified against the old bundle, recorded as verified against the
  // new one, and accepted with the dropped CA's identity; the server also kept presenting its old SVID.
  it('a rotation applied before onServer reaches the TLS context once the server is given', async () => {
    const { server, wiring, port, rotate } = await rotatingServer('rotate-early', false);
    await rotate();
    wiring.onServer(server);
    const reply = await new Promise<string>((resolve) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        cert: alice.certPem,
        key: alice.keyPem,
        ca: [ca.certPem, newRoot.certPem],
      });
      socket.setEncoding('utf8');
      socket.once('secureConnect', () => {
        const issuer = socket.getPeerCertificate().issuer?.CN;
        rawGet(socket).then(
          (body) => resolve(`${issuer}: ${body}`),
          (err: Error) => resolve(`${issuer}: ${err.message}`),
        );
      });
      socket.once('error', (err) => resolve(`handshake refused: ${err.message}`));
    });
    // TLS 1.3: the server refuses the client certificate after the client's handshake completed.
    expect(reply).toMatch(/certificate|alert|socket hang up|ECONNRESET/i);
    expect(reply).not.toContain(ALICE);
  });
});

describe('TLS 1.2 renegotiation on a direct mTLS connection', () => {
  // The identity of a connection is fixed at its first handshake (and cached per socket); a renegotiation can
  // present another client certificate the server would then never look at, and each one costs the server a
  // full handshake. Before: a client-initiated renegotiation was accepted.
  it('is refused, and the connection closes', async () => {
    const server = createServer(
      mtlsServerOptions({ cert: serverA.certPem, key: serverA.keyPem, ca: ca.certPem }),
      (req, res) => {
        let body: string;
        try {
          body = peerFromRequest(req, { trustDomain: TD, bundle: ca.certPem }).spiffeId ?? 'anonymous';
        } catch (err) {
          body = isAuthError(err) ? `${err.code}: ${err.message}` : `crash: ${String(err)}`;
        }
        res.end(body);
      },
    );
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      cert: alice.certPem,
      key: alice.keyPem,
      ca: ca.certPem,
      maxVersion: 'TLSv1.2',
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', () => resolve());
        socket.once('error', reject);
      });
      socket.setEncoding('utf8');
      expect(await rawGet(socket, false)).toBe(ALICE);
      const outcome = await new Promise<string>((resolve) => {
        socket.once('close', () => resolve('closed'));
        socket.on('error', () => {});
        const started = socket.renegotiate({}, (err) => {
          if (!err) resolve('renegotiated');
        });
        if (!started) resolve('closed');
      });
      expect(outcome).toBe('closed');
    } finally {
      socket.destroy();
    }
  });
});

describe('introspection answers whose time claims are not numbers (oidc-provider extra claims)', () => {
  // RFC 7662 2.2: exp, iat and nbf are integers. oidc-provider guards exp and iat but lets an extra claim set nbf
  // to anything. Before: a non-numeric nbf was skipped, so an answer saying "not before 2100" (as a string) was
  // accepted today.
  const answer = async (extraClaims: Record<string, unknown>) => {
    const op = await startOidcProvider({ extraClaims });
    const auth = createOAuthAuthenticator({
      issuer: op.issuer,
      resource: op.opaqueResource,
      introspection: op.introspectionClient,
    });
    try {
      await auth.authenticate({ headers: { authorization: `Bearer ${await op.getToken({ opaque: true })}` } });
      return 'accepted';
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      return `${err.code}: ${err.message}`;
    } finally {
      await auth.close();
      await op.stop();
    }
  };

  it('a string nbf is refused, saying which member is malformed', async () => {
    expect(await answer({ nbf: '4102444800' })).toBe(
      'ERR_TOKEN_INVALID: the introspection answer\'s "nbf" is not a number (RFC 7662)',
    );
    // iat is guarded by oidc-provider itself (its own value wins): the same check covers it for other issuers.
    expect(await answer({ iat: '4102444800' })).toBe('accepted');
  });

  it('controls: a numeric nbf in the future is refused, one in the past accepted', async () => {
    expect(await answer({ nbf: 4102444800 })).toBe('ERR_TOKEN_INVALID: token is not valid yet');
    expect(await answer({ nbf: Math.floor(Date.now() / 1000) - 60 })).toBe('accepted');
  });
});

describe('a signing key the issuer withdraws from its JWKS (a leaked key)', () => {
  // Before: a verified JWT was cached until its own exp. Whoever holds a leaked key signs tokens valid for a year
  // and uses each once before the issuer withdraws the key: they stayed accepted for that year (until a restart),
  // however often the JWKS was fetched again. Now a cached verdict lives no longer than the JWKS cache.
  it('stops being accepted for tokens already cached, once the key set is fetched again', async () => {
    const jwks = await startJwksServer();
    const [leaked, next] = await Promise.all([signer('ES256'), signer('ES256')]);
    jwks.keys = [leaked.jwk, next.jwk];
    const resource = 'https://mcp.test/docker/mcp';
    const auth = createOAuthAuthenticator({
      issuer: jwks.issuer,
      jwksUri: jwks.jwksUri,
      resource,
      jwksCacheMaxAgeSeconds: 1,
    });
    const outcome = async (token: string) => {
      try {
        await auth.authenticate({ headers: { authorization: `Bearer ${token}` } });
        return 'accepted';
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        return `${err.code}: ${err.message}`;
      }
    };
    try {
      const yearLong = await sign(leaked, claims(jwks.issuer, resource, { exp: now() + 365 * 86_400 }));
      const current = await sign(next, claims(jwks.issuer, resource));
      expect(await outcome(yearLong)).toBe('accepted');
      expect(await outcome(current)).toBe('accepted');
      jwks.keys = [next.jwk]; // the issuer withdraws the leaked key
      await new Promise((r) => setTimeout(r, 2100)); // past the 1 s JWKS cache age (whole seconds)
      expect(await outcome(yearLong)).toBe('ERR_TOKEN_INVALID: token is not signed by a known issuer key');
      expect(await outcome(current)).toBe('accepted');
    } finally {
      await auth.close();
      await jwks.close();
    }
  });
});

describe('a kept-alive connection whose intermediate CA expires before the client certificate', () => {
  // OpenSSL checks every certificate's dates at the handshake only; a CA that does not clamp its SVIDs to its own
  // lifetime issues leaves that outlive it. Before: the connection was checked against the leaf's notAfter only,
  // so it stayed accepted after its intermediate expired (the forwarded path already used the whole chain).
  it('is refused once a CA on its chain has expired', async () => {
    const shortMid = await makeLeaf({
      ca,
      isCa: true,
      keyUsage: ['keyCertSign', 'cRLSign'],
      eku: [],
      subject: 'CN=short-lived intermediate',
      notAfter: new Date(Date.now() + 3000),
    });
    const bob = await makeLeaf({ ca: shortMid, uris: [`spiffe://${TD}/agent/bob`], eku: ['clientAuth'] });
    const { port } = await rotatingServer('mid-expiry');
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      cert: bob.certPem + shortMid.certPem,
      key: bob.keyPem,
      ca: ca.certPem,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', () => resolve());
        socket.once('error', reject);
      });
      socket.setEncoding('utf8');
      expect(await rawGet(socket, false)).toBe(`spiffe://${TD}/agent/bob`);
      const expiry = new Date(shortMid.x509.validTo).getTime();
      await new Promise((r) => setTimeout(r, Math.max(0, expiry - Date.now()) + 1100));
      expect(await rawGet(socket)).toBe(
        "ERR_PEER_CERT_INVALID: a CA certificate on the client certificate's chain has expired",
      );
    } finally {
      socket.destroy();
    }
  });
});
