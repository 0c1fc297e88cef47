/**
 * Traefik v3 router rules: `Host(`a.com`) && (PathPrefix(`/api`) || !Method(`GET`))`.
 *
 * Traefik parses rules as Go expressions (vulcand/predicate over go/parser): matcher calls whose
 * arguments are Go string literals (backquoted raw strings or double-quoted with escapes), combined
 * with `&&`, `||`, `!` and parentheses (`&&` binds tighter than `||`). Matcher names are accepted as
 * written, lower case, UPPER case or Title case (`PathPrefix`, `pathprefix`, `PATHPREFIX`, `Pathprefix`).
 * Regexes compile with re2js: the same RE2 syntax as Go's regexp, and linear-time on any input.
 */
import { RE2JS } from 're2js';

/** A rule's tree over leaves of type L. */
export type Tree<L> = { kind: 'and' | 'or'; left: Tree<L>; right: Tree<L> } | { kind: 'not'; expr: Tree<L> } | L;
export type Leaf = {
  kind: 'matcher';
  name: MatcherName;
  args: string[];
  col: number;
  re?: RE2JS;
  cidrs?: Cidr[];
  v2?: V2Origin;
};
/** A rule this server evaluates: every matcher within its bounds. */
export type RuleNode = Tree<Leaf>;
/** A matcher Traefik may accept but that is beyond this server's bounds (a LimitError): not evaluated. */
export interface Opaque {
  kind: 'opaque';
  reason: string;
}
/** A rule as read by readRule: the matchers beyond this server's bounds left opaque. */
export type ReadNode = Tree<Leaf | Opaque>;

/**
 * A leaf rewritten from a ruleSyntax v2 matcher (rules/v2.ts): its v2 name (shown in explanations), whether its
 * regexp reads the Host as gorilla mux does (port stripped, not canonicalized), and for a Query template the
 * key whose first value it matches (as `key=value`).
 */
export interface V2Origin {
  name: string;
  muxHost?: true;
  key?: string;
}

export const MATCHERS = {
  ClientIP: [1],
  Method: [1],
  Host: [1],
  HostRegexp: [1],
  Path: [1],
  PathRegexp: [1],
  PathPrefix: [1],
  Header: [2],
  HeaderRegexp: [2],
  Query: [1, 2],
  QueryRegexp: [1, 2],
} as const satisfies Record<string, readonly number[]>;

export type MatcherName = keyof typeof MATCHERS;

const NAME_FORMS = new Map<string, MatcherName>();
for (const name of Object.keys(MATCHERS) as MatcherName[]) {
  const lower = name.toLowerCase();
  for (const form of [name, lower, name.toUpperCase(), lower[0]?.toUpperCase() + lower.slice(1)]) {
    NAME_FORMS.set(form, name);
  }
}

/** A rule that does not parse or whose matcher arguments are invalid; `col` is 1-based. */
export class RuleError extends Error {
  constructor(
    readonly reason: string,
    readonly col: number,
  ) {
    super(`${reason} (at column ${col})`);
    this.name = 'RuleError';
  }
}

/**
 * A rule or matcher beyond this server's own bounds (length, nesting, regexp program size), which Traefik may
 * well accept: not evaluated here, as opposed to invalid.
 */
export class LimitError extends RuleError {
  /** The bound that was passed, without the advice to the rule's author. */
  readonly limit: string;
  constructor(limit: string, col: number, advice = '') {
    super(limit + advice, col);
    this.limit = limit;
  }
}

interface Token {
  kind: 'ident' | 'string' | 'op' | 'lparen' | 'rparen' | 'comma' | 'end';
  text: string;
  col: number;
}

const MAX_RULE_LENGTH = 8192;
const MAX_DEPTH = 64;
/**
 * RE2 instructions one regexp may compile to. Matching is linear in the input, but each input byte can step
 * every instruction: Go accepts programs of millions (regexp/syntax maxSize), which would stall a call for
 * minutes on a 4 kB path. Real rules need tens to hundreds.
 */
const MAX_PROGRAM = 1000;
/**
 * RE2 instructions one call may compile across the rules it reads: re2js takes ~3 ms per 1,000 here, and Traefik
 * may hold thousands of routers with regexps near MAX_PROGRAM (5,000 of them: ~16 s of a blocked event loop).
 * Past it, a regexp is beyond this server's bounds (a LimitError) and its router is not evaluated.
 */
export const COMPILE_BUDGET = 300_000;
/** What is left of a call's compile budget; one per call, passed to every parse of it. */
export interface CompileBudget {
  left: number;
}
export const compileBudget = (left = COMPILE_BUDGET): CompileBudget => ({ left });
/** The budget of the parse running now (parsing is synchronous: no other call's parse interleaves). */
let activeBudget: CompileBudget | undefined;

function withBudget<T>(budget: CompileBudget | undefined, parse: () => T): T {
  const outer = activeBudget;
  activeBudget = budget;
  try {
    return parse();
  } finally {
    activeBudget = outer;
  }
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i] as string;
    const col = i + 1;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      i++;
    } else if (ch === '`') {
      const end = src.indexOf('`', i + 1);
      if (end < 0) throw new RuleError('raw string literal not terminated', col);
      // Go discards carriage returns inside raw string literals (the spec's "String literals")
      out.push({ kind: 'string', text: src.slice(i + 1, end).replaceAll('\r', ''), col });
      i = end + 1;
    } else if (ch === '"') {
      const { text, next } = readQuoted(src, i);
      out.push({ kind: 'string', text, col });
      i = next;
    } else if (src.startsWith('&&', i) || src.startsWith('||', i)) {
      out.push({ kind: 'op', text: src.slice(i, i + 2), col });
      i += 2;
    } else if (ch === '!') {
      out.push({ kind: 'op', text: '!', col });
      i++;
    } else if (ch === '(' || ch === ')' || ch === ',') {
      out.push({ kind: ch === '(' ? 'lparen' : ch === ')' ? 'rparen' : 'comma', text: ch, col });
      i++;
    } else if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < src.length && /[A-Za-z0-9_]/.test(src[j] as string)) j++;
      out.push({ kind: 'ident', text: src.slice(i, j), col });
      i = j;
    } else if (ch === "'") {
      throw new RuleError('single quotes are not string delimiters; use backquotes (`...`) or double quotes', col);
    } else {
      throw new RuleError(`unexpected character ${JSON.stringify(ch)}`, col);
    }
  }
  out.push({ kind: 'end', text: '', col: src.length + 1 });
  return out;
}

const SIMPLE_ESCAPES: Record<string, string> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
};

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A Go interpreted string literal starting at `start` (the opening quote), as strconv.Unquote reads it: `\x` is one
 * byte (`"\xc3\xa9"` is "é"), so runs of them are decoded as UTF-8; bytes that are not UTF-8 are refused (Go keeps
 * them, a string here cannot). `\u` and `\U` name a code point, never a surrogate.
 */
function readQuoted(src: string, start: number): { text: string; next: number } {
  let text = '';
  let bytes: number[] = [];
  const flush = (col: number) => {
    if (bytes.length === 0) return;
    try {
      text += UTF8.decode(new Uint8Array(bytes));
    } catch {
      throw new RuleError('\\x escapes that are not UTF-8 in a double-quoted string', col);
    }
    bytes = [];
  };
  let i = start + 1;
  while (i < src.length) {
    const ch = src[i] as string;
    const esc = ch === '\\' ? (src[i + 1] ?? '') : '';
    if (esc !== 'x') flush(i + 1);
    if (ch === '"') return { text, next: i + 1 };
    if (ch === '\n') break;
    if (ch !== '\\') {
      text += ch;
      i++;
      continue;
    }
    if (esc in SIMPLE_ESCAPES) {
      text += SIMPLE_ESCAPES[esc];
      i += 2;
      continue;
    }
    const hexLen = esc === 'x' ? 2 : esc === 'u' ? 4 : esc === 'U' ? 8 : 0;
    const hex = src.slice(i + 2, i + 2 + hexLen);
    if (hexLen > 0 && hex.length === hexLen && /^[0-9a-fA-F]+$/.test(hex)) {
      const code = Number.parseInt(hex, 16);
      if (esc === 'x') bytes.push(code);
      else if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        throw new RuleError(`escape sequence \\${esc}${hex} is an invalid Unicode code point`, i + 1);
      } else text += String.fromCodePoint(code);
      i += 2 + hexLen;
      continue;
    }
    throw new RuleError(
      `unknown escape sequence \\${esc} in a double-quoted string (use backquotes for regexes)`,
      i + 1,
    );
  }
  throw new RuleError('string literal not terminated', start + 1);
}

/** One rule syntax: its matcher names (every accepted form to the canonical one) and how a matcher is built. */
export interface Syntax<N extends string> {
  names: ReadonlyMap<string, N>;
  label: string;
  /** Called only with a name from `names`: a switch over N can be exhaustive. */
  build: (name: N, args: string[], col: number) => RuleNode;
}

const V3: Syntax<MatcherName> = { names: NAME_FORMS, label: 'v3', build: checkMatcher };

class Parser<N extends string, L> {
  #pos = 0;
  #depth = 0;
  constructor(
    readonly tokens: Token[],
    readonly syntax: Syntax<N>,
    readonly build: (name: N, args: string[], col: number) => Tree<L>,
  ) {}

  get #peek(): Token {
    return this.tokens[this.#pos] as Token;
  }

  #take(): Token {
    return this.tokens[this.#pos++] as Token;
  }

  #expect(kind: Token['kind'], what: string): Token {
    const t = this.#peek;
    if (t.kind !== kind) throw new RuleError(`expected ${what}, found ${describe(t)}`, t.col);
    return this.#take();
  }

  parse(): Tree<L> {
    const node = this.#or();
    const t = this.#peek;
    if (t.kind !== 'end') throw new RuleError(`expected && or || between matchers, found ${describe(t)}`, t.col);
    return node;
  }

  #or(): Tree<L> {
    let left = this.#and();
    while (this.#peek.kind === 'op' && this.#peek.text === '||') {
      this.#take();
      left = { kind: 'or', left, right: this.#and() };
    }
    return left;
  }

  #and(): Tree<L> {
    let left = this.#unary();
    while (this.#peek.kind === 'op' && this.#peek.text === '&&') {
      this.#take();
      left = { kind: 'and', left, right: this.#unary() };
    }
    return left;
  }

  #unary(): Tree<L> {
    const t = this.#peek;
    if (++this.#depth > MAX_DEPTH) throw new LimitError(`rule nests deeper than ${MAX_DEPTH} levels`, t.col);
    try {
      if (t.kind === 'op' && t.text === '!') {
        this.#take();
        return { kind: 'not', expr: this.#unary() };
      }
      if (t.kind === 'lparen') {
        this.#take();
        const inner = this.#or();
        this.#expect('rparen', '")"');
        return inner;
      }
      if (t.kind === 'ident') return this.#matcher();
      throw new RuleError(`expected a matcher such as Host(\`example.com\`), found ${describe(t)}`, t.col);
    } finally {
      this.#depth--;
    }
  }

  #matcher(): Tree<L> {
    const ident = this.#take();
    const name = this.syntax.names.get(ident.text);
    if (!name) {
      const known = [...new Set(this.syntax.names.values())].join(', ');
      throw new RuleError(`unknown matcher ${ident.text}; ${this.syntax.label} matchers are ${known}`, ident.col);
    }
    this.#expect('lparen', `"(" after ${ident.text}`);
    const args: string[] = [];
    if (this.#peek.kind !== 'rparen') {
      for (;;) {
        const arg = this.#peek;
        if (arg.kind !== 'string') {
          throw new RuleError(`${name} arguments must be quoted strings, found ${describe(arg)}`, arg.col);
        }
        args.push(this.#take().text);
        if (this.#peek.kind !== 'comma') break;
        this.#take();
      }
    }
    this.#expect('rparen', `")" closing ${name}(`);
    return this.build(name, args, ident.col);
  }
}

function describe(t: Token): string {
  if (t.kind === 'end') return 'the end of the rule';
  if (t.kind === 'string') return 'a string';
  return JSON.stringify(t.text);
}

/** Argument checks Traefik applies when it builds each matcher (pkg/muxer/http/matcher.go, pkg/rules). */
function checkMatcher(name: MatcherName, args: string[], col: number): RuleNode {
  const counts: readonly number[] = MATCHERS[name];
  if (!counts.includes(args.length)) {
    throw new RuleError(`${name} takes ${counts.join(' or ')} argument(s), got ${args.length}`, col);
  }
  if (args.some((a) => a.length === 0)) throw new RuleError(`${name} has an empty argument`, col);
  const node: RuleNode = { kind: 'matcher', name, args, col };
  const first = args[0] as string;
  const nonAscii = (s: string) => [...s].some((c) => c.charCodeAt(0) > 127);
  switch (name) {
    case 'Host':
    case 'HostRegexp':
      if (nonAscii(first)) throw new RuleError(`${name} value must be ASCII (use the punycode form)`, col);
      if (name === 'HostRegexp') node.re = compileRegex(name, first, col);
      break;
    case 'Path':
    case 'PathPrefix':
      if (!first.startsWith('/'))
        throw new RuleError(`${name} value ${JSON.stringify(first)} must start with "/"`, col);
      break;
    case 'PathRegexp':
      node.re = compileRegex(name, first, col);
      break;
    case 'HeaderRegexp':
      node.re = compileRegex(name, args[1] as string, col);
      break;
    case 'QueryRegexp':
      if (args.length === 2) node.re = compileRegex(name, args[1] as string, col);
      break;
    case 'ClientIP':
      node.cidrs = [parseCidr(first, col)];
      break;
    default:
      break;
  }
  return node;
}

/**
 * The error names the matcher and RE2's reason, never the pattern: a HeaderRegexp may carry a token, and
 * re2js's message (like Go's) quotes the pattern or the offending part of it (`missing closing ): \`...\``).
 */
export function compileRegex(name: string, pattern: string, col: number): RE2JS {
  const tooLarge = (size: string) =>
    new LimitError(`${name} regex is too large to evaluate here (${size}; limit ${MAX_PROGRAM})`, col, ': simplify it');
  // Counted repeats are what makes a program large (Go caps a nested chain of them at 1000 in all, and refuses
  // a count above 1000 itself): their sum refuses a huge one before compiling it, programSize the rest after.
  let repeats = 0;
  for (const m of pattern.matchAll(/\{(\d{1,4})(?:,(\d{0,4}))?\}/g)) {
    const count = Number(m[2] || m[1]);
    if (count <= 1000) repeats += count;
  }
  if (repeats > MAX_PROGRAM) throw tooLarge(`repeat counts sum to ${repeats}`);
  if (activeBudget && activeBudget.left <= 0) {
    throw new LimitError(
      `${name} regex not compiled: this call's budget of ${COMPILE_BUDGET} RE2 instructions to compile is spent`,
      col,
    );
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const reason = (err as { error?: unknown }).error;
    const why = typeof reason === 'string' && /^[a-z][a-z ()[\]{}:,-]{0,80}$/i.test(reason) ? reason : 'invalid syntax';
    throw new RuleError(`${name} regex does not compile (${why}); the pattern is not repeated here`, col);
  }
  if (activeBudget) activeBudget.left -= re.programSize();
  if (re.programSize() > MAX_PROGRAM) throw tooLarge(`${re.programSize()} RE2 instructions`);
  return re;
}

export interface Cidr {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

/**
 * An IP or CIDR (v4 or v6), as Traefik's ip.NewChecker accepts them (pkg/ip/checker.go: Go's net.ParseIP, else
 * net.ParseCIDR). Both refuse an IPv6 zone (net/ip.go: netip.ParseAddr, then `ipAddr.Zone() != ""` fails), so
 * Traefik disables a router with ClientIP(`fe80::1%eth0`) ("invalid CIDR address"): refused here, saying so.
 */
export function parseCidr(text: string, col = 1): Cidr {
  const zone = /%[^/]*/.exec(text)?.[0];
  if (zone !== undefined) {
    throw new RuleError(
      `${JSON.stringify(text)} has an IPv6 zone (${JSON.stringify(zone)}): Traefik refuses a zone in ClientIP and IP ranges (Go's net.ParseIP/ParseCIDR, pkg/ip/checker.go) and would disable the router; drop it`,
      col,
    );
  }
  const [addr, len, extra] = text.split('/', 3) as [string, string | undefined, string | undefined];
  const ip = extra === undefined ? parseIp(addr) : undefined;
  if (!ip) throw new RuleError(`${JSON.stringify(text)} is not an IP address or CIDR`, col);
  const max = ip.family === 4 ? 32 : 128;
  const prefix = len === undefined ? max : /^\d{1,3}$/.test(len) ? Number(len) : Number.NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new RuleError(`${JSON.stringify(text)} has an invalid prefix length`, col);
  // An IPv4-mapped IPv6 address or range (::ffff:a.b.c.d, /96 and longer) is the IPv4 one: Traefik's ip.Checker
  // unmaps both sides (pkg/ip/checker.go canonicalAddr: addr.Unmap(); before netip, net.IP.Equal and
  // IPNet.Contains compared the 4-byte forms), so ClientIP(`::ffff:10.0.0.0/104`) matches the client 10.0.0.5.
  if (ip.family === 6 && prefix >= 96 && ip.bits >> 32n === 0xffffn)
    return { family: 4, bits: ip.bits & 0xffffffffn, prefix: prefix - 96 };
  return { family: ip.family, bits: ip.bits, prefix };
}

/**
 * A client's address as Traefik's checker reads it (pkg/ip/checker.go parseIP: netip.ParseAddr, then As16): an
 * IPv6 address may carry a zone (`fe80::1%eth0`, from a link-local connection), which does not count in matching;
 * netip refuses an empty zone and a zone on an IPv4 address.
 */
export function parseClientIp(text: string): { family: 4 | 6; bits: bigint } | undefined {
  const at = text.indexOf('%');
  if (at < 0) return parseIp(text);
  const ip = at > 0 && at < text.length - 1 ? parseIp(text.slice(0, at)) : undefined;
  return ip?.family === 6 ? ip : undefined;
}

export function parseIp(text: string): { family: 4 | 6; bits: bigint } | undefined {
  // No leading zeros: Go (1.17 on) refuses them, as they read as octal elsewhere.
  const v4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (v4) {
    const parts = v4.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, bits: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (!text.includes(':') || !/^[0-9a-fA-F:.]+$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (const [i, p] of parts.entries()) {
      if (i === parts.length - 1 && p.includes('.')) {
        const tail = parseIp(p);
        if (tail?.family !== 4) return undefined;
        out.push(Number(tail.bits >> 16n), Number(tail.bits & 0xffffn));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  if (!head || !tail) return undefined;
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0 || (halves.length === 2 && fill < 1)) return undefined;
  const all = [...head, ...new Array<number>(fill).fill(0), ...tail];
  return { family: 6, bits: all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
}

export function cidrContains(cidr: Cidr, ip: { family: 4 | 6; bits: bigint }): boolean {
  let { family, bits } = ip;
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address for matching, against an IPv4 range and
  // never an IPv6 one (pkg/ip/checker.go canonicalAddr unmaps it: ::/0 does not hold it).
  if (family === 6 && bits >> 32n === 0xffffn) {
    family = 4;
    bits &= 0xffffffffn;
  }
  if (family !== cidr.family) return false;
  const width = BigInt(family === 4 ? 32 : 128);
  const shift = width - BigInt(cidr.prefix);
  return bits >> shift === cidr.bits >> shift;
}

/** Parses and checks a rule; throws RuleError with the column of the problem. */
export function parseRule(rule: string, budget?: CompileBudget): RuleNode {
  return parseWith(rule, V3, budget);
}

/** Parses a rule with another syntax's matchers (the grammar, `&&`, `||`, `!` and Go strings, is shared). */
export function parseWith<N extends string>(rule: string, syntax: Syntax<N>, budget?: CompileBudget): RuleNode {
  return withBudget(budget, () => new Parser(tokensOf(rule), syntax, syntax.build).parse());
}

function tokensOf(rule: string): Token[] {
  if (rule.trim() === '') throw new RuleError('the rule is empty', 1);
  if (rule.length > MAX_RULE_LENGTH) throw new LimitError(`the rule is longer than ${MAX_RULE_LENGTH} characters`, 1);
  return tokenize(rule);
}

/** The matcher calls of a rule's tokens (`Name(` strings `)`), and whether it holds nothing else but `&&` and parentheses. */
function callsOf(tokens: readonly Token[]): {
  calls: { ident: string; args: string[]; col: number }[];
  conjunction: boolean;
} {
  const calls: { ident: string; args: string[]; col: number }[] = [];
  let conjunction = true;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i] as Token;
    if (t.kind === 'ident' && tokens[i + 1]?.kind === 'lparen') {
      const args: string[] = [];
      let j = i + 2;
      while (tokens[j]?.kind === 'string') {
        args.push((tokens[j] as Token).text);
        if (tokens[j + 1]?.kind !== 'comma') break;
        j += 2;
      }
      const close = args.length === 0 ? j : j + 1;
      if (tokens[close]?.kind === 'rparen') {
        calls.push({ ident: t.text, args, col: t.col });
        i = close;
        continue;
      }
    }
    if (!(t.kind === 'lparen' || t.kind === 'rparen' || t.kind === 'end' || (t.kind === 'op' && t.text === '&&')))
      conjunction = false;
  }
  return { calls, conjunction };
}

/** The nodes joined by `&&`, as a balanced tree (depth log n). */
function allOfBalanced<L>(nodes: Tree<L>[]): Tree<L> {
  if (nodes.length === 1) return nodes[0] as Tree<L>;
  const mid = nodes.length >> 1;
  return { kind: 'and', left: allOfBalanced(nodes.slice(0, mid)), right: allOfBalanced(nodes.slice(mid)) };
}

/**
 * Reads a rule as far as this server's bounds allow: a matcher beyond them (a regexp too large) is left opaque
 * instead of failing the whole rule, so the rest (its Host() names, say) can still be judged; a rule nested
 * deeper than the parser follows is still read when it is matchers joined by `&&` only (its meaning does not
 * depend on the parentheses). Otherwise throws: a LimitError for a rule too long or nested too deep, a
 * RuleError for an invalid one.
 */
export function readWith<N extends string>(rule: string, syntax: Syntax<N>, budget?: CompileBudget): ReadNode {
  return withBudget(budget, () => readLeniently(rule, syntax));
}

function readLeniently<N extends string>(rule: string, syntax: Syntax<N>): ReadNode {
  const lenient = (name: N, args: string[], col: number): Tree<Leaf | Opaque> => {
    try {
      return syntax.build(name, args, col);
    } catch (err) {
      if (err instanceof LimitError) return { kind: 'opaque', reason: err.limit };
      throw err;
    }
  };
  const tokens = tokensOf(rule);
  try {
    return new Parser(tokens, syntax, lenient).parse();
  } catch (err) {
    if (!(err instanceof LimitError)) throw err;
    const { calls, conjunction } = callsOf(tokens);
    const names = calls.map((c) => syntax.names.get(c.ident));
    if (!conjunction || calls.length === 0 || names.includes(undefined)) throw err;
    return allOfBalanced(calls.map((c, i) => lenient(names[i] as N, c.args, c.col)));
  }
}

/**
 * The arguments of every call of the given matchers in a rule, found in its tokens whatever its length or
 * nesting (as Traefik's ParseDomains collects Host() values from the whole rule); undefined when it does not
 * tokenize. For a rule this server cannot read whole.
 */
export function argsOfCalls<N extends string>(
  rule: string,
  syntax: Syntax<N>,
  matchers: readonly N[],
): string[] | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(rule);
  } catch {
    return undefined;
  }
  return callsOf(tokens).calls.flatMap((c) => {
    const name = syntax.names.get(c.ident);
    return name !== undefined && matchers.includes(name) ? c.args : [];
  });
}

/** argsOfCalls of the Host matcher of a v3 rule, lower-cased. */
export function hostCallsOf(rule: string): string[] | undefined {
  return argsOfCalls(rule, V3, ['Host'])?.map((h) => h.toLowerCase());
}

/** readWith for a v3 rule. */
export function readRule(rule: string, budget?: CompileBudget): ReadNode {
  return readWith(rule, V3, budget);
}

/** The Host(...) values of a rule, lower-cased, as Traefik's ParseDomains collects them (for TLS domains). */
export function hostsOf(node: ReadNode): string[] {
  switch (node.kind) {
    case 'and':
    case 'or':
      return [...hostsOf(node.left), ...hostsOf(node.right)];
    case 'not':
      return hostsOf(node.expr);
    case 'matcher':
      return node.name === 'Host' ? node.args.map((a) => a.toLowerCase()) : [];
    case 'opaque':
      return [];
  }
}

/** The reasons of a rule's opaque matchers (empty for a rule read whole). */
export function opaqueIn(node: ReadNode): string[] {
  if (node.kind === 'opaque') return [node.reason];
  if (node.kind === 'matcher') return [];
  if (node.kind === 'not') return opaqueIn(node.expr);
  return [...opaqueIn(node.left), ...opaqueIn(node.right)];
}
