import type { BaseContext } from '@ravenhelm/kit';
import { ToolError } from '@ravenhelm/kit';

type Principal = BaseContext['principal'];

import { z } from 'zod';

/**
 * Who may see a value in clear: `servers.secrets.tools.secrets_get.options.reveal` in the policy file.
 * Off unless listed. A caller must match a subject or a SPIFFE pattern AND hold `mcp:secrets:admin`.
 *
 *   reveal:
 *     subjects: [ops-oncall]
 *     spiffe: [spiffe://ravenhelm.test/ops/*]
 */
export const RevealPolicy = z
  .object({
    subjects: z.array(z.string().min(1)).default([]),
    spiffe: z.array(z.string().regex(/^spiffe:\/\/[^*]+(\/\*|\/\*\*)?$/)).default([]),
  })
  .strict();

export const REVEAL_SCOPE = 'mcp:secrets:admin';

export function revealAllowed(options: Readonly<Record<string, unknown>>, principal: Principal): void {
  if (options.reveal === undefined) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      'reveal is off: values are shown masked unless the policy lists you under servers.secrets.tools.secrets_get.options.reveal',
    );
  }
  const parsed = RevealPolicy.safeParse(options.reveal);
  if (!parsed.success) {
    // Fail closed: a malformed policy reveals nothing.
    throw new ToolError('ERR_NOT_ALLOWED', 'reveal is off: the policy option secrets_get.options.reveal is malformed');
  }
  const policy = parsed.data;
  const bySubject = policy.subjects.includes(principal.subject);
  const bySpiffe =
    principal.spiffeId !== undefined && policy.spiffe.some((p) => spiffeMatch(p, principal.spiffeId as string));
  if (!bySubject && !bySpiffe) {
    throw new ToolError('ERR_NOT_ALLOWED', 'reveal is not allowed for you by the policy; the masked view is available');
  }
  if (!principal.scopes.includes(REVEAL_SCOPE)) {
    throw new ToolError('ERR_NOT_ALLOWED', `reveal needs scope ${REVEAL_SCOPE}; the masked view is available`);
  }
}

/** `spiffe://td/a/b` exact; `.../*` one more segment; `.../**` any depth below. */
export function spiffeMatch(pattern: string, id: string): boolean {
  if (pattern.endsWith('/**')) return id.startsWith(pattern.slice(0, -2)) && id.length > pattern.length - 2;
  if (pattern.endsWith('/*')) {
    const base = pattern.slice(0, -1);
    return id.startsWith(base) && id.length > base.length && !id.slice(base.length).includes('/');
  }
  return pattern === id;
}
