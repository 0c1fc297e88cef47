import { createRequire } from 'node:module';
import { type AnyTool, commaSeparated, defineServer, specsOf } from '@ravenhelm/kit';
import { z } from 'zod';
import { LEVEL_NAMES } from './access.js';
import { GitLabBackend } from './backend.js';
import type { GitLabServices } from './tools/define.js';
import { groupTools } from './tools/groups.js';
import { hookTools } from './tools/hooks.js';
import { issueTools } from './tools/issues.js';
import { jobTools } from './tools/jobs.js';
import { mergeRequestTools } from './tools/merge-requests.js';
import { pipelineTools } from './tools/pipelines.js';
import { projectTools } from './tools/projects.js';
import { repositoryTools } from './tools/repository.js';
import { runnerTools } from './tools/runners.js';
import { userTools } from './tools/users.js';
import { variableTools } from './tools/variables.js';
import { wikiTools } from './tools/wiki.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

/** Every tool of the GitLab server, in the order tools/list shows them. */
export const tools: readonly AnyTool<GitLabServices>[] = [
  ...projectTools,
  ...pipelineTools,
  ...jobTools,
  ...mergeRequestTools,
  ...issueTools,
  ...variableTools,
  ...groupTools,
  ...hookTools,
  ...userTools,
  ...runnerTools,
  ...repositoryTools,
  ...wikiTools,
];

const csv = commaSeparated(z.array(z.string().min(1).max(255)));

export const GitLabBackendConfig = z.object({
  // userinfo in the URL would be shown in every error that names GitLab (and fetch refuses it anyway)
  url: z
    .url()
    .refine((u) => !URL.canParse(u) || !/^[a-z][\w+.-]*:\/\/[^/?#]*@/i.test(u), {
      message: 'must not carry credentials: give the token in GITLAB_TOKEN_FILE',
    })
    // a query or fragment is no part of GitLab's address (requests go below its path), but a token put there
    // would be shown in every error that names GitLab
    .refine((u) => !URL.canParse(u) || !/[?#]/.test(u), {
      message: "must not carry a query or fragment: give the token in GITLAB_TOKEN_FILE, GitLab's address alone here",
    })
    .default('http://127.0.0.1:8929')
    .describe('GitLab base URL (without /api/v4)'),
  tokenFile: z.string().optional().describe("File holding the server's own GitLab token (re-read every 30 s)"),
  token: z.string().optional().describe('The token itself (prefer tokenFile)'),
  timeoutMs: z.coerce
    .number()
    .int()
    .min(100)
    .max(120_000)
    .default(10_000)
    .describe('Per GitLab request, its retries included'),
  maxRetries: z.coerce.number().int().min(0).max(5).default(2).describe('Retries of idempotent reads after 429/5xx'),
  maxRetryWaitMs: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(5_000)
    .describe('A longer Retry-After fails the call at once, saying when to retry'),
  allowlist: csv.default(['**']).describe('Project and group path globs the server may touch ("**": all)'),
  memberMaxAccess: z
    .enum(LEVEL_NAMES)
    .default('maintainer')
    .describe('Highest role groups_add_member may grant (guest, reporter, developer, maintainer, owner)'),
  maxLogBytes: z.coerce
    .number()
    .int()
    .min(4096)
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024)
    .describe('Tail of a job log kept while reading it'),
});

export const gitlabServer = defineServer({
  name: 'gitlab',
  version,
  defaultPort: 8703,
  description: 'GitLab: projects, pipelines and why they failed, job logs, merge requests, issues, CI variables',
  tools,
  /** What on-call asks first; the rest is one toolsets_enable away (RAVENHELM_TOOLSETS=default). */
  defaultToolsets: ['projects', 'pipelines', 'jobs', 'merge_requests'],
  backendConfig: GitLabBackendConfig,
  backendEnv: {
    GITLAB_URL: 'url',
    GITLAB_TOKEN_FILE: 'tokenFile',
    GITLAB_TOKEN: 'token',
    GITLAB_TIMEOUT_MS: 'timeoutMs',
    GITLAB_MAX_RETRIES: 'maxRetries',
    GITLAB_MAX_RETRY_WAIT_MS: 'maxRetryWaitMs',
    GITLAB_MAX_LOG_BYTES: 'maxLogBytes',
    GITLAB_ALLOWLIST: 'allowlist',
    GITLAB_MEMBER_MAX_ACCESS: 'memberMaxAccess',
  },
  secretPaths: ['token'],
  createServices: (config, { metrics }): GitLabServices => ({ gitlab: new GitLabBackend({ ...config, metrics }) }),
  ready: async ({ gitlab }, signal) => {
    await gitlab.metadata(signal);
  },
});

/** The registry's view of this server's tools: read by the registry CLI, docs and snapshots. */
export const toolSpecs = specsOf(gitlabServer);

export { Allowlist } from './allowlist.js';
export { GitLabBackend, type GitLabBackendOptions } from './backend.js';
export { cleanLog, stripAnsi } from './log-text.js';
export type { GitLabServices } from './tools/define.js';
