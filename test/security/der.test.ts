/**
 * The DER reader SVID validation uses for basicConstraints and keyUsage, checked against
 * @peculiar/x509 (a full ASN.1 implementation) on certificates with every key-usage bit, CA:TRUE and
 * CA:FALSE, and no KeyUsage extension; malformed DER must throw, never read as "no extensions".
 */
import 'reflect-metadata';
import { BasicConstraintsExtension, KeyUsagesExtension, X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSvidExtensions } from '../../auth/src/spiffe/der.js';
import { makeCa, makeLeaf, type TestCa } from '../fixtures/pki.js';

const USAGES = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
];

function oracle(raw: Uint8Array): { isCa: boolean; keyUsage: number | undefined } {
  const cert = new PeculiarCertificate(raw);
  const ku = cert.getExtension(KeyUsagesExtension);
  return { isCa: cert.getExtension(BasicConstraintsExtension)?.ca === true, keyUsage: ku ? ku.usages : undefined };
}

let ca: TestCa;
beforeAll(async () => {
  ca = await makeCa({ name: 'der-test' });
});

describe('readSvidExtensions', () => {
  it.each(USAGES)('reads keyUsage %s alone as @peculiar/x509 does', async (usage) => {
    const leaf = await makeLeaf({ ca, uris: ['spiffe://td/a'], keyUsage: [usage] });
    const read = readSvidExtensions(leaf.x509.raw);
    expect(read).toEqual(oracle(leaf.x509.raw));
    expect(read.keyUsage).toBe(1 << USAGES.indexOf(usage));
  });

  it('reads combined usages, CA:TRUE, and a missing KeyUsage extension', async () => {
    const cases = [
      await makeLeaf({ ca, keyUsage: ['digitalSignature', 'keyCertSign', 'decipherOnly'], isCa: true }),
      await makeLeaf({ ca, keyUsage: [], isCa: false }),
      await makeLeaf({ ca, keyUsage: ['digitalSignature', 'keyEncipherment'] }),
    ];
    const read = cases.map((c) => readSvidExtensions(c.x509.raw));
    expect(read).toEqual(cases.map((c) => oracle(c.x509.raw)));
    expect(read.map((r) => r.isCa)).toEqual([true, false, false]);
    expect(read[1]?.keyUsage).toBeUndefined();
    expect(readSvidExtensions(ca.x509.raw)).toEqual(oracle(ca.x509.raw));
  });

  it('throws on truncated or non-certificate DER', async () => {
    const raw = (await makeLeaf({ ca, uris: ['spiffe://td/a'] })).x509.raw;
    expect(() => readSvidExtensions(raw.subarray(0, raw.length - 40))).toThrow(/DER/);
    expect(() => readSvidExtensions(raw.subarray(0, 1))).toThrow(/DER/);
    expect(() => readSvidExtensions(Buffer.from([0x04, 0x01, 0x00]))).toThrow(/DER/);
    expect(() => readSvidExtensions(Buffer.from([0x30, 0x80, 0x00, 0x00]))).toThrow(/DER/);
  });
});
