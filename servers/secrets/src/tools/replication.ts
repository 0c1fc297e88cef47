import type { DescribeSecretCommandOutput, SecretListEntry } from '@aws-sdk/client-secrets-manager';
import { clipChars, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';

/**
 * A secret's replication as DescribeSecret reports it (API reference, DescribeSecret: PrimaryRegion, "the Region the
 * secret is in", and ReplicationStatus, the replicas; ReplicationStatusType: Region, KmsKeyId, Status InSync | Failed |
 * InProgress, StatusMessage, LastAccessedDate omitted when never read in that Region). Only what an agent acts on is
 * kept: the Regions, each replica's status and the service's message. Status stays a string: cross-account
 * replication already reports more values (User Guide, "Monitor cross-account replication": Pending, Detached).
 */
export const Replication = z.object({
  primary: z.string(),
  replicas: z.array(z.object({ region: z.string(), status: z.string(), message: z.string().optional() })).optional(),
  note: z.string().optional(),
});
export type Replication = z.input<typeof Replication>;

/** The Region an ARN names (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME). */
export function regionOf(arn: string | undefined): string | undefined {
  return arn?.split(':')[3] || undefined;
}

/**
 * A Region name as the service model's RegionType takes it (1-128 characters, ^([a-z]+-)+\d+$), else undefined.
 * Regions from an answer go into shell commands the errors suggest: anything else (an endpoint that is not
 * Secrets Manager, a proxy altering answers) is never put there.
 */
export function awsRegion(v: string | undefined): string | undefined {
  return v !== undefined && v.length <= 128 && /^([a-z]+-)+\d+$/.test(v) ? v : undefined;
}

/** Refuses an answer naming a Region that is no Region name: nothing built from it can be trusted. */
export function refuseBadRegion(name: string, field: string, v: string | undefined): string {
  const ok = awsRegion(v);
  if (ok) return ok;
  throw new ToolError(
    'ERR_BACKEND_ERROR',
    `Secrets Manager answered a ${field} for secret "${name}" that is not a Region name (${[...(v ?? '')].length} characters, not repeated here); nothing was changed. Check that the endpoint is Secrets Manager and that no proxy in between alters answers`,
  );
}

/** More replicas than AWS has Regions: an answer longer than this is cut, and the cut said. */
const MAX_REPLICAS = 50;

/** Up to 10 Regions, then how many more. */
function regionList(regions: string[]): string {
  return regions.length > 10
    ? `${regions.slice(0, 10).join(', ')} and ${regions.length - 10} more`
    : regions.join(', ');
}

/**
 * The primary's Region when this secret is a replica: its PrimaryRegion is not the Region its ARN names (a replica's
 * ARN is the primary's with its own Region; User Guide, "Replicate secrets across Regions"). ListSecrets sends
 * PrimaryRegion too (SecretListEntry, "the Region where Secrets Manager originated the secret").
 */
export function replicaOf(e: Pick<SecretListEntry, 'ARN' | 'PrimaryRegion'>): string | undefined {
  const here = regionOf(e.ARN);
  const primary = awsRegion(e.PrimaryRegion);
  return primary && here && primary !== here ? primary : undefined;
}

/**
 * What secrets_describe shows of replication; undefined for a secret that is neither replicated nor a replica (the
 * service sends PrimaryRegion for every secret: alone it says nothing). A failed replica is said in `note` in plain
 * words: readers in that Region get an old value or none (User Guide, "Troubleshoot replication": when replication
 * fails, versions already replicated stay in the replica Region, and with none usable the replica is removed).
 */
export function replicationOf(
  d: Pick<DescribeSecretCommandOutput, 'ARN' | 'PrimaryRegion' | 'ReplicationStatus'>,
): Replication | undefined {
  const primaryOf = replicaOf(d);
  const status = d.ReplicationStatus ?? [];
  if (!primaryOf && status.length === 0) return undefined;
  const all = status.map((r) => ({
    region: awsRegion(r.Region) ?? '(not a Region name)',
    status: clipChars(r.Status ?? 'unknown', 20),
    ...(r.StatusMessage ? { message: clipChars(r.StatusMessage, 300) } : {}),
  }));
  const replicas = all.slice(0, MAX_REPLICAS);
  const failed = all.filter((r) => r.status === 'Failed');
  const pending = all.filter((r) => r.status !== 'Failed' && r.status !== 'InSync');
  const notes: string[] = [];
  if (primaryOf) {
    notes.push(
      `this is a replica of the primary in ${primaryOf}: its value and metadata come from there, and changes are made there`,
    );
  }
  if (failed.length > 0) {
    notes.push(
      `REPLICATION FAILED to ${regionList(failed.map((r) => r.region))}: readers there get an old value or none (a replica without a usable version is removed); the message says why (a secret of that name already in the Region, a KMS key not usable); an operator fixes the cause and replicates again (aws secretsmanager replicate-secret-to-regions)`,
    );
  }
  if (pending.length > 0) {
    notes.push(
      `replication to ${regionList(pending.map((r) => `${r.region} (${r.status})`))} is not in sync yet: readers there may get an old value`,
    );
  }
  if (all.length > replicas.length) {
    notes.push(`${all.length - replicas.length} more replicas not shown (at most ${MAX_REPLICAS} are)`);
  }
  return {
    primary: awsRegion(d.PrimaryRegion ?? regionOf(d.ARN)) ?? '(not a Region name)',
    ...(replicas.length > 0 ? { replicas } : {}),
    ...(notes.length > 0 ? { note: `${notes.join('; ')}.` } : {}),
  };
}

/** A secret's ARN as the service forms it (partition, Region, 12-digit account, name); anything else is not shown. */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:([a-z]+-)+\d+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$/;

/**
 * Where a new value stored in a primary goes beyond it, or undefined for a secret without replicas: it replicates to
 * the Regions in sync (User Guide, "Replicate secrets across Regions": a rotated primary's new value "propagates" to
 * its replicas) and does not reach a Region whose replication failed until it is fixed; and to a replica secret in
 * another AWS account (User Guide, "Replicate AWS Secrets Manager secrets across accounts": "When the secret value in
 * the primary secret changes, Secrets Manager propagates the new value to the replica secret"; DescribeSecret
 * CrossAccountReplicas, Status InSync | Failed | InProgress | Detached, Detached: no longer linked).
 */
export function replicationNote(
  d: Pick<DescribeSecretCommandOutput, 'ReplicationStatus' | 'CrossAccountReplicas'>,
): string | undefined {
  const status = d.ReplicationStatus ?? [];
  const region = (r: (typeof status)[number]) => awsRegion(r.Region) ?? '(not a Region name)';
  const failed = status.filter((r) => r.Status === 'Failed').map(region);
  const others = status.filter((r) => r.Status !== 'Failed').map(region);
  const notes: string[] = [];
  if (others.length > 0) notes.push(`the new value replicates to ${regionList(others)}`);
  if (failed.length > 0) {
    notes.push(
      `replication to ${regionList(failed)} has FAILED: readers there keep an old value or none until an operator fixes it (secrets_describe shows why)`,
    );
  }
  for (const c of (d.CrossAccountReplicas ?? []).slice(0, 5)) {
    if (c.ReplicationStatus === 'Detached') continue;
    const arn = c.ReplicaSecretARN && SECRET_ARN.test(c.ReplicaSecretARN) ? c.ReplicaSecretARN : undefined;
    const to = arn
      ? `AWS account ${arn.split(':')[4]} (${arn})`
      : 'another AWS account (its ARN is not shown: not an ARN)';
    notes.push(
      c.ReplicationStatus === 'Failed'
        ? `replication to the replica secret in ${to} has FAILED: it keeps an old value or none until an operator fixes it`
        : `the new value also replicates to ${to}`,
    );
  }
  return notes.length > 0 ? notes.join('; ') : undefined;
}

/** `replicationNote` as the tail of a plan's text ("" without replicas). */
export function replicationPlanNote(
  d: Pick<DescribeSecretCommandOutput, 'ReplicationStatus' | 'CrossAccountReplicas'>,
): string {
  const note = replicationNote(d);
  return note ? `; ${note}` : '';
}
