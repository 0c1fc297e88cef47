// pathLenConstraint (RFC 5280 4.2.1.9, 6.1.4 (m)): a CA may cap how many intermediates sit below it. On direct
// mTLS OpenSSL enforces it (X509_V_ERR_PATH_LENGTH_EXCEEDED, reported by Node as PATH_LENGTH_EXCEEDED); a client
// certificate forwarded by Traefik is verified by our own chain builder, which must refuse the same chains,
// or an intermediate that was only allowed to issue workload SVIDs could mint a sub-CA whose SVIDs count.
// Each case runs both ways: OpenSSL through a real TLS handshake, then the forwarded-header path.
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';
import { isAuthError, peerFromForwardedCert, peerFromSocket } from '@ravenhelm/auth';
import { afterAll, describe, expect, it } from 'vitest';
import { makeLeaf, type TestIssuer } from '../fixtures/pki.js';

const TD = 'ravenhelm.test';
const AGENT = `spiffe://${TD}/agent/oncall`;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;

/** A CA certificate with a pathLenConstraint: self-signed when `parent` is absent. */
async function caWithPathLen(name: string, pathLen: number | undefined, parent?: TestIssuer): Promise<TestIssuer> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const extensions = [
    new BasicConstraintsExtension(true, pathLen, true),
    new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
    await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(parent ? [await AuthorityKeyIdentifierExtension.create(parent.cert)] : []),
  ];
  const common = {
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - HOUR),
    notAfter: new Date(Date.now() + 24 * HOUR),
    extensions,
  };
  const cert = parent
    ? await X509CertificateGenerator.create({
        ...common,
        subject: `CN=${name}`,
        issuer: parent.cert.subject,
        publicKey: keys.publicKey,
        signingKey: parent.privateKey,
      })
    : await X509CertificateGenerator.createSelfSigned({ ...common, name: `CN=${name}`, keys });
  const certPem = `${cert.toString('pem')}\n`;
  const keyPem = PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { cert, privateKey: keys.privateKey, certPem, keyPem, x509: new X509Certificate(certPem) };
}

function svid(ca: TestIssuer) {
  return makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'] });
}

/** Traefik v3's header: PEM bodies without BEGIN/END lines and newlines, comma-separated, leaf first. */
function forwarded(chain: TestIssuer[]): string {
  return chain.map((c) => c.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\n/g, '')).join(',');
}

function forwardedOutcome(chain: TestIssuer[], root: TestIssuer): string {
  try {
    return peerFromForwardedCert(forwarded(chain), { bundle: root.certPem, trustDomain: TD }).spiffeId;
  } catch (err) {
    if (isAuthError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
}

describe('pathLenConstraint, direct mTLS (OpenSSL) and forwarded (ours) alike', () => {
  let servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    servers = [];
  });

  async function direct(chain: TestIssuer[], root: TestIssuer): Promise<string> {
    const serverCert = await makeLeaf({ ca: root, ips: ['127.0.0.1'], eku: ['serverAuth'] });
    const server = createServer(
      {
        cert: serverCert.certPem,
        key: serverCert.keyPem,
        ca: root.certPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        let body: string;
        try {
          body = peerFromSocket(req.socket as TLSSocket, { trustDomain: TD }).spiffeId ?? 'anonymous';
        } catch (err) {
          body = isAuthError(err) ? `${err.code}: ${err.message}` : String(err);
        }
        res.end(body);
      },
    );
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const leaf = chain[0] as TestIssuer;
    return new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          ca: root.certPem,
          agent: false,
          cert: chain.map((c) => c.certPem).join(''),
          key: leaf.keyPem,
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

  it('a root with pathLen 0 signs an intermediate: both refuse its SVIDs', async () => {
    const root = await caWithPathLen('root pathlen 0', 0);
    const mid = await caWithPathLen('intermediate', undefined, root);
    const leaf = await svid(mid);
    expect(await direct([leaf, mid], root)).toBe(
      'ERR_PEER_CERT_INVALID: client certificate rejected by the trust bundle: PATH_LENGTH_EXCEEDED',
    );
    expect(forwardedOutcome([leaf, mid], root)).toBe(
      'ERR_PEER_CERT_INVALID: forwarded client certificate rejected: trust bundle CA allows 0 intermediate(s) below it (pathLenConstraint), the chain has 1',
    );
  });

  it('an intermediate with pathLen 0 mints a sub-CA: both refuse the sub-CA SVIDs', async () => {
    const root = await caWithPathLen('root', undefined);
    const mid = await caWithPathLen('workload CA pathlen 0', 0, root);
    const rogue = await caWithPathLen('rogue sub-CA', undefined, mid);
    const leaf = await svid(rogue);
    expect(await direct([leaf, rogue, mid], root)).toBe(
      'ERR_PEER_CERT_INVALID: client certificate rejected by the trust bundle: PATH_LENGTH_EXCEEDED',
    );
    expect(forwardedOutcome([leaf, rogue, mid], root)).toBe(
      'ERR_PEER_CERT_INVALID: forwarded client certificate rejected: intermediate CA allows 0 intermediate(s) below it (pathLenConstraint), the chain has 1',
    );
  });

  it('within the limits both accept (pathLen 1 root, pathLen 0 intermediate)', async () => {
    const root = await caWithPathLen('root pathlen 1', 1);
    const mid = await caWithPathLen('workload CA pathlen 0', 0, root);
    const leaf = await svid(mid);
    expect(await direct([leaf, mid], root)).toBe(AGENT);
    expect(forwardedOutcome([leaf, mid], root)).toBe(AGENT);
    expect(forwardedOutcome([await svid(root)], root)).toBe(AGENT);
  });
});
