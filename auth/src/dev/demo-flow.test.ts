// The demo's identity flow end to end: dev CA SVIDs, a dev-issuer token bound to the agent's
// certificate (RFC 8705) and client id (SPIFFE binding), checked by an mTLS server.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { isAuthError } from '../errors.js';
import { createOAuthAuthenticator, type OAuthAuthenticator } from '../oauth/authenticator.js';
import { createSpiffeTls, type SpiffeTls } from '../spiffe/tls.js';
import { DevCA, type SvidPaths } from './ca.js';
import { DevIssuer } from './issuer.js';
import { runIssuerCli } from './issuer-cli.js';

let dir: string;
let issuer: DevIssuer;
let tls: SpiffeTls;
let server: Server;
let auth: OAuthAuthenticator;
let port: number;
let oncall: SvidPaths;
let intruder: SvidPaths;
let ca: DevCA;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ravenhelm-demo-flow-'));
  ca = await DevCA.open(join(dir, 'pki'));
  const serverSvid = await ca.issueServerSvid('docker');
  oncall = await ca.issueAgentSvid('oncall');
  intruder = await ca.issueAgentSvid('intruder');
  issuer = await DevIssuer.open({ stateDir: join(dir, 'state') });
  const { issuer: issuerUrl } = await issuer.listen({ port: 0 });
  tls = await createSpiffeTls({ ...serverSvid, trustDomain: ca.trustDomain, onError: () => {} });
  server = createServer(tls.options, async (req, res) => {
    try {
      const peer = await tls.peer(req);
      const principal = await auth.authenticate({
        headers: req.headers as Record<string, string>,
        remoteAddress: req.socket.remoteAddress,
        peerSpiffeId: peer.spiffeId,
        peerCertificate: peer.certificate,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(principal));
    } catch (err) {
      res
        .writeHead(401, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: isAuthError(err) ? err.code : 'other' }));
    }
  });
  tls.onServer(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  auth = createOAuthAuthenticator({
    issuer: issuerUrl,
    resource: `https://127.0.0.1:${port}/mcp`,
    spiffeBindings: { oncall: [`spiffe://${ca.trustDomain}/agent/oncall`] },
  });
});

afterAll(async () => {
  await auth?.close();
  tls?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await issuer?.close();
  await rm(dir, { recursive: true, force: true });
});

async function call(token: string, client?: SvidPaths): Promise<{ status: number; body: Record<string, unknown> }> {
  const bundle = await readFile(oncall.bundleFile, 'utf8');
  const cert = client ? await readFile(client.certFile, 'utf8') : undefined;
  const key = client ? await readFile(client.keyFile, 'utf8') : undefined;
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/mcp',
        method: 'GET',
        ca: bundle,
        cert,
        key,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        let data = '';
        res.on('data', (c) => {
          data += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function cliToken(args: string[]): Promise<string> {
  const out: string[] = [];
  const code = await runIssuerCli(['token', ...args, '--state', join(dir, 'state')], {
    stdout: (l) => out.push(l),
    stderr: () => {},
  });
  expect(code).toBe(0);
  return out[0] as string;
}

test('a certificate-bound dev token works only over the agent SVID it is bound to', async () => {
  const token = await cliToken([
    '--agent',
    'oncall',
    '--scope',
    'mcp:docker:read',
    '--aud',
    `https://127.0.0.1:${port}/mcp`,
    '--cnf-cert',
    oncall.certFile,
  ]);
  const ok = await call(token, oncall);
  expect(ok.status).toBe(200);
  expect(ok.body).toMatchObject({
    subject: 'oncall',
    spiffeId: `spiffe://${ca.trustDomain}/agent/oncall`,
    scopes: ['mcp:docker:read'],
  });
  expect((await call(token, intruder)).body).toEqual({ code: 'ERR_TOKEN_BINDING' });
  expect((await call(token)).body).toEqual({ code: 'ERR_TOKEN_BINDING' });
});

test('the SPIFFE binding holds for an unbound-certificate token too', async () => {
  const token = await cliToken([
    '--agent',
    'oncall',
    '--scope',
    'mcp:docker:read',
    '--aud',
    `https://127.0.0.1:${port}/mcp`,
  ]);
  expect((await call(token, oncall)).status).toBe(200);
  expect((await call(token, intruder)).body).toEqual({ code: 'ERR_TOKEN_BINDING' });
  // An agent without a binding entry may call from any verified SVID, or none.
  const other = await cliToken([
    '--agent',
    'reporter',
    '--scope',
    'mcp:docker:read',
    '--aud',
    `https://127.0.0.1:${port}/mcp`,
  ]);
  expect((await call(other, intruder)).body).toMatchObject({
    subject: 'reporter',
    spiffeId: `spiffe://${ca.trustDomain}/agent/intruder`,
  });
  expect((await call(other)).body).toMatchObject({ subject: 'reporter' });
});
