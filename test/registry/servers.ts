import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Discovery, discoverServers, type ToolSpec } from '@ravenhelm/registry';

/** The workspace root (this file is test/registry/servers.ts). */
export const ROOT = resolve(import.meta.dirname, '..', '..');

/** The server packages this suite depends on (test/package.json): discovery must find at least these. */
export function expectedServerPackages(): string[] {
  const manifest = JSON.parse(readFileSync(resolve(ROOT, 'test', 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(manifest.dependencies ?? {})
    .filter((name) => name.startsWith('@ravenhelm/mcp-'))
    .sort();
}

let loading: Promise<Discovery> | undefined;

/** Every `servers/*` package, imported from source the way `ravenhelm-registry --source` does. */
export function loadServers(): Promise<Discovery> {
  loading ??= discoverServers(ROOT, { source: true });
  return loading;
}

/** Throws a readable error when a server package could not be loaded or an expected one is absent. */
export function assertAllLoaded(discovery: Discovery): void {
  const lines = discovery.problems.map((p) => `  ${p.packageName ?? p.dir} (${p.dir}): ${p.message}`);
  const found = new Set([...discovery.servers, ...discovery.problems].map((s) => s.packageName));
  for (const name of expectedServerPackages()) {
    if (!found.has(name)) lines.push(`  ${name}: no servers/* package has this name`);
  }
  if (lines.length > 0) {
    throw new Error(
      `every server package must export \`toolSpecs = specsOf(server)\` from its "." module:\n${lines.join('\n')}`,
    );
  }
}

export function specsOfAll(discovery: Discovery): ToolSpec[] {
  return discovery.servers.flatMap((s) => s.specs);
}
