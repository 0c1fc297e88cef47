import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { type Api, fitPage, type GitLabBackend } from '../backend.js';
import { defineTool } from './define.js';
import { Cursor, GroupPath, Limit, Paging, ProjectPath, pagingOf, type Rec, str, strOrNull } from './shapes.js';

/** A variable as this server shows it: every attribute but the value, which is never returned. */
const Variable = z.object({
  key: z.string(),
  type: z.string(),
  environmentScope: z.string(),
  protected: z.boolean(),
  masked: z.boolean(),
  hidden: z.boolean(),
  raw: z.boolean(),
  description: z.string().nullable(),
});

const variableOf = (v: Rec) => ({
  key: str(v.key),
  type: str(v.variable_type),
  environmentScope: str(v.environment_scope || '*'),
  protected: v.protected === true,
  masked: v.masked === true,
  hidden: v.hidden === true,
  raw: v.raw === true,
  description: strOrNull(v.description),
});

const Target = {
  project: ProjectPath.optional().describe('group/project (or give group)'),
  group: GroupPath.optional().describe('group path (or give project)'),
};

const Key = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9_]+$/, 'only A-Z, a-z, 0-9 and _')
  .describe('Variable key');
const Scope = z.string().min(1).max(255).describe('Environment scope, e.g. "*" or "production"');

type Kind = { kind: 'project' | 'group'; path: string };

/**
 * A write reaches every pipeline below a group (its subgroups' projects inherit the variable), so a
 * group write needs the whole subtree allowed; reading the group's own variables needs the group only.
 */
function target(gitlab: GitLabBackend, project?: string, group?: string, write = false): Kind {
  if ((project === undefined) === (group === undefined))
    throw new ToolError('ERR_INVALID_INPUT', 'give exactly one of project or group');
  if (project !== undefined) return { kind: 'project', path: gitlab.project(project) };
  const path = write ? gitlab.allowlist.checkSubtree(group as string) : gitlab.group(group as string);
  return { kind: 'group', path };
}

const resource = (api: Api, t: Kind) => (t.kind === 'project' ? api.ProjectVariables : api.GroupVariables);
const label = (t: Kind) => `the CI/CD variables of ${t.kind} "${t.path}"`;

export const variablesList = defineTool({
  name: 'variables_list',
  toolset: 'variables',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: 'List CI/CD variables',
  description: "A project's or group's CI/CD variables: key, scope, protected/masked/hidden flags; never values.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ ...Target, limit: Limit, cursor: Cursor }),
  output: z.object({ variables: z.array(Variable), ...Paging }),
  handler: async ({ project, group, limit, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const t = target(gitlab, project, group);
    const page = await gitlab.page<Rec>(label(t), signal, cursor, limit, (api, req) =>
      resource(api, t).all(t.path, req as never),
    );
    // the value is dropped here, before anything else sees the record
    const fitted = fitPage({ ...page, items: page.items.map(variableOf) }, cursor, limit, maxOutputBytes - 512);
    return { variables: fitted.items, ...pagingOf(fitted) };
  },
});

export const variablesSet = defineTool({
  name: 'variables_set',
  toolset: 'variables',
  tier: 'HIGH',
  scopes: ['mcp:gitlab:admin'],
  title: 'Create or update a CI/CD variable',
  description:
    'Creates or replaces a project or group CI/CD variable and its flags; the value is never echoed or logged.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({
    ...Target,
    key: Key,
    value: z.string().min(1).max(10_000).meta({ sensitive: true }).describe('The new value (secret: never echoed)'),
    environmentScope: Scope.default('*'),
    masked: z.boolean().default(true).describe('Mask the value in job logs (needs 8+ chars, no spaces)'),
    protected: z.boolean().default(false).describe('Only for protected branches and tags'),
    raw: z.boolean().default(false).describe('Do not expand $VARS in the value'),
    description: z.string().max(255).optional().describe('What the variable is for'),
  }),
  output: Variable.extend({ created: z.boolean() }),
  plan: ({ project, group, key, environmentScope }) =>
    `set CI/CD variable ${key} (scope ${environmentScope}) of ${project ? `project ${project}` : `group ${group}`} to a new value (the old value, if any, is replaced)`,
  handler: async (input, { gitlab, signal }) => {
    const t = target(gitlab, input.project, input.group, true);
    const attrs = {
      environmentScope: input.environmentScope,
      masked: input.masked,
      protected: input.protected,
      raw: input.raw,
      ...(input.description !== undefined ? { description: input.description } : {}),
    };
    return gitlab.call(
      `variable ${input.key} of ${t.kind} "${t.path}"`,
      signal,
      async (api) => {
        const res = resource(api, t);
        let created = false;
        let v: Rec;
        try {
          v = (await res.edit(t.path, input.key, input.value, {
            ...attrs,
            filter: { environment_scope: input.environmentScope },
          } as never)) as unknown as Rec;
        } catch (err) {
          if ((err as { status?: number }).status !== 404) throw err;
          v = (await res.create(t.path, input.key, input.value, attrs as never)) as unknown as Rec;
          created = true;
        }
        return { ...variableOf(v), created };
      },
      [input.value],
    );
  },
});

export const variablesDelete = defineTool({
  name: 'variables_delete',
  toolset: 'variables',
  tier: 'HIGH',
  scopes: ['mcp:gitlab:admin'],
  title: 'Delete a CI/CD variable',
  description: 'Delete one CI/CD variable of a project or group by key and environment scope.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  input: z.object({ ...Target, key: Key, environmentScope: Scope.default('*') }),
  output: z.object({ deleted: z.boolean(), key: z.string(), environmentScope: z.string() }),
  plan: ({ project, group, key, environmentScope }) =>
    `delete CI/CD variable ${key} (scope ${environmentScope}) of ${project ? `project ${project}` : `group ${group}`}; pipelines that use it will no longer get it`,
  handler: async ({ project, group, key, environmentScope }, { gitlab, signal }) => {
    const t = target(gitlab, project, group, true);
    await gitlab.call(`variable ${key} (scope ${environmentScope}) of ${t.kind} "${t.path}"`, signal, (api) =>
      resource(api, t).remove(t.path, key, { filter: { environment_scope: environmentScope } } as never),
    );
    return { deleted: true, key, environmentScope };
  },
});

export const variableTools = [variablesList, variablesSet, variablesDelete] as const;
