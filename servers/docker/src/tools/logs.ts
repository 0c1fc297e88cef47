import { clipTail, jsonBytes, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import type { DockerBackend, LogResult } from '../backend.js';
import { ContainerRef, compileGrep, nameOf } from '../state.js';
import { type Line, stripAnsi, timestampKey, withoutTimestamp } from '../stream.js';
import { defineTool } from './define.js';

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

/** Parses since and until together; until must come after since. */
export function parseWindow(input: { since?: string | undefined; until?: string | undefined }, now = Date.now()) {
  const since = parseSince(input.since, now, 'since');
  const until = parseSince(input.until, now, 'until');
  if (since !== undefined && until !== undefined && until <= since) {
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
  .default(32 * 1024)
  .describe('Cap on returned text; oldest lines dropped first');

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

/**
 * Reads one container's logs for the log tools. Timestamps are always requested: the engine copies stdout
 * and stderr separately, so file order can differ from time order across the two streams and sorting by
 * timestamp restores it. The grep sees each line without its timestamp; `render` gives each matching
 * line its final form before it is sized, so dropped bytes are counted as the answer would show them.
 * Up to 2 x `cap` bytes are kept.
 */
export function readLogs(
  docker: DockerBackend,
  containerId: string,
  o: {
    tail: number;
    since: number | undefined;
    until: number | undefined;
    streams: 'both' | 'stdout' | 'stderr';
    filter: ((l: Line) => boolean) | undefined;
    cap: number;
    render: (ts: string, body: string, stream: Line['stream']) => string;
  },
  signal: AbortSignal,
): Promise<LogResult> {
  const { filter, render } = o;
  return docker.logs(
    containerId,
    {
      tail: o.tail,
      since: o.since,
      until: o.until,
      stdout: o.streams !== 'stderr',
      stderr: o.streams !== 'stdout',
      timestamps: true,
      keepBytes: o.cap * 2,
      filter: filter ? (l: Line) => filter({ stream: l.stream, text: withoutTimestamp(l.text).rest }) : undefined,
      render: (l: Line) => {
        const { ts, rest } = withoutTimestamp(l.text);
        return { stream: l.stream, key: timestampKey(ts), text: render(ts, stripAnsi(rest), l.stream) };
      },
    },
    signal,
  );
}

/** The byte cap a log answer uses: the caller's maxBytes within the server's output budget, and why. */
export function logCap(maxBytes: number, maxOutputBytes: number): { cap: number; notes: string[] } {
  const cap = Math.max(256, Math.min(maxBytes, maxOutputBytes - 1024));
  return {
    cap,
    notes:
      cap < maxBytes
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

/** Clips text from the front until its JSON form fits `maxBytes` (escapes can make JSON larger than the text). */
export function fitText(text: string, maxBytes: number): { text: string; truncated: boolean; totalBytes: number } {
  const totalBytes = Buffer.byteLength(text, 'utf8');
  let budget = maxBytes;
  let clipped = clipTail(text, budget);
  for (let i = 0; i < 4 && jsonBytes(clipped.text) > maxBytes; i++) {
    budget = Math.floor(budget * (maxBytes / jsonBytes(clipped.text)) * 0.95);
    clipped = clipTail(text, Math.max(0, budget));
  }
  return { text: clipped.text, truncated: clipped.text.length < text.length, totalBytes };
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
  handler: async (input, { docker, signal, maxOutputBytes }) => {
    const { since, until } = parseWindow(input);
    const filter = buildLineFilter(input);
    const info = await docker.inspect(input.container, signal);
    const { cap, notes } = logCap(input.maxBytes, maxOutputBytes);
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
        render: (ts, body, stream) =>
          `${input.timestamps && ts ? `${ts} ` : ''}${both && stream === 'stderr' ? '[stderr] ' : ''}${body}`,
      },
      signal,
    );
    const answer = assembleLogText(res, cap, notes);
    return {
      container: nameOf(info.Name),
      ...answer,
      matchedLines: res.matched,
      scannedLines: res.scanned,
    };
  },
});

export const logTools = [logsGet] as const;
