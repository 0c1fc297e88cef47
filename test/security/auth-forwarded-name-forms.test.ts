// RFC 5280 4.2.1.10 name constraints in the DNS, IP, e-mail and directory-name forms on forwarded client
// certificate chains, each checked against OpenSSL's own verdict on the same chain over a real mTLS handshake
// (openSslClientVerdict): the forwarded path must accept what OpenSSL accepts and refuse what it refuses.
// OpenSSL's matching rules are crypto/x509/v3_ncons.c (nc_dns, nc_email, nc_ip, nc_dn, and the commonName
// read as a host name when the leaf has no DNS SAN).
import { isAuthError, peerFromForwardedCert } from '@ravenhelm/auth';
import { describe, expect, it } from 'vitest';
import {
  derTlv,
  type LeafOptions,
  makeCa,
  makeIntermediate,
  makeLeaf,
  nameConstraintsExtension,
  openSslClientVerdict,
  type SubtreeBase,
  type TestCert,
  type TestIssuer,
} from '../fixtures/pki.js';

const TD = 'ravenhelm.test';
const AGENT = `spiffe://${TD}/agent/oncall`;

function forwarded(chain: readonly TestCert[], root: TestCert): string {
  const header = chain.map((c) => c.certPem.replace(/-----(BEGIN|END) CERTIFICATE-----|\n/g, '')).join(',');
  try {
    return peerFromForwardedCert(header, { bundle: root.certPem, trustDomain: TD }).spiffeId === AGENT
      ? 'accepted'
      : 'other';
  } catch (err) {
    if (isAuthError(err)) return err.message;
    throw err;
  }
}

const constrainedRoot = (constraints: { permitted?: SubtreeBase[]; excluded?: SubtreeBase[] }, subject?: string) =>
  makeCa({
    name: 'constrained root',
    ...(subject ? { subject } : {}),
    extensions: [nameConstraintsExtension(constraints)],
  });
const svid = (ca: TestIssuer, opts: Omit<LeafOptions, 'ca'> = {}) =>
  makeLeaf({ ca, uris: [AGENT], subject: 'CN=svid', ...opts });

/** Both verdicts on the same chain; `expected` is 'accepted' or the reason our refusal must give. */
async function agree(chain: readonly TestCert[], root: TestCert, expected: 'accepted' | RegExp): Promise<void> {
  const openssl = await openSslClientVerdict(chain, root);
  const ours = forwarded(chain, root);
  if (expected === 'accepted') {
    expect({ openssl, ours }).toEqual({ openssl: 'accepted', ours: 'accepted' });
  } else {
    // Node has no name for X509_V_ERR_PERMITTED_VIOLATION (47) / EXCLUDED_VIOLATION (48): UNSPECIFIED.
    expect(openssl).toBe('UNSPECIFIED');
    expect(ours).toMatch(expected);
  }
}

describe('dNSName constraints (labels added on the left, case-insensitive)', () => {
  it('permitted: a DNS SAN below the subtree passes, one outside or glued to the label fails', async () => {
    const root = await constrainedRoot({ permitted: [{ dns: 'RavenHelm.Test' }] });
    await agree([await svid(root, { dns: ['API.ravenhelm.test'] })], root, 'accepted');
    await agree([await svid(root, { dns: [TD] })], root, 'accepted');
    await agree(
      [await svid(root, { dns: ['api.evil.test'] })],
      root,
      /the DNS SAN "api\.evil\.test" of the certificate is outside the subtrees the trust bundle CA permits \(nameConstraints: "RavenHelm\.Test"\)$/,
    );
    await agree(
      [await svid(root, { dns: ['xravenhelm.test'] })],
      root,
      /"xravenhelm\.test" .* is outside the subtrees/,
    );
  });

  it('excluded ".internal.td" refuses hosts below it, not the name itself', async () => {
    const root = await constrainedRoot({ excluded: [{ dns: `.internal.${TD}` }] });
    await agree(
      [await svid(root, { dns: [`db.internal.${TD}`] })],
      root,
      /is in a subtree the trust bundle CA excludes/,
    );
    await agree([await svid(root, { dns: [`internal.${TD}`] })], root, 'accepted');
  });

  it('a leaf without a DNS SAN: a host-like commonName is checked as a DNS name, as OpenSSL does', async () => {
    const root = await constrainedRoot({ permitted: [{ dns: TD }] });
    await agree(
      [await svid(root, { subject: 'CN=agent.evil.test' })],
      root,
      /the subject commonName "agent\.evil\.test" .* is outside/,
    );
    await agree([await svid(root, { subject: `CN=agent.${TD}` })], root, 'accepted');
    await agree([await svid(root, { subject: 'CN=svid' })], root, 'accepted');
  });

  it('an intermediate constrains the leaf below it, a constraint-free root does not loosen it', async () => {
    const root = await makeCa({ name: 'root' });
    const mid = await makeIntermediate(root, { extensions: [nameConstraintsExtension({ permitted: [{ dns: TD }] })] });
    await agree([await svid(mid, { dns: [`a.${TD}`] }), mid], root, 'accepted');
    await agree(
      [await svid(mid, { dns: ['a.other.test'] }), mid],
      root,
      /outside the subtrees the intermediate CA permits/,
    );
  });
});

describe('iPAddress constraints (address and mask)', () => {
  it('IPv4 permitted and excluded ranges', async () => {
    const root = await constrainedRoot({ permitted: [{ ip: '10.0.0.0/8' }], excluded: [{ ip: '10.9.0.0/16' }] });
    await agree([await svid(root, { ips: ['10.1.2.3'] })], root, 'accepted');
    await agree(
      [await svid(root, { ips: ['192.168.1.1'] })],
      root,
      /the IP SAN 192\.168\.1\.1 .* outside .*10\.0\.0\.0\/255\.0\.0\.0/,
    );
    await agree([await svid(root, { ips: ['10.9.9.9'] })], root, /the IP SAN 10\.9\.9\.9 .* excludes/);
  });

  it('IPv6: a v6 range admits its addresses and never an IPv4 address', async () => {
    const root = await constrainedRoot({ permitted: [{ ip: 'fd00::/16' }] });
    await agree([await svid(root, { ips: ['fd00::1'] })], root, 'accepted');
    await agree([await svid(root, { ips: ['fe80::1'] })], root, /outside the subtrees/);
    await agree([await svid(root, { ips: ['10.1.2.3'] })], root, /outside the subtrees/);
  });
});

describe('rfc822Name constraints (mailbox, host, domain)', () => {
  it('host form: every mailbox at that host only', async () => {
    const root = await constrainedRoot({ permitted: [{ email: TD }] });
    await agree([await svid(root, { emails: [`oncall@${TD}`] })], root, 'accepted');
    await agree(
      [await svid(root, { emails: [`oncall@sub.${TD}`] })],
      root,
      /the e-mail SAN "oncall@sub\.ravenhelm\.test" .* outside/,
    );
  });

  it('domain form: hosts below the domain, not the domain itself', async () => {
    const root = await constrainedRoot({ permitted: [{ email: `.${TD}` }] });
    await agree([await svid(root, { emails: [`a@sub.${TD}`] })], root, 'accepted');
    await agree([await svid(root, { emails: [`a@${TD}`] })], root, /outside the subtrees/);
  });

  it('mailbox form: local part case-sensitive, host not; excluded mailboxes refused', async () => {
    const root = await constrainedRoot({ permitted: [{ email: `oncall@${TD}` }], excluded: [{ email: `root@${TD}` }] });
    await agree([await svid(root, { emails: ['oncall@RAVENHELM.test'] })], root, 'accepted');
    await agree([await svid(root, { emails: [`Oncall@${TD}`] })], root, /outside the subtrees/);
    const excluding = await constrainedRoot({ excluded: [{ email: `root@${TD}` }] });
    await agree([await svid(excluding, { emails: [`root@${TD}`] })], excluding, /excludes/);
  });

  it("the subject's emailAddress attribute is an e-mail name too", async () => {
    const root = await constrainedRoot({ permitted: [{ email: TD }] });
    await agree(
      [await svid(root, { subject: 'CN=svid, E=x@evil.test' })],
      root,
      /the subject emailAddress "x@evil\.test" .* outside/,
    );
    await agree([await svid(root, { subject: `CN=svid, E=x@${TD}` })], root, 'accepted');
  });
});

describe('directoryName constraints (leading RDNs, compared canonically)', () => {
  it('permitted "O=Ravenhelm": subjects under it pass, case and spacing aside; others fail, intermediates too', async () => {
    const root = await constrainedRoot({ permitted: [{ dn: 'O=Ravenhelm' }] });
    await agree([await svid(root, { subject: 'O=Ravenhelm, CN=svid' })], root, 'accepted');
    await agree([await svid(root, { subject: 'O=RAVENHELM, CN=svid' })], root, 'accepted');
    await agree(
      [await svid(root, { subject: 'O=Other, CN=svid' })],
      root,
      /the subject "O=other, CN=svid" of the certificate is outside/,
    );
    await agree([await svid(root, { subject: 'CN=svid, O=Ravenhelm' })], root, /outside the subtrees/);
    const goodMid = await makeIntermediate(root, { subject: 'O=Ravenhelm, CN=mid' });
    await agree([await svid(goodMid, { subject: 'O=Ravenhelm, OU=agents, CN=svid' }), goodMid], root, 'accepted');
    const badMid = await makeIntermediate(root, { subject: 'CN=mid' });
    await agree(
      [await svid(badMid, { subject: 'O=Ravenhelm, CN=svid' }), badMid],
      root,
      /of the intermediate CA is outside/,
    );
  });

  it('excluded subtree and a directoryName SAN', async () => {
    const root = await constrainedRoot({
      permitted: [{ dn: 'O=Ravenhelm' }],
      excluded: [{ dn: 'O=Ravenhelm, OU=contractors' }],
    });
    await agree([await svid(root, { subject: 'O=Ravenhelm, OU=contractors, CN=svid' })], root, /excludes/);
    await agree(
      [await svid(root, { subject: 'O=Ravenhelm, CN=svid', dirNames: ['O=Other'] })],
      root,
      /the directory-name SAN "O=other" .* outside/,
    );
  });
});

describe("a grid of names and constraints: the forwarded verdict equals OpenSSL's on every cell", () => {
  const grid: { base: SubtreeBase; leaves: Omit<LeafOptions, 'ca'>[] }[] = [
    {
      base: { dns: '.ravenhelm.test' },
      leaves: [{ dns: [TD] }, { dns: [`a.${TD}`] }, { dns: [`a.b.${TD}`] }, { dns: ['*.ravenhelm.test'] }],
    },
    { base: { dns: '' }, leaves: [{ dns: ['anything.test'] }] },
    {
      base: { dns: TD },
      leaves: [
        { dns: [`${TD}.`] },
        { dns: [`.${TD}`] },
        { dns: [`a..${TD}`] },
        { dns: [`*.${TD}`] },
        { dns: ['ravenhelm.test.evil.test'] },
        { dns: [''] },
      ],
    },
    { base: { email: TD }, leaves: [{ emails: [`a@b@${TD}`] }, { emails: [`@${TD}`] }] },
    {
      base: { email: '.ravenhelm.test' },
      leaves: [{ emails: [`a@b.${TD}`] }, { emails: [`a@x${TD}`] }, { emails: ['a.ravenhelm.test@evil.test'] }],
    },
    { base: { email: `@${TD}` }, leaves: [{ emails: [`a@${TD}`] }] },
    {
      base: { ip: '192.168.0.0/23' },
      leaves: [{ ips: ['192.168.1.255'] }, { ips: ['192.168.2.0'] }, { ips: ['::ffff:192.168.1.1'] }],
    },
    {
      base: { dn: 'C=NO, O=Ravenhelm' },
      leaves: [
        { subject: 'C=NO, O=Ravenhelm, CN=svid' },
        { subject: 'C=NO, CN=svid' },
        { subject: 'C=NO, O=Ravenhelm Labs, CN=svid' },
      ],
    },
  ];
  it.each(grid)('permitted and excluded $base', async ({ base, leaves }) => {
    for (const constraints of [{ permitted: [base] }, { excluded: [base] }]) {
      const root = await constrainedRoot(constraints);
      for (const opts of leaves) {
        const chain = [await svid(root, opts)];
        const openssl = await openSslClientVerdict(chain, root);
        const ours = forwarded(chain, root);
        expect({ opts, constraints, accepted: ours === 'accepted' }).toEqual({
          opts,
          constraints,
          accepted: openssl === 'accepted',
        });
      }
    }
  });
});

describe('directoryName canonical comparison, on names built byte by byte', () => {
  const utf8 = 0x0c;
  const printable = 0x13;
  const ia5 = 0x16;
  const bmp = 0x1e;
  const O = [0x06, 0x03, 0x55, 0x04, 0x0a];
  const OU = [0x06, 0x03, 0x55, 0x04, 0x0b];
  const CN = [0x06, 0x03, 0x55, 0x04, 0x03];
  const text = (tag: number, value: string) =>
    derTlv(tag, tag === bmp ? Buffer.from(value, 'utf16le').swap16() : Buffer.from(value, 'utf8'));
  const ava = (type: number[], tag: number, value: string) => derTlv(0x30, Buffer.from(type), text(tag, value));
  const name = (...rdns: Uint8Array[][]) => derTlv(0x30, ...rdns.map((avas) => derTlv(0x31, ...avas)));
  const svidCn = [ava(CN, utf8, 'svid')];

  // [case, the constraint's O value (UTF8String), the leaf's subject, expected]
  it.each([
    ['PrintableString, upper case', 'Ravenhelm', name([ava(O, printable, 'RAVENHELM')], svidCn), 'accepted'],
    ['IA5String', 'Ravenhelm', name([ava(O, ia5, 'ravenhelm')], svidCn), 'accepted'],
    [
      'UTF8String, outer and doubled inner spaces',
      'Raven helm é',
      name([ava(O, utf8, '  Raven   helm é ')], svidCn),
      'accepted',
    ],
    ['BMPString', 'Ravenhelm é', name([ava(O, bmp, 'RAVENHELM é')], svidCn), 'accepted'],
    [
      'non-ASCII letters that differ only in case',
      'Ravenhelm é',
      name([ava(O, utf8, 'Ravenhelm É')], svidCn),
      /is outside/,
    ],
    ['another organisation', 'Ravenhelm', name([ava(O, utf8, 'Ravenhelm Labs')], svidCn), /is outside/],
    [
      'a multi-valued first RDN',
      'Ravenhelm',
      name([ava(O, utf8, 'Ravenhelm'), ava(OU, utf8, 'x')], svidCn),
      /is outside/,
    ],
  ] as const)('%s', async (_, organisation, subject, expected) => {
    const root = await constrainedRoot({ permitted: [{ raw: derTlv(0xa4, name([ava(O, utf8, organisation)])) }] });
    await agree([await svid(root, { subject })], root, expected);
  });
});

describe('forms still not evaluated on forwarded chains', () => {
  it('a registeredID constraint is refused with the reason (OpenSSL accepts: the leaf has no such name)', async () => {
    // registeredID [8] 1.3.6.1.4.1.55555
    const raw = new Uint8Array([0x88, 0x08, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xb2, 0x03]);
    const root = await constrainedRoot({ permitted: [{ raw }] });
    const leaf = await svid(root);
    expect(await openSslClientVerdict([leaf], root)).toBe('accepted');
    expect(forwarded([leaf], root)).toBe(
      'forwarded client certificate rejected: trust bundle CA has name constraints on registeredID, which forwarded client certificates are not checked against, so this chain is refused (use a CA without those constraints)',
    );
  });
});

describe('the work cap on names x constraints (OpenSSL v3_ncons.c NAME_CHECK_MAX, 2^20)', () => {
  // OpenSSL refuses a certificate whose (subject attributes + subjectAltNames) x (the CA's permitted + excluded
  // subtrees) exceeds 2^20 before comparing any name (X509_V_ERR_UNSPECIFIED): an attacker-shaped chain must not
  // buy a million comparisons per request. The permitted subtree the names fall in comes last, so without the
  // cap every name is compared with every constraint, and the chain would pass.
  const constraints = (n: number): SubtreeBase[] => [
    ...Array.from({ length: n - 1 }, (_, i) => ({ dns: `c${i}.example` })),
    { dns: TD },
  ];
  const dnsNames = (n: number) => Array.from({ length: n }, (_, i) => `n${i}.${TD}`);

  it('1026 names x 1024 constraints (over 2^20): refused both ways, with the counts', async () => {
    const root = await constrainedRoot({ permitted: constraints(1024) });
    // subject CN (1) + the URI SAN (1) + 1024 DNS SANs = 1026 names
    const leaf = await svid(root, { dns: dnsNames(1024) });
    await agree(
      [leaf],
      root,
      /^forwarded client certificate rejected: the certificate has 1026 names and the trust bundle CA 1024 name constraints: 1050624 comparisons exceed the limit of 1048576 \(as OpenSSL's NAME_CHECK_MAX\), so this chain is refused/,
    );
  });

  it('1024 names x 1024 constraints (exactly 2^20): accepted both ways', async () => {
    const root = await constrainedRoot({ permitted: constraints(1024) });
    const leaf = await svid(root, { dns: dnsNames(1022) });
    await agree([leaf], root, 'accepted');
  });

  it('the cap counts each CA on its own, and intermediates too', async () => {
    const root = await makeCa({ name: 'root' });
    const mid = await makeIntermediate(root, {
      extensions: [nameConstraintsExtension({ permitted: constraints(2048) })],
    });
    // 1 + 1 + 511 = 513 names x 2048 = 1050624 > 2^20
    const leaf = await svid(mid, { dns: dnsNames(511) });
    await agree([leaf, mid], root, /the certificate has 513 names and the intermediate CA 2048 name constraints/);
  });
});
