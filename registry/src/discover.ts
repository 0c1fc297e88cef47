import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ToolSpec } from './types.js';

/**
 * Finds every server's tools without importing any server statically: the registry must not depend on
 * the servers or the kit. Each `servers/<name>/package.json` names its module in `exports["."]`; that
 * module exports `toolSpecs` (= `specsOf(server)`).
 */

export const SOURCE_CONDITION = '@ravenhelm/source';

export interface ServerPackage {
  /** Directory relative to the workspace root, e.g. `servers/docker`. */
  dir: string;
  packageName: string;
  /** Absolute path of the module that was (or would be) imported. */
  entry: string;
}

export interface DiscoveredServer extends ServerPackage {
  specs: ToolSpec[];
}

export interface DiscoveryProblem {
  dir: string;
  packageName?: string;
  message: string;
}

export interface Discovery {
  root: string;
  servers: DiscoveredServer[];
  /** Packages that were skipped, each with the reason (the CLI prints these as warnings). */
  problems: DiscoveryProblem[];
}

/** The nearest directory at or above `start` that holds pnpm-workspace.yaml. */
export function findWorkspaceRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no pnpm-workspace.yaml at or above ${resolve(start)}; pass --root`);
    dir = parent;
  }
}

interface Manifest {
  name?: string;
  main?: string;
  exports?: unknown;
}

/** The module path a manifest exports as ".", preferring the source condition when asked to. */
export function entryOf(manifest: Manifest, source: boolean): string | undefined {
  const exp = manifest.exports;
  const dot = typeof exp === 'object' && exp !== null && '.' in exp ? (exp as Record<string, unknown>)['.'] : exp;
  if (typeof dot === 'string') return dot;
  if (typeof dot === 'object' && dot !== null) {
    const conditions = dot as Record<string, unknown>;
    const order = source ? [SOURCE_CONDITION, 'default', 'import'] : ['default', 'import'];
    for (const condition of order) {
      if (typeof conditions[condition] === 'string') return conditions[condition] as string;
    }
  }
  return manifest.main;
}

/** `servers/<name>/package.json` under the root, by directory name. */
export function listServerPackages(root: string, source: boolean): (ServerPackage | DiscoveryProblem)[] {
  const serversDir = join(root, 'servers');
  if (!existsSync(serversDir)) return [];
  const names = readdirSync(serversDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(serversDir, d.name, 'package.json')))
    .map((d) => d.name)
    .sort();
  return names.map((name) => {
    const dir = `servers/${name}`;
    let manifest: Manifest;
    try {
      manifest = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest;
    } catch (err) {
      return { dir, message: `package.json is not valid JSON: ${(err as Error).message}` };
    }
    const packageName = manifest.name ?? dir;
    const entry = entryOf(manifest, source);
    if (!entry) return { dir, packageName, message: 'package.json exports no "." module' };
    return { dir, packageName, entry: resolve(root, dir, entry) };
  });
}

function isProblem(item: ServerPackage | DiscoveryProblem): item is DiscoveryProblem {
  return 'message' in item;
}

function looksLikeSpecs(value: unknown): value is ToolSpec[] {
  return (
    Array.isArray(value) &&
    value.every(
      (s) => typeof s === 'object' && s !== null && typeof s.name === 'string' && typeof s.server === 'string',
    )
  );
}

/** Imports one server package and reads its `toolSpecs`, or says why it cannot. */
export async function loadServer(root: string, pkg: ServerPackage): Promise<DiscoveredServer | DiscoveryProblem> {
  const base = { dir: pkg.dir, packageName: pkg.packageName };
  const shown = relative(root, pkg.entry);
  if (!existsSync(pkg.entry)) {
    const hint = pkg.entry.endsWith('.ts') ? '' : ' (build the package, or run from source with --source under tsx)';
    return { ...base, message: `${shown} does not exist${hint}` };
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(pkg.entry).href)) as Record<string, unknown>;
  } catch (err) {
    return { ...base, message: `importing ${shown} failed: ${(err as Error).message}` };
  }
  if (!('toolSpecs' in mod)) {
    return {
      ...base,
      message: `${shown} has no export named toolSpecs (add \`export const toolSpecs = specsOf(server)\`)`,
    };
  }
  if (!looksLikeSpecs(mod.toolSpecs)) {
    return { ...base, message: `${shown}: toolSpecs is not an array of tool specs` };
  }
  return { ...pkg, specs: mod.toolSpecs };
}

/** Every server package under `root`, imported from dist (default) or from source. */
export async function discoverServers(root: string, options: { source?: boolean } = {}): Promise<Discovery> {
  const discovery: Discovery = { root, servers: [], problems: [] };
  for (const item of listServerPackages(root, options.source ?? false)) {
    const loaded = isProblem(item) ? item : await loadServer(root, item);
    if (isProblem(loaded)) discovery.problems.push(loaded);
    else discovery.servers.push(loaded);
  }
  return discovery;
}

/** All tool specs of a discovery, servers in directory order. */
export function allSpecs(discovery: Discovery): ToolSpec[] {
  return discovery.servers.flatMap((s) => s.specs);
}
