import type { Tier, ToolAnnotations } from './types.js';

/**
 * The MCP defaults of the four hints (schema.ts `ToolAnnotations`, protocol 2025-06-18 through
 * 2025-11-25): readOnlyHint "Default: false", destructiveHint "Default: true", idempotentHint
 * "Default: false", openWorldHint "Default: true"; destructiveHint and idempotentHint are "meaningful
 * only when `readOnlyHint == false`".
 */
const SPEC_DEFAULTS: ToolAnnotations = {
  readOnlyHint: false,
  destructiveHint: true,
  idempotentHint: false,
  openWorldHint: true,
};
const WRITE_ONLY_HINTS = new Set<keyof ToolAnnotations>(['destructiveHint', 'idempotentHint']);
const ORDER = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

/**
 * The hints as tools/list sends them: only those that differ from the spec's defaults, and on a
 * read-only tool never destructiveHint or idempotentHint (the spec gives them no meaning there). A
 * client applying the spec's defaults reads exactly the declared annotations back (`readAnnotations`).
 * Policy (read-only mode, confirmation of destructive tools, audit) keeps using the registry's full
 * declaration, never this trimmed form.
 */
export function advertisedAnnotations(a: ToolAnnotations): Partial<ToolAnnotations> {
  const out: Partial<ToolAnnotations> = {};
  for (const key of ORDER) {
    if (a[key] === SPEC_DEFAULTS[key]) continue;
    if (a.readOnlyHint && WRITE_ONLY_HINTS.has(key)) continue;
    out[key] = a[key];
  }
  return out;
}

/**
 * What a client following the spec understands from advertised hints: absent hints take their
 * defaults. On a read-only tool the write-only hints are meaningless, so they read as "not
 * destructive" and "idempotent" (repeating a call that changes nothing has no further effect).
 */
export function readAnnotations(advertised: Partial<ToolAnnotations>): ToolAnnotations {
  const a = { ...SPEC_DEFAULTS, ...advertised };
  return a.readOnlyHint ? { ...a, destructiveHint: false, idempotentHint: true } : a;
}

/**
 * The tool's `_meta` in tools/list: what the registry requires of a caller (tier and scopes), which
 * clients use for their own policy. The toolset is not sent: with dynamic toolsets `toolsets_list`
 * names each toolset's tools, and without them a client cannot act on it.
 */
export function listedMeta(t: { tier: Tier; scopes: readonly string[] }): {
  ravenhelm: { tier: Tier; scopes: readonly string[] };
} {
  return { ravenhelm: { tier: t.tier, scopes: t.scopes } };
}
