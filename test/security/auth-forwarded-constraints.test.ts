// RFC 5280 beyond path length on forwarded client certificates: a critical extension the verifier does not
// process refuses the certificate (4.2; OpenSSL: X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION), and a CA's URI name
// constraints bind the spiffe:// URI of every certificate below it (4.2.1.10; OpenSSL: permitted/excluded
// subtree violation). Direct mTLS gets both from OpenSSL; a chain forwarded by a trusted proxy is verified by
// our own chain builder, which must not be laxer. Each case runs both ways: a real TLS handshake, then the
// forwarded-header path, on the same certificates.
import 'reflect-metadata';
import { webcrypto, X509Certificate } from 'node:crypto';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';
import { checkSvidMaterial, isAuthError, peerFromForwardedCert, peerFromSocket } from '@ravenhelm/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCa, makeLeaf, type TestCa, type TestIssuer } from '../fixtures/pki.js';

const TD = 'ravenhelm.test';
const AGENT = `spiffe://${TD}/agent/oncall`;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const HOUR = 3_600_000;
/** A private OID no verifier knows. */
const UNKNOWN_OID = '1.3.6.1.4.1.55555.7.1';
const NULL = new Uint8Array([0x05, 0x00]);

function der(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content);
  if (body.length > 127) throw new Error('test DER helper: short lengths only');
  return Buffer.concat([Buffer.from([tag, body.length]), body]);
}

/** NameConstraints (2.5.29.30, critical) with GeneralSubtrees of URI ([6]) or dNSName ([2]) bases. */
function nameConstraints(opts: { permitted?: string[]; excluded?: string[]; dns?: string[] }): Extension {
  const uri = (v: string) => der(0x30, der(0x86, Buffer.from(v, 'ascii')));
  const dns = (v: string) => der(0x30, der(0x82, Buffer.from(v, 'ascii')));
  const permitted = [...(opts.permitted ?? []).map(uri), ...(opts.dns ?? []).map(dns)];
  const parts = [
    ...(permitted.length > 0 ? [der(0xa0, ...permitted)] : []),
    ...(opts.excluded ? [der(0xa1, ...opts.excluded.map(uri))] : []),
  ];
  return new Extension('2.5.29.30', true, der(0x30, ...parts));
}

async function sign(opts: {
  subject: string;
  parent?: TestIssuer;
  isCa: boolean;
  uris?: string[];
  extra?: Extension[];
}): Promise<TestIssuer> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const extensions: Extension[] = [
    new BasicConstraintsExtension(opts.isCa, undefined, true),
    new KeyUsagesExtension(
      opts.isCa ? KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign : KeyUsageFlags.digitalSignature,
      true,
    ),
    await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ...(opts.parent ? [await AuthorityKeyIdentifierExtension.create(opts.parent.cert)] : []),
    ...(opts.isCa ? [] : [new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth])]),
    ...(opts.uris ? [new SubjectAlternativeNameExtension(opts.uris.map((value) => ({ type: 'url', value })))] : []),
    ...(opts.extra ?? []),
  ];
  const common = {
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - HOUR),
    notAfter: new Date(Date.now() + 24 * HOUR),
    extensions,
  };
  const cert = opts.parent
    ? await X509CertificateGenerator.create({
        ...common,
        subject: `CN=${opts.subject}`,
        issuer: opts.parent.cert.subject,
        publicKey: keys.publicKey,
        signingKey: opts.parent.privateKey,
      })
    : await X509CertificateGenerator.createSelfSigned({ ...common, name: `CN=${opts.subject}`, keys });
  const certPem = `${cert.toString('pem')}\n`;
  const keyPem = PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { cert, privateKey: keys.privateKey, certPem, keyPem, x509: new X509Certificate(certPem) };
}

const ca = (subject: string, parent?: TestIssuer, extra?: Extension[], uris?: string[]) =>
  sign({ subject, isCa: true, ...(parent ? { parent } : {}), ...(extra ? { extra } : {}), ...(uris ? { uris } : {}) });
const svid = (parent: TestIssuer, extra?: Extension[], uri = AGENT) =>
  sign({ subject: 'svid', parent, isCa: false, uris: [uri], ...(extra ? { extra } : {}) });

/** Traefik v3's header: PEM bodies without BEGIN/END lines and newlines, comma-separated, leaf first. */
function forwarded(chain: TestIssuer[], root: TestIssuer): string {
  const header = chain
    .map((c) => c.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\n/g, ''))
    .join(',');
  try {
    return peerFromForwardedCert(header, { bundle: root.certPem, trustDomain: TD }).spiffeId;
  } catch (err) {
    if (isAuthError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
}

let serverRoot: TestCa;
let serverCert: TestIssuer;
const servers: Server[] = [];
beforeAll(async () => {
  // The server's own certificate comes from an unconstrained CA: only the client chain is under test.
  serverRoot = await makeCa({ name: 'server root' });
  serverCert = await makeLeaf({ ca: serverRoot, ips: ['127.0.0.1'], eku: ['serverAuth'] });
});
afterAll(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** OpenSSL's verdict on direct mTLS: the SPIFFE ID, or the refusal peerFromSocket reports. */
async function direct(chain: TestIssuer[], root: TestIssuer): Promise<string> {
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
  return new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        ca: serverRoot.certPem,
        agent: false,
        cert: chain.map((c) => c.certPem).join(''),
        key: (chain[0] as TestIssuer).keyPem,
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

const REJECTED = 'ERR_PEER_CERT_INVALID: forwarded client certificate rejected:';
/**
 * OpenSSL refuses these chains with X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION (34), PERMITTED_VIOLATION (47) or
 * EXCLUDED_VIOLATION (48) (`openssl verify -purpose sslclient` on the same files says so); Node's TLS has no
 * name for those codes and reports them as UNSPECIFIED.
 */
const DIRECT_REFUSED = 'ERR_PEER_CERT_INVALID: client certificate rejected by the trust bundle: UNSPECIFIED';

describe('unprocessed critical extensions, direct mTLS (OpenSSL) and forwarded (ours) alike', () => {
  it('a leaf with an unknown critical extension is refused both ways', async () => {
    const root = await ca('root');
    const leaf = await svid(root, [new Extension(UNKNOWN_OID, true, NULL)]);
    expect(await direct([leaf], root)).toBe(DIRECT_REFUSED);
    expect(forwarded([leaf], root)).toBe(
      `${REJECTED} certificate has a critical extension this server does not process (${UNKNOWN_OID}); RFC 5280 4.2 requires refusing it`,
    );
  });

  it('an intermediate with an unknown critical extension is refused both ways', async () => {
    const root = await ca('root');
    const mid = await ca('intermediate', root, [new Extension(UNKNOWN_OID, true, NULL)]);
    const leaf = await svid(mid);
    expect(await direct([leaf, mid], root)).toBe(DIRECT_REFUSED);
    expect(forwarded([leaf, mid], root)).toMatch(
      /intermediate CA has a critical extension .*1\.3\.6\.1\.4\.1\.55555\.7\.1/,
    );
  });

  it('the same extension marked non-critical is accepted both ways', async () => {
    const root = await ca('root');
    const mid = await ca('intermediate', root, [new Extension(UNKNOWN_OID, false, NULL)]);
    const leaf = await svid(mid, [new Extension(UNKNOWN_OID, false, NULL)]);
    expect(await direct([leaf, mid], root)).toBe(AGENT);
    expect(forwarded([leaf, mid], root)).toBe(AGENT);
  });
});

describe('URI name constraints, direct mTLS (OpenSSL) and forwarded (ours) alike', () => {
  it("a root permitting only another trust domain: the SVID's spiffe:// URI violates it both ways", async () => {
    const root = await ca('root', undefined, [nameConstraints({ permitted: ['other.test'] })]);
    const leaf = await svid(root);
    expect(await direct([leaf], root)).toBe(DIRECT_REFUSED);
    expect(forwarded([leaf], root)).toBe(
      `${REJECTED} the URI SAN "${AGENT}" of the certificate is outside the subtrees the trust bundle CA permits (nameConstraints: "other.test")`,
    );
  });

  it('an intermediate excluding our trust domain: refused both ways', async () => {
    const root = await ca('root');
    const mid = await ca('intermediate', root, [nameConstraints({ excluded: [TD] })]);
    const leaf = await svid(mid);
    expect(await direct([leaf, mid], root)).toBe(DIRECT_REFUSED);
    expect(forwarded([leaf, mid], root)).toMatch(/is in a subtree the intermediate CA excludes \(nameConstraints\)$/);
  });

  it('a SPIRE-like intermediate (URI SAN spiffe://td) under a root permitting ".other.test" only: refused both ways', async () => {
    const root = await ca('root', undefined, [nameConstraints({ permitted: ['.other.test'] })]);
    const mid = await ca('intermediate', root, undefined, [`spiffe://${TD}`]);
    const leaf = await svid(mid);
    expect(await direct([leaf, mid], root)).toBe(DIRECT_REFUSED);
    expect(forwarded([leaf, mid], root)).toMatch(
      /of the intermediate CA is outside the subtrees the trust bundle CA permits/,
    );
  });

  it('constraints that admit the trust domain are accepted both ways (exact host; ".td" subdomains only)', async () => {
    const root = await ca('root', undefined, [nameConstraints({ permitted: [TD], excluded: [`.${TD}`] })]);
    const mid = await ca('intermediate', root, undefined, [`spiffe://${TD}`]);
    const leaf = await svid(mid);
    expect(await direct([leaf, mid], root)).toBe(AGENT);
    expect(forwarded([leaf, mid], root)).toBe(AGENT);
    // ".td" is satisfied by hosts below td, not by td itself (RFC 5280 4.2.1.10): a trust domain beneath it fails.
    const sub = await ca('sub-domain root', undefined, [nameConstraints({ permitted: [`.${TD}`] })]);
    const subLeaf = await svid(sub);
    expect(await direct([subLeaf], sub)).toBe(DIRECT_REFUSED);
    expect(forwarded([subLeaf], sub)).toMatch(/outside the subtrees the trust bundle CA permits/);
  });

  it('constraints on other name forms (DNS) are evaluated on forwarded chains as OpenSSL does: accepted both ways', async () => {
    const root = await ca('root', undefined, [nameConstraints({ dns: ['example.com'] })]);
    const leaf = await svid(root);
    // The leaf has no DNS name (and its commonName "svid" is no host name): nothing for the constraint to refuse.
    expect(await direct([leaf], root)).toBe(AGENT);
    expect(forwarded([leaf], root)).toBe(AGENT);
  });
});

describe("the server's own SVID files", () => {
  /** checkSvidMaterial's verdict on our own chain (leaf and its key, the trust bundle). */
  const own = (leaf: TestIssuer, root: TestIssuer): string => {
    try {
      return checkSvidMaterial({ cert: leaf.certPem, key: leaf.keyPem, ca: root.certPem }, { trustDomain: TD }).subject;
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('load under a CA with DNS name constraints, which OpenSSL accepts and every peer verifies again', async () => {
    const root = await ca('root', undefined, [nameConstraints({ dns: ['example.com'] })]);
    const leaf = await svid(root);
    expect(await direct([leaf], root)).toBe(AGENT);
    expect(own(leaf, root)).toBe('CN=svid');
  });

  it('are still refused with an unknown critical extension or a URI outside the permitted subtrees', async () => {
    const root = await ca('root');
    expect(own(await svid(root, [new Extension(UNKNOWN_OID, true, NULL)]), root)).toMatch(
      /^SVID files rejected: certificate has a critical extension this server does not process/,
    );
    const other = await ca('other root', undefined, [nameConstraints({ permitted: ['other.test'] })]);
    expect(own(await svid(other), other)).toMatch(
      /^SVID files rejected: .*outside the subtrees the trust bundle CA permits/,
    );
  });
});
