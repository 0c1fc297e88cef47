/**
 * A client certificate the SPIFFE check refuses (ERR_PEER_CERT_INVALID) closes its connection: the identity belongs
 * to the connection, so a kept-alive one must not carry the refused identity into the next request. Real mTLS
 * handshakes (generated CA and SVIDs) against startHttp, and node:https's keep-alive Agent as the client.
 * Also: startHttp hands the listener to the SPIFFE wiring (onServer) before it listens, so a connection accepted
 * while the start is still under way has its handshake recorded like any other.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { createSpiffeTls, directPeerStats, type SpiffeTls } from '@ravenhelm/auth';
import {
  createMemoryAuditSink,
  createRuntime,
  type HttpServerHandle,
  loadConfig,
  type SuiteRuntime,
  silentLogger,
  startHttp,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoServer } from '../fixtures/echo-server.js';
import { staticTokens } from '../fixtures/kit-harness.js';
import { makeCa, makeLeaf, type TestCa, type TestIssuer } from '../fixtures/pki.js';

const TD = 'ravenhelm.test';

let ca: TestCa;
let good: TestIssuer;
let bad: TestIssuer;
let dir: string;
let files: { certFile: string; keyFile: string; bundleFile: string };
let wiring: SpiffeTls;
let rt: SuiteRuntime;
let http: HttpServerHandle;

beforeAll(async () => {
  ca = await makeCa({ name: 'close-on-refusal root' });
  let server: TestIssuer;
  [server, good, bad] = await Promise.all([
    makeLeaf({ ca, uris: [`spiffe://${TD}/server/echo`], ips: ['127.0.0.1'], eku: ['serverAuth'] }),
    makeLeaf({ ca, uris: [`spiffe://${TD}/agent/alice`], eku: ['clientAuth'] }),
    // chained to the trusted CA, so the TLS handshake passes; another trust domain, so the SPIFFE check refuses it
    makeLeaf({ ca, uris: ['spiffe://elsewhere.test/agent/mallory'], eku: ['clientAuth'] }),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'rh-peer-close-'));
  files = { certFile: join(dir, 'svid.pem'), keyFile: join(dir, 'key.pem'), bundleFile: join(dir, 'bundle.pem') };
  writeFileSync(files.certFile, server.certPem);
  writeFileSync(files.keyFile, server.keyPem);
  writeFileSync(files.bundleFile, ca.certPem);
  wiring = await createSpiffeTls({ ...files, trustDomain: TD, onError: () => {} });
  const def = echoServer();
  const config = loadConfig({ backendSchema: def.backendConfig, env: { RAVENHELM_HTTP_PORT: '0' } });
  rt = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
  http = await startHttp(rt, {
    authenticator: staticTokens({ t: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] } }),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
    tls: { options: wiring.options, peer: wiring.peer },
  });
});
afterAll(async () => {
  await http?.shutdown();
  await rt?.close();
  wiring?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
  reused: boolean;
  /** Resolves when the socket this request went over closes. */
  socketClosed: Promise<void>;
}

/** One POST of tools/list over the agent's (single, kept-alive) connection. */
function post(agent: Agent): Promise<Answer> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: http.port,
        path: new URL(http.url).pathname,
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: 'Bearer t',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        const socket = res.socket;
        const socketClosed = new Promise<void>((r) => (socket.destroyed ? r() : socket.once('close', () => r())));
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            connection: res.headers.connection,
            body: text,
            reused: req.reusedSocket,
            socketClosed,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('a refused client certificate closes its kept-alive connection', () => {
  it('a valid SVID keeps its connection (the Agent reuses it)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: good.certPem, key: good.keyPem, ca: ca.certPem });
    try {
      const first = await post(agent);
      expect(first.status).toBe(200);
      expect(first.connection).toBe('keep-alive');
      const second = await post(agent);
      expect(second.status).toBe(200);
      expect(second.reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('ERR_PEER_CERT_INVALID answers Connection: close, the socket closes and the next request handshakes anew', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, cert: bad.certPem, key: bad.keyPem, ca: ca.certPem });
    try {
      const first = await post(agent);
      expect(first.status).toBe(401);
      expect(JSON.parse(first.body).error.data.code).toBe('ERR_PEER_CERT_INVALID');
      expect(first.connection).toBe('close');
      await first.socketClosed;
      const second = await post(agent);
      expect(second.status).toBe(401);
      expect(second.reused).toBe(false);
    } finally {
      agent.destroy();
    }
  });
});

describe('startHttp gives the listener to onServer before it listens', () => {
  it('a connection accepted while startHttp still resolves its authenticator is covered (no chain re-check)', async () => {
    const early = await createSpiffeTls({ ...files, trustDomain: TD, onError: () => {} });
    const def = echoServer();
    const config = loadConfig({ backendSchema: def.backendConfig, env: { RAVENHELM_HTTP_PORT: '0' } });
    const rt2 = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
    let listeningAtOnServer: boolean | undefined;
    let socket: TLSSocket | undefined;
    const h2 = await startHttp(rt2, {
      // as an OAuth authenticator resolving the issuer's discovery: the port already accepts connections
      authenticator: async (resourceUrl) => {
        const port = Number(new URL(resourceUrl).port);
        socket = tlsConnect({ host: '127.0.0.1', port, cert: good.certPem, key: good.keyPem, ca: ca.certPem });
        await new Promise<void>((resolve, reject) => {
          socket?.once('secureConnect', () => resolve());
          socket?.once('error', reject);
        });
        // the server's side of the handshake ('secureConnection') runs before this
        await new Promise((r) => setTimeout(r, 100));
        return staticTokens({ t: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] } });
      },
      authorizationServers: ['http://127.0.0.1:1/issuer'],
      tls: { options: early.options, peer: early.peer },
      onServer: (server) => {
        listeningAtOnServer = server.listening;
        early.onServer(server as never);
      },
    });
    try {
      const before = directPeerStats().chainChecks;
      const status = await new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
        const req = request(
          {
            host: '127.0.0.1',
            port: h2.port,
            path: new URL(h2.url).pathname,
            method: 'POST',
            createConnection: () => socket as TLSSocket,
            headers: {
              'content-type': 'application/json',
              accept: 'application/json',
              authorization: 'Bearer t',
              'content-length': Buffer.byteLength(body),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(status).toBe(200);
      // its handshake was recorded at 'secureConnection': no chain verification at the first request
      expect(directPeerStats().chainChecks - before).toBe(0);
      expect(listeningAtOnServer).toBe(false);
    } finally {
      socket?.destroy();
      await h2.shutdown();
      await rt2.close();
      early.close();
    }
  });
});
