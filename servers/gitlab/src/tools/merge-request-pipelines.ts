/**
 * The pipelines a branch's merge requests triggered. GitLab runs them on refs/merge-requests/<iid>/head,
 * /merge and /train, never on the branch (doc/ci/pipelines/merge_request_pipelines.md), so pipelines_list
 * and pipelines_diagnose given a branch look for them here, and say what they did not read.
 */
import { type Api, countOf } from '../backend.js';
import { GitLabHttpError } from '../client.js';
import { num, type Rec, str } from './shapes.js';

/** "merge requests ... not read: ..." naming what branchMergeRequestPipelines skipped; undefined when it read all. */
export function notRead(found: BranchMergeRequests): string | undefined {
  const more = found.total - found.read.length - found.skipped.length;
  if (found.skipped.length === 0 && more <= 0) return undefined;
  const named = [...found.skipped.map((mr) => `!${mr.iid} ${mr.state}`), ...(more > 0 ? [`${more} more`] : [])];
  return `merge requests of this branch not read: ${named.join(', ')} (the ${found.read.length} most recently updated of ${found.total} were; list another's with ref refs/merge-requests/<iid>/head, /merge or /train)`;
}

/** Merge requests of one source branch whose pipelines are read: the most recently updated, any state. */
const MR_LOOKUPS = 3;
/** Merge requests listed by the one request that finds those: the rest of them are named as not read. */
const MR_LISTED = 20;
/** Pipelines read per merge request: one page, the ones it triggered first. */
const MR_PIPELINES_PAGE = 100;
/** The refs a merge request's pipelines run on (merge_request.rb `ref_path`, `merge_ref_path`, `train_ref_path`). */
const MR_REFS = ['head', 'merge', 'train'] as const;

interface MergeRequestPipelines {
  iid: number;
  state: string;
  /** Per ref: how many pipelines (with the status asked), whether GitLab counted them all, the newest. */
  refs: Map<string, { count: number; counted: boolean; newest: Rec | undefined }>;
}

export interface BranchMergeRequests {
  read: MergeRequestPipelines[];
  /** This project's merge requests of the branch that were not read (most recently updated first). */
  skipped: { iid: number; state: string }[];
  /** This project's merge requests of the branch, all of them (GitLab's count). */
  total: number;
}

/**
 * The pipelines the branch's latest merge requests (opened, merged or closed: a merged branch's failures are
 * still its own; not a fork's) triggered, with `status` when given. GET /merge_requests/:iid/pipelines lists
 * them (head, merged results and merge train pipelines) before the branch pipelines it adds, newest first
 * (app/models/merge_request/pipelines.rb `sort`), so one page of 100 that also holds another kind, or is the
 * last, holds them all. That endpoint pages by offset only and has no filters (doc/api/rest/_index.md offers
 * keyset paging for neither it nor the merge request list), so when a merge request triggered more, each of
 * its three refs is counted by the pipelines API instead (per_page 1: GitLab's x-total, exact up to 10,000,
 * and the newest). Requests: 1 to list the merge requests (2 when forks' merge requests from a branch of the
 * same name fill the first MR_LISTED), 1 per merge request read, 3 more for each with over 100: at most 14.
 */
export async function branchMergeRequestPipelines(
  api: Api,
  path: string,
  branch: string,
  status: string | undefined,
): Promise<BranchMergeRequests> {
  const own = await branchMergeRequests(api, path, branch);
  if (!own) return { read: [], skipped: [], total: 0 };
  const read: MergeRequestPipelines[] = [];
  for (const mr of own.mrs.slice(0, MR_LOOKUPS)) {
    const iid = num(mr.iid);
    const res = (await api.MergeRequests.allPipelines(path, iid, {
      page: 1,
      perPage: MR_PIPELINES_PAGE,
      maxPages: 1,
      showExpanded: true,
    } as never)) as unknown as { data: Rec[]; paginationInfo: { next: number | null } };
    const prefix = `refs/merge-requests/${iid}/`;
    const triggered = res.data.filter((p) => str(p.ref).startsWith(prefix));
    const refs: MergeRequestPipelines['refs'] = new Map();
    if (triggered.length < res.data.length || !res.paginationInfo.next) {
      for (const p of triggered) {
        if (status && p.status !== status) continue;
        const at = refs.get(str(p.ref));
        if (at) at.count++;
        else refs.set(str(p.ref), { count: 1, counted: true, newest: p });
      }
    } else
      for (const ref of MR_REFS.map((r) => `${prefix}${r}`)) {
        const counted = await countPipelines(api, path, ref, status);
        if (counted.count > 0) refs.set(ref, counted);
      }
    read.push({ iid, state: str(mr.state), refs });
  }
  const skipped = own.mrs.slice(MR_LOOKUPS).map((mr) => ({ iid: num(mr.iid), state: str(mr.state) }));
  return { read, skipped, total: Math.max(own.total, read.length + skipped.length) };
}

/**
 * This project's merge requests from `branch`, most recently updated first, and how many there are. GitLab
 * filters source_branch by name only, so forks' merge requests from a branch of that name come too (their
 * source_project_id is the fork's, merge_requests.md); when a page of them came with more to follow, the list
 * is asked again with source_project_id (lib/api/helpers/merge_requests_helpers.rb) so the page and its count
 * are this project's. Undefined when merge requests are turned off (project_policy.rb `merge_requests_disabled`: 403).
 */
async function branchMergeRequests(api: Api, path: string, branch: string) {
  type Listed = { data: Rec[]; paginationInfo: { total: number; next: number | null } };
  const list = async (extra: Rec) =>
    (await api.MergeRequests.all({
      projectId: path,
      sourceBranch: branch,
      orderBy: 'updated_at',
      sort: 'desc',
      page: 1,
      perPage: MR_LISTED,
      maxPages: 1,
      showExpanded: true,
      ...extra,
    } as never)) as unknown as Listed;
  let res: Listed;
  try {
    res = await list({});
  } catch (err) {
    if (err instanceof GitLabHttpError && err.status === 403) return undefined;
    throw err;
  }
  const isOwn = (mr: Rec) => mr.source_project_id === mr.project_id;
  const projectId = res.data[0]?.project_id;
  if (res.paginationInfo.next && !res.data.every(isOwn) && projectId !== undefined)
    res = await list({ sourceProjectId: projectId });
  const mrs = res.data.filter(isOwn);
  // GitLab's count is of this project's merge requests only when every one listed is
  const total = countOf(res.paginationInfo.total, res.data.length);
  return { mrs, total: total !== null && mrs.length === res.data.length ? total : mrs.length };
}

/** How many pipelines ran on `ref` (with `status`), whether GitLab counted them (it stops past 10,000), the newest. */
async function countPipelines(api: Api, path: string, ref: string, status: string | undefined) {
  const res = (await api.Pipelines.all(path, {
    ref,
    ...(status ? { status } : {}),
    orderBy: 'id',
    sort: 'desc',
    page: 1,
    perPage: 1,
    maxPages: 1,
    showExpanded: true,
  } as never)) as unknown as { data: Rec[]; paginationInfo: { total: number; next: number | null } };
  const newest = res.data[0];
  const total = countOf(res.paginationInfo.total, res.data.length);
  if (total !== null) return { count: total, counted: true, newest };
  // doc/api/rest/_index.md: x-total is left out only past 10,000 rows
  return res.paginationInfo.next
    ? { count: 10_000, counted: false, newest }
    : { count: res.data.length, counted: true, newest };
}

/** The newest failed pipeline the branch's latest merge requests triggered, and which ones were not read. */
export async function mergeRequestFailure(api: Api, path: string, branch: string) {
  const found = await branchMergeRequestPipelines(api, path, branch, 'failed');
  let newest: Rec | undefined;
  for (const mr of found.read)
    for (const { newest: p } of mr.refs.values()) if (p && (!newest || num(p.id) > num(newest.id))) newest = p;
  return { newest, unread: notRead(found) };
}
