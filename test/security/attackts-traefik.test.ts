/**
 * The Traefik server attacked from outside, through the real bin over stdio (the SDK Client) against the
 * Traefik simulator and a real file-provider directory: credentials Traefik holds in its configuration
 * (middleware headers, plugin settings, forwardAuth URLs, TLS keys inline in a file) must not reach a
 * caller, a plan, the audit log or the diff of a route change.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { confirmed, connectStdio, type Structured, startFixture, useTraefikSession } from '../traefik/harness.js';

const SECRETS = {
  bearer: 'Bearer sk-live-9f8e7d6c5b4a3f2e1d0c',
  apiKey: 'ak-3c2b1a0f9e8d7c6b5a4f',
  cookie: 'session=cafe-f00d-1234-beef-77',
  plugin: 'plg-token-55aa66bb77cc88dd',
  forward: 'fwd-pass-0a1b2c3d4e5f',
  hash: '$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/',
  pem: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7',
  header: 'hdr-key-77aa88bb99cc00dd',
  query: 'qry-token-11ee22ff33aa44bb',
  regex: 'rgx-token-5e6f7a8b9c0d1e2f',
} as const;

/** Fails naming the first secret found (never printing it). */
function expectNone(text: string, where: string): void {
  for (const [name, value] of Object.entries(SECRETS)) {
    if (text.includes(value)) throw new Error(`secret "${name}" appears in ${where}`);
  }
}

const session = useTraefikSession({
  seed: (fx) => {
    fx.sim.setProvider('docker', {
      http: {
        routers: {
          app: { rule: 'Host(`app.example.com`)', service: 'app', middlewares: ['sso'] },
          // routing on a shared secret: only requests that carry the key reach this backend
          vip: {
            rule: `Host(\`vip.example.com\`) && (Header(\`X-Api-Key\`, \`${SECRETS.header}\`) || Query(\`token\`, "${SECRETS.query}"))`,
            service: 'app',
          },
        },
        services: {
          app: { loadBalancer: { servers: [{ url: 'http://10.0.0.3:80' }] } },
          basic: { loadBalancer: { servers: [{ url: `http://svc:${SECRETS.forward}@10.0.0.4:80` }] } },
        },
        middlewares: {
          upstream: {
            headers: {
              customRequestHeaders: { Authorization: SECRETS.bearer, 'X-Api-Key': SECRETS.apiKey, 'X-Env': 'prod' },
              customResponseHeaders: { 'Set-Cookie': SECRETS.cookie },
            },
          },
          sso: {
            forwardAuth: {
              address: `https://auth:${SECRETS.forward}@sso.internal/verify`,
              authResponseHeaders: ['X-User'],
            },
          },
          waf: { plugin: { wafplugin: { apiToken: SECRETS.plugin, mode: 'block' } } },
          auth: { basicAuth: { users: [`admin:${SECRETS.hash}`] } },
        },
      },
    });
  },
  timeoutMs: 60_000,
});

describe('credentials in middleware configuration', () => {
  it('middlewares_list shows the shape, never header values, plugin tokens or URL passwords', async () => {
    const res = await session.client.callTool({ name: 'middlewares_list', arguments: {} });
    expect(res.isError).toBeFalsy();
    expectNone(JSON.stringify(res), 'middlewares_list');
    const byName = Object.fromEntries(
      (res.structuredContent as { middlewares: Structured[] }).middlewares.map((m) => [m.name, m.config]),
    );
    // what an operator needs stays: which headers are set, where forwardAuth goes, who may log in
    expect(byName['upstream@docker']).toEqual({
      customRequestHeaders: { Authorization: '[redacted]', 'X-Api-Key': '[redacted]', 'X-Env': 'prod' },
      customResponseHeaders: { 'Set-Cookie': '[redacted]' },
    });
    expect(byName['sso@docker']).toEqual({
      address: 'https://auth:[redacted]@sso.internal/verify',
      authResponseHeaders: ['X-User'],
    });
    expect(byName['waf@docker']).toEqual({ wafplugin: { apiToken: '[redacted]', mode: 'block' } });
    expect(byName['auth@docker']).toEqual({ users: ['admin:[redacted]'] });
  });

  it('services_list shows server URLs without their passwords', async () => {
    const res = await session.client.callTool({ name: 'services_list', arguments: { provider: 'docker' } });
    expectNone(JSON.stringify(res), 'services_list');
    const basic = (res.structuredContent as { services: Structured[] }).services.find((x) => x.name === 'basic@docker');
    expect(basic?.servers).toEqual([{ url: 'http://svc:[redacted]@10.0.0.4:80', status: 'unknown' }]);
  });

  it('router rules that match on a secret header or query value show the name, not the value', async () => {
    const list = await session.client.callTool({ name: 'routers_list', arguments: { provider: 'docker' } });
    const one = await session.client.callTool({ name: 'routers_get', arguments: { name: 'vip@docker' } });
    // a near miss: the host matches, the key is missing, and the failed matchers are listed
    const diag = await session.client.callTool({
      name: 'requests_diagnose',
      arguments: { url: 'http://vip.example.com/' },
    });
    for (const [where, res] of Object.entries({ list, one, diag })) expectNone(JSON.stringify(res), where);
    expect((one.structuredContent as Structured).rule).toBe(
      'Host(`vip.example.com`) && (Header(`X-Api-Key`, `[redacted]`) || Query(`token`, "[redacted]"))',
    );
    expect((diag.structuredContent as Structured).nearMisses).toEqual([
      { router: 'vip@docker', failed: ['Header(`X-Api-Key`, `[redacted]`)', 'Query(`token`, `[redacted]`)'] },
    ]);
  });

  it('requests_diagnose names the forwardAuth server without its password', async () => {
    const res = await session.client.callTool({
      name: 'requests_diagnose',
      arguments: { url: 'http://app.example.com/' },
    });
    expect(res.isError).toBeFalsy();
    expectNone(JSON.stringify(res), 'requests_diagnose');
    expect((res.structuredContent as Structured).middlewares).toEqual([
      'sso@docker (forwardauth): unknown: the auth server at https://auth:[redacted]@sso.internal/verify decides (its non-2xx answers are returned)',
    ]);
  });
});

describe('a regexp matcher that does not compile', () => {
  // RE2 (like Go's regexp) quotes the pattern in its message: `missing closing ): \`^Bearer ...(\``.
  const rule = `Host(\`rx.example.com\`) && HeaderRegexp(\`Authorization\`, \`^Bearer ${SECRETS.regex}(\`)`;

  beforeAll(() => {
    session.fx.sim.setProvider('kubernetescrd', {
      http: {
        routers: { rx: { rule, service: 'rx' } },
        services: { rx: { loadBalancer: { servers: [{ url: 'http://10.0.0.9:80' }] } } },
      },
    });
  });

  it('routes_apply names the matcher and the reason, not the pattern', async () => {
    // Its own audit log: the audit records the rule argument as given (the caller's own text; outcome
    // records carry the error code only), which the file-wide audit check below would find.
    const own = await connectStdio({
      ...session.fx.env,
      RAVENHELM_AUDIT_FILE: join(session.fx.scratch, 'audit-rx.jsonl'),
    });
    try {
      const res = await own.callTool({
        name: 'routes_apply',
        arguments: { name: 'rx', rule, servers: ['http://10.0.0.9'] },
      });
      expect(res.isError).toBe(true);
      expectNone(JSON.stringify(res), 'the routes_apply error');
      expect(JSON.stringify(res.content)).toMatch(
        /ERR_INVALID_INPUT: the rule is invalid: HeaderRegexp regex does not compile \(missing closing \)\); the pattern is not repeated here \(at column \d+\)/,
      );
    } finally {
      await own.close();
    }
  }, 30_000);

  it("Traefik's own error for the router (Go's regexp quotes the pattern) reaches readers without the pattern", async () => {
    const one = await session.client.callTool({ name: 'routers_get', arguments: { name: 'rx@kubernetescrd' } });
    const list = await session.client.callTool({ name: 'routers_list', arguments: { status: 'disabled' } });
    for (const [where, res] of Object.entries({ one, list })) expectNone(JSON.stringify(res), where);
    const errors = (one.structuredContent as Structured).errors as string[];
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /error while adding rule HeaderRegexp: error parsing regexp: missing closing \) \(pattern not shown\)$/,
    );
  });

  it("requests_diagnose skips another provider's router over it without quoting the pattern", async () => {
    const res = await session.client.callTool({
      name: 'requests_diagnose',
      arguments: { url: 'http://rx.example.com/' },
    });
    expect(res.isError).toBeFalsy();
    expectNone(JSON.stringify(res), 'requests_diagnose');
    expect((res.structuredContent as Structured).skipped).toContainEqual(
      expect.stringMatching(/^rx@kubernetescrd: HeaderRegexp regex does not compile \(missing closing \)\)/),
    );
  });
});

/** A file someone else wrote in the watched directory: a TLS key inline (Traefik accepts PEM content in keyFile). */
const FOREIGN = `http:
  routers:
    legacy:
      rule: Host(\`legacy.example.com\`)
      service: legacy
      middlewares: [legacy-auth]
  middlewares:
    legacy-auth:
      basicAuth:
        users:
          - "ops:${SECRETS.hash}"
  services:
    legacy:
      loadBalancer:
        servers:
          - url: http://10.0.0.7:80
tls:
  certificates:
    - certFile: /certs/legacy.crt
      keyFile: |
        -----BEGIN PRIVATE KEY-----
        ${SECRETS.pem}
        -----END PRIVATE KEY-----
`;

describe('taking over a file this server did not write', () => {
  const route = { name: 'legacy', rule: 'Host(`legacy.example.com`)', servers: ['http://10.0.0.8:80'], takeOver: true };

  beforeAll(() => writeFileSync(join(session.fx.dir, 'legacy.yaml'), FOREIGN));

  it('the plan and diff of routes_apply name what is replaced but show no key or password hash', async () => {
    const { plan, result } = await confirmed(session.client, 'routes_apply', route);
    expect(result.isError).toBeFalsy();
    const s = result.structuredContent as Structured;
    expect(s).toMatchObject({ action: 'update', written: false });
    expectNone(plan, 'the routes_apply plan');
    expectNone(JSON.stringify(result), 'the routes_apply result');
    // still a useful diff: what goes away is visible
    expect(s.diff).toMatch(/^-.*legacy-auth/m);
    expect(s.diff).toMatch(/^-.*\[redacted\]/m);
    expect(s.diff).toMatch(/^\+.*url: http:\/\/10\.0\.0\.8:80/m);
  });

  it('the plan and diff of routes_remove show no key or password hash either', async () => {
    const { plan, result } = await confirmed(session.client, 'routes_remove', { name: 'legacy', takeOver: true });
    expect(result.isError).toBeFalsy();
    expectNone(plan, 'the routes_remove plan');
    expectNone(JSON.stringify(result), 'the routes_remove result');
    expect((result.structuredContent as Structured).diff).toMatch(/^-.*legacy-auth/m);
  });

  it('nothing of it reached the audit log', () => {
    expectNone(readFileSync(join(session.fx.scratch, 'audit.jsonl'), 'utf8'), 'the audit log');
  });
});

describe('refused route changes reach neither Traefik nor the directory', () => {
  const route = { name: 'evil', rule: 'Host(`evil.example.com`)', servers: ['http://10.0.0.66:80'], dryRun: false };
  // each: what the operator or the caller got wrong, and the refusal it must get
  const cases: [string, (env: Record<string, string>, scratch: string) => Record<string, string>, RegExp][] = [
    [
      'a read-scoped token',
      (env) => ({ ...env, RAVENHELM_LOCAL_SCOPES: 'mcp:traefik:read' }),
      /ERR_INSUFFICIENT_SCOPE/,
    ],
    [
      'a SPIFFE ID off the allowlist',
      (env) => ({ ...env, RAVENHELM_LOCAL_SPIFFE_ID: 'spiffe://ravenhelm.local/agent/intruder' }),
      /ERR_TIER_SPIFFE_REQUIRED/,
    ],
    [
      'read-only mode',
      (env, scratch) => {
        const policy = join(scratch, 'readonly.yaml');
        writeFileSync(policy, 'version: 1\nservers:\n  traefik:\n    readOnly: true\n');
        return { ...env, RAVENHELM_POLICY_FILE: policy };
      },
      /ERR_READ_ONLY/,
    ],
  ];
  it.each(cases)(
    '%s',
    async (_label, envOf, want) => {
      const f = await startFixture();
      const c = await connectStdio(envOf(f.env, f.scratch));
      try {
        const before = f.sim.requests.length;
        const res = await c.callTool({ name: 'routes_apply', arguments: route });
        expect(res.isError).toBe(true);
        expect(JSON.stringify(res.content)).toMatch(want);
        expect(res._meta?.['ravenhelm/confirmation']).toBeUndefined();
        // not even the plan's reads (entrypoints, middlewares) were made
        expect(f.sim.requests.slice(before)).toEqual([]);
        expect(readdirSync(f.dir)).toEqual([]);
      } finally {
        await c.close();
        await f.close();
      }
    },
    30_000,
  );
});

describe('a large file in the directory', () => {
  // 2,400 routers someone else wrote: about 180 KB, under the 256 KiB a route file may have
  const lines = ['http:', '  routers:'];
  for (let i = 0; i < 2400; i++)
    lines.push(`    r${i}:`, `      rule: Host(\`h${i}.example.com\`)`, `      service: s${i}`);
  const big = `${lines.join('\n')}\n`;

  // Before: a 180 KB plan, then the file removed and the caller told ERR_OUTPUT_TOO_LARGE.
  it('routes_remove (takeOver) plans, removes and answers within the output budget, saying the diff was cut', async () => {
    writeFileSync(join(session.fx.dir, 'bulk.yaml'), big);
    const args = { name: 'bulk', takeOver: true, dryRun: false };
    const { plan, result } = await confirmed(session.client, 'routes_remove', args);
    expect(Buffer.byteLength(plan)).toBeLessThan(64 * 1024);
    expect(plan).toMatch(/more lines not shown/);
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    const s = result.structuredContent as Structured;
    expect(s).toMatchObject({ action: 'remove', written: true });
    expect(s.diff).toMatch(/^- {4}r0:$/m);
    expect(s.diff).toMatch(/\.\.\. \d+ more lines not shown \(diff cut at \d+ bytes\)$/);
    expect(readdirSync(session.fx.dir)).not.toContain('bulk.yaml');
  }, 30_000);
});

describe('a route file that changes between plan and confirmation', () => {
  // The confirmation carries the plan's digest (shared/src/pipeline/pipeline.ts #confirm): the confirmed
  // call diffs again, and a file changed since the approved diff is refused with nothing written.
  let confirmedAfterChange: Awaited<ReturnType<Client['callTool']>> | undefined;

  // The steps, kept apart from the check below.
  it('plan, another change to the same route, then the confirmation', async () => {
    const base = { name: 'toctou', rule: 'Host(`toctou.example.com`)', dryRun: false };
    await confirmed(session.client, 'routes_apply', { ...base, servers: ['http://10.0.1.1:80'] });
    const mine = { ...base, servers: ['http://10.0.1.2:80'] };
    const first = await session.client.callTool({ name: 'routes_apply', arguments: mine });
    const token = (first._meta?.['ravenhelm/confirmation'] as { token?: string } | undefined)?.token;
    expect(token).toBeTypeOf('string');
    await confirmed(session.client, 'routes_apply', { ...base, servers: ['http://10.0.1.3:80'] });
    confirmedAfterChange = await session.client.callTool({
      name: 'routes_apply',
      arguments: { ...mine, confirmationToken: token },
    });
  }, 30_000);

  it('the confirmed call is refused when the file is no longer the one its plan showed', () => {
    expect(confirmedAfterChange?.isError).toBe(true);
    expect(JSON.stringify(confirmedAfterChange?.content)).toMatch(/ERR_CONFLICT/);
    const onDisk = readFileSync(join(session.fx.dir, 'toctou.yaml'), 'utf8');
    expect(onDisk).toContain('10.0.1.3'); // the other change stays; nothing was written
    expect(onDisk).not.toContain('10.0.1.2');
  });
});
