// Fifth attack round on X.509 / SPIFFE, from outside: URI SANs that parsers read differently under URI name
// constraints (checked against OpenSSL's verdict over a real mTLS handshake), SVIDs with two URI SANs or a URI
// with a port, query or percent-encoding, and Traefik's X-Forwarded-Tls-Client-Cert in its escaped forms.
import { isAuthError, peerFromForwardedCert } from '@ravenhelm/auth';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  makeCa,
  makeIntermediate,
  makeLeaf,
  nameConstraintsExtension,
  openSslClientVerdict,
  type TestCa,
  type TestCert,
  type TestIssuer,
} from '../fixtures/pki.js';

const TD = 'ravenhelm.test';
const AGENT = `spiffe://${TD}/agent/oncall`;

const body = (c: TestCert) => c.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\n/g, '');

function verdict(header: string, root: TestCert): string {
  try {
    return peerFromForwardedCert(header, { bundle: root.certPem, trustDomain: TD }).spiffeId;
  } catch (err) {
    if (isAuthError(err)) return err.message;
    throw err;
  }
}
const forwarded = (chain: readonly TestCert[], root: TestCert) => verdict(chain.map(body).join(','), root);

describe('URI SANs under URI name constraints that RFC 3986 and OpenSSL read differently', () => {
  // OpenSSL 3.0's nc_uri (Node 20 bundles 3.0.x) takes the host as everything after "//" up to the next ':'
  // (anywhere), else the next '/': no userinfo, no '?' or '#'. RFC 3986 stops at '/', '?' or '#' and drops
  // userinfo and port. Where the two differ, the forwarded path used to accept what OpenSSL 3.0 refuses on
  // direct mTLS. OpenSSL 3.5 (Node 24 bundles 3.5.x) reads these hosts as RFC 3986 does and accepts them:
  // verifiers disagree, so the forwarded path refuses them whichever OpenSSL the server runs on.
  const cases = [
    `spiffe://${TD}/ns/a:b`, // OpenSSL's host: "ravenhelm.test/ns/a"
    `spiffe://${TD}?x=1`, // OpenSSL's host: "ravenhelm.test?x=1"
    `spiffe://${TD}#frag`,
    `spiffe://evil.test@${TD}`, // OpenSSL's host: "evil.test@ravenhelm.test"
  ];
  let root: TestCa;
  beforeAll(async () => {
    root = await makeCa({ name: 'uri root', extensions: [nameConstraintsExtension({ permitted: [{ uri: TD }] })] });
  });

  it.each(cases)(
    'an intermediate with URI SAN %s under a root permitting the trust domain: refused on the forwarded path',
    async (uri) => {
      const mid = await makeIntermediate(root, { uris: [uri] });
      const leaf = await makeLeaf({ ca: mid, uris: [AGENT], subject: 'CN=svid' });
      const openssl = await openSslClientVerdict([leaf, mid], root);
      // the OpenSSL in this process: 3.0 refuses (the case this guards), 3.5 accepts, others either way
      const v = process.versions.openssl;
      if (v.startsWith('3.0.')) expect(openssl).toBe('UNSPECIFIED');
      else if (v.startsWith('3.5.')) expect(openssl).toBe('accepted');
      else expect(['UNSPECIFIED', 'accepted']).toContain(openssl);
      expect(forwarded([leaf, mid], root)).toMatch(
        /^forwarded client certificate rejected: the URI SAN ".*" of the intermediate CA has a host that parsers read differently, so the trust bundle CA's URI name constraints cannot be applied to it$/,
      );
    },
  );

  it('control: the plain trust-domain URI and a port are read alike and accepted both ways', async () => {
    for (const uri of [`spiffe://${TD}`, `spiffe://${TD}:8443/x`]) {
      const mid = await makeIntermediate(root, { uris: [uri] });
      const leaf = await makeLeaf({ ca: mid, uris: [AGENT], subject: 'CN=svid' });
      expect({ uri, openssl: await openSslClientVerdict([leaf, mid], root) }).toEqual({ uri, openssl: 'accepted' });
      expect(forwarded([leaf, mid], root)).toBe(AGENT);
    }
  });
});

describe('SVID URI SANs on the forwarded path', () => {
  let root: TestCa;
  beforeAll(async () => {
    root = await makeCa({ name: 'svid root' });
  });
  const svidWith = (uris: string[]) => makeLeaf({ ca: root, uris, subject: 'CN=svid' });

  it('two URI SANs, even both in the trust domain, are refused', async () => {
    expect(forwarded([await svidWith([AGENT, `spiffe://${TD}/agent/admin`])], root)).toMatch(
      /expected exactly one URI SAN, found 2$/,
    );
  });

  it.each([
    [`spiffe://${TD}:443/agent/oncall`, /trust domain may contain only/],
    [`spiffe://${TD}/agent/oncall?admin=1`, /path may contain only/],
    [`spiffe://${TD}/agent/oncall#x`, /path may contain only/],
    [`spiffe://${TD}/agent/%6Fncall`, /must not contain percent-encoding/],
    [`spiffe://user@${TD}/agent/oncall`, /trust domain may contain only/],
  ])('%s is refused', async (uri, reason) => {
    expect(forwarded([await svidWith([uri])], root)).toMatch(reason);
  });
});

describe("Traefik's X-Forwarded-Tls-Client-Cert encodings of a three-certificate chain", () => {
  let root: TestCa;
  let chain: TestIssuer[];
  beforeAll(async () => {
    root = await makeCa({ name: 'header root' });
    const upper = await makeIntermediate(root, { subject: 'CN=upper' });
    const lower = await makeIntermediate(upper, { subject: 'CN=lower' });
    chain = [await makeLeaf({ ca: lower, uris: [AGENT], subject: 'CN=svid' }), lower, upper];
  });
  // Go's url.QueryEscape: '+', '/', '=' and ',' escaped, upper-case hex.
  const queryEscape = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

  it('v3 plain, v2 escaped per certificate or as a whole, lower-case hex, spaces after commas: accepted', () => {
    const bodies = chain.map(body);
    const forms = [
      bodies.join(','),
      bodies.map(queryEscape).join(','),
      queryEscape(bodies.join(',')),
      queryEscape(bodies.join(',')).replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()),
      bodies.join(', '),
      // Whole PEM blocks with their newlines, escaped (a proxy that forwards the PEM as is).
      queryEscape(chain.map((c) => c.certPem).join(',')),
    ];
    for (const header of forms) expect(verdict(header, root)).toBe(AGENT);
  });

  it('a CA first, doubled separators, a broken escape or a trailing comma: refused', () => {
    const bodies = chain.map(body);
    expect(verdict([bodies[0], bodies[2], bodies[1]].join(','), root)).toBe(AGENT); // intermediates in any order
    expect(verdict([bodies[1], bodies[0], bodies[2]].join(','), root)).toMatch(
      /not a valid X.509-SVID: no subjectAltName$/,
    ); // a CA first
    expect(verdict(bodies.join(',,'), root)).toMatch(/certificate 2 is not base64 DER$/);
    expect(verdict(`${bodies.join(',')}%E0%A4%A`, root)).toMatch(/header is not valid URL encoding$/);
    expect(verdict(`${bodies.join(',')},`, root)).toMatch(/certificate 4 is not base64 DER$/);
  });
});
