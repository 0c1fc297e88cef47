import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { confirmed, connectStdio, fails, ok, type Structured, startFixture, useTraefikSession } from './harness.js';

const listing = () => readdirSync(session.fx.dir).sort();

const route = {
  name: 'shop',
  rule: 'Host(`shop.example.com`) && PathPrefix(`/`)',
  servers: ['http://10.0.0.5:8080'],
  entryPoints: ['websecure'],
  middlewares: ['auth@docker'],
  tls: { certResolver: 'le' },
};

const session = useTraefikSession({
  seed: (fx) => {
    fx.sim.setProvider('docker', { http: { middlewares: { auth: { basicAuth: { users: ['a:$apr1$b$c'] } } } } });
  },
});

describe('routes_apply and routes_remove through the file provider', () => {
  it('a dry run shows the diff and writes nothing', async () => {
    const { plan, result } = await confirmed(session.client, 'routes_apply', route);
    expect(plan).toMatch(/^create .*shop\.yaml:\n\+# managed-by: ravenhelm-mcp-traefik route=shop/);
    const s = result.structuredContent as Structured;
    expect(s).toMatchObject({ action: 'create', written: false });
    expect(s.diff).toContain('+      rule: Host(`shop.example.com`) && PathPrefix(`/`)');
    expect(listing()).toEqual([]);
  });

  it('writes the file atomically and waits until Traefik has loaded the router', async () => {
    const { result } = await confirmed(session.client, 'routes_apply', { ...route, dryRun: false });
    const s = result.structuredContent as Structured;
    expect(s).toMatchObject({ action: 'create', written: true, loaded: true, status: 'enabled' });
    expect(listing()).toEqual(['shop.yaml']);
    const text = readFileSync(join(session.fx.dir, 'shop.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe('# managed-by: ravenhelm-mcp-traefik route=shop; edit with the routes_apply tool');
    const r = await ok(session.client, 'routers_get', { name: 'shop@file' });
    expect(r).toMatchObject({
      status: 'enabled',
      service: 'shop',
      middlewares: ['auth@docker'],
      entryPoints: ['websecure'],
      tls: { certResolver: 'le', options: 'default' },
    });
    const svc = await ok(session.client, 'services_list', { provider: 'file' });
    expect(svc.services[0]).toMatchObject({
      name: 'shop@file',
      servers: [{ url: 'http://10.0.0.5:8080', status: 'UP' }],
    });
  });

  it('an update shows what changes; the same call again is unchanged', async () => {
    const next = { ...route, servers: ['http://10.0.0.5:8080', 'http://10.0.0.6:8080'], dryRun: false };
    const { plan, result } = await confirmed(session.client, 'routes_apply', next);
    expect(plan).toMatch(/^update /);
    const s = result.structuredContent as Structured;
    expect(s).toMatchObject({ action: 'update', written: true, loaded: true });
    expect(s.diff.split('\n').filter((l: string) => /^[+-]/.test(l))).toEqual([
      '+          - url: http://10.0.0.6:8080',
    ]);
    const again = (await confirmed(session.client, 'routes_apply', next)).result.structuredContent as Structured;
    expect(again).toMatchObject({ action: 'unchanged', written: false, loaded: true });
  });

  it('reports the error Traefik gives when it disables the router', async () => {
    // Someone else's file defines a different service "legacy": Traefik drops duplicated definitions.
    writeFileSync(
      join(session.fx.dir, 'legacy.yaml'),
      'http:\n  routers:\n    legacy:\n      rule: Host(`old`)\n      service: legacy\n',
    );
    writeFileSync(
      join(session.fx.dir, 'legacy-extra.yaml'),
      'http:\n  services:\n    legacy:\n      loadBalancer:\n        servers:\n          - url: http://10.9.9.9\n',
    );
    const refused = await fails(session.client, 'routes_apply', {
      name: 'legacy',
      rule: 'Host(`old.example.com`)',
      servers: ['http://10.0.0.7'],
    });
    expect(refused).toMatch(/ERR_CONFLICT: .*legacy\.yaml was not written by this server.*takeOver: true/);
    const { result } = await confirmed(session.client, 'routes_apply', {
      name: 'legacy',
      rule: 'Host(`old.example.com`)',
      servers: ['http://10.0.0.7'],
      takeOver: true,
      dryRun: false,
    });
    expect(result.structuredContent).toMatchObject({
      action: 'update',
      written: true,
      loaded: false,
      status: 'disabled',
      errors: ['the service "legacy@file" does not exist'],
    });
  });

  it('refuses bad input before touching the directory', async () => {
    const before = listing();
    expect(await fails(session.client, 'routes_apply', { ...route, name: 'x', rule: 'Host(`a`) && Pth(`/`)' })).toMatch(
      /ERR_INVALID_INPUT: the rule is invalid: unknown matcher Pth.*\(at column 14\)/,
    );
    // Schema-invalid arguments are refused on the first call: the kit issues no confirmation for them.
    expect(await fails(session.client, 'routes_apply', { ...route, name: '../escape', dryRun: false })).toMatch(
      /ERR_INVALID_INPUT.*lower-case letters/,
    );
    expect(await fails(session.client, 'routes_apply', { ...route, name: 'x', middlewares: ['nope'] })).toMatch(
      /ERR_INVALID_INPUT: middleware nope@file does not exist in Traefik/,
    );
    expect(await fails(session.client, 'routes_apply', { ...route, name: 'x', entryPoints: ['internal'] })).toMatch(
      /unknown entrypoint\(s\) internal; Traefik has web, websecure/,
    );
    // A symlink planted in the directory, pointing out of it.
    const outside = join(session.fx.scratch, 'outside.yaml');
    writeFileSync(outside, 'precious: true\n');
    symlinkSync(outside, join(session.fx.dir, 'evil.yaml'));
    expect(await fails(session.client, 'routes_apply', { ...route, name: 'evil', takeOver: true })).toMatch(
      /ERR_NOT_ALLOWED: .*evil\.yaml is a symbolic link; refusing to follow it/,
    );
    expect(await fails(session.client, 'routes_remove', { name: 'evil', takeOver: true })).toMatch(/ERR_NOT_ALLOWED/);
    expect(readFileSync(outside, 'utf8')).toBe('precious: true\n');
    expect(listing()).toEqual([...before, 'evil.yaml'].sort());
  });

  it('an unreachable API or a missing directory setting: clear errors, no file written', async () => {
    const before = listing();
    const dead = await connectStdio({
      ...session.fx.env,
      TRAEFIK_API_URL: 'http://127.0.0.1:9',
      TRAEFIK_API_TIMEOUT_MS: '1000',
    });
    try {
      expect(await fails(dead, 'routes_apply', { ...route, name: 'offline' })).toMatch(
        /ERR_BACKEND_UNAVAILABLE: Traefik API is unreachable/,
      );
    } finally {
      await dead.close();
    }
    const { TRAEFIK_DYNAMIC_DIR: _omit, ...noDir } = session.fx.env;
    const readOnly = await connectStdio(noDir);
    try {
      expect(await fails(readOnly, 'routes_apply', { ...route, name: 'nodir' })).toMatch(
        /ERR_NOT_ALLOWED: route changes are off: set backend.dynamicDir/,
      );
    } finally {
      await readOnly.close();
    }
    expect(listing()).toEqual(before);
  });

  it('a broken file elsewhere blocks loading: the change is written but not loaded, and says why', async () => {
    const slow = await connectStdio({ ...session.fx.env, TRAEFIK_LOAD_TIMEOUT_MS: '800' });
    mkdirSync(join(session.fx.dir, 'team'));
    writeFileSync(join(session.fx.dir, 'team', 'broken.yml'), 'http: [unclosed\n');
    try {
      const { result } = await confirmed(slow, 'routes_apply', {
        name: 'blocked',
        rule: 'Host(`blocked.example.com`)',
        servers: ['http://10.0.0.8'],
        dryRun: false,
      });
      expect(result.structuredContent).toMatchObject({ action: 'create', written: true, loaded: false });
      expect((result.structuredContent as Structured).note).toMatch(/one bad file blocks the whole directory/);
      expect(session.fx.sim.fileError).toMatch(/broken\.yml/);
    } finally {
      await slow.close();
    }
  });

  it('removes a route it wrote (confirm policy) and waits until Traefik drops it', async () => {
    // Traefik cannot drop anything while the directory does not parse: remove the broken file first.
    rmSync(join(session.fx.dir, 'team'), { recursive: true });
    const { plan, result } = await confirmed(session.client, 'routes_remove', { name: 'shop', dryRun: false });
    expect(plan).toMatch(/^remove .*shop\.yaml:\n-# managed-by/);
    expect(result.structuredContent).toMatchObject({ action: 'remove', written: true, loaded: true });
    expect(await fails(session.client, 'routers_get', { name: 'shop@file' })).toMatch(/ERR_NOT_FOUND/);
    expect(existsSync(join(session.fx.dir, 'shop.yaml'))).toBe(false);
  });

  it('removing a taken-over file waits until Traefik drops its routers, whatever they are named', async () => {
    // A hand-written file names its router otherwise than the file: waiting for "<file>@file" alone
    // answered loaded at once while Traefik still served the router.
    writeFileSync(
      join(session.fx.dir, 'handmade.yaml'),
      'http:\n  routers:\n    legacy-web:\n      rule: Host(`legacy-web.example.com`)\n      service: legacy-svc\n  services:\n    legacy-svc:\n      loadBalancer:\n        servers:\n          - url: http://10.9.9.10\n',
    );
    for (
      let i = 0;
      i < 100 &&
      (await session.client.callTool({ name: 'routers_get', arguments: { name: 'legacy-web@file' } })).isError;
      i++
    )
      await new Promise((r) => setTimeout(r, 50));
    session.fx.sim.loadDelayMs = 700;
    try {
      const { result } = await confirmed(session.client, 'routes_remove', {
        name: 'handmade',
        takeOver: true,
        dryRun: false,
      });
      expect(result.structuredContent).toMatchObject({ action: 'remove', written: true, loaded: true });
      // answered only once Traefik had dropped it
      expect(await fails(session.client, 'routers_get', { name: 'legacy-web@file' })).toMatch(/ERR_NOT_FOUND/);
    } finally {
      session.fx.sim.loadDelayMs = 0;
    }
  });

  it('refuses to remove what it did not write, or what does not exist', async () => {
    writeFileSync(join(session.fx.dir, 'theirs.yaml'), 'http: {}\n');
    expect(await fails(session.client, 'routes_remove', { name: 'theirs', dryRun: false })).toMatch(/ERR_CONFLICT/);
    expect(await fails(session.client, 'routes_remove', { name: 'ghost', dryRun: false })).toMatch(
      /ERR_NOT_FOUND: no route file ghost\.yaml/,
    );
    expect(existsSync(join(session.fx.dir, 'theirs.yaml'))).toBe(true);
  });

  it('a directory that disappears is a clear error, not an internal one', async () => {
    const other = await startFixture();
    const c = await connectStdio(other.env);
    try {
      const first = await confirmed(c, 'routes_apply', {
        name: 'first',
        rule: 'Host(`first.example.com`)',
        servers: ['http://10.0.0.1'],
        dryRun: false,
      });
      expect(first.result.structuredContent).toMatchObject({ written: true, loaded: true });
      rmSync(other.dir, { recursive: true });
      const res = await confirmed(c, 'routes_apply', {
        name: 'second',
        rule: 'Host(`second.example.com`)',
        servers: ['http://10.0.0.1'],
        dryRun: false,
      }).catch((err: Error) => err);
      const text = res instanceof Error ? res.message : JSON.stringify(res.result.content);
      expect(text).toMatch(/ERR_BACKEND_UNAVAILABLE: .*(does not exist|cannot write second\.yaml)/);
    } finally {
      await c.close();
      await other.close();
    }
  });
});
