/**
 * The SDK-client contract suite: every tool of every server, called through the real
 * `@modelcontextprotocol/sdk` Client (default output-schema validation on) against the real bin.
 *
 * - Streamable HTTP first, with a real token from the dev issuer: the read-only, non-HIGH cases that come
 *   before the suite's first write (writes would repeat side effects and later reads may depend on them;
 *   HIGH needs mTLS, which test/security covers), on the untouched backend.
 * - then stdio (mcp.json): every case, in order, with HIGH tools enabled for a local SPIFFE ID on the
 *   allowlist and `confirm: destructive`, so confirmation round trips are exercised too.
 * - all of it twice, on a fresh backend each time: with the SDK v1 `Client` (protocol 2025-11-25,
 *   confirmation by re-sending the token) and with the SDK v2 `Client` from `@modelcontextprotocol/client`
 *   pinned to 2026-07-28 (confirmation by an input_required round trip its elicitation handler accepts).
 *
 * A server without a suite in ./servers/, or a tool without an `expect: 'ok'` case, fails here: new
 * tools enter the suite by construction. A client-side rejection (schema mismatch) fails the case.
 */
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client as V2Client, StreamableHTTPClientTransport as V2HttpTransport } from '@modelcontextprotocol/client';
import { StdioClientTransport as V2StdioTransport } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DevIssuer } from '@ravenhelm/auth';
import type { ToolSpec } from '@ravenhelm/registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HttpBin, REPO_ROOT, startHttpBin, tsEntry } from '../fixtures/spawn.js';
import { illFormed } from '../fixtures/unicode.js';
import { assertAllLoaded, loadServers } from '../registry/servers.js';
import { useContractBackend } from './env.js';
import type { ContractCase, ContractSuite } from './types.js';

const RUNNER_SPIFFE_ID = 'spiffe://contract.test/agent/runner';
const CONFIRMATION = 'ravenhelm/confirmation';

const discovery = await loadServers();
const suites = new Map<string, ContractSuite>();
const suiteDir = join(import.meta.dirname, 'servers');
for (const file of readdirSync(suiteDir).filter((f) => f.endsWith('.ts'))) {
  const mod = (await import(pathToFileURL(join(suiteDir, file)).href)) as { default?: ContractSuite };
  if (!mod.default) throw new Error(`test/contract/servers/${file} has no default export (a ContractSuite)`);
  suites.set(mod.default.server, mod.default);
}

type CallResult = Awaited<ReturnType<Client['callTool']>>;

/** What the suite needs of a client, so the v1 and v2 SDK clients run the same cases. */
interface ContractClient {
  listTools(): Promise<{ tools: { name: string; outputSchema?: { type?: unknown } }[] }>;
  callTool(params: { name: string; arguments?: Record<string, unknown> }): Promise<CallResult>;
  close(): Promise<void>;
}

interface ClientEra {
  label: string;
  /** Confirmations come as input_required round trips (never as a token to re-send). */
  elicits: boolean;
  /** Connects a client of this era to the transport it builds for stdio (command) or HTTP (url). */
  connect(target: StdioTarget | HttpTarget): Promise<ContractClient>;
}
type StdioTarget = {
  kind: 'stdio';
  command: string;
  args: string[];
  env: Record<string, string>;
  onStderr: (s: string) => void;
};
type HttpTarget = { kind: 'http'; url: string; token: string };

const ERAS: ClientEra[] = [
  {
    label: 'v1 (2025-11-25)',
    elicits: false,
    async connect(t) {
      const client = new Client({ name: 'ravenhelm-contract', version: '1.0.0' });
      await client.connect(
        t.kind === 'http'
          ? new StreamableHTTPClientTransport(new URL(t.url), {
              requestInit: { headers: { authorization: `Bearer ${t.token}` } },
            })
          : stdioTransport(new StdioClientTransport({ ...stdioParams(t) }), t),
      );
      return client as unknown as ContractClient;
    },
  },
  {
    label: 'v2 (2026-07-28)',
    elicits: true,
    async connect(t) {
      const client = new V2Client({ name: 'ravenhelm-contract-v2', version: '1.0.0' }, {
        capabilities: { elicitation: { form: {} } },
        versionNegotiation: { mode: { pin: '2026-07-28' } },
      } as never);
      // The runner is the user: it accepts every confirmation the server asks for.
      client.setRequestHandler('elicitation/create', async () => ({ action: 'accept', content: { confirm: true } }));
      await client.connect(
        t.kind === 'http'
          ? new V2HttpTransport(new URL(t.url), { requestInit: { headers: { authorization: `Bearer ${t.token}` } } })
          : stdioTransport(new V2StdioTransport({ ...stdioParams(t) }), t),
      );
      return client as unknown as ContractClient;
    },
  },
];

function stdioParams(t: StdioTarget) {
  return { command: t.command, args: t.args, cwd: REPO_ROOT, env: t.env, stderr: 'pipe' as const };
}

function stdioTransport<T extends { stderr: { on(e: 'data', f: (c: Buffer) => void): unknown } | null }>(
  transport: T,
  t: StdioTarget,
): T {
  transport.stderr?.on('data', (chunk: Buffer) => t.onStderr(chunk.toString()));
  return transport;
}

function textOf(result: CallResult): string {
  return ((result.content ?? []) as { type: string; text?: string }[])
    .filter((c) => c.type === 'text')
    .map((c) => c.text ?? '')
    .join('\n');
}

/** Calls a tool; a confirmation answer is confirmed once by re-sending its token, as an agent would. */
async function callCase(client: ContractClient, c: ContractCase, era: ClientEra): Promise<CallResult> {
  const first = await client.callTool({ name: c.tool, arguments: c.arguments });
  const confirmation = (first._meta as Record<string, { token?: string }> | undefined)?.[CONFIRMATION];
  if (!confirmation?.token) return first;
  if (era.elicits) throw new Error(`${c.tool}: a confirmation token came back instead of an input_required round trip`);
  return client.callTool({ name: c.tool, arguments: { ...c.arguments, confirmationToken: confirmation.token } });
}

function checkCase(c: ContractCase, result: CallResult): void {
  const text = textOf(result);
  expect(illFormed(result), `${c.tool} (${c.label}) answered half a surrogate pair`).toBeUndefined();
  if (c.expect === 'ok') {
    expect(result.isError, `${c.tool} (${c.label}) failed: ${text.slice(0, 500)}`).toBeFalsy();
    expect(result.structuredContent, `${c.tool} (${c.label}) has no structuredContent`).toBeTypeOf('object');
    // Clients forward one copy to the model: Claude Code and VS Code the structured one, Kimi Code,
    // hermes-agent and ollama clients the text (docs/performance.md). Both must carry the same data.
    expect(JSON.parse(text), `${c.tool} (${c.label}): text and structuredContent differ`).toEqual(
      result.structuredContent,
    );
  } else {
    // Claude Code forwards only the text of an error result: nothing may live in a structured copy alone.
    expect(result.structuredContent, `${c.tool} (${c.label}) error has a structured copy`).toBeUndefined();
    expect(result.isError, `${c.tool} (${c.label}) should fail but returned: ${text.slice(0, 300)}`).toBe(true);
    expect(text).toMatch(/ERR_[A-Z_]+/);
  }
  c.check?.(result.structuredContent as Record<string, unknown> | undefined, text);
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('contract coverage', () => {
  it('every server package loads and has a contract suite', () => {
    assertAllLoaded(discovery);
    const missing = discovery.servers.map((s) => s.specs[0]?.server).filter((s) => s && !suites.has(s));
    expect(missing, `add test/contract/servers/<server>.ts for: ${missing.join(', ')}`).toEqual([]);
  });
});

for (const server of discovery.servers) {
  const name = server.specs[0]?.server;
  if (!name) continue;
  const suite = suites.get(name);
  if (!suite) continue;
  const specs = new Map<string, ToolSpec>(server.specs.map((s) => [s.name, s]));

  for (const era of ERAS)
    describe(`${name}: every tool through the SDK ${era.label} client`, () => {
      const { dir, backend, envFor } = useContractBackend({
        name,
        suite,
        prefix: 'rh-contract',
        defaultPolicy: `servers:\n  ${name}:\n    confirm: destructive\n    spiffe:\n      default: ["${RUNNER_SPIFFE_ID}"]\n`,
      });

      it('has an ok case for every tool, and no case for an unknown tool', () => {
        const { cases } = backend();
        const covered = new Set(cases.filter((c) => c.expect === 'ok').map((c) => c.tool));
        const uncovered = [...specs.keys()].filter((t) => !covered.has(t));
        expect(uncovered, `tools without an 'ok' contract case in test/contract/servers/${name}.ts`).toEqual([]);
        const unknown = cases.map((c) => c.tool).filter((t) => !specs.has(t));
        expect(unknown, 'cases naming tools the server does not have').toEqual([]);
      });

      describe('over Streamable HTTP with a real token', () => {
        let server: HttpBin;
        let client: ContractClient;
        let issuer: DevIssuer;

        beforeAll(async () => {
          issuer = await DevIssuer.open({ stateDir: join(dir, 'issuer') });
          const { issuer: issuerUrl } = await issuer.listen({ port: 0 });
          // The port is chosen first: the token's audience is the server's public URL.
          const port = await freePort();
          const url = `http://127.0.0.1:${port}/mcp`;
          server = await startHttpBin(
            suite.bin,
            envFor('http', {
              RAVENHELM_LOG_LEVEL: 'info', // startHttpBin reads the URL from the "listening" line
              RAVENHELM_HTTP_HOST: '127.0.0.1',
              RAVENHELM_HTTP_PORT: String(port),
              RAVENHELM_PUBLIC_URL: url,
              RAVENHELM_AUTH_MODE: 'oauth',
              RAVENHELM_AUTH_ISSUER: issuerUrl,
            }),
            { args: ['--http'] },
          );
          const token = await issuer.mint({ agent: 'contract-runner', scopes: [`mcp:${name}:admin`], audience: url });
          client = await era.connect({ kind: 'http', url, token });
        }, 120_000);

        afterAll(async () => {
          await client?.close();
          await server?.stop();
          await issuer?.close();
        });

        it('answers every read-only case as declared, accepted by the client', async () => {
          const { tools } = await client.listTools();
          const offered = new Set(tools.map((t) => t.name));
          // The read cases before the suite's first write: later reads may depend on what the writes create.
          const isRead = (c: ContractCase) => {
            const spec = specs.get(c.tool);
            return spec !== undefined && spec.tier !== 'HIGH' && spec.annotations.readOnlyHint === true;
          };
          const { cases } = backend();
          const firstWrite = cases.findIndex((c) => !isRead(c));
          const reads = (firstWrite === -1 ? cases : cases.slice(0, firstWrite)).filter(isRead);
          expect(reads.length).toBeGreaterThan(0);
          const failures: string[] = [];
          for (const c of reads) {
            if (!offered.has(c.tool)) {
              failures.push(`${c.tool}: not offered over HTTP to a caller with mcp:${name}:admin`);
              continue;
            }
            try {
              checkCase(c, await callCase(client, c, era));
            } catch (err) {
              failures.push(`${c.tool} (${c.label}): ${(err as Error).message.split('\n').slice(0, 6).join(' ')}`);
            }
          }
          expect(failures, `stderr tail:\n${server.stderr().slice(-3000)}`).toEqual([]);
        }, 600_000);
      });
      describe('over stdio', () => {
        let client: ContractClient;
        let stderr = '';

        beforeAll(async () => {
          const entry = tsEntry(suite.bin, ['--stdio']);
          client = await era.connect({
            kind: 'stdio',
            command: entry.command,
            args: entry.args,
            env: envFor('stdio', {
              RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
              RAVENHELM_LOCAL_SPIFFE_ID: RUNNER_SPIFFE_ID,
              RAVENHELM_LOCAL_SCOPES: `mcp:${name}:admin`,
              RAVENHELM_LOCAL_SUBJECT: 'contract-runner',
            }),
            onStderr: (text) => {
              stderr = (stderr + text).slice(-20_000);
            },
          });
        }, 120_000);

        afterAll(async () => {
          await client?.close();
        });

        it('lists every tool with an object output schema', async () => {
          const { tools } = await client.listTools();
          expect(tools.map((t) => t.name).sort()).toEqual([...specs.keys()].sort());
          for (const t of tools) expect(t.outputSchema?.type, `${t.name} outputSchema`).toBe('object');
        });

        it('answers every case as declared, accepted by the client', async () => {
          await client.listTools(); // the client validates structuredContent against schemas from this list
          const failures: string[] = [];
          for (const c of backend().cases) {
            try {
              checkCase(c, await callCase(client, c, era));
            } catch (err) {
              failures.push(`${c.tool} (${c.label}): ${(err as Error).message.split('\n').slice(0, 6).join(' ')}`);
            }
          }
          expect(failures, `stderr tail:\n${stderr.slice(-3000)}`).toEqual([]);
        }, 600_000);
      });
    });
}
