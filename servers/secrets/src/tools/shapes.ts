import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { ISSUES } from '../checks.js';

/** Shapes shared by several tools, defined once. Output schemas carry shapes only. */
export const SecretName = z.string().max(2048).describe('Name or ARN in the store');

export const SecretMeta = z.object({
  name: z.string(),
  description: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  created: z.string().optional(),
  changed: z.string().optional(),
  accessed: z.string().optional(),
  rotated: z.string().optional(),
  rotationEnabled: z.boolean().optional(),
  deleted: z.string().optional(),
});
export type SecretMeta = z.input<typeof SecretMeta>;

export const Stages = z.record(z.string(), z.array(z.string()));

export const Issue = z.enum(ISSUES);

export const Page = {
  truncated: z.boolean(),
  nextCursor: z.string().optional(),
};

export const Cursor = z.string().max(4096).optional().describe('From nextCursor');

/**
 * Where a listing continues: the service's NextToken of the page it is in (none: the first page) and how many
 * entries of that page were already answered. A page is listed again to continue inside it, so an answer cut
 * by the output budget loses nothing.
 */
export interface ListCursor {
  t?: string;
  s: number;
}

export function decodeListCursor(cursor: string | undefined): ListCursor {
  if (!cursor) return { s: 0 };
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as ListCursor;
    if (Number.isInteger(c.s) && c.s >= 0 && c.s < 100 && (c.t === undefined || typeof c.t === 'string')) return c;
  } catch {
    // fall through
  }
  throw new ToolError('ERR_INVALID_INPUT', 'cursor is not one this tool returned; list again without it');
}

/**
 * The cursor after an answer that covered the page's entries up to `consumed` (of `listed`): the rest of that
 * page, else the next page, else none (the listing is complete).
 */
export function nextListCursor(
  at: ListCursor,
  consumed: number,
  listed: number,
  nextToken: string | undefined,
): string | undefined {
  const next: ListCursor | undefined =
    consumed < listed ? { ...(at.t ? { t: at.t } : {}), s: consumed } : nextToken ? { t: nextToken, s: 0 } : undefined;
  return next ? Buffer.from(JSON.stringify(next)).toString('base64url') : undefined;
}
