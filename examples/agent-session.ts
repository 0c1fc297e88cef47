/**
 * A scripted agent session against the demo (`npm run demo`), the way an agent built on the MCP
 * TypeScript SDK talks to the suite: Streamable HTTP over mTLS (the agent's X.509-SVID from the dev CA)
 * with the bearer token the demo minted for each server. It calls one read tool per server and prints
 * what it learned; it exits 1 when any call fails.
 *
 *   npx tsx examples/agent-session.ts [--state .ravenhelm/dev]
 *
 * `--state` is the demo's state directory (its `--state-dir`); the script reads `<state>/demo.json`.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { Agent, fetch as undiciFetch } from 'undici';

/** What examples/demo.ts writes to <state>/demo.json (the parts this script uses). */
interface DemoState {
  agent: { name: string; spiffeId: string; certFile: string; keyFile: string; bundleFile: string };
  servers: { name: string; url: string; token: string }[];
}

interface Step {
  tool: string;
  args: Record<string, unknown>;
  /** One line for a human, from the tool's structured answer. */
  summarize(data: Record<string, unknown>): string;
}

const count = (data: Record<string, unknown>, key: string): number =>
  Array.isArray(data[key]) ? (data[key] as unknown[]).length : 0;
const names = (data: Record<string, unknown>, key: string, field: string, max = 3): string => {
  const items = Array.isArray(data[key]) ? (data[key] as Record<string, unknown>[]) : [];
  const shown = items.slice(0, max).map((item) => String(item[field]));
  return shown.length === 0 ? '' : `: ${shown.join(', ')}${items.length > max ? ', ...' : ''}`;
};
const total = (data: Record<string, unknown>, key: string): string =>
  typeof data.total === 'number' ? String(data.total) : String(count(data, key));

/** One meaningful read per server: what an on-call agent looks at first. */
const SESSION: Record<string, Step> = {
  docker: {
    tool: 'health_get_report',
    args: {},
    summarize: (d) => {
      const counts = (d.counts ?? {}) as Record<string, number>;
      const problems = Object.entries(counts).filter(
        ([k, v]) => v > 0 && !['running', 'healthy', 'exitedZero'].includes(k),
      );
      const verdict = d.ok ? 'all healthy' : `problems: ${problems.map(([k, v]) => `${k} ${v}`).join(', ')}`;
      return `${d.inspected} container(s) inspected, ${counts.running ?? 0} running; ${verdict}`;
    },
  },
  observability: {
    tool: 'alerts_list',
    args: {},
    summarize: (d) => `${total(d, 'alerts')} alert(s) in Alertmanager${names(d, 'alerts', 'alertname')}`,
  },
  gitlab: {
    tool: 'projects_list',
    args: { limit: 5 },
    summarize: (d) => `${count(d, 'projects')} project(s) visible${names(d, 'projects', 'path')}`,
  },
  zitadel: {
    tool: 'users_search',
    args: { limit: 5 },
    summarize: (d) => `${total(d, 'users')} user(s) in Zitadel${names(d, 'users', 'username')}`,
  },
  traefik: {
    tool: 'routers_list',
    args: {},
    summarize: (d) => `${total(d, 'routers')} HTTP router(s)${names(d, 'routers', 'name')}`,
  },
  secrets: {
    tool: 'secrets_list',
    args: {},
    summarize: (d) => `${total(d, 'secrets')} secret(s), metadata only${names(d, 'secrets', 'name')}`,
  },
};

/** fetch with the agent's SVID as client certificate and the dev CA as the only trusted root. */
function mtlsFetch(agent: DemoState['agent']): FetchLike {
  const dispatcher = new Agent({
    connect: {
      cert: readFileSync(agent.certFile),
      key: readFileSync(agent.keyFile),
      ca: readFileSync(agent.bundleFile),
    },
  });
  return (url, init) =>
    undiciFetch(url, { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher }) as unknown as Promise<Response>;
}

async function callOne(server: DemoState['servers'][number], step: Step, fetch: FetchLike): Promise<string> {
  const client = new Client({ name: 'ravenhelm-agent-session', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(server.url), {
    fetch,
    requestInit: { headers: { Authorization: `Bearer ${server.token}` } },
  });
  await client.connect(transport);
  try {
    const result = await client.callTool({ name: step.tool, arguments: step.args });
    const text = (result.content as { type: string; text?: string }[]).find((c) => c.type === 'text')?.text ?? '';
    if (result.isError) throw new Error(text.split('\n')[0] || 'the tool reported an error');
    return step.summarize((result.structuredContent ?? {}) as Record<string, unknown>);
  } finally {
    await client.close();
  }
}

async function main(): Promise<number> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { values } = parseArgs({ options: { state: { type: 'string' } }, strict: true });
  const stateDir = resolve(values.state ?? join(root, '.ravenhelm/dev'));
  let demo: DemoState;
  try {
    demo = JSON.parse(readFileSync(join(stateDir, 'demo.json'), 'utf8')) as DemoState;
  } catch (err) {
    console.error(`cannot read ${join(stateDir, 'demo.json')}: ${(err as Error).message}; is the demo running?`);
    return 2;
  }
  const fetch = mtlsFetch(demo.agent);
  console.log(`agent ${demo.agent.spiffeId} (mTLS + bearer token per server)`);
  let failed = 0;
  for (const [name, step] of Object.entries(SESSION)) {
    const server = demo.servers.find((s) => s.name === name);
    const label = `${name.padEnd(14)} ${step.tool.padEnd(18)}`;
    if (!server) {
      console.log(`${label} FAILED: not running in the demo`);
      failed++;
      continue;
    }
    try {
      console.log(`${label} ok: ${await callOne(server, step, fetch)}`);
    } catch (err) {
      console.log(`${label} FAILED: ${(err as Error).message}`);
      failed++;
    }
  }
  console.log(failed === 0 ? 'session complete: every call answered' : `session failed: ${failed} call(s) failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
