import type { Principal } from '@ravenhelm/auth';
import type { ToolSpec } from '@ravenhelm/registry';
import { z } from 'zod';
import { slimSchema } from './json-schema.js';
import type { Logger } from './logging.js';

/** What every handler receives besides its validated input. */
export interface BaseContext {
  /** Aborted when the client cancels, the call times out or the server shuts down. Pass it to the backend. */
  signal: AbortSignal;
  logger: Logger;
  principal: Principal;
  requestId: string;
  /** The byte budget for this tool's result; list tools page within it. */
  maxOutputBytes: number;
  /** Per-tool options from the policy file (`servers.<s>.tools.<t>.options`). */
  options: Readonly<Record<string, unknown>>;
  /**
   * Says, for the call's audit outcome record, that a successful call changed nothing (an idempotent repeat:
   * the key already gone, the user already deactivated): `{ kind: 'noop', reason }`, the reason a short fixed
   * phrase (clipped to 200 characters; never a secret or a value read from the backend). The last call wins;
   * ignored when the call fails. Set by the kit's pipeline (absent where a handler runs without it).
   */
  noteResult?: (result: { kind: 'noop'; reason: string }) => void;
}

/** What a handler's context carries about the plan checked for its call (see `ToolDeclaration.plan`). */
export interface PlannedContext<P = unknown> {
  /**
   * The `bound` of the plan the kit checked for this very call just before running the handler: the
   * confirmed call's re-plan whose text matched the confirmed one, the plan the user accepted in an
   * elicitation, or the approved call's re-plan that matched the approved text. Act on these targets, not
   * on a fresh lookup: what the handler looks up again may already differ from what people confirmed.
   * Absent when no plan was checked (no confirm or approval policy on the tool) or the plan is plain text.
   */
  planned?: P;
}

/**
 * A handler's context: the server's own services (backend clients) plus the base context, and `deadline`:
 * the epoch ms at which the kit ends the call (limits.callTimeoutMs from its start), for a handler that
 * must answer before it with what it got done (a long wait, many containers one after another).
 */
export type ToolContext<S extends object> = S & BaseContext & { deadline: number };

/**
 * A plan with what it resolved: `text` is what people confirm (the confirmation binds its digest), `bound`
 * the exact targets behind that text (container ids...), handed to the handler as `ctx.planned` when this
 * plan is the one the kit checked. Stays in the process: never shown, stored or audited.
 */
export interface BoundPlan<P = unknown> {
  text: string;
  bound: P;
}

// biome-ignore lint/suspicious/noExplicitAny: zod object shapes are heterogeneous by design
export type InputSchema = z.ZodObject<any>;
// biome-ignore lint/suspicious/noExplicitAny: zod object shapes are heterogeneous by design
export type OutputSchema = z.ZodObject<any>;

/**
 * One tool, one declaration: the registry's contract (name, title, description, toolset, tier, scopes,
 * annotations) plus zod schemas and the handler.
 */
export interface ToolDeclaration<
  S extends object,
  I extends InputSchema = InputSchema,
  O extends OutputSchema = OutputSchema,
  P = unknown,
> extends Omit<ToolSpec, 'server' | 'inputSchema' | 'outputSchema'> {
  input: I;
  output: O;
  /**
   * For destructive tools under a confirm policy (and tools under approval): describes what the call would
   * do, shown to the caller with the confirmation token. Defaults to a generic description of the tool and
   * arguments. A plan that resolves targets returns them with its text (`BoundPlan`): the confirmed call
   * plans again, refuses when the text changed, and otherwise hands the handler that plan's `bound` as
   * `ctx.planned`, so the handler acts on exactly what was confirmed.
   */
  plan?: (input: z.output<I>, ctx: ToolContext<S>) => Promise<string | BoundPlan<P>> | string | BoundPlan<P>;
  /**
   * Validates this tool's policy options (`servers.<s>.tools.<t>.options`) when the server starts, so a
   * dangerous or malformed entry stops startup instead of surfacing on the first call. Throws to refuse.
   */
  checkOptions?: (options: Readonly<Record<string, unknown>>) => void;
  /**
   * The arguments as audit records, generic plans and approval requests show them, for a credential that
   * no `sensitive` field mark can isolate (a shared key inside a Traefik rule). Gets the raw arguments,
   * validated or not, so it must accept anything and not throw (if it does, no argument is shown); the
   * result is then redacted like any arguments. The handler, the confirmation digest and the audit
   * record's `argsDigest` still see the arguments exactly as given.
   */
  shownArgs?: (args: Record<string, unknown>) => Record<string, unknown>;
  handler: (input: z.output<I>, ctx: ToolContext<S> & PlannedContext<P>) => Promise<z.input<O>>;
  /**
   * Long-running tools: may run as an MCP task (2025-11-25 Tasks; tools/list shows
   * `execution.taskSupport`). 'optional': clients without task support get the plain call;
   * 'required': only as a task. Absent: plain calls only.
   */
  task?: 'optional' | 'required';
}

// biome-ignore lint/suspicious/noExplicitAny: a list of tools with different schemas
export type AnyTool<S extends object> = ToolDeclaration<S, any, any, any>;

/**
 * Returns a `defineTool` bound to a server's services type, so handlers are typed end to end:
 * `export const defineTool = createToolDefiner<{ docker: DockerBackend }>();`
 */
export function createToolDefiner<S extends object>() {
  return function defineTool<I extends InputSchema, O extends OutputSchema, P = unknown>(
    decl: ToolDeclaration<S, I, O, P>,
  ): ToolDeclaration<S, I, O, P> {
    return decl;
  };
}

const schemaCache = { input: new WeakMap<z.ZodType, Record<string, unknown>>(), output: new WeakMap() };

/**
 * JSON Schema for a zod schema as tools/list shows it, computed once per schema object: slimmed (see
 * slimSchema: no prose in output schemas, no safe-integer bounds, no tuple forms) and valid for
 * draft-07 and 2020-12 validators alike.
 */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const cache = schemaCache[io] as WeakMap<z.ZodType, Record<string, unknown>>;
  const cached = cache.get(schema);
  if (cached) return cached;
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  const slim = slimSchema(json, io);
  cache.set(schema, slim);
  return slim;
}

/** The registry's view of a declaration: contract and permissions, no handler. */
export function toSpec(server: string, tool: AnyTool<object>): ToolSpec {
  return {
    server,
    name: tool.name,
    title: tool.title,
    description: tool.description,
    toolset: tool.toolset,
    tier: tool.tier,
    scopes: tool.scopes,
    annotations: tool.annotations,
    inputSchema: jsonSchemaOf(tool.input, 'input'),
    outputSchema: jsonSchemaOf(tool.output, 'output'),
  };
}

/**
 * Input fields marked `.meta({ sensitive: true })` (a new secret value, a password...): never written
 * to audit records, plans or logs. Returns their property names at any depth.
 */
export function sensitiveKeysOf(schema: Record<string, unknown>): string[] {
  const keys = new Set<string>();
  const walk = (node: unknown) => {
    if (!node || typeof node !== 'object') return;
    const props = (node as { properties?: Record<string, unknown> }).properties;
    for (const [name, child] of Object.entries(props ?? {})) {
      if ((child as { sensitive?: unknown })?.sensitive === true) keys.add(name);
      walk(child);
    }
    for (const k of ['items', 'anyOf', 'oneOf', 'allOf', 'additionalProperties']) {
      const v = (node as Record<string, unknown>)[k];
      if (Array.isArray(v)) v.forEach(walk);
      else walk(v);
    }
  };
  walk(schema);
  return [...keys];
}
