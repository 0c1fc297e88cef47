/**
 * RFC 5280 4.2.1.10 / 6.1.3 (b)-(c) name constraints on a chain this package verifies itself (a client
 * certificate chain forwarded by a trusted proxy), in the five name forms OpenSSL evaluates on direct mTLS
 * (crypto/x509/v3_ncons.c: nc_dns, nc_email, nc_uri, nc_ip, nc_dn), with the same matching rules so both
 * paths reach the same verdict:
 * - dNSName: the name, or the name with labels added on the left (`example.com` admits `a.example.com`);
 *   case-insensitive; an empty base admits every name.
 * - rfc822Name: `user@host` one mailbox (local part case-sensitive), `host` every mailbox at that host,
 *   `.domain` every mailbox at a host below it.
 * - uniformResourceIdentifier: on the URI's host, `host` exactly or `.domain` for hosts below it.
 * - iPAddress: address and mask (8 octets for IPv4, 32 for IPv6); v4 never matches v6.
 * - directoryName: the constraint's RDNs are the first RDNs of the name, compared canonically.
 * Names checked: each certificate's subject (as a directoryName when not empty) and its emailAddress
 * attributes (as rfc822Name), its subjectAltNames, and, for the leaf without a dNSName SAN, a commonName that
 * reads as a host name (as a dNSName, as OpenSSL does). Self-issued intermediates are skipped (6.1.3 (b)).
 * Work is capped as OpenSSL caps it (NAME_CONSTRAINTS_check): a certificate whose names (subject attributes +
 * subjectAltNames) times a CA's constraints (permitted + excluded subtrees) exceed NAME_CHECK_MAX is refused
 * before any comparison.
 */
import type { X509Certificate } from 'node:crypto';
import type { ChainExtensions, GeneralName, NameConstraints } from './der.js';

type Form = Exclude<GeneralName['form'], 'unsupported'>;
const FORM_LABEL: Record<Form, string> = {
  dNSName: 'DNS',
  rfc822Name: 'e-mail',
  uniformResourceIdentifier: 'URI',
  iPAddress: 'IP',
  directoryName: 'directory-name',
};

function clip(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}...` : text);
}

function formatIp(octets: Uint8Array): string {
  if (octets.length === 4) return [...octets].join('.');
  if (octets.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2)
      groups.push((((octets[i] as number) << 8) | (octets[i + 1] as number)).toString(16));
    return groups.join(':');
  }
  if (octets.length === 8 || octets.length === 32) {
    const half = octets.length / 2;
    return `${formatIp(octets.subarray(0, half))}/${formatIp(octets.subarray(half))}`;
  }
  return `${octets.length} octets`;
}

function display(name: GeneralName): string {
  switch (name.form) {
    case 'iPAddress':
      return formatIp(name.octets);
    case 'directoryName':
      return clip(name.rdns.join(', '));
    case 'unsupported':
      return name.name;
    default:
      return clip(name.text);
  }
}

const lower = (s: string) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

/** The host of a URI (RFC 3986 authority without userinfo and port), lower-cased; undefined without one. */
function uriHost(uri: string): string | undefined {
  const authority = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/.exec(uri)?.[1];
  if (authority === undefined) return undefined;
  const host = lower(authority.slice(authority.lastIndexOf('@') + 1).replace(/:\d*$/, ''));
  return host === '' ? undefined : host;
}

/** The host as OpenSSL's nc_uri reads it: after `//`, up to the next `:`, else the next `/`. */
function openSslUriHost(uri: string): string | undefined {
  const colon = uri.indexOf(':');
  if (colon < 0 || uri.slice(colon + 1, colon + 3) !== '//') return undefined;
  const rest = uri.slice(colon + 3);
  const end = rest.includes(':') ? rest.indexOf(':') : rest.includes('/') ? rest.indexOf('/') : rest.length;
  return end === 0 ? undefined : lower(rest.slice(0, end));
}

/** `true` when `name` is within the subtree `base` (same form); throws the reason a name cannot be compared. */
function within(name: GeneralName, base: GeneralName): boolean {
  if (name.form === 'dNSName' && base.form === 'dNSName') {
    const n = lower(name.text);
    const b = lower(base.text);
    if (b === '') return true;
    if (n.length <= b.length) return n === b;
    return n.endsWith(b) && (b.startsWith('.') || n[n.length - b.length - 1] === '.');
  }
  if (name.form === 'rfc822Name' && base.form === 'rfc822Name') {
    const at = name.text.lastIndexOf('@');
    if (at < 0) throw new Error('has no "@", so it is not a mailbox');
    const baseAt = base.text.lastIndexOf('@');
    if (baseAt < 0 && base.text.startsWith('.')) {
      return name.text.length > base.text.length && lower(name.text.slice(-base.text.length)) === lower(base.text);
    }
    if (baseAt > 0 && base.text.slice(0, baseAt) !== name.text.slice(0, at)) return false;
    return lower(name.text.slice(at + 1)) === lower(base.text.slice(baseAt + 1));
  }
  if (name.form === 'uniformResourceIdentifier' && base.form === 'uniformResourceIdentifier') {
    const host = uriHost(name.text);
    if (host === undefined) throw new Error('has no host');
    // A host RFC 3986 and OpenSSL read differently (userinfo, a ':' in the path, '?' or '#' right after the
    // host) is ambiguous: refused rather than judged by one reading.
    if (openSslUriHost(name.text) !== host) throw new Error('has a host that parsers read differently');
    const b = lower(base.text);
    return b.startsWith('.') ? host.length > b.length && host.endsWith(b) : host === b;
  }
  if (name.form === 'iPAddress' && base.form === 'iPAddress') {
    const n = name.octets;
    const b = base.octets;
    if (n.length !== 4 && n.length !== 16) throw new Error('is neither an IPv4 nor an IPv6 address');
    if (b.length !== 8 && b.length !== 32)
      throw new Error(`is compared with a malformed constraint (${b.length} octets)`);
    if (n.length * 2 !== b.length) return false;
    return n.every(
      (octet, i) => (octet & (b[n.length + i] as number)) === ((b[i] as number) & (b[n.length + i] as number)),
    );
  }
  if (name.form === 'directoryName' && base.form === 'directoryName') {
    return base.rdns.length <= name.rdns.length && base.rdns.every((rdn, i) => rdn === name.rdns[i]);
  }
  return false;
}

/** OpenSSL's test for a commonName that is a host name (cn2dnsid): LDH-and-underscore labels, at least two. */
const HOST_LIKE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)+$/;

/** The names of certificate `j` that name constraints apply to, each with where it came from. */
function namesOf(read: ChainExtensions, j: number, who: string): { where: string; name: GeneralName }[] {
  const names: { where: string; name: GeneralName }[] = [];
  const { rdns, emails, commonNames } = read.subject;
  if (rdns.length > 0)
    names.push({ where: `the subject ${clip(rdns.join(', '))} of the ${who}`, name: { form: 'directoryName', rdns } });
  for (const text of emails)
    names.push({ where: `the subject emailAddress ${clip(text)} of the ${who}`, name: { form: 'rfc822Name', text } });
  for (const name of read.sans) {
    if (name.form !== 'unsupported')
      names.push({ where: `the ${FORM_LABEL[name.form]} SAN ${display(name)} of the ${who}`, name });
  }
  if (j === 0 && !read.sans.some((n) => n.form === 'dNSName')) {
    for (const text of commonNames.filter((cn) => HOST_LIKE.test(cn))) {
      names.push({
        where: `the subject commonName ${clip(text)} of the ${who} (read as a DNS name, as OpenSSL does without a DNS SAN)`,
        name: { form: 'dNSName', text },
      });
    }
  }
  return names;
}

/** OpenSSL's cap on names x constraints per certificate and CA (crypto/x509/v3_ncons.c NAME_CHECK_MAX). */
export const NAME_CHECK_MAX = 1 << 20;

/** Refuses a (certificate, CA) pair whose names x constraints exceed NAME_CHECK_MAX, as OpenSSL does. */
function checkWork(read: ChainExtensions, nc: NameConstraints, who: string, ca: string): void {
  const names = read.subject.entries + read.sans.length;
  const constraints = nc.permitted.length + nc.excluded.length;
  if (names > 0 && constraints > Math.floor(NAME_CHECK_MAX / names)) {
    throw new Error(
      `the ${who} has ${names} names and the ${ca} ${constraints} name constraints: ${names * constraints} comparisons exceed the limit of ${NAME_CHECK_MAX} (as OpenSSL's NAME_CHECK_MAX), so this chain is refused (issue certificates with fewer subjectAltNames, or CAs with fewer name constraints)`,
    );
  }
}

function checkName(where: string, name: GeneralName, nc: NameConstraints, ca: string): void {
  const form = name.form as Form;
  const permitted = nc.permitted.filter((b) => b.form === form);
  const excluded = nc.excluded.filter((b) => b.form === form);
  const test = (base: GeneralName) => {
    try {
      return within(name, base);
    } catch (err) {
      throw new Error(
        `${where} ${(err as Error).message}, so the ${ca}'s ${FORM_LABEL[form]} name constraints cannot be applied to it`,
      );
    }
  };
  if (permitted.length > 0 && !permitted.some(test)) {
    throw new Error(
      `${where} is outside the subtrees the ${ca} permits (nameConstraints: ${permitted.map(display).join(', ')})`,
    );
  }
  if (excluded.some(test)) throw new Error(`${where} is in a subtree the ${ca} excludes (nameConstraints)`);
}

/**
 * Applies every CA's name constraints to the certificates below it (`chain` leaf first, the trust bundle CA
 * last; `read` the same certificates' extensions). Constraints in forms this check does not evaluate
 * (otherName, x400Address, ediPartyName, registeredID) or with a subtree minimum/maximum are `refuse`d, or
 * `leave`n to whoever verifies the chain next. Throws an Error whose message is the reason.
 */
export function checkNameConstraints(
  chain: readonly X509Certificate[],
  read: readonly ChainExtensions[],
  label: (i: number) => string,
  unsupported: 'refuse' | 'leave',
): void {
  if (unsupported === 'refuse') {
    read.forEach(({ nameConstraints: nc }, i) => {
      if (!nc) return;
      const forms = [...nc.permitted, ...nc.excluded].flatMap((b) => (b.form === 'unsupported' ? [b.name] : []));
      if (forms.length > 0 || nc.hasMinMax) {
        throw new Error(
          `${label(i)} has name constraints on ${[...new Set(forms)].join(', ') || 'a subtree minimum/maximum'}, which forwarded client certificates are not checked against, so this chain is refused (use a CA without those constraints)`,
        );
      }
    });
  }
  // Top down, as OpenSSL does: the violation reported is the one closest to the trust bundle.
  for (let j = chain.length - 2; j >= 0; j--) {
    const cert = chain[j] as X509Certificate;
    if (j > 0 && cert.subject === cert.issuer) continue;
    for (let i = j + 1; i < chain.length; i++) {
      const nc = (read[i] as ChainExtensions).nameConstraints;
      if (nc) checkWork(read[j] as ChainExtensions, nc, label(j), label(i));
    }
    for (const { where, name } of namesOf(read[j] as ChainExtensions, j, label(j))) {
      for (let i = j + 1; i < chain.length; i++) {
        const nc = (read[i] as ChainExtensions).nameConstraints;
        if (nc) checkName(where, name, nc, label(i));
      }
    }
  }
}
