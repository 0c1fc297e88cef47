/**
 * SPIFFE ID allowlist patterns: an exact ID, or an ID whose last segment is `*` (one segment) or
 * `**` (any number of trailing segments). `spiffe://ravenhelm.local/agent/*` matches
 * `spiffe://ravenhelm.local/agent/oncall` but not `.../agent/oncall/sub`.
 */
export function spiffeMatches(pattern: string, id: string): boolean {
  if (pattern === id) return true;
  if (pattern.endsWith('/**')) {
    const prefix = pattern.slice(0, -2);
    return id.startsWith(prefix) && wellFormedSegments(id.slice(prefix.length));
  }
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -1);
    if (!id.startsWith(prefix)) return false;
    const rest = id.slice(prefix.length);
    return !rest.includes('/') && wellFormedSegments(rest);
  }
  return false;
}

/** One or more non-empty path segments: `a` or `a/b`, never ``, `a/` or `a//b`. */
function wellFormedSegments(rest: string): boolean {
  return rest.length > 0 && rest.split('/').every((segment) => segment.length > 0);
}

export function spiffeAllowed(patterns: readonly string[], id: string | undefined): boolean {
  return id !== undefined && patterns.some((p) => spiffeMatches(p, id));
}
