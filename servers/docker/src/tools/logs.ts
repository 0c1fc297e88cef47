import { abortAfter, clipTailJson, jsonBytes, sliceChars, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { DockerBackend, LogCut, LogResult } from '../backend.js';
import { isUnreadableLogDriver, namedAfter } from '../engine-errors.js';
import { ContainerRef, compileGrep, nameShown } from '../state.js';
import { type Line, shownLine, timestampKey, withoutTimestamp } from '../stream.js';
import { defineTool } from './define.js';
import { parseWindow, Since, type TimeBound, Until } from './log-window.js';

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
  return match ? (l) => match(shownLine(l.text)) : undefined;
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
        const text = render(ts, shownLine(rest), l.stream);
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

/**
 * What a TTY means for a log read, for the containers named in `ttys` (compose_get_logs names each with its
 * service): the engine logs their stderr as stdout. A long list ends at the last whole name.
 */
export function ttyNotesOf(ttys: string[], streams: 'both' | 'stdout' | 'stderr'): string[] {
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

export const logTools = [logsGet] as const;
