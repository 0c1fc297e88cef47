import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { type Api, fitPage, type GitLabBackend } from '../backend.js';
import type { BodyWindow } from '../client.js';
import { defineTool } from './define.js';
import { Cursor, Limit, Offset, Paging, ProjectPath, pagingOf, type Rec, str, textWindow } from './shapes.js';

const Ref = z.string().min(1).max(255).optional().describe('Branch, tag or commit; default: the default branch');
const FilePath = z
  .string()
  .min(1)
  .max(1024)
  // a path "." would be sent as /files/./raw, which the URL resolves to /files/raw: the file named "raw" as JSON
  .refine(
    (p) => !p.split('/').some((s) => s === '.' || s === '..'),
    'must not have "." or ".." segments; give the file\'s path from the repository root, as repository_list_tree lists it',
  )
  .describe('Path in the repository, e.g. "src/index.ts"');

/**
 * A ref read in a project must be on one of its own branches or tags. A fork of a public or internal
 * project shares GitLab's object pool with it, so a commit SHA (or a revision naming one) of the upstream
 * resolves in the fork too: read through an allowed fork, it would show a project the allowlist keeps out.
 */
async function refusePooledCommit(gitlab: GitLabBackend, project: string, ref: string, signal: AbortSignal) {
  const refs = await gitlab.call(`ref "${ref}" of "${project}"`, signal, (api: Api) =>
    api.Commits.allReferences(gitlab.project(project), ref, { type: 'all', perPage: 1, maxPages: 1 } as never),
  );
  if (Array.isArray(refs) && refs.length > 0) return;
  throw new ToolError(
    'ERR_NOT_FOUND',
    `"${ref}" is a commit on no branch or tag of "${project}": commits that only another project of its fork network holds are not read through it; name a branch, a tag, or a commit on one of them`,
  );
}

export const repositoryListTree = defineTool({
  name: 'repository_list_tree',
  toolset: 'repository',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List repository files',
  description: 'List files and folders of a repository path at a ref (optionally recursive); paged.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    path: z.string().max(1024).optional().describe('Folder; default: the root'),
    ref: Ref,
    recursive: z.boolean().default(false).describe('Include everything below the folder'),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ entries: z.array(z.object({ path: z.string(), type: z.string() })), ...Paging }),
  handler: async ({ project, path, ref, recursive, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    if (ref !== undefined) await refusePooledCommit(gitlab, project, ref, signal);
    const page = await gitlab.page<Rec>(`the tree of "${project}"`, signal, cursor, limit, (api, req) =>
      api.Repositories.allRepositoryTrees(gitlab.project(project), {
        ...req,
        recursive,
        ...(path ? { path } : {}),
        ...(ref ? { ref } : {}),
      } as never),
    );
    const entries = page.items.map((e) => ({ path: str(e.path), type: str(e.type) }));
    const fitted = fitPage({ ...page, items: entries }, cursor, limit, maxOutputBytes - 512);
    return { entries: fitted.items, ...pagingOf(fitted) };
  },
});

/** git's test: a NUL in a file's first 8,000 bytes makes it binary. */
const BINARY_SNIFF_BYTES = 8000;

export const repositoryGetFile = defineTool({
  name: 'repository_get_file',
  toolset: 'repository',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Read a repository file',
  description: 'Read one text file at a ref in byte windows; binary files are reported, not returned.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    path: FilePath,
    ref: Ref,
    maxBytes: z.number().int().min(256).max(60_000).default(16_384).describe('Most bytes of content returned'),
    offset: Offset,
  }),
  output: z.object({
    path: z.string(),
    ref: z.string(),
    size: z.number(),
    binary: z.boolean(),
    content: z.string(),
    truncated: z.boolean(),
    nextOffset: z.number().optional(),
  }),
  handler: async ({ project, path, ref, maxBytes, offset }, { gitlab, signal, maxOutputBytes }) => {
    const projectPath = gitlab.project(project);
    if (ref !== undefined) await refusePooledCommit(gitlab, project, ref, signal);
    return gitlab.call(`file ${path} of "${project}"`, signal, async (api, scope) => {
      const at = ref ?? (await defaultBranch(api, projectPath, project));
      // The raw file, not its JSON form: that carries the whole file in base64 however small the window
      // (past 16 MiB it does not fit an answer), and GitLab rate-limits it to 5 a minute for files over 10 MB.
      // Only the bytes up to the window's end are fetched; a few past it find where the last character ends.
      scope.bodyWindow = { offset, bytes: maxBytes + 8, headBytes: BINARY_SNIFF_BYTES };
      await api.RepositoryFiles.showRaw(projectPath, path, at);
      const read = scope.windowRead as BodyWindow;
      // GitLab sends the file's metadata with it as X-Gitlab-* headers (repository_files.md)
      const sizeHeader = scope.lastHeaders?.['x-gitlab-size'] ?? '';
      const size = /^\d{1,15}$/.test(sizeHeader) ? Number(sizeHeader) : read.received;
      const binary = read.head.includes(0);
      const w = binary ? { text: '', truncated: false } : textWindow(read.window, 0, maxBytes, maxOutputBytes - 1024);
      const nextOffset = w.nextOffset !== undefined ? offset + w.nextOffset : undefined;
      return {
        path,
        ref: at,
        size,
        binary,
        content: w.text,
        truncated: w.truncated,
        ...(nextOffset !== undefined ? { nextOffset } : {}),
      };
    });
  },
});

/** The default branch of a project that has one: an empty repository has no commit to read from. */
async function defaultBranch(api: Api, projectPath: string, project: string): Promise<string> {
  const p = (await api.Projects.show(projectPath)) as unknown as Rec;
  // GitLab (since 14.1) still names a default branch for an empty repository: the one a first push creates
  if (p.empty_repo === true)
    throw new ToolError(
      'ERR_NOT_FOUND',
      `"${project}" has an empty repository (no commits): there is no file to read until something is pushed`,
    );
  const branch = str(p.default_branch);
  if (!branch)
    throw new ToolError(
      'ERR_NOT_FOUND',
      `GitLab names no default branch of "${project}" to this server's token (the repository may be disabled, or not readable with its role); pass ref, or check the project`,
    );
  return branch;
}

export const repositoryTools = [repositoryListTree, repositoryGetFile] as const;
