/**
 * A Loki simulator (tests only), built from Loki's own material, not from what our client expects:
 *
 * - API reference: grafana/loki `docs/sources/reference/loki-http-api.md` (query_range parameters and defaults:
 *   limit 100, direction backward, start one hour before end, `end` exclusive, `step` for matrix answers;
 *   labels and label values; the push body; the response formats).
 * - Encoding: `pkg/util/marshal/marshal_test.go` (streams as `{stream, values: [["<ns>", "<line>"]]}`, vectors
 *   as `{metric, value: [<float seconds>, "<value>"]}`, matrices as `{metric, values: [[<float seconds>,
 *   "<value>"], ...]}`, and `data.stats` with `summary.totalLinesProcessed`, `totalBytesProcessed`, `execTime`,
 *   `queueTime`, `totalEntriesReturned`...).
 * - `pkg/loghttp/labels.go`: LabelResponse `data` is `omitempty`: no labels is `{"status":"success"}`.
 * - Errors: `pkg/logqlmodel/error.go` (ParseError: `parse error at line L, col C: ...`, or `parse error : ...`
 *   when there is no position, e.g. the empty-compatible matcher refusal); `pkg/util/server/error.go` (errors are
 *   text/plain; a query past its deadline is 504 `request timed out, decrease the duration of the request or
 *   add more label matchers (prefer exact match over regex match) to reduce the amount of data processed`).
 *
 * - Metric queries: `docs/sources/query/metric_queries.md` (log range aggregations `count_over_time`, `rate`,
 *   `bytes_over_time`, `bytes_rate`; aggregation operators with `by` before or after the parentheses; `topk`
 *   keeps the original labels of the k largest samples per group); `pkg/logql/range_vector.go` (a window is
 *   `(t - range, t]`: the lower bound is not inclusive; rate is lines / range seconds, bytes_rate bytes / range
 *   seconds); `pkg/logql/log/metrics_extraction.go` (bytes are `len(line)`); `pkg/logql/engine.go`
 *   (evaluated at start, start+step, ... up to end; a step where a series has no sample has no point; more
 *   distinct series than `max_query_series` fails the query); `pkg/logqlmodel/error.go` (the series-limit text).
 * - Range parameters: `pkg/loghttp/query.go` ParseRangeQuery and `pkg/loghttp/params.go` (the default step is
 *   `max(floor(range seconds / 250), 1)` seconds; a step <= 0 and `(end - start) / step > 11000` are refused
 *   with their texts, before the query is parsed); `docs/sources/shared/configuration.md` (`max_query_series`
 *   default 500). Limit errors are 400 text/plain (`pkg/util/server/error.go` isClientError: ErrLimit is a
 *   client error). `max_entries_limit_per_query` (5000) and `max_query_length` (30d1h) are per-tenant settings:
 *   `pkg/util/validation/validate.go` (ErrMaxEntriesLimit, ErrQueryTooLong texts).
 *
 * - Warnings: `pkg/util/marshal/query.go` EncodeResult writes `warnings` (omitted when empty) between `status`
 *   and `data`; `pkg/engine/engine.go` buildContext (and `pkg/engine/handler.go`) add the warning
 *   `Query was executed using the next-generation Loki query engine.` to every query the next-generation engine
 *   runs (`pkg/engine/config.go`: `-query-engine.enable`, experimental, off by default): knob `nextGenEngine`.
 *
 * LogQL is a subset: a stream selector (=, !=, =~, !~) with line filters (|=, !=, |~, !~), the four log range
 * aggregations above over `<log query> [<range>]`, and `sum` / `topk(k, ...)` around them (nested, with
 * `by (<labels>)`). Parsers (`| json`), `without`, `offset`, unwrap and binary operators are not simulated: they
 * answer a parse error. Regexes run on RE2 (re2js), as in Loki; label regexes are anchored.
 */
import { RE2JS } from 're2js';
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
interface LogQuery {
  matchers: Matcher[];
  filters: LineFilter[];
}
const RANGE_FNS = ['count_over_time', 'rate', 'bytes_over_time', 'bytes_rate'] as const;
type RangeFn = (typeof RANGE_FNS)[number];
/** A metric query: a log range aggregation, or `sum` / `topk` over another metric query. */
type MetricQuery =
  | { kind: 'range'; fn: RangeFn; rangeNs: bigint; log: LogQuery }
  /** `by` undefined: one group of everything (sum() keeps no label, topk() keeps each sample's own). */
  | { kind: 'sum'; by: string[] | undefined; inner: MetricQuery }
  | { kind: 'topk'; k: number; by: string[] | undefined; inner: MetricQuery };

export const LOKI_MAX_LIMIT = 5000;
/** `(end - start) / step` above this is refused (pkg/loghttp/query.go). */
export const LOKI_MAX_POINTS = 11_000;
export const LOKI_STEP_TOO_SMALL_BODY =
  'exceeded maximum resolution of 11,000 points per time series. Try increasing the value of the step parameter';
export const LOKI_ZERO_STEP_BODY =
  'zero or negative query resolution step widths are not accepted. Try a positive integer';
/** logqlmodel.NewSeriesLimitError. */
export const lokiSeriesLimitBody = (limit: number) =>
  `maximum number of series (${limit}) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()`;
export const LOKI_TIMEOUT_BODY =
  'request timed out, decrease the duration of the request or add more label matchers (prefer exact match over regex match) to reduce the amount of data processed';

/** Go's time.Duration String() of whole milliseconds: 169h0m0s, 1m30.5s, 250ms. */
function goDurationMs(ms: bigint): string {
  if (ms < 1000n) return `${ms}ms`;
  const h = ms / 3_600_000n;
  const m = (ms % 3_600_000n) / 60_000n;
  const rest = ms % 60_000n;
  const s = rest % 1000n === 0n ? `${rest / 1000n}` : (Number(rest) / 1000).toString();
  return h > 0n ? `${h}h${m}m${s}s` : m > 0n ? `${m}m${s}s` : `${s}s`;
}

/** Prometheus model.Duration String(): years and weeks only when exact, then d, h, m, s ("30d1h", "1w"). */
function modelDuration(seconds: number): string {
  let left = seconds;
  let out = '';
  for (const [unit, size, exact] of [
    ['y', 31_536_000, true],
    ['w', 604_800, true],
    ['d', 86_400, false],
    ['h', 3600, false],
    ['m', 60, false],
    ['s', 1, false],
  ] as const) {
    if (exact && left % size !== 0) continue;
    const v = Math.floor(left / size);
    if (v > 0) {
      out += `${v}${unit}`;
      left -= v * size;
    }
  }
  return out || '0s';
}

export class ParseError extends Error {
  constructor(
    message: string,
    readonly col: number,
  ) {
    super(message);
  }
  /** logqlmodel.ParseError.Error(): a position when there is one. */
  get body(): string {
    return this.col > 0 ? `parse error at line 1, col ${this.col}: ${this.message}` : `parse error : ${this.message}`;
  }
}

function compile(re: string, col: number): RE2JS {
  try {
    return RE2JS.compile(re);
  } catch (err) {
    throw new ParseError(`error parsing regexp: ${(err as Error).message}`, col);
  }
}

const RANGE_NS: Record<string, bigint> = {
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n,
};

/** Parses a log query or one of the metric forms; throws ParseError with Loki-like positions. */
export function parseLogQL(query: string): LogQuery | MetricQuery {
  const toks = tokenize(query, ['|=', '|~', '!=', '!~', '=~', '=', '[', ']']);
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
  const logQuery = (inMetric: boolean): LogQuery => {
    const open = expect((t) => t.text === '{', '{');
    const matchers: Matcher[] = [];
    while (peek()?.text !== '}') {
      if (matchers.length > 0) expect((t) => t.text === ',', ', or }');
      const name = expect((t) => t.kind === 'ident', 'IDENTIFIER').text;
      const op = expect((t) => ['=', '!=', '=~', '!~'].includes(t.text), '= or != or =~ or !~').text as Matcher['op'];
      const value = expect((t) => t.kind === 'string', 'STRING');
      if (op.includes('~')) compile(`^(?:${value.text})$`, value.col);
      matchers.push({ name, op, value: value.text });
    }
    expect((t) => t.text === '}', '}');
    if (matchers.length === 0) throw new ParseError('syntax error: unexpected }, expecting IDENTIFIER', open.col + 1);
    const filters: LineFilter[] = [];
    while (i < toks.length && !(inMetric && peek()?.text === '[')) {
      const op = expect((t) => ['|=', '!=', '|~', '!~'].includes(t.text), 'a line filter').text as LineFilter['op'];
      const value = expect((t) => t.kind === 'string', 'STRING');
      if (op.includes('~')) compile(value.text, value.col);
      filters.push({ op, value: value.text });
    }
    return { matchers, filters };
  };
  if (peek()?.text === '{') return logQuery(false);
  const grouping = (): string[] | undefined => {
    if (peek()?.text !== 'by') return undefined;
    i++;
    expect((t) => t.text === '(', '(');
    const by: string[] = [];
    while (peek()?.text !== ')') {
      if (by.length > 0) expect((t) => t.text === ',', ', or )');
      by.push(expect((t) => t.kind === 'ident', 'IDENTIFIER').text);
    }
    expect((t) => t.text === ')', ')');
    return by;
  };
  const metric = (): MetricQuery => {
    const head = expect(
      (t) => t.kind === 'ident' && ['sum', 'topk', ...RANGE_FNS].includes(t.text),
      '{ or a range or vector aggregation',
    );
    if (head.text === 'sum' || head.text === 'topk') {
      const before = grouping();
      expect((t) => t.text === '(', '(');
      let k = 0;
      if (head.text === 'topk') {
        const param = expect((t) => t.kind === 'number' && /^\d+$/.test(t.text), 'NUMBER');
        k = Number(param.text);
        expect((t) => t.text === ',', ',');
      }
      const inner = metric();
      expect((t) => t.text === ')', ')');
      const by = before ?? grouping();
      return head.text === 'sum' ? { kind: 'sum', by, inner } : { kind: 'topk', k, by, inner };
    }
    expect((t) => t.text === '(', '(');
    const log = logQuery(true);
    expect((t) => t.text === '[', '[');
    const rangeNs = rangeOf(expect((t) => t.kind === 'number', 'a range like 5m'));
    expect((t) => t.text === ']', ']');
    expect((t) => t.text === ')', ')');
    return { kind: 'range', fn: head.text as RangeFn, rangeNs, log };
  };
  /** `5m`, `30s`, `1h`; `1d` / `1w` arrive as a number and an adjacent identifier. */
  const rangeOf = (num: Token): bigint => {
    let text = num.text;
    const unit = peek();
    if (
      /^\d+$/.test(text) &&
      unit?.kind === 'ident' &&
      /^[dw]$/.test(unit.text) &&
      unit.col === num.col + text.length
    ) {
      text += unit.text;
      i++;
    }
    const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text);
    if (!m) throw new ParseError(`syntax error: unexpected ${text}, expecting a range like 5m`, num.col);
    return BigInt(m[1] as string) * (RANGE_NS[m[2] as string] as bigint);
  };
  const parsed = metric();
  if (i < toks.length) throw new ParseError(`syntax error: unexpected ${toks[i]?.text}`, toks[i]?.col ?? 1);
  return parsed;
}

/** The log query every range aggregation of a metric query reads (this subset has one). */
function logOf(q: MetricQuery): LogQuery {
  return q.kind === 'range' ? q.log : logOf(q.inner);
}

/** Prometheus labels.Compare on sorted label pairs: the order Loki sorts a matrix in. */
function compareLabels(a: Record<string, string>, b: Record<string, string>): number {
  const pa = Object.entries(a).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const pb = Object.entries(b).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  for (let n = 0; n < Math.min(pa.length, pb.length); n++) {
    const [an, av] = pa[n] as [string, string];
    const [bn, bv] = pb[n] as [string, string];
    if (an !== bn) return an < bn ? -1 : 1;
    if (av !== bv) return av < bv ? -1 : 1;
  }
  return pa.length - pb.length;
}

type Sample = { metric: Record<string, string>; value: number };

function groupOf(labels: Record<string, string>, by: string[]): Record<string, string> {
  return Object.fromEntries(by.filter((l) => labels[l] !== undefined).map((l) => [l, labels[l] as string]));
}

function matchLabel(m: Matcher, labels: Record<string, string>): boolean {
  const v = labels[m.name] ?? '';
  if (m.op === '=') return v === m.value;
  if (m.op === '!=') return v !== m.value;
  const hit = RE2JS.compile(`^(?:${m.value})$`).matches(v);
  return m.op === '=~' ? hit : !hit;
}

function matchLine(f: LineFilter, line: string): boolean {
  if (f.op === '|=') return line.includes(f.value);
  if (f.op === '!=') return !line.includes(f.value);
  const hit = RE2JS.compile(f.value).matcher(line).find();
  return f.op === '|~' ? hit : !hit;
}

function streamKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Seconds as Loki's marshaller writes them: a float with millisecond precision (1568404331.324). */
function floatSeconds(ns: bigint): number {
  return Number(ns / 1_000_000n) / 1000;
}

/** params.go parseSecondsOrDuration: float seconds (negative too), else a Prometheus duration ("15s", "1m"). */
function parseStep(text: string): bigint | undefined {
  if (/^-?\d+(\.\d+)?$/.test(text)) return BigInt(Math.trunc(Number(text) * 1e9));
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text);
  if (!m) return undefined;
  return BigInt(m[1] as string) * (RANGE_NS[m[2] as string] as bigint);
}

export class LokiSimulator {
  readonly streams = new Map<string, Stream>();
  server: SimServer | undefined;
  /** A query that scans more lines than this passes Loki's query timeout: 504 with Loki's text. */
  timeoutAfterScannedLines = Number.POSITIVE_INFINITY;
  /** `max_query_series` (default 500): a metric query with more distinct series is refused. */
  maxQuerySeries = 500;
  /** `max_entries_limit_per_query` (default 5000): a larger `limit` is refused. */
  maxEntriesLimit = LOKI_MAX_LIMIT;
  /** `max_query_length` in seconds (default 30d1h; 0 is no limit): a longer range is refused. */
  maxQueryLengthSeconds = 721 * 3600;
  /** Loki runs queries on its next-generation engine (`-query-engine.enable`), which warns on every answer. */
  nextGenEngine = false;

  #warnings(): string[] {
    return this.nextGenEngine ? [LOKI_NEXT_GEN_WARNING] : [];
  }

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

  /**
   * POST /loki/api/v1/push with the JSON body `{streams: [{stream: {labels}, values: [[ns, line]]}]}`: 204 No
   * Content; a body that does not parse is 400 with a plain-text reason (Loki HTTP API reference, "Ingest
   * logs": https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs). The tenant header
   * (X-Scope-OrgID) is kept in `control.requests` for tests to check.
   */
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
      // Prometheus label names (pkg/push validation: `error parsing labels`); values must be strings.
      for (const [name, value] of Object.entries(s.stream)) {
        if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) || typeof value !== 'string') {
          return { status: 400, text: `error parsing labels ${JSON.stringify(s.stream)}: invalid label name ${name}` };
        }
      }
      const entries: Entry[] = [];
      for (const v of s.values ?? []) {
        // ["<ns>", "<line>"] or ["<ns>", "<line>", {structured metadata}] (loki-http-api.md, ingest section)
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
      return { status: 200, json: labelResponse([...names].sort()) };
    }
    const m = /^\/loki\/api\/v1\/label\/([^/]+)\/values$/.exec(p);
    if (m) {
      const name = decodeURIComponent(m[1] as string);
      const values = new Set<string>();
      for (const s of this.streams.values()) if (s.labels[name] !== undefined) values.add(s.labels[name]);
      return { status: 200, json: labelResponse([...values].sort()) };
    }
    return { status: 404, text: '404 page not found\n' };
  }

  queryRange(params: URLSearchParams): Reply {
    const query = params.get('query');
    if (!query) return { status: 400, text: 'parse error : syntax error: unexpected $end' };
    const limit = Number(params.get('limit') ?? 100);
    if (!Number.isInteger(limit) || limit <= 0) return { status: 400, text: 'limit must be a positive value' };
    if (limit > this.maxEntriesLimit) {
      return {
        status: 400,
        text: `max entries limit per query exceeded, limit > max_entries_limit_per_query (${limit} > ${this.maxEntriesLimit})`,
      };
    }
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const end = params.get('end') ? BigInt(params.get('end') as string) : nowNs;
    const start = params.get('start') ? BigInt(params.get('start') as string) : end - 3_600_000_000_000n;
    if (end < start) return { status: 400, text: 'end timestamp must not be before or equal to start time' };
    // pkg/querier/queryrange/limits.go: the length in whole milliseconds, printed as a Go time.Duration, the
    // limit as a Prometheus model.Duration (pkg/util/validation/validate.go ErrQueryTooLong).
    const lengthMs = end / 1_000_000n - start / 1_000_000n;
    if (this.maxQueryLengthSeconds > 0 && lengthMs > BigInt(this.maxQueryLengthSeconds) * 1000n) {
      return {
        status: 400,
        text: `the query time range exceeds the limit (query length: ${goDurationMs(lengthMs)}, limit: ${modelDuration(this.maxQueryLengthSeconds)})`,
      };
    }
    const direction = params.get('direction') ?? 'backward';
    if (direction !== 'backward' && direction !== 'forward') return { status: 400, text: 'invalid direction' };
    // The step is read and checked for every range query, before the query is parsed (loghttp ParseRangeQuery).
    const stepText = params.get('step');
    const step = stepText ? parseStep(stepText) : BigInt(defaultStepSeconds(end - start)) * 1_000_000_000n;
    if (step === undefined) return { status: 400, text: `cannot parse "${stepText}" to a valid duration` };
    if (step <= 0n) return { status: 400, text: LOKI_ZERO_STEP_BODY };
    if ((end - start) / step > BigInt(LOKI_MAX_POINTS)) return { status: 400, text: LOKI_STEP_TOO_SMALL_BODY };
    let parsed: ReturnType<typeof parseLogQL>;
    try {
      parsed = parseLogQL(query);
      const log = 'kind' in parsed ? logOf(parsed) : parsed;
      if (log.matchers.every((m) => matchLabel(m, {}))) {
        throw new ParseError(
          'queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will',
          0,
        );
      }
    } catch (err) {
      if (err instanceof ParseError) return { status: 400, text: err.body };
      throw err;
    }
    if ('kind' in parsed) return this.#matrix(parsed, start, end, step);
    return this.#streams(parsed, start, end, limit, direction);
  }

  /** Lines of the streams `log` selects with `inWindow(ns)`: scanned (every line read) and hits (filters passed). */
  #scan(log: LogQuery, inWindow: (ns: bigint) => boolean) {
    const stats = { lines: 0, bytes: 0 };
    const hits: { stream: Stream; entry: Entry }[] = [];
    for (const s of this.streams.values()) {
      if (!log.matchers.every((m) => matchLabel(m, s.labels))) continue;
      for (const e of s.entries) {
        if (!inWindow(e.ns)) continue;
        stats.lines++;
        stats.bytes += Buffer.byteLength(e.line);
        if (log.filters.every((f) => matchLine(f, e.line))) hits.push({ stream: s, entry: e });
      }
    }
    return { hits, stats };
  }

  #streams(log: LogQuery, start: bigint, end: bigint, limit: number, direction: string): Reply {
    // start inclusive, end exclusive (loki-http-api.md, query_range parameters)
    const { hits, stats } = this.#scan(log, (ns) => ns >= start && ns < end);
    if (stats.lines > this.timeoutAfterScannedLines) return { status: 504, text: LOKI_TIMEOUT_BODY };
    hits.sort((a, b) => (a.entry.ns < b.entry.ns ? -1 : a.entry.ns > b.entry.ns ? 1 : 0));
    if (direction === 'backward') hits.reverse();
    const kept = hits.slice(0, limit);
    const byStream = new Map<Stream, [string, string][]>();
    for (const h of kept) {
      const list = byStream.get(h.stream) ?? [];
      list.push([h.entry.ns.toString(), h.entry.line]);
      byStream.set(h.stream, list);
    }
    const result = [...byStream].map(([s, values]) => ({ stream: s.labels, values }));
    return success('streams', result, stats, kept.length, this.#warnings());
  }

  /** The query's samples at time `t`. */
  #evaluate(q: MetricQuery, t: bigint): Sample[] {
    if (q.kind === 'range') {
      // (t - range, t]: range_vector.go, "the lower bound of the range is not inclusive"
      const { hits } = this.#scan(q.log, (ns) => ns > t - q.rangeNs && ns <= t);
      const perStream = new Map<Stream, { lines: number; bytes: number }>();
      for (const h of hits) {
        const c = perStream.get(h.stream) ?? { lines: 0, bytes: 0 };
        c.lines++;
        c.bytes += Buffer.byteLength(h.entry.line);
        perStream.set(h.stream, c);
      }
      const seconds = Number(q.rangeNs) / 1e9;
      return [...perStream].map(([s, c]) => ({
        metric: s.labels,
        value: {
          count_over_time: c.lines,
          rate: c.lines / seconds,
          bytes_over_time: c.bytes,
          bytes_rate: c.bytes / seconds,
        }[q.fn],
      }));
    }
    const groups = new Map<string, Sample[]>();
    for (const sample of this.#evaluate(q.inner, t)) {
      const key = streamKey(q.by === undefined ? {} : groupOf(sample.metric, q.by));
      groups.set(key, [...(groups.get(key) ?? []), sample]);
    }
    const out: Sample[] = [];
    for (const members of groups.values()) {
      if (q.kind === 'sum') {
        const first = members[0] as Sample;
        out.push({
          metric: q.by === undefined ? {} : groupOf(first.metric, q.by),
          value: members.reduce((sum, m) => sum + m.value, 0),
        });
      } else {
        // topk keeps the samples themselves, labels and all
        out.push(...[...members].sort((a, b) => b.value - a.value).slice(0, q.k));
      }
    }
    return out;
  }

  /** Evaluated at start, start+step, ... <= end (engine.go); a step where a series has no sample has no point. */
  #matrix(q: MetricQuery, start: bigint, end: bigint, step: bigint): Reply {
    const series = new Map<string, { metric: Record<string, string>; values: [number, string][] }>();
    for (let t = start; t <= end; t += step) {
      for (const { metric, value } of this.#evaluate(q, t)) {
        const key = streamKey(metric);
        const s = series.get(key) ?? { metric, values: [] };
        s.values.push([floatSeconds(t), String(value)]);
        series.set(key, s);
      }
      if (series.size > this.maxQuerySeries) return { status: 400, text: lokiSeriesLimitBody(this.maxQuerySeries) };
    }
    // every line the query read once, as the stats count them: (start - range, end]
    const { stats } = this.#scan(logOf(q), (ns) => ns > start - longestRange(q) && ns <= end);
    if (stats.lines > this.timeoutAfterScannedLines) return { status: 504, text: LOKI_TIMEOUT_BODY };
    const result = [...series.values()].sort((a, b) => compareLabels(a.metric, b.metric));
    return success('matrix', result, stats, 0, this.#warnings());
  }
}

function longestRange(q: MetricQuery): bigint {
  return q.kind === 'range' ? q.rangeNs : longestRange(q.inner);
}

/** params.go defaultQueryRangeStep: max(floor(range seconds / 250), 1). */
function defaultStepSeconds(rangeNs: bigint): number {
  return Math.max(Math.floor(Number(rangeNs) / 1e9 / 250), 1);
}

function labelResponse(data: string[]) {
  // LabelResponse.Data is `omitempty`
  return data.length > 0 ? { status: 'success', data } : { status: 'success' };
}

export const LOKI_NEXT_GEN_WARNING = 'Query was executed using the next-generation Loki query engine.';

function success(
  resultType: string,
  result: unknown[],
  scanned: { lines: number; bytes: number },
  returned: number,
  warnings: string[],
) {
  return {
    status: 200,
    json: {
      status: 'success',
      ...(warnings.length > 0 ? { warnings } : {}),
      data: {
        resultType,
        result,
        stats: {
          summary: {
            bytesProcessedPerSecond: scanned.bytes * 100,
            linesProcessedPerSecond: scanned.lines * 100,
            totalBytesProcessed: scanned.bytes,
            totalLinesProcessed: scanned.lines,
            execTime: 0.01,
            queueTime: 0,
            subqueries: 0,
            totalEntriesReturned: returned,
            splits: 0,
            shards: 0,
            totalPostFilterLines: scanned.lines,
            totalStructuredMetadataBytesProcessed: 0,
          },
        },
      },
    },
  } satisfies Reply;
}
