import { hash, X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { AuthError, isAuthError } from '../errors.js';
import { ExpiringCache } from '../oauth/cache.js';
import { validateSvid } from './svid.js';
import { checkClientAuthEku, MAX_CHAIN_LENGTH, parsePemCertificates, verifyChainTo } from './x509.js';

/** What the TLS layer established about the caller (structurally the kit's PeerIdentity). */
export interface SpiffePeer {
  spiffeId?: string | undefined;
  /** DER of the verified leaf certificate. */
  certificate?: Buffer | undefined;
}

interface CachedPeer {
  trustDomain: string;
  /**
   * The trust bundle the certificate was last checked against: undefined when the caller tracks no bundle,
   * UNKNOWN_BUNDLE when the handshake's bundle is not known (it is then verified against the current one).
   */
  bundle: string | typeof UNKNOWN_BUNDLE | undefined;
  spiffeId: string;
  certificate: Buffer;
  notAfter: number;
  /** The earliest notAfter of the CA certificates the chain was verified through (OpenSSL checks them only once). */
  chainNotAfter: number;
  /** The bundle a re-check refused the chain under, and why: refused again from here, without verifying. */
  refused?: { bundle: string; reason: string } | undefined;
}
/** A connection whose handshake bundle nobody recorded, or that may have been verified against an older one. */
const UNKNOWN_BUNDLE: unique symbol = Symbol('unknown handshake bundle');
// A socket's certificate is fixed at the handshake: validate once per connection, re-check dates per request,
// and the chain again when the trust bundle changed since.
const socketCache = new WeakMap<TLSSocket, CachedPeer>();
/** The trust bundle in force when each connection's handshake completed (see recordHandshakeBundle). */
const handshakeBundles = new WeakMap<TLSSocket, string | typeof UNKNOWN_BUNDLE>();
const directStats = { chainChecks: 0 };

/** How many client chains of direct mTLS connections were verified again against a trust bundle (tests, bench). */
export function directPeerStats(): { chainChecks: number } {
  return { ...directStats };
}

/**
 * Notes the trust bundle a connection's client certificate was verified against at the handshake (call it from
 * the server's 'secureConnection' event; createSpiffeTls does). Without it, a connection opened before a bundle
 * rotation and first used after it would be judged by the handshake's verdict under the old bundle.
 */
export function recordHandshakeBundle(socket: TLSSocket, bundle: string): void {
  handshakeBundles.set(socket, bundle);
}

/**
 * Marks a connection whose handshake bundle is not known for sure (accepted before the server was handed to
 * createSpiffeTls, or handshaking across a rotation): its chain is verified against the current bundle once, at
 * its first request. A connection that already has a record keeps it.
 */
export function recordUnknownHandshake(socket: TLSSocket, evenIfRecorded = false): void {
  if (evenIfRecorded || !handshakeBundles.has(socket)) handshakeBundles.set(socket, UNKNOWN_BUNDLE);
}

function peerInvalid(reason: string, cause?: unknown): AuthError {
  return new AuthError('ERR_PEER_CERT_INVALID', reason, cause === undefined ? undefined : { cause });
}

/** The certificates the client sent as OpenSSL verified them, leaf first, without the leaf itself. */
function peerIntermediates(socket: TLSSocket): X509Certificate[] {
  const out: X509Certificate[] = [];
  let cert = socket.getPeerCertificate(true) as DetailedPeerCertificate | undefined;
  const seen = new Set<DetailedPeerCertificate>();
  while (
    cert?.issuerCertificate &&
    cert.issuerCertificate !== cert &&
    !seen.has(cert) &&
    out.length < MAX_CHAIN_LENGTH
  ) {
    seen.add(cert);
    cert = cert.issuerCertificate;
    if (cert.raw?.length) out.push(new X509Certificate(cert.raw));
  }
  return out;
}

function earliestNotAfter(certs: readonly X509Certificate[]): number {
  let earliest = Number.POSITIVE_INFINITY;
  for (const c of certs) earliest = Math.min(earliest, new Date(c.validTo).getTime());
  return earliest;
}

/**
 * The SPIFFE identity of a direct mTLS peer (server built with mtlsServerOptions).
 * - no client certificate: `{}` (anonymous at the TLS layer; bearer auth still applies);
 * - a certificate that failed chain verification, is out of its validity period (or a CA on its verified chain
 *   is, checked on every request: OpenSSL checks dates at the handshake only), or breaks
 *   the X.509-SVID rules: throws AuthError('ERR_PEER_CERT_INVALID', reason);
 * - otherwise `{ spiffeId, certificate }` (raw DER of the leaf).
 * With `bundle` (the trust bundle the server now uses, as createSpiffeTls passes it): when it differs from the
 * one the connection was checked against, the client's chain is verified again against it, so a CA that left
 * the bundle stops being accepted on kept-alive connections too, not only on new ones.
 */
export function peerFromSocket(
  socket: TLSSocket,
  opts: { trustDomain: string; bundle?: string | undefined },
): SpiffePeer {
  const now = Date.now();
  let cached = socketCache.get(socket);
  if (!cached || cached.trustDomain !== opts.trustDomain) {
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
    let chainNotAfter: number;
    try {
      chainNotAfter = earliestNotAfter(peerIntermediates(socket));
    } catch (err) {
      throw peerInvalid('client certificate chain does not parse', err);
    }
    cached = {
      trustDomain: opts.trustDomain,
      bundle: handshakeBundles.get(socket) ?? opts.bundle,
      spiffeId,
      certificate: peer.raw,
      notAfter,
      chainNotAfter,
    };
    socketCache.set(socket, cached);
  }
  if (now > cached.notAfter) throw peerInvalid('client certificate has expired');
  if (now > cached.chainNotAfter) throw peerInvalid("a CA certificate on the client certificate's chain has expired");
  if (opts.bundle !== undefined && cached.bundle !== undefined && cached.bundle !== opts.bundle) {
    // One verification per connection and bundle: a refused connection kept open and busy costs a compare.
    if (cached.refused?.bundle === opts.bundle) throw peerInvalid(cached.refused.reason);
    const leaf = new X509Certificate(cached.certificate);
    directStats.chainChecks++;
    try {
      const { path, root } = verifyChainTo(leaf, peerIntermediates(socket), bundleCerts(opts.bundle), new Date(now));
      for (const ca of path) checkClientAuthEku(ca, 'intermediate CA');
      cached.chainNotAfter = earliestNotAfter([...path, root]);
    } catch (err) {
      const reason =
        cached.bundle === UNKNOWN_BUNDLE
          ? `client certificate does not chain to the trust bundle in force: ${(err as Error).message}`
          : `client certificate no longer chains to the trust bundle (it changed since this connection was opened): ${(err as Error).message}`;
      cached.refused = { bundle: opts.bundle, reason };
      throw peerInvalid(reason, err);
    }
    cached.bundle = opts.bundle;
    cached.refused = undefined;
  }
  return { spiffeId: cached.spiffeId, certificate: cached.certificate };
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

/**
 * Verified forwarded certificates, so a request behind the proxy costs a hash instead of a chain verification
 * (direct mTLS verifies once per connection; the header comes again on every request).
 * - Key: SHA-256 of the bundle generation, the trust domain and the exact header value: another header, even one
 *   byte apart, is verified on its own.
 * - An accepted entry lives at most FORWARDED_CACHE_TTL_MS and never past the earliest notAfter on the verified
 *   path (leaf, intermediates, bundle CA); a clock before the moment it was verified skips it.
 * - A refusal is kept FORWARDED_FAILURE_TTL_MS: a proxy replaying a bad certificate costs one verification a
 *   second, and a certificate that becomes valid (notBefore reached) is accepted a second later at most.
 * - A different bundle starts a new generation and empties the cache: a rotated bundle stops accepting at once.
 * - At most FORWARDED_CACHE_MAX entries, least recently used dropped first.
 */
export const FORWARDED_CACHE_MAX = 1024;
export const FORWARDED_CACHE_TTL_MS = 60_000;
export const FORWARDED_FAILURE_TTL_MS = 1_000;

type ForwardedEntry =
  | { ok: true; spiffeId: string; certificate: Buffer; from: number; until: number }
  | { ok: false; reason: string; from: number; until: number };

/** The token cache's bounded LRU, in milliseconds here. */
const forwardedCache = new ExpiringCache<ForwardedEntry>(FORWARDED_CACHE_MAX);
const forwardedStats = { hits: 0, misses: 0 };
/** Each trust bundle seen gets a generation; a new one (a rotation) empties the cache. */
const bundleGenerations = new Map<string, number>();
let bundleGeneration = 0;

/** Counters and size of the forwarded-certificate cache (for tests and metrics). */
export function forwardedPeerCacheStats(): { hits: number; misses: number; size: number; generation: number } {
  return { ...forwardedStats, size: forwardedCache.size, generation: bundleGeneration };
}

/** Empties the forwarded-certificate cache (a new trust bundle does this by itself). */
export function clearForwardedPeerCache(): void {
  forwardedCache.clear();
  bundleGenerations.clear();
}

function forwardedKey(headerValue: string, bundle: string, trustDomain: string): string {
  // Several servers in one process may each have their bundle: alternating between known bundles keeps the
  // entries (the generation is part of the key); a bundle not seen before is a rotation and empties the cache.
  let generation = bundleGenerations.get(bundle);
  if (generation === undefined) {
    forwardedCache.clear();
    if (bundleGenerations.size >= 16) bundleGenerations.clear();
    generation = ++bundleGeneration;
    bundleGenerations.set(bundle, generation);
  }
  // One-shot crypto.hash (no Hash object per call): this runs on every forwarded request.
  return hash('sha256', `${generation}\n${trustDomain.length}:${trustDomain}\n${headerValue}`, 'base64');
}

function remember(key: string, entry: ForwardedEntry): void {
  // ExpiringCache keeps an entry while now < its end: + 1 keeps it through `until`, as a certificate is valid
  // through its notAfter (and one ending at the moment it was verified is not kept, as before).
  forwardedCache.set(key, entry, entry.until + 1, entry.from + 1);
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
 * proxy (isTrustedProxy): anyone else can write the header. Verdicts are cached (see FORWARDED_CACHE_MAX):
 * an accepted header for up to 60 s and never past a notAfter on its path, a refused one for 1 s.
 * @throws AuthError('ERR_PEER_CERT_INVALID', reason)
 */
export function peerFromForwardedCert(
  headerValue: string,
  opts: { bundle: string; trustDomain: string; now?: Date },
): { spiffeId: string; certificate: Buffer } {
  if (headerValue.length > MAX_FORWARDED_HEADER) {
    throw peerInvalid('forwarded client certificate rejected: header too large');
  }
  const now = opts.now ?? new Date();
  const t = now.getTime();
  const key = forwardedKey(headerValue, opts.bundle, opts.trustDomain);
  const hit = forwardedCache.get(key, t);
  // A clock before the moment the entry was verified (a test's `now`, a clock set back) verifies again.
  if (hit && hit.from <= t) {
    forwardedStats.hits++;
    if (!hit.ok) throw peerInvalid(hit.reason);
    // A copy: a caller that writes to it must not change what the next request is served.
    return { spiffeId: hit.spiffeId, certificate: Buffer.from(hit.certificate) };
  }
  forwardedStats.misses++;
  try {
    const { peer, notAfter } = verifyForwarded(headerValue, opts.bundle, opts.trustDomain, now);
    remember(key, {
      ok: true,
      spiffeId: peer.spiffeId,
      certificate: Buffer.from(peer.certificate),
      from: t,
      until: Math.min(t + FORWARDED_CACHE_TTL_MS, notAfter),
    });
    return peer;
  } catch (err) {
    const refusal = isAuthError(err)
      ? err
      : peerInvalid(`forwarded client certificate rejected: ${(err as Error).message}`, err);
    remember(key, { ok: false, reason: refusal.message, from: t, until: t + FORWARDED_FAILURE_TTL_MS });
    throw refusal;
  }
}

function verifyForwarded(
  headerValue: string,
  bundle: string,
  trustDomain: string,
  now: Date,
): { peer: { spiffeId: string; certificate: Buffer }; notAfter: number } {
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
  const { path, root } = verifyChainTo(leaf, chain.slice(1), bundleCerts(bundle), now);
  // Direct mTLS gets this from OpenSSL's ssl_client purpose; a forwarded chain must not be laxer.
  checkClientAuthEku(leaf, 'certificate');
  for (const ca of path) checkClientAuthEku(ca, 'intermediate CA');
  const spiffeId = validateSvid(leaf, { trustDomain });
  const notAfter = Math.min(...[leaf, ...path, root].map((c) => new Date(c.validTo).getTime()));
  return { peer: { spiffeId, certificate: leaf.raw }, notAfter };
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
 *
 * A trusted proxy speaks for its callers: its own client certificate (Traefik's serversTransport SVID) is
 * checked like any other but is never the caller's identity. From a trusted proxy the peer is the forwarded
 * certificate, or `{}` when there is none (a caller without a certificate must not inherit the proxy's ID).
 * @throws AuthError('ERR_PEER_CERT_INVALID', reason)
 */
export function peerFromRequest(req: IncomingMessage, opts: PeerResolverOptions): SpiffePeer {
  const socket = req.socket as TLSSocket;
  const viaProxy =
    !!opts.bundle && !!opts.trustedProxies && isTrustedProxy(req.socket.remoteAddress, opts.trustedProxies);
  if (socket.encrypted) {
    const direct = peerFromSocket(socket, opts);
    if (direct.spiffeId && !viaProxy) return direct;
  }
  if (!viaProxy) return {};
  const headerName = (opts.header ?? 'x-forwarded-tls-client-cert').toLowerCase();
  const value = req.headers[headerName];
  if (value === undefined) return {};
  // Node joins repeated headers into one comma-separated string, which reads as leaf + intermediates:
  // only the raw header list shows that a second certificate header was smuggled past the proxy.
  if (Array.isArray(value) || countRawHeader(req.rawHeaders, headerName) > 1) {
    throw peerInvalid('more than one forwarded client certificate header');
  }
  return peerFromForwardedCert(value, { bundle: opts.bundle as string, trustDomain: opts.trustDomain });
}
