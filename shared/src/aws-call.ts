import { type ErrorCode, ToolError } from './errors.js';

/** What one AWS service's error names mean for the caller: our code and what to do about it. */
export type AwsErrorTable = Readonly<Record<string, { code: ErrorCode; hint: string }>>;

export interface AwsCallOptions {
  /** The service as operators name it, e.g. "Secrets Manager". */
  service: string;
  timeoutMs: number;
  /** Appended to the timeout message, e.g. "; retry, or raise backend.timeoutMs". */
  timeoutHint?: string;
  /** The configured endpoint override, named when the service cannot be reached. */
  endpoint?: string | undefined;
  /** What to check when the service cannot be reached, e.g. "check the endpoint and network". */
  unreachableHint: string;
  errors: AwsErrorTable;
  /** Error names passed through as the service's answer even when the SDK attached no HTTP status. */
  serviceErrors?: readonly string[];
  /** Cuts every value the call carried out of the service's message (which may echo it back). */
  scrub: (message: string) => string;
}

/**
 * One AWS SDK v3 command under the call's signal and a deadline of its own; any failure becomes a
 * ToolError that says what failed and what to do. The SDK is duck-typed (error `name`, `$metadata`),
 * so the kit does not depend on it.
 */
export async function callAws<T>(
  what: string,
  signal: AbortSignal,
  fn: (abortSignal: AbortSignal) => Promise<T>,
  o: AwsCallOptions,
): Promise<T> {
  const deadline = AbortSignal.timeout(o.timeoutMs);
  try {
    return await fn(AbortSignal.any([signal, deadline]));
  } catch (err) {
    throw awsToolError(what, err, { timedOut: deadline.aborted, cancelled: signal.aborted }, o);
  }
}

export function awsToolError(
  what: string,
  err: unknown,
  state: { timedOut: boolean; cancelled: boolean },
  o: AwsCallOptions,
): ToolError {
  if (state.cancelled) return new ToolError('ERR_CANCELLED', `cancelled while trying to ${what}`);
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  if (state.timedOut || e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new ToolError(
      'ERR_BACKEND_TIMEOUT',
      `${o.service} did not answer within ${o.timeoutMs} ms while trying to ${what}${o.timeoutHint ?? ''}`,
    );
  }
  const name = e.name ?? 'Error';
  const known = o.errors[name];
  const status = e.$metadata?.httpStatusCode;
  if (known || status !== undefined || o.serviceErrors?.includes(name)) {
    const code =
      known?.code ?? (status !== undefined && status >= 500 ? 'ERR_BACKEND_UNAVAILABLE' : 'ERR_BACKEND_ERROR');
    const said = o.scrub(e.message ?? '');
    return new ToolError(
      code,
      `could not ${what}: ${name}${said ? ` (${said})` : ''}${known ? `; ${known.hint}` : ''}`,
      {
        awsError: name,
        ...(status !== undefined ? { status } : {}),
      },
    );
  }
  if (name === 'CredentialsProviderError') {
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `could not ${what}: no AWS credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role`,
    );
  }
  return new ToolError(
    'ERR_BACKEND_UNAVAILABLE',
    `could not ${what}: ${o.service}${o.endpoint ? ` at ${o.endpoint}` : ''} is unreachable (${e.code ?? name}); ${o.unreachableHint}`,
  );
}

/**
 * An AWS SDK v3 client's configuration from a server's backend settings: region and endpoint only when
 * set (otherwise the SDK's own chain decides), the retry count, and socket timeouts inside the call's.
 */
export function awsClientConfig(o: {
  region?: string | undefined;
  endpoint?: string | undefined;
  maxAttempts: number;
  timeoutMs: number;
}) {
  return {
    ...(o.region ? { region: o.region } : {}),
    ...(o.endpoint ? { endpoint: o.endpoint } : {}),
    maxAttempts: o.maxAttempts,
    requestHandler: { requestTimeout: o.timeoutMs, connectionTimeout: Math.min(o.timeoutMs, 5000) },
  };
}
