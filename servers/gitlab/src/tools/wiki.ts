import { pageList } from '@ravenhelm/kit';
import { z } from 'zod';
import type { JsonWindowRead } from '../json-window.js';
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
    slug: z
      .string()
      .min(1)
      .max(512)
      // a slug "." or ".." is a dot segment of the URL (gitbeaker encodes "/" inside it, not dots): it would
      // ask GitLab for the project or its page list instead; GitLab's wiki slugs are never "." or ".."
      .refine(
        (s) => !s.split('/').some((x) => x === '.' || x === '..'),
        'must not have "." or ".." segments; give a slug from wiki_list',
      )
      .describe('Page slug from wiki_list, e.g. "runbooks/deploy"'),
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
    bytes: z.number().nullable(),
    note: z.string().optional(),
  }),
  handler: async ({ project, slug, maxBytes, offset }, { gitlab, signal, maxOutputBytes }) => {
    const path = gitlab.project(project);
    return gitlab.call(`wiki page "${slug}" of "${project}"`, signal, async (api, scope) => {
      // GitLab sends a page only inside JSON (wikis.md: no raw form; render_html gives HTML, version an
      // older page): read it only up to the window's end, a few bytes past it finding where the last
      // character ends, so a page of any size costs at most its JSON up to offset + maxBytes.
      scope.jsonWindow = { field: 'content', offset, bytes: maxBytes + 8, wants: ['title', 'slug', 'format'] };
      await api.ProjectWikis.show(path, slug);
      const read = scope.jsonWindowRead as JsonWindowRead;
      const w = textWindow(read.window, 0, maxBytes, maxOutputBytes - 1024);
      const nextOffset = w.nextOffset !== undefined ? offset + w.nextOffset : undefined;
      return {
        slug: read.fields.slug ?? slug,
        title: read.fields.title ?? '',
        format: read.fields.format ?? '',
        content: w.text,
        truncated: w.truncated,
        ...(nextOffset !== undefined ? { nextOffset } : {}),
        bytes: read.total ?? null,
        ...(read.total === undefined
          ? {
              note: `reading stopped after this window: GitLab sends a wiki page whole inside JSON, so its size is known only once read to the end; continue with offset ${nextOffset ?? offset + read.window.length}`,
            }
          : {}),
      };
    });
  },
});

export const wikiTools = [wikiList, wikiGet] as const;
