import { AsyncLocalStorage } from 'node:async_hooks';
import { Readable } from 'node:stream';
import { type BackendSeries, outcomeOfError, secondsSince } from './backend-metrics.js';
import { type ErrorCode, ToolError, withoutValuePieces } from './errors.js';

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
  /**
   * The values the call carried (a secret value, a key file): cut out of the service's message and error name,
   * whole and every piece of AWS_VALUE_PIECE characters (a service message may quote part of what was sent).
   */
  sensitive?: readonly string[] | undefined;
  /** Anything else to cut out of the service's message, after `sensitive` (an error name it changes is not shown). */
  scrub?: ((message: string) => string) | undefined;
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
  const e = err as { name?: unknown; message?: unknown; code?: unknown; $metadata?: { httpStatusCode?: number } };
  const last = state.lastAnswer;
  if ((state.timedOut || e.name === 'TimeoutError' || e.name === 'AbortError') && last && last.status >= 400) {
    // it did answer: with errors the SDK kept retrying until the deadline
    const lastError = last.error === undefined ? undefined : shownName(last.error, o);
    const named = last.error === undefined ? '' : lastError === undefined ? ` (${NAME_NOT_SHOWN})` : ` ${lastError}`;
    return new ToolError(
      'ERR_BACKEND_TIMEOUT',
      `${o.service} kept failing until the ${o.timeoutMs} ms deadline while trying to ${what}: its last answer was HTTP ${last.status}${named}, retried by the SDK${o.timeoutHint ?? ''}`,
      { status: last.status, ...(lastError ? { awsError: lastError } : {}) },
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
  const rawName = typeof e.name === 'string' ? e.name : 'Error';
  const name = shownName(rawName, o);
  // a Node error code (ECONNRESET), else the error's name
  const label = (typeof e.code === 'string' ? shownName(e.code, o) : undefined) ?? name ?? NAME_NOT_SHOWN;
  if ((err as { [BROKEN]?: boolean })?.[BROKEN]) {
    return new ToolError(
      'ERR_BACKEND_UNAVAILABLE',
      `the connection to ${o.service}${o.endpoint ? ` at ${o.endpoint}` : ''} broke while its answer was read (${label}) while trying to ${what}; retry, and if it repeats check the endpoint and any proxy in front of it`,
    );
  }
  const known = Object.hasOwn(o.errors, rawName) ? o.errors[rawName] : undefined;
  const status = e.$metadata?.httpStatusCode;
  if (name === undefined) {
    // the name is shown and recorded as the service's error name: one that repeats a value is replaced, whole
    return new ToolError(
      'ERR_BACKEND_ERROR',
      `could not ${what}: ${o.service} answered ${NAME_NOT_SHOWN}; nothing was stored. Check that the endpoint is ${o.service} and that no proxy in between alters answers`,
      { awsError: 'InvalidResponse', ...(status !== undefined ? { status } : {}) },
    );
  }
  if (known || status !== undefined || o.serviceErrors?.includes(name)) {
    const code =
      known?.code ?? (status !== undefined && status >= 500 ? 'ERR_BACKEND_UNAVAILABLE' : 'ERR_BACKEND_ERROR');
    const said = typeof e.message === 'string' ? awsServiceMessage(e.message, o) : '';
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
    `could not ${what}: ${o.service}${o.endpoint ? ` at ${o.endpoint}` : ''} is unreachable (${label}); ${o.unreachableHint}`,
  );
}

/** The shortest piece of a value the call carried that is cut out of a service's message or error name on its own. */
export const AWS_VALUE_PIECE = 8;
/** A shorter value is not cut (it would cut ordinary words); one shorter than AWS_VALUE_PIECE is cut whole only. */
const AWS_VALUE_MIN = 4;
/** How much of a service's message an error shows. */
const MESSAGE_SHOWN = 300;
/**
 * How much of a service's message is read to show that much: a message quoting a whole value (64 KiB at most in
 * Secrets Manager) still shows what follows it. Bounded, as the table of its pieces takes about 30 bytes a character.
 */
const MESSAGE_READ = 65_536;
/** Longer than any error name AWS sends (e.g. "ResourceNotFoundException"): not shown. */
const NAME_MAX = 128;
const NAME_NOT_SHOWN =
  'an error whose name repeats part of a value the call carried, or is no AWS error name (not shown)';

/**
 * A service's message as an error shows it: every value the call carried cut out, whole and every piece of
 * AWS_VALUE_PIECE characters, then `scrub`; clipped to 300 characters on one line.
 */
export function awsServiceMessage(message: string, o: Pick<AwsCallOptions, 'sensitive' | 'scrub'>): string {
  const read = message.slice(0, MESSAGE_READ + AWS_VALUE_PIECE - 1);
  const cut = withoutValuePieces(read, o.sensitive ?? [], AWS_VALUE_PIECE, AWS_VALUE_MIN, MESSAGE_READ);
  return (o.scrub ? o.scrub(cut) : cut).slice(0, MESSAGE_SHOWN).replace(/[\r\n]+/g, ' ');
}

/**
 * An error name as an error shows and records it, or undefined when it may not be shown: it repeats a value the call
 * carried (or a piece of one), `scrub` changes it, or it is too long to be an AWS error name. A name the error table
 * or `serviceErrors` lists stays itself whatever the values hold ("Resource..." in a password).
 */
function shownName(name: string, o: AwsCallOptions): string | undefined {
  if (Object.hasOwn(o.errors, name) || o.serviceErrors?.includes(name)) return name;
  if (name.length > NAME_MAX) return undefined;
  if (withoutValuePieces(name, o.sensitive ?? [], AWS_VALUE_PIECE, AWS_VALUE_MIN) !== name) return undefined;
  if (o.scrub && o.scrub(name) !== name) return undefined;
  return name;
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
