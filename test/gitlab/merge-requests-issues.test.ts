import { describe, expect, it } from 'vitest';
import type { SimDiff, SimMergeRequest } from '../simulators/gitlab.js';
import { call, callError, simulatorFor, start } from './harness.js';

const fx = simulatorFor();

const MR = { project: 'platform/api', iid: 7 };

describe('merge requests', () => {
  it('lists by state with exact totals', async () => {
    const opened = await call('merge_requests_list', { project: 'platform/api' }, fx.services);
    expect(opened.total).toBe(1);
    expect(opened.mergeRequests[0]).toMatchObject({ iid: 7, author: 'alice', sourceBranch: 'feature/invoices' });
    const all = await call('merge_requests_list', { project: 'platform/api', state: 'all' }, fx.services);
    // GitLab's default order is created_at desc (merge_requests.md `order_by`): !7 was opened after !8
    expect(all.mergeRequests.map((m: { iid: number }) => m.iid)).toEqual([7, 8]);
  });

  it('gets one with its head pipeline and approval state', async () => {
    const mr = await call('merge_requests_get', MR, fx.services);
    expect(mr).toMatchObject({
      iid: 7,
      pipelineId: 1030,
      pipelineStatus: 'failed',
      approvalsRequired: 2,
      approvalsLeft: 1,
      approvedBy: ['bob'],
      changesCount: '16',
      overflow: false,
      mergeStatus: 'mergeable',
    });
  });

  it('says "still checking" (hasConflicts null), not "no conflicts", while GitLab has not checked mergeability', async () => {
    const mr = fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.merge_requests[0];
    if (!mr) throw new Error('seed changed: platform/api has no merge request');
    try {
      // GitLab answers has_conflicts: false in each of these (it is `cannot_be_merged?`)
      for (const [stored, shown] of [
        ['unchecked', 'unchecked'],
        ['checking', 'checking'],
        ['preparing', 'preparing'],
        ['cannot_be_merged_recheck', 'checking'],
        ['cannot_be_merged_rechecking', 'checking'],
      ] as const) {
        mr.merge_status = stored;
        const res = await call('merge_requests_get', MR, fx.services);
        // before the fix: hasConflicts false, read by an agent as "no conflicts"
        expect(res.hasConflicts, stored).toBeNull();
        expect(res.mergeStatus, stored).toBe(shown);
      }
      mr.merge_status = 'cannot_be_merged';
      const conflict = await call('merge_requests_get', MR, fx.services);
      expect(conflict).toMatchObject({ hasConflicts: true, mergeStatus: 'conflict' });
      mr.merge_status = 'can_be_merged';
      const clean = await call('merge_requests_get', MR, fx.services);
      expect(clean).toMatchObject({ hasConflicts: false, mergeStatus: 'mergeable' });
    } finally {
      mr.merge_status = 'can_be_merged';
    }
  });

  it("reports GitLab's overflow when an MR changes more files than GitLab shows", async () => {
    fx.sim.control.diffMaxFiles = 10;
    try {
      const mr = await call('merge_requests_get', MR, fx.services);
      expect(mr.changesCount).toBe('10+');
      expect(mr.overflow).toBe(true);
    } finally {
      fx.sim.control.diffMaxFiles = 1000;
    }
  });

  it('lists changed files with line counts and collapsed/too_large flags, paged', async () => {
    const first = await call('merge_requests_list_changes', { ...MR, limit: 10 }, fx.services);
    expect(first.total).toBe(16);
    expect(first.files).toHaveLength(10);
    const rest = await call('merge_requests_list_changes', { ...MR, limit: 10, cursor: first.nextCursor }, fx.services);
    expect(rest.nextCursor).toBeUndefined();
    const files = [...first.files, ...rest.files];
    expect(files).toHaveLength(16);
    const byPath = Object.fromEntries(files.map((f: { newPath: string }) => [f.newPath, f]));
    // a collapsed file comes without its patch: nothing to count
    expect(byPath['src/billing.ts']).toMatchObject({ collapsed: true, tooLarge: false, added: 0, removed: 0 });
    expect(byPath['src/ledger.ts']).toMatchObject({ collapsed: false, added: 400, removed: 400 });
    expect(byPath['data/fixtures.json']).toMatchObject({ change: 'added', tooLarge: true });
    expect(byPath['src/new-name.ts']).toMatchObject({ change: 'renamed', oldPath: 'src/old-name.ts' });
  });

  it("returns one file's diff, byte-capped with the cut stated", async () => {
    const small = await call('merge_requests_get_diff', { ...MR, path: 'src/gen/file3.ts' }, fx.services);
    expect(small).toMatchObject({ truncated: false, note: null, added: 3, removed: 3 });
    expect(small.diff).toContain('+new f3 line 2');
    const big = await call('merge_requests_get_diff', { ...MR, path: 'src/ledger.ts', maxBytes: 2048 }, fx.services);
    expect(big.truncated).toBe(true);
    expect(Buffer.byteLength(big.diff)).toBeLessThanOrEqual(2048);
    expect(big.diffBytes).toBeGreaterThan(10_000);
    expect(big.note).toBe(
      `diff cut at byte ${big.nextOffset} of ${big.diffBytes}; repeat with offset=${big.nextOffset} for the rest`,
    );
    // the windows put together are the whole diff
    let diff = big.diff;
    let at = big.nextOffset;
    for (let n = 0; at !== undefined && n < 40; n++) {
      const w = await call(
        'merge_requests_get_diff',
        { ...MR, path: 'src/ledger.ts', maxBytes: 2048, offset: at },
        fx.services,
      );
      expect(w.diffBytes).toBe(big.diffBytes);
      diff += w.diff;
      at = w.nextOffset;
    }
    expect(at).toBeUndefined();
    expect(Buffer.byteLength(diff)).toBe(big.diffBytes);
    const whole = await call(
      'merge_requests_get_diff',
      { ...MR, path: 'src/ledger.ts', maxBytes: 60_000 },
      fx.services,
    );
    expect(whole.truncated).toBe(false);
    expect(diff).toBe(whole.diff);
  });

  it('says when GitLab collapsed a diff or keeps none (too large), where to read the file, and when it is not in the MR', async () => {
    const head = 'f'.repeat(40); // the simulator's diff_refs.head_sha of !7 (no head pipeline sha: see mrJson)
    const collapsed = await call('merge_requests_get_diff', { ...MR, path: 'src/billing.ts' }, fx.services);
    expect(collapsed).toMatchObject({ collapsed: true, truncated: true, diff: '' });
    expect(collapsed.note).toMatch(
      /collapsed.*"src\/billing.ts" at ref a{40} and "src\/billing.ts" at ref \w{40} with repository_get_file/,
    );
    const tooLarge = await call('merge_requests_get_diff', { ...MR, path: 'data/fixtures.json' }, fx.services);
    expect(tooLarge).toMatchObject({ tooLarge: true, truncated: true, diff: '' });
    // an added file: only the head has it
    expect(tooLarge.note).toMatch(/too_large.*read "data\/fixtures.json" at ref \w{40} with repository_get_file$/);
    expect(tooLarge.note).not.toContain('a'.repeat(40));
    expect(head).toHaveLength(40);
    const missing = await callError('merge_requests_get_diff', { ...MR, path: 'nope.ts' }, fx.services);
    expect(missing.code).toBe('ERR_NOT_FOUND');
    expect(missing.message).toMatch(/merge_requests_list_changes/);
  });

  it('a file past the pages one call reads is found by following the cursor, never reported as unchanged', async () => {
    // an administrator may raise "Maximum diff files" to 3,000 (diff_limits.md): more files than one call reads
    const big = await start();
    try {
      big.sim.control.diffMaxFiles = 3000;
      const mr = big.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.merge_requests[0];
      const template = mr?.diffs[0] as SimDiff;
      (mr as SimMergeRequest).diffs = Array.from({ length: 2050 }, (_, i) => ({
        ...template,
        old_path: `src/gen/many${i}.ts`,
        new_path: `src/gen/many${i}.ts`,
      }));
      let res = await call('merge_requests_get_diff', { ...MR, path: 'src/gen/many2049.ts' }, big.services);
      let calls = 1;
      while (res.nextCursor && calls < 20) {
        expect(res.note).toMatch(/call again with cursor=/);
        expect(res.newPath).toBeUndefined();
        res = await call(
          'merge_requests_get_diff',
          { ...MR, path: 'src/gen/many2049.ts', cursor: res.nextCursor },
          big.services,
        );
        calls++;
      }
      expect(res.newPath).toBe('src/gen/many2049.ts');
      expect(calls).toBeGreaterThan(1);
      // the 2,050th file is past GitLab's safe limit of 100 files: collapsed, said so, and where to read it
      expect(res).toMatchObject({ collapsed: true, diff: '', truncated: true });
      expect(res.note).toMatch(/collapsed.*repository_get_file/);
      // a GitLab that reads the diffs expanded sends it
      big.sim.control.diffsExpanded = true;
      let expanded = await call('merge_requests_get_diff', { ...MR, path: 'src/gen/many2049.ts' }, big.services);
      for (let n = 0; expanded.nextCursor && n < 20; n++)
        expanded = await call(
          'merge_requests_get_diff',
          { ...MR, path: 'src/gen/many2049.ts', cursor: expanded.nextCursor },
          big.services,
        );
      expect(expanded).toMatchObject({ collapsed: false, truncated: false, note: null });
      expect(expanded.diff).toContain('+new f0 line 0');
    } finally {
      await big.close();
    }
  });

  it('comments on an MR', async () => {
    const res = await call('merge_requests_comment', { ...MR, body: 'LGTM after the rounding fix' }, fx.services);
    expect(res.noteId).toBeGreaterThan(0);
    const mr = fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.merge_requests[0];
    expect(mr?.notes.at(-1)).toMatchObject({ body: 'LGTM after the rounding fix', author_id: 2 });
  });
});

describe('issues', () => {
  it('lists, filters by label and search, and gets one', async () => {
    const open = await call('issues_list', { project: 'platform/api' }, fx.services);
    expect(open.total).toBe(4);
    const bugs = await call('issues_list', { project: 'platform/api', labels: ['bug'] }, fx.services);
    expect(bugs.issues.map((i: { iid: number }) => i.iid)).toEqual([3]);
    const closed = await call('issues_list', { project: 'platform/api', state: 'closed' }, fx.services);
    expect(closed.issues.map((i: { iid: number }) => i.iid)).toEqual([5]);
    const one = await call('issues_get', { project: 'platform/api', iid: 3 }, fx.services);
    expect(one).toMatchObject({
      title: 'Invoice totals off by a cent',
      assignees: ['alice'],
      labels: ['bug', 'billing'],
    });
  });

  it('creates, comments on and closes an issue', async () => {
    const created = await call(
      'issues_create',
      { project: 'platform/api', title: 'Flaky e2e', description: 'seen twice', labels: ['ci'] },
      fx.services,
    );
    expect(created).toMatchObject({ iid: 6, state: 'opened', labels: ['ci'], author: 'ravenhelm-bot' });
    const note = await call('issues_comment', { project: 'platform/api', iid: 6, body: 'retrying' }, fx.services);
    expect(note.noteId).toBeGreaterThan(0);
    const closed = await call('issues_close', { project: 'platform/api', iid: 6 }, fx.services);
    expect(closed.state).toBe('closed');
    expect(closed.comments).toBe(1);
    const again = await call('issues_close', { project: 'platform/api', iid: 6 }, fx.services);
    expect(again.state).toBe('closed');
  });

  it('a missing issue is ERR_NOT_FOUND with GitLab message', async () => {
    const err = await callError('issues_get', { project: 'platform/api', iid: 999 }, fx.services);
    expect(err.code).toBe('ERR_NOT_FOUND');
    expect(err.message).toMatch(/404 Issue Not Found/);
  });
});
