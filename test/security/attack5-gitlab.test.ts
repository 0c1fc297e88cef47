/**
 * The GitLab server attacked from outside, fifth round: hand-made cursors, an SSO proxy answering 200 with
 * its login page, rate limits whose Retry-After is an HTTP date, and a token rotated while calls run. Through the real gitbeaker client
 * against the simulator, and through the MCP SDK client over Streamable HTTP.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitLabBackend, type GitLabServices, gitlabServer } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveOverHttp } from '../fixtures/fault-server.js';
import { call, callError } from '../gitlab/harness.js';
import { servedGitLab } from '../gitlab/served.js';

const gl = servedGitLab({ GITLAB_MAX_RETRY_WAIT_MS: '3000' });

const offset = (text: string) => Buffer.from(text).toString('base64url');

describe('hand-made cursors', () => {
  it('page 0, a negative or fractional page, a huge page, a page size past 100 or a skip past the page are refused with what to send', async () => {
    const cases = {
      'page 0': offset('o:0:20:0'),
      'negative page': offset('o:-1:20:0'),
      'fractional page': offset('o:1.5:20:0'),
      'huge page': offset('o:9999999:100:0'),
      'page size 0': offset('o:1:0:0'),
      'page size 500': offset('o:1:500:0'),
      'skip past the page': offset('o:2:20:50'),
    };
    for (const [name, cursor] of Object.entries(cases)) {
      const from = gl.fx.sim.control.requests.length;
      const a = await gl.server.call('pipelines_list', { project: 'platform/api', cursor });
      // before the fix: page 0, the huge page, page sizes 0 and 500 and the skip were sent to GitLab and answered
      expect(a.isError, `${name}: ${a.text}`).toBe(true);
      expect(a.text, name).toMatch(/^ERR_INVALID_INPUT: cursor is not one this tool issued/);
      expect(a.text, name).toMatch(/send the nextCursor of this tool's last answer unchanged, or omit cursor/);
      expect(gl.fx.sim.control.requests.length - from, name).toBe(0);
    }
    const zero = await gl.server.call('pipelines_list', { project: 'platform/api', cursor: cases['page 0'] });
    expect(zero.text).toMatch(/its page is 0, and pages start at 1/);
    const keyset = await gl.server.call('projects_list', { cursor: offset('k:0:500') });
    expect(keyset.isError).toBe(true);
    expect(keyset.text).toMatch(/^ERR_INVALID_INPUT: cursor is not one this tool issued \(it continues after id 0/);
  });

  it('the cursors the tools issue still page to the end', async () => {
    const ids: number[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 10; n++) {
      const a = await gl.server.call('pipelines_list', {
        project: 'platform/api',
        limit: 7,
        ...(cursor ? { cursor } : {}),
      });
      expect(a.isError, a.text).toBe(false);
      ids.push(...((a.structured?.pipelines ?? []) as { id: number }[]).map((p) => p.id));
      cursor = a.structured?.nextCursor;
      if (!cursor) break;
    }
    expect(ids).toHaveLength(30);
    const projects = await call('projects_list', { limit: 2 }, gl.fx.services);
    const next = await call('projects_list', { limit: 2, cursor: projects.nextCursor }, gl.fx.services);
    expect(next.projects.length).toBeGreaterThan(0);
  });
});

/** What an SSO proxy (oauth2-proxy, an identity-aware proxy) answers a request without its session cookie. */
const LOGIN_PAGE = `<!DOCTYPE html><html><head><title>Sign in · GitLab</title></head><body>
<form action="/users/sign_in" method="post"><input name="user[login]"><input type="password"></form></body></html>`;

describe('a 200 HTML login page in front of GitLab', () => {
  it('is refused as not GitLab for every kind of read, never shown as data', async () => {
    gl.fx.sim.control.fail = { status: 200, body: LOGIN_PAGE, contentType: 'text/html; charset=utf-8' };
    try {
      for (const [name, args] of [
        ['projects_get', { project: 'platform/api' }],
        ['pipelines_list', { project: 'platform/api' }],
        ['pipelines_diagnose', { project: 'platform/api' }],
        ['jobs_get_log', { project: 'platform/api', jobId: 5102 }],
        ['repository_get_file', { project: 'platform/api', path: 'README.md', ref: 'main' }],
        ['wiki_list', { project: 'platform/api' }],
        ['groups_get', { group: 'platform' }],
      ] as const) {
        const err = await callError(name, args, gl.fx.services);
        // before the fix: jobs_get_log returned the login page as the job's log, projects_get and groups_get said
        // "renamed or moved?", pipelines_list and wiki_list "internal error", pipelines_diagnose a TypeError
        expect(err.code, name).toBe('ERR_BACKEND_ERROR');
        expect(err.message, name).toMatch(/HTTP 200 came with Sign in · GitLab \(an HTML page, not GitLab's API/);
        expect(err.message, name).toMatch(/single sign-on proxy's login page.*check that GITLAB_URL points at GitLab/);
      }
      const a = await gl.server.call('jobs_get_log', { project: 'platform/api', jobId: 5102 });
      expect(a.isError).toBe(true);
      expect(a.text).toMatch(/^ERR_BACKEND_ERROR: .*Sign in · GitLab/);
      expect(a.text).not.toContain('user[login]');
    } finally {
      gl.fx.sim.control.fail = undefined;
    }
    // GitLab itself, back: the same reads answer
    const log = await call('jobs_get_log', { project: 'platform/api', jobId: 5102 }, gl.fx.services);
    expect(log.text).not.toContain('Sign in');
  });
});

describe('Retry-After as an HTTP date', () => {
  it('is waited for when short, and reported in seconds when too long', async () => {
    gl.fx.sim.control.throttle = { count: 1, retryAfterSeconds: 2, asDate: true };
    try {
      const started = Date.now();
      const a = await gl.server.call('projects_get', { project: 'platform/api' });
      expect(a.isError, a.text).toBe(false);
      // the date has whole seconds: at least one of the two is waited, never an immediate retry
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      gl.fx.sim.control.throttle = { count: 5, retryAfterSeconds: 120, asDate: true };
      const late = await gl.server.call('projects_get', { project: 'platform/api' });
      expect(late.isError).toBe(true);
      expect(late.text).toMatch(
        /^ERR_BACKEND_UNAVAILABLE: GitLab is rate-limiting this server \(429\).*retry after 1(19|20) s/,
      );
    } finally {
      gl.fx.sim.control.throttle = undefined;
    }
  });
});

describe('a token rotated while calls run', () => {
  const OLD = 'glpat-rotating-old-1a2b';
  const NEW = 'glpat-rotating-new-3c4d';
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gl-rotate-'));
    file = join(dir, 'token');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** The old token valid, in the file; the new one not issued yet. */
  const reset = () => {
    gl.fx.sim.state.tokens.set(OLD, 2);
    gl.fx.sim.state.tokens.delete(NEW);
    writeFileSync(file, `${OLD}\n`);
  };
  /** gitbeaker over our handler with the token read from the file (cached for 30 s, as in production). */
  const fileBackend = () =>
    new GitLabBackend({
      url: gl.fx.sim.url,
      tokenFile: file,
      timeoutMs: 5000,
      maxRetries: 0,
      maxRetryWaitMs: 0,
      allowlist: ['**'],
      maxLogBytes: 65536,
    });
  /** GitLab revokes (or expires) the old token and the operator writes the new one to the file. */
  const rotate = () => {
    gl.fx.sim.state.tokens.delete(OLD);
    gl.fx.sim.state.tokens.set(NEW, 2);
    writeFileSync(file, `${NEW}\n`);
  };

  it('expiring between two pages of one call: the call reads the file again and finishes with the new token', async () => {
    reset();
    const gitlab = fileBackend();
    await call('projects_get', { project: 'platform/api' }, { gitlab }); // the old token is read and cached
    // the token goes while pipelines_list runs: its branch list is read, then the merge request lookup gets 401
    const requests = gl.fx.sim.control.requests;
    const push = requests.push;
    let seen = 0;
    requests.push = (...items) => {
      if (++seen === 2) rotate();
      return push.apply(requests, items);
    };
    try {
      const list = await call('pipelines_list', { project: 'platform/api', ref: 'feature/invoices' }, { gitlab });
      // before the fix: "merge request pipelines ... could not be looked up: GitLab refused this server's token (401)"
      expect(list.note).toMatch(/refs\/merge-requests\/7\/head \(2\)/);
      expect(requests.at(-1)?.token).toBe(NEW);
    } finally {
      requests.push = push;
    }
  });

  it('a call that already changed something is not sent again after the 401 (no second issue)', async () => {
    reset();
    const gitlab = fileBackend();
    const issues = () => gl.fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.issues.length;
    const before = issues();
    const err = await gitlab
      .call('an issue, then a read', new AbortController().signal, async (api) => {
        await api.Issues.create('platform/api', 'rotation probe');
        rotate();
        return api.Projects.show('platform/api');
      })
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(/refused this server's token \(401\)/);
    // sending the call again would have created the issue twice
    expect(issues()).toBe((before ?? 0) + 1);
  });

  it('rotated between calls within the token cache: the next call is answered, through the SDK client', async () => {
    reset();
    const served = await serveOverHttp<GitLabServices>(
      gitlabServer,
      { GITLAB_URL: gl.fx.sim.url, GITLAB_TOKEN_FILE: file, GITLAB_MAX_RETRIES: '0' },
      ['mcp:gitlab:read'],
    );
    try {
      expect((await served.call('projects_get', { project: 'platform/api' })).isError).toBe(false);
      rotate();
      const a = await served.call('projects_get', { project: 'platform/api' });
      // before the fix: ERR_BACKEND_ERROR "GitLab refused this server's token (401) ... the operator must renew
      // GITLAB_TOKEN_FILE" for up to 30 s after the operator had renewed it
      expect(a.isError, a.text).toBe(false);
      expect(gl.fx.sim.control.requests.at(-1)?.token).toBe(NEW);
      // a token GitLab refuses that the file still holds: one attempt, reported without the token
      gl.fx.sim.state.tokens.delete(NEW);
      const from = gl.fx.sim.control.requests.length;
      const refused = await served.call('projects_get', { project: 'platform/api' });
      expect(refused.text).toMatch(/^ERR_BACKEND_ERROR: GitLab refused this server's token \(401\)/);
      expect(refused.text).not.toContain(NEW);
      expect(gl.fx.sim.control.requests.length - from).toBe(1);
    } finally {
      await served.close();
      gl.fx.sim.state.tokens.delete(OLD);
      gl.fx.sim.state.tokens.delete(NEW);
    }
  });
});

describe('wiki slugs that are URL dot segments', () => {
  it('"." and ".." are refused before GitLab is asked, instead of reading the project as an empty page', async () => {
    for (const slug of ['..', '.', 'runbooks/..']) {
      const from = gl.fx.sim.control.requests.length;
      const a = await gl.server.call('wiki_get', { project: 'platform/api', slug });
      // before the fix: slug ".." sent GET /projects/platform%2Fapi/wikis/.., which the URL resolves to the project
      // itself, and answered a page with no title and no content ("continue with offset 0")
      expect(a.isError, `${slug}: ${a.text}`).toBe(true);
      expect(a.text, slug).toMatch(/must not have "\." or "\.\." segments; give a slug from wiki_list/);
      expect(gl.fx.sim.control.requests.length - from, slug).toBe(0);
    }
    const page = await gl.server.call('wiki_get', { project: 'platform/api', slug: 'runbooks/deploy' });
    expect(page.isError, page.text).toBe(false);
    expect(page.structured?.content).not.toBe('');
  });
});

describe('a branch with more merge requests than are read', () => {
  it('the note names the ones not read, through the SDK client', async () => {
    const api = gl.fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api');
    const mr = api?.merge_requests[0];
    if (!api || !mr) throw new Error('seed changed: platform/api has no merge request');
    const iids = [41, 42, 43, 44];
    for (const iid of iids)
      api.merge_requests.push({
        ...mr,
        id: 800 + iid,
        iid,
        state: 'closed',
        updated_at: `2026-11-0${iid - 40}T00:00:00.000Z`,
        notes: [],
      });
    try {
      const a = await gl.server.call('pipelines_list', { project: 'platform/api', ref: 'feature/invoices' });
      expect(a.isError, a.text).toBe(false);
      // !7 and the two most recently updated closed ones are read; before the fix nothing named !42 and !41
      expect(a.structured?.note).toMatch(
        /merge requests of this branch not read: !42 closed, !41 closed \(the 3 most recently updated of 5 were; list another's with ref refs\/merge-requests\/<iid>\/head/,
      );
    } finally {
      api.merge_requests = api.merge_requests.filter((m) => !iids.includes(m.iid));
    }
  });
});
