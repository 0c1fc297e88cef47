/**
 * tools/list byte budget: what a client loads before its first call. Every server's full tools/list
 * (names, titles, descriptions, annotations, input and output schemas, _meta) must stay within a
 * budget per tool, set from what the slimmed servers measured (docs/performance.md), so lists cannot
 * regrow and new servers start lean.
 */
import { pathToFileURL } from 'node:url';
import {
  createMemoryAuditSink,
  createRuntime,
  type ListedTool,
  loadConfig,
  type ServerDefinition,
  silentLogger,
} from '@ravenhelm/kit';
import { advertisedAnnotations, listedMeta, type ToolSpec } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
import { assertAllLoaded, loadServers } from './servers.js';

/**
 * Average bytes per tool of a server's whole tools/list result, set just above the worst server. Measured
 * with annotations without the MCP defaults, `_meta.ravenhelm` {tier, scopes}, `type` kept next to every enum
 * (Gemini requires it) and argument descriptions only where they add information: docker 980, observability
 * 892 (909, then 932 with alerts_list_rules, before its trim), traefik 894, gitlab 845, secrets 821, zitadel 780
 * (before: 1,094 / 999 / 996 / 925 / 791 / 836). Raised to 1,000 when docker's compose lifecycle tools
 * learned to answer partially at the call's deadline (`complete`, `counts`, `omitted`: docker 998). Docker's
 * events_list (December 2026) was trimmed to fit (no label or type filters): docker 1,000, observability 928
 * with logs_query_metric.
 */
const BUDGET_PER_TOOL = 1_000;
/**
 * No single tool's entry may exceed this (largest: docker compose_get_logs, 1,616; observability
 * metrics_query_range 1,628, was 1,730 before its trim; logs_query_metric 1,539).
 */
const BUDGET_ONE_TOOL = 1_650;

const discovery = await loadServers();

/** A tool as tools/list shows it with the default policy (the shape Pipeline.listTools builds). */
function listed(spec: ToolSpec): ListedTool {
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: spec.inputSchema,
    outputSchema: spec.outputSchema,
    annotations: advertisedAnnotations(spec.annotations),
    _meta: listedMeta(spec),
  };
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

describe('tools/list byte budget', () => {
  it('every server package loads', () => {
    assertAllLoaded(discovery);
  });

  it.each(discovery.servers.map((s) => [s.packageName, s] as const))('%s', (_name, server) => {
    const tools = server.specs.map(listed);
    const total = bytes({ tools });
    const perTool = Math.round(total / tools.length);
    expect(perTool, `${server.packageName}: ${total} bytes for ${tools.length} tools`).toBeLessThanOrEqual(
      BUDGET_PER_TOOL,
    );
    for (const t of tools) expect(bytes(t), `${t.name} alone`).toBeLessThanOrEqual(BUDGET_ONE_TOOL);
  });

  it('measures the shape the server really lists (checked against a live pipeline)', async () => {
    for (const server of discovery.servers) {
      const mod = (await import(pathToFileURL(server.entry).href)) as Record<string, unknown>;
      const def = Object.values(mod).find(
        (v): v is ServerDefinition => !!v && typeof v === 'object' && 'tools' in v && 'createServices' in v,
      );
      expect(def, `${server.packageName} exports its server definition`).toBeDefined();
      if (!def) continue;
      const config = loadConfig({ backendSchema: def.backendConfig, env: {} });
      // No backend: the services are empty, so the server's own close() (which releases real clients) is left out.
      const rt = await createRuntime({ ...def, close: undefined } as never, config, silentLogger(), {
        audit: createMemoryAuditSink(),
        services: {},
      });
      try {
        const live = rt.pipeline.listTools(rt.localPrincipal);
        expect(live.length).toBeGreaterThan(0);
        const byName = new Map(server.specs.map((s) => [s.name, s]));
        // Long-running tools also carry `execution.taskSupport` (MCP Tasks), from their declaration.
        const taskOf = new Map(def.tools.map((d) => [d.name, d.task]));
        for (const t of live) {
          const task = taskOf.get(t.name);
          expect(t).toEqual({
            ...listed(byName.get(t.name) as ToolSpec),
            ...(task ? { execution: { taskSupport: task } } : {}),
          });
        }
      } finally {
        await rt.close();
      }
    }
  });
});
