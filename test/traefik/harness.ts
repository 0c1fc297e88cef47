/** Starts the real Traefik MCP bin over stdio (the way mcp.json does) against the simulator and a temp directory. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { useSession } from '../fixtures/session.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { TraefikSimulator, type TraefikSimulatorOptions } from '../simulators/traefik.js';

export const AGENT_SPIFFE_ID = 'spiffe://ravenhelm.local/agent/deployer';

export interface Fixture {
  sim: TraefikSimulator;
  /** The file provider's directory (watched by the simulator, written by the server). */
  dir: string;
  /** A scratch directory outside `dir` (policy, audit log, symlink targets). */
  scratch: string;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A simulator watching a fresh temp directory, and the environment that points the bin at both. */
export async function startFixture(
  opts: Omit<TraefikSimulatorOptions, 'directory'> & { env?: Record<string, string> } = {},
): Promise<Fixture> {
  const scratch = mkdtempSync(join(tmpdir(), 'rh-traefik-'));
  const dir = join(scratch, 'dynamic');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dir);
  const sim = await new TraefikSimulator({ ...opts, directory: dir, watchIntervalMs: 25 }).start();
  const policy = join(scratch, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1\nservers:\n  traefik:\n    confirm: destructive\n    spiffe:\n      default: ['${AGENT_SPIFFE_ID}']\n`,
  );
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    TRAEFIK_API_URL: sim.url,
    TRAEFIK_DYNAMIC_DIR: dir,
    TRAEFIK_LOAD_TIMEOUT_MS: '5000',
    RAVENHELM_POLICY_FILE: policy,
    RAVENHELM_AUDIT_FILE: join(scratch, 'audit.jsonl'),
    RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
    RAVENHELM_LOCAL_SPIFFE_ID: AGENT_SPIFFE_ID,
    RAVENHELM_LOCAL_SCOPES: 'mcp:traefik:admin',
    RAVENHELM_LOG_LEVEL: 'warn',
    ...opts.env,
  };
  return {
    sim,
    dir,
    scratch,
    env,
    close: async () => {
      await sim.close();
      rmSync(scratch, { recursive: true, force: true });
    },
  };
}

/** The real bin over stdio with the SDK Client (default output-schema validation on). */
/** Audit logs of the servers this harness runs now: a second server at once gets a log of its own. */
const auditInUse = new Set<string>();

/**
 * A server over stdio. One writer per audit log: while another server of this harness writes the
 * fixture's log, this one writes `<log>-<n>.jsonl` beside it (a test reading the fixture's log reads
 * what the first server wrote).
 */
export async function connectStdio(env: Record<string, string>): Promise<Client> {
  const { command, args } = tsEntry('servers/traefik/src/bin.ts', ['--stdio']);
  let audit = env.RAVENHELM_AUDIT_FILE;
  for (let n = 2; audit !== undefined && auditInUse.has(audit); n++) {
    audit = (env.RAVENHELM_AUDIT_FILE as string).replace(/(\.jsonl)?$/, `-${n}$1`);
  }
  const ownEnv = audit === undefined ? env : { ...env, RAVENHELM_AUDIT_FILE: audit };
  const transport = new StdioClientTransport({ command, args, cwd: REPO_ROOT, env: ownEnv, stderr: 'ignore' });
  const client = new Client({ name: 'traefik-test', version: '0' });
  if (audit !== undefined) {
    auditInUse.add(audit);
    const release = () => auditInUse.delete(audit);
    transport.onclose = release;
    const close = client.close.bind(client);
    client.close = async () => {
      await close();
      release();
    };
  }
  try {
    await client.connect(transport);
  } catch (err) {
    if (audit !== undefined) auditInUse.delete(audit);
    throw err;
  }
  return client;
}

/**
 * One fixture and one bin over stdio for the tests of a file or describe block: started before them,
 * closed after. `seed` fills the simulator before the bin connects. Read `fx` and `client` inside tests
 * (they throw before the start).
 */
export function useTraefikSession(opts: { seed?: (fx: Fixture) => Promise<void> | void; timeoutMs?: number } = {}): {
  readonly fx: Fixture;
  readonly client: Client;
} {
  return useSession<Fixture, Client>({
    name: 'Traefik',
    start: () => startFixture(),
    seed: opts.seed,
    connect: (fx) => connectStdio(fx.env),
    stop: (fx) => fx.close(),
    disconnect: (client) => client.close(),
    timeoutMs: opts.timeoutMs,
  });
}

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field
export type Structured = Record<string, any>;

/** Calls a tool that must succeed; returns its structured content. */
export async function ok(client: Client, name: string, args: Record<string, unknown> = {}): Promise<Structured> {
  const res = await client.callTool({ name, arguments: args });
  if (res.isError) throw new Error(`${name} failed: ${JSON.stringify(res.content)}`);
  return res.structuredContent as Structured;
}

/** Calls a tool that must fail; returns its error text. */
export async function fails(client: Client, name: string, args: Record<string, unknown> = {}): Promise<string> {
  const res = await client.callTool({ name, arguments: args });
  if (!res.isError) throw new Error(`${name} succeeded: ${JSON.stringify(res.structuredContent)}`);
  return (res.content as { text: string }[]).map((c) => c.text).join('\n');
}

/** A confirm-policy call: the first call must return a plan and a token; the second (with the token) runs it. */
export async function confirmed(
  client: Client,
  name: string,
  args: Record<string, unknown>,
): Promise<{ plan: string; result: Awaited<ReturnType<Client['callTool']>> }> {
  const first = await client.callTool({ name, arguments: args });
  const meta = first._meta?.['ravenhelm/confirmation'] as { token: string; plan: string } | undefined;
  if (!first.isError || !meta)
    throw new Error(`${name} did not ask for confirmation: ${JSON.stringify(first.content)}`);
  const result = await client.callTool({ name, arguments: { ...args, confirmationToken: meta.token } });
  return { plan: meta.plan, result };
}
