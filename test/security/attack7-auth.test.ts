// Attack round 7 on @ravenhelm/auth, from outside: real TLS/mTLS handshakes with generated certificates.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent, createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { createSpiffeTls, DevIssuer, isAuthError, mtlsServerOptions, peerFromRequest } from '@ravenhelm/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeIntermediate, makeLeaf, type TestCa, type TestIssuer } from '../fixtures/pki.js';
import { keptAliveClient } from './kept-alive.js';

const TD = 'ravenhelm.test';
const ALICE = `spiffe://${TD}/agent/alice`;
const PROXY = `spiffe://${TD}/proxy/traefik`;

/** Traefik v3's header: the PEM body without BEGIN/END lines and newlines. */
const header = (c: TestIssuer) => c.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\n/g, '');

let ca: TestCa;
let serverCert: TestIssuer;
let proxyCert: TestIssuer;
let alice: TestIssuer;
const servers: Server[] = [];

beforeAll(async () => {
  ca = await makeCa({ name: 'attack7 root' });
  [serverCert, proxyCert, alice] = await Promise.all([
    makeLeaf({ ca, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
    makeLeaf({ ca, uris: [PROXY], eku: ['clientAuth'] }),
    makeLeaf({ ca, uris: [ALICE], eku: ['clientAuth'] }),
  ]);
});
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** An mTLS server (the production options) answering with the peer peerFromRequest resolves. */
async function mtlsServer(trustedProxies: string[]): Promise<number> {
  const server = createServer(
    mtlsServerOptions({ cert: serverCert.certPem, key: serverCert.keyPem, ca: ca.certPem }),
    (req, res) => {
      let body: string;
      try {
        body = peerFromRequest(req, { trustDomain: TD, trustedProxies, bundle: ca.certPem }).spiffeId ?? 'anonymous';
      } catch (err) {
        body = isAuthError(err) ? `${err.code}: ${err.message}` : `crash: ${String(err)}`;
      }
      res.end(body);
    },
  );
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

function call(port: number, client: TestIssuer | undefined, headers: IncomingHttpHeaders = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        ca: ca.certPem,
        agent: false,
        headers: headers as Record<string, string>,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve(data));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe("a trusted proxy that connects over mTLS with its own SVID (Traefik's serversTransport)", () => {
  it("the forwarded caller's certificate is the identity, not the proxy's own", async () => {
    const port = await mtlsServer(['127.0.0.1']);
    expect(await call(port, proxyCert, { 'x-forwarded-tls-client-cert': header(alice) })).toBe(ALICE);
  });

  it("a caller without a certificate does not inherit the proxy's SPIFFE ID", async () => {
    const port = await mtlsServer(['127.0.0.1']);
    expect(await call(port, proxyCert)).toBe('anonymous');
  });

  it('a proxy presenting a certificate the bundle refuses is still refused', async () => {
    const port = await mtlsServer(['127.0.0.1']);
    const other = await makeCa({ name: 'other root' });
    const forged = await makeLeaf({ ca: other, uris: [PROXY], eku: ['clientAuth'] });
    expect(await call(port, forged, { 'x-forwarded-tls-client-cert': header(alice) })).toMatch(
      /^ERR_PEER_CERT_INVALID: client certificate rejected by the trust bundle/,
    );
  });

  it('controls: a direct client off the proxy list keeps its own identity and cannot forward one', async () => {
    const port = await mtlsServer(['10.0.0.1']);
    expect(await call(port, alice)).toBe(ALICE);
    expect(await call(port, proxyCert, { 'x-forwarded-tls-client-cert': header(alice) })).toBe(PROXY);
    const trusted = await mtlsServer(['127.0.0.1']);
    expect(await call(trusted, undefined, { 'x-forwarded-tls-client-cert': header(alice) })).toBe(ALICE);
  });
});

/** A raw HTTP/1.1 GET with the Host header the caller chooses (what a DNS-rebound browser page sends). */
function getWithHost(url: string, host: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname, agent: false, headers: { host } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the dev issuer under DNS rebinding (a web page whose host name now resolves to 127.0.0.1)', () => {
  // No password on the dev login: a page that can read the issuer same-origin could sign in as any dev user
  // and mint tokens. Only the loopback names the issuer listens on are its Host.
  let dir: string;
  let issuer: DevIssuer;
  let url: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rh-attack7-issuer-'));
    issuer = await DevIssuer.open({ stateDir: dir });
    url = (await issuer.listen({ port: 0 })).issuer;
  });
  afterAll(async () => {
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a foreign Host with 421 and says which names it answers to', async () => {
    const port = new URL(url).port;
    for (const host of [`rebind.evil.example:${port}`, 'rebind.evil.example', `127.0.0.1.evil.example:${port}`]) {
      const r = await getWithHost(`${url}/.well-known/openid-configuration`, host);
      expect({ host, status: r.status }).toEqual({ host, status: 421 });
      expect(r.body).toContain(`127.0.0.1:${port}`);
    }
    const authorize = await getWithHost(`${url}/authorize`, `rebind.evil.example:${port}`);
    expect(authorize.status).toBe(421);
  });

  it('answers its own loopback names (any case)', async () => {
    const port = new URL(url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      const r = await getWithHost(`${url}/jwks`, host);
      expect({ host, status: r.status }).toEqual({ host, status: 200 });
    }
  });
});

/** An HTTPS server whose SVID and bundle files rotate (createSpiffeTls), answering each request with its peer. */
async function rotatingServer(name: string, first: TestIssuer, bundle: string) {
  const dir = mkdtempSync(join(tmpdir(), `rh-attack7-${name}-`));
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
  write(first, bundle);
  let rotations = 0;
  const wiring = await createSpiffeTls({
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
  wiring.onServer(server);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    paths,
    write,
    port: (server.address() as AddressInfo).port,
    /** Waits for the one rotation the test made. */
    rotated: async () => {
      const deadline = Date.now() + 5000;
      while (rotations === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(rotations).toBe(1);
    },
    close: () => {
      wiring.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('a trust bundle rotation on a kept-alive mTLS connection', () => {
  // Node verifies the client certificate once, at the handshake, against the bundle of that moment; an HTTP
  // keep-alive connection then carries requests for as long as the client keeps it open. A rotation that drops
  // a CA (a compromised one) must stop its certificates on the connections already open, as it does for new ones.
  it('a client whose CA left the bundle is refused on its open connection too', async () => {
    const newRoot = await makeCa({ name: 'new root' });
    const [serverA, serverB] = await Promise.all([
      makeLeaf({ ca, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
      makeLeaf({ ca: newRoot, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
    ]);
    const { write, port, rotated, close } = await rotatingServer('rotate', serverA, ca.certPem);
    const { agent, get } = keptAliveClient(port, {
      cert: alice.certPem,
      key: alice.keyPem,
      ca: [ca.certPem, newRoot.certPem],
    });
    try {
      expect(await get()).toEqual({ body: ALICE, reused: false });
      write(serverB, newRoot.certPem);
      await rotated();
      const after = await get();
      expect(after.reused).toBe(true);
      expect(after.body).toMatch(
        /^ERR_PEER_CERT_INVALID: client certificate no longer chains to the trust bundle \(it changed since this connection was opened\): certificate does not chain to a trust bundle CA$/,
      );
    } finally {
      agent.destroy();
      close();
    }
  });
});

describe('a trust bundle rotation that keeps the client CA (an overlap bundle)', () => {
  it('open connections keep their identity, with and without an intermediate', async () => {
    const newRoot = await makeCa({ name: 'overlap new root' });
    const mid = await makeIntermediate(ca);
    const bob = await makeLeaf({ ca: mid, uris: [`spiffe://${TD}/agent/bob`], eku: ['clientAuth'] });
    const srv = await makeLeaf({ ca, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] });
    const { paths, port, rotated, close } = await rotatingServer('overlap', srv, ca.certPem);
    const agents = [
      new Agent({ keepAlive: true, maxSockets: 1, cert: alice.certPem, key: alice.keyPem, ca: ca.certPem }),
      new Agent({ keepAlive: true, maxSockets: 1, cert: bob.certPem + mid.certPem, key: bob.keyPem, ca: ca.certPem }),
    ];
    const get = (agent: Agent) =>
      new Promise<string>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve(`${req.reusedSocket ? 'reused' : 'new'} ${body}`));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get(agents[0] as Agent)).toBe(`new ${ALICE}`);
      expect(await get(agents[1] as Agent)).toBe(`new spiffe://${TD}/agent/bob`);
      writeFileSync(paths.bundleFile, newRoot.certPem + ca.certPem);
      await rotated();
      expect(await get(agents[0] as Agent)).toBe(`reused ${ALICE}`);
      expect(await get(agents[1] as Agent)).toBe(`reused spiffe://${TD}/agent/bob`);
    } finally {
      for (const a of agents) a.destroy();
      close();
    }
  });
});

describe('a connection opened before a bundle rotation, its first request after it', () => {
  // An attacker who expects its CA to be dropped opens TLS connections in advance and keeps them idle: the
  // handshake was verified against the old bundle, the first request comes after the rotation.
  it('is checked against the bundle in force at the request', async () => {
    const newRoot = await makeCa({ name: 'preopen new root' });
    const [serverA, serverB] = await Promise.all([
      makeLeaf({ ca, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
      makeLeaf({ ca: newRoot, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
    ]);
    const { write, port, rotated, close } = await rotatingServer('preopen', serverA, ca.certPem);
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      cert: alice.certPem,
      key: alice.keyPem,
      ca: ca.certPem,
      servername: undefined,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', () => resolve());
        socket.once('error', reject);
      });
      // Let the server finish its side of the handshake before the rotation.
      await new Promise((r) => setTimeout(r, 100));
      write(serverB, newRoot.certPem);
      await rotated();
      const reply = await new Promise<string>((resolve, reject) => {
        let data = '';
        socket.setEncoding('utf8');
        socket.on('data', (c) => (data += c));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
        socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      });
      expect(reply.slice(reply.indexOf('\r\n\r\n') + 4)).toMatch(
        /ERR_PEER_CERT_INVALID: client certificate no longer chains to the trust bundle/,
      );
    } finally {
      socket.destroy();
      close();
    }
  });
});
