/** Input and output shapes shared by the GitLab tools: defined once, described once. */
import { z } from 'zod';
import type { fitPage } from '../backend.js';

const SEGMENT = '[A-Za-z0-9_][A-Za-z0-9_.-]*';

export const ProjectPath = z
  .string()
  .min(3)
  .max(255)
  .regex(new RegExp(`^${SEGMENT}(/${SEGMENT})+$`), 'must be a full path like "group/project"')
  .describe('Project full path, e.g. "platform/api"');

export const GroupPath = z
  .string()
  .min(1)
  .max(255)
  .regex(new RegExp(`^${SEGMENT}(/${SEGMENT})*$`), 'must be a group full path like "platform" or "platform/infra"')
  .describe('Group full path, e.g. "platform"');

export const Id = z
  .number()
  .int()
  .min(1)
  .max(2 ** 53 - 1);

export const Limit = z.number().int().min(1).max(100).default(20).describe('Items per page (max 100)');
export const Cursor = z.string().max(64).optional().describe('nextCursor of the previous page');
export const Search = z.string().min(1).max(100).optional().describe('Text search');

/** Page facts for every list: total is null when GitLab does not count. */
export const Paging = {
  total: z.number().int().nullable(),
  truncated: z.boolean(),
  nextCursor: z.string().optional(),
};

export function pagingOf(p: ReturnType<typeof fitPage>) {
  return { total: p.total, truncated: p.truncated, ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
}

export const UserRef = z.object({ username: z.string(), name: z.string() });
export type UserRefT = z.infer<typeof UserRef>;

export function userRef(u: unknown): UserRefT | null {
  if (!u || typeof u !== 'object') return null;
  const o = u as { username?: unknown; name?: unknown };
  return { username: String(o.username ?? ''), name: String(o.name ?? '') };
}

export const Empty = z.object({}).describe('no filters');

/** Clips free text (descriptions, comments) to a stated size. */
export function clip(text: unknown, max: number): string {
  const s = typeof text === 'string' ? text : '';
  return s.length <= max ? s : `${s.slice(0, max)}… [${s.length - max} more chars]`;
}

// GitLab records are loose JSON; tools read fields by name.
export type Rec = Record<string, unknown>;
export const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));
export const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v) || 0);
export const numOrNull = (v: unknown): number | null => (typeof v === 'number' ? v : null);
