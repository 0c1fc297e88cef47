/**
 * The two X.509 extensions SVID validation needs (RFC 5280 4.2.1.9 basicConstraints, 4.2.1.3
 * keyUsage), read straight from the certificate's DER. Node's X509Certificate exposes neither
 * (its `ca` is OpenSSL's X509_check_ca; its `keyUsage` is the EKU list); this small reader keeps an
 * ASN.1 library (and reflect-metadata) off every server's start-up path.
 */

interface Tlv {
  tag: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the content. */
  end: number;
}

function readTlv(der: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new Error('DER: truncated element');
  const tag = der[pos] as number;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not used in certificates');
  let len = der[pos + 1] as number;
  let start = pos + 2;
  if (len & 0x80) {
    const octets = len & 0x7f;
    // 0x80 is BER's indefinite length (never DER); more than 4 length octets is no certificate.
    if (octets === 0 || octets > 4) throw new Error('DER: unsupported length encoding');
    if (start + octets > limit) throw new Error('DER: truncated length');
    len = 0;
    for (let i = 0; i < octets; i++) len = len * 256 + (der[start + i] as number);
    start += octets;
  }
  const end = start + len;
  if (end > limit) throw new Error('DER: element runs past its container');
  return { tag, start, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const child = readTlv(der, pos, parent.end);
    out.push(child);
    pos = child.end;
  }
  return out;
}

const SEQUENCE = 0x30;
const BOOLEAN = 0x01;
const INTEGER = 0x02;
const OID = 0x06;
const OCTET_STRING = 0x04;
const BIT_STRING = 0x03;
const EXTENSIONS = 0xa3; // [3] EXPLICIT in TBSCertificate
const OID_BASIC_CONSTRAINTS = '551d13'; // 2.5.29.19
const OID_KEY_USAGE = '551d0f'; // 2.5.29.15

function hex(der: Uint8Array, t: Tlv): string {
  return Buffer.from(der.subarray(t.start, t.end)).toString('hex');
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new Error(`DER: ${what} is not where RFC 5280 puts it`);
  return t;
}

export interface SvidExtensions {
  isCa: boolean;
  /** basicConstraints pathLenConstraint (RFC 5280 4.2.1.9), when the certificate is a CA and sets one. */
  pathLen?: number | undefined;
  keyUsage: number | undefined;
}

/**
 * basicConstraints cA (and pathLenConstraint) and the KeyUsage bits as flags (digitalSignature = 1, nonRepudiation = 2, ...,
 * keyCertSign = 32, cRLSign = 64, decipherOnly = 256: bit n of the BIT STRING is 1 << n); keyUsage
 * is undefined when the extension is absent. Throws when the DER does not parse or an extension
 * appears twice.
 */
export function readSvidExtensions(der: Uint8Array): SvidExtensions {
  const cert = expect(readTlv(der, 0, der.length), SEQUENCE, 'Certificate');
  const tbs = expect(children(der, cert)[0], SEQUENCE, 'TBSCertificate');
  const wrapper = children(der, tbs).find((t) => t.tag === EXTENSIONS);
  let isCa = false;
  let pathLen: number | undefined;
  let keyUsage: number | undefined;
  if (!wrapper) return { isCa, keyUsage };
  const list = expect(children(der, wrapper)[0], SEQUENCE, 'Extensions');
  const seen = new Set<string>();
  for (const ext of children(der, list)) {
    const parts = children(der, expect(ext, SEQUENCE, 'Extension'));
    const oid = hex(der, expect(parts[0], OID, 'extnID'));
    const valueAt = parts[1]?.tag === BOOLEAN ? 2 : 1;
    const value = expect(parts[valueAt], OCTET_STRING, 'extnValue');
    if (seen.has(oid)) throw new Error('DER: an extension appears twice');
    seen.add(oid);
    if (oid === OID_BASIC_CONSTRAINTS) {
      const bc = children(der, expect(readTlv(der, value.start, value.end), SEQUENCE, 'BasicConstraints'));
      const first = bc[0];
      isCa = first?.tag === BOOLEAN && first.end > first.start && der[first.start] !== 0;
      const limit = bc.find((t) => t.tag === INTEGER);
      if (isCa && limit) {
        const bytes = der.subarray(limit.start, limit.end);
        // A non-negative INTEGER; more than 4 octets (or a sign bit) is no real constraint: read it as 0.
        if (bytes.length === 0 || bytes.length > 4 || ((bytes[0] as number) & 0x80) !== 0) pathLen = 0;
        else pathLen = bytes.reduce((n, b) => n * 256 + b, 0);
      }
    } else if (oid === OID_KEY_USAGE) {
      const bits = expect(readTlv(der, value.start, value.end), BIT_STRING, 'KeyUsage');
      if (bits.end <= bits.start) throw new Error('DER: empty KeyUsage');
      keyUsage = 0;
      const bytes = der.subarray(bits.start + 1, bits.end);
      for (let n = 0; n < bytes.length * 8 && n < 16; n++) {
        if (((bytes[n >> 3] as number) & (0x80 >> (n & 7))) !== 0) keyUsage |= 1 << n;
      }
    }
  }
  return pathLen === undefined ? { isCa, keyUsage } : { isCa, pathLen, keyUsage };
}
