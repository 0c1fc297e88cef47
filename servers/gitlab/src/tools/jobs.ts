import { ToolError } from '@ravenhelm/kit';
import { RE2JS } from 're2js';
import { z } from 'zod';
import { tailLines } from '../log-text.js';
import { defineTool } from './define.js';
import { readLog } from './pipelines.js';
import { Id, num, ProjectPath, type Rec, str, strOrNull } from './shapes.js';

export const jobsGetLog = defineTool({
  name: 'jobs_get_log',
  toolset: 'jobs',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Tail a job log',
  description: 'End of a CI job log without ANSI or section markers, capped by lines and bytes; optional RE2 filter.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    jobId: Id.describe('From pipelines_get'),
    lines: z.number().int().min(1).max(2000).default(200).describe('Most lines returned (the last ones)'),
    maxBytes: z.number().int().min(1024).max(60_000).default(16_384).describe('Most bytes of log text returned'),
    grep: z.string().min(1).max(200).optional().describe('RE2 pattern: keep only matching lines'),
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
    totalBytes: z.number(),
    truncated: z.boolean(),
    bound: z.string(),
  }),
  handler: async ({ project, jobId, lines, maxBytes, grep }, { gitlab, signal, maxOutputBytes }) => {
    let re: RE2JS | undefined;
    if (grep) {
      try {
        re = RE2JS.compile(grep);
      } catch (err) {
        throw new ToolError('ERR_INVALID_INPUT', `grep is not a valid RE2 pattern: ${(err as Error).message}`);
      }
    }
    const path = gitlab.project(project);
    return gitlab.call(`job ${jobId} of "${project}"`, signal, async (api, scope) => {
      const job = (await api.Jobs.show(path, jobId)) as unknown as Rec;
      const log = await readLog(api, scope, path, jobId);
      const matched = re ? log.lines.filter((l) => re.matcher(l.text).find()) : log.lines;
      const byteCap = Math.min(maxBytes, maxOutputBytes - 1024);
      const tail = tailLines(matched, lines, byteCap);
      const truncated = log.cut || tail.lines.length < matched.length;
      const bound =
        `last ${tail.lines.length} of ${matched.length} ${re ? 'matching ' : ''}lines (cap ${lines} lines / ${byteCap} bytes)` +
        (log.cut ? `; only the last ${log.readBytes} of ${log.totalBytes} log bytes were read` : '');
      return {
        job: {
          id: num(job.id),
          name: str(job.name),
          stage: str(job.stage),
          status: str(job.status),
          failureReason: strOrNull(job.failure_reason),
        },
        text: tail.lines.map((l) => l.text).join('\n'),
        returnedLines: tail.lines.length,
        matchedLines: matched.length,
        totalBytes: log.totalBytes,
        truncated,
        bound,
      };
    });
  },
});

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
