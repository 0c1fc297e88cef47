import { z } from 'zod';
import { fitPage } from '../backend.js';
import { defineTool } from './define.js';
import { Cursor, Id, Limit, num, Paging, ProjectPath, pagingOf, type Rec, str, strOrNull } from './shapes.js';

const EVENTS = [
  'push',
  'merge_requests',
  'pipeline',
  'issues',
  'tag_push',
  'note',
  'job',
  'deployment',
  'releases',
] as const;

const Hook = z.object({
  id: z.number(),
  url: z.string(),
  events: z.array(z.string()),
  sslVerification: z.boolean(),
  createdAt: z.string().nullable(),
});

/** A path segment that looks like a key (Slack, Discord, Teams put theirs in the path): long, letters and digits. */
const KEY_LIKE = /^(?=.*\d)(?=.*[A-Za-z]).{16,}$/;

/**
 * A hook URL without credentials: userinfo removed, query values hidden (tokens often live there), and
 * key-like path segments hidden (whoever holds a Slack or Discord hook URL can post to the channel).
 */
export function safeHookUrl(raw: string): string {
  try {
    const u = new URL(raw);
    u.username = '';
    u.password = '';
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '…');
    u.pathname = u.pathname
      .split('/')
      .map((seg) => (KEY_LIKE.test(seg) ? '…' : seg))
      .join('/');
    return u.toString();
  } catch {
    return '(unparseable url)';
  }
}

const hookOf = (h: Rec) => ({
  id: num(h.id),
  url: safeHookUrl(str(h.url)),
  events: EVENTS.filter((e) => h[`${e}_events`] === true),
  sslVerification: h.enable_ssl_verification !== false,
  createdAt: strOrNull(h.created_at),
});

export const hooksList = defineTool({
  name: 'hooks_list',
  toolset: 'hooks',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List project webhooks',
  description: "A project's webhooks: URL (credentials hidden), events, SSL verification; secret tokens never shown.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, limit: Limit, cursor: Cursor }),
  output: z.object({ hooks: z.array(Hook), ...Paging }),
  handler: async ({ project, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const page = await gitlab.page<Rec>(`webhooks of "${project}"`, signal, cursor, limit, (api, req) =>
      api.ProjectHooks.all(gitlab.project(project), req as never),
    );
    const fitted = fitPage({ ...page, items: page.items.map(hookOf) }, cursor, limit, maxOutputBytes - 512);
    return { hooks: fitted.items, ...pagingOf(fitted) };
  },
});

export const hooksCreate = defineTool({
  name: 'hooks_create',
  toolset: 'hooks',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Create a project webhook',
  description: 'Add a webhook to a project for the chosen events, with an optional secret token (never echoed).',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  input: z.object({
    project: ProjectPath,
    // Receiver URLs carry credentials (userinfo, ?token=, Slack-style path secrets): never logged or audited.
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      .meta({ sensitive: true })
      .describe('Receiver URL (http or https)'),
    events: z.array(z.enum(EVENTS)).min(1).max(EVENTS.length).describe('Events that trigger the hook'),
    token: z
      .string()
      .min(1)
      .max(255)
      .optional()
      .meta({ sensitive: true })
      .describe('Secret token sent as X-Gitlab-Token'),
    sslVerification: z.boolean().default(true).describe('Verify the receiver TLS certificate'),
  }),
  output: Hook,
  handler: async ({ project, url, events, token, sslVerification }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    const flags = Object.fromEntries(EVENTS.map((e) => [`${e}_events`, events.includes(e)]));
    const h = (await gitlab.call(
      `a new webhook of "${project}"`,
      signal,
      (api) =>
        api.ProjectHooks.add(path, url, {
          ...flags,
          enable_ssl_verification: sslVerification,
          ...(token ? { token } : {}),
        } as never),
      [url, token],
    )) as unknown as Rec;
    return hookOf(h);
  },
});

export const hooksDelete = defineTool({
  name: 'hooks_delete',
  toolset: 'hooks',
  tier: 'MEDIUM',
  scopes: ['mcp:gitlab:write'],
  title: 'Delete a project webhook',
  description: 'Remove one webhook from a project by id.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({ project: ProjectPath, hookId: Id.describe('Webhook id from hooks_list') }),
  output: z.object({ deleted: z.boolean(), hookId: z.number() }),
  plan: ({ project, hookId }) => `delete webhook ${hookId} of ${project}; its receiver stops getting events`,
  handler: async ({ project, hookId }, { gitlab, signal }) => {
    const path = gitlab.project(project);
    await gitlab.call(`webhook ${hookId} of "${project}"`, signal, (api) => api.ProjectHooks.remove(path, hookId));
    return { deleted: true, hookId };
  },
});

export const hookTools = [hooksList, hooksCreate, hooksDelete] as const;
