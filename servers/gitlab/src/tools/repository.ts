import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { type Api, fitPage, type GitLabBackend } from '../backend.js';
import { defineTool } from './define.js';
import { Cursor, Limit, Offset, Paging, ProjectPath, pagingOf, type Rec, str, textWindow } from './shapes.js';

const Ref = z.string().min(1).max(255).optional().describe('Branch, tag or commit; default: the default branch');
const FilePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".." segments')
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
    return gitlab.call(`file ${path} of "${project}"`, signal, async (api) => {
      const at = ref ?? str(((await api.Projects.show(projectPath)) as unknown as Rec).default_branch);
      const f = (await api.RepositoryFiles.show(projectPath, path, at)) as unknown as Rec;
      const buf = Buffer.from(str(f.content), f.encoding === 'base64' ? 'base64' : 'utf8');
      const binary = buf.subarray(0, 8000).includes(0);
      const w = binary ? { text: '', truncated: false } : textWindow(buf, offset, maxBytes, maxOutputBytes - 1024);
      return {
        path,
        ref: at,
        size: buf.length,
        binary,
        content: w.text,
        truncated: w.truncated,
        ...(w.nextOffset !== undefined ? { nextOffset: w.nextOffset } : {}),
      };
    });
  },
});

export const repositoryTools = [repositoryListTree, repositoryGetFile] as const;
