/**
 * AWS Secrets Manager over real loopback HTTP, speaking the service's wire protocol.
 *
 * Built from the vendor's own material, not from what our client expects:
 * - API reference, https://docs.aws.amazon.com/secretsmanager/latest/apireference/ : ListSecrets (Filters:
 *   name/tag-key/tag-value/description prefix matching, `!` negation, Values pattern and length (API_Filter),
 *   MaxResults 1-100, NextToken,
 *   IncludePlannedDeletion), DescribeSecret (VersionIdsToStages lists only versions with labels),
 *   GetSecretValue (VersionId/VersionStage), CreateSecret, PutSecretValue (a new AWSCURRENT moves the old
 *   one to AWSPREVIOUS; ClientRequestToken = VersionId, same token + other value -> ResourceExistsException),
 *   UpdateSecret, UpdateSecretVersionStage, DeleteSecret (RecoveryWindowInDays 7-30, default 30, or
 *   ForceDeleteWithoutRecovery, not both; a replicated primary or a replica is refused), RestoreSecret (a replica is
 *   refused; one not scheduled for deletion succeeds unchanged), TagResource
 *   (Tag: Key 1-128, Value 0-256), ReplicateSecretToRegions, RemoveRegionsFromReplication, GetRandomPassword; "Common Errors"
 *   and each action's Errors section (all client errors are HTTP 400, InternalServiceError 500).
 * - The service model shipped in aws/aws-sdk-js-v3 clients/client-secrets-manager (protocol awsJson1_1,
 *   target prefix `secretsmanager`, timestamps as epoch seconds, error shapes with `Message`).
 * - User Guide, "Replicate secrets across Regions", "Promote a replica secret" and "Troubleshoot replication"
 *   (replica statuses, what a replica refuses); ARNs of another Region as real clients met them (see #lookup).
 * - Cross-account replication exists (User Guide, "Replicate AWS Secrets Manager secrets across accounts": a primary
 *   secret's value propagates to a replica secret in another AWS account, "Both secrets must be in the same AWS
 *   Region"; API reference, AssociateCrossAccountReplica: same Region and partition, "A primary secret can have at
 *   most one cross-account replica"). Modelled only as DescribeSecret reports it on a seeded primary
 *   (CrossAccountReplicas: ReplicaSecretARN, ReplicationRoleARN, ReplicationStatus InSync | Failed | InProgress |
 *   Detached, StatusMessage; service model in @aws-sdk/client-secrets-manager 3.1178); Associate/Disassociate/
 *   StopReplicationToReplica and the replica account's side are not.
 * - AWS JSON 1.1 protocol: POST /, `Content-Type: application/x-amz-json-1.1`, `X-Amz-Target:
 *   secretsmanager.<Operation>`, errors as `{"__type": "...", "message": "..."}`.
 * - Signature Version 4 (AWS General Reference, "Create a signed AWS API request"): the Authorization header
 *   is checked for form and the signature is recomputed with the test's secret key (independently of the SDK's
 *   signer); a request older than 15 minutes is refused as the service does.
 */
import { createHash, createHmac, randomBytes, randomInt, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { type Listening, listen, type Reply, type SimControl, type SimRequest } from './http.js';

export interface SecretsManagerSimOptions {
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  accountId?: string;
}

interface Version {
  id: string;
  string?: string;
  binary?: string;
  stages: Set<string>;
  created: number;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  tags: { Key: string; Value: string }[];
  versions: Map<string, Version>;
  created: number;
  lastChanged: number;
  lastAccessed?: number;
  lastRotated?: number;
  rotationEnabled?: boolean;
  rotationLambdaArn?: string;
  rotationRules?: { AutomaticallyAfterDays?: number; ScheduleExpression?: string; Duration?: string };
  nextRotation?: number;
  /** The service that manages the secret (DescribeSecret OwningService, e.g. "rds"). */
  owningService?: string;
  /** Regions this primary secret is replicated to (DescribeSecret ReplicationStatus, InSync unless `replicaStates`). */
  replicaRegions?: string[];
  /** A replica's status other than InSync, by Region (ReplicationStatusType Status and StatusMessage). */
  replicaStates?: Map<string, { status: 'InSync' | 'Failed' | 'InProgress'; message?: string }>;
  /** Its cross-account replica (DescribeSecret CrossAccountReplicas; at most one per primary). */
  crossAccountReplicas?: { arn: string; status: string; message?: string }[];
  /** Set on a replica: the Region of its primary (DescribeSecret PrimaryRegion; its ARN names this Region). */
  primaryRegion?: string;
  deletedDate?: number;
  deletionDate?: number;
}

type Body = Record<string, unknown>;
class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
/** ListSecrets Filter Values pattern (API reference, Filter). */
const FILTER_VALUE = /^!?[a-zA-Z0-9 :_@/+=.\-!]*$/;
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const DELETED_MSG = "You can't perform this operation on the secret because it was marked for deletion.";
const NOT_FOUND_MSG = "Secrets Manager can't find the specified secret.";

export class SecretsManagerSimulator {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly region: string;
  readonly accountId: string;
  readonly control: SimControl & {
    /** The next request for this operation gets this error (AccessDenied, Throttling, DecryptionFailure...). */
    failNext?: { operation: string; type: string; message: string; status?: number };
    /**
     * The next request for this operation gets this HTTP 200 body instead of the simulated answer: an endpoint
     * that misbehaves without an error (a proxy or a look-alike service), e.g. GetRandomPassword with no password.
     */
    answerNext?: { operation: string; json: Record<string, unknown> };
    /**
     * Runs just before the next request for this operation is handled: another writer acting between two calls
     * of the client under test (a put landing in the middle of a rotation).
     */
    beforeNext?: { operation: string; run: () => void };
    /**
     * Every request for this operation after the first `skip` gets this error until cleared: a service that keeps
     * throttling (ThrottlingException, HTTP 400, "Rate exceeded"), not one passing fault.
     */
    failFrom?: { operation: string; skip: number; type: string; message: string; status?: number; seen?: number };
    /** Operations answered, in order. */
    operations: string[];
    /**
     * The reference says ListSecrets "might return fewer results than the maximum even when there are more
     * results available": when set, pages hold at most this many entries whatever MaxResults asks.
     */
    pageCap?: number;
    /**
     * How far the service's clock is ahead of this machine's (negative: behind), in ms: a client whose clock is off.
     * Requests are checked against it (SigV4: more than 15 minutes apart is refused) and answers carry it in their
     * Date header (RFC 9110), from which AWS SDKs correct their clock and retry.
     */
    clockSkewMs?: number;
  } = { delayMs: 0, fail: undefined, requests: [], operations: [] };
  /** Seconds since the epoch; tests move the clock to age secrets. */
  now: () => number = () => Date.now() / 1000;
  readonly #secrets = new Map<string, Secret>();
  #listening?: Listening;

  constructor(opts: SecretsManagerSimOptions = {}) {
    this.accessKeyId = opts.accessKeyId ?? 'AKIASIMULATOR0000001';
    this.secretAccessKey = opts.secretAccessKey ?? 'sim/secret+access+key+0000000000000000000';
    this.region = opts.region ?? 'eu-north-1';
    this.accountId = opts.accountId ?? '123456789012';
  }

  get url(): string {
    if (!this.#listening) throw new Error('simulator not started');
    return this.#listening.url;
  }

  /**
   * The environment an AWS SDK client needs to reach this simulator with its keys and nothing else: the
   * instance metadata lookup off, and config/credentials files pointed at `dir` (a developer's profile or
   * credentials file must never leak into a test).
   */
  sdkEnv(dir: string): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: this.accessKeyId,
      AWS_SECRET_ACCESS_KEY: this.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(dir, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws-credentials'),
    };
  }

  async start(): Promise<this> {
    this.#listening = await listen((req, res) => this.#onRequest(req, res));
    return this;
  }

  async close(): Promise<void> {
    await this.#listening?.close();
  }

  /** Seeds a secret directly (as if created long ago); returns its ARN. */
  seed(
    name: string,
    value: string,
    opts: {
      description?: string;
      tags?: Record<string, string>;
      createdDaysAgo?: number;
      /**
       * LastRotatedDate only. The service sets it when a rotation runs (API reference, DescribeSecret:
       * LastRotatedDate, "the last date and time that Secrets Manager rotated the secret"); PutSecretValue
       * does not. Without `rotation` it is a secret whose rotation was turned off afterwards (CancelRotateSecret:
       * RotationEnabled false, the date stays).
       */
      rotatedDaysAgo?: number;
      /**
       * Rotation turned on (RotationEnabled true), as RotateSecret configures it: by a Lambda function
       * (RotationLambdaARN), or managed rotation (no function; with `owningService`). API reference,
       * RotationRulesType: AutomaticallyAfterDays or ScheduleExpression, and Duration (`window`, e.g. "3h"). NextRotationDate: `nextInDays`, else
       * AutomaticallyAfterDays after the last rotation (RotateSecret: "adding the rotation interval (number of
       * days) to the actual date of the last rotation").
       */
      rotation?: { lambdaArn?: string; afterDays?: number; schedule?: string; window?: string; nextInDays?: number };
      /** Managed by another service (OwningService, e.g. "rds" for a name "rds!db-..."). */
      owningService?: string;
      /** Store the value as SecretBinary (base64 on the wire) instead of SecretString. */
      binary?: boolean;
      /** Replicated to these Regions, as ReplicateSecretToRegions leaves a primary secret. */
      replicas?: string[];
      /** A replica in this simulator's Region of a primary secret in that Region. */
      replicaOf?: string;
      /** Associated with a replica secret in another account (AssociateCrossAccountReplica); status InSync by default. */
      crossAccountReplicas?: {
        arn: string;
        status?: 'InSync' | 'Failed' | 'InProgress' | 'Detached';
        message?: string;
      }[];
    } = {},
  ): string {
    const at = this.now() - (opts.createdDaysAgo ?? 0) * 86_400;
    const secret = this.#newSecret(name, opts.description, opts.tags ?? {}, at);
    const val = opts.binary ? { binary: Buffer.from(value).toString('base64') } : { string: value };
    this.#addVersion(secret, randomUUID(), val, ['AWSCURRENT'], at);
    if (opts.rotatedDaysAgo !== undefined) {
      secret.lastRotated = this.now() - opts.rotatedDaysAgo * 86_400;
      secret.rotationEnabled = false;
    }
    if (opts.owningService !== undefined) secret.owningService = opts.owningService;
    if (opts.replicas !== undefined) secret.replicaRegions = [...opts.replicas];
    if (opts.replicaOf !== undefined) secret.primaryRegion = opts.replicaOf;
    if (opts.crossAccountReplicas !== undefined) {
      secret.crossAccountReplicas = opts.crossAccountReplicas.map((c) => ({
        arn: c.arn,
        status: c.status ?? 'InSync',
        ...(c.message !== undefined ? { message: c.message } : {}),
      }));
    }
    const r = opts.rotation;
    if (r) {
      secret.rotationEnabled = true;
      if (r.lambdaArn !== undefined) secret.rotationLambdaArn = r.lambdaArn;
      secret.rotationRules = {
        ...(r.afterDays !== undefined ? { AutomaticallyAfterDays: r.afterDays } : {}),
        ...(r.schedule !== undefined ? { ScheduleExpression: r.schedule } : {}),
        ...(r.window !== undefined ? { Duration: r.window } : {}),
      };
      const next =
        r.nextInDays !== undefined
          ? this.now() + r.nextInDays * 86_400
          : r.afterDays !== undefined
            ? (secret.lastRotated ?? secret.created) + r.afterDays * 86_400
            : undefined;
      if (next !== undefined) secret.nextRotation = next;
    }
    return secret.arn;
  }

  /**
   * Stores a new value as PutSecretValue does, as another writer would: AWSCURRENT by default (AWSPREVIOUS follows),
   * or the given VersionStages (API reference, PutSecretValue VersionStages: "If you specify a staging label that's
   * already associated with a different version of the same secret, then Secrets Manager removes the label from the
   * other version and attaches it to this version"), e.g. AWSPENDING staged by another rotation.
   */
  putValue(name: string, value: string, stages: string[] = ['AWSCURRENT']): string {
    const s = this.#secrets.get(name);
    if (!s) throw new Error(`no secret ${name}`);
    return this.#putVersion(s, randomUUID(), { string: value }, stages).id;
  }

  /** Adds replica Regions as ReplicateSecretToRegions does, as another operator would. */
  replicate(name: string, regions: string[]): void {
    const s = this.#secrets.get(name);
    if (!s) throw new Error(`no secret ${name}`);
    s.replicaRegions = [...new Set([...(s.replicaRegions ?? []), ...regions])];
  }

  /**
   * Sets one replica's ReplicationStatus entry, as the service reports replication that failed or is under way (User
   * Guide, "Troubleshoot replication"; ReplicationStatusType: Status InSync | Failed | InProgress, StatusMessage 1-4096
   * characters, omitted here when not given).
   */
  replicaStatus(name: string, region: string, status: 'InSync' | 'Failed' | 'InProgress', message?: string): void {
    const s = this.#secrets.get(name);
    if (!s?.replicaRegions?.includes(region)) throw new Error(`secret ${name} has no replica in ${region}`);
    s.replicaStates ??= new Map();
    s.replicaStates.set(region, { status, ...(message !== undefined ? { message } : {}) });
  }

  /** The stored value of a stage (AWSCURRENT by default), for assertions. */
  valueOf(name: string, stage = 'AWSCURRENT'): string | undefined {
    const s = this.#secrets.get(name);
    return s ? [...s.versions.values()].find((v) => v.stages.has(stage))?.string : undefined;
  }

  stagesOf(name: string): Record<string, string[]> {
    const s = this.#secrets.get(name);
    return s ? versionIdsToStages(s) : {};
  }

  has(name: string): boolean {
    return this.#secrets.has(name);
  }

  // --- protocol --------------------------------------------------------------------------------

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const sim: SimRequest = {
        method: req.method ?? 'GET',
        url: new URL(req.url ?? '/', 'http://sim'),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      this.control.requests.push(sim);
      if (this.control.requests.length > 200) this.control.requests.shift();
      const send = () => {
        if (res.destroyed) return;
        const reply = this.control.fail ?? this.#handle(sim);
        const headers = {
          'x-amzn-requestid': randomUUID(),
          date: new Date(Date.now() + (this.control.clockSkewMs ?? 0)).toUTCString(),
        };
        if ('json' in reply) {
          res
            .writeHead(reply.status, { ...headers, 'content-type': 'application/x-amz-json-1.1' })
            .end(JSON.stringify(reply.json));
        } else res.writeHead(reply.status, { ...headers, 'content-type': 'text/plain' }).end(reply.text);
      };
      if (this.control.delayMs > 0) setTimeout(send, this.control.delayMs).unref();
      else send();
    });
  }

  #handle(req: SimRequest): Reply {
    try {
      if (req.method !== 'POST' || req.url.pathname !== '/') throw new AwsError('UnknownOperationException', '', 404);
      const target = String(req.headers['x-amz-target'] ?? '');
      const [prefix, operation] = target.split('.');
      if (prefix !== 'secretsmanager' || !operation) throw new AwsError('UnknownOperationException', '');
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) {
        throw new AwsError('UnknownOperationException', 'expected Content-Type application/x-amz-json-1.1');
      }
      this.#verifySignature(req);
      let body: Body;
      try {
        body = req.body === '' ? {} : (JSON.parse(req.body) as Body);
      } catch {
        throw new AwsError('SerializationException', 'Start of structure or map found where not expected.');
      }
      const beforeNext = this.control.beforeNext;
      if (beforeNext && beforeNext.operation === operation) {
        this.control.beforeNext = undefined;
        beforeNext.run();
      }
      const failNext = this.control.failNext;
      if (failNext && failNext.operation === operation) {
        this.control.failNext = undefined;
        throw new AwsError(failNext.type, failNext.message, failNext.status ?? 400);
      }
      const failFrom = this.control.failFrom;
      if (failFrom && failFrom.operation === operation) {
        failFrom.seen = (failFrom.seen ?? 0) + 1;
        if (failFrom.seen > failFrom.skip) throw new AwsError(failFrom.type, failFrom.message, failFrom.status ?? 400);
      }
      const handler = this.#operations[operation];
      if (!handler) throw new AwsError('UnknownOperationException', '');
      this.control.operations.push(operation);
      const answerNext = this.control.answerNext;
      if (answerNext && answerNext.operation === operation) {
        this.control.answerNext = undefined;
        return { status: 200, json: answerNext.json };
      }
      return { status: 200, json: handler(body) };
    } catch (err) {
      if (err instanceof AwsError) return { status: err.status, json: { __type: err.type, message: err.message } };
      return { status: 500, json: { __type: 'InternalServiceError', message: (err as Error).message } };
    }
  }

  /** SigV4: the header's form, the scope (region, service), the clock skew and the signature itself. */
  #verifySignature(req: SimRequest): void {
    const auth = String(req.headers.authorization ?? '');
    if (!auth) throw new AwsError('MissingAuthenticationTokenException', 'Missing Authentication Token');
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) throw new AwsError('IncompleteSignatureException', `Authorization header requires well-formed SigV4`);
    const [, keyId, day, region, service, signedHeaders, signature] = m as unknown as string[];
    if (keyId !== this.accessKeyId)
      throw new AwsError('UnrecognizedClientException', 'The security token included in the request is invalid.');
    // The credential scope names the region and service the request was signed for; a service endpoint of
    // another region refuses it, naming the region it was given (IAM User Guide, "Troubleshoot Signature Version 4
    // signing", credential errors; the text as the service sends it, quoted in aws/aws-sdk-ruby#508 and
    // aws/aws-sdk-java#1097: "Credential should be scoped to a valid region, not 'us-east-1'. ").
    if (region !== this.region) {
      throw new AwsError(
        'InvalidSignatureException',
        `Credential should be scoped to a valid region, not '${region}'. `,
      );
    }
    if (service !== 'secretsmanager') {
      throw new AwsError(
        'InvalidSignatureException',
        `Credential should be scoped to correct service: 'secretsmanager'. `,
      );
    }
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const signed = (signedHeaders as string).split(';');
    if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(day as string) || !signed.includes('host')) {
      throw new AwsError('IncompleteSignatureException', 'X-Amz-Date and a signed Host header are required.');
    }
    const at = Date.parse(
      `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
    );
    // The wording as the service sends it for a request too old (as real clients logged it: aws/aws-sdk-js#254,
    // upmc-enterprises/registry-creds#24): "Signature expired: <request time> is now earlier than <limit> (<now> -
    // 15 min.)". A request from the future is refused with the same error name; that wording is ours.
    const now = Date.now() + (this.control.clockSkewMs ?? 0);
    if (Math.abs(now - at) > 15 * 60_000) {
      const stamp = (t: number) =>
        new Date(t)
          .toISOString()
          .replace(/[-:]/g, '')
          .replace(/\.\d{3}/, '');
      throw new AwsError(
        'InvalidSignatureException',
        at < now
          ? `Signature expired: ${amzDate} is now earlier than ${stamp(now - 15 * 60_000)} (${stamp(now)} - 15 min.)`
          : `Signature not yet current: ${amzDate} is still later than ${stamp(now + 15 * 60_000)} (${stamp(now)} + 15 min.)`,
      );
    }
    const canonicalHeaders = signed
      .map(
        (h) =>
          `${h}:${String(req.headers[h] ?? '')
            .trim()
            .replace(/\s+/g, ' ')}\n`,
      )
      .join('');
    const canonical = ['POST', '/', '', canonicalHeaders, signedHeaders, sha256(req.body)].join('\n');
    const scope = `${day}/${region}/${service}/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
    let key: Buffer = hmac(`AWS4${this.secretAccessKey}`, day as string);
    for (const part of [region as string, service as string, 'aws4_request']) key = hmac(key, part);
    if (hmac(key, toSign).toString('hex') !== signature) {
      throw new AwsError(
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided.',
      );
    }
  }

  // --- operations ------------------------------------------------------------------------------

  readonly #operations: Record<string, (b: Body) => Body> = {
    ListSecrets: (b) => {
      const max = optInt(b.MaxResults, 'MaxResults', 1, 100) ?? 100;
      const filters = (b.Filters as { Key?: string; Values?: string[] }[] | undefined) ?? [];
      for (const f of filters) {
        if (
          !['description', 'name', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all'].includes(
            String(f.Key),
          )
        ) {
          throw new AwsError('InvalidParameterException', `Invalid filter key: ${f.Key}`);
        }
        if (!Array.isArray(f.Values) || f.Values.length < 1 || f.Values.length > 10) {
          throw new AwsError('InvalidParameterException', 'Filter values must have 1 to 10 items.');
        }
        // API reference, Filter (API_Filter.html) Values: "Length Constraints: Maximum length of 512. Pattern:
        // ^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$"; a member outside its constraints is a ValidationException (Common
        // Errors: "The input fails to satisfy the constraints specified by an AWS service", HTTP 400). The cause is
        // the reference's; the wording is ours.
        for (const [i, v] of f.Values.entries()) {
          if (typeof v !== 'string' || v.length > 512 || !FILTER_VALUE.test(v)) {
            throw new AwsError(
              'ValidationException',
              `1 validation error detected: Value at 'filters.member.values.${i + 1}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$`,
            );
          }
        }
      }
      let all = [...this.#secrets.values()]
        .filter((s) => b.IncludePlannedDeletion === true || s.deletedDate === undefined)
        .filter((s) => filters.every((f) => matchesFilter(s, f.Key as string, f.Values as string[])))
        .sort((x, y) => x.created - y.created || x.name.localeCompare(y.name));
      if (b.SortOrder === 'desc') all = all.reverse();
      let start = 0;
      if (b.NextToken !== undefined) {
        // API reference, ListSecrets NextToken: "Length Constraints: Minimum length of 1. Maximum length of 4096."
        const t = String(b.NextToken);
        if (t.length < 1 || t.length > 4096) {
          throw new AwsError(
            'ValidationException',
            `1 validation error detected: Value at 'nextToken' failed to satisfy constraint: Member must have length ${t.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 4096'}`,
          );
        }
        const decoded = Number.parseInt(Buffer.from(String(b.NextToken), 'base64url').toString(), 10);
        if (!Number.isInteger(decoded) || decoded < 0)
          throw new AwsError('InvalidNextTokenException', 'Invalid NextToken.');
        start = decoded;
      }
      const size = Math.min(max, this.control.pageCap ?? max);
      const page = all.slice(start, start + size);
      const out: Body = { SecretList: page.map((s) => this.#entry(s, 'SecretVersionsToStages')) };
      if (start + size < all.length) out.NextToken = Buffer.from(String(start + size)).toString('base64url');
      return out;
    },
    DescribeSecret: (b) => this.#entry(this.#find(b.SecretId), 'VersionIdsToStages'),
    GetSecretValue: (b) => {
      const s = this.#live(b.SecretId);
      const v = this.#version(s, b.VersionId, b.VersionStage ?? (b.VersionId === undefined ? 'AWSCURRENT' : undefined));
      const today = Math.floor(this.now() / 86_400) * 86_400;
      s.lastAccessed = today;
      const out: Body = {
        ARN: s.arn,
        Name: s.name,
        VersionId: v.id,
        VersionStages: [...v.stages],
        CreatedDate: v.created,
      };
      if (v.string !== undefined) out.SecretString = v.string;
      if (v.binary !== undefined) out.SecretBinary = v.binary;
      return out;
    },
    CreateSecret: (b) => {
      const name = String(b.Name ?? '');
      // API reference, CreateSecret Name: "Length Constraints: Minimum length of 1. Maximum length of 512."
      if (name.length < 1 || name.length > 512) {
        throw new AwsError(
          'ValidationException',
          `1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length ${name.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 512'}`,
        );
      }
      if (!NAME.test(name)) {
        throw new AwsError(
          'InvalidParameterException',
          'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!',
        );
      }
      const existing = this.#secrets.get(name);
      if (existing?.deletedDate !== undefined) {
        throw new AwsError(
          'InvalidRequestException',
          "You can't create this secret because a secret with this name is already scheduled for deletion.",
        );
      }
      if (existing)
        throw new AwsError(
          'ResourceExistsException',
          `The operation failed because the secret ${name} already exists.`,
        );
      if (b.SecretString !== undefined && b.SecretBinary !== undefined) {
        throw new AwsError(
          'InvalidParameterException',
          'You must provide either SecretString or SecretBinary, not both.',
        );
      }
      const tags = Object.fromEntries(checkedTags(b.Tags).map((t) => [t.Key, t.Value]));
      const s = this.#newSecret(name, b.Description as string | undefined, tags, this.now());
      const out: Body = { ARN: s.arn, Name: s.name };
      // API reference, CreateSecret: "If you include SecretString or SecretBinary, then Secrets Manager creates an
      // initial secret version and automatically attaches the staging label AWSCURRENT to it." Without either the
      // secret exists with no version (both fields are optional in the service model; `aws secretsmanager
      // create-secret --name x` is the common case) and GetSecretValue answers ResourceNotFoundException for the
      // staging label AWSCURRENT until PutSecretValue stores one.
      if (b.SecretString !== undefined || b.SecretBinary !== undefined) {
        const v = this.#addVersion(s, token(b.ClientRequestToken), value(b), ['AWSCURRENT'], this.now());
        out.VersionId = v.id;
      }
      return out;
    },
    PutSecretValue: (b) => {
      const s = this.#primary(this.#live(b.SecretId));
      // API reference, Common Errors / PutSecretValue, InvalidRequestException: "The secret is managed by another
      // service, and you must use that service to update it."
      if (s.owningService !== undefined) {
        throw new AwsError(
          'InvalidRequestException',
          // the cause is the reference's; the wording is ours
          `You can't modify secret ${s.name} because it is managed by ${s.owningService}. Use ${s.owningService} to update it.`,
        );
      }
      if (b.SecretString === undefined && b.SecretBinary === undefined) {
        throw new AwsError('InvalidParameterException', 'You must provide either SecretString or SecretBinary.');
      }
      const stages = [...((b.VersionStages as string[] | undefined) ?? ['AWSCURRENT'])];
      // API reference, PutSecretValue: "If this operation creates the first version for the secret, then Secrets
      // Manager automatically attaches the staging label AWSCURRENT to it", whatever VersionStages names.
      if (s.versions.size === 0 && !stages.includes('AWSCURRENT')) stages.push('AWSCURRENT');
      const v = this.#putVersion(s, token(b.ClientRequestToken), value(b), stages);
      return { ARN: s.arn, Name: s.name, VersionId: v.id, VersionStages: [...v.stages] };
    },
    UpdateSecret: (b) => {
      const s = this.#primary(this.#live(b.SecretId));
      if (b.Description !== undefined) s.description = String(b.Description);
      s.lastChanged = this.now();
      const out: Body = { ARN: s.arn, Name: s.name };
      if (b.SecretString !== undefined || b.SecretBinary !== undefined) {
        out.VersionId = this.#putVersion(s, token(b.ClientRequestToken), value(b), ['AWSCURRENT']).id;
      }
      return out;
    },
    UpdateSecretVersionStage: (b) => {
      const s = this.#primary(this.#live(b.SecretId));
      const stage = String(b.VersionStage ?? '');
      if (!stage) throw new AwsError('InvalidParameterException', 'VersionStage is required.');
      const holder = [...s.versions.values()].find((v) => v.stages.has(stage));
      if (b.RemoveFromVersionId !== undefined && holder?.id !== b.RemoveFromVersionId) {
        throw new AwsError(
          'InvalidParameterException',
          `The staging label ${stage} is not attached to version ${b.RemoveFromVersionId}.`,
        );
      }
      if (b.MoveToVersionId !== undefined) {
        if (holder && b.RemoveFromVersionId === undefined && holder.id !== b.MoveToVersionId) {
          throw new AwsError(
            'InvalidParameterException',
            `The staging label ${stage} is currently attached to version ${holder.id}; specify RemoveFromVersionId.`,
          );
        }
        const target = this.#version(s, b.MoveToVersionId, undefined);
        this.#attach(s, target, stage);
      } else if (holder) holder.stages.delete(stage);
      s.lastChanged = this.now();
      return { ARN: s.arn, Name: s.name };
    },
    DeleteSecret: (b) => {
      if (b.ForceDeleteWithoutRecovery === true && b.RecoveryWindowInDays !== undefined) {
        throw new AwsError(
          'InvalidParameterException',
          "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
        );
      }
      // API reference, DeleteSecret, ForceDeleteWithoutRecovery: "If you forcibly delete an already deleted
      // or nonexistent secret, the operation does not return ResourceNotFoundException." It succeeds; the
      // answer names the ID it was given.
      const s = b.ForceDeleteWithoutRecovery === true ? this.#lookup(b.SecretId) : this.#find(b.SecretId);
      if (!s) {
        const id = String(b.SecretId);
        return { ...(id.startsWith('arn:') ? { ARN: id } : { Name: id }), DeletionDate: this.now() };
      }
      // The same sentence sets "an already deleted" secret apart from a nonexistent one: one scheduled for
      // deletion (the reference's "deleted" secret: DescribeSecret's DeletedDate, RestoreSecret "cancels the
      // scheduled deletion"). A forced deletion takes it at once; a second recovery window is refused with
      // InvalidRequestException, as any change to a secret scheduled for deletion ("Common Errors").
      // API reference, DeleteSecret: "You can't delete a primary secret that is replicated to other Regions. You
      // must first delete the replicas using RemoveRegionsFromReplication". The reference does not name the error;
      // the service answers InvalidParameterException, "You can't delete secret <ARN> that still has replica regions
      // [r1, r2]." and, in a replica's Region, "Operation not permitted on a replica secret. Call must be made in
      // primary secret's region." (as real accounts logged them: gruntwork-io/cloud-nuke#435, rebuy-de/aws-nuke#1127).
      this.#primary(s);
      if (s.replicaRegions && s.replicaRegions.length > 0) {
        throw new AwsError(
          'InvalidParameterException',
          `You can't delete secret ${s.arn} that still has replica regions [${s.replicaRegions.join(', ')}].`,
        );
      }
      const now = this.now();
      // User Guide, "Secrets managed by other AWS services": the managing service may restrict "deleting them
      // without a recovery period", as its own resources depend on the secret. Modelled as refused, with the
      // InvalidRequestException the API reference gives for a secret "managed by another service" (the cause is
      // the reference's; the wording is ours). A recovery window is not refused here: the guide says "might".
      if (b.ForceDeleteWithoutRecovery === true && s.owningService !== undefined) {
        throw new AwsError(
          'InvalidRequestException',
          `You can't delete secret ${s.name} without a recovery window because it is managed by ${s.owningService}.`,
        );
      }
      if (b.ForceDeleteWithoutRecovery === true) {
        this.#secrets.delete(s.name);
        return { ARN: s.arn, Name: s.name, DeletionDate: now };
      }
      if (s.deletedDate !== undefined) throw new AwsError('InvalidRequestException', DELETED_MSG);
      const days = optInt(b.RecoveryWindowInDays, 'RecoveryWindowInDays', 7, 30) ?? 30;
      s.deletedDate = now;
      s.deletionDate = now + days * 86_400;
      return { ARN: s.arn, Name: s.name, DeletionDate: s.deletionDate };
    },
    // API reference, ReplicateSecretToRegions (AddReplicaRegions: Region, KmsKeyId) and RemoveRegionsFromReplication
    // (RemoveReplicaRegions: 1+ Regions, pattern ^([a-z]+-)+\d+$): both answer the ARN and the ReplicationStatus, and
    // both are refused on a replica (InvalidParameterException, as DeleteSecret above). A removed replica is deleted
    // at once (DeleteSecret: "When you delete a replica, it is deleted immediately").
    ReplicateSecretToRegions: (b) => {
      const s = this.#primary(this.#live(b.SecretId));
      const add = (Array.isArray(b.AddReplicaRegions) ? b.AddReplicaRegions : []) as { Region?: unknown }[];
      if (add.length < 1) throw new AwsError('InvalidParameterException', 'AddReplicaRegions must name a Region.');
      const regions = add.map((r, i) => region(r.Region, `addReplicaRegions.${i + 1}.member.region`));
      if (regions.includes(this.region)) {
        throw new AwsError(
          'InvalidParameterException',
          `A secret can't be replicated to its own Region ${this.region}.`,
        );
      }
      s.replicaRegions = [...new Set([...(s.replicaRegions ?? []), ...regions])];
      s.lastChanged = this.now();
      return { ARN: s.arn, ReplicationStatus: this.#replicationStatus(s) };
    },
    RemoveRegionsFromReplication: (b) => {
      const s = this.#primary(this.#find(b.SecretId));
      const remove = Array.isArray(b.RemoveReplicaRegions) ? b.RemoveReplicaRegions : [];
      if (remove.length < 1)
        throw new AwsError('InvalidParameterException', 'RemoveReplicaRegions must name a Region.');
      const regions = remove.map((r, i) => region(r, `removeReplicaRegions.${i + 1}.member`));
      s.replicaRegions = (s.replicaRegions ?? []).filter((r) => !regions.includes(r));
      for (const r of regions) s.replicaStates?.delete(r);
      s.lastChanged = this.now();
      return { ARN: s.arn, ReplicationStatus: this.#replicationStatus(s) };
    },
    // A replica takes no change in its own Region (User Guide, "Promote a replica secret to a standalone secret": a
    // replica "can't be updated independently from its primary secret, except for its encryption key"), and it is
    // never scheduled for deletion (DeleteSecret: a replica is deleted at once, a primary only once it has no
    // replicas). RestoreSecret there is refused as the service refuses the other changes (#primary's wording).
    // A secret not scheduled for deletion: the API reference names no error for it, and the service answers it as a
    // success with ARN and Name, changing nothing (getmoto/moto, tests/test_secretsmanager/test_secretsmanager.py,
    // test_restore_secret_that_is_not_deleted; moto's restore_secret pops a DeletedDate that is not there). The
    // answer says nothing about whether a deletion was cancelled.
    RestoreSecret: (b) => {
      const s = this.#primary(this.#find(b.SecretId));
      if (s.deletedDate !== undefined) {
        delete s.deletedDate;
        delete s.deletionDate;
        s.lastChanged = this.now();
      }
      return { ARN: s.arn, Name: s.name };
    },
    TagResource: (b) => {
      const s = this.#primary(this.#live(b.SecretId));
      for (const t of checkedTags(b.Tags)) {
        s.tags = s.tags.filter((x) => x.Key !== t.Key);
        s.tags.push({ Key: t.Key, Value: t.Value });
      }
      if (s.tags.length > 50) throw new AwsError('InvalidParameterException', 'Tag limit exceeded: at most 50 tags.');
      s.lastChanged = this.now();
      return {};
    },
    GetRandomPassword: (b) => {
      const length = optInt(b.PasswordLength, 'PasswordLength', 1, 4096) ?? 32;
      const exclude = String(b.ExcludeCharacters ?? '');
      const classes = [
        b.ExcludeLowercase === true ? '' : 'abcdefghijklmnopqrstuvwxyz',
        b.ExcludeUppercase === true ? '' : 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
        b.ExcludeNumbers === true ? '' : '0123456789',
        b.ExcludePunctuation === true ? '' : PUNCTUATION,
        b.IncludeSpace === true ? ' ' : '',
      ]
        .map((set) => [...set].filter((c) => !exclude.includes(c)).join(''))
        .filter((set) => set.length > 0);
      if (classes.length === 0)
        throw new AwsError('InvalidParameterException', 'No characters left to generate a password.');
      const requireEach = b.RequireEachIncludedType !== false;
      if (requireEach && length < classes.length) {
        throw new AwsError('InvalidParameterException', 'PasswordLength is too short to include each character type.');
      }
      const pool = classes.join('');
      const chars = Array.from({ length }, () => pool[randomInt(pool.length)] as string);
      if (requireEach) {
        classes.forEach((set, i) => {
          chars[i] = set[randomInt(set.length)] as string;
        });
      }
      for (let i = chars.length - 1; i > 0; i--) {
        const j = randomInt(i + 1);
        [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
      }
      return { RandomPassword: chars.join('') };
    },
  };

  // --- state -----------------------------------------------------------------------------------

  #newSecret(name: string, description: string | undefined, tags: Record<string, string>, at: number): Secret {
    const suffix = randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6);
    const secret: Secret = {
      arn: `arn:aws:secretsmanager:${this.region}:${this.accountId}:secret:${name}-${suffix}`,
      name,
      tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
      versions: new Map(),
      created: at,
      lastChanged: at,
    };
    if (description !== undefined) secret.description = description;
    this.#secrets.set(name, secret);
    return secret;
  }

  #addVersion(s: Secret, id: string, val: { string?: string; binary?: string }, stages: string[], at: number): Version {
    const v: Version = { id, stages: new Set(), created: at, ...val };
    s.versions.set(id, v);
    for (const stage of stages) this.#attach(s, v, stage);
    s.lastChanged = at;
    return v;
  }

  #putVersion(s: Secret, id: string, val: { string?: string; binary?: string }, stages: string[]): Version {
    const existing = s.versions.get(id);
    if (existing) {
      if (existing.string !== val.string || existing.binary !== val.binary) {
        throw new AwsError(
          'ResourceExistsException',
          `A version with VersionId ${id} already exists with a different value.`,
        );
      }
      return existing;
    }
    return this.#addVersion(s, id, val, stages, this.now());
  }

  /** Attaches a label, taking it from the version that held it; AWSCURRENT leaves AWSPREVIOUS behind. */
  #attach(s: Secret, v: Version, stage: string): void {
    const holder = [...s.versions.values()].find((x) => x.stages.has(stage));
    if (holder === v) return;
    holder?.stages.delete(stage);
    v.stages.add(stage);
    if (stage === 'AWSCURRENT' && holder) {
      for (const x of s.versions.values()) x.stages.delete('AWSPREVIOUS');
      holder.stages.add('AWSPREVIOUS');
    }
    // Versions without labels are deprecated; the service keeps at most about 100 versions.
    for (const x of s.versions.values()) if (x.stages.size === 0 && s.versions.size > 100) s.versions.delete(x.id);
  }

  #find(id: unknown): Secret {
    const s = this.#lookup(id);
    if (!s) throw new AwsError('ResourceNotFoundException', NOT_FOUND_MSG);
    return s;
  }

  #lookup(id: unknown): Secret | undefined {
    // API reference, SecretId: "Length Constraints: Minimum length of 1. Maximum length of 2048." A member outside
    // its constraints is a ValidationException (Common Errors, HTTP 400), as for ListSecrets filter values.
    if (typeof id !== 'string') {
      throw new AwsError(
        'ValidationException',
        "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null",
      );
    }
    if (id.length < 1 || id.length > 2048) {
      throw new AwsError(
        'ValidationException',
        `1 validation error detected: Value at 'secretId' failed to satisfy constraint: Member must have length ${id.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 2048'}`,
      );
    }
    const byName = this.#secrets.get(id);
    if (byName) return byName;
    for (const s of this.#secrets.values()) if (s.arn === id) return s;
    // API reference, SecretId ("Finding a secret from a partial ARN"): an ARN without the final hyphen and six
    // random characters finds the secret too, unless it ends in a hyphen and six characters: that one is
    // taken for a complete ARN.
    if (id.startsWith('arn:') && !/-[A-Za-z0-9]{6}$/.test(id)) {
      for (const s of this.#secrets.values()) if (s.arn.slice(0, -7) === id) return s;
    }
    // An ARN naming another Region finds nothing: the service does not follow the Region in a SecretId, it answers
    // for its own Region, ResourceNotFoundException "Secrets Manager can't find the specified secret." as real
    // clients logged it (DataDog/datadog-lambda-js#639, newrelic/newrelic-lambda-extension#208, mbonig/rds-tools#187;
    // aws/aws-sdk-js-v3#7278: the client's Region decides). Not a ValidationException: the ARN is well formed. Every
    // ARN here names this simulator's Region, so the exact and partial matches above never take another Region's.
    return undefined;
  }

  /** The secret when it is a primary; a replica takes no change in its own Region. */
  #primary(s: Secret): Secret {
    if (s.primaryRegion !== undefined) {
      throw new AwsError(
        'InvalidParameterException',
        "Operation not permitted on a replica secret. Call must be made in primary secret's region.",
      );
    }
    return s;
  }

  // ReplicationStatusType (API reference): Region, KmsKeyId, Status, StatusMessage; the reference's and the CLI's
  // examples (DescribeSecret, RemoveRegionsFromReplication) show an InSync replica as KmsKeyId
  // "alias/aws/secretsmanager", StatusMessage "Replication succeeded". LastAccessedDate is "omitted if the secret has
  // never been retrieved in the Region": no read ever reaches a replica Region here, so it is never sent.
  #replicationStatus(s: Secret): Body[] {
    return (s.replicaRegions ?? []).map((Region) => {
      const state = s.replicaStates?.get(Region) ?? { status: 'InSync', message: 'Replication succeeded' };
      return {
        Region,
        KmsKeyId: 'alias/aws/secretsmanager',
        Status: state.status,
        ...(state.message !== undefined ? { StatusMessage: state.message } : {}),
      };
    });
  }

  #live(id: unknown): Secret {
    const s = this.#find(id);
    if (s.deletedDate !== undefined) throw new AwsError('InvalidRequestException', DELETED_MSG);
    return s;
  }

  #version(s: Secret, versionId: unknown, stage: unknown): Version {
    const byId = versionId !== undefined ? s.versions.get(String(versionId)) : undefined;
    if (versionId !== undefined && !byId) {
      throw new AwsError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for VersionId: ${String(versionId)}`,
      );
    }
    if (stage === undefined && byId) return byId;
    const byStage = [...s.versions.values()].find((v) => v.stages.has(String(stage)));
    if (!byStage || (byId && byId !== byStage)) {
      throw new AwsError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for staging label: ${String(stage)}`,
      );
    }
    return byStage;
  }

  #entry(s: Secret, stagesField: 'VersionIdsToStages' | 'SecretVersionsToStages'): Body {
    const out: Body = { ARN: s.arn, Name: s.name, CreatedDate: s.created, LastChangedDate: s.lastChanged };
    if (s.description !== undefined) out.Description = s.description;
    if (s.lastAccessed !== undefined) out.LastAccessedDate = s.lastAccessed;
    if (s.lastRotated !== undefined) out.LastRotatedDate = s.lastRotated;
    if (s.rotationEnabled !== undefined) out.RotationEnabled = s.rotationEnabled;
    if (s.rotationLambdaArn !== undefined) out.RotationLambdaARN = s.rotationLambdaArn;
    if (s.rotationRules !== undefined) out.RotationRules = { ...s.rotationRules };
    if (s.nextRotation !== undefined) out.NextRotationDate = s.nextRotation;
    if (s.owningService !== undefined) out.OwningService = s.owningService;
    // DescribeSecret PrimaryRegion and ReplicationStatus (Region, KmsKeyId, Status InSync/InProgress/Failed); a
    // ListSecrets entry names PrimaryRegion only for a secret that is replicated or a replica
    const replicated = (s.replicaRegions?.length ?? 0) > 0;
    if (stagesField === 'VersionIdsToStages' || replicated || s.primaryRegion !== undefined) {
      out.PrimaryRegion = s.primaryRegion ?? this.region;
    }
    if (replicated) out.ReplicationStatus = this.#replicationStatus(s);
    // DescribeSecretResponse only (SecretListEntry has no such member); omitted without cross-account replicas
    if (stagesField === 'VersionIdsToStages' && s.crossAccountReplicas && s.crossAccountReplicas.length > 0) {
      out.CrossAccountReplicas = s.crossAccountReplicas.map((c) => ({
        ReplicaSecretARN: c.arn,
        ReplicationStatus: c.status,
        ...(c.message !== undefined ? { StatusMessage: c.message } : {}),
      }));
    }
    if (s.deletedDate !== undefined) out.DeletedDate = s.deletedDate;
    if (s.tags.length > 0) out.Tags = s.tags.map((t) => ({ ...t }));
    out[stagesField] = versionIdsToStages(s);
    return out;
  }
}

function versionIdsToStages(s: Secret): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of s.versions.values()) if (v.stages.size > 0) out[v.id] = [...v.stages];
  return out;
}

function matchesFilter(s: Secret, key: string, values: string[]): boolean {
  // Values within one filter are ORed; a `!` value negates. Filters are ANDed.
  const fields = (): string[] => {
    switch (key) {
      case 'name':
        return [s.name];
      case 'description':
        return [s.description ?? ''];
      case 'tag-key':
        return s.tags.map((t) => t.Key);
      case 'tag-value':
        return s.tags.map((t) => t.Value);
      case 'owning-service':
        return s.owningService !== undefined ? [s.owningService] : [];
      case 'all':
        return [s.name, s.description ?? '', ...s.tags.flatMap((t) => [t.Key, t.Value])];
      default:
        return [];
    }
  };
  const insensitive = key === 'description' || key === 'all';
  const norm = (x: string) => (insensitive ? x.toLowerCase() : x);
  return values.some((raw) => {
    const negate = raw.startsWith('!');
    const prefix = norm(negate ? raw.slice(1) : raw);
    const hit = fields().some((f) => norm(f).startsWith(prefix));
    return negate ? !hit : hit;
  });
}

/**
 * Tags as the service takes them (API reference, Tag: Key 1-128 characters, Value 0-256; a member outside its
 * constraints is a ValidationException, "Common Errors"). The wording is ours. Keys are data: "__proto__" is a key
 * like any other.
 */
function checkedTags(raw: unknown): { Key: string; Value: string }[] {
  const tags = (Array.isArray(raw) ? raw : []) as { Key?: unknown; Value?: unknown }[];
  return tags.map((t, i) => {
    const Key = typeof t.Key === 'string' ? t.Key : '';
    const Value = typeof t.Value === 'string' ? t.Value : '';
    const field = Key.length < 1 || Key.length > 128 ? 'key' : Value.length > 256 ? 'value' : undefined;
    if (field) {
      throw new AwsError(
        'ValidationException',
        `1 validation error detected: Value at 'tags.${i + 1}.member.${field}' failed to satisfy constraint: Member must have length ${field === 'key' ? 'between 1 and 128' : 'less than or equal to 256'}`,
      );
    }
    return { Key, Value };
  });
}

/** A Region as the service model's RegionType takes it (1-128 characters, ^([a-z]+-)+\d+$). */
function region(v: unknown, field: string): string {
  if (typeof v === 'string' && v.length <= 128 && /^([a-z]+-)+\d+$/.test(v)) return v;
  throw new AwsError(
    'ValidationException',
    `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-)+\\d+$`,
  );
}

function optInt(v: unknown, field: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new AwsError('InvalidParameterException', `${field} must be between ${min} and ${max}.`);
  }
  return v;
}

function token(t: unknown): string {
  if (t === undefined) return randomUUID();
  const s = String(t);
  if (s.length < 32 || s.length > 64)
    throw new AwsError('InvalidParameterException', 'ClientRequestToken must be 32 to 64 characters.');
  return s;
}

function value(b: Body): { string?: string; binary?: string } {
  if (b.SecretString !== undefined) {
    const str = String(b.SecretString);
    if (Buffer.byteLength(str) > 65_536)
      throw new AwsError('InvalidParameterException', 'SecretString exceeds 65536 bytes.');
    return { string: str };
  }
  return { binary: String(b.SecretBinary) };
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
