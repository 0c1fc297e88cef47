/**
 * Evaluates a parsed rule against a request the way Traefik's v3 muxer does
 * (pkg/muxer/http/matcher.go, mux.go): canonical host without port, the routing path with
 * non-reserved percent-encodings decoded, canonical header keys, Go's query parsing. Before the muxer, the
 * entrypoint's own handlers change the request (pkg/server/server_entrypoint_tcp.go newHTTPServer):
 * normalizePath, sanitizePath, and http.AllowQuerySemicolons or encodeQuerySemicolons.
 */
import { cidrContains, parseClientIp, type RuleNode } from './parser.js';

export interface RuleRequest {
  method: string;
  /** Host without port, lower case, no surrounding brackets for IPv6. */
  host: string;
  /** The Host as gorilla mux reads it for a v2 HostRegexp (parseHost: port removed by net.SplitHostPort). */
  muxHost: string;
  /** The routing path (see routingPath). */
  path: string;
  query: Map<string, string[]>;
  /** Canonical header names (X-Forwarded-Proto) to values. */
  headers: Map<string, string[]>;
  clientIp: string | undefined;
  /**
   * The URL as Traefik's redirectRegex matches it: scheme, the Host as sent (with its port), then the path still
   * escaped and the query (pkg/middlewares/redirect/redirect_regex.go rawURL).
   */
  rawUrl: string;
  /** The path has a `%` without two hex digits: Go's server refuses the request (400) before any routing. */
  badPath?: true;
  /** The path still escaped, as the entrypoint hands it on (req.URL.EscapedPath() after normalizePath/sanitizePath). */
  escapedPath: string;
}

// RFC 3986 reserved characters (and '%') stay encoded in the routing path. Traefik looks the encoding up as
// sent, upper case only (pkg/muxer/http/mux.go reservedCharacters): `%2f` is decoded, `%2F` is not.
const RESERVED = new Set([
  '%3A',
  '%2F',
  '%3F',
  '%23',
  '%5B',
  '%5D',
  '%40',
  '%21',
  '%24',
  '%26',
  '%27',
  '%28',
  '%29',
  '%2A',
  '%2B',
  '%2C',
  '%3B',
  '%3D',
  '%25',
]);

/**
 * Decodes percent-encodings of non-reserved characters, as Traefik's withRoutingPath does. Go decodes them
 * into bytes of a UTF-8 string, so a run such as `%C3%A9` is one character (`é`), not two.
 */
export function routingPath(escapedPath: string): string {
  return escapedPath.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    let out = '';
    let bytes: number[] = [];
    const flush = () => {
      out += Buffer.from(bytes).toString('utf8');
      bytes = [];
    };
    for (let i = 0; i < run.length; i += 3) {
      const enc = run.slice(i, i + 3);
      if (RESERVED.has(enc)) {
        flush();
        out += enc;
      } else bytes.push(Number.parseInt(enc.slice(1), 16));
    }
    flush();
    return out;
  });
}

/** Go's http.CanonicalHeaderKey: x-forwarded-proto -> X-Forwarded-Proto. */
export function canonicalHeaderKey(key: string): string {
  if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(key)) return key;
  return key.toLowerCase().replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}

/**
 * The entrypoint settings that change a request before routing, as /api/entrypoints shows them
 * (pkg/config/static/entrypoints.go HTTPConfig).
 */
export interface EntryPointHttp {
  /** `;` in the query becomes `%3B`; unset, Traefik wraps its handler in http.AllowQuerySemicolons (`;` is `&`). */
  encodeQuerySemicolons?: boolean | undefined;
  /** Dot segments and duplicate slashes removed from the path; on unless set to false (HTTPConfig.SetDefaults). */
  sanitizePath?: boolean | undefined;
  /** Which encoded characters a path may hold (v3.6.3+); unset, all of them. See deniedEncoding. */
  encodedCharacters?: Record<string, unknown> | undefined;
}

/** The encodings each `encodedCharacters` option allows (pkg/config/dynamic/http_config.go RouterDeniedEncodedPathCharacters.Map). */
const ENCODED_OPTIONS: [string, string[]][] = [
  ['allowEncodedSlash', ['%2F', '%2f']],
  ['allowEncodedBackSlash', ['%5C', '%5c']],
  ['allowEncodedNullCharacter', ['%00']],
  ['allowEncodedSemicolon', ['%3B', '%3b']],
  ['allowEncodedPercent', ['%25']],
  ['allowEncodedQuestionMark', ['%3F', '%3f']],
  ['allowEncodedHash', ['%23']],
];

/**
 * The first encoding of the escaped path the entrypoint's `http.encodedCharacters` denies, with the option that
 * would allow it; undefined when none is. Traefik copies the entrypoint's settings onto each root router it
 * serves (pkg/provider/traefik/internal.go, pkg/server/aggregator.go) and puts denyEncodedPathCharacters in front
 * of the router's middlewares (pkg/server/router/router.go, deny.go): a denied `%XX` in req.URL.EscapedPath() is a
 * 400. The API shows the options with Go's omitempty, so an option missing from a present object is false
 * (denied); no object at all denies nothing (v3.6.7+ defaults; docs/content/migrate/v3.md).
 */
export function deniedEncoding(
  escapedPath: string,
  ep: EntryPointHttp | undefined,
): { encoding: string; option: string } | undefined {
  const allowed = ep?.encodedCharacters;
  if (!allowed || typeof allowed !== 'object') return undefined;
  const denied = new Map<string, string>();
  for (const [option, encodings] of ENCODED_OPTIONS) {
    if (allowed[option] !== true) for (const e of encodings) denied.set(e, option);
  }
  for (let i = escapedPath.indexOf('%'); i >= 0; i = escapedPath.indexOf('%', i + 3)) {
    const option = denied.get(escapedPath.slice(i, i + 3));
    if (option) return { encoding: escapedPath.slice(i, i + 3), option };
  }
  return undefined;
}

/**
 * Go's net/url QueryUnescape: `+` is a space, `%XX` a byte; a `%` without two hex digits is an error
 * (undefined). The bytes are read as UTF-8.
 */
function queryUnescape(s: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (ch === '+') bytes.push(0x20);
    else bytes.push(...Buffer.from(ch));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * Go's url.ParseQuery as req.URL.Query() uses it (Go >= 1.17): pairs split on `&`; an empty piece is skipped;
 * a piece holding `;` is dropped, as is one whose key or value has a bad escape (Query() ignores the error and
 * keeps the rest); a key without `=` has the empty value; an empty key counts; repeated keys keep every value.
 */
export function parseQuery(rawQuery: string): Map<string, string[]> {
  const query = new Map<string, string[]>();
  for (const piece of rawQuery.split('&')) {
    if (piece === '' || piece.includes(';')) continue;
    const eq = piece.indexOf('=');
    const key = queryUnescape(eq < 0 ? piece : piece.slice(0, eq));
    const value = queryUnescape(eq < 0 ? '' : piece.slice(eq + 1));
    if (key === undefined || value === undefined) continue;
    query.set(key, [...(query.get(key) ?? []), value]);
  }
  return query;
}

/**
 * The query the muxer parses: Traefik rewrites `;` before routing, to `&` by default (http.AllowQuerySemicolons,
 * so `?a=1;b=2` holds a and b) or to `%3B` with encodeQuerySemicolons (`?a=1;b=2` holds a = `1;b=2`).
 */
function entryPointQuery(rawQuery: string, ep: EntryPointHttp | undefined): string {
  return rawQuery.replaceAll(';', ep?.encodeQuerySemicolons ? '%3B' : '&');
}

const UNRESERVED = /^[A-Za-z0-9._~-]$/;

/**
 * The escaped path as the entrypoint hands it to the muxer. From the URL text, not WHATWG's pathname (which
 * already drops dot segments, and differently from Go): characters a client must encode are encoded; then
 * normalizePath upper-cases every `%xx` and decodes the unreserved ones (so `%2f` is the reserved `%2F`);
 * then, unless sanitizePath is false, URL.JoinPath() cleans it as path.Clean does (`//`, `.`, `..`),
 * keeping one trailing slash. Undefined when a `%` lacks two hex digits: Go's server answers 400.
 */
export function entryPointPath(rawPath: string, ep?: EntryPointHttp): string | undefined {
  let path = rawPath === '' ? '/' : rawPath;
  if (/%(?![0-9A-Fa-f]{2})/.test(path)) return undefined;
  path = path.replace(/[^A-Za-z0-9._~!$&'()*+,;=:@/%[\]-]/gu, (c) =>
    [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''),
  );
  path = path.replace(/%[0-9A-Fa-f]{2}/g, (enc) => {
    const c = String.fromCharCode(Number.parseInt(enc.slice(1), 16));
    return UNRESERVED.test(c) ? c : enc.toUpperCase();
  });
  if (ep?.sanitizePath === false) return path;
  const kept: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') kept.pop();
    else kept.push(seg);
  }
  const cleaned = `/${kept.join('/')}`;
  return path.endsWith('/') && !cleaned.endsWith('/') ? `${cleaned}/` : cleaned;
}

/** The path of an http(s) URL as written, up to `?` or `#`. */
function rawPathOf(text: string, url: URL): string {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#\\]*([^?#]*)/.exec(text.trim())?.[1] ?? url.pathname;
}

/** Builds the request model from a URL, method, headers, client IP and the entrypoint's settings. */
export function requestOf(input: {
  url: string;
  method?: string | undefined;
  headers?: Record<string, string | string[]> | undefined;
  clientIp?: string | undefined;
  entryPoint?: EntryPointHttp | undefined;
}): RuleRequest {
  const url = new URL(input.url);
  const headers = new Map<string, string[]>();
  for (const [k, v] of Object.entries(input.headers ?? {})) {
    const key = canonicalHeaderKey(k);
    headers.set(key, [...(headers.get(key) ?? []), ...(Array.isArray(v) ? v : [v])]);
  }
  const hostHeader = headers.get('Host')?.[0];
  // Go's server moves the Host header to Request.Host and out of Request.Header: Header(`Host`, ...) never matches.
  headers.delete('Host');
  const rawHost = hostHeader ?? url.host;
  const escapedPath = entryPointPath(rawPathOf(input.url, url), input.entryPoint);
  const rawQuery = url.search.slice(1);
  return {
    method: (input.method ?? 'GET').toUpperCase(),
    host: canonicalHost(rawHost),
    muxHost: muxParseHost(rawHost),
    path: escapedPath === undefined ? '' : routingPath(escapedPath),
    ...(escapedPath === undefined ? { badPath: true } : {}),
    escapedPath: escapedPath ?? '',
    query: parseQuery(entryPointQuery(rawQuery, input.entryPoint)),
    headers,
    clientIp: input.clientIp,
    // redirectRegex reads req.RequestURI, which sanitizePath/normalizePath and encodeQuerySemicolons rewrite
    // (http.AllowQuerySemicolons does not).
    rawUrl: `${url.protocol}//${rawHost}${escapedPath ?? url.pathname}${input.entryPoint?.encodeQuerySemicolons ? url.search.replaceAll(';', '%3B') : url.search}`,
  };
}

/**
 * containous/mux regexp.go parseHost: the address as it is unless it has a `:` and Go's net.SplitHostPort
 * splits it (`host:port`, `[v6]:port`); bare IPv6 and `[v6]` without a port stay as written.
 */
export function muxParseHost(addr: string): string {
  const colon = addr.lastIndexOf(':');
  if (colon < 0) return addr;
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    if (end < 0 || end + 1 !== colon || addr.indexOf('[', 1) >= 0 || addr.slice(end + 1).includes(']')) return addr;
    return addr.slice(1, end);
  }
  const host = addr.slice(0, colon);
  return /[:[\]]/.test(host) || addr.slice(colon).includes(']') ? addr : host;
}

/** Host header without port, lower-cased (Traefik's requestdecorator parseHost + CanonicalDomain). */
export function canonicalHost(raw: string): string {
  let host = raw.trim();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end > 0 ? host.slice(1, end) : host;
  } else if ((host.match(/:/g) ?? []).length === 1) {
    host = host.slice(0, host.indexOf(':'));
  }
  return host.toLowerCase();
}

function domainMatch(domain: string, expr: string): boolean {
  if (expr.startsWith('*')) {
    const labels = domain.split('.');
    labels[0] = '*';
    return labels.join('.').toLowerCase() === expr.toLowerCase();
  }
  return domain.toLowerCase() === expr.toLowerCase();
}

export function hostMatch(reqHost: string, expr: string): boolean {
  if (expr === '*') return true;
  if (reqHost === '') return false;
  const e = expr.toLowerCase();
  if (domainMatch(reqHost, e)) return true;
  if (e.endsWith('.') && domainMatch(reqHost, e.slice(0, -1))) return true;
  if (reqHost.endsWith('.') && domainMatch(reqHost.slice(0, -1), e)) return true;
  return false;
}

function leafMatch(node: Extract<RuleNode, { kind: 'matcher' }>, req: RuleRequest): boolean {
  const [a, b] = node.args as [string, string | undefined];
  const find = (s: string) => node.re?.matcher(s).find() ?? false;
  switch (node.name) {
    case 'Host':
      return hostMatch(req.host, a);
    case 'HostRegexp':
      return find(node.v2?.muxHost ? req.muxHost : req.host);
    case 'Path':
      return req.path === a;
    case 'PathPrefix':
      return req.path.startsWith(a);
    case 'PathRegexp':
      return find(req.path);
    case 'Method':
      return req.method === a.toUpperCase();
    case 'Header':
      return (req.headers.get(canonicalHeaderKey(a)) ?? []).includes(b as string);
    case 'HeaderRegexp':
      return (req.headers.get(canonicalHeaderKey(a)) ?? []).some(find);
    case 'Query':
      return (req.query.get(a) ?? []).includes(b ?? '');
    case 'QueryRegexp':
      if (node.v2?.key !== undefined) {
        // mux getURLQuery: `key=` and the key's first value, or "" when the request has no such key.
        const first = req.query.get(node.v2.key)?.[0];
        return node.re?.matcher(first === undefined ? '' : `${node.v2.key}=${first}`).find() ?? false;
      }
      if (b === undefined) return (req.query.get(a) ?? []).includes('');
      return (req.query.get(a) ?? []).some(find);
    case 'ClientIP': {
      const ip = req.clientIp ? parseClientIp(req.clientIp) : undefined;
      return ip !== undefined && (node.cidrs ?? []).some((c) => cidrContains(c, ip));
    }
  }
}

/** True when the rule matches the request. */
export function matchRule(node: RuleNode, req: RuleRequest): boolean {
  switch (node.kind) {
    case 'and':
      return matchRule(node.left, req) && matchRule(node.right, req);
    case 'or':
      return matchRule(node.left, req) || matchRule(node.right, req);
    case 'not':
      return !matchRule(node.expr, req);
    case 'matcher':
      return leafMatch(node, req);
  }
}

/** Each matcher of the rule, written back as text, with whether it matched this request (for "why not"). */
export function explainRule(node: RuleNode, req: RuleRequest, out: { matcher: string; matched: boolean }[] = []) {
  if (node.kind === 'matcher') {
    const text = `${node.v2?.name ?? node.name}(${node.args.map((x) => `\`${x}\``).join(', ')})`;
    out.push({ matcher: text, matched: leafMatch(node, req) });
  } else if (node.kind === 'not') explainRule(node.expr, req, out);
  else {
    explainRule(node.left, req, out);
    explainRule(node.right, req, out);
  }
  return out;
}

/** The bytes Go's server accepts in a Host header (golang.org/x/net/http/httpguts ValidHostHeader, validHostByte). */
const VALID_HOST = /^[A-Za-z0-9!$%&'()*+,\-.:;=[\]_~]*$/;

/**
 * Why Go's HTTP/1 server refuses the request before Traefik sees it (net/http readRequest): more than one Host
 * header ("too many Host headers"), or one with a byte ValidHostHeader refuses, such as a Unicode name (send its
 * punycode form, as clients do) or a space ("malformed Host header").
 */
export function malformedHost(headers: Record<string, string | string[]> | undefined): string | undefined {
  const hosts = Object.entries(headers ?? {})
    .filter(([k]) => k.toLowerCase() === 'host')
    .flatMap(([, v]) => (Array.isArray(v) ? v : [v]));
  if (hosts.length > 1) return '400: more than one Host header; Go refuses the request before Traefik routes it';
  const host = hosts[0];
  if (host === undefined || VALID_HOST.test(host)) return undefined;
  const hint = [...host].some((c) => c.charCodeAt(0) > 127)
    ? ' (write a Unicode name in its punycode form, xn--...)'
    : '';
  return `400: the Host header ${JSON.stringify(host)} has characters Go's server refuses (malformed Host header); Traefik never sees the request${hint}`;
}
