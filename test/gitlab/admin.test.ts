import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, BOT_TOKEN, MASKED_SECRET, REPORTER_TOKEN } from '../simulators/gitlab.js';
import { backendFor, call, callError, simulatorFor, start } from './harness.js';

const fx = simulatorFor();

const apiProject = () => fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api');

describe('CI/CD variables', () => {
  it('lists flags but never values, for projects and groups', async () => {
    const res = await call('variables_list', { project: 'platform/api' }, fx.services);
    expect(res.variables).toEqual([
      expect.objectContaining({ key: 'DEPLOY_TOKEN', masked: true, protected: true, environmentScope: 'production' }),
      expect.objectContaining({ key: 'LOG_LEVEL', masked: false }),
    ]);
    expect(JSON.stringify(res)).not.toContain(MASKED_SECRET);
    expect(JSON.stringify(res)).not.toContain('debug');
    const group = await call('variables_list', { group: 'platform' }, fx.services);
    expect(group.variables[0]).toMatchObject({ key: 'REGISTRY_PASSWORD', masked: true });
    expect(JSON.stringify(group)).not.toContain('R4nd0mVal');
  });

  it('needs exactly one of project or group', async () => {
    const both = await callError('variables_list', { project: 'platform/api', group: 'platform' }, fx.services);
    expect(both.code).toBe('ERR_INVALID_INPUT');
    const none = await callError('variables_list', {}, fx.services);
    expect(none.code).toBe('ERR_INVALID_INPUT');
  });

  it('creates, updates in place (by scope) and deletes, never returning the value', async () => {
    const created = await call(
      'variables_set',
      { project: 'platform/api', key: 'NEW_SECRET', value: 'first-Value-123' },
      fx.services,
    );
    expect(created).toMatchObject({ key: 'NEW_SECRET', created: true, masked: true, environmentScope: '*' });
    const updated = await call(
      'variables_set',
      { project: 'platform/api', key: 'NEW_SECRET', value: 'second-Value-456', protected: true },
      fx.services,
    );
    expect(updated).toMatchObject({ created: false, protected: true });
    expect(
      apiProject()
        ?.variables.filter((v) => v.key === 'NEW_SECRET')
        .map((v) => v.value),
    ).toEqual(['second-Value-456']);
    expect(JSON.stringify([created, updated])).not.toMatch(/Value-/);
    // another scope of the same key is a new variable
    const scoped = await call(
      'variables_set',
      { project: 'platform/api', key: 'DEPLOY_TOKEN', value: 'staging-Value-789', environmentScope: 'staging' },
      fx.services,
    );
    expect(scoped.created).toBe(true);
    expect(
      apiProject()?.variables.find((v) => v.key === 'DEPLOY_TOKEN' && v.environment_scope === 'production')?.value,
    ).toBe(MASKED_SECRET);
    await call(
      'variables_delete',
      { project: 'platform/api', key: 'DEPLOY_TOKEN', environmentScope: 'staging' },
      fx.services,
    );
    expect(apiProject()?.variables.filter((v) => v.key === 'DEPLOY_TOKEN')).toHaveLength(1);
    const gone = await callError('variables_delete', { project: 'platform/api', key: 'NOPE' }, fx.services);
    expect(gone.code).toBe('ERR_NOT_FOUND');
  });

  it("maps GitLab's validation error without echoing the value", async () => {
    const err = await callError(
      'variables_set',
      { project: 'platform/api', key: 'SHORT', value: 'ab cd' },
      fx.services,
    );
    expect(err.code).toBe('ERR_INVALID_INPUT');
    expect(err.message).toMatch(/value.*is invalid/);
    expect(err.message).not.toContain('ab cd');
  });

  it('a token without the maintainer role gets ERR_NOT_ALLOWED (403)', async () => {
    const viewer = { gitlab: backendFor(fx.sim.url, { token: REPORTER_TOKEN }) };
    const err = await callError('variables_list', { project: 'platform/api' }, viewer);
    expect(err.code).toBe('ERR_NOT_ALLOWED');
    expect(err.message).toMatch(/403.*higher role/);
  });
});

describe('webhooks', () => {
  it('lists without secrets and with URL credentials hidden', async () => {
    const res = await call('hooks_list', { project: 'platform/api' }, fx.services);
    expect(res.hooks[0]).toMatchObject({ id: 1, events: ['push', 'pipeline'], sslVerification: true });
    expect(JSON.stringify(res)).not.toContain('sim-hook-secret');
  });

  it('creates with a secret token that is never echoed, then deletes', async () => {
    const token = 'whsec-never-echo-9f8e7d';
    const created = await call(
      'hooks_create',
      {
        project: 'platform/api',
        url: 'https://user:pw@hooks.example.test/x?key=abc',
        events: ['merge_requests'],
        token,
      },
      fx.services,
    );
    expect(created.events).toEqual(['merge_requests']);
    expect(created.url).toBe('https://hooks.example.test/x?key=%E2%80%A6');
    expect(JSON.stringify(created)).not.toMatch(/whsec|pw@|abc/);
    expect(apiProject()?.hooks.find((h) => h.id === created.id)?.token).toBe(token);
    const del = await call('hooks_delete', { project: 'platform/api', hookId: created.id }, fx.services);
    expect(del.deleted).toBe(true);
    expect(apiProject()?.hooks.some((h) => h.id === created.id)).toBe(false);
  });
});

describe('groups and members', () => {
  it('lists visible groups (private ones the token cannot see are absent) and gets one', async () => {
    const res = await call('groups_list', {}, fx.services);
    expect(res.groups.map((g: { path: string }) => g.path)).toEqual(['platform', 'platform/infra', 'sandbox']);
    const g = await call('groups_get', { group: 'platform/infra' }, fx.services);
    expect(g).toMatchObject({ path: 'platform/infra', parent: 'platform', visibility: 'private' });
  });

  it('adds a member with a role, refuses a duplicate (409), removes', async () => {
    const added = await call(
      'groups_add_member',
      { group: 'platform', username: 'bob', accessLevel: 'developer' },
      fx.services,
    );
    expect(added).toMatchObject({ username: 'bob', accessLevel: 'developer' });
    const dup = await callError(
      'groups_add_member',
      { group: 'platform', username: 'bob', accessLevel: 'reporter' },
      fx.services,
    );
    expect(dup.code).toBe('ERR_CONFLICT');
    expect(dup.message).toMatch(/Member already exists/);
    const members = await call('groups_list_members', { group: 'platform' }, fx.services);
    expect(members.members.map((m: { username: string }) => m.username)).toContain('bob');
    await call('groups_remove_member', { group: 'platform', username: 'bob' }, fx.services);
    expect(fx.sim.state.groups.find((g) => g.full_path === 'platform')?.members.has(4)).toBe(false);
    const nobody = await callError('groups_remove_member', { group: 'platform', username: 'ghost' }, fx.services);
    expect(nobody.code).toBe('ERR_NOT_FOUND');
  });

  it('the allowlist covers groups too, before GitLab is asked', async () => {
    const scoped = await start({ allowlist: ['sandbox/**'] });
    try {
      const before = scoped.sim.control.requests.length;
      const err = await callError(
        'groups_add_member',
        { group: 'platform', username: 'bob', accessLevel: 'owner' },
        scoped.services,
      );
      expect(err.code).toBe('ERR_NOT_ALLOWED');
      expect(scoped.sim.control.requests.length).toBe(before);
      const listed = await call('groups_list', {}, scoped.services);
      expect(listed.groups.map((g: { path: string }) => g.path)).toEqual(['sandbox']);
      expect(listed.hiddenByAllowlist).toBe(2);
    } finally {
      await scoped.close();
    }
  });
});

describe('users', () => {
  const admin = () => ({ gitlab: backendFor(fx.sim.url, { token: ADMIN_TOKEN }) });

  it('searches and gets users; admin flag is null when the token may not see it', async () => {
    const res = await call('users_list', { search: 'ali' }, fx.services);
    expect(res.users).toEqual([expect.objectContaining({ username: 'alice', admin: null })]);
    const root = await call('users_get', { username: 'root' }, admin());
    expect(root.admin).toBe(true);
  });

  it('create, grant admin, block and unblock need an admin token (403 otherwise)', async () => {
    const denied = await callError(
      'users_create',
      { username: 'carol', name: 'Carol', email: 'carol@example.test' },
      fx.services,
    );
    expect(denied.code).toBe('ERR_NOT_ALLOWED');
    const carol = await call(
      'users_create',
      { username: 'carol', name: 'Carol', email: 'carol@example.test' },
      admin(),
    );
    expect(carol).toMatchObject({ username: 'carol', state: 'active', admin: false });
    const dup = await callError('users_create', { username: 'carol', name: 'C', email: 'c2@example.test' }, admin());
    expect(dup.code).toBe('ERR_CONFLICT');
    expect((await call('users_set_admin', { username: 'carol', admin: true }, admin())).admin).toBe(true);
    expect((await call('users_block', { username: 'carol' }, admin())).state).toBe('blocked');
    expect(fx.sim.state.users.find((u) => u.username === 'carol')?.state).toBe('blocked');
    expect((await call('users_unblock', { username: 'carol' }, admin())).state).toBe('active');
  });
});

describe('runners, repository, wiki', () => {
  it("lists a project's runners with status and last contact; all runners need admin", async () => {
    const res = await call('runners_list', { project: 'platform/api' }, fx.services);
    expect(res.runners.map((r: { description: string; status: string }) => `${r.description}:${r.status}`)).toEqual([
      'shared-docker-1:online',
      'api-deploy:offline',
    ]);
    expect(res.runners[1].contactedAt).toMatch(/^2026-/);
    const all = await callError('runners_list', {}, fx.services);
    expect(all.code).toBe('ERR_NOT_ALLOWED');
  });

  it("the simulator answers GET /runners with the caller's own runners, GET /runners/all to admins only", async () => {
    // runners.md: "List owned runners" vs "List all runners"; the bot maintains platform/api, the
    // reporter maintains nothing, and the instance runner is in neither owned list
    const get = async (path: string, token: string) => {
      const res = await fetch(`${fx.sim.url}/api/v4/${path}`, { headers: { 'PRIVATE-TOKEN': token } });
      return {
        status: res.status,
        names: res.ok ? ((await res.json()) as { description: string }[]).map((r) => r.description) : [],
      };
    };
    expect(await get('runners', BOT_TOKEN)).toEqual({ status: 200, names: ['api-deploy'] });
    expect(await get('runners', REPORTER_TOKEN)).toEqual({ status: 200, names: [] });
    expect(await get('runners/all', REPORTER_TOKEN)).toMatchObject({ status: 403 });
    expect(await get('runners/all', ADMIN_TOKEN)).toEqual({ status: 200, names: ['shared-docker-1', 'api-deploy'] });
  });

  it('lists a tree (recursive, paged) and reads a file at a ref', async () => {
    const top = await call('repository_list_tree', { project: 'platform/api' }, fx.services);
    expect(top.entries).toEqual([
      { path: '.gitlab-ci.yml', type: 'blob' },
      { path: 'README.md', type: 'blob' },
      { path: 'src', type: 'tree' },
    ]);
    const deep = await call(
      'repository_list_tree',
      { project: 'platform/api', ref: 'feature/invoices', recursive: true, limit: 3 },
      fx.services,
    );
    expect(deep.total).toBe(6);
    expect(deep.nextCursor).toBeDefined();
    const file = await call('repository_get_file', { project: 'platform/api', path: 'src/billing.ts' }, fx.services);
    expect(file).toMatchObject({ ref: 'main', binary: false, truncated: false });
    expect(file.content).toContain('export function total');
    const cut = await call(
      'repository_get_file',
      { project: 'platform/api', path: 'src/billing.ts', maxBytes: 256 },
      fx.services,
    );
    expect(cut.content.length).toBeLessThanOrEqual(256);
    const missing = await callError(
      'repository_get_file',
      { project: 'platform/api', path: 'src/invoices.ts' },
      fx.services,
    );
    expect(missing.code).toBe('ERR_NOT_FOUND');
    const dotdot = await callError(
      'repository_get_file',
      { project: 'platform/api', path: '../etc/passwd' },
      fx.services,
    );
    expect(dotdot.code).toBe('ERR_INVALID_INPUT');
  });

  it('fits a file whose JSON escapes outgrow its bytes (quotes, control characters) into the output budget', async () => {
    // 60 KB whose JSON form is about 3 times larger: once cut to the byte cap only, and the call then
    // failed for going over its data share
    const line = `{"k":"${'\u0001'.repeat(40)}","q":"\\"}\n`;
    apiProject()
      ?.files.get('main')
      ?.set('data/escapes.json', line.repeat(Math.ceil(60_000 / line.length)));
    const dataShare = 26_009; // the data share of the default 64 KiB output budget
    const file = await call(
      'repository_get_file',
      { project: 'platform/api', path: 'data/escapes.json', maxBytes: 60_000 },
      fx.services,
      dataShare,
    );
    expect(file.truncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(file))).toBeLessThanOrEqual(dataShare);
    expect(file.content.startsWith(line)).toBe(true);
    expect(file.content.endsWith('\n')).toBe(true); // whole lines
  });

  it('reads a file larger than any window whole, window by window, with nextOffset', async () => {
    // 150 KB of lines with 2-, 3- and 4-byte characters, and one line longer than a window
    const lines = Array.from({ length: 1500 }, (_, i) => `line ${i} é€🐳 ${'x'.repeat(i % 97)}`);
    lines.splice(700, 0, `long ${'€'.repeat(30_000)}`);
    const text = `${lines.join('\n')}\n`;
    apiProject()?.files.get('main')?.set('data/big.txt', text);
    const dataShare = 26_009; // the data share of the default 64 KiB output budget
    let content = '';
    let offset: number | undefined;
    let calls = 0;
    for (;;) {
      const w = await call(
        'repository_get_file',
        { project: 'platform/api', path: 'data/big.txt', maxBytes: 60_000, ...(offset ? { offset } : {}) },
        fx.services,
        dataShare,
      );
      expect(Buffer.byteLength(JSON.stringify(w))).toBeLessThanOrEqual(dataShare);
      expect(w.size).toBe(Buffer.byteLength(text));
      content += w.content;
      calls++;
      expect(w.truncated).toBe(w.nextOffset !== undefined);
      if (!w.nextOffset || calls > 40) break;
      expect(w.nextOffset).toBe(Buffer.byteLength(content));
      offset = w.nextOffset;
    }
    expect(calls).toBeGreaterThan(5);
    expect(content).toBe(text);
    // an offset inside a character starts at the next one; past the end, nothing is left
    const inside = await call(
      'repository_get_file',
      { project: 'platform/api', path: 'data/big.txt', offset: Buffer.byteLength('line 0 é') - 1 },
      fx.services,
    );
    expect(inside.content.startsWith('€🐳')).toBe(true);
    const past = await call(
      'repository_get_file',
      { project: 'platform/api', path: 'data/big.txt', offset: 10_000_000 },
      fx.services,
    );
    expect(past).toMatchObject({ content: '', truncated: false });
    // a wiki page the same way
    const wiki = apiProject()?.wiki;
    const wikiText = lines.slice(0, 400).join('\n');
    wiki?.push({ slug: 'big', title: 'Big', format: 'markdown', content: wikiText });
    try {
      let page = '';
      let at: number | undefined;
      for (let n = 0; n < 40; n++) {
        const w = await call(
          'wiki_get',
          { project: 'platform/api', slug: 'big', maxBytes: 4096, ...(at ? { offset: at } : {}) },
          fx.services,
        );
        page += w.content;
        if (!w.nextOffset) break;
        at = w.nextOffset;
      }
      expect(page).toBe(wikiText);
    } finally {
      wiki?.pop();
    }
  });

  it('lists and reads wiki pages', async () => {
    const list = await call('wiki_list', { project: 'platform/api' }, fx.services);
    expect(list.pages.map((p: { slug: string }) => p.slug)).toEqual(['home', 'runbooks/deploy']);
    const page = await call('wiki_get', { project: 'platform/api', slug: 'runbooks/deploy' }, fx.services);
    expect(page.content).toContain('Merge to main');
  });

  it('pages a wiki larger than the output budget, reaching every page once', async () => {
    // GitLab lists a wiki whole; 600 pages (more than the 500 once kept) under a small budget
    const wiki = apiProject()?.wiki;
    expect(wiki).toBeDefined();
    const before = wiki?.length ?? 0;
    for (let i = 0; i < 600; i++)
      wiki?.push({
        slug: `ops/page-${String(i).padStart(3, '0')}`,
        title: `Page ${i}`,
        format: 'markdown',
        content: '',
      });
    try {
      const slugs: string[] = [];
      let cursor: string | undefined;
      let calls = 0;
      do {
        const res = await call(
          'wiki_list',
          { project: 'platform/api', ...(cursor ? { cursor } : {}) },
          fx.services,
          8192,
        );
        expect(Buffer.byteLength(JSON.stringify(res))).toBeLessThanOrEqual(8192);
        expect(res.total).toBe(before + 600);
        slugs.push(...res.pages.map((p: { slug: string }) => p.slug));
        expect(res.truncated).toBe(res.nextCursor !== undefined);
        cursor = res.nextCursor;
        calls++;
      } while (cursor && calls < 100);
      expect(calls).toBeGreaterThan(1);
      expect(slugs).toHaveLength(before + 600);
      expect(new Set(slugs).size).toBe(before + 600);
    } finally {
      wiki?.splice(before);
    }
  });
});

describe('pipeline and job writes', () => {
  it('retries a failed pipeline, retries a job, cancels a running pipeline', async () => {
    const retried = await call('pipelines_retry', { project: 'platform/api', pipelineId: 1030 }, fx.services);
    expect(retried.status).toBe('running');
    const job = await call('jobs_retry', { project: 'platform/api', jobId: 5101 }, fx.services);
    expect(job).toMatchObject({ name: 'compile', status: 'pending', retriedJobId: 5101 });
    expect(job.id).not.toBe(5101);
    const canceled = await call('pipelines_cancel', { project: 'platform/api', pipelineId: 1030 }, fx.services);
    expect(canceled.status).toBe('canceled');
    const viewer = { gitlab: backendFor(fx.sim.url, { token: REPORTER_TOKEN }) };
    const err = await callError('pipelines_retry', { project: 'platform/api', pipelineId: 1029 }, viewer);
    expect(err.code).toBe('ERR_NOT_ALLOWED');
  });
});
