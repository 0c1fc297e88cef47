import type { DescribeSecretCommandOutput } from '@aws-sdk/client-secrets-manager';
import { ToolError } from '@ravenhelm/kit';
import { refuseBadRegion, regionOf } from './replication.js';

/**
 * Refuses a rotation (secrets_rotate) or a stored value (secrets_put) by this server where it would store a value
 * nobody else receives, or break or be undone by a rotation running.
 *
 * Both write a value into the secret only. A secret with rotation turned on is rotated by its Lambda function or
 * by the service that owns it, which also changes the credential on the database or service (User Guide, "Rotate
 * AWS Secrets Manager secrets" and "Managed rotation"): a value written here would leave the secret and the
 * database disagreeing, until the next scheduled rotation. RotateSecret without RotationRules starts that rotation
 * at once (API reference, RotateSecret: RotateImmediately, default true); CancelRotateSecret turns rotation off.
 * A secret another service owns refuses PutSecretValue itself (API reference, PutSecretValue,
 * InvalidRequestException: "managed by another service, and you must use that service to update it").
 *
 * A version holding AWSPENDING but not AWSCURRENT is a rotation in progress (API reference, RotateSecret: "any
 * later invocation of RotateSecret assumes that a previous rotation request is still in progress and returns an
 * error"). A rotation takes AWSPENDING from it (PutSecretValue with AWSPENDING) and the function would finish
 * with our value; a stored value is overwritten when the function finishes (its finishSecret step moves
 * AWSCURRENT to the pending version: aws-samples/aws-secrets-manager-rotation-lambdas, finish_secret: update_secret_version_stage AWSCURRENT
 * MoveToVersionId=token RemoveFromVersionId=the version holding AWSCURRENT then).
 */
export function refuseRotation(name: string, d: DescribeSecretCommandOutput, by: 'rotate' | 'put' = 'rotate'): void {
  const rotateNow = `aws secretsmanager rotate-secret --secret-id ${quoteArg(d.Name ?? name)}`;
  if (d.OwningService) {
    const service = d.OwningService;
    // RDS and Aurora: the master user password is rotated through the database (RDS User Guide, "Password
    // management with Amazon RDS and AWS Secrets Manager"; ModifyDBInstance/ModifyDBCluster RotateMasterUserPassword).
    const rds = /^rds$/i.test(service)
      ? ' (RDS/Aurora: modify-db-instance or modify-db-cluster with --rotate-master-user-password --apply-immediately)'
      : '';
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${name}" is managed by ${service}, which rotates it together with the credential it holds; a value stored here would not reach ${service}${by === 'put' ? ' (Secrets Manager refuses it)' : ''}. Rotate it through ${service}${rds}, or start its managed rotation now: ${rotateNow}. Nothing was changed`,
    );
  }
  if (d.RotationEnabled === true) {
    const who = d.RotationLambdaARN ? `the Lambda function ${d.RotationLambdaARN}` : 'managed rotation';
    const byHand =
      by === 'put'
        ? `; to set a value by hand, an operator first turns rotation off (aws secretsmanager cancel-rotate-secret --secret-id ${quoteArg(d.Name ?? name)}) and changes the credential on the database or service too`
        : '';
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${name}" has rotation turned on, by ${who}, which also changes the credential on the database or service; a value stored here would not reach it. Start that rotation now instead: ${rotateNow} (RotateSecret without RotationRules rotates at once)${byHand}. Nothing was changed`,
    );
  }
  const pending = Object.entries(d.VersionIdsToStages ?? {}).find(
    ([, stages]) => stages.includes('AWSPENDING') && !stages.includes('AWSCURRENT'),
  )?.[0];
  if (pending) {
    const clash =
      by === 'put'
        ? 'and when it finishes it makes that version AWSCURRENT, over a value stored now'
        : 'and a new rotation would take the label from it';
    throw new ToolError(
      'ERR_CONFLICT',
      `secret "${name}" has a rotation in progress: version ${pending} holds AWSPENDING but not AWSCURRENT, ${clash}. Wait until it finishes (secrets_describe: AWSPENDING gone or on the AWSCURRENT version); if it failed and nothing is rotating, an operator removes the label: aws secretsmanager update-secret-version-stage --secret-id ${quoteArg(d.Name ?? name)} --version-stage AWSPENDING --remove-from-version-id ${pending}. Nothing was changed`,
    );
  }
}

/** A name or ARN as one shell argument: names hold only letters, digits and /_+=.@-!, ARNs also ':'. */
export function quoteArg(s: string): string {
  return /^[A-Za-z0-9/_+=.@:-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Refuses a change to a replica: a secret whose PrimaryRegion is not the Region its ARN names (DescribeSecret
 * PrimaryRegion; API reference, "Replicate secrets across Regions"). The service refuses every change made in a
 * replica's Region (InvalidParameterException, "Operation not permitted on a replica secret"); only the primary's
 * Region changes it, and removing the replica there deletes it.
 */
export function refuseReplica(
  name: string,
  d: { ARN?: string | undefined; PrimaryRegion?: string | undefined },
  doing: 'delete' | 'put' | 'rotate' | 'restore',
): void {
  const here = regionOf(d.ARN);
  if (!d.PrimaryRegion || !here || d.PrimaryRegion === here) return;
  // both go into the commands below: a Region from the answer must be a Region name
  const primary = refuseBadRegion(name, 'PrimaryRegion', d.PrimaryRegion);
  refuseBadRegion(name, 'Region in the ARN', here);
  // DeleteSecret: a replica is deleted at once (RemoveRegionsFromReplication), and a primary only once it has no
  // replicas: a replica is never scheduled for deletion, so there is nothing to restore
  const what =
    doing === 'delete'
      ? `To delete this replica, an operator runs aws secretsmanager remove-regions-from-replication --region ${primary} --secret-id ${quoteArg(name)} --remove-replica-regions ${here} (it is deleted at once); to delete the secret everywhere, delete the primary in ${primary} once its replicas are removed`
      : doing === 'restore'
        ? `A replica is never scheduled for deletion (removing it from replication deletes it at once, and its primary is deleted only once it has no replicas), so there is nothing to restore; it reads as its primary in ${primary} does (secrets_get)`
        : `Change the primary in ${primary} (a server configured for that Region); the new value replicates here`;
  throw new ToolError(
    'ERR_CONFLICT',
    `secret "${name}" is a replica of the primary secret in ${primary}; Secrets Manager refuses any change to it in ${here}. ${what}. Nothing was changed`,
  );
}

/**
 * Who rotates a secret with rotation turned on, on what schedule, and when next (DescribeSecret: RotationLambdaARN,
 * OwningService, RotationRules, NextRotationDate "on or before this date"). RotationRules holds
 * AutomaticallyAfterDays or a ScheduleExpression (rate() or cron()), and Duration, the window a rotation runs in
 * (API reference, RotationRulesType). Undefined when rotation is off.
 */
export function rotationOf(
  d: Pick<
    DescribeSecretCommandOutput,
    'RotationEnabled' | 'RotationLambdaARN' | 'OwningService' | 'RotationRules' | 'NextRotationDate'
  >,
): { by: string; schedule?: string; next?: string } | undefined {
  if (d.RotationEnabled !== true) return undefined;
  const by = d.RotationLambdaARN ?? (d.OwningService ? `${d.OwningService} (managed rotation)` : 'managed rotation');
  const rules = d.RotationRules;
  const every =
    rules?.ScheduleExpression ??
    (rules?.AutomaticallyAfterDays !== undefined ? `every ${rules.AutomaticallyAfterDays} days` : undefined);
  const schedule = every && rules?.Duration ? `${every}, within ${rules.Duration}` : every;
  return {
    by,
    ...(schedule ? { schedule } : {}),
    ...(d.NextRotationDate ? { next: d.NextRotationDate.toISOString() } : {}),
  };
}

/**
 * What a stale finding adds for a secret with rotation on: the rotation that should keep it fresh, and whether it
 * is overdue (NextRotationDate passed: the last attempt failed, or none ran; User Guide, "Troubleshoot rotation").
 */
export function staleRotationNote(e: Parameters<typeof rotationOf>[0], now: number): string {
  const r = rotationOf(e);
  if (!r) return '';
  const due = e.NextRotationDate?.getTime();
  if (due !== undefined && due < now) {
    return `; rotation is on (by ${r.by}) and was due ${r.next}: it is failing or not running; check ${e.RotationLambdaARN ? "the function's logs" : 'the managing service'}`;
  }
  return `; rotation is on (by ${r.by}${r.schedule ? `, ${r.schedule}` : ''})${r.next ? `, next by ${r.next}` : ''}`;
}
