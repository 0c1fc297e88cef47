/**
 * A shared key in a router rule (`Header(\`X-Api-Key\`, \`...\`)`) or a password in a backend URL goes to
 * Traefik's file, and nowhere else: not the confirmation plan, the answer, the diff of a later change or
 * removal, the audit log, or what readers get back from Traefik's API. Through the real bin over stdio.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { confirmed, ok, type Structured, useTraefikSession } from './harness.js';

const KEY = 'k-7f3a9c1e55d0b2aa';
const PASSWORD = 'pw-8812aa-backend';

const session = useTraefikSession();

describe('credentials inside a route', () => {
  it('are written for Traefik and shown to no one: plan, answer, diff, reads, removal, audit', async () => {
    const route = {
      name: 'partner-api',
      rule: `Host(\`partner.example.com\`) && Header(\`X-Api-Key\`, \`${KEY}\`)`,
      servers: [`http://svc:${PASSWORD}@10.0.0.9:8080`],
      dryRun: false,
    };
    const { plan, result } = await confirmed(session.client, 'routes_apply', route);
    const applied = result.structuredContent as Structured;
    expect(applied).toMatchObject({ action: 'create', written: true, loaded: true, status: 'enabled' });
    expect(applied.diff).toContain('+      rule: Host(`partner.example.com`) && Header(`X-Api-Key`, `[redacted]`)');
    expect(applied.diff).toContain('+          - url: http://svc:[redacted]@10.0.0.9:8080');
    expect(plan).toContain('Header(`X-Api-Key`, `[redacted]`)');

    // Traefik gets the real values: the file holds them and the router it loaded matches on them.
    const file = readFileSync(join(session.fx.dir, 'partner-api.yaml'), 'utf8');
    expect(file).toContain(KEY);
    expect(file).toContain(PASSWORD);

    const read = await ok(session.client, 'routers_get', { name: 'partner-api@file' });
    expect(read.rule).toBe('Host(`partner.example.com`) && Header(`X-Api-Key`, `[redacted]`)');

    // A change of the same route diffs what a caller may see of the file on both sides.
    const updated = await confirmed(session.client, 'routes_apply', { ...route, servers: ['http://10.0.0.10:8080'] });
    const diff = (updated.result.structuredContent as Structured).diff as string;
    expect(diff).toContain('url: http://10.0.0.10:8080');
    const removed = await confirmed(session.client, 'routes_remove', { name: 'partner-api', dryRun: true });

    const everything = JSON.stringify([plan, result, read, updated, removed]);
    expect(everything).not.toContain(KEY);
    expect(everything).not.toContain(PASSWORD);

    // The audit log names the route, host and header, never the values.
    const audit = readFileSync(session.fx.env.RAVENHELM_AUDIT_FILE as string, 'utf8');
    const applies = audit
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.tool === 'routes_apply');
    expect(applies.length).toBeGreaterThanOrEqual(4);
    expect(applies[0].args).toMatchObject({
      name: 'partner-api',
      rule: 'Host(`partner.example.com`) && Header(`X-Api-Key`, `[redacted]`)',
      servers: ['http://svc:[redacted]@10.0.0.9:8080'],
    });
    expect(audit).not.toContain(KEY);
    expect(audit).not.toContain(PASSWORD);
  });
});

describe('credentials in ruleSyntax v2 rules (pkg/muxer/http/matcher_v2.go: Headers pairs, Query name=value)', () => {
  const TOKEN = 'tok-55e1c0ffee9a';
  const rules: Record<string, string> = {
    pairs: `Host(\`v2key.example.com\`) && Headers(\`X-Env\`, \`prod\`, \`X-Api-Key\`, \`${KEY}\`)`,
    regexp: `Host(\`v2re.example.com\`) && HeadersRegexp(\`Authorization\`, \`^Bearer ${TOKEN}$\`)`,
    query: `Host(\`v2q.example.com\`) && Query(\`page=1\`, \`token=${TOKEN}\`)`,
    lower: `Host(\`v3low.example.com\`) && header(\`X-Api-Key\`, \`${KEY}\`)`,
    // a malformed template: Traefik's error quotes it ("mux: unbalanced braces in ...")
    broken: `Host(\`v2bad.example.com\`) && Query(\`token={${TOKEN}\`)`,
  };

  it('routers_list, routers_get and requests_diagnose show the rules without them', async () => {
    const routers: Record<string, Record<string, unknown>> = {};
    for (const [name, rule] of Object.entries(rules)) {
      routers[name] = { rule, ruleSyntax: name === 'lower' ? 'v3' : 'v2', service: 's' };
    }
    session.fx.sim.setProvider('consul', {
      http: { routers, services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.2' }] } } } },
    });
    try {
      const list = await ok(session.client, 'routers_list', { provider: 'consul' });
      const got = await ok(session.client, 'routers_get', { name: 'pairs@consul' });
      expect(got.rule).toBe('Host(`v2key.example.com`) && Headers(`X-Env`, `prod`, `X-Api-Key`, `[redacted]`)');
      const query = await ok(session.client, 'routers_get', { name: 'query@consul' });
      expect(query.rule).toBe('Host(`v2q.example.com`) && Query(`page=1`, `token=[redacted]`)');
      // a 404 for the host lists the near misses, matcher by matcher
      const near = await ok(session.client, 'requests_diagnose', { url: 'http://v2re.example.com/' });
      const nearQ = await ok(session.client, 'requests_diagnose', { url: 'http://v2q.example.com/' });
      const broken = await ok(session.client, 'routers_get', { name: 'broken@consul' });
      expect(broken.status).toBe('disabled');
      expect(broken.errors).toEqual([
        'error while parsing rule Host(`v2bad.example.com`) && Query(`token=[redacted]`): adding rule Host(`v2bad.example.com`) && Query(`token=[redacted]`): error while adding rule Query: mux: unbalanced braces in (template not shown)',
      ]);
      const everything = JSON.stringify([list, got, query, near, nearQ, broken]);
      expect(everything).toContain('v2key.example.com');
      expect(everything).not.toContain(KEY);
      expect(everything).not.toContain(TOKEN);
    } finally {
      session.fx.sim.setProvider('consul', {});
    }
  });

  it('a matcher name in another case Traefik accepts (header, QUERY) is redacted too: plan, answer, audit', async () => {
    const LOWER = 'lk-0b9e77d1c2';
    const rule = `Host(\`lk.example.com\`) && header(\`X-Api-Key\`, \`${LOWER}\`) && QUERY(\`api_key\`, \`${LOWER}\`)`;
    const { plan, result } = await confirmed(session.client, 'routes_apply', {
      name: 'lower-key',
      rule,
      servers: ['http://10.0.0.9:8080'],
      dryRun: true,
    });
    expect(plan).toContain('header(`X-Api-Key`, `[redacted]`) && QUERY(`api_key`, `[redacted]`)');
    const audit = readFileSync(session.fx.env.RAVENHELM_AUDIT_FILE as string, 'utf8');
    expect(JSON.stringify([plan, result])).not.toContain(LOWER);
    expect(audit).toContain('lower-key');
    expect(audit).not.toContain(LOWER);
  });
});
