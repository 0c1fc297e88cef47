/** Projects and pipelines in states GitLab treats apart: archived projects, merge request pipelines. */
import { describe, expect, it } from 'vitest';
import {
  at,
  FAILED_PIPELINE,
  REPORTER_TOKEN,
  type SimMergeRequest,
  type SimPipeline,
  type SimProject,
} from '../simulators/gitlab.js';
import { backendFor, call, callError, simulatorFor } from './harness.js';

const fx = simulatorFor();

const project = (path: string) => fx.sim.state.projects.find((p) => p.path_with_namespace === path) as SimProject;

describe('an archived project', () => {
  it('is read as before, and a refused change says it is archived, not that a higher role is needed', async () => {
    const api = project('platform/api');
    api.archived = true;
    try {
      const got = await call('projects_get', { project: 'platform/api' }, fx.services);
      expect(got.archived).toBe(true);
      const issue = await call('issues_get', { project: 'platform/api', iid: 3 }, fx.services);
      expect(issue.iid).toBe(3);
      for (const [name, args] of [
        ['issues_create', { project: 'platform/api', title: 'x' }],
        ['issues_close', { project: 'platform/api', iid: 3 }],
        ['merge_requests_comment', { project: 'platform/api', iid: 7, body: 'x' }],
        ['pipelines_retry', { project: 'platform/api', pipelineId: FAILED_PIPELINE }],
      ] as const) {
        const err = await callError(name, args, fx.services);
        // before the fix: ERR_NOT_ALLOWED "... (403) (GitLab said: 403 Forbidden); it needs a higher role or the api scope"
        expect(err.code, name).toBe('ERR_CONFLICT');
        expect(err.message, name).toMatch(/"platform\/api" is archived/);
        expect(err.message, name).toMatch(/unarchive/);
        expect(err.message, name).not.toMatch(/higher role/);
      }
      expect(api.issues.find((i) => i.iid === 3)?.state).toBe('opened');
    } finally {
      api.archived = false;
    }
  });

  it('a 403 on a project that is not archived still says what role it needs', async () => {
    const viewer = { gitlab: backendFor(fx.sim.url, { token: REPORTER_TOKEN }) };
    const err = await callError('pipelines_retry', { project: 'platform/api', pipelineId: FAILED_PIPELINE }, viewer);
    expect(err.code).toBe('ERR_NOT_ALLOWED');
    expect(err.message).toMatch(/higher role/);
  });
});

describe('merge request pipelines', () => {
  it("pipelines_diagnose with a branch finds the failure in its merge request's pipelines (refs/merge-requests/<iid>/head)", async () => {
    const api = project('platform/api');
    const mr = api.merge_requests[0];
    if (!mr) throw new Error('seed changed: platform/api has no merge request');
    // doc/ci/pipelines/merge_request_pipelines.md: a merge request pipeline runs on refs/merge-requests/<iid>/head,
    // never on the source branch; a workflow with only merge request pipelines leaves the branch with none
    api.merge_requests.push({ ...mr, id: 790, iid: 9, title: 'Login page', source_branch: 'feature/login', notes: [] });
    const pipeline = (id: number, status: string) => ({
      id,
      iid: id - 1000,
      project_id: api.id,
      ref: 'refs/merge-requests/9/head',
      sha: 'c'.repeat(40),
      status,
      source: 'merge_request_event',
      created_at: at(5000 + id),
      updated_at: at(5001 + id),
      started_at: at(5000 + id),
      finished_at: at(5001 + id),
      duration: 60,
      user_id: 3,
    });
    api.pipelines.push(pipeline(1101, 'failed'), pipeline(1102, 'success'));
    api.jobs.push({
      id: 8101,
      pipeline_id: 1101,
      name: 'login-e2e',
      stage: 'test',
      status: 'failed',
      allow_failure: false,
      failure_reason: 'script_failure',
      retried: false,
      created_at: at(6101),
      started_at: at(6101),
      finished_at: at(6102),
      duration: 30,
      trace:
        'section_start:1:step_script\r\x1b[0K$ npm run e2e\nError: login button not found\nsection_end:2:step_script\r\x1b[0K\n',
    });
    const res = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/login' }, fx.services);
    // before the fix: ERR_NOT_FOUND "no failed pipeline in "platform/api" on feature/login"
    expect(res.pipeline).toMatchObject({ id: 1101, ref: 'refs/merge-requests/9/head', source: 'merge_request_event' });
    expect(res.failedJobs.map((j: { name: string }) => j.name)).toEqual(['login-e2e']);
    expect(res.failedJobs[0].logTail).toContain('login button not found');

    const none = await callError('pipelines_diagnose', { project: 'platform/api', ref: 'no-such-branch' }, fx.services);
    expect(none.code).toBe('ERR_NOT_FOUND');
    expect(none.message).toMatch(/on no-such-branch or in the merge request pipelines .* of its latest merge requests/);
  });

  it('pipelines_diagnose with a branch that has both kinds takes the newest failure, not the branch one first', async () => {
    const api = project('platform/api');
    // feature/invoices (!7) has a failed branch pipeline (1030); a newer merge request pipeline fails too
    api.pipelines.push({
      id: 1201,
      iid: 201,
      project_id: api.id,
      ref: 'refs/merge-requests/7/head',
      sha: 'd'.repeat(40),
      status: 'failed',
      source: 'merge_request_event',
      created_at: at(9000),
      updated_at: at(9001),
      started_at: at(9000),
      finished_at: at(9001),
      duration: 60,
      user_id: 3,
    });
    api.jobs.push({
      id: 8201,
      pipeline_id: 1201,
      name: 'invoice-e2e',
      stage: 'test',
      status: 'failed',
      allow_failure: false,
      failure_reason: 'script_failure',
      retried: false,
      created_at: at(9000),
      started_at: at(9000),
      finished_at: at(9001),
      duration: 30,
      trace: 'Error: totals differ\n',
    });
    try {
      const res = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      // before the fix: 1030, the older branch failure, because the branch's own pipelines were asked first
      expect(res.pipeline).toMatchObject({ id: 1201, ref: 'refs/merge-requests/7/head' });
      expect(res.failedJobs.map((j: { name: string }) => j.name)).toEqual(['invoice-e2e']);
    } finally {
      api.pipelines = api.pipelines.filter((p) => p.id !== 1201);
      api.jobs = api.jobs.filter((j) => j.id !== 8201);
    }
    // and the branch failure when it is the newer one
    const branch = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
    expect(branch.pipeline.id).toBe(1030);
  });

  /** A pipeline of platform/api as the seed writes them, on `ref`, with one failed job when it failed. */
  const addPipeline = (id: number, ref: string, status: string, source = 'merge_request_event') => {
    const api = project('platform/api');
    api.pipelines.push({
      id,
      iid: id - 1000,
      project_id: api.id,
      ref,
      sha: 'e'.repeat(40),
      status,
      source,
      created_at: at(9000 + id),
      updated_at: at(9001 + id),
      started_at: at(9000 + id),
      finished_at: at(9001 + id),
      duration: 60,
      user_id: 3,
    });
    if (status === 'failed')
      api.jobs.push({
        id: id + 7000,
        pipeline_id: id,
        name: `job-${id}`,
        stage: 'test',
        status: 'failed',
        allow_failure: false,
        failure_reason: 'script_failure',
        retried: false,
        created_at: at(9000 + id),
        started_at: at(9000 + id),
        finished_at: at(9001 + id),
        duration: 30,
        trace: `Error: pipeline ${id} broke\n`,
      });
  };
  /** Another merge request of platform/api, like its first one but for `extra`. */
  const addMergeRequest = (iid: number, extra: Partial<SimMergeRequest>) => {
    const api = project('platform/api');
    api.merge_requests.push({ ...(api.merge_requests[0] as SimMergeRequest), id: 700 + iid, iid, notes: [], ...extra });
  };
  const restore = (api: SimProject, ids: number[], iids: number[]) => {
    api.pipelines = api.pipelines.filter((p) => !ids.includes(p.id));
    api.jobs = api.jobs.filter((j) => !ids.includes(j.pipeline_id));
    api.merge_requests = api.merge_requests.filter((m) => !iids.includes(m.iid));
  };

  it('a branch with several merge requests costs one request per merge request, at most 3, not 2 per ref kind', async () => {
    const api = project('platform/api');
    const mr = api.merge_requests[0] as SimMergeRequest;
    // three more merge requests from feature/invoices (a reopened branch): four in all, one of them older
    for (const [iid, updated] of [
      [10, 950],
      [11, 960],
      [12, 10],
    ] as const)
      api.merge_requests.push({ ...mr, id: 700 + iid, iid, updated_at: at(updated), notes: [] });
    addPipeline(1310, 'refs/merge-requests/10/merge', 'success');
    try {
      const from = fx.sim.control.requests.length;
      const res = await call('pipelines_list', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      const sent = fx.sim.control.requests.slice(from);
      // before the fix: 8 (the list, the merge requests, then head and merge of each of 3 merge requests)
      expect(sent.map((r) => r.path)).toHaveLength(5);
      // one page of 20 finds the 3 to read and names the rest
      expect(sent.filter((r) => r.path.endsWith('/merge_requests'))[0]?.query.get('per_page')).toBe('20');
      expect(res.note).toMatch(/refs\/merge-requests\/7\/head \(2\)/);
      expect(res.note).toMatch(/refs\/merge-requests\/10\/merge \(1\)/);
      // before the fix: nothing said !12 (the least recently updated) was never looked at
      expect(res.note).toMatch(
        /merge requests of this branch not read: !12 opened \(the 3 most recently updated of 4 were/,
      );

      const before = fx.sim.control.requests.length;
      const diag = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      expect(diag.pipeline.id).toBe(1030);
      expect(diag.summary).toMatch(/not read: !12 opened/);
      const lookups = fx.sim.control.requests
        .slice(before)
        .filter((r) => !/\/(jobs|bridges|trace)$/.test(r.path) && !/\/pipelines\/\d+$/.test(r.path));
      // before the fix: 8
      expect(lookups).toHaveLength(5);
    } finally {
      restore(api, [1310], [10, 11, 12]);
    }
  });

  it('a merge request with over 100 pipelines is counted exactly and its older failure found (3 counts, not "100+")', async () => {
    const api = project('platform/api');
    addMergeRequest(20, { source_branch: 'feature/long', updated_at: at(9990) });
    // 130 head pipelines: the oldest failed, the 129 after it passed (GET /merge_requests/20/pipelines pages by 100)
    const ids = Array.from({ length: 130 }, (_, i) => 2000 + i);
    for (const id of ids) addPipeline(id, 'refs/merge-requests/20/head', id === 2000 ? 'failed' : 'success');
    try {
      const from = fx.sim.control.requests.length;
      const list = await call('pipelines_list', { project: 'platform/api', ref: 'feature/long' }, fx.services);
      // before the fix: "refs/merge-requests/20/head (100+)"
      expect(list.note).toMatch(/refs\/merge-requests\/20\/head \(130\)/);
      expect(list.note).not.toMatch(/not read/);
      const sent = fx.sim.control.requests.slice(from);
      // the list, the merge requests, one page of its pipelines, then one count per ref (head, merge, train)
      expect(sent).toHaveLength(6);
      const failed = await call(
        'pipelines_list',
        { project: 'platform/api', ref: 'feature/long', status: 'failed' },
        fx.services,
      );
      expect(failed.note).toMatch(/refs\/merge-requests\/20\/head \(1\)/);
      const diag = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/long' }, fx.services);
      // before the fix: ERR_NOT_FOUND, the failure being older than the 100 pipelines read
      expect(diag.pipeline).toMatchObject({ id: 2000, ref: 'refs/merge-requests/20/head' });
    } finally {
      restore(api, ids, [20]);
    }
  });

  it("forks' merge requests from a branch of the same name do not crowd out this project's own", async () => {
    const api = project('platform/api');
    const fork = project('sandbox/demo-01');
    // 25 contributors' merge requests from their forks' "fix" branches, all more recently updated than ours
    const forkIids = Array.from({ length: 25 }, (_, i) => 30 + i);
    for (const iid of forkIids)
      addMergeRequest(iid, { source_branch: 'fix', source_project_id: fork.id, updated_at: at(9000 + iid) });
    addMergeRequest(60, { source_branch: 'fix', updated_at: at(100) });
    addPipeline(1360, 'refs/merge-requests/60/head', 'failed');
    try {
      const list = await call('pipelines_list', { project: 'platform/api', ref: 'fix' }, fx.services);
      // before the fix: no note (the 3 most recently updated were forks', skipped; !60 never looked at)
      expect(list.note).toMatch(/refs\/merge-requests\/60\/head \(1\)/);
      const diag = await call('pipelines_diagnose', { project: 'platform/api', ref: 'fix' }, fx.services);
      expect(diag.pipeline.id).toBe(1360);
    } finally {
      restore(api, [1360], [...forkIids, 60]);
    }
  });

  it('merge train pipelines and the pipelines of merged merge requests belong to the branch too', async () => {
    const api = project('platform/api');
    // doc/ci/pipelines/merge_trains.md: a merge train pipeline runs on refs/merge-requests/<iid>/train
    addPipeline(1320, 'refs/merge-requests/7/train', 'failed');
    // bump-node's merge request !8 is merged: its merge request pipelines are still that branch's history
    addPipeline(1321, 'refs/merge-requests/8/head', 'success');
    try {
      const list = await call('pipelines_list', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      // before the fix: only refs/merge-requests/7/head was named
      expect(list.note).toMatch(/refs\/merge-requests\/7\/train \(1, merge train\)/);
      const diag = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      // before the fix: 1030, the older branch failure; the train failure was never looked at
      expect(diag.pipeline).toMatchObject({ id: 1320, ref: 'refs/merge-requests/7/train' });
      expect(diag.failedJobs[0].logTail).toContain('pipeline 1320 broke');
      const merged = await call('pipelines_list', { project: 'platform/api', ref: 'bump-node' }, fx.services);
      // before the fix: no note (only open merge requests were looked at)
      expect(merged.note).toMatch(/refs\/merge-requests\/8\/head \(1, !8 merged\)/);
    } finally {
      restore(api, [1320, 1321], []);
    }
  });

  it('a project with merge requests turned off still has its branch failures diagnosed and listed', async () => {
    const api = project('platform/api');
    // GitLab answers 403 on the merge request endpoints of such a project (project_policy.rb)
    api.merge_requests_access_level = 'disabled';
    try {
      const diag = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      // before the fix: ERR_NOT_ALLOWED "... needs a higher role", though the failure was on the branch
      expect(diag.pipeline.id).toBe(1030);
      const list = await call('pipelines_list', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      expect(list.total).toBe(4);
      // before the fix: "could not be looked up: ... 403 ..."
      expect(list.note).toBeUndefined();
    } finally {
      delete api.merge_requests_access_level;
    }
  });

  it("a fork's merge request from its own branch of the same name is not this branch's", async () => {
    const api = project('platform/api');
    const fork = project('sandbox/demo-01');
    const mr = api.merge_requests[0] as SimMergeRequest;
    // a contributor's MR from their fork's main (merge_requests.md: source_project_id is the fork's), whose
    // pipeline a maintainer ran here on refs/merge-requests/13/head (create_pipeline_service.rb), and one in
    // the fork on its branch
    api.merge_requests.push({
      ...mr,
      id: 713,
      iid: 13,
      source_branch: 'main',
      source_project_id: fork.id,
      updated_at: at(9999),
      notes: [],
    });
    addPipeline(1330, 'refs/merge-requests/13/head', 'failed');
    fork.pipelines.push({ ...(api.pipelines.at(-1) as SimPipeline), id: 1331, project_id: fork.id, ref: 'main' });
    try {
      const list = await call('pipelines_list', { project: 'platform/api', ref: 'main' }, fx.services);
      // before the fix: "merge request pipelines of main run on other refs ...: refs/merge-requests/13/head (1)"
      expect(list.note).toBeUndefined();
      const err = await callError('pipelines_diagnose', { project: 'platform/api', ref: 'main' }, fx.services);
      // before the fix: pipeline 1330, the fork's failure, given as main's
      expect(err.code).toBe('ERR_NOT_FOUND');
    } finally {
      restore(api, [1330], [13]);
      fork.pipelines = fork.pipelines.filter((p) => p.id !== 1331);
    }
  });

  it('a full branch ref (refs/heads/<branch>) finds what the branch name finds', async () => {
    // GitLab stores a pipeline's ref as the short name (Gitlab::Git.ref_name) and matches `ref` exactly
    const short = await call('pipelines_list', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
    const full = await call(
      'pipelines_list',
      { project: 'platform/api', ref: 'refs/heads/feature/invoices' },
      fx.services,
    );
    // before the fix: total 0 and no note
    expect(full.total).toBe(short.total);
    expect(full.note).toBe(short.note);
    const diag = await call(
      'pipelines_diagnose',
      { project: 'platform/api', ref: 'refs/heads/feature/invoices' },
      fx.services,
    );
    // before the fix: ERR_NOT_FOUND
    expect(diag.pipeline.id).toBe(1030);
  });

  it('a throttled merge request lookup does not hide the branch failure already found; the summary says so', async () => {
    fx.sim.control.throttle = { count: 20, retryAfterSeconds: 0, path: /\/merge_requests/ };
    try {
      const diag = await call('pipelines_diagnose', { project: 'platform/api', ref: 'feature/invoices' }, fx.services);
      // before the fix: ERR_RATE_LIMITED, though the branch's failed pipeline 1030 was in hand
      expect(diag.pipeline.id).toBe(1030);
      expect(diag.failedJobs.map((j: { name: string }) => j.name)).toContain('unit');
      expect(diag.summary).toMatch(/merge request pipelines could not be checked \(HTTP 429\)/);
      // with no branch failure to show, the backend's refusal is the answer
      const err = await callError('pipelines_diagnose', { project: 'platform/api', ref: 'main' }, fx.services);
      expect(err.code).not.toBe('ERR_NOT_FOUND');
    } finally {
      fx.sim.control.throttle = undefined;
    }
  });
});
