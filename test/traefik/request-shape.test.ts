// What the entrypoint does to a request before the muxer sees it (pkg/server/server_entrypoint_tcp.go
// newHTTPServer): http.AllowQuerySemicolons or encodeQuerySemicolons, normalizePath, sanitizePath; and Go's
// url.ParseQuery behind req.URL.Query(). Through the bin and the simulator's /api/entrypoints.
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectStdio, type Fixture, ok, startFixture } from './harness.js';

let fx: Fixture;
let client: Client;

beforeAll(async () => {
  fx = await startFixture({
    entryPoints: [
      { name: 'web', address: ':80' },
      // A legacy entrypoint: semicolons kept in values, paths passed as sent.
      { name: 'legacy', address: ':8081', http: { encodeQuerySemicolons: true, sanitizePath: false } },
    ],
  });
  // No entryPoints on the routers: each is on every entrypoint.
  fx.sim.setProvider('docker', {
    http: {
      routers: {
        site: { rule: 'Host(`app.example.com`)', service: 'web' },
        admin: { rule: 'Host(`app.example.com`) && PathPrefix(`/admin`)', service: 'web' },
        exact: { rule: 'Host(`app.example.com`) && Path(`/status`)', service: 'web' },
        blob: { rule: 'Host(`app.example.com`) && Path(`/files/a%2Fb`)', service: 'web' },
        beta: { rule: 'Host(`app.example.com`) && Query(`beta`, `1`)', service: 'web' },
        debug: { rule: 'Host(`app.example.com`) && QueryRegexp(`debug`, `.`)', service: 'web' },
        spaced: { rule: 'Host(`app.example.com`) && Query(`q`, `a b`) && Query(`flag`)', service: 'web' },
      },
      services: { web: { loadBalancer: { servers: [{ url: 'http://10.0.0.1' }] } } },
    },
  });
  client = await connectStdio(fx.env);
}, 30_000);

afterAll(async () => {
  await client?.close();
  await fx?.close();
});

const routerFor = async (url: string) => (await ok(client, 'requests_diagnose', { url })).router as string | undefined;

describe('requests_diagnose: the query as Traefik parses it', () => {
  it("';' separates pairs by default (http.AllowQuerySemicolons), and stays in the value with encodeQuerySemicolons", async () => {
    expect(await routerFor('http://app.example.com/?x=1;beta=1')).toBe('beta@docker');
    expect(await routerFor('http://app.example.com:8081/?x=1;beta=1')).toBe('site@docker');
    expect(await routerFor('http://app.example.com:8081/?x=1&beta=1')).toBe('beta@docker');
  });

  it('a pair with a bad percent escape is dropped, the others kept (Go url.ParseQuery)', async () => {
    expect(await routerFor('http://app.example.com/?debug=%zz')).toBe('site@docker');
    expect(await routerFor('http://app.example.com/?debug%zz=1')).toBe('site@docker');
    expect(await routerFor('http://app.example.com/?debug=%7A')).toBe('debug@docker');
    expect(await routerFor('http://app.example.com/?bad=%&beta=1')).toBe('beta@docker');
  });

  it("'+' is a space, a key without '=' has the empty value, repeated keys keep every value", async () => {
    expect(await routerFor('http://app.example.com/?q=a+b&flag')).toBe('spaced@docker');
    expect(await routerFor('http://app.example.com/?q=x&q=a%20b&&flag=')).toBe('spaced@docker');
    expect(await routerFor('http://app.example.com/?q=a+b&flag=1')).toBe('site@docker');
  });
});

describe('requests_diagnose: the path as the entrypoint hands it to the muxer', () => {
  it('sanitizePath (on by default) removes duplicate slashes and dot segments the way Go path.Clean does', async () => {
    expect(await routerFor('http://app.example.com//admin/users')).toBe('admin@docker');
    expect(await routerFor('http://app.example.com/status/.')).toBe('exact@docker');
    expect(await routerFor('http://app.example.com/x/..//status')).toBe('exact@docker');
  });

  it('with sanitizePath false the path is routed as sent', async () => {
    expect(await routerFor('http://app.example.com:8081//admin/users')).toBe('site@docker');
    expect(await routerFor('http://app.example.com:8081/x/../admin')).toBe('site@docker');
  });

  it('normalizePath upper-cases escapes first, so a lower-case %2f stays an encoded slash', async () => {
    expect(await routerFor('http://app.example.com/files/a%2fb')).toBe('blob@docker');
    expect(await routerFor('http://app.example.com/files/a/b')).toBe('site@docker');
    expect(await routerFor('http://app.example.com/%61dmin')).toBe('admin@docker');
  });

  it('a % without two hex digits is a 400 from Go before any routing, and the answer says how to write it', async () => {
    const d = await ok(client, 'requests_diagnose', { url: 'http://app.example.com/100%/admin' });
    expect(d.router).toBeUndefined();
    expect(d.status).toBe(400);
    expect(d.cause).toMatch(/%25/);
  });
});
