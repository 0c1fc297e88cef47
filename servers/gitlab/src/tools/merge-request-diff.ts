/**
 * One file's diff in a merge request. GitLab has no per-file diff endpoint: GET /merge_requests/:iid/diffs
 * is read page by page until the file turns up, a bounded number of pages per call; a search that has
 * more pages to read ends with a cursor to continue it, never with "not found".
 *
 * What GitLab does to big diffs (lib/gitlab/git/diff.rb, diff_collection.rb; doc/administration/diff_limits.md):
 * a file's patch of diff_max_patch_bytes or more is stored empty and marked `too_large`; releases that read
 * the diffs unexpanded also empty (`collapsed`) a patch over 10% of that and every file past the safe limits;
 * a merge request over diff_max_files, diff_max_lines (or max_files x 5 KB) has only its first files stored
 * (`changes_count` "N+"). In every case the file itself is still in the repository at the diff's refs.
 */
import { ToolError } from '@ravenhelm/kit';
import { z } from 'zod';
import { decodeOffsetCursor, encodeOffsetCursor, listed, nextPage } from '../backend.js';
import { type CallScope, JSON_ANSWERS_PER_CALL, MAX_JSON_ANSWER_BYTES } from '../client.js';
import type { Api } from '../gitbeaker.js';
import { defineTool } from './define.js';
import { Cursor, Id, Offset, ProjectPath, type Rec, str, textWindow } from './shapes.js';

export const MrIid = Id.describe('Merge request IID (the !number in the project)');

export const ChangedFile = z.object({
  oldPath: z.string(),
  newPath: z.string(),
  change: z.enum(['added', 'deleted', 'renamed', 'modified']),
  added: z.number(),
  removed: z.number(),
  collapsed: z.boolean(),
  tooLarge: z.boolean(),
  /** "old -> new" file mode, when it changed */
  mode: z.string().optional(),
});

export const changeOf = (d: Rec): 'added' | 'deleted' | 'renamed' | 'modified' =>
  d.new_file === true
    ? 'added'
    : d.deleted_file === true
      ? 'deleted'
      : d.renamed_file === true
        ? 'renamed'
        : 'modified';

/**
 * Counts +/- lines of a diff's hunks. Only lines after the first @@ count: GitLab's patches start at the
 * first hunk, and a ---/+++ header (a unified diff's) comes before it, while inside a hunk "+++x" is the
 * added line "++x". "\ No newline at end of file" is a marker, not a line.
 */
export function diffStat(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  let inHunk = false;
  for (const line of diff.split('\n')) {
    if (line.startsWith('@@')) inHunk = true;
    else if (!inHunk) continue;
    else if (line.startsWith('+')) added++;
    else if (line.startsWith('-')) removed++;
  }
  return { added, removed };
}

/** The fields every changed file reports, from one entry of GET /diffs. */
export function changedFile(d: Rec) {
  const a = str(d.a_mode);
  const b = str(d.b_mode);
  return {
    oldPath: str(d.old_path),
    newPath: str(d.new_path),
    change: changeOf(d),
    ...diffStat(str(d.diff)),
    collapsed: d.collapsed === true,
    tooLarge: d.too_large === true,
    // a new or deleted file's other mode is 0: not a mode change
    ...(a && b && a !== b && a !== '0' && b !== '0' ? { mode: `${a} -> ${b}` } : {}),
  };
}

/**
 * GitLab's page of merge request diffs holds at most 30 files whatever per_page asks
 * (lib/gitlab/diff/file_collection/paginated_merge_request_diff.rb DEFAULT_PER_PAGE); asking for 30 keeps
 * pages and cursors aligned. A page is then at most 30 x 500 KB (the upper bound of diff_max_patch_bytes).
 */
const DIFF_PAGE = 30;
/** Pages one call reads looking for a file (well inside MAX_REQUESTS_PER_CALL). */
const SEARCH_PAGES = 20;
/** JSON one call may read in all (client.ts): a next page is read only while a full-size answer still fits. */
const SEARCH_JSON_BYTES = JSON_ANSWERS_PER_CALL * MAX_JSON_ANSWER_BYTES;
/** Kept for the merge request itself (its diff refs), read after the pages. */
const MR_RESERVE_BYTES = 1024 * 1024;

/** GitLab's binary notice (Gitlab::Git::Diff::BINARY_NOTICE_PATTERN, sent by json_safe_diff). */
const BINARY_NOTICE = /^Binary files .* and .* differ\n?$/s;

interface DiffRefs {
  base: string;
  head: string;
  /** changes_count with "+": GitLab stored only the first files. */
  overflow: boolean;
  stored: string;
}

async function diffRefs(api: Api, projectPath: string, iid: number): Promise<DiffRefs> {
  const m = (await api.MergeRequests.show(projectPath, iid)) as unknown as Rec;
  const refs = (m.diff_refs ?? {}) as Rec;
  const count = str(m.changes_count);
  return {
    base: str(refs.base_sha) || str(refs.start_sha) || str(m.target_branch),
    head: str(refs.head_sha) || str(m.sha),
    overflow: count.endsWith('+'),
    stored: count.replace(/\+$/, ''),
  };
}

/** Where the whole file can be read when GitLab sends no text of its diff. */
function readItAt(d: Rec, refs: DiffRefs): string {
  const at: string[] = [];
  // names are JSON-quoted: a quote or a newline in one cannot blur where it ends
  if (d.new_file !== true) at.push(`${JSON.stringify(str(d.old_path))} at ref ${refs.base}`);
  if (d.deleted_file !== true) at.push(`${JSON.stringify(str(d.new_path))} at ref ${refs.head}`);
  return `read ${at.join(' and ')} with repository_get_file`;
}

/** Why a file has no diff text, or null when it has some. */
function noTextReason(d: Rec, raw: string): string | null {
  if (d.too_large === true)
    return "GitLab keeps no diff of this file (too_large: the patch reaches the instance's diff_max_patch_bytes)";
  if (d.collapsed === true && raw === '')
    return 'GitLab collapsed this diff (over its collapse limits) and sent no text';
  if (BINARY_NOTICE.test(raw)) return 'a binary file: GitLab sends no text diff';
  return null;
}

/** What an empty diff of a file GitLab did not collapse means. */
function emptyDiffNote(d: Rec): string | null {
  const a = str(d.a_mode);
  const b = str(d.b_mode);
  if (a === '160000' || b === '160000') return 'a submodule: its diff is the commit it points to';
  if (d.renamed_file === true) return 'renamed with the same content';
  if (a && b && a !== b) return `only the file mode changed (${a} -> ${b})`;
  if (d.new_file === true || d.deleted_file === true) return 'an empty file';
  return null;
}

export const mergeRequestsGetDiff = defineTool({
  name: 'merge_requests_get_diff',
  toolset: 'merge_requests',
  tier: 'LOW',
  scopes: ['mcp:gitlab:read'],
  title: "Get one file's diff in a merge request",
  description:
    'Unified diff of one file in a merge request in byte windows; says when GitLab sent no text and where to read the file.',
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    project: ProjectPath,
    iid: MrIid,
    path: z.string().min(1).max(1024).describe('File path, old or new'),
    maxBytes: z.number().int().min(1024).max(60_000).default(16_384).describe('Most bytes of diff returned'),
    offset: Offset,
    cursor: Cursor.describe('nextCursor: continue the search (or a merge_requests_list_changes one)'),
  }),
  output: ChangedFile.partial().extend({
    diff: z.string(),
    diffBytes: z.number(),
    truncated: z.boolean(),
    nextOffset: z.number().optional(),
    /** the file is on a later page: call again with this cursor */
    nextCursor: z.string().optional(),
    note: z.string().nullable(),
  }),
  handler: async ({ project, iid, path, maxBytes, offset, cursor }, { gitlab, signal, maxOutputBytes }) => {
    const projectPath = gitlab.project(project);
    const start = decodeOffsetCursor(cursor) ?? { page: 1, perPage: DIFF_PAGE, skip: 0 };
    return gitlab.call(
      `the diff of ${JSON.stringify(path)} in merge request !${iid} of "${project}"`,
      signal,
      async (api, scope) => {
        let page: number | null = start.page;
        let read = 0;
        // what else `path` may name, answered only when no file is at `path` now (a new file may take the name of
        // one renamed away): a rename from `path`, then a file whose name is `path` in the other Unicode normal
        // form (git keeps a name's bytes as committed: macOS wrote NFD, most typing gives NFC)
        let other: { d: Rec; rank: number } | undefined;
        const nfc = path.normalize('NFC');
        const sameText = (p: unknown) => typeof p === 'string' && p !== path && p.normalize('NFC') === nfc;
        const rankOf = (x: Rec) =>
          x.old_path === path ? 1 : sameText(x.new_path) ? 2 : sameText(x.old_path) ? 3 : Number.POSITIVE_INFINITY;
        const answer = async (d: Rec) =>
          found(d, await refsIfNeeded(d, api, projectPath, iid), offset, maxBytes, maxOutputBytes);
        for (let n = 0; page !== null && n < SEARCH_PAGES && fits(scope); n++) {
          const res = listed<Rec>(
            await api.MergeRequests.allDiffs(projectPath, iid, {
              page,
              perPage: start.perPage,
              showExpanded: true,
              maxPages: 1,
            } as never),
            `the changes of merge request !${iid} of "${project}"`,
            gitlab.url,
          );
          const d = res.data.find((x) => x.new_path === path);
          if (d) return answer(d);
          for (const x of res.data) {
            const rank = rankOf(x);
            if (rank < (other?.rank ?? Number.POSITIVE_INFINITY)) other = { d: x, rank };
          }
          // GitLab lists files in its order: once a page ends past `path`, no later page has a file there
          const last = res.data.at(-1);
          if (other && (!last || gitlabFileOrder(str(last.new_path) || str(last.old_path), path) > 0))
            return answer(other.d);
          read += res.data.length;
          page = nextPage(page, res);
        }
        if (other) return answer(other.d);
        if (page !== null) {
          const nextCursor = encodeOffsetCursor({ page, perPage: start.perPage, skip: 0 });
          return {
            diff: '',
            diffBytes: 0,
            truncated: false,
            nextCursor,
            note: `${JSON.stringify(path)} is not among the ${read} files read from page ${start.page}; this merge request changes more: call again with cursor=${nextCursor} to continue`,
          };
        }
        const refs = await diffRefs(api, projectPath, iid);
        if (refs.overflow)
          throw new ToolError(
            'ERR_NOT_FOUND',
            `GitLab stored only the first ${refs.stored} files of merge request !${iid} of "${project}" (its diff is over the instance's diff limits) and ${JSON.stringify(path)} is not among them, so GitLab has no diff of it; read it at ref ${refs.base} and at ref ${refs.head} with repository_get_file and compare`,
          );
        throw new ToolError(
          'ERR_NOT_FOUND',
          `merge request !${iid} of "${project}" does not change ${JSON.stringify(path)}${cursor ? ` (searched from the cursor's page ${start.page} on)` : ''}; list its files with merge_requests_list_changes`,
        );
      },
    );
  },
});

/**
 * GitLab's order of a merge request's files, in which GET /diffs lists them (Gitlab::Diff::FileCollectionSorter,
 * lib/gitlab/diff/file_collection_sorter.rb, applied when the diff is stored): paths compared part by part,
 * a directory before a file at the same level, names as bytes. Negative when `a` comes before `b`.
 */
export function gitlabFileOrder(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; ; i++) {
    const xLast = i === x.length - 1;
    const yLast = i === y.length - 1;
    if (xLast !== yLast) return xLast ? 1 : -1;
    const c = Buffer.compare(Buffer.from(x[i] ?? ''), Buffer.from(y[i] ?? ''));
    if (c !== 0 || xLast) return c;
  }
}

const fits = (scope: CallScope) =>
  (scope.jsonBytes ?? 0) + MAX_JSON_ANSWER_BYTES + MR_RESERVE_BYTES <= SEARCH_JSON_BYTES;

async function refsIfNeeded(d: Rec, api: Api, projectPath: string, iid: number): Promise<DiffRefs | null> {
  return noTextReason(d, str(d.diff)) ? diffRefs(api, projectPath, iid) : null;
}

function found(d: Rec, refs: DiffRefs | null, offset: number, maxBytes: number, maxOutputBytes: number) {
  const raw = str(d.diff);
  const noText = noTextReason(d, raw);
  const buf = Buffer.from(noText ? '' : raw, 'utf8');
  const w = textWindow(buf, offset, maxBytes, maxOutputBytes - 1024);
  const note =
    noText && refs
      ? `${noText}; ${readItAt(d, refs)}`
      : w.nextOffset !== undefined
        ? `diff cut at byte ${w.nextOffset} of ${buf.length}; repeat with offset=${w.nextOffset} for the rest`
        : buf.length === 0
          ? emptyDiffNote(d)
          : null;
  return {
    ...changedFile(d),
    diff: w.text,
    diffBytes: buf.length,
    truncated: w.truncated || noText !== null,
    ...(w.nextOffset !== undefined ? { nextOffset: w.nextOffset } : {}),
    note,
  };
}
