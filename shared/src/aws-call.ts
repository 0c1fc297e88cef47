import { AsyncLocalStorage } from 'node:async_hooks';
import { Readable } from 'node:stream';
import { type BackendSeries, outcomeOfError, secondsSince } from './backend-metrics.js';
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
  /** Where the call is recorded (one call, the SDK's own retries included): `recorder.backend('secretsmanager')`. */
  metrics?: BackendSeries | undefined;
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
  const seen: Answers = {};
  const start = o.metrics ? performance.now() : 0;
  try {
    const out = await answers.run(seen, () => fn(AbortSignal.any([signal, deadline])));
    o.metrics?.done('ok', secondsSince(start));
    return out;
  } catch (err) {
    const error = awsToolError(
      what,
      err,
      { timedOut: deadline.aborted, cancelled: signal.aborted, lastAnswer: seen.last },
      o,
    );
    o.metrics?.done(outcomeOfError(error), secondsSince(start));
    throw error;
  }
}

/** What the service last answered within one callAws (recorded by capAwsResponses), for timeout messages. */
interface Answers {
  last?: { status: number; error?: string | undefined };
}
const answers = new AsyncLocalStorage<Answers>();

export function awsToolError(
  what: string,
  err: unknown,
  state: { timedOut: boolean; cancelled: boolean; lastAnswer?: Answers['last'] },
  o: AwsCallOptions,
): ToolError {
  if (state.cancelled) return new ToolError('ERR_CANCELLED', `cancelled while trying to ${what}`);
  const e = err as { name?: string; message?: string; code?: string; $metadata?: { httpStatusCode?: number } };
  const last = state.lastAnswer;
  if ((state.timedOut || e.name === 'TimeoutError' || e.name === 'AbortError') && last && last.status >= 400) {
    // it did answer: with errors the SDK kept retrying until the deadline
    return new ToolError(
      'ERR_BACKEND_TIMEOUT',
      `${o.service} kept failing until the ${o.timeoutMs} ms deadline while trying to ${what}: its last answer was HTTP ${last.status}${last.error ? ` ${last.error}` : ''}, retried by the SDK${o.timeoutHint ?? ''}`,
      { status: last.status, ...(last.error ? { awsError: last.error } : {}) },
    );
  }
  if (state.timedOut || e.name === 'TimeoutError' || e.name === 'AbortError') {
    return new ToolError(
      'ERR_BACKEND_TIMEOUT',
      `${o.service} did not answer within ${o.timeoutMs} ms while trying to ${what}${o.timeoutHint ?? ''}`,
    );
  }
  // refused by capAwsResponses: already says what to do
  if (err instanceof ToolError) return err;
  if ((err as { [BROKEN]?: boolean })?.[BROKEN]) {
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `the connection to ${o.service}${o.endpoint ? ` at ${o.endpoint}` : ''} broke while its answer was read (${e.code ?? e.name ?? 'error'}) while trying to ${what}; retry, and if it repeats check the endpoint and any proxy in front of it`,
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

/** Marks a body read that failed mid-answer (the SDK still sees its code, e.g. ECONNRESET, and retries it). */
const BROKEN = Symbol('ravenhelm.awsBodyBroken');

/** The part of an AWS SDK v3 client's middleware stack this uses (duck-typed, no SDK dependency). */
interface StackAdd {
  add(
    middleware: (next: (args: unknown) => Promise<{ response: unknown }>) => (args: unknown) => Promise<unknown>,
    options: { step: 'deserialize'; priority: 'low'; name: string },
  ): void;
}

/**
 * Caps every answer an AWS SDK v3 client reads at `maxBytes`: the SDK buffers a whole body before it
 * parses it and has no limit of its own, so an endless or huge answer would grow the heap until the
 * deadline (about 120 MB in 1.5 s on loopback). Runs inside the deserializer: the body is read here, up
 * to the cap, and handed on as a buffer; past the cap the connection is dropped and the call refused.
 */
export function capAwsResponses<C extends { middlewareStack: object }>(
  client: C,
  o: { maxBytes: number; service: string /** What to do about it, e.g. which setting raises the cap. */; hint: string },
): C {
  (client.middlewareStack as StackAdd).add(
    (next) => async (args) => {
      const out = await next(args);
      const res = out.response as
        | { statusCode?: number; body?: unknown; headers?: Record<string, string | undefined> }
        | undefined;
      const seen = answers.getStore();
      if (seen && typeof res?.statusCode === 'number') {
        seen.last = { status: res.statusCode, error: res.headers?.['x-amzn-errortype']?.split(':')[0] };
      }
      const body = res?.body as (AsyncIterable<Uint8Array> & { destroy?: (e?: Error) => void }) | undefined;
      if (!res || !body || typeof body[Symbol.asyncIterator] !== 'function') return out;
      const tooLarge = () =>
        new ToolError(
          'ERR_OUTPUT_TOO_LARGE',
          `${o.service} answered with more than ${o.maxBytes.toLocaleString('en-US')} bytes; reading stopped there. ${o.hint}`,
          { capBytes: o.maxBytes },
        );
      if (Number(res.headers?.['content-length'] ?? 0) > o.maxBytes) {
        body.destroy?.();
        throw tooLarge();
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      try {
        for await (const chunk of body) {
          size += chunk.byteLength;
          if (size > o.maxBytes) {
            chunks.length = 0;
            body.destroy?.();
            throw tooLarge();
          }
          chunks.push(chunk);
        }
      } catch (err) {
        if (err instanceof ToolError) throw err;
        throw Object.assign(err as Error, { [BROKEN]: true });
      }
      res.body = Readable.from([Buffer.concat(chunks, size)]);
      return out;
    },
    { step: 'deserialize', priority: 'low', name: 'ravenhelmCapResponseBytes' },
  );
  return client;
}
