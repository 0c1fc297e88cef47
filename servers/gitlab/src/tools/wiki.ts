import { pageList } from '@ravenhelm/kit';
import { z } from 'zod';
import { defineTool } from './define.js';
import { Cursor, Offset, ProjectPath, type Rec, str, textWindow } from './shapes.js';

export const wikiList = defineTool({
  name: 'wiki_list',
  toolset: 'wiki',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List wiki pages',
  description: "List a project's wiki pages (slug, title, format), without content; paged.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, cursor: Cursor }),
  output: z.object({
    pages: z.array(z.object({ slug: z.string(), title: z.string(), format: z.string() })),
    total: z.number(),
    truncated: z.boolean(),
    nextCursor: z.string().optional(),
  }),
  handler: async ({ project, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const path = gitlab.project(project);
    // GitLab lists a wiki whole (the endpoint has no paging): pages of it fit the output budget, and the
    // cursor continues after the last one shown.
    const all = (await gitlab.call(`the wiki of "${project}"`, signal, (api) =>
      api.ProjectWikis.all(path, { withContent: false } as never),
    )) as unknown as Rec[];
    const listed = all.map((p) => ({ slug: str(p.slug), title: str(p.title), format: str(p.format) }));
    const page = pageList(listed, { cursor, maxBytes: maxOutputBytes - 512 });
    return {
      pages: page.items,
      total: page.total,
      truncated: page.truncated,
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  },
});

export const wikiGet = defineTool({
  name: 'wiki_get',
  toolset: 'wiki',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Read a wiki page',
  description: 'Read one wiki page by slug, in byte windows.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    slug: z.string().min(1).max(512).describe('Page slug from wiki_list, e.g. "runbooks/deploy"'),
    maxBytes: z.number().int().min(256).max(60_000).default(16_384).describe('Most bytes of content returned'),
    offset: Offset,
  }),
  output: z.object({
    slug: z.string(),
    title: z.string(),
    format: z.string(),
    content: z.string(),
    truncated: z.boolean(),
    nextOffset: z.number().optional(),
    bytes: z.number(),
  }),
  handler: async ({ project, slug, maxBytes, offset }, { gitlab, signal, maxOutputBytes }) => {
    const path = gitlab.project(project);
    const p = (await gitlab.call(`wiki page "${slug}" of "${project}"`, signal, (api) =>
      api.ProjectWikis.show(path, slug),
    )) as unknown as Rec;
    const buf = Buffer.from(str(p.content), 'utf8');
    const w = textWindow(buf, offset, maxBytes, maxOutputBytes - 1024);
    return {
      slug: str(p.slug),
      title: str(p.title),
      format: str(p.format),
      content: w.text,
      truncated: w.truncated,
      ...(w.nextOffset !== undefined ? { nextOffset: w.nextOffset } : {}),
      bytes: buf.length,
    };
  },
});

export const wikiTools = [wikiList, wikiGet] as const;
