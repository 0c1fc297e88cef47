/**
 * Every Zitadel tool with hostile strings in each of its string arguments (attackgz), through the real
 * bin over stdio with the SDK Client against the simulator: path/query injection, encodings, look-alikes,
 * prototype keys, huge values. Checks: every answer is an answer (never a server bug), and nothing a
 * caller typed reaches a Zitadel URL path (ids there are Zitadel's own, numeric). Bounded: one call per
 * tool, argument and value.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type StdioSession, startZitadelFixture, type ZitadelFixture } from '../zitadel/harness.js';

const HOSTILE = [
  '../../admin/v1/events/_search',
  '123/../../v2/users',
  '%2e%2e%2fadmin',
  'alice?x=1#frag',
  'alice\nX-Injected: 1',
  '..',
  'ａｌｉｃｅ',
  '__proto__',
  'constructor',
  '\u0000',
  'x'.repeat(5000),
];

const BASE: Record<string, Record<string, unknown>> = {
  agents_get_capabilities: { user: 'alice' },
  agents_onboard: { username: 'fuzz-agent', scopes: ['mcp:docker:read'] },
  events_list: { user: 'alice' },
  keys_add: { user: 'alice' },
  keys_delete: { user: 'alice', keyId: '1' },
  keys_list: { user: 'alice' },
  orgs_list: { name: 'raven' },
  projects_list: { name: 'mcp' },
  roles_create: { key: 'fuzz.role', displayName: 'Fuzz' },
  roles_grant: { user: 'alice', roles: ['docker.reader'] },
  roles_list: {},
  roles_revoke: { user: 'alice', roles: ['docker.reader'] },
  service_accounts_create: { username: 'fuzz-sa', name: 'Fuzz' },
  users_disable: { user: 'bob' },
  users_enable: { user: 'bobby' },
  users_get: { user: 'alice' },
  users_list_grants: { user: 'alice' },
  users_search: { username: 'a', email: 'a' },
};
/** String arguments each tool takes besides those in BASE. */
const EXTRA: Record<string, string[]> = {
  roles_create: ['group', 'project'],
  roles_grant: ['project'],
  roles_revoke: ['project'],
  roles_list: ['project'],
  events_list: ['orgId', 'cursor'],
  service_accounts_create: ['description'],
};

let fx: ZitadelFixture;
let s: StdioSession;
beforeAll(async () => {
  fx = await startZitadelFixture();
  s = await connectStdio(fx.env);
}, 60_000);
afterAll(async () => {
  await s?.close();
  await fx?.stop();
});

describe('hostile strings in every string argument of every Zitadel tool', () => {
  it('never a server bug, and nothing typed reaches a URL path', async () => {
    const listed = (await s.client.listTools()).tools.map((t) => t.name).sort();
    expect(Object.keys(BASE).sort()).toEqual(listed.filter((n) => n in BASE));
    const problems: string[] = [];
    let calls = 0;
    const log = fx.sim.control.requests;
    // the simulator keeps its last 200 requests: read what came after the mark, after every call
    const checkPaths = (mark: (typeof log)[number] | undefined) => {
      for (const req of mark === undefined ? log : log.slice(log.lastIndexOf(mark) + 1)) {
        const segments = req.url.pathname.split('/').slice(1);
        if (segments.some((seg) => !/^[A-Za-z0-9_.-]+$/.test(seg) || seg === '.' || seg === '..'))
          problems.push(`${req.method} ${req.url.pathname}`);
      }
    };
    for (const [tool, args] of Object.entries(BASE)) {
      const keys = [...Object.keys(args).filter((k) => typeof args[k] === 'string'), ...(EXTRA[tool] ?? [])];
      for (const key of keys) {
        for (const value of HOSTILE) {
          calls++;
          const mark = log.at(-1);
          const r = await s.client.callTool({ name: tool, arguments: { ...args, [key]: value } });
          const text = (r.content as { text?: string }[])[0]?.text ?? '';
          checkPaths(mark);
          if (r.isError && !/^ERR_[A-Z_]+: /.test(text))
            problems.push(`${tool}.${key}: no error code: ${text.slice(0, 120)}`);
          if (/^ERR_INTERNAL/.test(text))
            problems.push(`${tool}.${key}=${JSON.stringify(value).slice(0, 30)}: ${text.slice(0, 160)}`);
        }
      }
    }
    console.log(
      `attackgz zitadel fuzz: ${calls} calls over ${Object.keys(BASE).length} tools, ${problems.length} problems`,
    );
    expect(problems).toEqual([]);
  }, 120_000);
});
