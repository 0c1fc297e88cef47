/**
 * What SVID and chain validation need from a certificate, read straight from its DER: basicConstraints and
 * keyUsage (RFC 5280 4.2.1.9, 4.2.1.3), and for chains this package verifies itself the subject, the
 * subjectAltNames, name constraints (4.2.1.10) and critical extensions. Node's X509Certificate exposes
 * none of these usably (its `ca` is OpenSSL's X509_check_ca; its `keyUsage` is the EKU list); this small
 * reader keeps an ASN.1 library (and reflect-metadata) off every server's start-up path.
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
  let basic: { isCa: boolean; pathLen?: number | undefined } = { isCa: false };
  let keyUsage: number | undefined;
  for (const { oid, value } of extensionsOf(der)) {
    if (oid === OID_BASIC_CONSTRAINTS) basic = readBasicConstraints(der, value);
    else if (oid === OID_KEY_USAGE) keyUsage = readKeyUsage(der, value);
  }
  return basic.pathLen === undefined ? { isCa: basic.isCa, keyUsage } : { ...basic, keyUsage };
}

function readBasicConstraints(der: Uint8Array, value: Tlv): { isCa: boolean; pathLen?: number | undefined } {
  const bc = children(der, expect(readTlv(der, value.start, value.end), SEQUENCE, 'BasicConstraints'));
  const first = bc[0];
  const isCa = first?.tag === BOOLEAN && first.end > first.start && der[first.start] !== 0;
  const limit = bc.find((t) => t.tag === INTEGER);
  if (!isCa || !limit) return { isCa };
  const bytes = der.subarray(limit.start, limit.end);
  // A non-negative INTEGER; more than 4 octets (or a sign bit) is no real constraint: read it as 0.
  if (bytes.length === 0 || bytes.length > 4 || ((bytes[0] as number) & 0x80) !== 0) return { isCa, pathLen: 0 };
  return { isCa, pathLen: bytes.reduce((n, b) => n * 256 + b, 0) };
}

function readKeyUsage(der: Uint8Array, value: Tlv): number {
  const bits = expect(readTlv(der, value.start, value.end), BIT_STRING, 'KeyUsage');
  if (bits.end <= bits.start) throw new Error('DER: empty KeyUsage');
  let keyUsage = 0;
  const bytes = der.subarray(bits.start + 1, bits.end);
  for (let n = 0; n < bytes.length * 8 && n < 16; n++) {
    if (((bytes[n >> 3] as number) & (0x80 >> (n & 7))) !== 0) keyUsage |= 1 << n;
  }
  return keyUsage;
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

function latin1(der: Uint8Array, t: Tlv): string {
  return Buffer.from(der.subarray(t.start, t.end)).toString('latin1');
}

/**
 * A GeneralName (RFC 5280 4.2.1.6) in the forms name constraints are evaluated on; any other form keeps only
 * its name. A directoryName is its RDNs in canonical form (see {@link canonicalRdns}).
 */
export type GeneralName =
  | { form: 'dNSName' | 'rfc822Name' | 'uniformResourceIdentifier'; text: string }
  | { form: 'iPAddress'; octets: Uint8Array }
  | { form: 'directoryName'; rdns: string[] }
  | { form: 'unsupported'; name: string };

/** RFC 5280 4.2.1.10 NameConstraints: the permitted and excluded subtree bases. */
export interface NameConstraints {
  permitted: GeneralName[];
  excluded: GeneralName[];
  /** A GeneralSubtree with minimum other than 0 or a maximum (RFC 5280: MUST NOT be used). */
  hasMinMax: boolean;
}

/** What the chain check needs of one certificate, read from its DER in one pass. */
export interface ChainExtensions {
  isCa: boolean;
  pathLen?: number | undefined;
  /** Dotted OIDs of critical extensions this package does not process (RFC 5280 4.2). */
  unprocessedCritical: string[];
  /** The subjectAltName entries, in order. */
  sans: GeneralName[];
  /**
   * The subject's RDNs in canonical form, its emailAddress and commonName attribute values, and how many
   * attributes it has (OpenSSL's X509_NAME_entry_count: a multi-valued RDN counts each of its attributes).
   */
  subject: { rdns: string[]; emails: string[]; commonNames: string[]; entries: number };
  nameConstraints: NameConstraints | undefined;
}

const STRING_TAGS: Record<number, BufferEncoding | 'utf16be' | 'utf32be'> = {
  12: 'utf8', // UTF8String
  19: 'latin1', // PrintableString
  20: 'latin1', // T61String (read as Latin-1, as OpenSSL does)
  22: 'latin1', // IA5String
  26: 'latin1', // VisibleString
  28: 'utf32be', // UniversalString
  30: 'utf16be', // BMPString
};
const ATTRIBUTE_NAMES: Record<string, string> = {
  '550403': 'CN',
  '55040a': 'O',
  '55040b': 'OU',
  '550406': 'C',
  '550407': 'L',
  '550408': 'ST',
  '0992268993f22c640119': 'DC',
  '2a864886f70d010901': 'emailAddress',
};
const OID_COMMON_NAME = '550403';
const OID_EMAIL_ADDRESS = '2a864886f70d010901';

function decodeString(der: Uint8Array, t: Tlv): string | undefined {
  const enc = STRING_TAGS[t.tag];
  if (enc === undefined) return undefined;
  const bytes = Buffer.from(der.subarray(t.start, t.end));
  if (enc === 'utf16be' || enc === 'utf32be') {
    const width = enc === 'utf16be' ? 2 : 4;
    if (bytes.length % width !== 0) throw new Error('DER: string length is not a whole number of characters');
    const points: number[] = [];
    for (let i = 0; i < bytes.length; i += width)
      points.push(width === 2 ? bytes.readUInt16BE(i) : bytes.readUInt32BE(i));
    return width === 2 ? String.fromCharCode(...points) : String.fromCodePoint(...points);
  }
  return bytes.toString(enc);
}

/**
 * A Name's RDNs as comparable strings, the way OpenSSL compares them for directoryName constraints
 * (x509_name_canon): string values trimmed, inner whitespace runs collapsed to one space, ASCII letters
 * lower-cased, whatever their string type; other values by tag and bytes; a multi-valued RDN as its sorted
 * attributes. `CN=svid` and a PrintableString `cn= SVID ` read alike.
 */
function canonicalRdns(
  der: Uint8Array,
  name: Tlv,
): { rdns: string[]; emails: string[]; commonNames: string[]; entries: number } {
  let entries = 0;
  const rdns: string[] = [];
  const emails: string[] = [];
  const commonNames: string[] = [];
  for (const rdn of children(der, expect(name, SEQUENCE, 'Name'))) {
    if (rdn.tag !== 0x31) throw new Error('DER: RelativeDistinguishedName is not where RFC 5280 puts it');
    const avas: string[] = [];
    for (const ava of children(der, rdn)) {
      entries++;
      const [type, value] = children(der, expect(ava, SEQUENCE, 'AttributeTypeAndValue'));
      const oid = hex(der, expect(type, OID, 'AttributeType'));
      if (!value) throw new Error('DER: attribute without a value');
      const text = decodeString(der, value);
      if (oid === OID_EMAIL_ADDRESS) emails.push(value.tag === 0x16 ? (text as string) : '');
      if (oid === OID_COMMON_NAME && text !== undefined) commonNames.push(text);
      const canon =
        text === undefined
          ? `#${value.tag.toString(16)}:${hex(der, value)}`
          : text
              .replace(/^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g, '')
              .replace(/[\t\n\v\f\r ]+/g, ' ')
              .replace(/[A-Z]/g, (c) => c.toLowerCase());
      avas.push(`${ATTRIBUTE_NAMES[oid] ?? dottedOid(der, type as Tlv)}=${canon}`);
    }
    rdns.push(avas.sort().join('+'));
  }
  return { rdns, emails, commonNames, entries };
}

function readGeneralName(der: Uint8Array, t: Tlv): GeneralName {
  switch (t.tag) {
    case 0x81:
      return { form: 'rfc822Name', text: latin1(der, t) };
    case 0x82:
      return { form: 'dNSName', text: latin1(der, t) };
    case 0x86:
      return { form: 'uniformResourceIdentifier', text: latin1(der, t) };
    case 0x87:
      return { form: 'iPAddress', octets: der.slice(t.start, t.end) };
    case 0xa4: {
      const [name] = children(der, t);
      return { form: 'directoryName', rdns: canonicalRdns(der, expect(name, SEQUENCE, 'Name')).rdns };
    }
    default:
      return { form: 'unsupported', name: GENERAL_NAME_FORMS[t.tag] ?? `tag 0x${t.tag.toString(16)}` };
  }
}

function readNameConstraints(der: Uint8Array, value: Tlv): NameConstraints {
  const nc: NameConstraints = { permitted: [], excluded: [], hasMinMax: false };
  const seq = expect(readTlv(der, value.start, value.end), SEQUENCE, 'NameConstraints');
  for (const group of children(der, seq)) {
    if (group.tag !== 0xa0 && group.tag !== 0xa1) throw new Error('DER: NameConstraints is not where RFC 5280 puts it');
    for (const subtree of children(der, group)) {
      const [base, ...rest] = children(der, expect(subtree, SEQUENCE, 'GeneralSubtree'));
      if (!base) throw new Error('DER: GeneralSubtree without a base');
      if (rest.some((r) => r.tag !== 0x80 || r.end - r.start !== 1 || der[r.start] !== 0)) nc.hasMinMax = true;
      (group.tag === 0xa0 ? nc.permitted : nc.excluded).push(readGeneralName(der, base));
    }
  }
  return nc;
}

/**
 * Everything the forwarded-chain check reads from one certificate, in one pass over its DER: basicConstraints,
 * critical extensions it does not process, the subjectAltNames, the subject and name constraints. Throws when
 * the DER does not parse or an extension appears twice.
 */
export function readChainExtensions(der: Uint8Array): ChainExtensions {
  const cert = expect(readTlv(der, 0, der.length), SEQUENCE, 'Certificate');
  const tbs = children(der, expect(children(der, cert)[0], SEQUENCE, 'TBSCertificate'));
  // version [0] (optional), serialNumber, signature, issuer, validity, subject
  const subjectName = expect(tbs[(tbs[0]?.tag === 0xa0 ? 1 : 0) + 4], SEQUENCE, 'subject');
  const out: ChainExtensions = {
    isCa: false,
    unprocessedCritical: [],
    sans: [],
    subject: canonicalRdns(der, subjectName),
    nameConstraints: undefined,
  };
  for (const { oid, id, critical, value } of extensionsOf(der)) {
    if (critical && !PROCESSED.has(oid)) out.unprocessedCritical.push(dottedOid(der, id));
    if (oid === OID_BASIC_CONSTRAINTS) Object.assign(out, readBasicConstraints(der, value));
    else if (oid === OID_SUBJECT_ALT_NAME) {
      const names = expect(readTlv(der, value.start, value.end), SEQUENCE, 'GeneralNames');
      out.sans = children(der, names).map((n) => readGeneralName(der, n));
    } else if (oid === OID_NAME_CONSTRAINTS) out.nameConstraints = readNameConstraints(der, value);
  }
  return out;
}
