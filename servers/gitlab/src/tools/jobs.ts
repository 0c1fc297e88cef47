import { charStartFrom, compileUserPattern } from '@ravenhelm/kit';
import { z } from 'zod';
import type { Api } from '../backend.js';
import type { BodyWindow, CallScope } from '../client.js';
import { type CleanLine, cleanLog, headLines, tailLines } from '../log-text.js';
import { defineTool } from './define.js';
import { readLog } from './pipelines.js';
import { Id, num, ProjectPath, type Rec, str, strOrNull } from './shapes.js';

export const jobsGetLog = defineTool({
  name: 'jobs_get_log',
  toolset: 'jobs',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Read a job log',
  description: 'End of a CI job log, or lines from a byte offset, without ANSI codes; capped; optional RE2 filter.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    jobId: Id.describe('From pipelines_get'),
    lines: z.number().int().min(1).max(2000).default(200).describe('Most lines returned'),
    maxBytes: z.number().int().min(1024).max(60_000).default(16_384).describe('Most bytes of log text returned'),
    grep: z.string().min(1).max(200).optional().describe('RE2 pattern: keep only matching lines'),
    offset: z
      .number()
      .int({ error: (issue) => (issue.code === 'too_big' ? OFFSET_PAST : undefined) })
      .min(0)
      .optional()
      .describe('Read forward from this byte (0: the start); default: the end'),
  }),
  output: z.object({
    job: z.object({
      id: z.number(),
      name: z.string(),
      stage: z.string(),
      status: z.string(),
      failureReason: z.string().nullable(),
    }),
    text: z.string(),
    returnedLines: z.number(),
    matchedLines: z.number(),
    totalBytes: z.number().nullable(),
    startOffset: z.number(),
    nextOffset: z.number().optional(),
    truncated: z.boolean(),
    bound: z.string(),
  }),
  handler: async ({ project, jobId, lines, maxBytes, grep, offset }, { gitlab, signal, maxOutputBytes }) => {
    const re = grep ? compileUserPattern(grep, { field: 'grep' }) : undefined;
    const path = gitlab.project(project);
    const byteCap = Math.min(maxBytes, maxOutputBytes - 1024);
    const keep = (l: CleanLine) => !re || re.test(l.text);
    return gitlab.call(`job ${jobId} of "${project}"`, signal, async (api, scope) => {
      const job = (await api.Jobs.show(path, jobId)) as unknown as Rec;
      const summary = {
        id: num(job.id),
        name: str(job.name),
        stage: str(job.stage),
        status: str(job.status),
        failureReason: strOrNull(job.failure_reason),
      };
      if (offset !== undefined) {
        const size = traceSize(job);
        // a finished job's log size is known: past it there is nothing to read, and reading would cost the whole log
        if (size !== null && offset > size) return pastTheEnd(summary, offset, size);
        const window = grep ? gitlab.maxLogBytes : Math.min(gitlab.maxLogBytes, FORWARD_READ_BYTES);
        const log = await readLogFrom(api, scope, path, jobId, offset, window);
        const matched = log.lines.filter(keep);
        const head = headLines(matched, lines, byteCap);
        const last = head.lines.at(-1);
        const more = head.lines.length < matched.length || head.cut;
        const nextOffset = more && last ? Math.min(log.base + last.end, log.end) : log.ended ? undefined : log.end;
        const totalBytes = log.ended ? log.received : traceSize(job);
        const first = head.lines[0];
        const range = `bytes ${offset}-${log.end} of ${totalBytes ?? 'an unknown number of'} read`;
        const bound =
          (first
            ? `first ${head.lines.length} of ${matched.length} ${re ? 'matching ' : ''}lines from byte ${log.base + first.start} (cap ${lines} lines / ${byteCap} bytes); ${range}`
            : `no ${re ? 'matching ' : ''}lines in ${range}`) +
          (head.cut ? '; that line is longer than the byte cap: its start is shown, its rest skipped' : '') +
          (nextOffset !== undefined
            ? `; continue with offset ${nextOffset}`
            : offset > log.received
              ? '; the offset is past the end of the log'
              : '; the log ends here');
        return {
          job: summary,
          text: head.lines.map((l) => l.text).join('\n'),
          returnedLines: head.lines.length,
          matchedLines: matched.length,
          totalBytes,
          startOffset: first ? log.base + first.start : Math.min(offset, log.end),
          ...(nextOffset !== undefined ? { nextOffset } : {}),
          truncated: nextOffset !== undefined,
          bound,
        };
      }
      const log = await readLog(api, scope, path, jobId);
      const matched = log.lines.filter(keep);
      const tail = tailLines(matched, lines, byteCap);
      const truncated = log.cut || tail.lines.length < matched.length;
      const startOffset = log.base + (tail.lines[0]?.start ?? log.readBytes);
      const bound =
        `last ${tail.lines.length} of ${matched.length} ${re ? 'matching ' : ''}lines (cap ${lines} lines / ${byteCap} bytes)` +
        (log.cut ? `; only the last ${log.readBytes} of ${log.totalBytes} log bytes were read` : '') +
        (startOffset > 0
          ? `; they start at byte ${startOffset}: pass offset to read earlier parts (0: the start)`
          : '');
      return {
        job: summary,
        text: tail.lines.map((l) => l.text).join('\n'),
        returnedLines: tail.lines.length,
        matchedLines: matched.length,
        totalBytes: log.totalBytes,
        startOffset,
        truncated,
        bound,
      };
    });
  },
});

const OFFSET_PAST = `offset is a byte position in the log and cannot be past ${Number.MAX_SAFE_INTEGER}; give the startOffset or nextOffset of an earlier answer, or omit offset to read the end of the log`;

/** The answer for an offset past the end of a log whose size is known, without reading it. */
function pastTheEnd<J>(job: J, offset: number, size: number) {
  return {
    job,
    text: '',
    returnedLines: 0,
    matchedLines: 0,
    totalBytes: size,
    startOffset: size,
    truncated: false,
    bound: `offset ${offset} is past the end of the log (${size} bytes; nothing was read); omit offset to read its end, or give 0 to read from the start`,
  };
}

/** Log bytes read forward from an offset without a filter: room for the most lines a call returns. */
const FORWARD_READ_BYTES = 512 * 1024;

/**
 * The log's size from the job: a finished job's log is archived as its `trace` artifact (jobs.md, the
 * job's `artifacts`: file_type "trace" with its size); a running job's has no size yet.
 */
function traceSize(job: Rec): number | null {
  const artifacts = Array.isArray(job.artifacts) ? (job.artifacts as Rec[]) : [];
  const trace = artifacts.find((a) => a?.file_type === 'trace');
  return typeof trace?.size === 'number' ? trace.size : null;
}

/**
 * Bytes [offset, offset + bytes) of a job log, cut at the last line end inside them (unless the log ended
 * there) and at characters, cleaned into lines. GitLab's trace endpoint has no Range or offset (it sends
 * the whole log: lib/api/ci/jobs.rb `body trace`), so the bytes before the window are read and dropped,
 * and nothing past it is fetched.
 */
async function readLogFrom(api: Api, scope: CallScope, path: string, jobId: number, offset: number, bytes: number) {
  scope.bodyWindow = { offset, bytes, headBytes: 0 };
  await api.Jobs.showLog(path, jobId);
  const read = scope.windowRead as BodyWindow;
  const buf = read.window;
  const ended = read.received < offset + bytes;
  const from = Math.min(charStartFrom(buf, 0), 3);
  let to = buf.length;
  if (!ended) {
    const nl = buf.lastIndexOf(0x0a);
    if (nl >= from) to = nl + 1;
    else to = charEnd(buf, from);
  }
  const { lines } = cleanLog(buf.subarray(from, to).toString('utf8'));
  return { lines, base: offset + from, end: offset + to, ended, received: read.received };
}

/** Where the last whole character of `buf` (from `from`) ends. */
function charEnd(buf: Buffer, from: number): number {
  let k = buf.length - 1;
  while (k > from && ((buf[k] as number) & 0xc0) === 0x80) k--;
  const lead = buf[k] ?? 0;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return k + need <= buf.length ? buf.length : k;
}

export const jobsRetry = defineTool({
  name: 'jobs_retry',
  toolset: 'jobs',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Retry a job',
  description: 'Retry one finished CI job; returns the new job (a new id) and its status.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object({ project: ProjectPath, jobId: Id.describe('From pipelines_get') }),
  output: z.object({
    id: z.number(),
    name: z.string(),
    stage: z.string(),
    status: z.string(),
    retriedJobId: z.number(),
  }),
  handler: async ({ project, jobId }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const j = (await gitlab.call(`retrying job ${jobId} of "${project}"`, signal, (api) =>
      api.Jobs.retry(path, jobId),
    )) as unknown as Rec;
    return { id: num(j.id), name: str(j.name), stage: str(j.stage), status: str(j.status), retriedJobId: jobId };
  },
});

export const jobTools = [jobsGetLog, jobsRetry] as const;
