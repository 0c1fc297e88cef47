/** Input and output shapes shared by the GitLab tools: defined once, described once. */
import { charStartFrom, clipHeadJson, pageList, sliceChars } from '@ravenhelm/kit';
import { z } from 'zod';
import type { fitPage } from '../backend.js';

// Short patterns on purpose: every tool repeats them in tools/list; GitLab checks the rest.
export const ProjectPath = z
  .string()
  .max(255)
  .regex(/^[\w.-]+(\/[\w.-]+)+$/, 'must be a full path like "group/project"')
  .describe('group/project');

export const GroupPath = z
  .string()
  .max(255)
  .regex(/^[\w.-]+(\/[\w.-]+)*$/, 'must be a group path like "platform" or "platform/infra"')
  // GitLab reads a number as a group id, which the allowlist (over paths) cannot judge
  .refine((p) => !/^\d+$/.test(p), 'a number is a group id to GitLab; give the group path like "platform"')
  .describe('group or group/subgroup');

export const Id = z.int().min(1).max(1e12);

export const Limit = z.int().min(1).max(100).default(20);
export const Cursor = z.string().max(64).optional().describe('nextCursor from the last page');
export const Search = z.string().min(1).max(100).optional().describe('Text search');

/** Page facts for every list: total is null when GitLab does not count. */
export const Paging = {
  total: z.number().nullable(),
  truncated: z.boolean(),
  nextCursor: z.string().optional(),
};

export function pagingOf(p: ReturnType<typeof fitPage>) {
  return { total: p.total, truncated: p.truncated, ...(p.nextCursor ? { nextCursor: p.nextCursor } : {}) };
}

/** A user as lists show them: the username (users_get has the rest). */
export const UserRef = z.string().nullable();

export function userRef(u: unknown): string | null {
  if (!u || typeof u !== 'object') return null;
  const name = (u as { username?: unknown }).username;
  return typeof name === 'string' ? name : null;
}

export const Empty = z.object({}).describe('no filters');

/** Clips free text (descriptions, comments) to a stated size. */
export function clip(text: unknown, max: number): string {
  const s = typeof text === 'string' ? text : '';
  return s.length <= max ? s : `${sliceChars(s, max)}… [${s.length - max} more chars]`;
}

// GitLab records are loose JSON; tools read fields by name.
export type Rec = Record<string, unknown>;
export const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));
export const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v) || 0);
export const numOrNull = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** The first `items` whose JSON fits `maxBytes` (always at least one). */
export const fitItems = <T>(items: readonly T[], maxBytes: number): T[] => pageList(items, { maxBytes }).items;

/** Where a text read in windows starts: a byte offset from the last answer's nextOffset. */
export const Offset = z.number().int().min(0).default(0).describe('Start byte (from nextOffset)');

/**
 * The window of a text from byte `offset` (moved forward to a character's start), at most `maxBytes` and
 * cut at a line end when there is one (clipHeadJson), with `nextOffset` where the rest starts when it was cut.
 */
export function textWindow(
  buf: Buffer,
  offset: number,
  maxBytes: number,
  maxJsonBytes: number,
): { text: string; truncated: boolean; nextOffset?: number } {
  const start = charStartFrom(buf, offset);
  const clipped = clipHeadJson(buf.subarray(start).toString('utf8'), maxBytes, maxJsonBytes);
  if (!clipped.truncated) return { text: clipped.text, truncated: false };
  return { text: clipped.text, truncated: true, nextOffset: start + Buffer.byteLength(clipped.text) };
}
