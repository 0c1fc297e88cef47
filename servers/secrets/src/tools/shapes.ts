import { createHash } from 'node:crypto';
import { clipChars, ownRecord, ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { ISSUES } from '../checks.js';

/** Shapes shared by several tools, defined once. Output schemas carry shapes only. */
/**
 * A secret's name or ARN, checked as the service checks it (API reference): SecretId is 1-2048 characters;
 * CreateSecret Name is 1-512 ASCII letters, digits and /_+=.@- ; secrets other AWS services create also hold
 * "!" (User Guide, "Secrets managed by other AWS services": ServiceID!MySecret). An ARN names a Secrets Manager
 * secret: arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME (with or without its random suffix). Checked
 * in a refinement, so the tools/list schema stays as it is.
 */
export const SecretName = z
  .string()
  .max(2048)
  .superRefine((v, ctx) => {
    const problem = secretNameProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('Name or ARN in the store');

const NAME_CHARS = /^[A-Za-z0-9/_+=.@!-]+$/;
const SECRET_ARN = /^arn:[a-z-]+:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]+$/;

function secretNameProblem(v: string): string | undefined {
  const names = 'a secret name is 1-512 ASCII letters, digits and /_+=.@- (secrets_list shows them)';
  if (v === '') return `is empty: ${names}, or give the secret's ARN`;
  if (v.startsWith('arn:')) {
    return SECRET_ARN.test(v)
      ? undefined
      : `${JSON.stringify(clipChars(v, 120))} is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX); give the name (secrets_list) or the complete ARN`;
  }
  if (v.length > 512) return `is ${v.length} characters; ${names}`;
  if (!NAME_CHARS.test(v)) {
    const bad = [...new Set([...v].filter((c) => !NAME_CHARS.test(c)))]
      .slice(0, 5)
      .map((c) => JSON.stringify(c))
      .join(', ');
    return `${JSON.stringify(clipChars(v, 120))} holds ${bad}, which no secret name contains: ${names}`;
  }
  return undefined;
}

export const SecretMeta = z.object({
  name: z.string(),
  description: z.string().optional(),
  // a tag key is data ("__proto__" is a valid one): z.record would drop it
  tags: ownRecord(z.string()).optional(),
  created: z.string().optional(),
  changed: z.string().optional(),
  accessed: z.string().optional(),
  rotated: z.string().optional(),
  rotationEnabled: z.boolean().optional(),
  deleted: z.string().optional(),
});
export type SecretMeta = z.input<typeof SecretMeta>;

/** Version id to its staging labels, every own key kept (the map comes from the service). */
export const Stages = ownRecord(z.array(z.string()));

export const Issue = z.enum(ISSUES);

export const Page = {
  truncated: z.boolean(),
  nextCursor: z.string().optional(),
};

// A NextToken may hold 4,096 characters (API reference, ListSecrets): with its position and listing, in base64url,
// a cursor carrying one is about 5,500.
export const Cursor = z.string().max(8192).optional().describe('From nextCursor');

/**
 * Where a listing continues: the service's NextToken of the page it is in (none: the first page), how many
 * entries of that page were already answered, and which listing it is (`q`, a digest of the tool and its filters).
 * A page is listed again to continue inside it, so an answer cut by the output budget loses nothing. A cursor
 * given with other filters is refused: its position counts entries of another listing, and skipping that many
 * of this one would leave them out without a word.
 */
export interface ListCursor {
  t?: string;
  s: number;
  q: string;
}

/** `listing`: the tool's name and every filter that decides what the listing holds (not the page size). */
export function decodeListCursor(cursor: string | undefined, listing: Record<string, unknown>): ListCursor {
  const q = createHash('sha256').update(JSON.stringify(listing)).digest('base64url').slice(0, 10);
  if (!cursor) return { s: 0, q };
  let c: Partial<ListCursor> | undefined;
  try {
    c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Partial<ListCursor>;
  } catch {
    // refused below
  }
  const valid =
    c !== undefined &&
    c !== null &&
    Number.isInteger(c.s) &&
    (c.s as number) >= 0 &&
    (c.s as number) < 100 &&
    (c.t === undefined || typeof c.t === 'string');
  if (!valid) throw new ToolError('ERR_INVALID_INPUT', 'cursor is not one this tool returned; list again without it');
  if (c?.q !== q) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      'cursor is from a listing with other filters (or of another tool): give the same filters as the call that returned it, or list again without it',
    );
  }
  return { ...(c.t !== undefined ? { t: c.t } : {}), s: c.s as number, q };
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
    consumed < listed
      ? { ...(at.t ? { t: at.t } : {}), s: consumed, q: at.q }
      : nextToken
        ? { t: nextToken, s: 0, q: at.q }
        : undefined;
  return next ? Buffer.from(JSON.stringify(next)).toString('base64url') : undefined;
}
