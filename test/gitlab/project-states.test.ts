/** Projects and pipelines in states GitLab treats apart: archived projects, merge request pipelines. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { at, FAILED_PIPELINE, REPORTER_TOKEN, type SimProject } from '../simulators/gitlab.js';
import { backendFor, call, callError, type Fixture, start } from './harness.js';

let fx: Fixture;
beforeAll(async () => {
  fx = await start();
});
afterAll(() => fx.close());

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
    expect(none.message).toMatch(/on no-such-branch or in the merge request pipelines of its open merge requests/);
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
});
