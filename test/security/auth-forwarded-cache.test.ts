// The forwarded client certificate cache (peerFromForwardedCert): a request behind Traefik must not pay a chain
// verification every time, and the cache must never accept what a fresh verification would refuse: a rotated
// bundle, an expired leaf, a header that differs from the one verified. Real certificates from the test PKI.
import {
  clearForwardedPeerCache,
  FORWARDED_CACHE_MAX,
  FORWARDED_CACHE_TTL_MS,
  FORWARDED_FAILURE_TTL_MS,
  forwardedPeerCacheStats,
  isAuthError,
  peerFromForwardedCert,
} from '@ravenhelm/auth';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeCa, makeLeaf, type TestCa } from '../fixtures/pki.js';

const TD = 'ravenhelm.test';
const AGENT = `spiffe://${TD}/agent/oncall`;
const OTHER = `spiffe://${TD}/agent/other`;
const HOUR = 3_600_000;

/** Traefik v3's header: the PEM body without BEGIN/END lines and newlines. */
const header = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\n/g, '');

function outcome(fn: () => { spiffeId: string }): string {
  try {
    return fn().spiffeId;
  } catch (err) {
    if (isAuthError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
}

let ca: TestCa;
beforeAll(async () => {
  ca = await makeCa({ name: 'cache root' });
});
beforeEach(() => clearForwardedPeerCache());

describe('forwarded certificate cache', () => {
  it('verifies a header once, then serves it from the cache', async () => {
    const c = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'] });
    const h = header(c.certPem);
    const before = forwardedPeerCacheStats();
    const first = peerFromForwardedCert(h, { bundle: ca.certPem, trustDomain: TD });
    const second = peerFromForwardedCert(h, { bundle: ca.certPem, trustDomain: TD });
    expect(first.spiffeId).toBe(AGENT);
    expect(second.spiffeId).toBe(AGENT);
    expect(second.certificate.equals(c.x509.raw)).toBe(true);
    const after = forwardedPeerCacheStats();
    expect(after.misses - before.misses).toBe(1);
    expect(after.hits - before.hits).toBe(1);
    // What one caller does to its copy of the certificate is not what the next request is served.
    first.certificate.fill(0);
    second.certificate.fill(0);
    expect(peerFromForwardedCert(h, { bundle: ca.certPem, trustDomain: TD }).certificate.equals(c.x509.raw)).toBe(true);
  });

  it('a different header is verified on its own, never served from another entry', async () => {
    const a = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'] });
    const b = await makeLeaf({ ca, uris: [OTHER], eku: ['clientAuth'] });
    const opts = { bundle: ca.certPem, trustDomain: TD };
    expect(peerFromForwardedCert(header(a.certPem), opts).spiffeId).toBe(AGENT);
    expect(peerFromForwardedCert(header(b.certPem), opts).spiffeId).toBe(OTHER);
    // One character changed inside the signature: not the verified header, so verified (and refused).
    const h = header(a.certPem);
    const i = h.length - 10;
    const tampered = `${h.slice(0, i)}${h[i] === 'A' ? 'B' : 'A'}${h.slice(i + 1)}`;
    expect(outcome(() => peerFromForwardedCert(tampered, opts))).toMatch(/^ERR_PEER_CERT_INVALID: forwarded client/);
    // The same header under another trust domain is not the cached verdict either.
    expect(outcome(() => peerFromForwardedCert(h, { ...opts, trustDomain: 'elsewhere.test' }))).toMatch(
      /not in trust domain|trust domain/,
    );
    expect(peerFromForwardedCert(h, opts).spiffeId).toBe(AGENT);
  });

  it('a rotated bundle stops accepting a cached header at once', async () => {
    const c = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'] });
    const h = header(c.certPem);
    expect(peerFromForwardedCert(h, { bundle: ca.certPem, trustDomain: TD }).spiffeId).toBe(AGENT);
    const generation = forwardedPeerCacheStats().generation;
    const rotated = await makeCa({ name: 'rotated root' });
    expect(outcome(() => peerFromForwardedCert(h, { bundle: rotated.certPem, trustDomain: TD }))).toBe(
      'ERR_PEER_CERT_INVALID: forwarded client certificate rejected: certificate does not chain to a trust bundle CA',
    );
    expect(forwardedPeerCacheStats().generation).toBeGreaterThan(generation);
    // Only the refusal just made is left: the accepted entry went with the old bundle.
    expect(forwardedPeerCacheStats().size).toBe(1);
  });

  it('two servers in one process with their own bundles keep their entries; each header only under its bundle', async () => {
    const other = await makeCa({ name: 'second server root' });
    const a = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'] });
    const b = await makeLeaf({ ca: other, uris: [OTHER], eku: ['clientAuth'] });
    const first = { bundle: ca.certPem, trustDomain: TD };
    const second = { bundle: other.certPem, trustDomain: TD };
    expect(peerFromForwardedCert(header(a.certPem), first).spiffeId).toBe(AGENT);
    expect(peerFromForwardedCert(header(b.certPem), second).spiffeId).toBe(OTHER);
    // The first sight of the second bundle reads as a rotation and emptied the cache: A is verified again.
    expect(peerFromForwardedCert(header(a.certPem), first).spiffeId).toBe(AGENT);
    const s = forwardedPeerCacheStats();
    for (let i = 0; i < 3; i++) {
      expect(peerFromForwardedCert(header(a.certPem), first).spiffeId).toBe(AGENT);
      expect(peerFromForwardedCert(header(b.certPem), second).spiffeId).toBe(OTHER);
    }
    expect(forwardedPeerCacheStats().hits - s.hits).toBe(6);
    // A's header under B's bundle is a verification of its own, and refused.
    expect(outcome(() => peerFromForwardedCert(header(a.certPem), second))).toMatch(/does not chain/);
  });

  it('an entry never outlives the leaf notAfter', async () => {
    const notAfter = new Date(Math.ceil((Date.now() + 30_000) / 1000) * 1000);
    const c = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'], notAfter });
    const h = header(c.certPem);
    const opts = { bundle: ca.certPem, trustDomain: TD };
    expect(peerFromForwardedCert(h, opts).spiffeId).toBe(AGENT);
    // Within the 60 s lifetime, but past the leaf's notAfter: refused, not served from the cache.
    const later = new Date(notAfter.getTime() + 1000);
    expect(outcome(() => peerFromForwardedCert(h, { ...opts, now: later }))).toBe(
      `ERR_PEER_CERT_INVALID: forwarded client certificate rejected: certificate has expired (notAfter ${c.x509.validTo})`,
    );
  });

  it('an entry is not used past its maximum lifetime, nor by a clock before it was made', async () => {
    const c = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'], notAfter: new Date(Date.now() + 24 * HOUR) });
    const h = header(c.certPem);
    const opts = { bundle: ca.certPem, trustDomain: TD };
    const t0 = Date.now();
    peerFromForwardedCert(h, { ...opts, now: new Date(t0) });
    let s = forwardedPeerCacheStats();
    peerFromForwardedCert(h, { ...opts, now: new Date(t0 + FORWARDED_CACHE_TTL_MS - 1000) });
    expect(forwardedPeerCacheStats().hits - s.hits).toBe(1);
    s = forwardedPeerCacheStats();
    peerFromForwardedCert(h, { ...opts, now: new Date(t0 + FORWARDED_CACHE_TTL_MS + 1000) });
    expect(forwardedPeerCacheStats().misses - s.misses).toBe(1);
    s = forwardedPeerCacheStats();
    // Before the leaf's notBefore (1 h ago): a fresh verification, which refuses.
    expect(outcome(() => peerFromForwardedCert(h, { ...opts, now: new Date(t0 - 2 * HOUR) }))).toMatch(
      /certificate is not yet valid/,
    );
    expect(forwardedPeerCacheStats().misses - s.misses).toBe(1);
  });

  it('a refusal is kept only briefly: a certificate that becomes valid is accepted a second later', async () => {
    const notBefore = new Date(Math.ceil((Date.now() + 5_000) / 1000) * 1000);
    const c = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'], notBefore });
    const h = header(c.certPem);
    const opts = { bundle: ca.certPem, trustDomain: TD };
    const t0 = notBefore.getTime() - 500;
    expect(outcome(() => peerFromForwardedCert(h, { ...opts, now: new Date(t0) }))).toMatch(/not yet valid/);
    const s = forwardedPeerCacheStats();
    // A replay within the failure lifetime costs no verification and gives the same answer.
    expect(outcome(() => peerFromForwardedCert(h, { ...opts, now: new Date(t0 + 100) }))).toMatch(/not yet valid/);
    expect(forwardedPeerCacheStats().hits - s.hits).toBe(1);
    expect(peerFromForwardedCert(h, { ...opts, now: new Date(t0 + FORWARDED_FAILURE_TTL_MS + 1) }).spiffeId).toBe(
      AGENT,
    );
  });

  it('holds at most FORWARDED_CACHE_MAX entries, dropping the least recently used', async () => {
    const c = await makeLeaf({ ca, uris: [AGENT], eku: ['clientAuth'] });
    const opts = { bundle: ca.certPem, trustDomain: TD };
    const good = header(c.certPem);
    const junk = (i: number) => outcome(() => peerFromForwardedCert(`garbage${i}`, opts));
    peerFromForwardedCert(good, opts);
    // Garbage headers are refused cheaply and cached as refusals: they fill the cache.
    for (let i = 0; i < FORWARDED_CACHE_MAX - 1; i++) junk(i);
    expect(forwardedPeerCacheStats().size).toBe(FORWARDED_CACHE_MAX);
    peerFromForwardedCert(good, opts); // now the most recently used
    junk(FORWARDED_CACHE_MAX); // evicts the least recently used: garbage0
    expect(forwardedPeerCacheStats().size).toBe(FORWARDED_CACHE_MAX);
    let s = forwardedPeerCacheStats();
    peerFromForwardedCert(good, opts);
    expect(forwardedPeerCacheStats().hits - s.hits).toBe(1);
    s = forwardedPeerCacheStats();
    expect(junk(0)).toBe('ERR_PEER_CERT_INVALID: forwarded client certificate rejected: certificate 1 does not parse');
    expect(forwardedPeerCacheStats().misses - s.misses).toBe(1);
    for (let i = 0; i < 2 * FORWARDED_CACHE_MAX; i++) junk(10_000 + i);
    expect(forwardedPeerCacheStats().size).toBe(FORWARDED_CACHE_MAX);
  });
});
