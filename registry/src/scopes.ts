/**
 * Scopes are `mcp:<server>:<level>` with admin > write > read: a granted higher level satisfies a lower one.
 * Other scopes must match exactly.
 */
const LEVELS = ['read', 'write', 'admin'] as const;
const SCOPE = /^mcp:([a-z0-9-]+):(read|write|admin)$/;

export function scopeSatisfied(granted: readonly string[], required: string): boolean {
  if (granted.includes(required)) return true;
  const need = SCOPE.exec(required);
  if (!need) return false;
  const needRank = LEVELS.indexOf(need[2] as (typeof LEVELS)[number]);
  return granted.some((g) => {
    const have = SCOPE.exec(g);
    return have !== null && have[1] === need[1] && LEVELS.indexOf(have[2] as (typeof LEVELS)[number]) >= needRank;
  });
}

/** The required scopes the caller lacks (empty when all are satisfied). */
export function missingScopes(granted: readonly string[], required: readonly string[]): string[] {
  return required.filter((r) => !scopeSatisfied(granted, r));
}

export function isValidScope(scope: string): boolean {
  return /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope);
}
