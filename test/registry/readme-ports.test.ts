/**
 * Each server's README shows how to start it over HTTP with its default port: the port shown must be the
 * one the server really defaults to (its definition's `defaultPort`, what `--help` prints). Two READMEs
 * showed another server's port.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServerDefinition } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { assertAllLoaded, loadServers, ROOT } from './servers.js';

const discovery = await loadServers();

describe('README default ports', () => {
  it('every server package loads', () => {
    assertAllLoaded(discovery);
  });

  it.each(discovery.servers.map((s) => [s.packageName, s] as const))('%s', async (_name, server) => {
    const mod = (await import(pathToFileURL(server.entry).href)) as Record<string, unknown>;
    const def = Object.values(mod).find(
      (v): v is ServerDefinition => !!v && typeof v === 'object' && 'tools' in v && 'createServices' in v,
    );
    expect(def?.defaultPort, `${server.packageName} exports its definition with a defaultPort`).toBeTypeOf('number');
    const readme = readFileSync(join(ROOT, server.dir, 'README.md'), 'utf8');
    const shown = [...readme.matchAll(/--http --port (\d+)/g)].map((m) => Number(m[1]));
    expect(shown.length, `${server.dir}/README.md shows the HTTP start line`).toBeGreaterThan(0);
    for (const port of shown) expect(port, `${server.dir}/README.md`).toBe(def?.defaultPort);
  });
});
