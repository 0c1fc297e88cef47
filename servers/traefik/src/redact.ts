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

// A string argument, raw or Go-quoted; a matcher call up to the end of its string arguments. Linear: no nested
// quantifiers. Matcher names in any of the forms Traefik accepts (Header, header, HEADER).
const STR = '(?:`[^`]*`|"(?:[^"\\\\]|\\\\.)*")';
const CALL = new RegExp(`\\b(headers?(?:regexp)?|query(?:regexp)?)(\\s*\\(\\s*)(${STR}(?:\\s*,\\s*${STR})*)`, 'gi');
const ARG = new RegExp(STR, 'g');

/**
 * A router rule with the values of Header/Query matchers on secret-looking names cut out: routing on a
 * shared key (`Header(\`X-Api-Key\`, \`...\`)`, `Query(\`token\`, ...)`) must not hand the key to readers.
 * v3 Header/HeaderRegexp/Query/QueryRegexp take (name, value); v2 Headers/HeadersRegexp take name/value pairs
 * and v2 Query takes `name=value` arguments (pkg/muxer/http/matcher_v2.go): each value after a secret name goes.
 */
export function redactRule(rule: string): string {
  return rule.replace(CALL, (_whole, matcher: string, open: string, list: string) => {
    const args = list.match(ARG) ?? [];
    const seps = list.split(ARG);
    const out = [...args];
    const hide = (arg: string) => `${arg[0]}${REDACTED}${arg[0]}`;
    const secret = (arg: string) => SECRET_KEY.test(arg.slice(1, -1));
    const query = matcher.toLowerCase().startsWith('query');
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] as string;
      const eq = arg.indexOf('=');
      if (query && eq > 0) {
        if (SECRET_KEY.test(arg.slice(1, eq))) out[i] = `${arg.slice(0, eq + 1)}${REDACTED}${arg[0]}`;
        continue;
      }
      if (i + 1 < args.length && secret(arg)) out[i + 1] = hide(args[i + 1] as string);
      i++;
    }
    return `${matcher}${open}${seps.map((sep, i) => sep + (out[i] ?? '')).join('')}`;
  });
}

/** A rule as a caller is shown it: URL passwords and the values of secret Header/Query matchers cut. */
export function shownRule(rule: string): string {
  return redactRule(redactText(rule));
}

// gorilla mux's template errors quote the template (a v2 Query value may be a token): "mux: unbalanced braces in
// \"...\"", "mux: missing name or pattern in \"...\"", "mux: number of parameters must be multiple of 2, got [...]".
const MUX_TEMPLATE_ERROR = /(mux: [a-z0-9 ]{1,60}?(?: in|, got))\s[\s\S]*$/;

// Go's regexp error, last in Traefik's error chain: "error parsing regexp: <code>: `<pattern or part of it>`".
const GO_REGEXP_ERROR = /(error parsing regexp: [^:`\n]{1,80}): `[\s\S]*$/;

/**
 * One of Traefik's error strings for a router: its rule as redactRule shows it, and a regexp that failed to
 * compile by Go's reason only (Go quotes the pattern, which may hold a token of a HeaderRegexp).
 */
export function redactRouterError(text: string): string {
  return redactRule(text)
    .replace(GO_REGEXP_ERROR, '$1 (pattern not shown)')
    .replace(MUX_TEMPLATE_ERROR, '$1 (template not shown)');
}
