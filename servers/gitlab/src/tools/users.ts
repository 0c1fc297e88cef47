import { z } from 'zod';
import { fitPage } from '../backend.js';
import { defineTool } from './define.js';
import { Username, userIdOf } from './groups.js';
import { Cursor, Limit, Paging, pagingOf, type Rec, Search, str, strOrNull } from './shapes.js';

const User = z.object({
  username: z.string(),
  name: z.string(),
  state: z.string(),
  bot: z.boolean(),
  admin: z.boolean().nullable(),
  createdAt: z.string().nullable(),
});

// is_admin is only visible to an administrator's token: null means "not known", not "no"
const userOf = (u: Rec) => ({
  username: str(u.username),
  name: str(u.name),
  state: str(u.state),
  bot: u.bot === true,
  admin: typeof u.is_admin === 'boolean' ? u.is_admin : null,
  createdAt: strOrNull(u.created_at),
});

export const usersList = defineTool({
  name: 'users_list',
  toolset: 'users',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List users',
  description: 'Search GitLab users by name, username or (admin token) email; paged.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    search: Search,
    blocked: z.boolean().default(false).describe('Only blocked users'),
    limit: Limit,
    cursor: Cursor,
  }),
  output: z.object({ users: z.array(User), ...Paging }),
  handler: async ({ search, blocked, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const page = await gitlab.page<Rec>('the user list', signal, cursor, limit, (api, req) =>
      api.Users.all({ ...req, ...(search ? { search } : {}), ...(blocked ? { blocked: true } : {}) } as never),
    );
    const fitted = fitPage({ ...page, items: page.items.map(userOf) }, cursor, limit, maxOutputBytes - 512);
    return { users: fitted.items, ...pagingOf(fitted) };
  },
});

export const usersGet = defineTool({
  name: 'users_get',
  toolset: 'users',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'Get a user',
  description: 'One user by username: name, state (active/blocked), bot, admin flag when the token may see it.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ username: Username }),
  output: User,
  handler: async ({ username }, { gitlab, signal }) =>
    userOf(
      (await gitlab.call(`user "${username}"`, signal, async (api) =>
        api.Users.show(await userIdOf(api, username)),
      )) as unknown as Rec,
    ),
});

export const usersCreate = defineTool({
  name: 'users_create',
  toolset: 'users',
  tier: 'HIGH',
  scopes: ['mcp:gitlab:admin'],
  title: 'Create a user',
  description:
    'Create a GitLab user (admin token needed); GitLab emails a password-reset link, no password is handled here.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  input: z.object({
    username: Username,
    name: z.string().min(1).max(255).describe('Display name'),
    email: z.email().max(255).describe('Email address'),
  }),
  output: User,
  handler: async ({ username, name, email }, { gitlab, signal }) =>
    userOf(
      (await gitlab.call(`creating user "${username}"`, signal, (api) =>
        api.Users.create({ username, name, email, resetPassword: true } as never),
      )) as unknown as Rec,
    ),
});

export const usersSetAdmin = defineTool({
  name: 'users_set_admin',
  toolset: 'users',
  tier: 'HIGH',
  scopes: ['mcp:gitlab:admin'],
  title: 'Grant or remove admin',
  description: 'Grant (admin=true) or remove (admin=false) GitLab administrator rights for a user.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({ username: Username, admin: z.boolean().describe('true grants, false removes') }),
  output: User,
  plan: ({ username, admin }) =>
    `${admin ? 'grant' : 'remove'} GitLab administrator rights ${admin ? 'to' : 'from'} ${username}`,
  handler: async ({ username, admin }, { gitlab, signal }) =>
    userOf(
      (await gitlab.call(`admin rights of "${username}"`, signal, async (api) =>
        api.Users.edit(await userIdOf(api, username), { admin } as never),
      )) as unknown as Rec,
    ),
});

const stateTool = (block: boolean) =>
  defineTool({
    name: block ? 'users_block' : 'users_unblock',
    toolset: 'users',
    tier: 'HIGH',
    scopes: ['mcp:gitlab:admin'],
    title: block ? 'Block a user' : 'Unblock a user',
    description: block
      ? 'Stops a user signing in or using tokens; their content stays.'
      : 'Unblock a blocked user so they can sign in again.',
    annotations: { readOnlyHint: false, destructiveHint: block, idempotentHint: true, openWorldHint: false },
    input: z.object({ username: Username }),
    output: z.object({ username: z.string(), state: z.string() }),
    ...(block
      ? { plan: ({ username }: { username: string }) => `block ${username}: sign-in and every token stop working` }
      : {}),
    handler: async ({ username }, { gitlab, signal }) =>
      gitlab.call(`${block ? 'blocking' : 'unblocking'} "${username}"`, signal, async (api) => {
        const id = await userIdOf(api, username);
        await (block ? api.Users.block(id) : api.Users.unblock(id));
        return { username, state: block ? 'blocked' : 'active' };
      }),
  });

export const usersBlock = stateTool(true);
export const usersUnblock = stateTool(false);

export const userTools = [usersList, usersGet, usersCreate, usersSetAdmin, usersBlock, usersUnblock] as const;
