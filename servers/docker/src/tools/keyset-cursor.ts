import { encodeCursor, ToolError } from '@ravenhelm/kit';

/** Characters of the last name a cursor carries: `k:` + 12 hex + `:` + this fits the 64-character cursor. */
const NAME_CHARS = 40;
const KEYSET = /^k:([0-9a-f]{12}):([A-Za-z0-9_.-]{0,40})$/;

/**
 * Where a page starts in `all` (sorted by name) for a cursor this server issued. A cursor names the last
 * container shown (short id and the start of its name), not an offset: a container created or removed
 * before it between two pages moves every offset, and an offset cursor then skips or repeats containers
 * without a word. The page resumes right after that container, or, when it was removed meanwhile, at the
 * first name sorting after its name. An offset cursor (the kit's, issued before) still works as it did.
 */
export function keysetStart(
  all: readonly { id: string; name: string }[],
  cursor: string | undefined,
): string | undefined {
  if (cursor === undefined || !cursor.startsWith('k:')) return cursor;
  const m = KEYSET.exec(cursor);
  if (!m) {
    throw new ToolError(
      'ERR_INVALID_INPUT',
      'cursor is not one this server issued; omit it to start from the first page',
    );
  }
  const [, id, name] = m as unknown as [string, string, string];
  const at = all.findIndex((c) => c.id === id);
  const start = at >= 0 ? at + 1 : all.findIndex((c) => c.name.slice(0, NAME_CHARS).localeCompare(name) > 0);
  return encodeCursor(start < 0 ? all.length : start);
}

/** The cursor after `last`, the last item of a page. */
export const keysetAfter = (last: { id: string; name: string }): string =>
  `k:${last.id}:${last.name.slice(0, NAME_CHARS)}`;
