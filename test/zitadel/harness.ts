/**
 * Starts the Zitadel simulator with a realistic organisation and the server's own service account,
 * and the real bin over stdio with the SDK Client, configured only through environment variables.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { useSession } from '../fixtures/session.js';
import { REPO_ROOT } from '../fixtures/spawn.js';
import { seedZitadel, startZitadelSim, type ZitadelSim } from '../simulators/zitadel.js';

export const ONCALL_SPIFFE = 'spiffe://ravenhelm.local/agent/identity-admin';

export const ROLE_SCOPES = {
  'docker.reader': ['mcp:docker:read'],
  'docker.operator': ['mcp:docker:write'],
  'docker.admin': ['mcp:docker:admin'],
  'observability.reader': ['mcp:observability:read'],
};

export interface ZitadelFixture {
  sim: ZitadelSim;
  ids: ReturnType<typeof seedZitadel>;
  dir: string;
  /** Environment for the bin: backend, role mapping, local principal with HIGH allowed, policy, audit file. */
  env: Record<string, string>;
  serviceAccountId: string;
  auditFile: string;
  stop(): Promise<void>;
}

export async function startZitadelFixture(
  opts: {
    confirm?: boolean;
    /** Tools that need a confirmation round-trip whatever their annotations (policy `tools.<t>.confirm`). */
    confirmTools?: string[];
    /** The local operator's scopes; default: Zitadel admin plus every scope the MCP-project roles give. */
    scopes?: string[];
    /** Also the seeded second organisation in ZITADEL_ALLOWED_ORG_IDS (one the MCP project is granted to). */
    allowOtherOrg?: boolean;
  } = {},
): Promise<ZitadelFixture> {
  const sim = await startZitadelSim();
  const ids = seedZitadel(sim);
  const dir = mkdtempSync(join(tmpdir(), 'rh-zitadel-'));
  const own = sim.addServiceAccount({ username: 'ravenhelm-mcp' });
  const keyPath = join(dir, 'key.json');
  writeFileSync(keyPath, own.keyFile, { mode: 0o600 });
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `servers:\n  zitadel:\n${opts.confirm ? '    confirm: destructive\n' : ''}    spiffe:\n      default: ['${ONCALL_SPIFFE}']\n${
      opts.confirmTools?.length
        ? `    tools:\n${opts.confirmTools.map((t) => `      ${t}:\n        confirm: true\n`).join('')}`
        : ''
    }`,
  );
  const auditFile = join(dir, 'audit.jsonl');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    ZITADEL_URL: sim.url,
    ZITADEL_KEY_FILE: keyPath,
    ZITADEL_ORG_ID: ids.orgId,
    ZITADEL_PROJECT_ID: ids.projectId,
    ZITADEL_ALLOWED_ORG_IDS: opts.allowOtherOrg ? `${ids.orgId},${ids.otherOrgId}` : ids.orgId,
    ZITADEL_ROLE_SCOPES: JSON.stringify(ROLE_SCOPES),
    ZITADEL_POLICY_FILE: policy,
    RAVENHELM_POLICY_FILE: policy,
    // roles_grant and agents_onboard give at most the caller's own scopes
    RAVENHELM_LOCAL_SCOPES: (opts.scopes ?? ['mcp:zitadel:admin', ...new Set(Object.values(ROLE_SCOPES).flat())]).join(
      ',',
    ),
    RAVENHELM_LOCAL_SPIFFE_ID: ONCALL_SPIFFE,
    RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
    RAVENHELM_AUDIT_FILE: auditFile,
    RAVENHELM_LOG_LEVEL: 'debug',
  };
  return {
    sim,
    ids,
    dir,
    env,
    serviceAccountId: own.userId,
    auditFile,
    async stop() {
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface StdioSession {
  client: Client;
  /** Everything the bin wrote to stderr (its logs). */
  stderr(): string;
  close(): Promise<void>;
}

export async function connectStdio(env: Record<string, string>): Promise<StdioSession> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--conditions=@ravenhelm/source', '--import', 'tsx', 'servers/zitadel/src/bin.ts', '--stdio'],
    cwd: REPO_ROOT,
    env,
    stderr: 'pipe',
  });
  let logs = '';
  transport.stderr?.on('data', (c: Buffer) => {
    logs += c.toString('utf8');
  });
  const client = new Client({ name: 'zitadel-stdio-test', version: '0' });
  await client.connect(transport);
  return { client, stderr: () => logs, close: () => client.close() };
}

/** One tool call through a session: whether it failed, its first text block, structured content, _meta. */
export async function callTool(session: StdioSession, name: string, args: Record<string, unknown>) {
  const r = await session.client.callTool({ name, arguments: args });
  return {
    isError: r.isError === true,
    text: (r.content as { text: string }[])[0]?.text ?? '',
    data: r.structuredContent as Record<string, unknown> | undefined,
    meta: r._meta as Record<string, { token?: string; plan?: string }> | undefined,
  };
}

export function readAudit(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * In a describe block (or at the top of a file): a fixture and a stdio session of the bin on it, started
 * before the tests and stopped after. Read `fx` and `s` inside tests only.
 */
export function useZitadelSession(opts: Parameters<typeof startZitadelFixture>[0] = {}): {
  readonly fx: ZitadelFixture;
  readonly s: StdioSession;
} {
  const session = useSession<ZitadelFixture, StdioSession>({
    name: 'Zitadel',
    start: () => startZitadelFixture(opts),
    connect: (fx) => connectStdio(fx.env),
    stop: (fx) => fx.stop(),
    disconnect: (s) => s.close(),
    timeoutMs: 60_000,
  });
  return {
    get fx() {
      return session.fx;
    },
    get s() {
      return session.client;
    },
  };
}
