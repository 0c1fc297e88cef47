/**
 * The GitLab server attacked from outside (attackgz), second round: what an agent with
 * mcp:gitlab:write could grant, and where the project allowlist could be stepped around. The real
 * bin over Streamable HTTP, the MCP SDK client, and the stateful GitLab simulator (driven by the
 * server through @gitbeaker/rest). The server's token is an administrator's: GitLab itself would
 * allow everything here, so only the server's own checks stand in the way.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBin, startHttpBin } from '../fixtures/spawn.js';
import { backendFor, callError } from '../gitlab/harness.js';
import { ACCESS, ADMIN_TOKEN, type GitLabSim, startGitLabSim } from '../simulators/gitlab.js';
import { type Listening, listen } from '../simulators/http.js';

const SPIFFE = 'spiffe://ravenhelm.local/agent/attackgz';
let dir: string;

interface Served {
  sim: GitLabSim;
  server: HttpBin;
  client: Client;
}

/** One simulator and one server (admin token, HIGH tools on for the local principal) with these settings. */
async function serve(env: Record<string, string>): Promise<Served> {
  const sim = await startGitLabSim();
  const policyFile = join(dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(policyFile, `servers:\n  gitlab:\n    spiffe:\n      default: ['${SPIFFE}']\n`);
  const server = await startHttpBin('servers/gitlab/src/bin.ts', {
    PATH: process.env.PATH ?? '',
    GITLAB_URL: sim.url,
    GITLAB_TOKEN: ADMIN_TOKEN,
    RAVENHELM_AUTH_MODE: 'none',
    RAVENHELM_POLICY_FILE: policyFile,
    RAVENHELM_LOCAL_SCOPES: 'mcp:gitlab:admin',
    RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
    RAVENHELM_LOCAL_SPIFFE_ID: SPIFFE,
    RAVENHELM_AUDIT_FILE: join(dir, `audit-${Math.random().toString(36).slice(2)}.jsonl`),
    ...env,
  });
  const client = new Client({ name: 'attackgz-gitlab-grants', version: '0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  return { sim, server, client };
}

async function stop(s: Served | undefined): Promise<void> {
  await s?.client.close();
  await s?.server.stop();
  await s?.sim.close();
}

async function callTool(s: Served, name: string, args: Record<string, unknown>) {
  const res = await s.client.callTool({ name, arguments: args });
  const text = (res.content as { type: string; text: string }[]).map((c) => c.text).join('\n');
  return { isError: res.isError === true, text, data: res.structuredContent as Record<string, unknown> | undefined };
}

/** GitLab requests the simulator saw from `from` on (method and path). */
const requestsSince = (s: Served, from: number) =>
  s.sim.control.requests.slice(from).map((r) => `${r.method} ${decodeURIComponent(r.path)}`);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'attackgz-gitlab-grants-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('an allowlisted server with the default member ceiling (platform/*, sandbox/**)', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ GITLAB_ALLOWLIST: 'platform/*,sandbox/**' });
    // a runner that only serves secret/vault, which is outside the allowlist
    s.sim.state.runners.push({
      id: 3,
      description: 'vault-signer-hsm',
      runner_type: 'project_type',
      status: 'online',
      paused: false,
      is_shared: false,
      online: true,
      contacted_at: '2026-11-20T10:00:00.000Z',
      tag_list: ['hsm', 'vault-prod'],
      project_ids: [103],
    });
  }, 90_000);
  afterAll(() => stop(s));

  it('groups_add_member refuses owner before GitLab is asked, naming the ceiling and the setting', async () => {
    const from = s.sim.control.requests.length;
    const owner = await callTool(s, 'groups_add_member', { group: 'sandbox', username: 'bob', accessLevel: 'owner' });
    // before the fix: bob became owner of sandbox (GitLab, asked with an admin token, agreed)
    expect(owner.isError).toBe(true);
    expect(owner.text).toMatch(/^ERR_NOT_ALLOWED/);
    expect(owner.text).toContain('GITLAB_MEMBER_MAX_ACCESS');
    expect(owner.text).toContain('"maintainer"');
    expect(requestsSince(s, from)).toEqual([]);
    expect(s.sim.state.groups.find((g) => g.full_path === 'sandbox')?.members.has(4)).toBe(false);
    // the ceiling itself may be granted
    const maintainer = await callTool(s, 'groups_add_member', {
      group: 'sandbox',
      username: 'bob',
      accessLevel: 'maintainer',
    });
    expect(maintainer.isError, maintainer.text).toBe(false);
    expect(s.sim.state.groups.find((g) => g.full_path === 'sandbox')?.members.get(4)).toBe(ACCESS.maintainer);
  });

  it('runners_list without project is refused: every runner would show those of projects outside the allowlist', async () => {
    const from = s.sim.control.requests.length;
    const all = await callTool(s, 'runners_list', {});
    // before the fix: every runner of the instance, vault-signer-hsm and its tags included
    expect(all.isError).toBe(true);
    expect(all.text).toMatch(/^ERR_NOT_ALLOWED/);
    expect(all.text).toMatch(/pass project/);
    expect(all.text).not.toContain('vault-signer');
    expect(requestsSince(s, from)).toEqual([]);
    const outside = await callTool(s, 'runners_list', { project: 'secret/vault' });
    expect(outside.isError).toBe(true);
    expect(outside.text).toMatch(/^ERR_NOT_ALLOWED.*outside this server's allowlist/);
    expect(requestsSince(s, from)).toEqual([]);
    const inside = await callTool(s, 'runners_list', { project: 'platform/api' });
    expect(inside.isError, inside.text).toBe(false);
    expect(((inside.data?.runners ?? []) as { description: string }[]).map((r) => r.description)).toEqual([
      'shared-docker-1',
      'api-deploy',
    ]);
  });

  it('projects_list and groups_list searches say nothing about what the allowlist hides', async () => {
    const from = s.sim.control.requests.length;
    const list = async (tool: string, search: string) => {
      const r = await callTool(s, tool, { search, limit: 5 });
      expect(r.isError, r.text).toBe(false);
      return r.data;
    };
    // secret/vault ("Not for bots") and the group secret are outside the allowlist; the token sees them
    const nothing = await list('projects_list', 'no-such-project-anywhere');
    // before the fix: hiddenByAllowlist 1 for these, 0 for a name that exists nowhere
    for (const probe of ['vault', 'Not for bots', 'secret/'])
      expect(await list('projects_list', probe), probe).toEqual(nothing);
    expect(await list('groups_list', 'secret')).toEqual(await list('groups_list', 'no-such-group-anywhere'));
    // GitLab is never given the search text, so its answer cannot depend on it
    expect(s.sim.control.requests.slice(from).filter((r) => r.query.has('search'))).toEqual([]);
    // searching what is allowed still works
    const api = await list('projects_list', 'billing');
    expect(((api?.projects ?? []) as { path: string }[]).map((p) => p.path)).toEqual(['platform/api']);
    const infra = await list('groups_list', 'INFRA');
    expect(((infra?.groups ?? []) as { path: string }[]).map((g) => g.path)).toEqual(['platform/infra']);
  });

  it('a group allowed by "platform/*" is not a door to its projects: membership and group variables reach them', async () => {
    // platform/infra matches platform/*, platform/infra/terraform does not; a member of the group
    // (or a group CI/CD variable) reaches terraform all the same
    const from = s.sim.control.requests.length;
    // before the fix each of these went through: bob became developer of platform/infra (and so of
    // terraform), alice lost her access, TF_BACKEND reached every pipeline of terraform
    const refused: [string, Record<string, unknown>][] = [
      ['groups_add_member', { group: 'platform/infra', username: 'bob', accessLevel: 'developer' }],
      ['groups_remove_member', { group: 'platform/infra', username: 'alice' }],
      ['variables_set', { group: 'platform/infra', key: 'TF_BACKEND', value: 'attacker-controlled-backend' }],
      ['variables_delete', { group: 'platform/infra', key: 'TF_BACKEND' }],
    ];
    for (const [tool, args] of refused) {
      const r = await callTool(s, tool, args);
      expect(r.isError, tool).toBe(true);
      expect(r.text, tool).toMatch(/^ERR_NOT_ALLOWED/);
      expect(r.text, tool).toContain('"platform/infra/**"');
      expect(r.text, tool).toContain('GITLAB_ALLOWLIST');
      expect(r.text, tool).not.toContain('attacker-controlled-backend');
    }
    expect(requestsSince(s, from)).toEqual([]);
    const infra = s.sim.state.groups.find((g) => g.full_path === 'platform/infra');
    expect(infra?.members.has(4)).toBe(false);
    expect(infra?.variables.map((v) => v.key)).not.toContain('TF_BACKEND');
    // reading the group itself stays allowed, and a fully allowed group can still be changed
    expect((await callTool(s, 'groups_get', { group: 'platform/infra' })).isError).toBe(false);
    const sandboxVar = await callTool(s, 'variables_set', { group: 'sandbox', key: 'DEMO', value: 'demo-value-1' });
    expect(sandboxVar.isError, sandboxVar.text).toBe(false);
  });
});

describe('a server that allows top-level groups ("*") and lets owner be granted', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve({ GITLAB_ALLOWLIST: '*,sandbox/**', GITLAB_MEMBER_MAX_ACCESS: 'owner' });
  }, 90_000);
  afterAll(() => stop(s));

  it('a numeric group id is refused: GitLab reads it as an id, which the path allowlist cannot judge', async () => {
    const from = s.sim.control.requests.length;
    // 11 is platform/infra, which "*" (one segment) does not allow
    const byId = await callTool(s, 'groups_get', { group: '11' });
    // before the fix: "11" matched "*" and GitLab answered with platform/infra
    expect(byId.isError).toBe(true);
    expect(byId.text).toMatch(/ERR_INVALID_INPUT/);
    expect(byId.text).toMatch(/group id/);
    expect(byId.text).not.toContain('platform/infra');
    expect(requestsSince(s, from)).toEqual([]);
    expect((await callTool(s, 'groups_get', { group: 'platform' })).isError).toBe(false);
  });

  it('GITLAB_MEMBER_MAX_ACCESS=owner lets an operator allow owner', async () => {
    const owner = await callTool(s, 'groups_add_member', { group: 'sandbox', username: 'alice', accessLevel: 'owner' });
    expect(owner.isError, owner.text).toBe(false);
    expect(s.sim.state.groups.find((g) => g.full_path === 'sandbox')?.members.get(3)).toBe(ACCESS.owner);
  });
});

describe('a GitLab (or a proxy in front of it) that answers for another group or project', () => {
  // GitLab resolves a path it knows as an old route (a rename or transfer) to where the thing is now;
  // the server must not act on a record from outside the allowlist because the path it sent was inside
  let other: Listening;
  const hits: string[] = [];
  beforeAll(async () => {
    other = await listen((req: IncomingMessage, res: ServerResponse) => {
      hits.push(`${req.method} ${req.url}`);
      const answer = (req.url ?? '').startsWith('/api/v4/groups/')
        ? { id: 12, name: 'secret', path: 'secret', full_path: 'secret', visibility: 'private' }
        : { id: 103, name: 'vault', path_with_namespace: 'secret/vault', description: 'Not for bots' };
      res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  afterAll(() => other.close());

  it('projects_create does not create into a group GitLab resolved elsewhere; groups_get and projects_get do not show it', async () => {
    const services = { gitlab: backendFor(other.url, { allowlist: ['sandbox/**'], maxRetries: 0 }) };
    hits.length = 0;
    const created = await callError('projects_create', { group: 'sandbox', name: 'new-app' }, services);
    // before the fix: POST /projects with namespace_id 12 (secret), outside the allowlist
    expect(created.code).toBe('ERR_NOT_FOUND');
    expect(created.message).toMatch(/another path/);
    expect(hits.filter((h) => h.startsWith('POST'))).toEqual([]);
    const group = await callError('groups_get', { group: 'sandbox' }, services);
    expect(group.code).toBe('ERR_NOT_FOUND');
    expect(group.message).not.toContain('secret');
    const project = await callError('projects_get', { project: 'sandbox/app' }, services);
    expect(project.code).toBe('ERR_NOT_FOUND');
    expect(project.message).not.toContain('Not for bots');
  });
});
