/**
 * Ninth round against the Traefik server from outside (the real bin over stdio, the SDK Client, the simulator).
 * - route files are read by gopkg.in/yaml.v3, which takes NEL, LS and PS (U+0085, U+2028, U+2029) as line breaks
 *   (yamlprivateh.go is_break) and whose reader refuses DEL, the other C1 controls and U+FFFE/U+FFFF anywhere in
 *   the file (readerc.go: "control characters are not allowed"). The yaml library here wrote all of them raw:
 *   a rule within the host allowlist that held LS broke out of its plain scalar into routers of the caller's
 *   choosing (any host), and a DEL in a backend URL failed Traefik's whole directory. labels_generate's compose
 *   snippet (read by compose with yaml.v3 as well) folded LS into a space and failed on DEL.
 * - rule strings are Go literals (strconv.Unquote): `\x` is a byte, so "\xc3\xa9" is "é", not "Ã©"; a raw string
 *   drops its carriage returns; `\U00110000` is an invalid code point (it was a RangeError: an internal error).
 * - two confirmed changes of one route file at once both ran: each had confirmed "create", the second replaced the
 *   first's file, and the first then waited its whole load timeout for a rule that was gone (loaded: false, a note
 *   blaming some bad file). Changes of one file now take turns, and a confirmed one whose file changed after its
 *   plan does nothing.
 * - an API that keeps answering empty (or repeated) pages with a next page ahead was followed page after page until
 *   the call timed out; the pages a list may take are now bounded and the answer says it is truncated.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type Listening, listen } from '../simulators/http.js';
import { confirmed, connectStdio, type Fixture, fails, ok, type Structured, startFixture } from '../traefik/harness.js';
import { traefikSession } from './traefik-session.js';

/**
 * A route file as yaml.v3 reads it (the simulator's YAML reader does not model this): raw characters its reader
 * refuses fail the file, NEL/LS/PS are line breaks, and a \u escape of a surrogate is refused by its scanner.
 */
function readAsYamlV3(text: string): unknown {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters yaml.v3's reader refuses
  const refused = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]/u.exec(text);
  if (refused)
    throw new Error(`yaml: control characters are not allowed (U+${refused[0].codePointAt(0)?.toString(16)})`);
  if (/\\u[dD][89a-fA-F][0-9a-fA-F]{2}/.test(text))
    throw new Error('yaml: found invalid Unicode character escape code');
  return parse(text.replace(/[\x85\u2028\u2029]/g, '\n'));
}

type Routers = Record<string, { rule: string; service: string }>;
const routersIn = (name: string, dir: string) =>
  (readAsYamlV3(readFileSync(join(dir, `${name}.yaml`), 'utf8')) as { http: { routers: Routers } }).http.routers;

describe('characters yaml.v3 reads otherwise than the yaml library writes them', () => {
  const s = traefikSession({ env: { TRAEFIK_ROUTE_HOSTS_ALLOW: 'app.example.com' } });
  const apply = async (args: Record<string, unknown>) => {
    const { result } = await confirmed(s.client, 'routes_apply', {
      servers: ['http://10.0.0.9'],
      ...args,
      dryRun: false,
    });
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    return result.structuredContent as Structured;
  };

  it('a rule within the allowlist holding U+2028 cannot add a router for every host', async () => {
    const LS = '\u2028';
    const rule = `Host(\`app.example.com\`) && Path(\`/a${LS}#${LS}    evil:${LS}      rule:${LS}        PathPrefix("/")${LS}#\`)`;
    const out = await apply({ name: 'inj', rule });
    expect(out.written).toBe(true);
    const routers = routersIn('inj', s.fx.dir);
    expect(Object.keys(routers)).toEqual(['inj']);
    expect(routers.inj?.rule).toBe(rule);
  });

  it.each([
    ['NEL', '\u0085'],
    ['PS', '\u2029'],
  ])('a rule holding %s reads back as written, not cut or folded', async (_what, c) => {
    const rule = `Host(\`app.example.com\`) && Path(\`/x${c}y\`)`;
    await apply({ name: `brk-${c.charCodeAt(0)}`, rule });
    expect(routersIn(`brk-${c.charCodeAt(0)}`, s.fx.dir)[`brk-${c.charCodeAt(0)}`]?.rule).toBe(rule);
  });

  it('a DEL or C1 control in a backend URL, or U+FFFF in a rule, does not fail the whole directory', async () => {
    const servers = ['http://10.0.0.9/a\x7fb', 'http://10.0.0.9/c\x9bd'];
    const rule = 'Host(`app.example.com`) && Path(`/\uffff`)';
    await apply({ name: 'ctl', rule, servers });
    const doc = readAsYamlV3(readFileSync(join(s.fx.dir, 'ctl.yaml'), 'utf8')) as Structured;
    expect(doc.http.routers.ctl.rule).toBe(rule);
    expect(doc.http.services.ctl.loadBalancer.servers).toEqual(servers.map((url) => ({ url })));
  });
});

describe('labels_generate: the compose snippet as compose reads it', () => {
  const s = traefikSession();

  it('labels holding LS, NEL or DEL read back from the snippet as listed', async () => {
    const rule = 'Host(`app.example.com`) && Path(`/a\u2028b\u0085c\x7fd`)';
    const out = await ok(s.client, 'labels_generate', { name: 'web', rule, port: 8080 });
    expect(out.labels).toContain(`traefik.http.routers.web.rule=${rule}`);
    expect((readAsYamlV3(out.compose) as { labels: string[] }).labels).toEqual(out.labels);
  });
});

describe('rule strings as Go reads them', () => {
  const s = traefikSession({
    seed: (fx) =>
      fx.sim.setProvider('docker', {
        http: {
          routers: {
            cafe: { rule: 'Path("/caf\\xc3\\xa9")', service: 'web', entryPoints: ['web'] },
            cr: { rule: 'Path(`/ok\r`)', service: 'web', entryPoints: ['web'] },
          },
          services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
        },
      }),
  });

  it('"\\xc3\\xa9" in a double-quoted string is the bytes of "é": the request for /caf%C3%A9 meets that router', async () => {
    const d = await ok(s.client, 'requests_diagnose', { url: 'http://app.example.com/caf%C3%A9' });
    expect(d.router).toBe('cafe@docker');
  });

  it('a carriage return in a backquoted string is dropped, as Go drops it: /ok meets that router', async () => {
    const d = await ok(s.client, 'requests_diagnose', { url: 'http://app.example.com/ok' });
    expect(d.router).toBe('cr@docker');
  });

  it('an escape past U+10FFFF or of a surrogate is an invalid rule, not an internal error', async () => {
    for (const esc of ['\\U00110000', '\\uD800']) {
      const err = await fails(s.client, 'labels_generate', { name: 'web', rule: `Path("/a${esc}")`, port: 80 });
      expect(err).toMatch(
        /^ERR_INVALID_INPUT: the rule is invalid: escape sequence \\[uU][0-9A-F]+ is an invalid Unicode code point/,
      );
    }
  });

  it('\\x bytes that are not UTF-8 are refused (Go keeps them; a rule here cannot be matched as Traefik would)', async () => {
    const err = await fails(s.client, 'labels_generate', { name: 'web', rule: 'Path("/a\\xff")', port: 80 });
    expect(err).toMatch(/^ERR_INVALID_INPUT: the rule is invalid: \\x escapes that are not UTF-8/);
  });
});

describe('two confirmed changes of one route file at once', () => {
  const s = traefikSession({ env: { TRAEFIK_LOAD_TIMEOUT_MS: '3000' } });

  /** Both plans first (both "create"), then both confirmations at once. */
  async function race(tool: string, calls: Record<string, unknown>[]) {
    const plans = await Promise.all(calls.map((args) => s.client.callTool({ name: tool, arguments: args })));
    const tokens = plans.map(tokenOf);
    return Promise.all(
      calls.map((args, i) => s.client.callTool({ name: tool, arguments: { ...args, confirmationToken: tokens[i] } })),
    );
  }
  const tokenOf = (r: { _meta?: Record<string, unknown> }) => {
    const meta = r._meta?.['ravenhelm/confirmation'] as { token?: string } | undefined;
    if (!meta?.token) throw new Error(`no confirmation token: ${JSON.stringify(r)}`);
    return meta.token;
  };
  const text = (r: unknown) => ((r as { content: { text: string }[] }).content ?? []).map((c) => c.text).join('');

  it('one is written and loaded; the other changes nothing and says the file changed after its plan', async () => {
    const rules = ['Host(`one.example.com`)', 'Host(`two.example.com`)'];
    const results = await race(
      'routes_apply',
      rules.map((rule) => ({ name: 'twin', rule, servers: ['http://10.0.0.9'], dryRun: false })),
    );
    const done = results.filter((r) => !r.isError);
    const refused = results.filter((r) => r.isError);
    expect(done).toHaveLength(1);
    expect(done[0]?.structuredContent).toMatchObject({ action: 'create', written: true, loaded: true });
    expect(refused).toHaveLength(1);
    expect(text(refused[0])).toMatch(/^ERR_CONFLICT: .*changed|differs from the plan/);
    // the file holds the rule of the call that said it wrote it
    const winner = rules[results.indexOf(done[0] as (typeof results)[number])] as string;
    expect(routersIn('twin', s.fx.dir).twin?.rule).toBe(winner);
  });

  it('a removal confirmed for the file as it was does not delete what another call wrote since', async () => {
    const { result } = await confirmed(s.client, 'routes_apply', {
      name: 'pair',
      rule: 'Host(`a.example.com`)',
      servers: ['http://10.0.0.9'],
      dryRun: false,
    });
    expect(result.isError).toBeFalsy();
    const remove = await s.client.callTool({ name: 'routes_remove', arguments: { name: 'pair', dryRun: false } });
    const token = tokenOf(remove);
    const update = { name: 'pair', rule: 'Host(`b.example.com`)', servers: ['http://10.0.0.9'], dryRun: false };
    const plan = await s.client.callTool({ name: 'routes_apply', arguments: update });
    const updateToken = tokenOf(plan);
    const [updated, removed] = await Promise.all([
      s.client.callTool({ name: 'routes_apply', arguments: { ...update, confirmationToken: updateToken } }),
      s.client.callTool({
        name: 'routes_remove',
        arguments: { name: 'pair', dryRun: false, confirmationToken: token },
      }),
    ]);
    // whichever ran second found the file changed since its plan and did nothing
    expect([updated.isError, removed.isError].filter(Boolean)).toHaveLength(1);
    const failed = updated.isError ? updated : removed;
    expect(text(failed)).toMatch(/^ERR_CONFLICT: .*changed|differs from the plan/);
    if (removed.isError) expect(routersIn('pair', s.fx.dir).pair?.rule).toBe('Host(`b.example.com`)');
    else expect(() => readFileSync(join(s.fx.dir, 'pair.yaml'))).toThrow(/ENOENT/);
  });
});

describe('an API whose pages never end', () => {
  let fake: Listening;
  let fx: Fixture;
  let client: Client;
  const pages: number[] = [];
  beforeAll(async () => {
    // every page empty, each naming the next one (Traefik sends X-Next-Page: 1 on its last page)
    fake = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== '/api/entrypoints') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
        return;
      }
      const page = Number(url.searchParams.get('page') ?? '1');
      pages.push(page);
      res.writeHead(200, { 'content-type': 'application/json', 'x-next-page': String(page + 1) }).end('[]');
    });
    fx = await startFixture({ env: { TRAEFIK_API_URL: fake.url, RAVENHELM_CALL_TIMEOUT_MS: '8000' } });
    client = await connectStdio(fx.env);
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await fx?.close();
    await fake?.close();
  });

  it('entrypoints_list stops after a bounded number of pages and says the list is truncated', async () => {
    const out = await ok(client, 'entrypoints_list');
    expect(out).toEqual({ entryPoints: [], truncated: true });
    // 500 entrypoints at most: 5 full pages of 100, and a few more for items a reload moved
    expect(pages.length).toBeLessThanOrEqual(10);
    expect(pages).toEqual(Array.from({ length: pages.length }, (_, i) => i + 1));
  });
});
