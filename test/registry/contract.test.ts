import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  argumentDescriptionProblems,
  parsePolicy,
  Registry,
  TIERS,
  type ToolSpec,
  toolDescriptionProblems,
} from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
import { assertAllLoaded, loadServers, ROOT, specsOfAll } from './servers.js';

// The loop test: every tool of every server carries the full declaration the registry and the docs rely on.
const discovery = await loadServers();
const specs = specsOfAll(discovery);
const ANNOTATIONS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;

function problemsOf(spec: ToolSpec, all: readonly ToolSpec[]): string[] {
  const p: string[] = [];
  if (typeof spec.toolset !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(spec.toolset))
    p.push('toolset missing or malformed');
  for (const key of ANNOTATIONS) {
    if (!Object.hasOwn(spec.annotations ?? {}, key) || typeof spec.annotations[key] !== 'boolean') {
      p.push(`annotation ${key} not explicit`);
    }
  }
  if (!(TIERS as readonly string[]).includes(spec.tier))
    p.push(`tier '${spec.tier}' is not one of ${TIERS.join(', ')}`);
  const scopePattern = new RegExp(`^mcp:${spec.server}:(read|write|admin)$`);
  if (!Array.isArray(spec.scopes) || spec.scopes.length === 0) p.push('no scopes');
  else for (const s of spec.scopes) if (!scopePattern.test(s)) p.push(`scope '${s}' is not mcp:${spec.server}:<level>`);
  if (spec.outputSchema?.type !== 'object') p.push('output schema is not a JSON Schema object');
  if (spec.inputSchema?.type !== 'object') p.push('input schema is not a JSON Schema object');
  if (!spec.title?.trim()) p.push('no title');
  p.push(...toolDescriptionProblems(spec.title ?? '', spec.description ?? ''));
  p.push(...argumentDescriptionProblems(spec.inputSchema ?? {}));
  if (all.filter((o) => o.server === spec.server && o.name === spec.name).length > 1) p.push('name is not unique');
  return p;
}

describe('tool contract', () => {
  it('every server package exports toolSpecs', () => {
    assertAllLoaded(discovery);
  });

  it('every server declares at least one tool, each tagged with its own server', () => {
    for (const server of discovery.servers) {
      expect(server.specs.length, `${server.packageName} declares no tools`).toBeGreaterThan(0);
      expect(new Set(server.specs.map((s) => s.server)).size, `${server.packageName} mixes server names`).toBe(1);
    }
  });

  it.each(specs.map((s) => [`${s.server}/${s.name}`, s] as const))('%s is fully declared', (id, spec) => {
    expect(problemsOf(spec, specs), id).toEqual([]);
  });

  it('the registry accepts all servers together', () => {
    expect(() => new Registry(specs)).not.toThrow();
  });

  it('examples/policy.yaml is valid against every tool', () => {
    const text = readFileSync(join(ROOT, 'examples', 'policy.yaml'), 'utf8');
    const policy = parsePolicy(text, 'examples/policy.yaml');
    const known = new Set(specs.map((s) => s.server));
    for (const server of Object.keys(policy.servers)) {
      expect(known.has(server), `examples/policy.yaml names an unknown server '${server}'`).toBe(true);
    }
    expect(() => new Registry(specs, policy)).not.toThrow();
  });

  it("the example's exec allowlist is what the docker server accepts", async () => {
    const text = readFileSync(join(ROOT, 'examples', 'policy.yaml'), 'utf8');
    const options = parsePolicy(text).servers.docker?.tools.exec_run?.options;
    const { ExecOptions } = await import('@ravenhelm/mcp-docker');
    expect(ExecOptions.safeParse(options).success).toBe(true);
  });
});
