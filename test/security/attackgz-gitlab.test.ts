/**
 * The GitLab server attacked from outside (attackgz): a hostile GitLab that paginates forever, and the
 * allowlist and confirm policy tried through the kit's pipeline against the stateful simulator.
 * Each probe here broke before its fix, or guards a boundary that a plausible change would break.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dataBudgetOf, loadConfig, RavenhelmError } from '@ravenhelm/kit';
import type { GitLabServices } from '@ravenhelm/mcp-gitlab';
import { gitlabServer } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendFor, call, callError, type Fixture, start } from '../gitlab/harness.js';
import { ADMIN_TOKEN } from '../simulators/gitlab.js';
import { type Listening, listen } from '../simulators/http.js';

/** A GitLab that answers every list with a page and a Link rel="next" back to itself (or elsewhere). */
interface Hostile {
  server: Listening;
  hits: string[];
  /** Body of each list page. */
  page: unknown[];
  /** Bytes of padding per list item (a large page). */
  pad: number;
  next: (self: string) => string;
}

async function hostileGitLab(): Promise<Hostile> {
  const h: Hostile = {
    server: undefined as unknown as Listening,
    hits: [],
    page: [],
    pad: 0,
    next: (self) => self,
  };
  h.server = await listen((req: IncomingMessage, res: ServerResponse) => {
    h.hits.push(req.url ?? '');
    const self = `${h.server.url}${req.url ?? ''}`;
    const items = h.page.map((p) => (h.pad ? { ...(p as object), pad: 'x'.repeat(h.pad) } : p));
    res.writeHead(200, { 'content-type': 'application/json', link: `<${h.next(self)}>; rel="next"` });
    res.end(JSON.stringify(items));
  });
  return h;
}

async function run(services: GitLabServices, name: string, args: unknown, timeoutMs = 20_000) {
  try {
    return { ok: true as const, r: await call(name, args, services, 64 * 1024, timeoutMs) };
  } catch (err) {
    if (!(err instanceof RavenhelmError)) throw err;
    return { ok: false as const, err };
  }
}

describe('a GitLab whose lists never end', () => {
  let h: Hostile;
  let elsewhere: Hostile;
  beforeAll(async () => {
    h = await hostileGitLab();
    elsewhere = await hostileGitLab();
  });
  afterAll(async () => {
    await h.server.close();
    await elsewhere.server.close();
  });

  it('wiki_list stops after a bounded number of requests and says why (it followed rel="next" forever)', async () => {
    h.hits.length = 0;
    h.page = [{ slug: 'home', title: 'Home', format: 'markdown' }];
    h.pad = 0;
    const services = { gitlab: backendFor(h.server.url, { timeoutMs: 2000 }) };
    const a = await run(services, 'wiki_list', { project: 'platform/api' }, 8000);
    // before the fix: thousands of requests until the call's deadline (ERR_TIMEOUT after 8 s)
    expect(h.hits.length).toBeLessThanOrEqual(64);
    expect(a.ok).toBe(false);
    if (!a.ok) {
      expect(a.err.code).toBe('ERR_OUTPUT_TOO_LARGE');
      expect(a.err.message).toMatch(/GitLab.*wiki.*requests/);
    }
  }, 20_000);

  it('a large page repeated by rel="next" is stopped by one byte budget for the whole call', async () => {
    h.hits.length = 0;
    h.page = Array.from({ length: 20 }, (_, i) => ({ slug: `p${i}`, title: 't', format: 'markdown' }));
    h.pad = 250_000; // ~5 MB a page: 13 pages reach the 64 MiB a call may read (4 answers of 16 MiB)
    // Deadlines far above the ~2 s this takes on an idle machine: the byte budget, not a clock, must stop it
    // (under CI load the old 5 s backend timeout answered first).
    const services = { gitlab: backendFor(h.server.url, { timeoutMs: 40_000 }) };
    const a = await run(services, 'wiki_list', { project: 'platform/api' }, 50_000);
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.err.code).toBe('ERR_OUTPUT_TOO_LARGE');
    expect(h.hits.length).toBeLessThanOrEqual(20);
  }, 60_000);

  it('projects_list: an empty keyset page pointing at itself is not followed without end', async () => {
    h.hits.length = 0;
    h.page = [];
    h.pad = 0;
    const services = { gitlab: backendFor(h.server.url, { timeoutMs: 2000 }) };
    const a = await run(services, 'projects_list', { limit: 20 }, 8000);
    // only this call's requests: one still in flight from a wiki test may land after the reset
    expect(h.hits.filter((url) => !url.includes('/wikis')).length).toBeLessThanOrEqual(64);
    expect(a.ok).toBe(false);
  }, 20_000);

  it('projects_list: a malformed rel="next" on a full page is a backend error, not a server bug', async () => {
    h.hits.length = 0;
    h.page = Array.from({ length: 20 }, (_, i) => ({ id: i + 1, path_with_namespace: `g/p${i}`, name: `p${i}` }));
    h.next = () => 'not a url';
    try {
      const services = { gitlab: backendFor(h.server.url, { timeoutMs: 2000 }) };
      const a = await run(services, 'projects_list', { limit: 20 }, 8000);
      expect(a.ok).toBe(false);
      if (!a.ok) {
        // before the fix: ERR_INTERNAL ("this is a server bug") from new URL() on GitLab's header
        expect(a.err.code).toBe('ERR_BACKEND_ERROR');
        expect(a.err.message).toMatch(/Link header of GitLab/);
      }
    } finally {
      h.next = (self) => self;
    }
  }, 20_000);

  it('a rel="next" link to another host is never sent there (the token stays with GITLAB_URL)', async () => {
    h.hits.length = 0;
    elsewhere.hits.length = 0;
    h.page = [{ slug: 'home', title: 'Home', format: 'markdown' }];
    h.next = (self) => self.replace(h.server.url, elsewhere.server.url);
    try {
      const services = { gitlab: backendFor(h.server.url, { timeoutMs: 2000 }) };
      await run(services, 'wiki_list', { project: 'platform/api' }, 8000);
      expect(elsewhere.hits).toEqual([]);
    } finally {
      h.next = (self) => self;
    }
  }, 20_000);
});

describe('a GitLab answer nested 200,000 levels deep', () => {
  it('is a backend error that says so, not a server bug', async () => {
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    const nested = await listen((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(`{"id":1,"name":${deep},"path_with_namespace":"platform/api"}`);
    });
    try {
      const a = await run({ gitlab: backendFor(nested.url, { timeoutMs: 3000 }) }, 'projects_get', {
        project: 'platform/api',
      });
      expect(a.ok).toBe(false);
      // before the fix: ERR_INTERNAL "internal error" (the stack overflowed turning the name into text)
      if (!a.ok) expect(`${a.err.code}: ${a.err.message}`).toMatch(/^ERR_BACKEND_ERROR: .*nests deeper than 64/);
    } finally {
      await nested.close();
    }
  });
});

describe('a GitLab answer with fields of the wrong type', () => {
  it('projects_get answers with what it could read, not "a server bug"', async () => {
    const odd = await listen((_req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: {}, name: 5, path_with_namespace: 'platform/api', archived: 'yes' }));
    });
    try {
      const a = await run({ gitlab: backendFor(odd.url, { timeoutMs: 3000 }) }, 'projects_get', {
        project: 'platform/api',
      });
      // before the fix: ERR_INTERNAL "produced an invalid result; this is a server bug" (id NaN)
      expect(a.ok ? a.r : `${a.err.code}: ${a.err.message}`).toMatchObject({ id: 0, name: '5', archived: false });
    } finally {
      await odd.close();
    }
  });
});

describe('a GitLab (or a proxy in front of it) that echoes the request in its error page', () => {
  let echo: Listening;
  const TOKEN = 'glpat-attackgz-server-token-9f3k';
  beforeAll(async () => {
    echo = await listen((req: IncomingMessage, res: ServerResponse) => {
      const status = req.url?.includes('/variables') ? 403 : 400;
      res.writeHead(status, { 'content-type': 'text/html' });
      res.end(`<html><body>Bad request: header private-token=${String(req.headers['private-token'])}</body></html>`);
    });
  });
  afterAll(() => echo.close());

  it.each([
    ['projects_get', { project: 'platform/api' }],
    ['variables_list', { project: 'platform/api' }],
  ])("%s: the server's own token never reaches the error the caller reads", async (name, args) => {
    const services = { gitlab: backendFor(echo.url, { token: TOKEN, timeoutMs: 2000, maxRetries: 0 }) };
    const a = await run(services, name, args, 8000);
    expect(a.ok).toBe(false);
    if (a.ok) return;
    // before the fix: "... (GitLab said: <html>... private-token=glpat-...)" to a LOW caller
    expect(a.err.message).toMatch(/GitLab said: .*\[redacted\]/);
    expect(JSON.stringify([a.err.message, a.err.details])).not.toContain(TOKEN);
  });
});

/** `count` jobs of one pipeline, as GitLab records them (shards of a big test stage). */
function addJobs(fx: Fixture, pipelineIndex: number, count: number, firstId: number, failed: boolean) {
  const p = fx.sim.state.projects.find((x) => x.path_with_namespace === 'platform/api');
  const pl = p?.pipelines[pipelineIndex];
  if (!p || !pl) throw new Error('seed changed: no such pipeline of platform/api');
  const t = new Date().toISOString();
  for (let i = 0; i < count; i++)
    p.jobs.push({
      id: firstId + i,
      pipeline_id: pl.id,
      name: `test:integration:shard-${i + 1}/${count}`,
      stage: 'test',
      status: failed ? 'failed' : 'success',
      allow_failure: false,
      failure_reason: failed ? 'runner_system_failure' : null,
      retried: false,
      created_at: t,
      started_at: t,
      finished_at: t,
      duration: 61.2,
      trace: failed ? 'ERROR: Job failed (system failure): prepare environment: no space left on device\n' : '',
    });
  return pl.id;
}

describe('big but ordinary projects, at the default output budget', () => {
  let fx: Fixture;
  // the data share of the default 64 KiB answer, as the runtime hands it to tools
  const share = dataBudgetOf(64 * 1024);
  beforeAll(async () => {
    fx = await start();
  });
  afterAll(() => fx.close());

  it('pipelines_get of a 400-job pipeline answers, saying what it left out', async () => {
    const id = addJobs(fx, 0, 400, 900_000, false);
    // before the fix: ERR_OUTPUT_TOO_LARGE (every job of the pipeline, ~60 KB, against a ~26 KB share)
    const r = await call('pipelines_get', { project: 'platform/api', pipelineId: id }, fx.services, share, 20_000);
    expect(r.pipeline.id).toBe(id);
    expect(r.jobsTruncated).toBe(true);
    const shown = r.stages.reduce((n: number, st: { jobs: unknown[] }) => n + st.jobs.length, 0);
    expect(shown).toBeGreaterThan(0);
    expect(r.jobsShown).toBe(shown);
    expect(r.jobsTotal).toBeGreaterThanOrEqual(400);
  });

  it('wiki_list of a 500-page wiki answers, saying what it left out', async () => {
    const p = fx.sim.state.projects.find((x) => x.path_with_namespace === 'platform/api');
    if (!p) throw new Error('seed changed: no platform/api');
    for (let i = 0; i < 500; i++)
      p.wiki.push({
        slug: `runbooks/services/service-number-${i}-deploy`,
        title: `Service number ${i}: deploy`,
        format: 'markdown',
        content: '',
      });
    const r = await call('wiki_list', { project: 'platform/api' }, fx.services, share, 20_000);
    expect(r.total).toBeGreaterThanOrEqual(500);
    expect(r.pages.length).toBeGreaterThan(0);
    expect(r.pages.length).toBeLessThan(500);
    expect(r.truncated).toBe(true);
  });

  it('pipelines_diagnose of a pipeline where 300 jobs failed (a runner outage) answers within the budget', async () => {
    const id = addJobs(fx, 1, 300, 950_000, true);
    // before the fix: the summary named every failed job one by one (18,268 characters)
    const r = await call('pipelines_diagnose', { project: 'platform/api', pipelineId: id }, fx.services, share, 20_000);
    expect(r.failedJobsTotal).toBeGreaterThanOrEqual(300);
    expect(r.summary).toMatch(/30\d failed job\(s\)/);
    expect(r.summary.length).toBeLessThan(2000);
  });
});

describe('an operator who puts credentials into GITLAB_URL', () => {
  it('is stopped at start with a message naming the setting, never the password', () => {
    // before the fix: accepted; every call then failed with "GitLab is unreachable at http://deploy:<password>@..."
    // in the error a LOW caller reads (fetch refuses URLs with credentials)
    let message = '';
    try {
      loadConfig({
        backendSchema: gitlabServer.backendConfig,
        backendEnv: gitlabServer.backendEnv,
        env: { GITLAB_URL: 'http://deploy:Hunter2-pass@127.0.0.1:8929', GITLAB_TOKEN: 'glpat-x' },
      });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/url.*must not carry credentials/i);
    expect(message).not.toContain('Hunter2-pass');
  });
});

describe('paths that try to leave the allowlist', () => {
  let fx: Fixture;
  beforeAll(async () => {
    // an admin token: GitLab itself would show everything, so only our checks stand in the way
    fx = await start({ allowlist: ['platform/*'], token: ADMIN_TOKEN });
  });
  afterAll(() => fx.close());

  it.each([
    ['a dot-dot segment inside the allowed group', 'platform/..'],
    ['a dot segment', 'platform/.'],
    ['dot-dot then out', 'platform/../secret/vault'],
    ['encoded slash', 'platform%2F..%2Fsecret/vault'],
    ['double-encoded slash', 'platform%252F..%252Fsecret/vault'],
    ['a prefix look-alike', 'platform-evil/api'],
    ['a subgroup past one *', 'platform/infra/terraform'],
    ['a Cyrillic look-alike', 'plаtform/api'],
    ['a trailing space', 'platform/api '],
    ['a trailing newline', 'platform/api\n'],
    ['a trailing slash', 'platform/api/'],
  ])('%s (%j) is refused before GitLab is asked', async (_what, project) => {
    const before = fx.sim.control.requests.length;
    const err = await callError('projects_get', { project }, fx.services);
    expect(['ERR_NOT_ALLOWED', 'ERR_INVALID_INPUT']).toContain(err.code);
    // before the fix, "platform/.." and "platform/." passed the allowlist and were sent to GitLab
    expect(fx.sim.control.requests.length).toBe(before);
  });

  it('a project moved out of the allowlist is not followed there by its old path', async () => {
    // platform/web is transferred to secret/: GitLab redirects GETs of the old path and refuses writes
    const web = fx.sim.state.projects.find((x) => x.path_with_namespace === 'platform/web');
    const secret = fx.sim.state.groups.find((g) => g.full_path === 'secret');
    if (!web || !secret) throw new Error('seed changed: no platform/web or secret');
    web.namespace_id = secret.id;
    web.path_with_namespace = 'secret/web';
    web.description = 'moved-out-of-reach';
    fx.sim.state.redirects = new Map([['platform/web', web.id]]);
    const read = await callError('projects_get', { project: 'platform/web' }, fx.services);
    // before the fix: ERR_BACKEND_ERROR "GitLab failed on ... (HTTP 301) ...; retry later"
    expect(read.code).toBe('ERR_NOT_FOUND');
    expect(read.message).toMatch(/moved/);
    expect(read.message).not.toMatch(/retry later/);
    expect(read.message).not.toContain('moved-out-of-reach');
    const write = await callError('pipelines_cancel', { project: 'platform/web', pipelineId: 1 }, fx.services);
    expect(write.code).toBe('ERR_CONFLICT');
    expect(write.message).toMatch(/moved projects/);
  });

  it('a group path that is only dots is refused too', async () => {
    const before = fx.sim.control.requests.length;
    const err = await callError('variables_list', { group: 'platform/..' }, fx.services);
    expect(err.code).toBe('ERR_NOT_ALLOWED');
    expect(fx.sim.control.requests.length).toBe(before);
  });
});

describe('webhook receivers whose URL path is the secret (Slack, Discord, Teams)', () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await start();
  });
  afterAll(() => fx.close());

  it.each([
    ['Slack', 'https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/', 'xQ4bN7vR2kP9sT1wZ6yL3mHc'],
    ['Discord', 'https://discord.com/api/webhooks/1234567890123456789/', 'Zk3-pQ9_vN2xR7tY1wB5mC8dF4gH6jK0'],
    [
      'Teams',
      'https://contoso.webhook.office.com/webhookb2/7f1c2b3a-1111-4c2d-9e8f-abcdef012345@0a1b2c3d-2222-4e5f-8a9b-0123456789ab/IncomingWebhook/',
      '3f9e8d7c6b5a49382716aabbccddeeff',
    ],
  ])('hooks_list shows a LOW caller the %s receiver without its path secret', async (_name, prefix, secret) => {
    const created = await call(
      'hooks_create',
      { project: 'platform/web', url: `${prefix}${secret}`, events: ['pipeline'] },
      fx.services,
    );
    const listed = await call('hooks_list', { project: 'platform/web' }, fx.services);
    const hook = listed.hooks.find((h: { id: number }) => h.id === created.id);
    // before the fix: the full URL, path secret included (whoever reads it can post to the channel)
    expect(hook.url).not.toContain(secret);
    expect(hook.url).toMatch(new RegExp(`^${new URL(prefix).origin.replace(/[.]/g, '\\.')}/`));
    expect(JSON.stringify([created, listed])).not.toContain(secret);
  });
});
