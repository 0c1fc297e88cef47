import type { DescribeSecretCommandOutput, SecretListEntry } from '@aws-sdk/client-secrets-manager';
import { clipChars, jsonBytes, putOwn, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { isAwsError, RESTORE_NOT_FOUND, type SecretsBackend } from '../backend.js';
import { defineTool } from './define.js';
import { Replication, refuseBadRegion, replicaOf, replicationOf } from './replication.js';
import { quoteArg, refuseReplica, rotationOf } from './rotation.js';
import { Cursor, decodeListCursor, nextListCursor, Page, SecretMeta, SecretName, Stages } from './shapes.js';
import { secretsGet, secretsPut, secretsRotate } from './values.js';

const iso = (d: Date | undefined) => (d ? d.toISOString() : undefined);
const clip = (s: string | undefined, n = 200) => (s === undefined ? undefined : clipChars(s, n));

/** Metadata only: the SDK entry reduced to what an agent needs, with no field the service did not send. */
export function metaOf(e: SecretListEntry | DescribeSecretCommandOutput): SecretMeta {
  const out: SecretMeta = { name: e.Name ?? e.ARN ?? '?' };
  const description = clip(e.Description);
  if (description) out.description = description;
  if (e.Tags && e.Tags.length > 0) {
    const tags: Record<string, string> = {};
    for (const t of e.Tags) putOwn(tags, t.Key ?? '', clip(t.Value, 100) ?? '');
    out.tags = tags;
  }
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

/** Whether an entry has a tag with exactly this key and this value (either unset: any). */
function hasTag(e: SecretListEntry, key: string | undefined, value: string | undefined): boolean {
  if (!key && !value) return true;
  return (e.Tags ?? []).some((t) => (!key || t.Key === key) && (!value || t.Value === value));
}

export const secretsList = defineTool({
  name: 'secrets_list',
  toolset: 'secrets',
  tier: 'LOW',
  scopes: ['mcp:secrets:read'],
  title: 'List secrets',
  description: 'Secret metadata (tags, dates, rotation), never values; filter by name prefix or tag; paged.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    namePrefix: z.string().max(512).optional().describe('Only names starting with it'),
    tagKey: z.string().max(128).optional().describe('Only secrets with this tag'),
    tagValue: z.string().max(256).optional().describe('With tagKey: only this value'),
    includeDeleted: z.boolean().default(false),
    limit: z.number().int().min(1).max(100).default(50),
    cursor: Cursor,
  }),
  // replicaOf: the primary's Region, for a replica (ListSecrets has no replica statuses: secrets_describe shows them)
  output: z.object({ secrets: z.array(SecretMeta.extend({ replicaOf: z.string().optional() })), ...Page }),
  handler: async (input, { sm, signal, maxOutputBytes }) => {
    const at = decodeListCursor(input.cursor, {
      tool: 'secrets_list',
      namePrefix: input.namePrefix,
      tagKey: input.tagKey,
      tagValue: input.tagValue,
      includeDeleted: input.includeDeleted,
    });
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
    const window = entries.slice(at.s, at.s + input.limit);
    // The service's tag filters match prefixes, each on its own (tag-key "env" with tag-value "prod" lets
    // {environment: x, team: prod} through): the exact tag is checked here, on the entries it sent.
    const rows = window.flatMap((e, i) => {
      if (!hasTag(e, input.tagKey, input.tagValue)) return [];
      const primary = replicaOf(e);
      return [{ i, meta: primary ? { ...metaOf(e), replicaOf: primary } : metaOf(e) }];
    });
    const matched = rows.length;
    // Bounded as a whole: drop from the end until the answer fits, and say where to continue.
    while (rows.length > 1 && jsonBytes({ secrets: rows.map((r) => r.meta) }) > maxOutputBytes - 256) rows.pop();
    const consumed = rows.length < matched ? (rows.at(-1)?.i ?? 0) + 1 : window.length;
    const next = nextListCursor(at, at.s + consumed, entries.length, page.NextToken);
    return {
      secrets: rows.map((r) => r.meta),
      truncated: next !== undefined,
      ...(next ? { nextCursor: next } : {}),
    };
  },
});

export const secretsDescribe = defineTool({
  name: 'secrets_describe',
  toolset: 'secrets',
  tier: 'LOW',
  scopes: ['mcp:secrets:read'],
  title: 'Describe a secret',
  description: "One secret's metadata, replication, and its versions with their stages.",
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ name: SecretName }),
  output: SecretMeta.extend({
    managedBy: z.string().optional(),
    rotation: z.object({ by: z.string(), schedule: z.string().optional(), next: z.string().optional() }).optional(),
    replication: Replication.optional(),
    versions: Stages,
  }),
  handler: async ({ name }, { sm, signal }) => {
    const d = await sm.describe(name, signal);
    const rotation = rotationOf(d);
    const replication = replicationOf(d);
    return {
      ...metaOf(d),
      ...(d.OwningService ? { managedBy: d.OwningService } : {}),
      ...(rotation ? { rotation } : {}),
      ...(replication ? { replication } : {}),
      versions: d.VersionIdsToStages ?? {},
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
  // Reads the secret, so what would be refused is refused before confirmation: force off by policy, no such
  // secret, a second recovery window (the service refuses any change to a secret scheduled for deletion, API
  // reference "Common Errors", InvalidRequestException; RestoreSecret cancels it).
  plan: async ({ name, recoveryWindowDays, force }, { sm, signal, options }) => {
    refuseForce(force, options);
    const target = await deleteTarget(sm, name, force, options, signal);
    // the ARN names this secret only: one deleted and created again under the name since makes another plan, and
    // the confirmation of this one runs nothing
    const which = target.arn ? `"${target.shown}" (${target.arn})` : `"${target.shown}"`;
    return {
      text: force
        ? `Delete secret ${which} at once, without recovery`
        : `Schedule secret ${which} for deletion in ${recoveryWindowDays} days; reads fail from now on; secrets_restore undoes it until then`,
      bound: target,
    };
  },
  handler: async ({ name, recoveryWindowDays, force }, { sm, signal, options, planned }) => {
    refuseForce(force, options);
    // the plan checked the secret just now; with no confirm policy no plan ran: the same refusals, first
    const target = planned ?? (await deleteTarget(sm, name, force, options, signal));
    // by the ARN read: the secret checked, not one that took its name since
    const how = force ? { force: true as const } : { recoveryWindowDays };
    const out = await sm.delete(target.arn ?? name, how, signal, target.shown);
    return { name: out.Name ?? target.shown, deletionDate: iso(out.DeletionDate) ?? '', recoverable: !force };
  },
});

/**
 * The secret secrets_delete would delete, as it is now, or the refusal the call would meet. A secret another AWS
 * service manages (OwningService) is that service's: it depends on the secret, and may refuse a deletion without a
 * recovery window (User Guide, "Secrets managed by other AWS services"); RDS deletes the master-password secret of a
 * DB instance or cluster with it (RDS User Guide, "Password management with Amazon RDS and AWS Secrets Manager").
 */
async function deleteTarget(
  sm: SecretsBackend,
  name: string,
  force: boolean,
  options: Readonly<Record<string, unknown>>,
  signal: AbortSignal,
): Promise<{ shown: string; arn: string | undefined }> {
  const d = await sm.describe(name, signal, `delete secret "${name}"`);
  const shown = d.Name ?? name;
  refuseReplica(shown, d, 'delete');
  if (d.OwningService) {
    const service = d.OwningService;
    const rds = /^rds$/i.test(service)
      ? ' (RDS/Aurora: deleting the DB instance or cluster deletes it, as does modify-db-instance or modify-db-cluster with --no-manage-master-user-password)'
      : '';
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${shown}" is managed by ${service}, which depends on it; deleting it here would break ${service}${force ? ' (and Secrets Manager refuses a deletion without recovery window)' : ''}. Delete it through ${service}${rds}. Nothing was changed`,
    );
  }
  // API reference, DeleteSecret: a primary secret replicated to other Regions is deleted only once its replicas
  // are removed (RemoveRegionsFromReplication); the service refuses it until then.
  // the Regions go into the command below: each must be a Region name
  const replicas = (d.ReplicationStatus ?? []).map((r) => refuseBadRegion(shown, 'replica Region', r.Region));
  if (replicas.length > 0) {
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${shown}" is replicated to ${replicas.join(', ')}; Secrets Manager deletes a primary secret only once its replicas are removed, which deletes them at once: an operator runs aws secretsmanager remove-regions-from-replication --secret-id ${quoteArg(shown)} --remove-replica-regions ${replicas.join(' ')}, then call again. Nothing was changed`,
    );
  }
  if (d.DeletedDate && !force) {
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${shown}" is already scheduled for deletion (since ${d.DeletedDate.toISOString()}); secrets_restore cancels it${options.allowForceDelete === true ? ', force deletes it now' : ''}. Nothing was changed`,
    );
  }
  return { shown, arn: d.ARN };
}

function refuseForce(force: boolean, options: Readonly<Record<string, unknown>>): void {
  if (force && options.allowForceDelete !== true) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      'force deletion is off; use a recovery window, or set servers.secrets.tools.secrets_delete.options.allowForceDelete',
    );
  }
}

export const secretsRestore = defineTool({
  name: 'secrets_restore',
  toolset: 'secrets',
  tier: 'HIGH',
  scopes: ['mcp:secrets:write'],
  title: 'Restore a deleted secret',
  description: 'Cancel the scheduled deletion of a secret; it becomes readable again.',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ name: SecretName }),
  output: z.object({ name: z.string(), restored: z.boolean(), note: z.string().optional() }),
  // RestoreSecret succeeds on a secret not scheduled for deletion, changing nothing, and its answer (ARN, Name) does
  // not say which it was (API reference, RestoreSecret; getmoto/moto test_restore_secret_that_is_not_deleted): the
  // secret is read first, so the answer never reports a restore that did not happen.
  handler: async ({ name }, { sm, signal, noteResult }) => {
    const d = await sm.describe(name, signal, `restore secret "${name}"`, {
      ResourceNotFoundException: RESTORE_NOT_FOUND,
    });
    const shown = d.Name ?? name;
    refuseReplica(shown, d, 'restore');
    if (!d.DeletedDate) {
      noteResult?.({ kind: 'noop', reason: 'secret not scheduled for deletion' });
      return {
        name: shown,
        restored: false,
        note: `secret "${shown}" is not scheduled for deletion: nothing to restore, nothing was changed (it reads as it is)`,
      };
    }
    await sm.restore(name, signal).catch(async (err: unknown) => {
      // refused as a replica: named with its primary's Region (read only then, as a replica is rarely restored)
      if (isAwsError(err, 'InvalidParameterException')) {
        const d = await sm.describe(name, signal).catch(() => undefined);
        if (d) refuseReplica(d.Name ?? name, d, 'restore');
      }
      throw err;
    });
    return { name: shown, restored: true };
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
