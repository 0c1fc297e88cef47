/**
 * Every GitLab tool with hostile strings in each of its string arguments (attackgz): paths that try to
 * leave the allowlist, query/fragment/newline injection, encodings, look-alikes, prototype keys, huge
 * values. In process (invokeTool and the real gitbeaker client) against the simulator with an admin
 * token, so only the server's own checks stand between a caller and the `secret` group. Bounded: one
 * call per tool, argument and value, each with a short deadline.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cases } from '../contract/servers/gitlab.js';
import { call, type Fixture, start } from '../gitlab/harness.js';
import { ADMIN_TOKEN, type GitLabRequest } from '../simulators/gitlab.js';

const ALLOW = ['platform/*', 'sandbox/**'];
const HOSTILE = [
  'secret/vault',
  'platform/../secret/vault',
  'platform/api/../../secret/vault',
  'platform%2F..%2Fsecret%2Fvault',
  'platform/api?private_token=x#frag',
  'platform/api\nX-Injected: 1',
  'platform/api/',
  'platform/..',
  'platform/.',
  '..',
  '%2e%2e',
  'ＰＬＡＴＦＯＲＭ/api',
  'secret/vault\u200b',
  '__proto__',
  'constructor',
  '\u0000',
  'x'.repeat(5000),
];

let fx: Fixture;

/** ALLOW spelled out independently of the server's Allowlist: what GitLab itself would resolve there. */
function allowed(path: string): boolean {
  const s = path.toLowerCase().split('/');
  if (s.some((seg) => seg === '' || seg === '.' || seg === '..')) return false;
  return (s[0] === 'platform' && s.length === 2) || s[0] === 'sandbox';
}

beforeAll(async () => {
  fx = await start({ allowlist: ALLOW, token: ADMIN_TOKEN, timeoutMs: 2000, maxRetries: 0 });
});
afterAll(() => fx.close());

/** Requests the simulator saw since `mark` (its log keeps the last 500). */
function since(mark: GitLabRequest | undefined): GitLabRequest[] {
  const log = fx.sim.control.requests;
  return mark === undefined ? [...log] : log.slice(log.lastIndexOf(mark) + 1);
}

/** The project or group a request names by path, if any. */
function namedPath(r: GitLabRequest): string | undefined {
  const m = /^\/api\/v4\/(?:projects|groups)\/([^/]+)/.exec(r.path);
  if (!m) return undefined;
  const id = decodeURIComponent(m[1] as string);
  return /^\d+$/.test(id) ? undefined : id;
}

const firstOk = new Map<string, Record<string, unknown>>();
for (const c of cases) if (c.expect === 'ok' && !firstOk.has(c.tool)) firstOk.set(c.tool, c.arguments);

describe('hostile strings in every string argument of every GitLab tool', () => {
  it('never a server bug, never a request that names a project or group off the allowlist', async () => {
    const problems: string[] = [];
    let calls = 0;
    for (const [tool, args] of firstOk) {
      const keys = Object.keys(args).filter((k) => typeof args[k] === 'string');
      for (const key of keys.length > 0 ? keys : ['project']) {
        for (const value of HOSTILE) {
          const mark = fx.sim.control.requests.at(-1);
          calls++;
          try {
            await call(tool, { ...args, [key]: value }, fx.services, 64 * 1024, 5000);
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (code === undefined || code === 'ERR_INTERNAL')
              problems.push(`${tool}.${key}=${JSON.stringify(value).slice(0, 40)}: ${(err as Error).message}`);
          }
          for (const r of since(mark)) {
            const named = namedPath(r);
            if (named !== undefined && !allowed(named))
              problems.push(`${tool}.${key}=${JSON.stringify(value).slice(0, 40)} sent ${r.method} ${r.path}`);
          }
        }
      }
      // a JSON body with prototype keys: parsed as own properties, never as the arguments themselves
      const proto = JSON.parse(`{"__proto__": {"project": "secret/vault", "group": "secret"}}`);
      const mark = fx.sim.control.requests.at(-1);
      await call(tool, { ...proto, ...args }, fx.services, 64 * 1024, 5000).catch(() => undefined);
      for (const r of since(mark)) {
        const named = namedPath(r);
        if (named !== undefined && !allowed(named)) problems.push(`${tool} with __proto__ sent ${r.path}`);
      }
    }
    console.log(`attackgz gitlab fuzz: ${calls} calls over ${firstOk.size} tools, ${problems.length} problems`);
    expect(problems).toEqual([]);
  }, 120_000);
});
