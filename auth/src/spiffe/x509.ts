import { X509Certificate } from 'node:crypto';
import { type ChainExtensions, readChainExtensions, readSvidExtensions, type SvidExtensions } from './der.js';
import { checkNameConstraints } from './name-constraints.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+?)-----END CERTIFICATE-----/g;

/** Longest chain (leaf + intermediates) accepted from a file or a forwarded header. */
export const MAX_CHAIN_LENGTH = 8;

/**
 * Splits a PEM string into certificates. Refuses anything that is not a complete set of
 * CERTIFICATE blocks (a truncated file, a stray BEGIN without END, zero certificates).
 */
export function parsePemCertificates(pem: string, what: string): X509Certificate[] {
  const begins = pem.match(/-----BEGIN [A-Z0-9 ]+-----/g) ?? [];
  const ends = pem.match(/-----END [A-Z0-9 ]+-----/g) ?? [];
  if (begins.length === 0) throw new Error(`${what}: no PEM certificate found`);
  if (begins.length !== ends.length) throw new Error(`${what}: incomplete PEM (truncated or half-written)`);
  if (begins.some((b) => b !== '-----BEGIN CERTIFICATE-----')) {
    throw new Error(`${what}: contains a PEM block that is not a CERTIFICATE`);
  }
  const certs: X509Certificate[] = [];
  for (const m of pem.matchAll(PEM_CERT)) {
    try {
      certs.push(new X509Certificate(m[0]));
    } catch {
      throw new Error(`${what}: certificate ${certs.length + 1} does not parse`);
    }
  }
  if (certs.length !== begins.length) throw new Error(`${what}: malformed PEM certificate block`);
  return certs;
}

/**
 * basicConstraints cA and the KeyUsage bits (RFC 5280 4.2.1.9, 4.2.1.3); keyUsage is undefined
 * when the extension is absent. Throws when the certificate's extensions do not parse.
 */
export function svidExtensions(cert: X509Certificate): SvidExtensions {
  return readSvidExtensions(cert.raw);
}

export function checkValidity(cert: X509Certificate, now: Date, what: string): void {
  const t = now.getTime();
  if (t < new Date(cert.validFrom).getTime()) throw new Error(`${what} is not yet valid (notBefore ${cert.validFrom})`);
  if (t > new Date(cert.validTo).getTime()) throw new Error(`${what} has expired (notAfter ${cert.validTo})`);
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * OpenSSL's "ssl_client" purpose as applied on direct mTLS: a certificate with an
 * extendedKeyUsage extension must list clientAuth (anyExtendedKeyUsage is not enough); a
 * certificate without the extension is unrestricted. Node's `keyUsage` getter returns the EKU OIDs.
 * Throws an Error whose message is the reason.
 */
export function checkClientAuthEku(cert: X509Certificate, what: string): void {
  const eku = cert.keyUsage;
  if (eku === undefined || eku.length === 0) return;
  if (!eku.includes(EKU_CLIENT_AUTH)) {
    throw new Error(`${what} is not for client authentication (extendedKeyUsage lacks clientAuth)`);
  }
}

/**
 * What OpenSSL applies on direct mTLS beyond signatures and dates, for a chain this package verifies itself
 * (`chain` leaf first, the trust bundle CA last), each certificate's DER read once:
 * - RFC 5280 4.2.1.9 / 6.1.4 (m): a CA's pathLenConstraint caps the intermediates below it
 *   (X509_V_ERR_PATH_LENGTH_EXCEEDED); the intermediate at index i has i - 1 intermediates below it.
 * - RFC 5280 4.2: a critical extension the verifier does not process refuses the certificate
 *   (X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION).
 * - RFC 5280 4.2.1.10: name constraints ({@link checkNameConstraints}).
 */
function checkConstraints(chain: readonly X509Certificate[], unsupportedNameForms: 'refuse' | 'leave'): void {
  const label = (i: number) =>
    i === 0 ? 'certificate' : i === chain.length - 1 ? 'trust bundle CA' : 'intermediate CA';
  const read: ChainExtensions[] = chain.map((cert, i) => {
    try {
      return readChainExtensions(cert.raw);
    } catch {
      throw new Error(`${label(i)} extensions do not parse`);
    }
  });
  for (let i = 1; i < chain.length; i++) {
    const limit = (read[i] as ChainExtensions).pathLen;
    if (limit !== undefined && i - 1 > limit) {
      throw new Error(
        `${label(i)} allows ${limit} intermediate(s) below it (pathLenConstraint), the chain has ${i - 1}`,
      );
    }
  }
  read.forEach((ext, i) => {
    if (ext.unprocessedCritical.length > 0) {
      throw new Error(
        `${label(i)} has a critical extension this server does not process (${ext.unprocessedCritical.join(', ')}); RFC 5280 4.2 requires refusing it`,
      );
    }
  });
  checkNameConstraints(chain, read, label, unsupportedNameForms);
}

/**
 * Builds a path from `leaf` through `intermediates` to one of `roots` (the trust bundle) and
 * checks every certificate's dates at `now`, pathLenConstraint, unprocessed critical extensions and name
 * constraints. Issuers must be CA certificates. Throws an Error
 * whose message is the reason.
 * @returns the intermediates on the path, leaf side first (the root excluded)
 */
export function verifyChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: Date,
  opts: VerifyChainOptions = {},
): X509Certificate[] {
  return verifyChainTo(leaf, intermediates, roots, now, opts).path;
}

export interface VerifyChainOptions {
  /**
   * Name constraints this check does not evaluate (otherName, x400Address, ediPartyName, registeredID forms,
   * subtree minimum/maximum): `refuse` the chain (a forwarded client certificate: we are its only verifier),
   * or `leave` them to the TLS stack of whoever verifies the chain (the server's own SVID, presented to its
   * peers). DNS, IP, e-mail, directory-name and URI constraints are evaluated either way.
   */
  otherNameForms?: 'refuse' | 'leave';
}

/** {@link verifyChain}, also returning the trust bundle CA the path ends at. */
export function verifyChainTo(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  now: Date,
  opts: VerifyChainOptions = {},
): { path: X509Certificate[]; root: X509Certificate } {
  checkValidity(leaf, now, 'certificate');
  const unused = [...intermediates];
  const path: X509Certificate[] = [];
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    const root = roots.find((r) => r.ca && signedBy(current, r));
    if (root) {
      checkValidity(root, now, 'trust bundle CA');
      checkConstraints([leaf, ...path, root], opts.otherNameForms ?? 'refuse');
      return { path, root };
    }
    const idx = unused.findIndex((c) => c.ca && signedBy(current, c));
    if (idx < 0) break;
    const next = unused.splice(idx, 1)[0] as X509Certificate;
    checkValidity(next, now, 'intermediate CA');
    path.push(next);
    current = next;
  }
  throw new Error('certificate does not chain to a trust bundle CA');
}
