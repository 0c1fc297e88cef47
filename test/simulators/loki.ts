/**
 * A Loki simulator (tests only): lines pushed with `push` or POST /loki/api/v1/push (JSON), query_range with a small LogQL
 * subset (stream selector with =, !=, =~, !~ and line filters |=, !=, |~, !~), labels, label values,
 * data.stats, and Loki's 400 text bodies for parse errors.
 */
import { type Reply, type SimServer, serve, type Token, tokenize } from './http.js';

interface Entry {
  ns: bigint;
  line: string;
}

interface Stream {
  labels: Record<string, string>;
  entries: Entry[];
}

type Matcher = { name: string; op: '=' | '!=' | '=~' | '!~'; value: string };
type LineFilter = { op: '|=' | '!=' | '|~' | '!~'; value: string };

export const LOKI_MAX_LIMIT = 5000;

export class ParseError extends Error {
  constructor(
    message: string,
    readonly col: number,
  ) {
    super(message);
  }
}

function anchored(re: string): RegExp {
  return new RegExp(`^(?:${re})$`);
}

/** Parses `{a="b", c=~"d"} |= "x" |~ "y"`; throws ParseError with Loki-like positions. */
export function parseLogQL(query: string): { matchers: Matcher[]; filters: LineFilter[] } {
  const toks = tokenize(query, ['|=', '|~', '!=', '!~', '=~', '=']);
  if (!Array.isArray(toks)) throw new ParseError(`syntax error: ${toks.error}`, toks.col);
  let i = 0;
  const peek = (): Token | undefined => toks[i];
  const expect = (pred: (t: Token) => boolean, what: string): Token => {
    const t = toks[i];
    if (!t || !pred(t)) {
      throw new ParseError(
        `syntax error: unexpected ${t ? t.text : 'end of input'}, expecting ${what}`,
        t?.col ?? query.length + 1,
      );
    }
    i++;
    return t;
  };
  expect((t) => t.text === '{', '{');
  const matchers: Matcher[] = [];
  while (peek()?.text !== '}') {
    if (matchers.length > 0) expect((t) => t.text === ',', ', or }');
    const name = expect((t) => t.kind === 'ident', 'IDENTIFIER').text;
    const op = expect((t) => ['=', '!=', '=~', '!~'].includes(t.text), '= or != or =~ or !~').text as Matcher['op'];
    const value = expect((t) => t.kind === 'string', 'STRING').text;
    if (op.includes('~')) {
      try {
        anchored(value);
      } catch {
        throw new ParseError(`error parsing regexp: invalid regexp ${JSON.stringify(value)}`, toks[i - 1]?.col ?? 1);
      }
    }
    matchers.push({ name, op, value });
  }
  expect((t) => t.text === '}', '}');
  const filters: LineFilter[] = [];
  while (i < toks.length) {
    const op = expect((t) => ['|=', '!=', '|~', '!~'].includes(t.text), 'a line filter').text as LineFilter['op'];
    const value = expect((t) => t.kind === 'string', 'STRING').text;
    if (op.includes('~')) {
      try {
        lineRegex(value);
      } catch {
        throw new ParseError(`error parsing regexp: invalid regexp ${JSON.stringify(value)}`, toks[i - 1]?.col ?? 1);
      }
    }
    filters.push({ op, value });
  }
  if (matchers.length === 0) throw new ParseError('syntax error: unexpected }, expecting IDENTIFIER', 2);
  return { matchers, filters };
}

function matchLabel(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  if (m.op === '=') return v === m.value;
  if (m.op === '!=') return v !== m.value;
  const hit = anchored(m.value).test(v);
  return m.op === '=~' ? hit : !hit;
}

/** Go's regexp (?i) flag is a JS flag: translate the one inline flag LogQL users write. */
function lineRegex(value: string): RegExp {
  return value.startsWith('(?i)') ? new RegExp(value.slice(4), 'i') : new RegExp(value);
}

function matchLine(f: LineFilter, line: string): boolean {
  if (f.op === '|=') return line.includes(f.value);
  if (f.op === '!=') return !line.includes(f.value);
  const hit = lineRegex(f.value).test(line);
  return f.op === '|~' ? hit : !hit;
}

function streamKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export class LokiSimulator {
  readonly streams = new Map<string, Stream>();
  server: SimServer | undefined;

  get url(): string {
    if (!this.server) throw new Error('Loki simulator not started');
    return this.server.url;
  }

  get control() {
    if (!this.server) throw new Error('Loki simulator not started');
    return this.server.control;
  }

  async start(): Promise<this> {
    this.server = await serve((req) =>
      req.method === 'POST' && req.url.pathname === '/loki/api/v1/push'
        ? this.pushHttp(req.headers['content-type'], req.body)
        : this.route(req.method, req.url),
    );
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  /** Adds lines to the stream with these labels; `atMs` defaults to now, in order. */
  push(labels: Record<string, string>, lines: (string | { line: string; atMs: number })[]): void {
    // a distinct nanosecond per line keeps order stable within one millisecond
    this.#append(
      labels,
      lines.map((l, i) => ({
        ns: BigInt(Math.round(typeof l === 'string' ? Date.now() : l.atMs)) * 1_000_000n + BigInt(i),
        line: typeof l === 'string' ? l : l.line,
      })),
    );
  }

  /** POST /loki/api/v1/push with the JSON body `{streams: [{stream: {labels}, values: [[ns, line]]}]}`: 204. */
  pushHttp(contentType: string | undefined, body: string): Reply {
    if (!/^application\/json/.test(contentType ?? '')) {
      return { status: 415, text: 'unsupported content type: only application/json is simulated' };
    }
    let parsed: { streams?: { stream?: Record<string, string>; values?: [string, string][] }[] };
    try {
      parsed = JSON.parse(body);
    } catch (err) {
      return { status: 400, text: `loghttp.PushRequest: ${(err as Error).message}` };
    }
    for (const s of parsed.streams ?? []) {
      if (!s.stream || Object.keys(s.stream).length === 0) return { status: 400, text: 'error parsing labels: {}' };
      const entries: Entry[] = [];
      for (const v of s.values ?? []) {
        if (!Array.isArray(v) || !/^\d+$/.test(String(v[0])) || typeof v[1] !== 'string') {
          return { status: 400, text: 'invalid entry: want ["<unix epoch in nanoseconds>", "<log line>"]' };
        }
        entries.push({ ns: BigInt(v[0]), line: v[1] });
      }
      this.#append(s.stream, entries);
    }
    return { status: 204, text: '' };
  }

  /** Drops the stream with exactly these labels. */
  remove(labels: Record<string, string>): boolean {
    return this.streams.delete(streamKey(labels));
  }

  #append(labels: Record<string, string>, entries: Entry[]): void {
    const key = streamKey(labels);
    let stream = this.streams.get(key);
    if (!stream) {
      stream = { labels: { ...labels }, entries: [] };
      this.streams.set(key, stream);
    }
    stream.entries.push(...entries);
    stream.entries.sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
  }

  route(method: string, url: URL): Reply {
    if (method !== 'GET') return { status: 405, text: 'method not allowed' };
    const p = url.pathname;
    if (p === '/ready') return { status: 200, text: 'ready' };
    if (p === '/loki/api/v1/query_range') return this.queryRange(url.searchParams);
    if (p === '/loki/api/v1/labels') {
      const names = new Set<string>();
      for (const s of this.streams.values()) for (const k of Object.keys(s.labels)) names.add(k);
      return { status: 200, json: { status: 'success', data: [...names].sort() } };
    }
    const m = /^\/loki\/api\/v1\/label\/([^/]+)\/values$/.exec(p);
    if (m) {
      const name = decodeURIComponent(m[1] as string);
      const values = new Set<string>();
      for (const s of this.streams.values()) if (s.labels[name] !== undefined) values.add(s.labels[name]);
      return { status: 200, json: { status: 'success', data: [...values].sort() } };
    }
    return { status: 404, text: '404 page not found' };
  }

  queryRange(params: URLSearchParams): Reply {
    const query = params.get('query');
    if (!query) return { status: 400, text: 'query parameter is required' };
    const limit = Number(params.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit <= 0) return { status: 400, text: 'limit must be a positive value' };
    if (limit > LOKI_MAX_LIMIT) {
      return {
        status: 400,
        text: `max entries limit per query exceeded, limit > max_entries_limit (${limit} > ${LOKI_MAX_LIMIT})`,
      };
    }
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const end = params.get('end') ? BigInt(params.get('end') as string) : nowNs;
    const start = params.get('start') ? BigInt(params.get('start') as string) : end - 3_600_000_000_000n;
    if (end < start) return { status: 400, text: 'end timestamp must not be before or equal to start time' };
    const direction = params.get('direction') ?? 'backward';
    if (direction !== 'backward' && direction !== 'forward') return { status: 400, text: 'invalid direction' };
    let parsed: ReturnType<typeof parseLogQL>;
    try {
      parsed = parseLogQL(query);
    } catch (err) {
      if (err instanceof ParseError)
        return { status: 400, text: `parse error at line 1, col ${err.col}: ${err.message}` };
      throw err;
    }
    if (parsed.matchers.every((m) => matchLabel(m, {}))) {
      return {
        status: 400,
        text: 'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will',
      };
    }
    let scannedLines = 0;
    let scannedBytes = 0;
    const hits: { stream: Stream; entry: Entry }[] = [];
    for (const s of this.streams.values()) {
      if (!parsed.matchers.every((m) => matchLabel(m, s.labels))) continue;
      for (const e of s.entries) {
        if (e.ns < start || e.ns >= end) continue;
        scannedLines++;
        scannedBytes += Buffer.byteLength(e.line);
        if (parsed.filters.every((f) => matchLine(f, e.line))) hits.push({ stream: s, entry: e });
      }
    }
    hits.sort((a, b) => (a.entry.ns < b.entry.ns ? -1 : a.entry.ns > b.entry.ns ? 1 : 0));
    if (direction === 'backward') hits.reverse();
    const kept = hits.slice(0, limit);
    const byStream = new Map<Stream, [string, string][]>();
    for (const h of kept) {
      const list = byStream.get(h.stream) ?? [];
      list.push([h.entry.ns.toString(), h.entry.line]);
      byStream.set(h.stream, list);
    }
    return {
      status: 200,
      json: {
        status: 'success',
        data: {
          resultType: 'streams',
          result: [...byStream].map(([s, values]) => ({ stream: s.labels, values })),
          stats: {
            summary: {
              bytesProcessedPerSecond: scannedBytes * 100,
              linesProcessedPerSecond: scannedLines * 100,
              totalBytesProcessed: scannedBytes,
              totalLinesProcessed: scannedLines,
              execTime: 0.01,
              queueTime: 0,
            },
          },
        },
      },
    };
  }
}
