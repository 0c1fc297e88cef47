import { withoutUrlPasswords } from '@ravenhelm/kit';

/**
 * Credentials Traefik keeps in its dynamic configuration, cut out before any of it reaches a caller:
 * basicAuth/digestAuth `users` (user names stay), values under secret-looking keys at any depth (header
 * maps such as `customRequestHeaders.Authorization`, plugin settings such as `apiToken`, inline TLS
 * `keyFile`), passwords in URLs (`https://user:pw@host`), PEM private keys wherever they appear, and the
 * values of Header/Query matchers on secret-looking names in router rules (redactRule).
 */

export const REDACTED = '[redacted]';

// Key names whose string values are credentials. `pass` alone is not one (passHostHeader, passTLSClientCert).
const SECRET_KEY =
  /(password|passwd|passphrase|secret|token|api[-_]?key|private[-_]?key|^key(file)?$|credential|authorization|cookie|session|signature|bearer)/i;
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g;

/** A string with private keys and URL passwords cut out. */
export function redactText(text: string): string {
  return withoutUrlPasswords(text.replace(PRIVATE_KEY, REDACTED));
}

/** A copy of a configuration value with every credential replaced by `[redacted]`. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    if (SECRET_KEY.test(key)) return REDACTED;
    return key === 'rule' ? shownRule(value) : redactText(value);
  }
  if (Array.isArray(value)) {
    if (key === 'users') return value.map((u) => `${String(u).split(':')[0]}:${REDACTED}`);
    return value.map((v) => redactConfig(v, SECRET_KEY.test(key) ? key : ''));
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k)]));
  }
  return value;
}

// `Header(name, value)`, `HeaderRegexp(...)`, `Query(...)`, `QueryRegexp(...)` with a raw or a Go-quoted
// string each; linear: no nested quantifiers.
const STR = '(`[^`]*`|"(?:[^"\\\\]|\\\\.)*")';
const PAIR_MATCHER = new RegExp(`\\b(Header|HeaderRegexp|Query|QueryRegexp)(\\s*\\(\\s*)${STR}(\\s*,\\s*)${STR}`, 'g');

/**
 * A router rule with the values of Header/Query matchers on secret-looking names cut out: routing on a
 * shared key (`Header(\`X-Api-Key\`, \`...\`)`, `Query(\`token\`, ...)`) must not hand the key to readers.
 */
export function redactRule(rule: string): string {
  return rule.replace(
    PAIR_MATCHER,
    (whole, matcher: string, open: string, name: string, comma: string, value: string) =>
      SECRET_KEY.test(name.slice(1, -1)) ? `${matcher}${open}${name}${comma}${value[0]}${REDACTED}${value[0]}` : whole,
  );
}

/** A rule as a caller is shown it: URL passwords and the values of secret Header/Query matchers cut. */
export function shownRule(rule: string): string {
  return redactRule(redactText(rule));
}

// Go's regexp error, last in Traefik's error chain: "error parsing regexp: <code>: `<pattern or part of it>`".
const GO_REGEXP_ERROR = /(error parsing regexp: [^:`\n]{1,80}): `[\s\S]*$/;

/**
 * One of Traefik's error strings for a router: its rule as redactRule shows it, and a regexp that failed to
 * compile by Go's reason only (Go quotes the pattern, which may hold a token of a HeaderRegexp).
 */
export function redactRouterError(text: string): string {
  return redactRule(text).replace(GO_REGEXP_ERROR, '$1 (pattern not shown)');
}
