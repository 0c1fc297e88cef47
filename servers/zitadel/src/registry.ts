import { readFileSync } from 'node:fs';
import { allSpecs, discoverServers, EMPTY_POLICY, findWorkspaceRoot, parsePolicy, Registry } from '@ravenhelm/registry';

/**
 * Every server's tools under the operator's policy, found once on first use: servers/* of the
 * workspace (from source when this server runs from source), the policy file if configured.
 * Undefined when no workspace is found (a single-server image): callers then report scopes only.
 */
export function loadRegistry(opts: {
  workspaceRoot?: string | undefined;
  policyFile?: string | undefined;
}): () => Promise<{ registry: Registry; servers: string[] } | undefined> {
  let loaded: Promise<{ registry: Registry; servers: string[] } | undefined> | undefined;
  return () => {
    loaded ??= (async () => {
      let root: string;
      try {
        root = opts.workspaceRoot ?? findWorkspaceRoot(process.cwd());
      } catch {
        return undefined;
      }
      const discovery = await discoverServers(root, { source: import.meta.url.endsWith('.ts') });
      const policy = opts.policyFile
        ? parsePolicy(readFileSync(opts.policyFile, 'utf8'), opts.policyFile)
        : EMPTY_POLICY;
      return {
        registry: new Registry(allSpecs(discovery), policy),
        servers: discovery.servers.map((s) => s.specs[0]?.server ?? s.dir),
      };
    })();
    return loaded;
  };
}
