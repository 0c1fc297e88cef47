import type { z } from 'zod';
import { jsonBytes } from './budget.js';
import { runAsCallerWhenQueuing } from './caller-context.js';
import { RavenhelmError, ToolError, toRavenhelmError } from './errors.js';
import { clip } from './message.js';
import type { AnyTool, BaseContext, PlannedContext, ToolContext } from './tool.js';
import { findLoneSurrogate } from './unicode.js';

/** Formats zod issues as one readable line per problem: `path: message`. */
export function describeZodError(error: z.ZodError): string {
  const shown = error.issues.slice(0, MAX_ISSUES).map((i) => {
    const path = i.path.length > 0 ? i.path.map(String).join('.') : '(arguments)';
    return `${clip(path)}: ${clip(i.message, 200)}`;
  });
  const more = error.issues.length - shown.length;
  return `${shown.join('; ')}${more > 0 ? `; and ${more} more` : ''}`;
}

/** Issues listed in one error message; the rest are counted. */
const MAX_ISSUES = 10;

/** Validates arguments against a tool's input schema; the error names every wrong field. */
export function parseToolInput<S extends object>(tool: AnyTool<S>, args: unknown): Record<string, unknown> {
  let unknownSaid: string | undefined;
  let given = args ?? {};
  if (args !== undefined && args !== null && typeof args === 'object' && !Array.isArray(args)) {
    // Unknown arguments are refused, not ignored: a misspelt filter must not silently widen a query.
    const known = new Set(Object.keys(tool.input.shape));
    const unknown = Object.keys(args).filter((k) => !known.has(k));
    if (unknown.length > 0) {
      const expected = [...known].join(', ') || '(none)';
      const named = unknown.slice(0, MAX_ISSUES).map((k) => clip(k, 40));
      if (unknown.length > named.length) named.push(`and ${unknown.length - named.length} more`);
      unknownSaid = `unknown argument(s) ${named.join(', ')}; expected: ${expected}`;
      // The known ones are still checked, so one answer names every mistake.
      given = Object.fromEntries(Object.entries(args).filter(([k]) => known.has(k)));
    }
  }
  given = withoutOptionalNulls(tool, given);
  // Half of a UTF-16 surrogate pair is not text: no backend can take it (encodeURIComponent throws on it) and
  // an answer echoing it breaks strict clients, so it is refused by name.
  const lone = findLoneSurrogate(given);
  const loneSaid = lone
    ? `${clip(lone.path)}: character ${lone.index} is half of a UTF-16 surrogate pair (a cut emoji or similar); send well-formed Unicode text`
    : undefined;
  const parsed = tool.input.safeParse(given);
  if (!parsed.success || unknownSaid !== undefined || loneSaid !== undefined) {
    const problems = [unknownSaid, loneSaid, parsed.success ? undefined : describeZodError(parsed.error)].filter(
      Boolean,
    );
    throw new ToolError('ERR_INVALID_INPUT', `invalid arguments for ${tool.name}: ${problems.join('; ')}`);
  }
  return parsed.data as Record<string, unknown>;
}

/**
 * Top-level `null`s of optional arguments that do not take null, read as absent. Models and client code
 * often send null for an argument they leave out (OpenAI's strict function calling writes optional fields
 * as required and nullable, and code that fills every field of a model built from the schema dumps the
 * unset ones as null); refusing it would cost the agent a round trip per call. An argument that takes
 * null keeps it.
 */
function withoutOptionalNulls<S extends object, T>(tool: AnyTool<S>, given: T): T {
  if (given === null || typeof given !== 'object' || Array.isArray(given)) return given;
  const entries = Object.entries(given);
  if (!entries.some(([, v]) => v === null)) return given;
  const shape = tool.input.shape as Record<string, z.ZodType | undefined>;
  return Object.fromEntries(
    entries.filter(([k, v]) => {
      const field = shape[k];
      return !(v === null && field && field.safeParse(undefined).success && !field.safeParse(null).success);
    }),
  ) as T;
}

export interface InvokeOptions {
  /** Wall-clock limit for the whole handler; the context's signal aborts when it passes. */
  timeoutMs: number;
  /**
   * The controller behind `base.signal` when it belongs to this call alone (the HTTP fast path makes one
   * per call): the deadline aborts it, instead of a second controller chained to the caller's signal.
   */
  ownController?: AbortController | undefined;
}

/**
 * Runs one tool: validates input, runs the handler under a timeout, validates the output and checks the
 * output budget. Throws RavenhelmError; the caller turns it into a tool result or a protocol error.
 */
export async function invokeTool<S extends object>(
  tool: AnyTool<S>,
  args: unknown,
  services: S,
  /** `planned`: the bound of the plan the pipeline checked for this call, handed to the handler as is. */
  base: BaseContext & PlannedContext,
  opts: InvokeOptions,
): Promise<Record<string, unknown>> {
  const input = parseToolInput(tool, args);
  // One controller per call, aborted by the caller's signal or the deadline (cheaper than
  // AbortSignal.timeout + AbortSignal.any on the hot path, and nothing lingers after the call).
  const own = opts.ownController?.signal === base.signal ? opts.ownController : undefined;
  const controller = own ?? new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error('deadline'));
  }, opts.timeoutMs);
  const onCallerAbort = own ? undefined : () => controller.abort(base.signal.reason);
  if (onCallerAbort) {
    if (base.signal.aborted) onCallerAbort();
    else base.signal.addEventListener('abort', onCallerAbort, { once: true });
  }
  const signal = controller.signal;
  const ctx = { ...services, ...base, signal, deadline: Date.now() + opts.timeoutMs } as ToolContext<S>;
  let raw: unknown;
  let started = false;
  try {
    // A caller gone while the call waited before its handler (a stalled Redis under a confirmation redeem
    // or an approval consume, an audit write): never start it. raceAbort alone would refuse the answer but
    // still call the handler, which then does its work for nobody.
    if (base.signal.aborted) {
      throw new ToolError(
        'ERR_CANCELLED',
        `${tool.name} was not run: the client went away (or the server is shutting down) before it started`,
      );
    }
    // Backend calls the handler makes know whose they are (the key admission counts by): the backend
    // limiters share their slots fairly between callers (semaphore.ts; from the first backend queue on,
    // see caller-context.ts for why not before).
    started = true;
    raw = await raceAbort(
      runAsCallerWhenQueuing(base.principal.subject, () => tool.handler(input, ctx)),
      signal,
    );
  } catch (err) {
    // A tool that changes something was stopped while it ran: its request may already have reached the
    // backend (a container stop the engine carries out anyway), so neither "try again" nor "cancelled"
    // (which reads as "nothing happened", and is audited as a plain error) is true.
    const changes = started && tool.annotations.readOnlyHint !== true;
    if (timedOut && !(err instanceof RavenhelmError && err.code !== 'ERR_BACKEND_TIMEOUT')) {
      if (changes) {
        throw new ToolError(
          'ERR_OUTCOME_UNKNOWN',
          `${tool.name} did not finish within ${opts.timeoutMs} ms; it may or may not have taken effect: check the current state before calling it again`,
        );
      }
      throw new ToolError(
        'ERR_BACKEND_TIMEOUT',
        `${tool.name} did not finish within ${opts.timeoutMs} ms; try again or narrow the request`,
      );
    }
    if (base.signal.aborted && (!(err instanceof RavenhelmError) || (changes && err.code === 'ERR_CANCELLED'))) {
      if (changes) {
        throw new ToolError(
          'ERR_OUTCOME_UNKNOWN',
          `${tool.name} was cancelled while it ran (the client went away or the server is shutting down); it may or may not have taken effect: check the current state before calling it again`,
        );
      }
      throw new ToolError(
        'ERR_CANCELLED',
        `${tool.name} was cancelled (the client went away or the server is shutting down)`,
      );
    }
    throw toRavenhelmError(err);
  } finally {
    clearTimeout(timer);
    if (onCallerAbort) base.signal.removeEventListener('abort', onCallerAbort);
  }
  const out = tool.output.safeParse(raw);
  if (!out.success) {
    base.logger.error(
      { tool: tool.name, issues: out.error.issues },
      'tool returned output that does not match its schema',
    );
    throw new RavenhelmError('ERR_INTERNAL', `${tool.name} produced an invalid result; this is a server bug`);
  }
  const size = jsonBytes(out.data);
  if (size > base.maxOutputBytes) {
    throw new ToolError(
      'ERR_OUTPUT_TOO_LARGE',
      `${tool.name} produced ${size} bytes of data, over its ${base.maxOutputBytes}-byte share of the output budget (an answer carries its data twice and must fit RAVENHELM_MAX_OUTPUT_BYTES); narrow the request (filters, limit, shorter range)`,
    );
  }
  return out.data as Record<string, unknown>;
}

/**
 * `promise`, or a rejection as soon as `signal` aborts (with `reason()`, default the signal's reason);
 * the work behind `promise` goes on. The abort listener is removed once either settles.
 */
export function raceAbort<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  reason: () => unknown = () => signal.reason,
): Promise<T> {
  if (signal.aborted) return Promise.reject(reason());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(reason());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
