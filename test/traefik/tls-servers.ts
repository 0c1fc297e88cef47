/** A loopback TLS server that, like Traefik's websecure entrypoint, picks a certificate by SNI. */
import { writeFileSync } from 'node:fs';
import { createServer as createNetServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, createServer, type SecureContext } from 'node:tls';
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import {
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';
import { makeCa, makeLeaf, type TestCa } from '../fixtures/pki.js';

/** A self-signed server certificate (CA:FALSE, digitalSignature, a DNS SAN), as `mkcert`-less setups make. */
async function selfSigned(dns: string, days: number): Promise<{ certPem: string; keyPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await X509CertificateGenerator.createSelfSigned({
    name: `CN=${dns}`,
    keys,
    signingAlgorithm: alg,
    notBefore: new Date(Date.now() - 3_600_000),
    notAfter: new Date(Date.now() + days * DAY),
    extensions: [
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new SubjectAlternativeNameExtension([{ type: 'dns', value: dns }]),
    ],
  });
  const keyPem = PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certPem: cert.toString('pem'), keyPem };
}

const DAY = 86_400_000;

export interface TlsFixture {
  ca: TestCa;
  port: number;
  /** A TCP port that accepts connections and never answers (a handshake timeout). */
  silentPort: number;
  close(): Promise<void>;
}

/**
 * Certificates by SNI name: good (valid 90 days), soon (valid 5 days), expired, wrong (a certificate for
 * another name), self (self-signed), partial (leaf from an intermediate the server does not send),
 * chained (the same, with the intermediate sent).
 */
export async function startTlsFixture(): Promise<TlsFixture> {
  const ca = await makeCa({ name: 'Ravenhelm Test Root', notAfter: new Date(Date.now() + 400 * DAY) });
  const intermediate = await makeLeaf({
    ca,
    isCa: true,
    keyUsage: ['keyCertSign', 'cRLSign'],
    eku: [],
    subject: 'CN=Ravenhelm Test Intermediate',
    notAfter: new Date(Date.now() + 300 * DAY),
  });
  const leaf = (dns: string, days: number, issuer = ca as Parameters<typeof makeLeaf>[0]['ca'], from?: Date) =>
    makeLeaf({
      ca: issuer,
      dns: [dns],
      subject: `CN=${dns}`,
      notAfter: new Date(Date.now() + days * DAY),
      ...(from ? { notBefore: from } : {}),
    });
  const good = await leaf('good.example.test', 90);
  const soon = await leaf('soon.example.test', 5);
  const expired = await leaf('expired.example.test', -2, ca, new Date(Date.now() - 30 * DAY));
  const wrong = await leaf('other.example.test', 90);
  const self = await selfSigned('self.example.test', 60);
  const partial = await leaf('partial.example.test', 60, intermediate);
  const chained = await leaf('chained.example.test', 60, intermediate);
  const contexts = new Map<string, SecureContext>([
    ['good.example.test', createSecureContext({ cert: good.certPem, key: good.keyPem })],
    ['soon.example.test', createSecureContext({ cert: soon.certPem, key: soon.keyPem })],
    ['expired.example.test', createSecureContext({ cert: expired.certPem, key: expired.keyPem })],
    ['wrong.example.test', createSecureContext({ cert: wrong.certPem, key: wrong.keyPem })],
    ['self.example.test', createSecureContext({ cert: self.certPem, key: self.keyPem })],
    ['partial.example.test', createSecureContext({ cert: partial.certPem, key: partial.keyPem })],
    [
      'chained.example.test',
      createSecureContext({ cert: chained.certPem + intermediate.certPem, key: chained.keyPem }),
    ],
  ]);
  const server = createServer(
    {
      cert: good.certPem,
      key: good.keyPem,
      // As Traefik's Go TLS server: a ClientHello whose SNI ends with "." does not decode (crypto/tls
      // handshake_messages.go clientHelloMsg.unmarshal: "An SNI value may not include a trailing dot"; RFC 6066 s3),
      // so the handshake fails; other names pick a certificate lower-cased (pkg/tls/certificate_store.go).
      SNICallback: (name, cb) =>
        name.endsWith('.')
          ? cb(new Error('SNI with a trailing dot'))
          : cb(null, contexts.get(name.toLowerCase()) ?? contexts.get('good.example.test')),
    },
    (socket) => socket.end(),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const silent: Server = createNetServer(() => undefined);
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  return {
    ca,
    port: (server.address() as { port: number }).port,
    silentPort: (silent.address() as { port: number }).port,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      silent.close();
    },
  };
}

/** Points a Traefik fixture's server at this TLS server: its CA trusted (a file in the scratch directory), its address. */
export function useTlsFixture(fx: { scratch: string; env: Record<string, string> }, tlsFx: TlsFixture): void {
  const caFile = join(fx.scratch, 'ca.pem');
  writeFileSync(caFile, tlsFx.ca.certPem);
  fx.env.TRAEFIK_TLS_CA_FILE = caFile;
  fx.env.TRAEFIK_TLS_ADDRESS = `127.0.0.1:${tlsFx.port}`;
}
