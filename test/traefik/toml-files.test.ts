/**
 * TOML files in the file provider's directory. Traefik reads .toml as well as .yaml/.yml (pkg/provider/file/file.go
 * isFileSupported; paerser file.DecodeContent decodes ".toml" with BurntSushi/toml), and this server reads the
 * directory's other files: routes_apply checks that its names are free (through the API, so a TOML file's routers
 * count) and, when Traefik does not load a change, names the file that likely blocks the directory. The
 * simulator decodes a TOML v1.0.0 subset (parseToml); through it and the real bin over stdio.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseToml } from '../simulators/traefik.js';
import { confirmed, connectStdio, fails, ok, type Structured, useTraefikSession } from './harness.js';

const session = useTraefikSession();

const LEGACY = `# written by hand, before this server
[http.routers.legacy]
  rule = "Host(\`legacy.example.com\`)"
  service = "legacy-svc"
  entryPoints = ["web"]

[http.services.legacy-svc.loadBalancer]
  [[http.services.legacy-svc.loadBalancer.servers]]
    url = "http://10.0.0.21"
  [[http.services.legacy-svc.loadBalancer.servers]]
    url = 'http://10.0.0.22'
`;

async function until(check: () => boolean) {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}

describe('the simulator decodes TOML as Traefik does (toml.io/en/v1.0.0 examples)', () => {
  it('tables, arrays of tables, dotted and quoted keys, inline tables, strings and numbers', () => {
    expect(parseToml(LEGACY)).toEqual({
      http: {
        routers: { legacy: { rule: 'Host(`legacy.example.com`)', service: 'legacy-svc', entryPoints: ['web'] } },
        services: {
          'legacy-svc': { loadBalancer: { servers: [{ url: 'http://10.0.0.21' }, { url: 'http://10.0.0.22' }] } },
        },
      },
    });
    expect(
      parseToml(
        'physical.color = "orange"\n"site"."google.com" = true\nnums = [ 0xDEAD_BEEF, 0o755, 0b11, -1_000, 6.626e-34 ]\n',
      ),
    ).toEqual({
      physical: { color: 'orange' },
      site: { 'google.com': true },
      nums: [0xdeadbeef, 0o755, 3, -1000, 6.626e-34],
    });
    expect(
      parseToml('point = { x = 1, y = 2 }\nstr = """\nRoses are red\\\n   Violets"""\nwin = \'C:\\Users\'\n'),
    ).toEqual({
      point: { x: 1, y: 2 },
      str: 'Roses are redViolets',
      win: 'C:\\Users',
    });
  });

  it('refuses what BurntSushi/toml refuses: a key or table defined twice, a table over a value, broken syntax', () => {
    for (const bad of [
      'name = "Tom"\nname = "Pradyun"',
      '[fruit]\napple = "red"\n[fruit]\norange = "orange"',
      'fruit.apple = 1\n[fruit.apple]\n',
      'type = { name = "Nail" }\ntype.edible = false',
      'key = # no value',
      'a = "unterminated',
      'first = "Tom" last = "Preston-Werner"',
    ])
      expect(() => parseToml(bad), bad).toThrow(/^toml: line \d+: /);
  });
});

describe('our server with a TOML file in the directory', () => {
  it("a TOML file's routers load, and routes_apply does not take their names", async () => {
    writeFileSync(join(session.fx.dir, 'legacy.toml'), LEGACY);
    await until(() => session.fx.sim.fileLoads > 0 && session.fx.sim.fileError === undefined);
    const r = await ok(session.client, 'routers_get', { name: 'legacy@file' });
    expect(r).toMatchObject({ status: 'enabled', rule: 'Host(`legacy.example.com`)', service: 'legacy-svc' });
    const text = await fails(session.client, 'routes_apply', {
      name: 'legacy',
      rule: 'Host(`new.example.com`)',
      servers: ['http://10.0.0.9'],
    });
    expect(text).toMatch(/^ERR_CONFLICT: router legacy@file is already defined in another file of the directory/);
  });

  it('a TOML file Traefik cannot decode blocks the directory, and routes_apply names it', async () => {
    const slow = await connectStdio({ ...session.fx.env, TRAEFIK_LOAD_TIMEOUT_MS: '700' });
    try {
      writeFileSync(
        join(session.fx.dir, 'broken.toml'),
        '[http.routers.x]\nrule = "Host(`x.example.com`)"\nrule = "again"\n',
      );
      await until(() => session.fx.sim.fileError?.includes('broken.toml') === true);
      const { result } = await confirmed(slow, 'routes_apply', {
        name: 'after-toml',
        rule: 'Host(`after.example.com`)',
        servers: ['http://10.0.0.9'],
        dryRun: false,
      });
      const s = result.structuredContent as Structured;
      expect(s).toMatchObject({ written: true, loaded: false });
      expect(s.note).toMatch(/the newest file this server did not write is "broken\.toml"/);
    } finally {
      await slow.close();
    }
    rmSync(join(session.fx.dir, 'broken.toml'));
    await until(() => session.fx.sim.fileError === undefined);
    expect((await ok(session.client, 'routers_get', { name: 'after-toml@file' })).status).toBe('enabled');
  });
});
