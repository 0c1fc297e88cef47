import { randomInt } from 'node:crypto';
import type { DescribeSecretCommandOutput, SecretListEntry } from '@aws-sdk/client-secrets-manager';
import { digestArgs, jsonBytes, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { asJsonObject, checkSecret, maskValue } from '../checks.js';
import { revealAllowed } from '../reveal.js';
import { defineTool } from './define.js';
import { Cursor, Issue, Page, SecretMeta, SecretName, Stages } from './shapes.js';

const iso = (d: Date | undefined) => (d ? d.toISOString() : undefined);
const clip = (s: string | undefined, n = 200) => (s === undefined ? undefined : s.length > n ? `${s.slice(0, n)}…` : s);

/** Metadata only: the SDK entry reduced to what an agent needs, with no field the service did not send. */
export function metaOf(e: SecretListEntry | DescribeSecretCommandOutput): SecretMeta {
  const out: SecretMeta = { name: e.Name ?? e.ARN ?? '?' };
  const description = clip(e.Description);
  if (description) out.description = description;
  if (e.Tags && e.Tags.length > 0)
    out.tags = Object.fromEntries(e.Tags.map((t) => [t.Key ?? '', clip(t.Value, 100) ?? '']));
  const dates = {
    created: iso(e.CreatedDate),
    changed: iso(e.LastChangedDate),
    accessed: iso(e.LastAccessedDate),
    rotated: iso(e.LastRotatedDate),
    deleted: iso(e.DeletedDate),
  };
  for (const [k, v] of Object.entries(dates)) if (v) (out as Record<string, unknown>)[k] = v;
  if (e.RotationEnabled !== undefined) out.rotationEnabled = e.RotationEnabled;
  return out;
}

interface ListCursor {
  /** The service's NextToken for the page this cursor starts in. */
  t?: string;
  /** Entries of that page already returned. */
  s: number;
}

function decodeListCursor(cursor: string | undefined): ListCursor {
  if (!cursor) return { s: 0 };
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as ListCursor;
    if (Number.isInteger(c.s) && c.s >= 0 && c.s < 100 && (c.t === undefined || typeof c.t === 'string')) return c;
  } catch {
    // fall through
  }
  throw new ToolError('ERR_INVALID_INPUT', 'cursor is not one this tool returned; list again without it');
}

const encodeListCursor = (c: ListCursor) => Buffer.from(JSON.stringify(c)).toString('base64url');

export const secretsList = defineTool({
  name: 'secrets_list',
  toolset: 'secrets',
  tier: 'LOW',
  scopes: ['mcp:secrets:read'],
  title: 'List secrets',
  description: 'Secret metadata (tags, dates, rotation), never values. Filter by name prefix or tag; paged.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    namePrefix: z.string().max(512).optional(),
    tagKey: z.string().max(128).optional(),
    tagValue: z.string().max(256).optional(),
    includeDeleted: z.boolean().default(false),
    limit: z.number().int().min(1).max(100).default(50),
    cursor: Cursor,
  }),
  output: z.object({ secrets: z.array(SecretMeta), ...Page }),
  handler: async (input, { sm, signal, maxOutputBytes }) => {
    const at = decodeListCursor(input.cursor);
    const page = await sm.list(
      {
        namePrefix: input.namePrefix,
        tagKey: input.tagKey,
        tagValue: input.tagValue,
        includeDeleted: input.includeDeleted,
        maxResults: Math.min(100, at.s + input.limit),
        nextToken: at.t,
      },
      signal,
    );
    const entries = page.SecretList ?? [];
    const secrets = entries.slice(at.s, at.s + input.limit).map(metaOf);
    // Bounded as a whole: drop from the end until the answer fits, and say where to continue.
    while (secrets.length > 1 && jsonBytes({ secrets }) > maxOutputBytes - 256) secrets.pop();
    const consumed = at.s + secrets.length;
    const next: ListCursor | undefined =
      consumed < entries.length
        ? { ...(at.t ? { t: at.t } : {}), s: consumed }
        : page.NextToken
          ? { t: page.NextToken, s: 0 }
          : undefined;
    return {
      secrets,
      truncated: next !== undefined,
      ...(next ? { nextCursor: encodeListCursor(next) } : {}),
    };
  },
});

export const secretsDescribe = defineTool({
  name: 'secrets_describe',
  toolset: 'secrets',
  tier: 'LOW',
  scopes: ['mcp:secrets:read'],
  title: 'Describe a secret',
  description: "One secret's metadata and its versions with their stages.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ name: SecretName }),
  output: SecretMeta.extend({ versions: Stages }),
  handler: async ({ name }, { sm, signal }) => {
    const d = await sm.describe(name, signal);
    return { ...metaOf(d), versions: d.VersionIdsToStages ?? {} };
  },
});

const Masked = {
  name: z.string(),
  versionId: z.string(),
  stages: z.array(z.string()),
  kind: z.enum(['string', 'json', 'binary']),
  length: z.number(),
  jsonKeys: z.array(z.string()).optional(),
  fingerprint: z.string(),
};

export const secretsGet = defineTool({
  name: 'secrets_get',
  toolset: 'secrets',
  tier: 'HIGH',
  scopes: ['mcp:secrets:read'],
  title: 'Get a secret (masked)',
  description:
    'Masked view: kind, length, JSON keys, fingerprint. reveal=true gives a revealToken; a 2nd call with it returns the value if policy allows.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    name: SecretName,
    versionId: z.string().min(32).max(64).optional(),
    versionStage: z.string().max(256).optional(),
    jsonKey: z.string().max(256).optional(),
    reveal: z.boolean().default(false),
    revealToken: z.string().max(200).optional().meta({ sensitive: true }),
  }),
  output: z.object({
    ...Masked,
    revealed: z.boolean(),
    value: z.string().optional(),
    revealToken: z.string().optional(),
  }),
  handler: async (input, ctx) => {
    const { sm, signal, principal } = ctx;
    if (input.revealToken !== undefined && !input.reveal) {
      throw new ToolError('ERR_INVALID_INPUT', 'revealToken goes with reveal=true');
    }
    if (input.reveal) revealAllowed(ctx.options, principal);
    const got = await sm.getValue(input.name, input, signal);
    const binary = got.SecretString === undefined && got.SecretBinary !== undefined;
    let value = binary ? Buffer.from(got.SecretBinary as Uint8Array).toString('base64') : (got.SecretString ?? '');
    if (input.jsonKey !== undefined) {
      const obj = binary ? undefined : asJsonObject(value);
      if (!obj) throw new ToolError('ERR_INVALID_INPUT', `secret "${input.name}" is not a JSON object; omit jsonKey`);
      if (!Object.hasOwn(obj, input.jsonKey)) {
        throw new ToolError(
          'ERR_NOT_FOUND',
          `secret "${input.name}" has no key "${input.jsonKey}"; its keys: ${Object.keys(obj).slice(0, 50).join(', ')}`,
        );
      }
      const picked = obj[input.jsonKey];
      value = typeof picked === 'string' ? picked : JSON.stringify(picked);
    }
    const base = {
      name: got.Name ?? input.name,
      versionId: got.VersionId ?? '',
      stages: got.VersionStages ?? [],
      ...maskValue(value, ctx.fingerprintKey, binary ? 'binary' : 'string'),
    };
    if (!input.reveal) return { ...base, revealed: false };
    const binding = {
      subject: principal.subject,
      tool: 'secrets_get',
      argsDigest: digestArgs({ name: input.name, versionId: got.VersionId, jsonKey: input.jsonKey ?? null }),
    };
    if (input.revealToken === undefined) {
      const { token, expiresAt } = await ctx.reveals.issue(binding, ctx.revealTtlSeconds);
      ctx.logger.info({ secret: base.name, versionId: base.versionId }, 'reveal requested; confirmation token issued');
      void expiresAt;
      return { ...base, revealed: false, revealToken: token };
    }
    if (!(await ctx.reveals.redeem(input.revealToken, binding))) {
      throw new ToolError(
        'ERR_CONFIRMATION_INVALID',
        'revealToken is unknown, expired, used, or for other arguments (or the version changed); call again without it',
      );
    }
    ctx.logger.warn(
      { secret: base.name, versionId: base.versionId, subject: principal.subject },
      'secret value revealed',
    );
    return { ...base, revealed: true, value };
  },
});

const Finding = z.object({ issue: Issue, key: z.string().optional(), detail: z.string().optional() });

export const secretsPut = defineTool({
  name: 'secrets_put',
  toolset: 'secrets',
  tier: 'HIGH',
  scopes: ['mcp:secrets:write'],
  title: 'Store a secret value',
  description:
    'Store a value as the new AWSCURRENT version, creating the secret per mode. Returns version id and findings.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.object({
    name: SecretName,
    value: z.string().min(1).max(65_536).meta({ sensitive: true }),
    description: z.string().max(2048).optional(),
    mode: z.enum(['upsert', 'create', 'update']).default('upsert'),
  }),
  output: z.object({
    name: z.string(),
    versionId: z.string(),
    created: z.boolean(),
    findings: z.array(Finding),
  }),
  plan: ({ name, mode }) =>
    `${mode} secret "${name}" with the given value as its new AWSCURRENT version (the old one becomes AWSPREVIOUS)`,
  handler: async ({ name, value, description, mode }, { sm, signal, strength }) => {
    const findings = checkSecret(value, strength);
    const create = async () => {
      const out = await sm.create(name, value, { description }, signal);
      return { name: out.Name ?? name, versionId: out.VersionId ?? '', created: true, findings };
    };
    if (mode === 'create') return create();
    try {
      const out = await sm.putValue(name, value, undefined, signal);
      if (description !== undefined) await sm.updateDescription(name, description, signal);
      return { name: out.Name ?? name, versionId: out.VersionId ?? '', created: false, findings };
    } catch (err) {
      if (mode === 'upsert' && err instanceof ToolError && err.details.awsError === 'ResourceNotFoundException')
        return create();
      throw err;
    }
  },
});

const CLASSES = {
  lower: 'abcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digits: '0123456789',
  symbols: '!#$%&()*+,-./:;<=>?@[]^_{|}~',
} as const;
type ClassName = keyof typeof CLASSES;
const ALL_CLASSES: ClassName[] = ['lower', 'upper', 'digits', 'symbols'];

/** A random value from node's CSPRNG with at least one character of every included class. */
export function generateValue(length: number, classes: ClassName[], exclude: string): string {
  const sets = classes.map((c) => [...CLASSES[c]].filter((ch) => !exclude.includes(ch)).join('')).filter((s) => s);
  if (sets.length === 0)
    throw new ToolError('ERR_INVALID_INPUT', 'no characters left after exclusions; include a class');
  if (length < sets.length) throw new ToolError('ERR_INVALID_INPUT', `length must be at least ${sets.length}`);
  const pool = sets.join('');
  const chars = Array.from({ length }, () => pool[randomInt(pool.length)] as string);
  sets.forEach((set, i) => {
    chars[i] = set[randomInt(set.length)] as string;
  });
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
  }
  return chars.join('');
}

export const secretsRotate = defineTool({
  name: 'secrets_rotate',
  toolset: 'secrets',
  tier: 'HIGH',
  scopes: ['mcp:secrets:write'],
  title: 'Rotate a secret',
  description:
    'New random value (length, classes, exclude) staged AWSPENDING, then made AWSCURRENT. Returns version ids only.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.object({
    name: SecretName,
    length: z.number().int().min(12).max(4096).default(32),
    classes: z
      .array(z.enum(['lower', 'upper', 'digits', 'symbols']))
      .min(1)
      .optional(),
    exclude: z.string().max(100).default(''),
    jsonKey: z.string().max(256).optional(),
    generator: z.enum(['local', 'service']).default('local'),
  }),
  output: z.object({
    name: z.string(),
    versionId: z.string(),
    previousVersionId: z.string(),
    versions: Stages,
    policy: z.string(),
  }),
  plan: ({ name, length, classes, jsonKey }) =>
    `Rotate secret "${name}"${jsonKey ? ` (key ${jsonKey})` : ''}: a new ${length}-char value (${(classes ?? ALL_CLASSES).join(', ')}) staged AWSPENDING, then AWSCURRENT moves to it and the old version becomes AWSPREVIOUS`,
  handler: async (input, { sm, signal }) => {
    const { name } = input;
    const before = await sm.describe(name, signal);
    const current = Object.entries(before.VersionIdsToStages ?? {}).find(([, s]) => s.includes('AWSCURRENT'))?.[0];
    if (!current)
      throw new ToolError(
        'ERR_CONFLICT',
        `secret "${name}" has no AWSCURRENT version; store one with secrets_put first`,
      );
    const classes = [...new Set(input.classes ?? ALL_CLASSES)];
    const fresh =
      input.generator === 'service'
        ? await sm.randomPassword(
            {
              length: input.length,
              lower: classes.includes('lower'),
              upper: classes.includes('upper'),
              digits: classes.includes('digits'),
              symbols: classes.includes('symbols'),
              exclude: input.exclude,
            },
            signal,
          )
        : generateValue(input.length, classes, input.exclude);
    let next = fresh;
    if (input.jsonKey !== undefined) {
      const got = await sm.getValue(name, { versionId: current }, signal);
      const obj = asJsonObject(got.SecretString ?? '');
      if (!obj || !Object.hasOwn(obj, input.jsonKey)) {
        throw new ToolError('ERR_INVALID_INPUT', `secret "${name}" is not a JSON object with key "${input.jsonKey}"`);
      }
      next = JSON.stringify({ ...obj, [input.jsonKey]: fresh });
    }
    const pending = await sm.putValue(name, next, ['AWSPENDING'], signal);
    const versionId = pending.VersionId ?? '';
    try {
      await sm.moveStage(name, 'AWSCURRENT', current, versionId, signal);
    } catch (err) {
      const e = err as ToolError;
      throw new ToolError(
        e.code,
        `${e.message}. Version ${versionId} is staged AWSPENDING; AWSCURRENT is unchanged`,
        e.details,
      );
    }
    await sm.moveStage(name, 'AWSPENDING', versionId, undefined, signal);
    const after = await sm.describe(name, signal);
    return {
      name: after.Name ?? name,
      versionId,
      previousVersionId: current,
      versions: after.VersionIdsToStages ?? {},
      policy: `${input.length} chars: ${classes.join(', ')}; ${new Set(input.exclude).size} excluded; ${input.generator}`,
    };
  },
});

export const secretsDelete = defineTool({
  name: 'secrets_delete',
  toolset: 'secrets',
  tier: 'HIGH',
  scopes: ['mcp:secrets:admin'],
  title: 'Delete a secret',
  description:
    'Schedule deletion after a 7-30 day recovery window (undo: secrets_restore); force only if policy allows.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.object({
    name: SecretName,
    recoveryWindowDays: z.number().int().min(7).max(30).default(30),
    force: z.boolean().default(false),
  }),
  output: z.object({ name: z.string(), deletionDate: z.string(), recoverable: z.boolean() }),
  plan: ({ name, recoveryWindowDays, force }) =>
    force
      ? `Delete secret "${name}" at once, without recovery`
      : `Schedule secret "${name}" for deletion in ${recoveryWindowDays} days; reads fail from now on; secrets_restore undoes it until then`,
  handler: async ({ name, recoveryWindowDays, force }, { sm, signal, options }) => {
    if (force && options.allowForceDelete !== true) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        'force deletion is off; use a recovery window, or set servers.secrets.tools.secrets_delete.options.allowForceDelete',
      );
    }
    const out = await sm.delete(name, force ? { force: true } : { recoveryWindowDays }, signal);
    return { name: out.Name ?? name, deletionDate: iso(out.DeletionDate) ?? '', recoverable: !force };
  },
});

export const secretsRestore = defineTool({
  name: 'secrets_restore',
  toolset: 'secrets',
  tier: 'HIGH',
  scopes: ['mcp:secrets:write'],
  title: 'Restore a deleted secret',
  description: 'Cancel the scheduled deletion of a secret; it becomes readable again.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ name: SecretName }),
  output: z.object({ name: z.string(), restored: z.boolean() }),
  handler: async ({ name }, { sm, signal }) => {
    await sm.restore(name, signal);
    return { name, restored: true };
  },
});

export const secretTools = [
  secretsList,
  secretsDescribe,
  secretsGet,
  secretsPut,
  secretsRotate,
  secretsDelete,
  secretsRestore,
] as const;
