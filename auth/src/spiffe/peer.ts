import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { AuthError, isAuthError } from '../errors.js';
import { validateSvid } from './svid.js';
import { checkClientAuthEku, MAX_CHAIN_LENGTH, parsePemCertificates, verifyChain } from './x509.js';

/** What the TLS layer established about the caller (structurally the kit's PeerIdentity). */
export interface SpiffePeer {
  spiffeId?: string | undefined;
  /** DER of the verified leaf certificate. */
  certificate?: Buffer | undefined;
}

interface CachedPeer {
  trustDomain: string;
  spiffeId: string;
  certificate: Buffer;
  notAfter: number;
}
// A socket's certificate is fixed at the handshake: validate once per connection, re-check dates per request.
const socketCache = new WeakMap<TLSSocket, CachedPeer>();

function peerInvalid(reason: string, cause?: unknown): AuthError {
  return new AuthError('ERR_PEER_CERT_INVALID', reason, cause === undefined ? undefined : { cause });
}

/**
 * The SPIFFE identity of a direct mTLS peer (server built with mtlsServerOptions).
 * - no client certificate: `{}` (anonymous at the TLS layer; bearer auth still applies);
 * - a certificate that failed chain verification, is out of its validity period, or breaks
 *   the X.509-SVID rules: throws AuthError('ERR_PEER_CERT_INVALID', reason);
 * - otherwise `{ spiffeId, certificate }` (raw DER of the leaf).
 */
export function peerFromSocket(socket: TLSSocket, opts: { trustDomain: string }): SpiffePeer {
  const now = Date.now();
  const cached = socketCache.get(socket);
  if (cached && cached.trustDomain === opts.trustDomain) {
    if (now > cached.notAfter) throw peerInvalid('client certificate has expired');
    return { spiffeId: cached.spiffeId, certificate: cached.certificate };
  }
  const peer = socket.getPeerCertificate();
  if (!peer?.raw || peer.raw.length === 0) return {};
  if (!socket.authorized) {
    const why = socket.authorizationError ? String(socket.authorizationError) : 'verification failed';
    throw peerInvalid(`client certificate rejected by the trust bundle: ${why}`);
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(peer.raw);
  } catch (err) {
    throw peerInvalid('client certificate does not parse', err);
  }
  const notAfter = new Date(cert.validTo).getTime();
  if (now > notAfter) throw peerInvalid('client certificate has expired');
  if (now < new Date(cert.validFrom).getTime()) throw peerInvalid('client certificate is not yet valid');
  const spiffeId = validateSvid(cert, opts);
  socketCache.set(socket, { trustDomain: opts.trustDomain, spiffeId, certificate: peer.raw, notAfter });
  return { spiffeId, certificate: peer.raw };
}

/** Cap on the forwarded header: a few certificates, not an amplification vector. */
const MAX_FORWARDED_HEADER = 64 * 1024;
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;

const bundleCache = new Map<string, X509Certificate[]>();
function bundleCerts(pem: string): X509Certificate[] {
  let certs = bundleCache.get(pem);
  if (!certs) {
    certs = parsePemCertificates(pem, 'trust bundle');
    if (bundleCache.size >= 16) bundleCache.clear();
    bundleCache.set(pem, certs);
  }
  return certs;
}

function decodeForwardedCert(part: string, index: number): X509Certificate {
  const text = part
    .trim()
    .replace(/-----BEGIN CERTIFICATE-----/, '')
    .replace(/-----END CERTIFICATE-----/, '')
    .replace(/\s+/g, '');
  if (text.length === 0 || !BASE64_RE.test(text)) throw new Error(`certificate ${index + 1} is not base64 DER`);
  try {
    return new X509Certificate(Buffer.from(text, 'base64'));
  } catch {
    throw new Error(`certificate ${index + 1} does not parse`);
  }
}

/**
 * The SPIFFE identity from Traefik's passTLSClientCert header (`X-Forwarded-Tls-Client-Cert`):
 * the PEM body of each client certificate without BEGIN/END lines and newlines, URL-escaped
 * by Traefik v2 and plain in v3, several certificates separated by ','; the leaf first.
 * The leaf must chain to a CA in `bundle` (through forwarded intermediates if any), be within its
 * validity period at `now`, carry clientAuth when it has an extendedKeyUsage (as must every
 * intermediate on the path, as OpenSSL requires on direct mTLS), and pass validateSvid. Only call this for requests from a trusted
 * proxy (isTrustedProxy): anyone else can write the header.
 * @throws AuthError('ERR_PEER_CERT_INVALID', reason)
 */
export function peerFromForwardedCert(
  headerValue: string,
  opts: { bundle: string; trustDomain: string; now?: Date },
): { spiffeId: string; certificate: Buffer } {
  try {
    if (headerValue.length > MAX_FORWARDED_HEADER) throw new Error('header too large');
    // Traefik v2 URL-escapes the PEM bodies (url.QueryEscape), v3 sends them as is. Base64 has
    // neither '%' nor ',', so decoding before splitting handles per-certificate and whole-value escaping.
    let value = headerValue;
    if (value.includes('%')) {
      try {
        value = decodeURIComponent(value);
      } catch {
        throw new Error('header is not valid URL encoding');
      }
    }
    const parts = value.split(',');
    if (parts.length > MAX_CHAIN_LENGTH) throw new Error(`more than ${MAX_CHAIN_LENGTH} certificates`);
    const chain = parts.map(decodeForwardedCert);
    const leaf = chain[0] as X509Certificate;
    const path = verifyChain(leaf, chain.slice(1), bundleCerts(opts.bundle), opts.now ?? new Date());
    // Direct mTLS gets this from OpenSSL's ssl_client purpose; a forwarded chain must not be laxer.
    checkClientAuthEku(leaf, 'certificate');
    for (const ca of path) checkClientAuthEku(ca, 'intermediate CA');
    const spiffeId = validateSvid(leaf, { trustDomain: opts.trustDomain });
    return { spiffeId, certificate: leaf.raw };
  } catch (err) {
    if (isAuthError(err)) throw err;
    throw peerInvalid(`forwarded client certificate rejected: ${(err as Error).message}`, err);
  }
}

/** `::ffff:127.0.0.1` -> `127.0.0.1`; other addresses unchanged (lower-cased). */
export function normalizeAddress(address: string): string {
  const a = address.trim().toLowerCase();
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(a);
  return mapped ? (mapped[1] as string) : a;
}

const listCache = new WeakMap<readonly string[], BlockList>();
function trustedList(trusted: readonly string[]): BlockList {
  let list = listCache.get(trusted);
  if (list) return list;
  list = new BlockList();
  for (const raw of trusted) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const addr = normalizeAddress(slash < 0 ? entry : entry.slice(0, slash));
    const family = isIP(addr);
    if (family === 0) continue; // not an IP: never matches
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash < 0) {
      list.addAddress(addr, type);
      continue;
    }
    const bitsText = entry.slice(slash + 1);
    const bits = Number(bitsText);
    if (!/^\d{1,3}$/.test(bitsText) || bits > (family === 4 ? 32 : 128)) continue;
    list.addSubnet(addr, bits, type);
  }
  listCache.set(trusted, list);
  return list;
}

/**
 * Whether a connection comes from a configured proxy: exact IPs and CIDR ranges
 * (`10.0.0.0/8`, `fd00::/8`); IPv4-mapped IPv6 addresses count as their IPv4 form.
 * Malformed entries never match.
 */
export function isTrustedProxy(remoteAddress: string | undefined, trusted: readonly string[]): boolean {
  if (!remoteAddress || trusted.length === 0) return false;
  const addr = normalizeAddress(remoteAddress);
  const family = isIP(addr);
  if (family === 0) return false;
  return trustedList(trusted).check(addr, family === 4 ? 'ipv4' : 'ipv6');
}

/** How many times a header (lower-case name) appears in Node's `rawHeaders` ([name, value, name, value, ...]). */
export function countRawHeader(rawHeaders: readonly string[] | undefined, name: string): number {
  if (!rawHeaders) return 0;
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === name) count++;
  }
  return count;
}

export interface PeerResolverOptions {
  trustDomain: string;
  /** Proxies whose forwarded client certificate header is believed (IPs / CIDRs). */
  trustedProxies?: readonly string[] | undefined;
  /** PEM trust bundle for forwarded certificates; required to use the header. */
  bundle?: string | undefined;
  /** Header carrying the forwarded certificate; default `x-forwarded-tls-client-cert`. */
  header?: string | undefined;
}

/**
 * Resolves the SPIFFE peer of an HTTP request: the TLS client certificate on a direct mTLS
 * connection, else the forwarded-certificate header when the request comes from a trusted
 * proxy, else `{}`. A forwarded header from an untrusted address is ignored.
 * @throws AuthError('ERR_PEER_CERT_INVALID', reason)
 */
export function peerFromRequest(req: IncomingMessage, opts: PeerResolverOptions): SpiffePeer {
  const socket = req.socket as TLSSocket;
  if (socket.encrypted) {
    const direct = peerFromSocket(socket, opts);
    if (direct.spiffeId) return direct;
  }
  const headerName = (opts.header ?? 'x-forwarded-tls-client-cert').toLowerCase();
  const value = req.headers[headerName];
  if (value === undefined || !opts.bundle || !opts.trustedProxies) return {};
  if (!isTrustedProxy(req.socket.remoteAddress, opts.trustedProxies)) return {};
  // Node joins repeated headers into one comma-separated string, which reads as leaf + intermediates:
  // only the raw header list shows that a second certificate header was smuggled past the proxy.
  if (Array.isArray(value) || countRawHeader(req.rawHeaders, headerName) > 1) {
    throw peerInvalid('more than one forwarded client certificate header');
  }
  return peerFromForwardedCert(value, { bundle: opts.bundle, trustDomain: opts.trustDomain });
}
