import { randomInt } from 'node:crypto';
import type { DescribeSecretCommandOutput } from '@aws-sdk/client-secrets-manager';
import { digestArgs, jsonBytes, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { isAwsError, refuseIfBinary, type SecretsBackend } from '../backend.js';
import { asJsonObject, checkSecret, maskValue } from '../checks.js';
import { hasInexactNumber, inexactKeys, memberSource } from '../json-source.js';
import { revealAllowed } from '../reveal.js';
import { defineTool } from './define.js';
import { replicationNote, replicationPlanNote } from './replication.js';
import { refuseReplica, refuseRotation } from './rotation.js';
import { Issue, SecretName, Stages } from './shapes.js';

// The tools that touch values: masked reads with the reveal round-trip, writes, rotation.

/**
 * JSON text of a value from a secret. JSON.parse takes nesting as deep as a 64 KiB secret allows (about
 * 10,000 levels); JSON.stringify of it overflows the stack: refused with what is wrong, not "internal error".
 */
export function jsonText(value: unknown, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `${what} is nested too deeply for this server to handle; store it with fewer levels (secrets_put)`,
    );
  }
}

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
    'Masked view (kind, length, JSON keys, fingerprint); reveal=true, then revealToken, returns the value if allowed.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    name: SecretName,
    versionId: z.string().min(32).max(64).optional().describe('Default: the AWSCURRENT version'),
    versionStage: z.string().max(256).optional().describe('e.g. AWSPREVIOUS'),
    jsonKey: z.string().max(256).optional().describe('One key of a JSON secret'),
    reveal: z.boolean().default(false),
    revealToken: z.string().max(200).optional().meta({ sensitive: true, description: 'From a reveal=true call' }),
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
      if (typeof picked === 'string') value = picked;
      else {
        const shown = jsonText(picked, `key "${input.jsonKey}" of secret "${input.name}"`);
        // digits JSON.parse cannot hold (a 20-digit id, 1e400) are shown as stored, not as read
        const source = memberSource(value, input.jsonKey);
        value = source !== undefined && hasInexactNumber(source) ? source : shown;
      }
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
      const { token } = await ctx.reveals.issue(binding, ctx.revealTtlSeconds);
      ctx.logger.info({ secret: base.name, versionId: base.versionId }, 'reveal requested; confirmation token issued');
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
    'Stores a value as the new AWSCURRENT version, creating the secret per mode; returns version id and findings.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  input: z.object({
    name: SecretName,
    value: z.string().min(1).max(65_536).meta({ sensitive: true, description: 'Never echoed or logged' }),
    description: z.string().max(2048).optional().describe('What the secret is for'),
    mode: z.enum(['upsert', 'create', 'update']).default('upsert'),
  }),
  output: z.object({
    name: z.string(),
    versionId: z.string(),
    created: z.boolean(),
    unchanged: z.boolean().optional(),
    findings: z.array(Finding),
    replication: z.string().optional(),
  }),
  plan: async ({ name, mode, description }, { sm, signal }) => {
    const target = await putTarget(sm, name, mode, description !== undefined, signal);
    return { text: target.text, bound: target };
  },
  handler: async ({ name, value, description, mode }, { sm, signal, strength, planned, maxOutputBytes }) => {
    const findings = fitFindings(checkSecret(value, strength), maxOutputBytes);
    // the plan checked the secret just now; with no confirm policy no plan ran: the same refusals, first
    const { replication } = planned ?? (await putTarget(sm, name, mode, description !== undefined, signal));
    const stored = await sm.store(name, value, mode, description, signal);
    // a new secret got its description when it was made; an existing one gets it now
    if (!stored.created && description !== undefined) await sm.updateDescription(name, description, signal);
    // where the value goes beyond this secret, whatever the confirm policy (a plan is not always shown)
    return { ...stored, findings, ...(replication && !stored.unchanged ? { replication } : {}) };
  },
});

/**
 * Findings cut to what the answer can carry, the last entry counting those left out. A JSON value of 64 KiB holds
 * thousands of fields; listed whole, their findings would exceed the output budget, and the answer of a value
 * already stored would be an error.
 */
function fitFindings<F extends { issue: string; key?: string; detail?: string }>(findings: F[], budget: number): F[] {
  // room for the rest of the answer (a name of up to 512 characters, the version id) and the count entry
  let size = 1024;
  if (jsonBytes(findings) + size <= budget) return findings;
  const kept: F[] = [];
  for (const f of findings) {
    size += jsonBytes(f) + 1;
    if (size > budget) break;
    kept.push(f);
  }
  const first = findings[kept.length] as F;
  return [
    ...kept,
    { issue: first.issue, detail: `+${findings.length - kept.length} more findings not listed (answer size cap)` } as F,
  ];
}

/** The secret as DescribeSecret finds it; undefined when there is none by that name or ARN. */
async function found(sm: SecretsBackend, name: string, signal: AbortSignal) {
  try {
    return await sm.describe(name, signal);
  } catch (err) {
    if (isAwsError(err, 'ResourceNotFoundException')) return undefined;
    throw err;
  }
}

/** Refuses a write to a secret scheduled for deletion: the service would refuse it (InvalidRequestException). */
function refuseDeleted(name: string, d: DescribeSecretCommandOutput): void {
  if (!d.DeletedDate) return;
  throw new ToolError(
    'ERR_CONFLICT',
    `secret "${name}" is scheduled for deletion (since ${d.DeletedDate.toISOString()}): secrets_restore cancels that, then call again. Nothing was changed`,
  );
}

/**
 * Refuses a string stored over a binary secret: the AWSCURRENT version holds SecretBinary (a keystore, a
 * certificate), secrets_put writes SecretString, and what reads the secret would find its type changed (a
 * GetSecretValue answer carries one field or the other; API reference, GetSecretValue). Only the type is read;
 * a value that cannot be read (no permission, KMS) is left to the service and to store()'s own check.
 */
async function refuseBinary(sm: SecretsBackend, name: string, versionId: string, signal: AbortSignal): Promise<void> {
  const got = await sm.getValue(name, { versionId }, signal).catch((err: unknown) => {
    if (signal.aborted) throw err;
    return undefined;
  });
  refuseIfBinary(name, got);
}

const currentOf = (d: DescribeSecretCommandOutput) =>
  Object.entries(d.VersionIdsToStages ?? {}).find(([, s]) => s.includes('AWSCURRENT'))?.[0];

/**
 * What secrets_put will do to the secret as it is now, or the refusal it would meet: the plan shows it before a
 * confirmation is asked for (so a call that cannot run is refused first, and the confirmation binds the version
 * it would replace), and the handler checks again (without a confirm policy no plan runs). Of the current value
 * only its type is read (binary is refused), never compared: a plan saying "already holds this value" would
 * answer a guess for free. files_migrate stores through the same checks.
 */
export async function putTarget(
  sm: SecretsBackend,
  name: string,
  mode: 'upsert' | 'create' | 'update',
  describes: boolean,
  signal: AbortSignal,
): Promise<{ text: string; replication?: string }> {
  if (mode === 'create' && name.startsWith('arn:')) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `"${name}" is an ARN; a new secret is created by name (letters, digits and /_+=.@-) and Secrets Manager gives it its ARN: give the name`,
    );
  }
  const d = await found(sm, name, signal);
  if (!d) {
    if (mode === 'update') {
      throw new ToolError(
        'ERR_NOT_FOUND',
        `no secret "${name}" (check the name with secrets_list); mode "upsert" or "create" makes one. Nothing was changed`,
      );
    }
    if (name.startsWith('arn:')) {
      throw new ToolError(
        'ERR_NOT_FOUND',
        `no secret has the ARN "${name}" (check it with secrets_list); ${mode} creates a secret only by name: give the name to create one`,
      );
    }
    // API reference, CreateSecret Name: 1-512 characters, ASCII letters, digits and /_+=.@- ; the service would
    // refuse any other name after the confirmation
    if (!/^[A-Za-z0-9/_+=.@-]{1,512}$/.test(name)) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `no secret "${name}" exists, and it cannot be created by that name: a secret name is 1-512 ASCII letters, digits and /_+=.@- (check the name with secrets_list). Nothing was changed`,
      );
    }
    // API reference, CreateSecret Name: "Do not end your secret name with a hyphen followed by six characters":
    // the service takes an ARN ending that way for a complete one, so a partial ARN never finds the secret.
    const suffixLike = /-[A-Za-z0-9]{6}$/.test(name)
      ? `; note: the name ends in "-" and six characters, which AWS advises against: a partial ARN (without the random suffix) will not find it, so refer to it by name or complete ARN`
      : '';
    return { text: `Create secret "${name}" with the given value as its AWSCURRENT version${suffixLike}` };
  }
  const shown = d.Name ?? name;
  refuseDeleted(shown, d);
  refuseReplica(shown, d, 'put');
  if (mode === 'create') {
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${shown}" already exists; mode "update" (or "upsert") stores a new value in it. Nothing was changed`,
    );
  }
  refuseRotation(shown, d, 'put');
  const current = currentOf(d);
  if (current) await refuseBinary(sm, shown, current, signal);
  const replication = replicationNote(d);
  return {
    text: `Store the given value in secret "${shown}" as its new AWSCURRENT version; ${current ? `version ${current} (AWSCURRENT now) becomes AWSPREVIOUS, unless it already holds this value` : 'it has no AWSCURRENT version yet'}${describes ? '; its description is replaced' : ''}${replicationPlanNote(d)}`,
    ...(replication ? { replication } : {}),
  };
}

const CLASSES = {
  lower: 'abcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  digits: '0123456789',
  symbols: '!#$%&()*+,-./:;<=>?@[]^_{|}~',
} as const;
type ClassName = keyof typeof CLASSES;
const ALL_CLASSES: ClassName[] = ['lower', 'upper', 'digits', 'symbols'];

/** Classes as GetRandomPassword defines them: its punctuation is every printable ASCII symbol. */
const SERVICE_CLASSES: Record<ClassName, string> = { ...CLASSES, symbols: '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~' };

/**
 * The characters of each class the exclusions leave. A class they empty is refused, not dropped: the answer
 * would name a policy the value breaks (and GetRandomPassword is never asked for one).
 */
function classSets(table: Record<ClassName, string>, classes: ClassName[], exclude: string): string[] {
  const sets = classes.map((c) => [...table[c]].filter((ch) => !exclude.includes(ch)).join(''));
  const emptied = classes.filter((_, i) => sets[i] === '');
  if (emptied.length > 0) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `no characters left in ${emptied.join(', ')} after exclusions; remove it from classes or exclude fewer characters`,
    );
  }
  return sets;
}

/** A random value from node's CSPRNG with at least one character of every included class. */
export function generateValue(length: number, classes: ClassName[], exclude: string): string {
  if (classes.length === 0) throw new ToolError('ERR_INVALID_INPUT', 'no character class given; include a class');
  const sets = classSets(CLASSES, classes, exclude);
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

/** Whether a service-generated value has the length, only the classes (each at least once) and no excluded character asked for. */
function followsRequest(value: string, length: number, classes: ClassName[], exclude: string): boolean {
  const chars = [...value];
  return (
    chars.length === length &&
    classes.every((c) => chars.some((ch) => SERVICE_CLASSES[c].includes(ch))) &&
    chars.every((ch) => !exclude.includes(ch) && classes.some((c) => SERVICE_CLASSES[c].includes(ch)))
  );
}

/**
 * The version secrets_rotate will replace and the JSON object it holds (when it is one), or the refusal the call
 * would meet: run by the plan, so a call that cannot run is refused before a confirmation is asked for, and by
 * the handler (without a confirm policy no plan runs). Reading the value says nothing a masked secrets_get
 * would not (its kind and JSON keys), and a caller who may write may read.
 */
async function rotateTarget(
  sm: SecretsBackend,
  input: { name: string; jsonKey?: string | undefined },
  signal: AbortSignal,
): Promise<{
  name: string;
  current: string;
  obj: Record<string, unknown> | undefined;
  replicas: string;
  replication: string | undefined;
}> {
  const { name } = input;
  const before = await sm.describe(name, signal);
  refuseDeleted(name, before);
  refuseReplica(name, before, 'rotate');
  refuseRotation(name, before);
  const current = currentOf(before);
  if (!current)
    throw new ToolError('ERR_CONFLICT', `secret "${name}" has no AWSCURRENT version; store one with secrets_put first`);
  // Read the current value first: a JSON secret is rotated one key at a time, never replaced whole.
  const got = await sm.getValue(name, { versionId: current }, signal);
  if (got.SecretString === undefined) {
    throw new ToolError('ERR_CONFLICT', `secret "${name}" holds a binary value; a random string would not replace it`);
  }
  const obj = asJsonObject(got.SecretString);
  if (input.jsonKey === undefined && obj) {
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${name}" is a JSON object (keys: ${Object.keys(obj).slice(0, 20).join(', ')}); give jsonKey to rotate one key`,
    );
  }
  if (input.jsonKey !== undefined && !obj) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `secret "${name}" is not a JSON object; omit jsonKey to rotate its whole value`,
    );
  }
  if (input.jsonKey !== undefined && obj && !Object.hasOwn(obj, input.jsonKey)) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      `secret "${name}" has no key "${input.jsonKey}"; its keys: ${Object.keys(obj).slice(0, 20).join(', ')}`,
    );
  }
  if (input.jsonKey !== undefined) refuseInexact(before.Name ?? name, got.SecretString, input.jsonKey, 'rotating');
  return {
    name: before.Name ?? name,
    current,
    obj,
    replicas: replicationPlanNote(before),
    replication: replicationNote(before),
  };
}

/**
 * Refuses to rewrite one key of a JSON secret whose other keys hold numbers JSON.parse cannot hold exactly (more
 * digits than a double keeps, or out of its range): the object is written back whole, and they would be stored
 * changed (12345678901234567890 as 12345678901234567000, 1e400 as null). Only the keys are named, never a number.
 */
export function refuseInexact(name: string, text: string, jsonKey: string, doing: string): void {
  const keys = inexactKeys(text, jsonKey);
  if (keys.length === 0) return;
  throw new ToolError(
    'ERR_CONFLICT',
    `secret "${name}" holds numbers this server cannot write back exactly (more digits than a double keeps, or out of its range) under ${keys
      .slice(0, 20)
      .map((k) => `"${k}"`)
      .join(
        ', ',
      )}${keys.length > 20 ? ` and ${keys.length - 20} more keys` : ''}: ${doing} key "${jsonKey}" would store them changed. Store those numbers as strings (secrets_put of the whole object), or change the key with the AWS CLI. Nothing was changed`,
  );
}

/**
 * After a refused move of AWSCURRENT: when another writer moved it since the rotation read it (a secrets_put, an
 * operator), the move names a version that no longer holds the label (UpdateSecretVersionStage refuses a
 * RemoveFromVersionId without it). That is a conflict, not a wrong argument: the new version's AWSPENDING is taken
 * off (left on, every later put and rotation would read it as a rotation in progress), and the error says so.
 * Returns when AWSCURRENT did not move: the caller reports its own error.
 */
async function raced(
  sm: SecretsBackend,
  name: string,
  current: string,
  versionId: string,
  signal: AbortSignal,
): Promise<void> {
  const now = await sm.describe(name, signal).catch(() => undefined);
  const holder = now ? currentOf(now) : undefined;
  // on the new version itself: the move went through and only its answer was lost; not a race
  if (!holder || holder === current || holder === versionId) return;
  const cleared = await sm.moveStage(name, 'AWSPENDING', versionId, undefined, signal).then(
    () => true,
    () => false,
  );
  throw new ToolError(
    'ERR_CONFLICT',
    `secret "${name}" changed while it was rotated: AWSCURRENT moved from version ${current} to ${holder} (another writer), so the new value was not made current and the value now current stands; ${cleared ? `its AWSPENDING label was removed (version ${versionId} is unused)` : `version ${versionId} may still hold AWSPENDING: secrets_describe shows it`}. Call again to rotate the value now current`,
  );
}

/**
 * Takes AWSPENDING off the version just made current, and reads the secret as it is then. The rotation is done once
 * AWSCURRENT moved: a failed removal (another rotation staged its own AWSPENDING since, which UpdateSecretVersionStage
 * refuses to remove from ours) leaves a secret whose new value is current, answered as such; only a value no longer
 * current is an error, naming the version that holds AWSCURRENT now.
 */
async function finishRotation(sm: SecretsBackend, name: string, versionId: string, signal: AbortSignal) {
  const removed = await sm.moveStage(name, 'AWSPENDING', versionId, undefined, signal).then(
    () => undefined,
    (err: unknown) => {
      if (signal.aborted) throw err;
      return err as ToolError;
    },
  );
  const after = await sm.describe(name, signal);
  const holder = currentOf(after);
  if (holder !== versionId) {
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${name}" was rotated (version ${versionId} was made AWSCURRENT), but another writer replaced it since: AWSCURRENT is now version ${holder ?? '(none)'}, which stands; secrets_describe shows the versions. Call again to rotate the value now current`,
      removed?.details ?? {},
    );
  }
  return after;
}

export const secretsRotate = defineTool({
  name: 'secrets_rotate',
  toolset: 'secrets',
  tier: 'HIGH',
  scopes: ['mcp:secrets:write'],
  title: 'Rotate a secret',
  description: 'New random value staged AWSPENDING, then made AWSCURRENT; returns version ids only.',
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  // Long-running: clients with MCP Tasks may run it as a task; others get the plain call.
  task: 'optional',
  input: z.object({
    name: SecretName,
    length: z.number().int().min(12).max(4096).default(32),
    classes: z
      .array(z.enum(['lower', 'upper', 'digits', 'symbols']))
      .min(1)
      .optional(),
    exclude: z.string().max(100).default('').describe('Characters never to use'),
    jsonKey: z.string().max(256).optional().describe('Rotate one key of a JSON secret'),
    generator: z.enum(['local', 'service']).default('local'),
  }),
  output: z.object({
    name: z.string(),
    versionId: z.string(),
    previousVersionId: z.string(),
    versions: Stages,
    policy: z.string(),
    replication: z.string().optional(),
  }),
  plan: async (input, { sm, signal }) => {
    // arguments no generator can follow are refused before the secret is read
    classSets(
      input.generator === 'service' ? SERVICE_CLASSES : CLASSES,
      [...new Set(input.classes ?? ALL_CLASSES)],
      input.exclude,
    );
    const target = await rotateTarget(sm, input, signal);
    const { name, current } = target;
    return {
      bound: target,
      text: `Rotate secret "${name}"${input.jsonKey ? ` (key ${input.jsonKey})` : ''}: a new ${input.length}-char value (${(input.classes ?? ALL_CLASSES).join(', ')}) staged AWSPENDING, then AWSCURRENT moves to it from version ${current}, which becomes AWSPREVIOUS${target.replicas}`,
    };
  },
  handler: async (input, { sm, signal, planned }) => {
    const { name } = input;
    // the plan's reading, checked just now; with no confirm policy no plan ran: the same refusals, first
    const { current, obj, replication } = planned ?? (await rotateTarget(sm, input, signal));
    const classes = [...new Set(input.classes ?? ALL_CLASSES)];
    if (input.generator === 'service') classSets(SERVICE_CLASSES, classes, input.exclude);
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
    if (input.generator === 'service' && !followsRequest(fresh, input.length, classes, input.exclude)) {
      // never quoted: it may be close to a real value
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `GetRandomPassword returned a value that does not follow the request (${input.length} chars of ${classes.join(', ')}, none of the excluded); nothing was stored. Check that the endpoint is Secrets Manager, or use generator "local"`,
      );
    }
    const next = input.jsonKey !== undefined ? jsonText({ ...obj, [input.jsonKey]: fresh }, `secret "${name}"`) : fresh;
    const pending = await sm.putValue(name, next, ['AWSPENDING'], signal);
    const versionId = pending.VersionId;
    if (!versionId) {
      // Moving AWSCURRENT with no target would only take it off the current version: every reader would fail.
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `PutSecretValue returned no VersionId for secret "${name}", so the new value cannot be made current; AWSCURRENT is unchanged. Check that the endpoint is Secrets Manager; an AWSPENDING version may be left (secrets_describe)`,
      );
    }
    try {
      await sm.moveStage(name, 'AWSCURRENT', current, versionId, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      await raced(sm, name, current, versionId, signal);
      const e = err as ToolError;
      throw new ToolError(
        e.code,
        `${e.message}. Version ${versionId} is staged AWSPENDING; AWSCURRENT is unchanged`,
        e.details,
      );
    }
    const after = await finishRotation(sm, name, versionId, signal);
    return {
      name: after.Name ?? name,
      versionId,
      previousVersionId: current,
      versions: after.VersionIdsToStages ?? {},
      policy: `${input.length} chars: ${classes.join(', ')}; ${new Set(input.exclude).size} excluded; ${input.generator}`,
      // where the new value goes beyond this secret, whatever the confirm policy (a plan is not always shown)
      ...(replication ? { replication } : {}),
    };
  },
});
