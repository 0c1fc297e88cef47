import { clipTailJson, jsonBytes, sliceChars, type ToolContext, ToolError } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { z } from 'zod';
import type { DockerBackend, LogCut, LogResult } from '../backend.js';
import { abortAfter } from '../deadline.js';
import { isUnreadableLogDriver, namedAfter } from '../engine-errors.js';
import { ContainerRef, compileGrep, nameShown, serviceOf } from '../state.js';
import { type Line, stripAnsi, timestampKey, withoutTimestamp } from '../stream.js';
import { type DockerServices, defineTool } from './define.js';

const TimeBound = z.string().min(1).max(40);
export const Since = TimeBound.describe('Newer than: "15m", "2h", "1d" or ISO-8601');
export const Until = TimeBound.describe('Older than (same forms); tail counts back from it');

/** Parses a time bound into Unix seconds, or throws ERR_INVALID_INPUT saying which forms are accepted. */
export function parseSince(value: string | undefined, now = Date.now(), field = 'since'): number | undefined {
  if (value === undefined) return undefined;
  const rel = /^(\d{1,6})(s|m|h|d)$/.exec(value.trim());
  if (rel) {
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return Math.floor(now / 1000) - Number(rel[1]) * unit;
  }
  const t = Date.parse(value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && Number.isFinite(t)) return Math.floor(t / 1000);
  throw new ToolError(
    'ERR_INVALID_INPUT',
    `${field}: "${value}" is neither a duration like "15m" / "2h" nor an ISO-8601 time like "2026-01-31T12:00:00Z"`,
  );
}

/**
 * A time bound as the engine is asked for it and as lines are compared with it. The engine's since and
 * until are inclusive and take "seconds.fraction"; `engine` widens the bound to the millisecond around
 * it (a Number cannot hold nanoseconds at today's epoch), and `key` (timestampKey form, nanoseconds) is
 * the exact bound every line is then checked against: since keeps lines at or after it, until keeps
 * lines strictly before it, so paging back with the oldest timestamp shown repeats and skips nothing.
 */
export interface TimeBound {
  engine: number;
  key: string;
}

const ISO_NANO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** Parses a time bound keeping the nanoseconds an ISO string carries (Date.parse keeps milliseconds). */
export function parseBound(
  value: string | undefined,
  side: 'since' | 'until',
  now = Date.now(),
): TimeBound | undefined {
  if (value === undefined) return undefined;
  const m = ISO_NANO.exec(value.trim());
  let wholeMs = m ? Date.parse(`${m[1]}${(m[3] as string).toUpperCase()}`) : Number.NaN;
  let fraction = (m?.[2] ?? '').padEnd(9, '0');
  if (!Number.isFinite(wholeMs)) {
    const ms = boundMillis(value, now, side);
    wholeMs = Math.floor(ms / 1000) * 1000;
    fraction = String(ms - wholeMs)
      .padStart(3, '0')
      .padEnd(9, '0');
  }
  const key = `${new Date(wholeMs).toISOString().slice(0, 19)}.${fraction}`;
  const ms = wholeMs + Number(fraction.slice(0, 3));
  const beyondMs = Number(fraction.slice(3)) > 0;
  return { key, engine: (side === 'until' && beyondMs ? ms + 1 : ms) / 1000 };
}

/**
 * A since or until value in milliseconds: relative bounds count back from now to the millisecond, ISO times
 * are what Date.parse keeps (to the millisecond). Throws the usual message for any other form.
 */
export function boundMillis(value: string, now: number, side: 'since' | 'until'): number {
  const seconds = parseSince(value, now, side) as number; // throws the usual message
  return /^\d{4}-/.test(value.trim()) ? Date.parse(value) : now - (Math.floor(now / 1000) - seconds) * 1000;
}

/** Parses since and until together; until must come after since. */
export function parseWindow(
  input: { since?: string | undefined; until?: string | undefined },
  now = Date.now(),
): { since: TimeBound | undefined; until: TimeBound | undefined } {
  const since = parseBound(input.since, 'since', now);
  const until = parseBound(input.until, 'until', now);
  if (since !== undefined && until !== undefined && until.key <= since.key) {
    throw new ToolError('ERR_INVALID_INPUT', `until (${input.until}) must be later than since (${input.since})`);
  }
  return { since, until };
}

/** Which output streams to read; shared by the container and compose log tools. */
export const Streams = z.enum(['both', 'stdout', 'stderr']).default('both');

/** Byte cap on returned log text; shared by the container and compose log tools. */
export const MaxLogBytes = z
  .number()
  .int()
  .min(256)
  .max(1024 * 1024)
  .optional()
  .describe('Text cap, oldest lines dropped first; default: fits the budget');

export const GrepFields = {
  grep: z.string().min(1).max(200).optional().describe('Keep lines containing this (or matching, RE2 syntax)'),
  grepMode: z.enum(['substring', 'regex']).default('substring'),
  ignoreCase: z.boolean().default(false),
};

export function buildLineFilter(input: {
  grep?: string | undefined;
  grepMode: 'substring' | 'regex';
  ignoreCase: boolean;
}): ((l: Line) => boolean) | undefined {
  const match = compileGrep(input.grep, input.grepMode, input.ignoreCase);
  return match ? (l) => match(stripAnsi(l.text)) : undefined;
}

/** How a log read is asked for, shared by the container and compose log tools. */
export interface ReadLogOptions {
  tail: number;
  since: TimeBound | undefined;
  until: TimeBound | undefined;
  streams: 'both' | 'stdout' | 'stderr';
  filter: ((l: Line) => boolean) | undefined;
  cap: number;
  render: (ts: string, body: string, stream: Line['stream']) => string;
  /** The container's Config.Tty: its log is raw (true) or multiplexed (false), never guessed from its bytes. */
  tty: boolean;
  /** Answer the lines read when `signal` or the engine timeout cuts the read (LogResult.cut), instead of failing. */
  partial?: boolean;
}

/** One engine read, line by line (seq order): in the time bounds or not, and the size of matching lines. */
class ReadRecord {
  /** Engine log entries read (a line over 16 KiB is several). */
  entries = 0;
  /** Per line: -2 outside the time bounds, -1 in them but not matching, else its rendered size. */
  readonly sizes: number[] = [];
  /** The timestamp of the newest line read. */
  newest = '';

  constructor(readonly read: number) {}
}

const OUT_OF_BOUNDS = -2;
const NOT_MATCHED = -1;

/**
 * Reads one container's logs for the log tools. Timestamps are always requested: the engine copies stdout
 * and stderr separately, so file order can differ from time order across the two streams and sorting by
 * timestamp restores it. The grep sees each line without its timestamp; `render` gives each matching
 * line its final form before it is sized, so dropped bytes are counted as the answer would show them.
 * Up to 2 x `cap` bytes are kept.
 *
 * Every line read is recorded, so the answer holds exactly the newest `tail` whole lines within the bounds:
 * - since/until are exact to the nanosecond (TimeBound): the engine is asked for the millisecond around
 *   them, and lines outside the exact bound are left out and not counted as scanned;
 * - the engine counts `tail` in log entries, and stores a line over 16 KiB as several: the oldest line of
 *   a read cut by the tail may be the end of such a line, so one more entry is read and that line left
 *   out;
 * - when lines left out this way leave fewer than `tail`, the log is read again with more.
 */
export async function readLogs(
  docker: DockerBackend,
  containerId: string,
  o: ReadLogOptions,
  signal: AbortSignal,
): Promise<LogResult> {
  let ask = o.until ? o.tail : o.tail + 1;
  for (let attempt = 0; ; attempt++) {
    let rec = new ReadRecord(-1);
    const res = await readLogsOnce(docker, containerId, o, ask, signal, (read) => {
      if (rec.read !== read) rec = new ReadRecord(read);
      return rec;
    });
    const total = rec.sizes.length;
    // what the backend kept of the last read: its newest `ask` lines
    let from = Math.max(0, total - ask);
    // a read cut by the engine's tail may start inside a long line (until reads windows, far older)
    const cutByTail = !o.until && rec.entries >= ask;
    if (cutByTail) from = Math.max(from, 1);
    let inBounds = 0;
    let keepFrom = total;
    while (keepFrom > from && inBounds < o.tail) {
      keepFrom--;
      if (rec.sizes[keepFrom] !== OUT_OF_BOUNDS) inBounds++;
    }
    // a cut read is answered as it is: reading again would cost the time the call no longer has
    if (res.cut) return windowOf({ ...res, cut: { ...res.cut, newestRead: rec.newest } }, rec, keepFrom);
    const more = inBounds < o.tail && (cutByTail || from > 0);
    if (more && attempt < 3 && ask < o.tail * 8 + 64) {
      ask = Math.min(ask * 2 + 1, o.tail * 8 + 64);
      continue;
    }
    return windowOf(res, rec, keepFrom);
  }
}

/** The part of a read from line `keepFrom` on, with every count recomputed from the record. */
function windowOf(res: LogResult, rec: ReadRecord, keepFrom: number): LogResult {
  let scanned = 0;
  let matched = 0;
  let matchedBytes = 0;
  for (let i = keepFrom; i < rec.sizes.length; i++) {
    const size = rec.sizes[i] as number;
    if (size === OUT_OF_BOUNDS) continue;
    scanned++;
    if (size >= 0) {
      matched++;
      matchedBytes += size;
    }
  }
  const lines = res.lines.filter((l) => l.read === rec.read && (l.seq ?? 0) >= keepFrom);
  const keptBytes = lines.reduce((n, l) => n + Buffer.byteLength(l.text, 'utf8') + 1, 0);
  return {
    lines,
    scanned,
    matched,
    dropped: matched - lines.length,
    droppedBytes: matchedBytes - keptBytes,
    ...(res.scanLimit ? { scanLimit: res.scanLimit } : {}),
    ...(res.cut ? { cut: res.cut } : {}),
  };
}

function readLogsOnce(
  docker: DockerBackend,
  containerId: string,
  o: ReadLogOptions,
  tail: number,
  signal: AbortSignal,
  recordOf: (read: number) => ReadRecord,
): Promise<LogResult> {
  const { filter, render, since, until } = o;
  let current: ReadRecord | undefined;
  return docker.logs(
    containerId,
    {
      tail,
      since: since?.engine,
      until: until?.engine,
      stdout: o.streams !== 'stderr',
      stderr: o.streams !== 'stdout',
      timestamps: true,
      tty: o.tty,
      partial: o.partial,
      keepBytes: o.cap * 2,
      // called for every line read, in order; render follows at once for a line that passes
      filter: (l: Line) => {
        const rec = recordOf(l.read ?? 0);
        current = rec;
        rec.entries += l.pieces ?? 1;
        const { ts, rest } = withoutTimestamp(l.text);
        if (ts) rec.newest = ts;
        const key = timestampKey(ts);
        // a line without a timestamp cannot be placed: it is kept
        const outside = key !== '' && ((since && key < since.key) || (until && key >= until.key));
        const pass = !outside && (!filter || filter({ stream: l.stream, text: rest }));
        rec.sizes.push(outside ? OUT_OF_BOUNDS : NOT_MATCHED);
        return pass;
      },
      render: (l: Line) => {
        const { ts, rest } = withoutTimestamp(l.text);
        const text = render(ts, stripAnsi(rest), l.stream);
        const seq = (current?.sizes.length ?? 1) - 1;
        if (current) current.sizes[seq] = Buffer.byteLength(text, 'utf8') + 1;
        return { stream: l.stream, key: timestampKey(ts), text, read: l.read ?? 0, seq };
      },
    },
    signal,
  );
}

/**
 * Why a container's log could not be read, as a gap an answer states while it goes on with the rest (a
 * log driver that keeps nothing to read, a container removed meanwhile, one engine call that failed).
 * The container is named by `name`, never by the 64-hex id the read used. A cancelled call, or an engine
 * that cannot be reached at all, is rethrown: nothing else could be read either.
 */
export function logGapOf(
  err: unknown,
  signal: AbortSignal,
  c: { id: string; name: string; logDriver?: string | undefined },
): string {
  if (signal.aborted || !(err instanceof ToolError)) throw err;
  if (err.code === 'ERR_BACKEND_UNAVAILABLE' || err.code === 'ERR_CANCELLED') throw err;
  if (isUnreadableLogDriver(err)) {
    return c.logDriver
      ? `its log driver "${c.logDriver}" keeps no logs the engine can read`
      : 'its log driver keeps no logs the engine can read (e.g. --log-driver none)';
  }
  if (err.code === 'ERR_NOT_FOUND') return 'it was removed while its log was being read';
  return err.message.split(c.id).join(c.name);
}

/** Log reads end this long before the call's deadline, so what was read is still answered. */
const READ_MARGIN_MS = 1500;

/** Aborts shortly before the call's deadline (or with the call): log reads under it answer what they read. */
export const beforeDeadline = (ctx: { signal: AbortSignal; deadline: number }): AbortSignal =>
  abortAfter(ctx.signal, ctx.deadline - READ_MARGIN_MS - Date.now());

/** What an answer says about a log read that was cut (LogResult.cut): which lines are missing, and why. */
export function cutNoteOf(cut: LogCut, scanned: number, tool = 'logs_get'): string {
  const why = cut.timedOut
    ? `the Docker Engine had not finished sending it within the ${cut.timeoutMs} ms engine-call timeout (backend.timeoutMs)`
    : "the Docker Engine had not finished sending it shortly before the call's time limit";
  return `the log read was cut after ${cut.bytes.toLocaleString('en-US')} bytes: ${why} (it stalled or trickled). These are the oldest ${scanned} line(s) of the lines asked for; the newer ones are missing${cut.newestRead ? `: read them with ${tool} since "${cut.newestRead}"` : ': retry, or ask for fewer lines'}`;
}

/**
 * The byte cap a log answer uses: the caller's maxBytes within the server's output budget, and why. Without
 * maxBytes it is what fits, and no note is needed. `reserved`: bytes the answer's other fields take.
 */
export function logCap(
  maxBytes: number | undefined,
  maxOutputBytes: number,
  reserved = 0,
): { cap: number; notes: string[] } {
  const fits = Math.max(256, maxOutputBytes - 1024 - reserved);
  const cap = Math.min(maxBytes ?? fits, fits);
  return {
    cap,
    notes:
      maxBytes !== undefined && cap < maxBytes
        ? [
            `maxBytes ${maxBytes} lowered to ${cap}: every answer fits the server's output budget of ${maxOutputBytes} bytes (limits.maxOutputBytes)`,
          ]
        : [],
  };
}

/** Sorts rendered lines by time, keeps the newest within `cap` and states every bound it applied. */
export function assembleLogText(
  res: LogResult,
  cap: number,
  notes: string[],
): { text: string; lines: number; truncated: boolean; totalBytes: number; notes?: string[] } {
  const ordered = res.lines
    .map((l, seq) => ({ key: l.key ?? '', seq, text: l.text }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.seq - b.seq))
    .map((l) => l.text);
  const fitted = fitText(ordered.length > 0 ? `${ordered.join('\n')}\n` : '', cap);
  const lines = fitted.text === '' ? 0 : fitted.text.replace(/\n$/, '').split('\n').length;
  const totalBytes = fitted.totalBytes + res.droppedBytes;
  const truncated = fitted.truncated || res.dropped > 0;
  const all = [...notes];
  if (truncated) {
    all.push(
      `kept the newest ${lines} of ${res.matched} matching lines (${Buffer.byteLength(fitted.text)} of ${totalBytes} bytes) to stay within ${cap} bytes; reach older lines with until, since or grep`,
    );
  }
  if (res.scanLimit) {
    all.push(
      `until: ${res.scanned} lines found before it among the newest ${res.scanLimit.lines.toLocaleString('en')} lines of the log, which is as far back as a read goes; older lines were not read`,
    );
  }
  return { text: fitted.text, lines, truncated, totalBytes, ...(all.length > 0 ? { notes: all } : {}) };
}

/** The fields every log answer has (container and compose logs). */
export const LogAnswer = {
  text: z.string(),
  lines: z.number().int(),
  matchedLines: z.number().int(),
  scannedLines: z.number().int(),
  truncated: z.boolean(),
  totalBytes: z.number().int(),
  notes: z.array(z.string()).optional(),
};

/** Keeps the newest part of a text whose JSON form fits `maxBytes` (escapes make JSON larger than the text). */
export function fitText(text: string, maxBytes: number): { text: string; truncated: boolean; totalBytes: number } {
  return clipTailJson(text, maxBytes, maxBytes);
}

export const logsGet = defineTool({
  name: 'logs_get',
  toolset: 'logs',
  tier: 'LOW',
  scopes: ['mcp:docker:read'],
  title: 'Read container logs',
  description: 'Latest log lines of a container, ANSI-stripped; filter by time and grep.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    container: ContainerRef,
    tail: z.number().int().min(1).max(50_000).default(200).describe('Latest lines to read; grep filters these'),
    since: Since.optional(),
    until: Until.optional(),
    streams: Streams,
    ...GrepFields,
    timestamps: z.boolean().default(false),
    maxBytes: MaxLogBytes,
  }),
  output: z.object({ container: z.string(), ...LogAnswer }),
  handler: async (input, ctx) => {
    const { docker, signal, maxOutputBytes } = ctx;
    const { since, until } = parseWindow(input);
    const filter = buildLineFilter(input);
    const info = await docker.inspect(input.container, signal);
    // a read the engine is slow to finish is answered with what came, shortly before the call's deadline
    const stop = beforeDeadline(ctx);
    const name = nameShown(info.Name);
    // With a TTY the process writes both streams to one terminal, and the engine logs it all as stdout.
    const ttyNotes = ttyNotesOf(info.Config?.Tty ? [`"${name}"`] : [], input.streams);
    // the 1024 bytes logCap keeps back cover the name (at most 201 characters: nameShown), the counts and the notes
    const { cap, notes } = logCap(input.maxBytes, maxOutputBytes, ttyNotes.length > 0 ? jsonBytes(ttyNotes) : 0);
    notes.push(...ttyNotes);
    const both = input.streams === 'both';
    const res = await readLogs(
      docker,
      info.Id,
      {
        ...input,
        since,
        until,
        filter,
        cap,
        tty: info.Config?.Tty === true,
        partial: true,
        render: (ts, body, stream) =>
          `${input.timestamps && ts ? `${ts} ` : ''}${both && stream === 'stderr' ? '[stderr] ' : ''}${body}`,
      },
      stop,
    ).catch((err: unknown) => {
      // 501 "configured logging driver does not support reading": retrying cannot help
      if (err instanceof ToolError && isUnreadableLogDriver(err)) {
        const driver = info.HostConfig?.LogConfig?.Type;
        throw new ToolError(
          'ERR_CONFLICT',
          `the log of container "${name}" cannot be read: ${driver ? `its log driver "${driver}"` : 'its log driver'} keeps no log the Docker Engine can read (the engine answered: ${sliceChars(err.message.replace(/^.*\(HTTP 501\):?\s*/, ''), 120)}). ${driver === 'none' ? 'Its output is not kept anywhere; to have logs, the container must be recreated with a log driver such as json-file or local' : 'Read its output where that driver sends it'}; containers_diagnose and events_list still show its state and exits`,
          { status: 501, ...(driver ? { logDriver: driver } : {}) },
        );
      }
      if (stop.aborted && !signal.aborted) {
        throw new ToolError(
          'ERR_BACKEND_TIMEOUT',
          `the Docker Engine sent no whole line of the log of container "${name}" before the call's time limit (${ctx.deadline - Date.now()} ms were left); retry, or ask for fewer lines (tail, since)`,
        );
      }
      // name the container as the caller knows it, not by the 64-hex id the read used
      throw namedAfter(err, info.Id, name);
    });
    if (res.cut) notes.push(cutNoteOf(res.cut, res.scanned));
    const answer = assembleLogText(res, cap, notes);
    return {
      container: name,
      ...answer,
      // the lines asked for were not all read
      ...(res.cut ? { truncated: true } : {}),
      matchedLines: res.matched,
      scannedLines: res.scanned,
    };
  },
});

/** What compose_get_logs asks for. */
export interface ProjectLogInput {
  project: string;
  tail: number;
  since?: string | undefined;
  until?: string | undefined;
  streams: 'both' | 'stdout' | 'stderr';
  grep?: string | undefined;
  grepMode: 'substring' | 'regex';
  ignoreCase: boolean;
  timestamps: boolean;
  maxBytes?: number | undefined;
}

/** What an answer says about the containers whose log was not read (or not read to the end) in time. */
function lateNotesOf(late: readonly Docker.ContainerInfo[]): string[] {
  if (late.length === 0) return [];
  const services = [...new Set(late.map(serviceOf))].slice(0, 10);
  let who = late.map((c) => nameShown(c.Names)).join(', ');
  if (who.length > 500) who = `${who.slice(0, 500).replace(/, [^,]*$/, '')}, …`;
  return [
    `no logs from ${late.length} container(s) not read before the call's time limit (${who}); read them with services ${JSON.stringify(services)}, a smaller tail or a narrower since/until`,
  ];
}

/** Containers whose log could not be read are named one by one up to this many, then counted. */
const MAX_GAPS_LISTED = 10;

/**
 * The compose_get_logs answer: the merged, time-ordered logs of a project's containers (`containers`
 * resolves them once the input is checked). A container whose log cannot be read is a gap stated in
 * `notes` (which one, and why); the others are still returned, after what `notesOf` says about the containers.
 * The whole answer (services and notes included) is fitted to the output budget.
 */
export async function readProjectLogs(
  ctx: ToolContext<DockerServices>,
  input: ProjectLogInput,
  containers: () => Promise<Docker.ContainerInfo[]>,
  notesOf: (containers: readonly Docker.ContainerInfo[]) => string[] = () => [],
) {
  const { since, until } = parseWindow(input);
  const filter = buildLineFilter(input);
  const list = await containers();
  const perService = new Map<string, number>();
  for (const c of list) perService.set(serviceOf(c), (perService.get(serviceOf(c)) ?? 0) + 1);
  const { services, notes: serviceNotes } = fitServices([...perService.keys()], ctx.maxOutputBytes / 4);
  const both = input.streams === 'both';
  const readCap = logCap(input.maxBytes, ctx.maxOutputBytes, reservedFor(services, [])).cap;
  const merged: LogResult = { lines: [], scanned: 0, matched: 0, dropped: 0, droppedBytes: 0 };
  const gaps: string[] = [];
  const ttys: string[] = [];
  // Reads end shortly before the call's deadline: the logs read so far are answered, the rest named as not read.
  const stop = beforeDeadline(ctx);
  const late: Docker.ContainerInfo[] = [];
  for (const c of list) {
    const service = serviceOf(c);
    const name = nameShown(c.Names);
    const prefix = (perService.get(service) ?? 0) > 1 ? name : service;
    if (stop.aborted && !ctx.signal.aborted) {
      late.push(c);
      continue;
    }
    try {
      // a listing does not say whether a container has a TTY, and that decides how its log is framed
      const tty = (await ctx.docker.inspect(c.Id, stop)).Config?.Tty === true;
      if (tty) ttys.push(`"${name}" (service ${service})`);
      const res = await readLogs(
        ctx.docker,
        c.Id,
        {
          ...input,
          since,
          until,
          filter,
          cap: readCap,
          tty,
          render: (ts, body, stream) =>
            `${prefix} | ${input.timestamps && ts ? `${ts} ` : ''}${both && stream === 'stderr' ? '[stderr] ' : ''}${body}`,
        },
        stop,
      );
      merged.lines.push(...res.lines);
      merged.scanned += res.scanned;
      merged.matched += res.matched;
      merged.dropped += res.dropped;
      merged.droppedBytes += res.droppedBytes;
    } catch (err) {
      if (stop.aborted && !ctx.signal.aborted) late.push(c);
      else gaps.push(`${name} (service ${service}): ${logGapOf(err, ctx.signal, { id: c.Id, name })}`);
    }
  }
  const gapNotes = gaps.slice(0, MAX_GAPS_LISTED).map((g) => sliceChars(`no logs from ${g}`, 300));
  if (gaps.length > MAX_GAPS_LISTED) {
    const rest = gaps.slice(MAX_GAPS_LISTED).map((g) => g.split(' ')[0]);
    const note = `no logs from ${rest.length} more containers either: ${rest.join(', ')}`;
    // a long list ends at the last whole name
    gapNotes.push(note.length <= 600 ? note : `${note.slice(0, 600).replace(/, [^,]*$/, '')}, …`);
  }
  const extraNotes = [
    ...notesOf(list),
    ...serviceNotes,
    ...ttyNotesOf(ttys, input.streams),
    ...gapNotes,
    ...lateNotesOf(late),
  ];
  const { cap, notes } = logCap(input.maxBytes, ctx.maxOutputBytes, reservedFor(services, extraNotes));
  const answer = assembleLogText(merged, cap, [...notes, ...extraNotes]);
  return { project: input.project, services, ...answer, matchedLines: merged.matched, scannedLines: merged.scanned };
}

/**
 * What a TTY means for a log read, for the containers named in `ttys` (compose_get_logs names each with its
 * service): the engine logs their stderr as stdout. A long list ends at the last whole name.
 */
function ttyNotesOf(ttys: string[], streams: ProjectLogInput['streams']): string[] {
  if (ttys.length === 0) return [];
  const one = ttys.length === 1;
  let who = ttys.join(', ');
  if (who.length > 500) who = `${who.slice(0, 500).replace(/, [^,]*$/, '')}, … (${ttys.length} in all)`;
  const effect =
    streams === 'stderr'
      ? `, so streams "stderr" finds nothing from ${one ? 'it' : 'them'}; use streams "both" (and grep for errors)`
      : streams === 'both'
        ? `, so none of ${one ? 'its' : 'their'} lines is marked [stderr]`
        : '';
  return [
    `${one ? 'container' : 'containers'} ${who} ${one ? 'has' : 'have'} a TTY: the engine logs all ${one ? 'it writes' : 'they write'}, stderr included, as stdout${effect}`,
  ];
}

/**
 * What the services list and the extra notes take beyond logCap's 1024 bytes: those cover the project name,
 * the counts and the notes assembleLogText adds (at most about 850 bytes together), and a few services.
 */
function reservedFor(services: string[], notes: string[]): number {
  return Math.max(0, jsonBytes(services) + (notes.length > 0 ? jsonBytes(notes) : 0) - 150);
}

/** The service names, as many as fit `maxBytes` of JSON, and a note when some were left out. */
function fitServices(all: string[], maxBytes: number): { services: string[]; notes: string[] } {
  if (jsonBytes(all) <= maxBytes) return { services: all, notes: [] };
  const services: string[] = [];
  let size = 2;
  for (const s of all) {
    size += jsonBytes(s) + 1;
    if (size > maxBytes) break;
    services.push(s);
  }
  return {
    services,
    notes: [
      `services: the first ${services.length} of ${all.length} are listed, to stay within the output budget; the log lines name every service`,
    ],
  };
}

export const logTools = [logsGet] as const;
