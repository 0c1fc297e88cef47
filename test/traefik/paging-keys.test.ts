/**
 * The list tools page by key (the Traefik name, `name@provider`, unique per protocol and kind: pkg/config/runtime
 * keys its maps by it), not by offset: a router, service or middleware that comes or goes between two pages must
 * neither be skipped nor shown twice without a word. Through the real bin over stdio and the simulator.
 */
import { describe, expect, it } from 'vitest';
import { fails, ok, type Structured, useTraefikSession } from './harness.js';

const session = useTraefikSession();

const names = (page: Structured, field: string) => (page[field] as { name: string }[]).map((x) => x.name);

/** A docker provider with these routers, services and middlewares (each `<n>`, in every kind). */
function dockerWith(ids: string[]) {
  const services = Object.fromEntries(ids.map((n) => [n, { loadBalancer: { servers: [{ url: `http://${n}` }] } }]));
  const routers = Object.fromEntries(ids.map((n) => [n, { rule: `Host(\`${n}.example.com\`)`, service: n }]));
  const middlewares = Object.fromEntries(ids.map((n) => [n, { stripPrefix: { prefixes: [`/${n}`] } }]));
  session.fx.sim.setProvider('docker', { http: { routers, services, middlewares } });
}

describe.each([
  ['routers_list', 'routers', 'The router list'],
  ['services_list', 'services', 'The service list'],
  ['middlewares_list', 'middlewares', 'The middleware list'],
])('%s pages by name', (tool, field, what) => {
  it('an item removed before the cursor does not make the next page skip one, and the page says the list changed', async () => {
    dockerWith(['b', 'c', 'd', 'e', 'f', 'g']);
    const first = await ok(session.client, tool, { provider: 'docker', limit: 2 });
    expect(names(first, field)).toEqual(['b@docker', 'c@docker']);
    expect(first.note).toBeUndefined();
    dockerWith(['c', 'd', 'e', 'f', 'g']); // b goes between the two pages
    const second = await ok(session.client, tool, { provider: 'docker', limit: 2, cursor: first.nextCursor });
    // by offset (2 over c..g): e, f, with d skipped
    expect(names(second, field)).toEqual(['d@docker', 'e@docker']);
    expect(second.note).toMatch(new RegExp(`^${what} changed since the previous page`));
    expect(second.total).toBe(5);
  });

  it('an item added before the cursor does not make the next page repeat one', async () => {
    dockerWith(['b', 'c', 'd', 'e']);
    const first = await ok(session.client, tool, { provider: 'docker', limit: 2 });
    dockerWith(['a', 'b', 'c', 'd', 'e']);
    const second = await ok(session.client, tool, { provider: 'docker', limit: 2, cursor: first.nextCursor });
    expect(names(second, field)).toEqual(['d@docker', 'e@docker']);
    expect(second.note).toMatch(/changed since the previous page/);
    expect(second.truncated).toBe(false);
  });

  it('an unchanged list pages without a note, and an item after the cursor is simply listed', async () => {
    dockerWith(['b', 'c', 'd']);
    const first = await ok(session.client, tool, { provider: 'docker', limit: 2 });
    dockerWith(['b', 'c', 'd', 'z']);
    const second = await ok(session.client, tool, { provider: 'docker', limit: 2, cursor: first.nextCursor });
    expect(names(second, field)).toEqual(['d@docker', 'z@docker']);
    expect(second.note).toBeUndefined();
  });

  it('a cursor is bound to the filters it was issued for', async () => {
    dockerWith(['b', 'c', 'd']);
    const first = await ok(session.client, tool, { provider: 'docker', limit: 1 });
    for (const other of [
      { provider: 'file' },
      { provider: 'docker', search: 'c' },
      { provider: 'docker', status: 'enabled' },
    ]) {
      const text = await fails(session.client, tool, { ...other, limit: 1, cursor: first.nextCursor });
      expect(text).toMatch(/^ERR_INVALID_INPUT: .*cursor .*omit it to start from the first page/);
    }
    expect(await fails(session.client, tool, { provider: 'docker', cursor: 'not a cursor!' })).toMatch(
      /^ERR_INVALID_INPUT: .*omit it to start from the first page/,
    );
  });
});
