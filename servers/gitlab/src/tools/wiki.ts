import { clipHeadJson } from '@ravenhelm/kit';
import { z } from 'zod';
import { defineTool } from './define.js';
import { fitItems, ProjectPath, type Rec, str } from './shapes.js';

const MAX_PAGES = 500;

export const wikiList = defineTool({
  name: 'wiki_list',
  toolset: 'wiki',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List wiki pages',
  description: "List a project's wiki pages (slug, title, format), without content; at most 500.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath }),
  output: z.object({
    pages: z.array(z.object({ slug: z.string(), title: z.string(), format: z.string() })),
    total: z.number(),
    truncated: z.boolean(),
  }),
  handler: async ({ project }, { gitlab, signal, maxOutputBytes }) => {
    const path = gitlab.project(project);
    const all = (await gitlab.call(`the wiki of "${project}"`, signal, (api) =>
      api.ProjectWikis.all(path, { withContent: false } as never),
    )) as unknown as Rec[];
    const listed = all
      .slice(0, MAX_PAGES)
      .map((p) => ({ slug: str(p.slug), title: str(p.title), format: str(p.format) }));
    // the first pages that fit the output budget (a big wiki must answer, not fail)
    const pages = fitItems(listed, maxOutputBytes - 512);
    return { pages, total: all.length, truncated: pages.length < all.length };
  },
});

export const wikiGet = defineTool({
  name: 'wiki_get',
  toolset: 'wiki',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Read a wiki page',
  description: 'Read one wiki page by slug, byte-capped from the start.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    slug: z.string().min(1).max(512).describe('Page slug from wiki_list, e.g. "runbooks/deploy"'),
    maxBytes: z.number().int().min(256).max(60_000).default(16_384).describe('Most bytes of content returned'),
  }),
  output: z.object({
    slug: z.string(),
    title: z.string(),
    format: z.string(),
    content: z.string(),
    truncated: z.boolean(),
    bytes: z.number(),
  }),
  handler: async ({ project, slug, maxBytes }, { gitlab, signal, maxOutputBytes }) => {
    const path = gitlab.project(project);
    const p = (await gitlab.call(`wiki page "${slug}" of "${project}"`, signal, (api) =>
      api.ProjectWikis.show(path, slug),
    )) as unknown as Rec;
    const clipped = clipHeadJson(str(p.content), maxBytes, maxOutputBytes - 1024);
    return {
      slug: str(p.slug),
      title: str(p.title),
      format: str(p.format),
      content: clipped.text,
      truncated: clipped.truncated,
      bytes: clipped.totalBytes,
    };
  },
});

export const wikiTools = [wikiList, wikiGet] as const;
