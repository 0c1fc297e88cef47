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

interface RawExtension {
  /** The extnID's content bytes in hex (`551d13` for 2.5.29.19). */
  oid: string;
  /** The extnID element, for {@link dottedOid}. */
  id: Tlv;
  critical: boolean;
  value: Tlv;
}

/** The certificate's extensions in order; throws when the DER does not parse or an extension appears twice. */
function extensionsOf(der: Uint8Array): RawExtension[] {
  const cert = expect(readTlv(der, 0, der.length), SEQUENCE, 'Certificate');
  const tbs = expect(children(der, cert)[0], SEQUENCE, 'TBSCertificate');
  const wrapper = children(der, tbs).find((t) => t.tag === EXTENSIONS);
  if (!wrapper) return [];
  const list = expect(children(der, wrapper)[0], SEQUENCE, 'Extensions');
  const seen = new Set<string>();
  const out: RawExtension[] = [];
  for (const ext of children(der, list)) {
    const parts = children(der, expect(ext, SEQUENCE, 'Extension'));
    const id = expect(parts[0], OID, 'extnID');
    const oid = hex(der, id);
    const flag = parts[1]?.tag === BOOLEAN ? parts[1] : undefined;
    const value = expect(parts[flag ? 2 : 1], OCTET_STRING, 'extnValue');
    if (seen.has(oid)) throw new Error('DER: an extension appears twice');
    seen.add(oid);
    out.push({ oid, id, critical: flag !== undefined && flag.end > flag.start && der[flag.start] !== 0, value });
  }
  return out;
}

/**
 * basicConstraints cA (and pathLenConstraint) and the KeyUsage bits as flags (digitalSignature = 1, nonRepudiation = 2, ...,
 * keyCertSign = 32, cRLSign = 64, decipherOnly = 256: bit n of the BIT STRING is 1 << n); keyUsage
 * is undefined when the extension is absent. Throws when the DER does not parse or an extension
 * appears twice.
 */
export function readSvidExtensions(der: Uint8Array): SvidExtensions {
  let isCa = false;
  let pathLen: number | undefined;
  let keyUsage: number | undefined;
  for (const { oid, value } of extensionsOf(der)) {
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

const OID_EXT_KEY_USAGE = '551d25'; // 2.5.29.37
const OID_SUBJECT_ALT_NAME = '551d11'; // 2.5.29.17
const OID_NAME_CONSTRAINTS = '551d1e'; // 2.5.29.30
/** Extensions the forwarded-chain check processes: a critical one of any other kind refuses the chain. */
const PROCESSED = new Set([
  OID_BASIC_CONSTRAINTS,
  OID_KEY_USAGE,
  OID_EXT_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_NAME_CONSTRAINTS,
]);
const URI_NAME = 0x86; // GeneralName uniformResourceIdentifier [6] IA5String
const GENERAL_NAME_FORMS: Record<number, string> = {
  160: 'otherName',
  129: 'rfc822Name',
  130: 'dNSName',
  163: 'x400Address',
  164: 'directoryName',
  165: 'ediPartyName',
  134: 'uniformResourceIdentifier',
  135: 'iPAddress',
  136: 'registeredID',
};

/** Dotted form of an OID's content bytes, for messages. */
function dottedOid(der: Uint8Array, t: Tlv): string {
  const arcs: number[] = [];
  let n = 0;
  for (let i = t.start; i < t.end; i++) {
    const b = der[i] as number;
    n = n * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
      else arcs.push(n);
      n = 0;
    }
  }
  return arcs.join('.');
}

function ia5(der: Uint8Array, t: Tlv): string {
  return Buffer.from(der.subarray(t.start, t.end)).toString('latin1');
}

/** RFC 5280 4.2.1.10 NameConstraints: URI subtrees as strings; other name forms by name. */
export interface NameConstraints {
  permittedUris: string[];
  excludedUris: string[];
  /** Name forms other than URI that the constraints restrict (`dNSName`, ...). */
  otherForms: string[];
  /** A GeneralSubtree with minimum other than 0 or a maximum (RFC 5280: MUST NOT be used). */
  hasMinMax: boolean;
}

export interface ChainExtensions {
  /** Dotted OIDs of critical extensions this package does not process (RFC 5280 4.2). */
  unprocessedCritical: string[];
  /** The subjectAltName URIs. */
  uris: string[];
  nameConstraints: NameConstraints | undefined;
}

/**
 * What the forwarded-chain check needs beyond {@link readSvidExtensions}: critical extensions it does not
 * process, the URI SANs, and name constraints. Throws when the DER does not parse.
 */
export function readChainExtensions(der: Uint8Array): ChainExtensions {
  const unprocessedCritical: string[] = [];
  const uris: string[] = [];
  let nameConstraints: NameConstraints | undefined;
  for (const { oid, id, critical, value } of extensionsOf(der)) {
    if (critical && !PROCESSED.has(oid)) unprocessedCritical.push(dottedOid(der, id));
    if (oid === OID_SUBJECT_ALT_NAME) {
      const names = expect(readTlv(der, value.start, value.end), SEQUENCE, 'GeneralNames');
      for (const name of children(der, names)) if (name.tag === URI_NAME) uris.push(ia5(der, name));
    } else if (oid === OID_NAME_CONSTRAINTS) {
      const nc: NameConstraints = { permittedUris: [], excludedUris: [], otherForms: [], hasMinMax: false };
      const seq = expect(readTlv(der, value.start, value.end), SEQUENCE, 'NameConstraints');
      for (const group of children(der, seq)) {
        if (group.tag !== 0xa0 && group.tag !== 0xa1)
          throw new Error('DER: NameConstraints is not where RFC 5280 puts it');
        for (const subtree of children(der, group)) {
          const [base, ...rest] = children(der, expect(subtree, SEQUENCE, 'GeneralSubtree'));
          if (!base) throw new Error('DER: GeneralSubtree without a base');
          if (rest.some((r) => r.tag !== 0x80 || r.end - r.start !== 1 || der[r.start] !== 0)) nc.hasMinMax = true;
          if (base.tag === URI_NAME) (group.tag === 0xa0 ? nc.permittedUris : nc.excludedUris).push(ia5(der, base));
          else nc.otherForms.push(GENERAL_NAME_FORMS[base.tag] ?? `tag 0x${base.tag.toString(16)}`);
        }
      }
      nameConstraints = nc;
    }
  }
  return { unprocessedCritical, uris, nameConstraints };
}
