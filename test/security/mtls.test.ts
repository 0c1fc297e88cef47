import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer, request as httpRequest } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import {
  AuthError,
  createSpiffeTls,
  DevCA,
  isAuthError,
  isTrustedProxy,
  loadSvidFiles,
  mtlsServerOptions,
  peerFromForwardedCert,
  peerFromRequest,
  peerFromSocket,
  runCaCli,
  SvidFilesError,
  type SvidMaterial,
  validateSvid,
  watchSvidFiles,
} from '@ravenhelm/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LeafOptions, makeCa, makeLeaf, type TestCa, type TestIssuer } from '../fixtures/pki.js';

const TD = 'ravenhelm.local';
const HOUR = 60 * 60 * 1000;
const AGENT = `spiffe://${TD}/agent/alice`;
const PREFIX = 'peer certificate is not a valid X.509-SVID: ';

let ca: TestCa;
let otherCa: TestCa;
let tmp: string;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([makeCa({ name: 'ravenhelm test root' }), makeCa({ name: 'someone else' })]);
  tmp = await mkdtemp(join(tmpdir(), 'ravenhelm-mtls-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function leaf(opts: Partial<LeafOptions> = {}): Promise<TestIssuer> {
  return makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'], ...opts });
}

/** `code: message` of the AuthError thrown by fn, or 'ok: <return>'. */
function outcome(fn: () => unknown): string {
  try {
    return `ok: ${String(fn())}`;
  } catch (err) {
    if (isAuthError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
}

const svidCases: Array<[string, Partial<LeafOptions>, string]> = [
  ['two URI SANs', { uris: [AGENT, `spiffe://${TD}/agent/bob`] }, 'expected exactly one URI SAN, found 2'],
  ['no URI SAN', { uris: [], dns: ['localhost'] }, 'expected exactly one URI SAN, found 0'],
  ['no SAN at all', { uris: [] }, 'no subjectAltName'],
  ['non-spiffe URI', { uris: [`https://${TD}/agent/alice`] }, 'URI SAN scheme is not spiffe'],
  ['uppercase scheme', { uris: [`SPIFFE://${TD}/agent/alice`] }, 'URI SAN scheme must be lowercase "spiffe"'],
  [
    'foreign trust domain',
    { uris: ['spiffe://evil.example/agent/alice'] },
    'trust domain "evil.example" is not the configured "ravenhelm.local"',
  ],
  [
    'uppercase trust domain',
    { uris: ['spiffe://Ravenhelm.local/agent/alice'] },
    'trust domain may contain only lowercase letters, digits, ".", "-" and "_"',
  ],
  ['empty segment', { uris: [`spiffe://${TD}/agent//alice`] }, 'SPIFFE ID path has an empty segment'],
  ['dot segment', { uris: [`spiffe://${TD}/agent/./alice`] }, 'SPIFFE ID path has a "." or ".." segment'],
  ['dot-dot segment', { uris: [`spiffe://${TD}/agent/../admin`] }, 'SPIFFE ID path has a "." or ".." segment'],
  ['percent-encoding', { uris: [`spiffe://${TD}/agent/al%69ce`] }, 'SPIFFE ID must not contain percent-encoding'],
  ['trailing slash', { uris: [`spiffe://${TD}/agent/alice/`] }, 'SPIFFE ID must not end with "/"'],
  ['root ID', { uris: [`spiffe://${TD}`] }, 'SPIFFE ID has no path (the trust domain root is not a workload ID)'],
  ['root ID with slash', { uris: [`spiffe://${TD}/`] }, 'SPIFFE ID must not end with "/"'],
  ['empty trust domain', { uris: ['spiffe:///agent/alice'] }, 'SPIFFE ID has an empty trust domain'],
  [
    'query in path',
    { uris: [`spiffe://${TD}/agent/alice?x=1`] },
    'SPIFFE ID path may contain only letters, digits, ".", "-" and "_"',
  ],
  [
    'port in trust domain',
    { uris: [`spiffe://${TD}:443/agent/alice`] },
    'trust domain may contain only lowercase letters, digits, ".", "-" and "_"',
  ],
  [
    'SAN entry smuggling a second URI',
    { uris: [`${AGENT}, URI:spiffe://${TD}/agent/root`] },
    'a subjectAltName entry contains special characters',
  ],
  ['quote in a DNS SAN', { dns: ['a"b.example'] }, 'a subjectAltName entry contains special characters'],
  ['CA leaf', { isCa: true }, 'leaf certificate has basicConstraints CA:TRUE'],
  [
    'keyCertSign set',
    { keyUsage: ['digitalSignature', 'keyCertSign'] },
    'keyUsage of a leaf must not include keyCertSign',
  ],
  ['cRLSign set', { keyUsage: ['digitalSignature', 'cRLSign'] }, 'keyUsage of a leaf must not include cRLSign'],
  ['keyUsage absent', { keyUsage: [] }, 'keyUsage extension is missing'],
  ['no digitalSignature', { keyUsage: ['keyEncipherment'] }, 'keyUsage lacks digitalSignature'],
];

describe('validateSvid', () => {
  it('returns the SPIFFE ID of a valid X.509-SVID', async () => {
    const c = await leaf({ dns: ['localhost'], ips: ['127.0.0.1'] });
    expect(validateSvid(c.x509, { trustDomain: TD })).toBe(AGENT);
  });

  it('accepts the allowed characters in path segments', async () => {
    const id = `spiffe://${TD}/ns/Prod-1/sa/web_api.v2`;
    const c = await leaf({ uris: [id] });
    expect(validateSvid(c.x509, { trustDomain: TD })).toBe(id);
  });

  it.each(svidCases)('refuses %s', async (_name, opts, reason) => {
    const c = await leaf(opts);
    expect(outcome(() => validateSvid(c.x509, { trustDomain: TD }))).toBe(`ERR_PEER_CERT_INVALID: ${PREFIX}${reason}`);
  });

  it('throws an AuthError instance', async () => {
    const c = await leaf({ isCa: true });
    expect(() => validateSvid(c.x509, { trustDomain: TD })).toThrow(AuthError);
  });
});

interface Reply {
  status: number;
  body: { spiffeId?: string | null; code?: string; message?: string };
  serverSerial: string;
}

function writeJson(res: import('node:http').ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function mtlsHandler(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) {
  try {
    const peer = peerFromSocket(req.socket as TLSSocket, { trustDomain: TD });
    writeJson(res, 200, { spiffeId: peer.spiffeId ?? null, der: peer.certificate?.toString('base64') ?? null });
  } catch (err) {
    if (!isAuthError(err)) throw err;
    writeJson(res, 401, { code: err.code, message: err.message });
  }
}

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server | HttpServer | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function call(port: number, bundle: string, client?: { certPem: string; keyPem: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        method: 'GET',
        ca: bundle,
        agent: false,
        ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
      },
      (res) => {
        const serverSerial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data), serverSerial }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function writeSet(dir: string, set: { cert: string; key: string; ca: string }) {
  await writeFile(join(dir, 'svid.pem'), set.cert);
  await writeFile(join(dir, 'svid_key.pem'), set.key, { mode: 0o600 });
  await writeFile(join(dir, 'svid_bundle.pem'), set.ca);
}

function files(dir: string) {
  return {
    certFile: join(dir, 'svid.pem'),
    keyFile: join(dir, 'svid_key.pem'),
    bundleFile: join(dir, 'svid_bundle.pem'),
  };
}

async function serverSvid(name: string, issuer: TestIssuer = ca) {
  return makeLeaf({
    ca: issuer,
    uris: [`spiffe://${TD}/server/${name}`],
    dns: ['localhost'],
    ips: ['127.0.0.1'],
    eku: ['serverAuth', 'clientAuth'],
  });
}

/** Polls `check` every 20 ms, at most `ms` long. */
async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  for (let i = 0; i < ms / 20; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
}

/** A client chain (leaf first, then intermediates) and the leaf key. */
interface ClientChain {
  chain: string[];
  keyPem: string;
}
async function direct(opts: Partial<LeafOptions>): Promise<ClientChain> {
  const c = await leaf(opts);
  return { chain: [c.certPem], keyPem: c.keyPem };
}
async function viaIntermediate(midEku: string[]): Promise<ClientChain> {
  const mid = await makeLeaf({ ca, isCa: true, keyUsage: ['keyCertSign', 'cRLSign'], eku: midEku });
  const c = await leaf({ ca: mid });
  return { chain: [c.certPem, mid.certPem], keyPem: c.keyPem };
}
const ekuCases: Array<[string, () => Promise<ClientChain>, string]> = [
  ['leaf with clientAuth', () => direct({ eku: ['clientAuth'] }), 'accepted'],
  ['leaf without an EKU extension', () => direct({ eku: [] }), 'accepted'],
  [
    'leaf with serverAuth only',
    () => direct({ eku: ['serverAuth'] }),
    'certificate is not for client authentication (extendedKeyUsage lacks clientAuth)',
  ],
  [
    'leaf with codeSigning only',
    () => direct({ eku: ['codeSigning'] }),
    'certificate is not for client authentication (extendedKeyUsage lacks clientAuth)',
  ],
  ['intermediate without an EKU extension', () => viaIntermediate([]), 'accepted'],
  ['intermediate with clientAuth', () => viaIntermediate(['clientAuth']), 'accepted'],
  [
    'intermediate with serverAuth only',
    () => viaIntermediate(['serverAuth']),
    'intermediate CA is not for client authentication (extendedKeyUsage lacks clientAuth)',
  ],
];

describe('direct mTLS: node:https with mtlsServerOptions + peerFromSocket', () => {
  let server: Server | undefined;
  let port: number;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmp, 'server-'));
    const s = await serverSvid('docker');
    await writeSet(dir, { cert: s.certPem, key: s.keyPem, ca: ca.certPem });
    const material = await loadSvidFiles(files(dir), { trustDomain: TD });
    const options = mtlsServerOptions(material);
    expect({
      requestCert: options.requestCert,
      rejectUnauthorized: options.rejectUnauthorized,
      minVersion: options.minVersion,
    }).toEqual({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' });
    server = createServer(options, mtlsHandler);
    port = await listen(server);
  });
  afterAll(() => close(server));

  it('accepts a valid agent SVID and exposes the leaf DER', async () => {
    const c = await leaf();
    const r = await call(port, ca.certPem, c);
    expect(r.status).toBe(200);
    expect(r.body.spiffeId).toBe(AGENT);
    expect(Buffer.from((r.body as { der: string }).der, 'base64').equals(c.x509.raw)).toBe(true);
  });

  it('treats a client without a certificate as anonymous at the TLS layer', async () => {
    const r = await call(port, ca.certPem);
    expect(r).toMatchObject({ status: 200, body: { spiffeId: null } });
  });

  const chainCases: Array<[string, () => Promise<TestIssuer>, string]> = [
    [
      'a certificate from another CA',
      () => makeLeaf({ ca: otherCa, uris: [AGENT] }),
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    ],
    [
      'an expired leaf',
      () => leaf({ notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - HOUR) }),
      'CERT_HAS_EXPIRED',
    ],
    [
      'a not-yet-valid leaf',
      () => leaf({ notBefore: new Date(Date.now() + HOUR), notAfter: new Date(Date.now() + 48 * HOUR) }),
      'CERT_NOT_YET_VALID',
    ],
  ];
  it.each(chainCases)('refuses %s with 401 and the TLS verification reason', async (_n, make, reason) => {
    const r = await call(port, ca.certPem, await make());
    expect(r.status).toBe(401);
    expect(r.body).toEqual({
      code: 'ERR_PEER_CERT_INVALID',
      message: `client certificate rejected by the trust bundle: ${reason}`,
    });
  });

  const tlsSvidCases = svidCases.filter(([name]) =>
    [
      'CA leaf',
      'keyCertSign set',
      'two URI SANs',
      'non-spiffe URI',
      'foreign trust domain',
      'uppercase trust domain',
      'empty segment',
      'dot segment',
      'percent-encoding',
      'trailing slash',
      'root ID',
    ].includes(name),
  );
  it('covers every SVID rule the brief lists over TLS', () => {
    expect(tlsSvidCases).toHaveLength(11);
  });
  it.each(tlsSvidCases)('refuses %s with 401 ERR_PEER_CERT_INVALID', async (_n, opts, reason) => {
    const r = await call(port, ca.certPem, await leaf(opts));
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ code: 'ERR_PEER_CERT_INVALID', message: `${PREFIX}${reason}` });
  });

  // What OpenSSL decides for the ssl_client purpose: the forwarded-certificate path must decide the same.
  it.each(ekuCases)('EKU: %s', async (_n, make, expected) => {
    const c = await make();
    const header = traefikHeader(c.chain, 3);
    const r = await call(port, ca.certPem, { certPem: c.chain.join(''), keyPem: c.keyPem });
    const direct = r.status === 200 ? 'accepted' : 'refused';
    const forwarded = outcome(() => peerFromForwardedCert(header, { bundle: ca.certPem, trustDomain: TD }));
    expect({ direct, forwarded: forwarded.startsWith('ok:') ? 'accepted' : forwarded }).toEqual({
      direct: expected === 'accepted' ? 'accepted' : 'refused',
      forwarded:
        expected === 'accepted'
          ? 'accepted'
          : `ERR_PEER_CERT_INVALID: forwarded client certificate rejected: ${expected}`,
    });
    if (direct === 'refused') expect(r.body.message).toMatch(/INVALID_PURPOSE|unsupported certificate purpose/i);
  });
});

describe('loadSvidFiles', () => {
  it('refuses a key that does not match the certificate, without echoing the key', async () => {
    const dir = await mkdtemp(join(tmp, 'load-'));
    const [a, b] = await Promise.all([serverSvid('a'), serverSvid('b')]);
    await writeSet(dir, { cert: a.certPem, key: b.keyPem, ca: ca.certPem });
    const err = await loadSvidFiles(files(dir)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SvidFilesError);
    expect((err as Error).message).toBe('SVID files rejected: key file does not match the certificate');
    expect((err as Error).message).not.toContain('PRIVATE KEY');
  });

  it('refuses a certificate that does not chain to the bundle', async () => {
    const dir = await mkdtemp(join(tmp, 'load-'));
    const a = await serverSvid('a', otherCa);
    await writeSet(dir, { cert: a.certPem, key: a.keyPem, ca: ca.certPem });
    await expect(loadSvidFiles(files(dir))).rejects.toThrow(
      'SVID files rejected: certificate does not chain to a trust bundle CA',
    );
  });

  it('accepts a chain through an intermediate carried in the certificate file', async () => {
    const dir = await mkdtemp(join(tmp, 'load-'));
    const mid = await makeLeaf({ ca, isCa: true, keyUsage: ['keyCertSign', 'cRLSign'], eku: [] });
    const a = await serverSvid('a', mid);
    await writeSet(dir, { cert: a.certPem + mid.certPem, key: a.keyPem, ca: ca.certPem });
    const m = await loadSvidFiles(files(dir), { trustDomain: TD });
    expect(m.cert).toBe(a.certPem + mid.certPem);
    // Without the intermediate the leaf does not reach the root.
    await writeSet(dir, { cert: a.certPem, key: a.keyPem, ca: ca.certPem });
    await expect(loadSvidFiles(files(dir))).rejects.toThrow('certificate does not chain to a trust bundle CA');
  });

  it('refuses an expired own certificate and a missing file', async () => {
    const dir = await mkdtemp(join(tmp, 'load-'));
    const a = await makeLeaf({
      ca,
      uris: [`spiffe://${TD}/server/a`],
      notBefore: new Date(Date.now() - 48 * HOUR),
      notAfter: new Date(Date.now() - HOUR),
    });
    await writeSet(dir, { cert: a.certPem, key: a.keyPem, ca: ca.certPem });
    await expect(loadSvidFiles(files(dir))).rejects.toThrow(/^SVID files rejected: certificate has expired/);
    await expect(loadSvidFiles({ ...files(dir), keyFile: join(dir, 'nope.pem') })).rejects.toThrow(
      'SVID files rejected: cannot read the key file (ENOENT)',
    );
  });
});

describe('SVID rotation: watchSvidFiles + server.setSecureContext', () => {
  let server: Server | undefined;
  let watcher: { close(): void } | undefined;
  afterAll(async () => {
    watcher?.close();
    await close(server);
  });

  it('picks up a new valid server SVID and keeps it over half-written or mismatched sets', async () => {
    const dir = await mkdtemp(join(tmp, 'rotate-'));
    const [first, second, third] = await Promise.all([serverSvid('r1'), serverSvid('r2'), serverSvid('r3')]);
    await writeSet(dir, { cert: first.certPem, key: first.keyPem, ca: ca.certPem });
    const initial = await loadSvidFiles(files(dir), { trustDomain: TD });
    server = createServer(mtlsServerOptions(initial), mtlsHandler);
    const port = await listen(server);
    const client = await leaf();

    const changes: SvidMaterial[] = [];
    const errors: Error[] = [];
    watcher = watchSvidFiles({
      ...files(dir),
      trustDomain: TD,
      // Long enough that the three separate writes of a set land in one reload.
      debounceMs: 200,
      onChange: (m) => {
        changes.push(m);
        server?.setSecureContext(mtlsServerOptions(m));
      },
      onError: (e) => errors.push(e),
    });

    const before = await call(port, ca.certPem, client);
    expect(before.serverSerial).toBe(first.x509.serialNumber);

    // A valid new set: three separate writes, as spiffe-helper does.
    await writeSet(dir, { cert: second.certPem, key: second.keyPem, ca: ca.certPem });
    await waitFor(() => changes.length === 1);
    const rotated = await call(port, ca.certPem, client);
    expect(rotated.serverSerial).toBe(second.x509.serialNumber);
    expect(rotated.body.spiffeId).toBe(AGENT);
    expect(errors).toEqual([]);

    // Half-written certificate: truncated PEM.
    await writeFile(join(dir, 'svid.pem'), third.certPem.slice(0, Math.floor(third.certPem.length / 2)));
    await waitFor(() => errors.length >= 1);
    expect(errors[0]?.message).toBe(
      'SVID files rejected: certificate file: incomplete PEM (truncated or half-written)',
    );
    expect((await call(port, ca.certPem, client)).serverSerial).toBe(second.x509.serialNumber);

    // Complete certificate, but the key on disk is still the previous one.
    const errorsBefore = errors.length;
    await writeFile(join(dir, 'svid.pem'), third.certPem);
    await waitFor(() => errors.length > errorsBefore);
    expect(errors.at(-1)?.message).toBe('SVID files rejected: key file does not match the certificate');
    expect((await call(port, ca.certPem, client)).serverSerial).toBe(second.x509.serialNumber);

    // Truncated key file.
    const errorsBefore2 = errors.length;
    await writeFile(join(dir, 'svid_key.pem'), third.keyPem.slice(0, 40));
    await waitFor(() => errors.length > errorsBefore2);
    expect(errors.at(-1)?.message).toBe(
      'SVID files rejected: key file: not a readable PEM private key (truncated, encrypted or wrong format)',
    );
    expect(errors.every((e) => !e.message.includes(third.keyPem.slice(30, 60)))).toBe(true);
    expect(changes).toHaveLength(1);
    expect((await call(port, ca.certPem, client)).serverSerial).toBe(second.x509.serialNumber);

    // The key completes the set: rotation goes through.
    await writeFile(join(dir, 'svid_key.pem'), third.keyPem);
    await waitFor(() => changes.length === 2);
    expect((await call(port, ca.certPem, client)).serverSerial).toBe(third.x509.serialNumber);
  });

  it('sees a file replaced by rename (directory watch)', async () => {
    const dir = await mkdtemp(join(tmp, 'rename-'));
    const [a, b] = await Promise.all([serverSvid('n1'), serverSvid('n2')]);
    await writeSet(dir, { cert: a.certPem, key: a.keyPem, ca: ca.certPem });
    const changes: SvidMaterial[] = [];
    const w = watchSvidFiles({ ...files(dir), debounceMs: 30, onChange: (m) => changes.push(m), onError: () => {} });
    try {
      const { rename } = await import('node:fs/promises');
      await writeFile(join(dir, 'svid_key.pem.new'), b.keyPem);
      await writeFile(join(dir, 'svid.pem.new'), b.certPem);
      await rename(join(dir, 'svid_key.pem.new'), join(dir, 'svid_key.pem'));
      await rename(join(dir, 'svid.pem.new'), join(dir, 'svid.pem'));
      await waitFor(() => changes.length === 1);
      expect(changes[0]?.cert).toBe(b.certPem);
      expect(changes[0]?.key).toBe(b.keyPem);
    } finally {
      w.close();
    }
  });
});

describe('createSpiffeTls: the one-call wiring for the kit', () => {
  let server: Server | undefined;
  let closeWiring: (() => void) | undefined;
  afterAll(async () => {
    closeWiring?.();
    await close(server);
  });

  it('serves mTLS, resolves peers per request and applies rotations to the server', async () => {
    const dir = await mkdtemp(join(tmp, 'wiring-'));
    const [first, second] = await Promise.all([serverSvid('w1'), serverSvid('w2')]);
    await writeSet(dir, { cert: first.certPem, key: first.keyPem, ca: ca.certPem });
    const errors: Error[] = [];
    const rotations: string[] = [];
    const wiring = await createSpiffeTls({
      ...files(dir),
      trustDomain: TD,
      debounceMs: 100,
      onError: (e) => errors.push(e),
      onRotate: (m) => rotations.push(new X509Certificate(m.cert).serialNumber),
    });
    closeWiring = wiring.close;
    expect(wiring.options.rejectUnauthorized).toBe(false);
    server = createServer(wiring.options, (req, res) => {
      wiring.peer(req).then(
        (peer) => writeJson(res, 200, { spiffeId: peer.spiffeId ?? null }),
        (err: AuthError) => writeJson(res, 401, { code: err.code, message: err.message }),
      );
    });
    wiring.onServer(server);
    const port = await listen(server);
    const client = await leaf();
    const r1 = await call(port, ca.certPem, client);
    expect(r1).toMatchObject({ status: 200, body: { spiffeId: AGENT }, serverSerial: first.x509.serialNumber });
    const bad = await call(port, ca.certPem, await leaf({ isCa: true }));
    expect(bad.status).toBe(401);

    await writeSet(dir, { cert: second.certPem, key: second.keyPem, ca: ca.certPem });
    await waitFor(() => rotations.length === 1);
    expect(rotations).toEqual([second.x509.serialNumber]);
    expect((await call(port, ca.certPem, client)).serverSerial).toBe(second.x509.serialNumber);
    expect(errors).toEqual([]);
  });

  it('refuses to start with files that do not belong together', async () => {
    const dir = await mkdtemp(join(tmp, 'wiring-'));
    const [a, b] = await Promise.all([serverSvid('x1'), serverSvid('x2')]);
    await writeSet(dir, { cert: a.certPem, key: b.keyPem, ca: ca.certPem });
    await expect(createSpiffeTls({ ...files(dir), trustDomain: TD, onError: () => {} })).rejects.toThrow(
      'SVID files rejected: key file does not match the certificate',
    );
  });
});

/** Traefik v3: PEM body without BEGIN/END lines and newlines; v2 additionally url.QueryEscape'd. */
function traefikHeader(certs: string[], version: 2 | 3): string {
  return certs
    .map((pem) => {
      const body = pem
        .replace('-----BEGIN CERTIFICATE-----', '')
        .replace('-----END CERTIFICATE-----', '')
        .replace(/\n/g, '');
      return version === 2 ? encodeURIComponent(body) : body;
    })
    .join(',');
}

describe('Traefik forwarded client certificate', () => {
  it.each([2, 3] as const)('accepts a valid SVID (Traefik v%d encoding)', async (v) => {
    const c = await leaf();
    const header = traefikHeader([c.certPem], v);
    if (v === 2) expect(header).toContain('%');
    const peer = peerFromForwardedCert(header, { bundle: ca.certPem, trustDomain: TD });
    expect(peer.spiffeId).toBe(AGENT);
    expect(peer.certificate.equals(c.x509.raw)).toBe(true);
  });

  it('accepts a leaf with its intermediate, comma-separated', async () => {
    const mid = await makeLeaf({ ca, isCa: true, keyUsage: ['keyCertSign', 'cRLSign'], eku: [] });
    const c = await leaf({ ca: mid });
    const header = traefikHeader([c.certPem, mid.certPem], 2);
    expect(peerFromForwardedCert(header, { bundle: ca.certPem, trustDomain: TD }).spiffeId).toBe(AGENT);
    const wholeEscaped = encodeURIComponent(traefikHeader([c.certPem, mid.certPem], 3));
    expect(wholeEscaped).toContain('%2C');
    expect(peerFromForwardedCert(wholeEscaped, { bundle: ca.certPem, trustDomain: TD }).spiffeId).toBe(AGENT);
    expect(
      outcome(() => peerFromForwardedCert(traefikHeader([c.certPem], 2), { bundle: ca.certPem, trustDomain: TD })),
    ).toBe(
      'ERR_PEER_CERT_INVALID: forwarded client certificate rejected: certificate does not chain to a trust bundle CA',
    );
  });

  it('refuses a certificate from another CA', async () => {
    const c = await makeLeaf({ ca: otherCa, uris: [AGENT] });
    expect(
      outcome(() => peerFromForwardedCert(traefikHeader([c.certPem], 3), { bundle: ca.certPem, trustDomain: TD })),
    ).toBe(
      'ERR_PEER_CERT_INVALID: forwarded client certificate rejected: certificate does not chain to a trust bundle CA',
    );
  });

  it('refuses an expired certificate, and honours `now`', async () => {
    // The CA is valid from 1 h ago: expire the leaf 10 min ago and go back 20 min with `now`.
    const notAfter = new Date(Date.now() - 10 * 60_000);
    const c = await leaf({ notBefore: new Date(Date.now() - 48 * HOUR), notAfter });
    const header = traefikHeader([c.certPem], 2);
    expect(outcome(() => peerFromForwardedCert(header, { bundle: ca.certPem, trustDomain: TD }))).toBe(
      `ERR_PEER_CERT_INVALID: forwarded client certificate rejected: certificate has expired (notAfter ${c.x509.validTo})`,
    );
    const earlier = new Date(Date.now() - 20 * 60_000);
    expect(peerFromForwardedCert(header, { bundle: ca.certPem, trustDomain: TD, now: earlier }).spiffeId).toBe(AGENT);
  });

  it('refuses a chained certificate that breaks the SVID rules', async () => {
    const c = await leaf({ uris: [AGENT, `spiffe://${TD}/agent/bob`] });
    expect(
      outcome(() => peerFromForwardedCert(traefikHeader([c.certPem], 3), { bundle: ca.certPem, trustDomain: TD })),
    ).toBe(`ERR_PEER_CERT_INVALID: ${PREFIX}expected exactly one URI SAN, found 2`);
  });

  it.each([
    ['', 'certificate 1 is not base64 DER'],
    ['not a certificate!', 'certificate 1 is not base64 DER'],
    ['garbage', 'certificate 1 does not parse'],
    ['%E0%A4%A', 'header is not valid URL encoding'],
    ['QUJDRA==', 'certificate 1 does not parse'],
    ['A'.repeat(70_000), 'header too large'],
    [Array(9).fill('QUJD').join(','), 'more than 8 certificates'],
  ])('refuses garbage %#', (header, reason) => {
    expect(outcome(() => peerFromForwardedCert(header, { bundle: ca.certPem, trustDomain: TD }))).toBe(
      `ERR_PEER_CERT_INVALID: forwarded client certificate rejected: ${reason}`,
    );
  });
});

describe('isTrustedProxy', () => {
  it.each([
    ['127.0.0.1', ['127.0.0.1'], true],
    ['::ffff:127.0.0.1', ['127.0.0.1'], true],
    ['127.0.0.2', ['127.0.0.1'], false],
    ['10.1.2.3', ['10.0.0.0/8'], true],
    ['::ffff:10.1.2.3', ['10.0.0.0/8'], true],
    ['11.0.0.1', ['10.0.0.0/8'], false],
    ['192.168.1.255', ['192.168.1.0/24'], true],
    ['192.168.2.0', ['192.168.1.0/24'], false],
    ['::1', ['::1'], true],
    ['fd00::5', ['fd00::/8'], true],
    ['127.0.0.1', [], false],
    [undefined, ['127.0.0.1'], false],
    ['127.0.0.1', ['not-an-ip', '127.0.0.0/33'], false],
    ['garbage', ['0.0.0.0/0'], false],
  ] as Array<[string | undefined, string[], boolean]>)('%s in %j -> %s', (addr, list, expected) => {
    expect(isTrustedProxy(addr, list)).toBe(expected);
  });
});

describe('peerFromRequest behind a proxy (plain HTTP)', () => {
  let server: HttpServer | undefined;
  let port: number;
  let trusted: string[] = ['127.0.0.1'];
  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      try {
        const peer = peerFromRequest(req, { trustDomain: TD, trustedProxies: trusted, bundle: ca.certPem });
        writeJson(res, 200, { spiffeId: peer.spiffeId ?? null });
      } catch (err) {
        if (!isAuthError(err)) throw err;
        writeJson(res, 401, { code: err.code, message: err.message });
      }
    });
    port = await listen(server);
  });
  afterAll(() => close(server));

  function get(header?: string | string[]): Promise<{ status: number; body: Reply['body'] }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/',
          agent: false,
          headers: header === undefined ? {} : { 'x-forwarded-tls-client-cert': header },
        },
        (res) => {
          let data = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(data) }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('believes the header from a trusted proxy, ignores it from anyone else', async () => {
    const c = await leaf();
    const header = traefikHeader([c.certPem], 2);
    trusted = ['127.0.0.1'];
    expect(await get(header)).toEqual({ status: 200, body: { spiffeId: AGENT } });
    expect(await get()).toEqual({ status: 200, body: { spiffeId: null } });
    expect(await get('<garbage>')).toEqual({
      status: 401,
      body: {
        code: 'ERR_PEER_CERT_INVALID',
        message: 'forwarded client certificate rejected: certificate 1 is not base64 DER',
      },
    });
    trusted = ['10.0.0.0/8'];
    expect(await get(header)).toEqual({ status: 200, body: { spiffeId: null } });
  });

  // Issue 7 item 12: Node joins repeated headers with ", ", which read as leaf + intermediate.
  it('refuses two forwarded certificate headers, whichever comes first', async () => {
    trusted = ['127.0.0.1'];
    const [alice, bob] = await Promise.all([leaf(), leaf({ uris: [`spiffe://${TD}/agent/bob`] })]);
    const refused = {
      status: 401,
      body: { code: 'ERR_PEER_CERT_INVALID', message: 'more than one forwarded client certificate header' },
    };
    expect(await get([traefikHeader([alice.certPem], 3), traefikHeader([bob.certPem], 3)])).toEqual(refused);
    expect(await get([traefikHeader([bob.certPem], 2), traefikHeader([alice.certPem], 2)])).toEqual(refused);
    expect(await get([traefikHeader([alice.certPem], 3), ''])).toEqual(refused);
    // One header carrying a leaf and its intermediate stays fine.
    const mid = await makeLeaf({ ca, isCa: true, keyUsage: ['keyCertSign', 'cRLSign'], eku: [] });
    const carol = await leaf({ ca: mid, uris: [`spiffe://${TD}/agent/carol`] });
    expect(await get(traefikHeader([carol.certPem, mid.certPem], 3))).toEqual({
      status: 200,
      body: { spiffeId: `spiffe://${TD}/agent/carol` },
    });
  });

  it('refuses a forwarded leaf whose extendedKeyUsage lacks clientAuth (as OpenSSL does on direct mTLS)', async () => {
    trusted = ['127.0.0.1'];
    const serverOnly = await leaf({ eku: ['serverAuth'] });
    expect(await get(traefikHeader([serverOnly.certPem], 3))).toEqual({
      status: 401,
      body: {
        code: 'ERR_PEER_CERT_INVALID',
        message:
          'forwarded client certificate rejected: certificate is not for client authentication (extendedKeyUsage lacks clientAuth)',
      },
    });
  });
});

describe('DevCA and the ca CLI', () => {
  it('creates the root once (key 0600), issues agent and server SVIDs that pass mTLS end to end', async () => {
    const dir = join(tmp, 'devca');
    const devca = await DevCA.open(dir);
    const caPem = await readFile(devca.caCertFile, 'utf8');
    expect(((await stat(join(dir, 'ca', 'ca_key.pem'))).mode & 0o777).toString(8)).toBe('600');
    const again = await DevCA.open(dir);
    expect(await readFile(again.caCertFile, 'utf8')).toBe(caPem);

    const agent = await devca.issueAgentSvid('oncall');
    const srv = await devca.issueServerSvid('docker');
    expect(agent).toEqual({
      spiffeId: 'spiffe://ravenhelm.local/agent/oncall',
      dir: join(dir, 'agents', 'oncall'),
      certFile: join(dir, 'agents', 'oncall', 'svid.pem'),
      keyFile: join(dir, 'agents', 'oncall', 'svid_key.pem'),
      bundleFile: join(dir, 'agents', 'oncall', 'svid_bundle.pem'),
    });
    expect(srv.spiffeId).toBe('spiffe://ravenhelm.local/server/docker');
    expect(((await stat(agent.keyFile)).mode & 0o777).toString(8)).toBe('600');
    expect(((await stat(srv.keyFile)).mode & 0o777).toString(8)).toBe('600');
    expect(await readFile(agent.bundleFile, 'utf8')).toBe(await readFile(devca.bundleFile, 'utf8'));

    const agentCert = new X509Certificate(await readFile(agent.certFile));
    expect(agentCert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    const srvCert = new X509Certificate(await readFile(srv.certFile));
    expect(srvCert.subjectAltName).toBe(
      'URI:spiffe://ravenhelm.local/server/docker, DNS:localhost, IP Address:127.0.0.1',
    );
    expect(srvCert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);

    const material = await loadSvidFiles(srv, { trustDomain: TD });
    const server = createServer(mtlsServerOptions(material), mtlsHandler);
    try {
      const port = await listen(server);
      const r = await call(port, await readFile(agent.bundleFile, 'utf8'), {
        certPem: await readFile(agent.certFile, 'utf8'),
        keyPem: await readFile(agent.keyFile, 'utf8'),
      });
      expect(r.status).toBe(200);
      expect(r.body.spiffeId).toBe('spiffe://ravenhelm.local/agent/oncall');
    } finally {
      await close(server);
    }
  });

  it('refuses identity names that are not one SPIFFE path segment', async () => {
    const devca = await DevCA.open(join(tmp, 'devca'));
    await expect(devca.issueAgentSvid('../escape')).rejects.toThrow('invalid identity name "../escape"');
    await expect(devca.issueServerSvid('a/b')).rejects.toThrow('invalid identity name "a/b"');
  });

  it('runCaCli: init, svid --agent, server --name, usage errors', async () => {
    const dir = join(tmp, 'cli');
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) };
    expect(await runCaCli(['ca', 'init', '--dir', dir], io)).toBe(0);
    expect(JSON.parse(out[0] as string)).toEqual({
      trustDomain: 'ravenhelm.local',
      caCertFile: join(dir, 'ca', 'ca.pem'),
      bundleFile: join(dir, 'bundle.pem'),
    });
    expect(await runCaCli(['ca', 'svid', '--agent', 'alice', '--dir', dir], io)).toBe(0);
    expect(JSON.parse(out[1] as string).certFile).toBe(join(dir, 'agents', 'alice', 'svid.pem'));
    expect(await runCaCli(['server', '--name', 'docker', '--dir', dir], io)).toBe(0);
    const srv = JSON.parse(out[2] as string);
    expect(srv.spiffeId).toBe('spiffe://ravenhelm.local/server/docker');
    await expect(loadSvidFiles(srv, { trustDomain: TD })).resolves.toMatchObject({ ca: expect.any(String) });
    expect(await runCaCli(['ca', 'svid', '--dir', dir], io)).toBe(2);
    expect(err.at(-1)?.split('\n')[0]).toBe('ca svid needs --agent NAME');
    expect(await runCaCli(['ca', 'frobnicate'], io)).toBe(2);
    expect(await runCaCli(['ca', 'init', '--bogus'], io)).toBe(2);
    expect(out).toHaveLength(3);
  });
});
