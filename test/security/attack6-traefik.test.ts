/**
 * Sixth round against the Traefik server from outside, on configuration-level inputs: the real bin over stdio,
 * the SDK Client, the simulator.
 * - route files are Go templates to Traefik (pkg/provider/file/file.go renders each file with text/template and
 *   sprig before decoding it): a `{{` in a rule or a server URL passed every check as written, then Traefik loaded
 *   what the template printed (another rule branch, an environment variable);
 * - route files are read by yaml.v3 with YAML 1.1 forms (paerser): a route named `2024-01-02` was written plain, read
 *   as a timestamp, and failed Traefik's whole file-provider directory; `0b1` became a router "<int Value>";
 * - requests_diagnose: an entrypoint's http.encodedCharacters (v3.6.3+) turns a denied %XX into a 400, a Host header
 *   Go's server refuses (Unicode, two of them) is a 400 before routing;
 * - the certificate tools send SNI without a trailing dot (Go's TLS server refuses one) and probe one name per host.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirmed, type Fixture, fails, ok } from '../traefik/harness.js';
import { startTlsFixture, type TlsFixture, useTlsFixture } from '../traefik/tls-servers.js';
import { traefikSession, until } from './traefik-session.js';

async function routerRule(fx: Fixture, name: string): Promise<string | undefined> {
  const res = await fetch(`${fx.sim.url}/api/http/routers/${encodeURIComponent(name)}`);
  return res.ok ? ((await res.json()) as { rule: string }).rule : undefined;
}

describe('route files are Go templates to Traefik', () => {
  const s = traefikSession({ env: { TRAEFIK_ROUTE_HOSTS_ALLOW: 'app.example.com', TRAEFIK_LOAD_TIMEOUT_MS: '1500' } });

  it('the simulator renders a hand-written file as Traefik does before decoding it', async () => {
    process.env.RH_ATTACK6_SIM_VAR = 'from-env';
    writeFileSync(
      join(s.fx.dir, 'hand.yml'),
      'http:\n  routers:\n    hand:\n      rule: Host(`h.example.com`) && Path(`/{{ env "RH_ATTACK6_SIM_VAR" }}{{/* c */}}`)\n      service: hand\n  services:\n    hand:\n      loadBalancer:\n        servers: [{ url: "http://10.0.0.1" }]\n',
    );
    await until(async () => (await routerRule(s.fx, 'hand@file')) !== undefined, 3000);
    expect(await routerRule(s.fx, 'hand@file')).toBe('Host(`h.example.com`) && Path(`/from-env`)');
  });

  it('refuses a rule whose template text would add a branch for any host past the allowlist; nothing written', async () => {
    // read as written: one branch, Host(app.example.com) && Path(...), within the allowlist; rendered by Traefik:
    // Host(`app.example.com`) && Path(`/`) || PathPrefix(`/`), every host
    const rule = 'Host(`app.example.com`) && Path(`/{{ "\\x60) || PathPrefix(\\x60/" }}`)';
    const text = await fails(s.client, 'routes_apply', {
      name: 'tpl',
      rule,
      servers: ['http://10.0.0.9:80'],
      dryRun: false,
    });
    expect(text).toMatch(
      /^ERR_INVALID_INPUT: rule contains "\{\{": Traefik's file provider runs each file as a Go template/,
    );
    expect(await routerRule(s.fx, 'tpl@file')).toBeUndefined();
  });

  it('refuses env actions in the rule and in server URLs, which would print Traefik’s environment into its API', async () => {
    const base = { name: 'leak', servers: ['http://10.0.0.9:80'], dryRun: true };
    const inRule = await fails(s.client, 'routes_apply', {
      ...base,
      rule: 'Host(`app.example.com`) && Path(`/{{ env "TRAEFIK_PILOT_TOKEN" }}`)',
    });
    expect(inRule).toMatch(/^ERR_INVALID_INPUT: rule contains "\{\{"/);
    const inServer = await fails(s.client, 'routes_apply', {
      ...base,
      rule: 'Host(`app.example.com`)',
      servers: ['http://10.0.0.9/{{.}}'],
    });
    expect(inServer).toMatch(/^ERR_INVALID_INPUT: servers\[0\] contains "\{\{"/);
  });

  it('a single brace (a regexp count) is plain text to Go templates and still accepted', async () => {
    const rule = 'Host(`app.example.com`) && PathRegexp(`^/v[0-9]{1,2}/`)';
    const { result } = await confirmed(s.client, 'routes_apply', {
      name: 'braces',
      rule,
      servers: ['http://10.0.0.9:80'],
      dryRun: false,
    });
    expect(result.structuredContent).toMatchObject({ action: 'create', written: true, loaded: true });
    expect(await routerRule(s.fx, 'braces@file')).toBe(rule);
  });
});

describe('route files read by YAML 1.1 rules (gopkg.in/yaml.v3)', () => {
  const s = traefikSession({ env: { TRAEFIK_LOAD_TIMEOUT_MS: '1500' } });

  it('routes named like a date or a binary number load under their names; the directory keeps loading', async () => {
    // yaml.v3 reads plain 2024-01-02 as a timestamp (paerser refuses it: the whole directory fails) and 0b1 as 1
    for (const name of ['2024-01-02', '0b1']) {
      const rule = `Host(\`${name}.example.com\`)`;
      const args = { name, rule, servers: ['http://10.0.0.9:80'], dryRun: false };
      const { result } = await confirmed(s.client, 'routes_apply', args);
      expect(s.fx.sim.fileError).toBeUndefined();
      expect(result.structuredContent).toMatchObject({ written: true, loaded: true, status: 'enabled' });
      expect(await routerRule(s.fx, `${name}@file`)).toBe(rule);
    }
  });
});

describe('regressions that hold: unknown TLS options, alias bombs', () => {
  const s = traefikSession({
    env: { TRAEFIK_LOAD_TIMEOUT_MS: '1500' },
    seed: (fx) => fx.sim.setProvider('docker', { tls: { options: { strict: { minVersion: 'VersionTLS13' } } } }),
  });

  it('TLS options Traefik does not have: the answer says the router is disabled, with Traefik’s error', async () => {
    const base = { rule: 'Host(`tls.example.com`)', servers: ['http://10.0.0.9:80'], dryRun: false };
    const missing = await confirmed(s.client, 'routes_apply', {
      ...base,
      name: 'tls-missing',
      tls: { options: 'strict' },
    });
    expect(missing.result.structuredContent).toMatchObject({
      written: true,
      loaded: false,
      status: 'disabled',
      errors: ['building router handler: unknown TLS options: strict@file'],
    });
    const other = await confirmed(s.client, 'routes_apply', {
      ...base,
      name: 'tls-docker',
      tls: { options: 'strict@docker' },
    });
    expect(other.result.structuredContent).toMatchObject({ written: true, loaded: true, status: 'enabled' });
  });

  it('a hand-written alias bomb in the directory is shown as unreadable, at once', async () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) {
      const prev = String.fromCharCode(96 + i);
      const cur = String.fromCharCode(97 + i);
      levels.push(`${cur}: &${cur} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    writeFileSync(join(s.fx.dir, 'bomb.yaml'), `${levels.join('\n')}\n`);
    const started = Date.now();
    const text = await fails(s.client, 'routes_remove', { name: 'bomb', takeOver: true });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(text).toMatch(/# 10 lines that are not valid YAML: not shown/);
  });
});

describe("requests_diagnose: an entrypoint's encodedCharacters (v3.6.3+), IDN and Host headers", () => {
  const s = traefikSession({
    entryPoints: [
      // static config `encodedCharacters: {allowEncodedSlash: false}`: the other options keep their default
      { name: 'web', address: ':80', http: { encodedCharacters: { allowEncodedSlash: false } } },
      { name: 'alt', address: ':8080' },
    ],
    seed: (fx) =>
      fx.sim.setProvider('docker', {
        http: {
          routers: {
            files: { rule: 'PathPrefix(`/files`)', service: 's' },
            idn: { rule: 'Host(`xn--bcher-kva.example`)', service: 's' },
          },
          services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
        },
      }),
  });

  it('a denied encoding in the path is a 400 from the router Traefik picked, upper or lower case', async () => {
    for (const url of ['http://x.example.com/files/a%2Fb', 'http://x.example.com/files/a%2fb']) {
      const res = await ok(s.client, 'requests_diagnose', { url });
      expect(res).toMatchObject({ router: 'files@docker', status: 400 });
      expect(res.cause).toMatch(
        /^400: the path holds %2F, which entrypoint web refuses \(http\.encodedCharacters\.allowEncodedSlash/,
      );
    }
  });

  it('allowed encodings, and an entrypoint without the setting, forward as before', async () => {
    const allowed = await ok(s.client, 'requests_diagnose', { url: 'http://x.example.com/files/a%5Cb' });
    expect(allowed.status).toBeUndefined();
    expect(allowed.cause).toMatch(/^forwarded to s@docker/);
    const alt = await ok(s.client, 'requests_diagnose', { url: 'http://x.example.com:8080/files/a%2Fb' });
    expect(alt.status).toBeUndefined();
    expect(alt.cause).toMatch(/^forwarded to s@docker/);
  });

  it('a Unicode host in the URL is sent as punycode and meets Host(`xn--...`)', async () => {
    const res = await ok(s.client, 'requests_diagnose', { url: 'http://Bücher.example./' });
    expect(res.router).toBe('idn@docker');
  });

  it("a Host header Go's server refuses is a 400 before routing, not a 404", async () => {
    const url = 'http://x.example.com/';
    const unicode = await ok(s.client, 'requests_diagnose', { url, headers: { Host: 'bücher.example' } });
    expect(unicode).toMatchObject({ status: 400 });
    expect(unicode.cause).toMatch(/malformed Host header.*punycode/);
    const twice = await ok(s.client, 'requests_diagnose', {
      url,
      headers: { Host: 'xn--bcher-kva.example', host: 'other.example' },
    });
    expect(twice).toMatchObject({ status: 400 });
    expect(twice.cause).toMatch(/more than one Host header/);
    const fine = await ok(s.client, 'requests_diagnose', { url, headers: { Host: 'XN--BCHER-KVA.example:80' } });
    expect(fine.router).toBe('idn@docker');
  });
});

describe('host names with a trailing dot or upper case in the certificate tools', () => {
  let tlsFx: TlsFixture;
  beforeAll(async () => {
    tlsFx = await startTlsFixture();
  });
  afterAll(async () => {
    await tlsFx?.close();
  });
  const s = traefikSession({
    seed: (fx) => {
      useTlsFixture(fx, tlsFx);
      fx.sim.setProvider('docker', {
        http: {
          routers: {
            // Traefik's Host matches these with or without the dot, in any case (pkg/muxer/http/matcher.go host)
            fqdn: { rule: 'Host(`soon.example.test.`)', service: 's', tls: {} },
            upper: { rule: 'Host(`SOON.example.test`)', service: 's', tls: {} },
          },
          services: { s: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
        },
      });
    },
  });

  it('inspect with a trailing-dot name gets the certificate Traefik serves for that name', async () => {
    const res = await ok(s.client, 'certificates_inspect', {
      host: '127.0.0.1',
      port: tlsFx.port,
      servername: 'good.example.test.',
    });
    expect(res).toMatchObject({ validates: true, sans: ['good.example.test'] });
  });

  it('the sweep probes one name for Host(`soon.example.test.`) and Host(`SOON.example.test`), and the probe succeeds', async () => {
    const res = await ok(s.client, 'certificates_sweep', { withinDays: 30 });
    expect(res.hosts).toBe(1);
    expect(res.expiring).toEqual([
      expect.objectContaining({ host: 'soon.example.test', routers: ['fqdn@docker', 'upper@docker'], validates: true }),
    ]);
  });
});
