import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  type AwsErrorTable,
  awsClientConfig,
  type BackendRecorder,
  type BackendSeries,
  callAws,
  capAwsResponses,
  loadOnce,
  ToolError,
  withoutValues,
} from '@ravenhelm/kit';

/** What one call gets: the client (built on first use) and the SDK's command classes. */
interface Aws {
  client: SecretsManagerClient;
  sdk: typeof import('./aws.js');
}

export interface SecretsKeyStoreOptions {
  /** Prepended to `<user>/<keyId>`, e.g. `zitadel/keys/`. */
  prefix: string;
  timeoutMs: number;
  maxAttempts: number;
  /** Undefined: the SDK's own chain (AWS_REGION, profile); the endpoint likewise (AWS_ENDPOINT_URL...). */
  region?: string | undefined;
  endpoint?: string | undefined;
  /** Where key-store calls are recorded (ravenhelm_backend_*{backend="secretsmanager"}). */
  metrics?: BackendRecorder | undefined;
}

/** Where a key file was stored: never the key itself. */
export interface StoredKey {
  store: 'secretsmanager';
  secretName: string;
  secretArn: string;
  versionId: string;
  created: boolean;
}

// The service's error names, what each means for the caller.
const ERRORS: AwsErrorTable = {
  AccessDeniedException: {
    code: 'ERR_BACKEND_ERROR',
    hint: "the server's AWS identity needs secretsmanager:CreateSecret and PutSecretValue on the prefix",
  },
  InvalidParameterException: { code: 'ERR_INVALID_INPUT', hint: 'check ZITADEL_KEY_SECRET_PREFIX' },
  ValidationException: { code: 'ERR_INVALID_INPUT', hint: 'check ZITADEL_KEY_SECRET_PREFIX' },
  InvalidRequestException: {
    code: 'ERR_CONFLICT',
    hint: 'the secret is not in a state that allows this (scheduled for deletion?)',
  },
  ResourceNotFoundException: { code: 'ERR_NOT_FOUND', hint: 'the secret vanished while being written; retry' },
  UnrecognizedClientException: { code: 'ERR_BACKEND_ERROR', hint: "the server's AWS access key is not recognised" },
  InvalidSignatureException: { code: 'ERR_BACKEND_ERROR', hint: "the server's AWS secret key or clock is wrong" },
  ExpiredTokenException: { code: 'ERR_BACKEND_ERROR', hint: "the server's AWS session credentials expired" },
  EncryptionFailure: { code: 'ERR_BACKEND_ERROR', hint: 'the service cannot encrypt with its KMS key' },
  LimitExceededException: { code: 'ERR_BACKEND_ERROR', hint: 'a Secrets Manager quota was reached' },
  ThrottlingException: { code: 'ERR_BACKEND_UNAVAILABLE', hint: 'the service is throttling requests; retry later' },
  InternalServiceError: { code: 'ERR_BACKEND_UNAVAILABLE', hint: 'the service failed; retry later' },
};

const NAME_PART = /^[A-Za-z0-9/_+=.@-]+$/;

/**
 * Puts new service-account key files into AWS Secrets Manager, one secret per key at
 * `<prefix><user>/<keyId>`. Every call has a deadline; every failure becomes a ToolError whose text
 * never carries the key (the service's message is clipped and scrubbed of the value sent).
 */
export class SecretsKeyStore {
  readonly #opts: SecretsKeyStoreOptions;
  readonly #aws: () => Promise<Aws>;

  readonly #series: BackendSeries | undefined;

  constructor(opts: SecretsKeyStoreOptions) {
    this.#opts = opts;
    this.#series = opts.metrics?.backend('secretsmanager');
    // The AWS SDK is loaded, and the client built, by the first call that needs them, not at start.
    this.#aws = loadOnce('key store client (@aws-sdk/client-secrets-manager)', async () => {
      const sdk = await import('./aws.js');
      // A stored key file is a few KiB: 1 MiB is far above any real answer, and an endless one stops there.
      const client = capAwsResponses(new sdk.SecretsManagerClient(awsClientConfig(opts)), {
        maxBytes: 1024 * 1024,
        service: 'Secrets Manager (key store)',
        hint: 'No stored key is that large: check that the key store endpoint is Secrets Manager',
      });
      return { sdk, client };
    });
  }

  /** The secret name for a key: `<prefix><user>/<keyId>`; a user part the service refuses falls back to the id. */
  nameFor(user: { userId: string; username?: string | undefined }, keyId: string): string {
    const who = user.username && NAME_PART.test(user.username) ? user.username : user.userId;
    return `${this.#opts.prefix}${who}/${keyId}`;
  }

  /** Creates the secret, or puts a new current version when it already exists. */
  async put(
    secretName: string,
    keyFile: string,
    meta: { userId: string; keyId: string },
    signal: AbortSignal,
  ): Promise<StoredKey> {
    try {
      const out = await this.#send(
        `store the key in secret "${secretName}"`,
        signal,
        keyFile,
        (abortSignal, { client, sdk }) =>
          client.send(
            new sdk.CreateSecretCommand({
              Name: secretName,
              SecretString: keyFile,
              Description: `Zitadel key ${meta.keyId} of service account ${meta.userId}`,
              Tags: [
                { Key: 'zitadel:userId', Value: meta.userId },
                { Key: 'zitadel:keyId', Value: meta.keyId },
              ],
            }),
            { abortSignal },
          ),
      );
      return stored(secretName, out.ARN, out.VersionId, true);
    } catch (err) {
      if (!(err instanceof ToolError) || err.details?.awsError !== 'ResourceExistsException') throw err;
    }
    const out = await this.#send(
      `put a new version of secret "${secretName}"`,
      signal,
      keyFile,
      (abortSignal, { client, sdk }) =>
        client.send(new sdk.PutSecretValueCommand({ SecretId: secretName, SecretString: keyFile }), { abortSignal }),
    );
    return stored(secretName, out.ARN, out.VersionId, false);
  }

  async #send<T>(
    what: string,
    signal: AbortSignal,
    sensitive: string,
    fn: (abortSignal: AbortSignal, aws: Aws) => Promise<T>,
  ): Promise<T> {
    const aws = await this.#aws();
    return callAws(what, signal, (abortSignal) => fn(abortSignal, aws), {
      service: 'Secrets Manager',
      timeoutMs: this.#opts.timeoutMs,
      endpoint: this.#opts.endpoint,
      unreachableHint: 'check AWS_ENDPOINT_URL and the network',
      errors: ERRORS,
      // The create-then-update flow recognises this one by name.
      serviceErrors: ['ResourceExistsException'],
      scrub: (message) => scrub(message, sensitive),
      metrics: this.#series,
    });
  }
}

function stored(secretName: string, arn: string | undefined, versionId: string | undefined, created: boolean) {
  if (!arn || !versionId) {
    throw new ToolError('ERR_BACKEND_ERROR', `Secrets Manager stored "${secretName}" but sent no ARN or version id`);
  }
  return { store: 'secretsmanager' as const, secretName, secretArn: arn, versionId, created };
}

/** The service's message, clipped, with the value sent and every line of it cut out. */
function scrub(message: string, sensitive: string): string {
  const parts = [sensitive, ...sensitive.split(/\\n|\n|"/)];
  return withoutValues(message, parts, 8)
    .slice(0, 300)
    .replace(/[\r\n]+/g, ' ');
}
