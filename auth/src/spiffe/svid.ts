import type { X509Certificate } from 'node:crypto';
import { AuthError } from '../errors.js';
import { svidExtensions } from './x509.js';

const KU_DIGITAL_SIGNATURE = 1;
const KU_KEY_CERT_SIGN = 32;
const KU_CRL_SIGN = 64;

const TRUST_DOMAIN_RE = /^[a-z0-9._-]+$/;
const SEGMENT_RE = /^[A-Za-z0-9._-]+$/;
/** SPIFFE ID length limits (SPIFFE-ID spec: 255 bytes for the trust domain, 2048 for the ID). */
const MAX_TRUST_DOMAIN = 255;
const MAX_ID = 2048;

/**
 * Checks a string against the SPIFFE ID grammar and returns the reason it is invalid,
 * or undefined when it is a valid workload ID (`spiffe://<trust-domain>/<path>`).
 */
export function spiffeIdProblem(id: string): string | undefined {
  if (id.length > MAX_ID) return `SPIFFE ID longer than ${MAX_ID} characters`;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(id);
  if (!scheme) return 'URI SAN has no scheme';
  if (scheme[1]?.toLowerCase() !== 'spiffe') return 'URI SAN scheme is not spiffe';
  if (scheme[1] !== 'spiffe') return 'URI SAN scheme must be lowercase "spiffe"';
  if (!id.startsWith('spiffe://')) return 'SPIFFE ID must start with spiffe://';
  if (id.includes('%')) return 'SPIFFE ID must not contain percent-encoding';
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const td = slash < 0 ? rest : rest.slice(0, slash);
  if (td.length === 0) return 'SPIFFE ID has an empty trust domain';
  if (td.length > MAX_TRUST_DOMAIN) return `trust domain longer than ${MAX_TRUST_DOMAIN} characters`;
  if (!TRUST_DOMAIN_RE.test(td)) return 'trust domain may contain only lowercase letters, digits, ".", "-" and "_"';
  if (slash < 0) return 'SPIFFE ID has no path (the trust domain root is not a workload ID)';
  if (rest.endsWith('/')) return 'SPIFFE ID must not end with "/"';
  const segments = rest.slice(slash + 1).split('/');
  for (const seg of segments) {
    if (seg.length === 0) return 'SPIFFE ID path has an empty segment';
    if (seg === '.' || seg === '..') return 'SPIFFE ID path has a "." or ".." segment';
    if (!SEGMENT_RE.test(seg)) return 'SPIFFE ID path may contain only letters, digits, ".", "-" and "_"';
  }
  return undefined;
}

/** The trust domain of a syntactically valid SPIFFE ID. */
export function trustDomainOf(id: string): string {
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? rest : rest.slice(0, slash);
}

function invalid(reason: string): AuthError {
  return new AuthError('ERR_PEER_CERT_INVALID', `peer certificate is not a valid X.509-SVID: ${reason}`);
}

/**
 * Applies the X.509-SVID rules that Node's chain verification does not: exactly one URI SAN
 * holding a well-formed `spiffe://` ID in the configured trust domain, a leaf (not a CA) with
 * KeyUsage digitalSignature and neither keyCertSign nor cRLSign, and no quoted SAN entry.
 * Chain and date checks are the caller's (the TLS stack, or verifyChain for forwarded certs).
 * @returns the SPIFFE ID
 * @throws AuthError('ERR_PEER_CERT_INVALID', reason)
 */
export function validateSvid(cert: X509Certificate, opts: { trustDomain: string }): string {
  const san = cert.subjectAltName;
  if (!san) throw invalid('no subjectAltName');
  // Node quotes SAN entries that contain separators or special characters; refusing every
  // quoted entry keeps the split below unambiguous (no "URI:a, URI:b" smuggled in one entry).
  if (san.includes('"')) throw invalid('a subjectAltName entry contains special characters');
  const uris = san
    .split(', ')
    .filter((e) => e.startsWith('URI:'))
    .map((e) => e.slice('URI:'.length));
  if (uris.length !== 1) throw invalid(`expected exactly one URI SAN, found ${uris.length}`);
  const id = uris[0] as string;
  const problem = spiffeIdProblem(id);
  if (problem) throw invalid(problem);
  const td = trustDomainOf(id);
  if (td !== opts.trustDomain) throw invalid(`trust domain "${td}" is not the configured "${opts.trustDomain}"`);
  let ext: ReturnType<typeof svidExtensions>;
  try {
    ext = svidExtensions(cert);
  } catch {
    throw invalid('extensions do not parse');
  }
  // Node's X509Certificate.ca is OpenSSL's X509_check_ca, which is false for CA:TRUE without
  // keyCertSign: read basicConstraints itself.
  if (ext.isCa || cert.ca) throw invalid('leaf certificate has basicConstraints CA:TRUE');
  const ku = ext.keyUsage;
  if (ku === undefined) throw invalid('keyUsage extension is missing');
  if ((ku & KU_DIGITAL_SIGNATURE) === 0) throw invalid('keyUsage lacks digitalSignature');
  if ((ku & KU_KEY_CERT_SIGN) !== 0) throw invalid('keyUsage of a leaf must not include keyCertSign');
  if ((ku & KU_CRL_SIGN) !== 0) throw invalid('keyUsage of a leaf must not include cRLSign');
  return id;
}
