import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type {
  CreateSecretCommandOutput,
  DeleteSecretCommandOutput,
  DescribeSecretCommandOutput,
  GetSecretValueCommandOutput,
  ListSecretsCommandOutput,
  PutSecretValueCommandOutput,
  SecretsManagerClient,
  Tag,
} from '@aws-sdk/client-secrets-manager';
import {
  type AwsErrorTable,
  awsClientConfig,
  awsServiceMessage,
  type BackendRecorder,
  type BackendSeries,
  callAws,
  capAwsResponses,
  loadOnce,
  ToolError,
} from '@ravenhelm/kit';

/** Cap on one Secrets Manager answer read into memory. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/**
 * The most a secret value may hold, in bytes (Service Quotas, "Secret value size": 65,536 bytes, not
 * adjustable; API reference, PutSecretValue SecretString: maximum length 65536). Bytes of UTF-8, not
 * characters: 30,000 "€" are 90,000 bytes.
 */
const MAX_VALUE_BYTES = 65_536;

/**
 * What a ListSecrets filter value may hold (service model, FilterValueStringType: pattern
 * ^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$, at most 512): the service refuses any other with a ValidationException.
 * A leading "!" is refused before this check.
 */
const FILTER_VALUE = /^[a-zA-Z0-9 :_@/+=.\-!]{1,512}$/;

/**
 * An ARN whose name ends in a hyphen and six letters or digits. The service takes such an ARN as complete, random
 * suffix included; one given without the suffix finds nothing when the name itself ends that way (API reference,
 * SecretId, "Finding a secret from a partial ARN": names ending in a hyphen and six characters cannot be found
 * by partial ARN).
 */
const SUFFIXED_ARN = /^arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:.+-[A-Za-z0-9]{6}$/;
const PARTIAL_ARN_HINT =
  'an ARN without its random suffix is read as a complete one when the name ends in "-" and six letters or digits: give the name (secrets_list) or the complete ARN';

/**
 * An ARN of another Region than the server's, said first where the service answers "not found" or "access denied":
 * Secrets Manager does not follow the Region in an ARN, it looks the secret up in the Region it was asked in, and
 * answers ResourceNotFoundException "Secrets Manager can't find the specified secret." (DataDog/datadog-lambda-js#639,
 * newrelic/newrelic-lambda-extension#208, mbonig/rds-tools#187), or AccessDeniedException for the ARN as read in
 * its own Region when IAM allows only the named Region's (aws/aws-cli#3474, argoproj-labs/argocd-vault-plugin#318).
 * A replica's ARN is the primary's with its own Region (User Guide, "Replicate secrets across Regions").
 */
function withRegionHint(table: AwsErrorTable, r: { arn: string; named: string; reads: string }): AwsErrorTable {
  const parts = r.arn.split(':');
  parts[3] = r.reads;
  const note = `the ARN names Region ${r.named}, but this server reads Secrets Manager in ${r.reads} (its AWS_REGION or backend.region) and Secrets Manager looks a secret up only in the Region it is asked in: use a server configured for ${r.named}; if the secret is replicated to ${r.reads}, give its name or the replica's ARN ${parts.join(':')}`;
  const out: Record<string, AwsErrorTable[string]> = { ...table };
  for (const name of ['ResourceNotFoundException', 'AccessDeniedException']) {
    const known = table[name];
    if (known) out[name] = { ...known, hint: `${note}; otherwise ${known.hint}` };
  }
  return out;
}

type Sdk = typeof import('./aws.js');

/** What one call gets: the client (built on first use) and the SDK's command classes. */
interface Aws {
  client: SecretsManagerClient;
  sdk: Sdk;
}

export interface SecretsBackendOptions {
  /** Undefined: the SDK's own chain (AWS_REGION, profile). */
  region?: string | undefined;
  /** LocalStack or another compatible endpoint; undefined: the SDK's default (or AWS_ENDPOINT_URL). */
  endpoint?: string | undefined;
  timeoutMs: number;
  maxAttempts: number;
  /** Where calls are recorded (ravenhelm_backend_*{backend="secretsmanager"}). */
  metrics?: BackendRecorder | undefined;
  /**
   * Key material for the ClientRequestToken of a store (see `store`); replicas that share it write one version for
   * the same put. Undefined: random per process.
   */
  requestTokenKey?: Buffer | undefined;
}

export interface ListQuery {
  namePrefix?: string | undefined;
  tagKey?: string | undefined;
  tagValue?: string | undefined;
  includeDeleted?: boolean | undefined;
  maxResults: number;
  nextToken?: string | undefined;
}

export interface RandomPasswordPolicy {
  length: number;
  lower: boolean;
  upper: boolean;
  digits: boolean;
  symbols: boolean;
  exclude: string;
}

// The service's own error names and what each means for the caller.
const ERRORS: AwsErrorTable = {
  ResourceNotFoundException: { code: 'ERR_NOT_FOUND', hint: 'check the name with secrets_list' },
  ResourceExistsException: { code: 'ERR_CONFLICT', hint: 'it already exists; update it instead of creating it' },
  InvalidRequestException: {
    code: 'ERR_CONFLICT',
    hint: 'the secret is not in a state that allows this (scheduled for deletion? restore it with secrets_restore)',
  },
  InvalidParameterException: { code: 'ERR_INVALID_INPUT', hint: 'fix the argument the service names' },
  ValidationException: { code: 'ERR_INVALID_INPUT', hint: 'fix the argument the service names' },
  InvalidNextTokenException: { code: 'ERR_INVALID_INPUT', hint: 'the cursor is stale; list again without it' },
  AccessDeniedException: {
    code: 'ERR_BACKEND_ERROR',
    hint: "the server's AWS identity lacks the IAM permission; ask an operator to grant it",
  },
  UnrecognizedClientException: { code: 'ERR_BACKEND_ERROR', hint: "the server's AWS access key is not recognised" },
  InvalidSignatureException: { code: 'ERR_BACKEND_ERROR', hint: "the server's AWS secret key or clock is wrong" },
  ExpiredTokenException: { code: 'ERR_BACKEND_ERROR', hint: "the server's AWS session credentials expired" },
  DecryptionFailure: {
    code: 'ERR_BACKEND_ERROR',
    hint: "the secret's KMS key cannot decrypt it: ask an operator to enable the key (or cancel its deletion) in AWS KMS and to let the server's AWS identity use it (kms:Decrypt in the key policy and IAM), then retry",
  },
  EncryptionFailure: {
    code: 'ERR_BACKEND_ERROR',
    hint: "the secret's KMS key cannot encrypt the value: ask an operator to enable the key (or cancel its deletion) in AWS KMS and to let the server's AWS identity use it (kms:GenerateDataKey in the key policy and IAM), then retry; nothing was stored",
  },
  LimitExceededException: {
    code: 'ERR_BACKEND_ERROR',
    hint: 'a Secrets Manager quota was reached (versions per secret, secrets per account)',
  },
  ThrottlingException: { code: 'ERR_BACKEND_UNAVAILABLE', hint: 'the service is throttling requests; retry later' },
  TooManyRequestsException: {
    code: 'ERR_BACKEND_UNAVAILABLE',
    hint: 'the service is throttling requests; retry later',
  },
  InternalServiceError: { code: 'ERR_BACKEND_UNAVAILABLE', hint: 'the service failed; retry later' },
};

// Where one call's error means something narrower than the table says: what was missing or refused there.
const VERSIONS_HINT = 'secrets_describe lists its versions and their stages';
// API reference, InvalidRequestException, possible causes of a refused change to a secret's value: scheduled
// for deletion, or managed by another service ("you must use that service to update it").
const VALUE_REFUSED = {
  code: 'ERR_CONFLICT',
  hint: 'the secret is scheduled for deletion (secrets_describe shows since when; secrets_restore cancels it), or another AWS service manages it (RDS manages the master password of a database): change it through that service; nothing was stored',
} as const;
/** A secret to restore that is not there (DescribeSecret and RestoreSecret alike). */
export const RESTORE_NOT_FOUND = {
  code: 'ERR_NOT_FOUND',
  // DeleteSecret: "When you delete a replica, it is deleted immediately" (RemoveRegionsFromReplication)
  hint: 'secrets_list with includeDeleted=true lists the secrets scheduled for deletion; one deleted with force, or past its recovery window, is gone, and so is a replica removed from replication (deleted at once, with no recovery window: an operator replicates the primary to this Region again)',
} as const;
const PASSWORD_REFUSED = {
  code: 'ERR_INVALID_INPUT',
  hint: 'the service cannot make a password with these settings (length, classes, exclude); change them, or use generator "local"',
} as const;

/**
 * AWS Secrets Manager as the tools need it: every call has a deadline (the configured timeout and the
 * caller's signal) and every failure becomes a ToolError that says what was wrong and what to do. Error
 * text never carries a secret value: the messages come from our table, and the service's own message is
 * clipped and scrubbed of every value the call carried.
 */
export class SecretsBackend {
  readonly timeoutMs: number;
  readonly endpoint: string | undefined;
  readonly #aws: () => Promise<Aws>;
  #built: SecretsManagerClient | undefined;

  readonly #series: BackendSeries | undefined;
  readonly #tokenKey: Buffer;
  /** The client's Region, read once (the SDK's provider: backend.region, else AWS_REGION or the profile). */
  #region: Promise<string | undefined> | undefined;

  constructor(opts: SecretsBackendOptions) {
    this.timeoutMs = opts.timeoutMs;
    // HKDF, not the key itself: the same key signs value fingerprints (HMAC of the value), so a value equal to a
    // label would otherwise show a derived key in its fingerprint
    this.#tokenKey = Buffer.from(
      hkdfSync('sha256', opts.requestTokenKey ?? randomBytes(32), 'ravenhelm/secrets', 'ClientRequestToken', 32),
    );
    this.#series = opts.metrics?.backend('secretsmanager');
    this.endpoint = opts.endpoint;
    // The AWS SDK is loaded, and the client built, by the first call that needs them, not at start.
    this.#aws = loadOnce('Secrets Manager client (@aws-sdk/client-secrets-manager)', async () => {
      const sdk = await import('./aws.js');
      // a secret value is at most 64 KiB and a list page at most 100 entries: 4 MiB is far above any real answer
      const client = capAwsResponses(new sdk.SecretsManagerClient(awsClientConfig(opts)), {
        maxBytes: MAX_ANSWER_BYTES,
        service: 'Secrets Manager',
        hint: 'No real Secrets Manager answer is that large: check that the endpoint is Secrets Manager, or narrow the request (a name prefix, a smaller page)',
      });
      this.#built = client;
      return { sdk, client };
    });
  }

  /** The SDK client, built once on first use. */
  async client(): Promise<SecretsManagerClient> {
    return (await this.#aws()).client;
  }

  /** Closes the client's connections, if it was ever built. */
  destroy(): void {
    this.#built?.destroy();
  }

  async list(q: ListQuery, signal: AbortSignal): Promise<ListSecretsCommandOutput> {
    // The service reads a leading "!" in a filter value as "not starting with": the answer would be every
    // other secret. No secret name contains "!", so the prefix as written names none.
    if (q.namePrefix?.startsWith('!')) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `namePrefix "${q.namePrefix}" starts with "!", which no secret name contains; drop the "!" (there is no "not starting with" filter)`,
      );
    }
    if (q.namePrefix && !FILTER_VALUE.test(q.namePrefix)) {
      const wild = /[*?]/.test(q.namePrefix)
        ? ' It is a plain prefix: there are no wildcards (drop the "*" or "?").'
        : '';
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `namePrefix "${q.namePrefix}" holds a character no secret name contains (names: ASCII letters, digits and /_+=.@-), so it matches nothing.${wild}`,
      );
    }
    // A tag key or value the filter cannot carry (tags may hold other letters, e.g. "é" or "#") is not sent:
    // secrets_list checks the exact tag on every entry itself, so the answer is the same, only paged over more.
    const Filters = [
      q.namePrefix ? { Key: 'name' as const, Values: [q.namePrefix] } : undefined,
      q.tagKey && FILTER_VALUE.test(q.tagKey) ? { Key: 'tag-key' as const, Values: [q.tagKey] } : undefined,
      q.tagValue && FILTER_VALUE.test(q.tagValue) ? { Key: 'tag-value' as const, Values: [q.tagValue] } : undefined,
    ].filter((f) => f !== undefined);
    const page = await this.#send('list secrets', signal, (abortSignal, { client, sdk }) =>
      client.send(
        new sdk.ListSecretsCommand({
          MaxResults: q.maxResults,
          ...(q.nextToken ? { NextToken: q.nextToken } : {}),
          ...(Filters.length > 0 ? { Filters } : {}),
          ...(q.includeDeleted ? { IncludePlannedDeletion: true } : {}),
          SortOrder: 'asc',
        }),
        { abortSignal },
      ),
    );
    // The service never sends more than MaxResults; a page that does cannot be paged by our cursors, and
    // store_audit would read one value per entry.
    const got = page.SecretList?.length ?? 0;
    if (got > q.maxResults) {
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        `ListSecrets answered ${got} entries for MaxResults ${q.maxResults}; Secrets Manager never does: check that the endpoint is Secrets Manager and that no proxy in between alters answers`,
      );
    }
    return page;
  }

  /** `doing`: what the caller is about, as errors say it (a delete's check reads "could not delete secret"). */
  async describe(
    name: string,
    signal: AbortSignal,
    doing = `describe secret "${name}"`,
    errors?: AwsErrorTable,
  ): Promise<DescribeSecretCommandOutput> {
    return this.#send(
      doing,
      signal,
      (abortSignal, { client, sdk }) => client.send(new sdk.DescribeSecretCommand({ SecretId: name }), { abortSignal }),
      { id: name, ...(errors ? { errors } : {}) },
    );
  }

  /** The raw value: stays inside the server; tools mask it unless a reveal is allowed and confirmed. */
  async getValue(
    name: string,
    version: { versionId?: string | undefined; versionStage?: string | undefined },
    signal: AbortSignal,
  ): Promise<GetSecretValueCommandOutput> {
    // The service names in its message which was missing: the secret, or the version or label asked for.
    const notFound = {
      code: 'ERR_NOT_FOUND',
      hint:
        version.versionId || version.versionStage
          ? `${VERSIONS_HINT} (if it cannot find the secret either, check the name with secrets_list)`
          : `check the name with secrets_list; a secret that exists but has no AWSCURRENT version has no value to read (${VERSIONS_HINT}; secrets_put stores one)`,
    } as const;
    const got = await this.#send(
      `read secret "${name}"`,
      signal,
      (abortSignal, { client, sdk }) =>
        client.send(
          new sdk.GetSecretValueCommand({
            SecretId: name,
            ...(version.versionId ? { VersionId: version.versionId } : {}),
            ...(version.versionStage ? { VersionStage: version.versionStage } : {}),
          }),
          { abortSignal },
        ),
      // a missing version or label of a found secret is no matter of the ARN's suffix
      {
        id: name,
        ...(version.versionId || version.versionStage ? { partialArn: false as const } : {}),
        errors: { ResourceNotFoundException: notFound },
      },
    );
    valueIsReadable(name, got);
    return got;
  }

  async create(
    name: string,
    value: string,
    extra: { description?: string | undefined; tags?: Tag[] },
    signal: AbortSignal,
  ): Promise<CreateSecretCommandOutput> {
    if (name.startsWith('arn:')) {
      // A name never holds ':' (the service would answer "Invalid name"): an ARN names an existing secret only.
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `"${name}" is an ARN; a new secret is created by name (letters, digits and /_+=.@-) and Secrets Manager gives it its ARN: give the name`,
      );
    }
    valueFits(name, value);
    return this.#send(
      `create secret "${name}"`,
      signal,
      (abortSignal, { client, sdk }) =>
        client.send(
          new sdk.CreateSecretCommand({
            Name: name,
            SecretString: value,
            ...(extra.description !== undefined ? { Description: extra.description } : {}),
            ...(extra.tags && extra.tags.length > 0 ? { Tags: extra.tags } : {}),
          }),
          { abortSignal },
        ),
      { sensitive: [value] },
    );
  }

  /**
   * Stores `value` as a secret's new AWSCURRENT version: `create` makes a new secret with it (and
   * `description`); `update` and `upsert` put it into the existing one, and `upsert` creates the secret when
   * PutSecretValue finds none. PutSecretValue decides, not a read: GetSecretValue answers
   * ResourceNotFoundException also for a secret that exists without an AWSCURRENT version.
   *
   * A value AWSCURRENT already holds is not stored again (`unchanged`): PutSecretValue makes a new version
   * for every new ClientRequestToken, whatever the value (API reference, PutSecretValue), so a repeated call
   * (a retry after a lost answer) would move AWSPREVIOUS onto the same value and leave the value before it
   * without a label, out of reach of a rollback.
   *
   * Two identical calls at once both find the old value current: each put gets the same ClientRequestToken, an
   * HMAC under a server-held key of the secret's ARN, the AWSCURRENT version read and the value, so the service
   * makes one version and ignores the second request (API reference, PutSecretValue ClientRequestToken: same
   * token and value, "the request is ignored"). The token becomes the VersionId, shown by DescribeSecret: keyed,
   * it tells nobody without the key anything about the value (a plain hash would let a reader test guesses).
   * Bound to the version read, the same value stored again later (A, B, A) is a new version.
   */
  async store(
    name: string,
    value: string,
    mode: 'create' | 'update' | 'upsert',
    description: string | undefined,
    signal: AbortSignal,
  ): Promise<{ name: string; versionId: string; created: boolean; unchanged?: true }> {
    const create = async () => {
      const out = await this.create(name, value, { description }, signal);
      return { name: out.Name ?? name, versionId: out.VersionId ?? '', created: true };
    };
    valueFits(name, value);
    if (mode === 'create') return create();
    // No readable current value (none yet, no permission, scheduled for deletion): PutSecretValue answers for it.
    const current = await this.getValue(name, {}, signal).catch((err: unknown) => {
      if (signal.aborted) throw err;
      return undefined;
    });
    // a binary secret turned into a string would break what reads it (the plan refuses it first; this is for a
    // secret made binary since, or a call without a plan)
    refuseIfBinary(name, current);
    if (current?.VersionId && current.SecretString === value) {
      return { name: current.Name ?? name, versionId: current.VersionId, created: false, unchanged: true };
    }
    try {
      const token = current?.ARN ? this.#requestToken(current.ARN, current.VersionId ?? '', value) : undefined;
      let out = await this.putValue(name, value, undefined, signal, token);
      // The service ignores a token it has seen with this value, whatever that version's labels are now: after a
      // rollback to the version read then, the version the token made is not current. Stored again, new token.
      if (token && out.VersionStages && !out.VersionStages.includes('AWSCURRENT')) {
        out = await this.putValue(name, value, undefined, signal);
      }
      return { name: out.Name ?? name, versionId: out.VersionId ?? '', created: false };
    } catch (err) {
      if (mode === 'upsert' && isAwsError(err, 'ResourceNotFoundException')) {
        if (name.startsWith('arn:')) {
          throw new ToolError(
            'ERR_NOT_FOUND',
            `no secret has the ARN "${name}" (check it with secrets_list); upsert creates a secret only by name: give the name to create one`,
            err instanceof ToolError ? err.details : {},
          );
        }
        // another call created it since (two identical upserts at once): stored into it like any existing secret
        return create().catch((again: unknown) => {
          if (isAwsError(again, 'ResourceExistsException'))
            return this.store(name, value, 'update', description, signal);
          throw again;
        });
      }
      throw err;
    }
  }

  /** A ClientRequestToken (32-64 characters; a UUID, version 8: custom) keyed by the server's token key. */
  #requestToken(arn: string, baseVersionId: string, value: string): string {
    const mac = createHmac('sha256', this.#tokenKey);
    for (const part of [arn, baseVersionId, value]) mac.update(`${Buffer.byteLength(part)}:`).update(part);
    const b = mac.digest().subarray(0, 16);
    b[6] = ((b[6] as number) & 0x0f) | 0x80;
    b[8] = ((b[8] as number) & 0x3f) | 0x80;
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  async putValue(
    name: string,
    value: string,
    stages: string[] | undefined,
    signal: AbortSignal,
    /** Undefined: the SDK's own (a random UUID per call). */
    clientRequestToken?: string,
  ): Promise<PutSecretValueCommandOutput> {
    valueFits(name, value);
    return this.#send(
      `store a new value in secret "${name}"`,
      signal,
      (abortSignal, { client, sdk }) =>
        client.send(
          new sdk.PutSecretValueCommand({
            SecretId: name,
            SecretString: value,
            ...(stages ? { VersionStages: stages } : {}),
            ...(clientRequestToken ? { ClientRequestToken: clientRequestToken } : {}),
          }),
          { abortSignal },
        ),
      { id: name, sensitive: [value], errors: { InvalidRequestException: VALUE_REFUSED } },
    );
  }

  async updateDescription(name: string, description: string, signal: AbortSignal): Promise<void> {
    await this.#send(
      `update secret "${name}"`,
      signal,
      (abortSignal, { client, sdk }) =>
        client.send(new sdk.UpdateSecretCommand({ SecretId: name, Description: description }), { abortSignal }),
      { id: name },
    );
  }

  /** Moves a staging label to a version (from the version that holds it), or removes it when `to` is undefined. */
  async moveStage(
    name: string,
    stage: string,
    from: string | undefined,
    to: string | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    await this.#send(
      `move label ${stage} of secret "${name}"`,
      signal,
      (abortSignal, { client, sdk }) =>
        client.send(
          new sdk.UpdateSecretVersionStageCommand({
            SecretId: name,
            VersionStage: stage,
            ...(from ? { RemoveFromVersionId: from } : {}),
            ...(to ? { MoveToVersionId: to } : {}),
          }),
          { abortSignal },
        ),
      {
        id: name,
        partialArn: false,
        errors: { ResourceNotFoundException: { code: 'ERR_NOT_FOUND', hint: VERSIONS_HINT } },
      },
    );
  }

  /** `shown`: the name errors say (`name` may be the ARN the plan read). */
  async delete(
    name: string,
    how: { recoveryWindowDays: number } | { force: true },
    signal: AbortSignal,
    shown = name,
  ): Promise<DeleteSecretCommandOutput> {
    // an ARN read from the service is complete: a not-found is a secret gone since, not a partial ARN
    const read = shown !== name ? { partialArn: false as const } : {};
    if ('force' in how) {
      // A forced DeleteSecret succeeds for a secret that does not exist (a typo, an ARN with another suffix):
      // the secret is looked up first, so an answer never reports a deletion that did not happen.
      await this.#send(
        `delete secret "${shown}"`,
        signal,
        (abortSignal, { client, sdk }) =>
          client.send(new sdk.DescribeSecretCommand({ SecretId: name }), { abortSignal }),
        { id: name, ...read },
      );
    }
    // A forced deletion also takes a secret already scheduled for deletion; a scheduled one refuses a second window.
    const refused = {
      code: 'ERR_CONFLICT',
      hint: `${'force' in how ? '' : 'the secret may be already scheduled for deletion (secrets_describe shows since when; secrets_restore cancels it; force, if allowed, deletes it now), or '}another service manages it (delete it through that service)`,
    } as const;
    // The service answers a replicated primary, and a replica in its own Region, with InvalidParameterException
    // ("... still has replica regions [..]", "Operation not permitted on a replica secret"; seen from real accounts in
    // gruntwork-io/cloud-nuke#435, rebuy-de/aws-nuke#1127): a state to change first, not an argument to fix.
    const replicated = {
      code: 'ERR_CONFLICT',
      hint: 'the secret is replicated to other Regions (an operator removes the replicas first: aws secretsmanager remove-regions-from-replication), or it is a replica (deleted from its primary Region only); secrets_describe shows its state. Nothing was changed',
    } as const;
    return this.#send(
      `delete secret "${shown}"`,
      signal,
      (abortSignal, { client, sdk }) =>
        client.send(
          new sdk.DeleteSecretCommand({
            SecretId: name,
            ...('force' in how
              ? { ForceDeleteWithoutRecovery: true }
              : { RecoveryWindowInDays: how.recoveryWindowDays }),
          }),
          { abortSignal },
        ),
      { id: name, ...read, errors: { InvalidRequestException: refused, InvalidParameterException: replicated } },
    );
  }

  async restore(name: string, signal: AbortSignal): Promise<void> {
    await this.#send(
      `restore secret "${name}"`,
      signal,
      (abortSignal, { client, sdk }) => client.send(new sdk.RestoreSecretCommand({ SecretId: name }), { abortSignal }),
      {
        id: name,
        errors: {
          ResourceNotFoundException: RESTORE_NOT_FOUND,
          // A replica takes no change in its own Region (User Guide, "Promote a replica secret": it "can't be updated
          // independently from its primary secret"): InvalidParameterException "Operation not permitted on a replica
          // secret", a state, not an argument to fix. The tool names the primary's Region (secrets_restore).
          InvalidParameterException: {
            code: 'ERR_CONFLICT',
            hint: 'the secret is a replica, which is never scheduled for deletion in its own Region; nothing to restore here (secrets_describe shows its primary Region). Nothing was changed',
          },
        },
      },
    );
  }

  async randomPassword(p: RandomPasswordPolicy, signal: AbortSignal): Promise<string> {
    const out = await this.#send(
      'generate a random password',
      signal,
      (abortSignal, { client, sdk }) =>
        client.send(
          new sdk.GetRandomPasswordCommand({
            PasswordLength: p.length,
            ExcludeCharacters: p.exclude || undefined,
            ExcludeLowercase: !p.lower,
            ExcludeUppercase: !p.upper,
            ExcludeNumbers: !p.digits,
            ExcludePunctuation: !p.symbols,
            RequireEachIncludedType: true,
          }),
          { abortSignal },
        ),
      // no secret is involved: a refusal is about the settings, not a secret's state
      { errors: { InvalidParameterException: PASSWORD_REFUSED, InvalidRequestException: PASSWORD_REFUSED } },
    );
    if (!out.RandomPassword) {
      // Secrets Manager always answers a password or an error: an answer without one is a passing fault or not the service.
      throw new ToolError(
        'ERR_BACKEND_ERROR',
        'GetRandomPassword answered without a password, so no value was generated; retry, or use generator "local" (if it keeps happening, check that the endpoint is Secrets Manager and that no proxy in between alters answers)',
      );
    }
    return out.RandomPassword;
  }

  /**
   * The Regions when an ARN names another Region than the one the client signs for and sends to: Secrets Manager
   * looks a SecretId up in the Region it is asked in only, so such an ARN finds nothing there (or is refused by IAM
   * for that Region's ARN). Undefined when they agree or the client's Region cannot be read.
   */
  async #otherRegion(arn: string, aws: Aws): Promise<{ arn: string; named: string; reads: string } | undefined> {
    const named = arn.split(':')[3];
    if (!named) return undefined;
    this.#region ??= Promise.resolve()
      .then(() => aws.client.config.region())
      .catch(() => undefined);
    const reads = await this.#region;
    return reads && reads !== named ? { arn, named, reads } : undefined;
  }

  async #send<T>(
    what: string,
    signal: AbortSignal,
    fn: (abortSignal: AbortSignal, aws: Aws) => Promise<T>,
    call: {
      /** Values the request carries, cut out of the service's message. */
      sensitive?: string[];
      /** This call's meaning of some error names, over the table's. */
      errors?: AwsErrorTable;
      /**
       * The SecretId sent: a not-found for an ARN of another Region than the client's says so, and one for a
       * partial ARN the service reads as complete says why (unless `partialArn` is false: a missing version).
       */
      id?: string;
      partialArn?: false;
    } = {},
  ): Promise<T> {
    const aws = await this.#aws();
    const table = call.errors ? { ...ERRORS, ...call.errors } : ERRORS;
    const notFound = table.ResourceNotFoundException;
    // an ARN of another Region finds nothing here whatever its suffix: that is the one thing to say
    const elsewhere = call.id?.startsWith('arn:') ? await this.#otherRegion(call.id, aws) : undefined;
    const errors = elsewhere
      ? withRegionHint(table, elsewhere)
      : call.id !== undefined && call.partialArn !== false && notFound && SUFFIXED_ARN.test(call.id)
        ? { ...table, ResourceNotFoundException: { ...notFound, hint: `${notFound.hint}; ${PARTIAL_ARN_HINT}` } }
        : table;
    const sensitive = call.sensitive ?? [];
    const send = (abortSignal: AbortSignal) =>
      fn(abortSignal, aws).catch((err: unknown) =>
        Promise.reject(misconfigured(what, unparsable(what, err), this.endpoint, sensitive)),
      );
    return callAws(what, signal, send, {
      service: 'Secrets Manager',
      timeoutMs: this.timeoutMs,
      timeoutHint: '; retry, or raise backend.timeoutMs',
      endpoint: this.endpoint,
      unreachableHint: 'check the endpoint and network',
      errors,
      sensitive,
      metrics: this.#series,
    });
  }
}

/**
 * An answer the SDK could not parse. Its parser's message quotes the body around the bad byte, and a
 * GetSecretValue body is the secret value: that message is never passed on, nor the SDK's advice to
 * inspect a hidden field of the error object (no caller can).
 */
function unparsable(what: string, err: unknown): unknown {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  if (e?.name !== 'SyntaxError' && !e?.message?.includes('Deserialization error')) return err;
  const status = e.$metadata?.httpStatusCode;
  return new ToolError(
    'ERR_BACKEND_ERROR',
    `could not ${what}: Secrets Manager answered${status !== undefined ? ` HTTP ${status}` : ''} with a body that is not valid JSON (not shown: it may hold a secret value); check that the endpoint is Secrets Manager and that no proxy in between alters answers, then retry`,
    { awsError: 'InvalidResponse', ...(status !== undefined ? { status } : {}) },
  );
}

/**
 * A region the client cannot use, said as what to set instead of "unreachable" or "wrong secret key": the SDK
 * refuses a missing or malformed region before sending; an endpoint of another region than the one the
 * request is signed for answers InvalidSignatureException "Credential should be scoped to a valid region,
 * not '<region>'" (SigV4: the credential scope names the region; the service checks it is its own).
 */
function misconfigured(
  what: string,
  err: unknown,
  endpoint: string | undefined,
  sensitive: readonly string[],
): unknown {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  const message = typeof e?.message === 'string' ? e.message : '';
  const set = 'set AWS_REGION (or backend.region) to the region the secrets are in, e.g. eu-north-1';
  if (e?.name === 'Error' && /^Region (is missing|not accepted)/.test(message)) {
    return new ToolError('ERR_BACKEND_ERROR', `could not ${what}: ${message.slice(0, 200)}; ${set}`);
  }
  if (e?.name === 'InvalidSignatureException' && /scoped to a valid region/i.test(message)) {
    const status = e.$metadata?.httpStatusCode;
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `could not ${what}: InvalidSignatureException (${awsServiceMessage(message, { sensitive })}); Secrets Manager${endpoint ? ` at ${endpoint}` : ''} serves another region than the server signs for: ${set}, the one the endpoint serves`,
      { awsError: 'InvalidSignatureException', ...(status !== undefined ? { status } : {}) },
    );
  }
  return err;
}

/**
 * Refuses a GetSecretValue answer that holds no readable value (API reference, GetSecretValue: SecretString, "Type:
 * String"; SecretBinary, a base64 blob the SDK decodes to bytes; a successful answer holds one of them). The SDK hands a
 * JSON number, boolean, array or object in either field on as it came, and the tools would fail on it with an internal
 * error (quoting it in the log) or read an array as bytes. Only the JSON type is named: it may be the value.
 */
function valueIsReadable(name: string, got: { SecretString?: unknown; SecretBinary?: unknown }): void {
  if (got.SecretString === null) delete got.SecretString;
  if (got.SecretBinary === null) delete got.SecretBinary;
  const bad = (field: string, want: string, v: unknown) =>
    new ToolError(
      'ERR_BACKEND_ERROR',
      `could not read secret "${name}": Secrets Manager answered a ${field} that is not ${want} (a ${Array.isArray(v) ? 'array' : typeof v}, not shown), which it never does; check that the endpoint is Secrets Manager and that no proxy in between alters answers`,
      { awsError: 'InvalidResponse' },
    );
  const { SecretString: text, SecretBinary: bytes } = got;
  if (text !== undefined && typeof text !== 'string') throw bad('SecretString', 'text', text);
  if (bytes !== undefined && !(bytes instanceof Uint8Array)) throw bad('SecretBinary', 'base64 bytes', bytes);
  if (text === undefined && bytes === undefined) {
    throw new ToolError(
      'ERR_BACKEND_ERROR',
      `could not read secret "${name}": Secrets Manager answered neither SecretString nor SecretBinary, which a successful GetSecretValue always holds; check that the endpoint is Secrets Manager and that no proxy in between alters answers`,
      { awsError: 'InvalidResponse' },
    );
  }
}

/** Refuses a value the service cannot hold, before it is sent, saying its size in bytes. */
function valueFits(name: string, value: string): void {
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes <= MAX_VALUE_BYTES) return;
  throw new ToolError(
    'ERR_INVALID_INPUT',
    `the value for secret "${name}" is ${bytes} bytes in UTF-8 (${[...value].length} characters); Secrets Manager holds at most ${MAX_VALUE_BYTES} bytes per value: shorten it or split it across secrets; nothing was stored`,
  );
}

/** Refuses a string stored over a secret version that holds SecretBinary (and no SecretString). */
export function refuseIfBinary(
  name: string,
  version: { SecretBinary?: unknown; SecretString?: string | undefined } | undefined,
): void {
  if (version?.SecretBinary === undefined || version.SecretString !== undefined) return;
  throw new ToolError(
    'ERR_CONFLICT',
    `secret "${name}" holds binary data (SecretBinary); this server stores text (SecretString), which would change its type and break what reads it as binary. Store binary data with the AWS CLI (aws secretsmanager put-secret-value --secret-binary fileb://FILE), or give a new name for a text secret. Nothing was changed`,
  );
}

/** Whether a backend error is this Secrets Manager error (its name, as the service sent it). */
export function isAwsError(err: unknown, name: string): boolean {
  return err instanceof ToolError && err.details.awsError === name;
}
