/**
 * docs/toolsets.md's "Measured" table is computed here from each server's live pipeline, so it cannot go
 * stale as tools change: tools/list as a caller with the server's admin scope receives it (HIGH tools hidden,
 * as without a SPIFFE ID), with every toolset (`all`) and with the server's default set (`default`, the two
 * kit tools included). A stale table fails with the rows to paste.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createMemoryAuditSink, createRuntime, loadConfig, type ServerDefinition, silentLogger } from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { assertAllLoaded, loadServers, ROOT } from './servers.js';

const discovery = await loadServers();

async function definitionOf(entry: string): Promise<ServerDefinition> {
  const mod = (await import(pathToFileURL(entry).href)) as Record<string, unknown>;
  const def = Object.values(mod).find(
    (v): v is ServerDefinition => !!v && typeof v === 'object' && 'tools' in v && 'createServices' in v,
  );
  if (!def) throw new Error(`${entry} exports no server definition`);
  return def;
}

/** tools/list as the admin-scoped local caller receives it with `toolsets` at start: tools and bytes. */
async function listed(def: ServerDefinition, toolsets: 'all' | 'default'): Promise<{ tools: number; bytes: number }> {
  const env = { RAVENHELM_LOCAL_SCOPES: `mcp:${def.name}:admin`, RAVENHELM_TOOLSETS: toolsets };
  const config = loadConfig({ backendSchema: def.backendConfig, env });
  const rt = await createRuntime({ ...def, close: undefined } as never, config, silentLogger(), {
    audit: createMemoryAuditSink(),
    services: {},
  });
  try {
    const tools = await rt.pipeline.listToolsFor(rt.localPrincipal);
    return { tools: tools.length, bytes: Buffer.byteLength(JSON.stringify({ tools })) };
  } finally {
    await rt.close();
  }
}

const n = (v: number) => v.toLocaleString('en-US');

describe('docs/toolsets.md measured table', () => {
  it('matches what every server lists with all toolsets and with its default set', async () => {
    assertAllLoaded(discovery);
    const rows: string[] = [];
    for (const server of [...discovery.servers].sort((a, b) => a.packageName.localeCompare(b.packageName))) {
      const def = await definitionOf(server.entry);
      const all = await listed(def, 'all');
      const dflt = await listed(def, 'default');
      // the default set is smaller, or the same toolsets plus the two kit tools
      expect(dflt.tools, def.name).toBeLessThanOrEqual(all.tools + 2);
      rows.push(`| ${def.name} | ${all.tools} tools, ${n(all.bytes)} B | ${dflt.tools} tools, ${n(dflt.bytes)} B |`);
    }
    const doc = readFileSync(join(ROOT, 'docs', 'toolsets.md'), 'utf8');
    const committed = doc
      .split('\n')
      .filter((line) => /^\| [a-z]+ \| \d+ tools, [\d,]+ B \| \d+ tools, [\d,]+ B \|$/.test(line));
    if (committed.join('\n') !== rows.join('\n')) {
      expect.fail(`docs/toolsets.md's measured table is stale; its rows are:\n${rows.join('\n')}`);
    }
  });
});
