/**
 * The bundled bins (scripts/bundle.mjs: one ESM entry per server plus the chunks it loads on first use,
 * what `bin`, the demo and the packed packages run): each starts from its bundle with its contract backend
 * (real engine or simulator), over Streamable HTTP with a real OAuth token from the dev issuer and over
 * stdio (from a copy of the bundle's .mjs files alone in a temporary folder: the bundle is
 * self-contained), and answers a real read tool through the SDK client. The bundle's metafile must show
 * no dev-only or test input (dev CA and issuer, simulators, fixtures) in any of its files and none of the
 * modules kept off the start-up path.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { DevIssuer } from '@ravenhelm/auth';
import type { ToolSpec } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script without type declarations
import { bundledInputs, FORBIDDEN, offendingInputs } from '../../scripts/bundle.mjs';
import { useContractBackend } from '../contract/env.js';
import type { ContractCase, ContractSuite } from '../contract/types.js';
import { freePort } from '../fixtures/redis.js';
import { type HttpBin, REPO_ROOT, startHttpProcess } from '../fixtures/spawn.js';
import { loadServers } from '../registry/servers.js';

const forbidden = FORBIDDEN as { pattern: RegExp; why: string }[];
const discovery = await loadServers();
const suites = new Map<string, ContractSuite>();
const suiteDir = join(REPO_ROOT, 'test/contract/servers');
for (const file of readdirSync(suiteDir).filter((f) => f.endsWith('.ts'))) {
  const mod = (await import(pathToFileURL(join(suiteDir, file)).href)) as { default: ContractSuite };
  suites.set(mod.default.server, mod.default);
}

/** Per server, the chunk its backend client is split into (loaded by the first backend call). */
const LAZY_CLIENT_CHUNKS: Record<string, string> = { docker: 'engine-client', gitlab: 'gitbeaker', secrets: 'aws' };

const inputsOf = bundledInputs as (meta: unknown) => string[];

function bundleOf(server: string): string {
  return join(REPO_ROOT, 'servers', server, 'bundle', `ravenhelm-mcp-${server}.mjs`);
}

/** The entry and every chunk of a server's bundle. */
function codeFilesOf(server: string): string[] {
  const dir = dirname(bundleOf(server));
  return readdirSync(dir)
    .filter((f) => f.endsWith('.mjs'))
    .map((f) => join(dir, f));
}

/** The suite's first read-only, non-HIGH 'ok' case before any write: safe to run on the untouched backend. */
function firstRead(cases: ContractCase[], specs: Map<string, ToolSpec>): ContractCase {
  for (const c of cases) {
    const spec = specs.get(c.tool);
    if (!spec || spec.tier === 'HIGH' || spec.annotations.readOnlyHint !== true) break;
    if (c.expect === 'ok') return c;
  }
  throw new Error('the contract suite starts with no read-only ok case');
}

async function callRead(client: Client, c: ContractCase): Promise<void> {
  const result = await client.callTool({ name: c.tool, arguments: c.arguments });
  const text = ((result.content ?? []) as { text?: string }[]).map((p) => p.text ?? '').join('\n');
  expect(result.isError, `${c.tool} (${c.label}) failed: ${text.slice(0, 500)}`).toBeFalsy();
  expect(result.structuredContent, `${c.tool} has no structuredContent`).toBeTypeOf('object');
  c.check?.(result.structuredContent as Record<string, unknown> | undefined, text);
}

describe('the bundle guard', () => {
  const guard = offendingInputs as (meta: unknown) => string[];
  const output = (inputs: Record<string, number>, entryPoint?: string) => ({
    ...(entryPoint ? { entryPoint } : {}),
    inputs: Object.fromEntries(Object.entries(inputs).map(([p, bytesInOutput]) => [p, { bytesInOutput }])),
  });

  it('refuses test or dev-only code in a chunk as it does in the entry', () => {
    const meta = {
      outputs: {
        'servers/x/bundle/ravenhelm-mcp-x.mjs': output({ 'servers/x/src/bin.ts': 100 }, 'servers/x/src/bin.ts'),
        'servers/x/bundle/backend-AAAA.mjs': output({
          'servers/x/src/backend.ts': 50,
          'test/simulators/gitlab.ts': 10,
          'auth/src/dev/ca.ts': 0, // parsed, then shaken out: not in the output
        }),
      },
    };
    expect(guard(meta)).toEqual(['test/simulators/gitlab.ts (test code (simulators, fixtures))']);
    expect(inputsOf(meta).sort()).toEqual([
      'servers/x/src/backend.ts',
      'servers/x/src/bin.ts',
      'test/simulators/gitlab.ts',
    ]);
  });
});

describe('bundles are built', () => {
  it.each(discovery.servers.map((s) => s.specs[0]?.server as string))('%s has a bundle', (server) => {
    expect(existsSync(bundleOf(server)), `run \`node scripts/bundle.mjs ${server}\` (or the build) first`).toBe(true);
  });
});

for (const server of discovery.servers) {
  const name = server.specs[0]?.server;
  const suite = name ? suites.get(name) : undefined;
  if (!name || !suite || !existsSync(bundleOf(name))) continue;
  const specs = new Map<string, ToolSpec>(server.specs.map((s) => [s.name, s]));

  describe(`${name}: the bundled bin`, () => {
    const { dir, backend, envFor } = useContractBackend({
      name,
      suite,
      prefix: 'rh-bundle',
      defaultPolicy: `servers:\n  ${name}: {}\n`,
    });

    it('carries no dev-only, test or start-up-heavy module, in its entry or any chunk', () => {
      const meta = JSON.parse(readFileSync(join(REPO_ROOT, 'servers', name, 'bundle', 'meta.json'), 'utf8')) as {
        outputs: Record<string, unknown>;
      };
      // The metafile names every code file in the folder: no stale chunk from an earlier build is left.
      const outputs = Object.keys(meta.outputs)
        .filter((p) => p.endsWith('.mjs'))
        .map((p) => join(REPO_ROOT, p));
      expect(outputs.sort()).toEqual(codeFilesOf(name).sort());
      const inputs = inputsOf(meta).map((p) => relative(REPO_ROOT, join(REPO_ROOT, p)));
      expect(inputs.some((p) => p.startsWith(`servers/${name}/src/`))).toBe(true);
      const offending = inputs.filter((p) => forbidden.some((f) => f.pattern.test(p)));
      expect(offending).toEqual([]);
      // Belt and braces against a metafile that lies: the code itself names no simulator or dev CA.
      for (const file of codeFilesOf(name)) {
        expect(readFileSync(file, 'utf8'), file).not.toMatch(
          /test\/simulators|auth\/src\/dev|class DevCA|class DevIssuer/,
        );
      }
    });

    it('serves a real read tool over Streamable HTTP with an OAuth token', async () => {
      const issuer = await DevIssuer.open({ stateDir: join(dir, 'issuer') });
      let http: HttpBin | undefined;
      const client = new Client({ name: 'bundle-test-http', version: '1.0.0' });
      try {
        const { issuer: issuerUrl } = await issuer.listen({ port: 0 });
        const url = `http://127.0.0.1:${await freePort()}/mcp`;
        http = await startHttpProcess(
          { command: process.execPath, args: [bundleOf(name), '--http'] },
          envFor('http', {
            RAVENHELM_LOG_LEVEL: 'info', // the URL comes from the "listening" line
            RAVENHELM_HTTP_HOST: '127.0.0.1',
            RAVENHELM_HTTP_PORT: new URL(url).port,
            RAVENHELM_PUBLIC_URL: url,
            RAVENHELM_AUTH_MODE: 'oauth',
            RAVENHELM_AUTH_ISSUER: issuerUrl,
          }),
        );
        expect((await fetch(new URL('/healthz', url))).status).toBe(200);
        const token = await issuer.mint({ agent: 'bundle-test', scopes: [`mcp:${name}:admin`], audience: url });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(url), {
            requestInit: { headers: { authorization: `Bearer ${token}` } },
          }),
        );
        const { tools } = await client.listTools();
        expect(tools.length).toBeGreaterThan(0);
        await callRead(client, firstRead(backend().cases, specs));
      } catch (err) {
        throw new Error(`${(err as Error).message}\nserver log:\n${http?.stderr().slice(-3000) ?? ''}`);
      } finally {
        await client.close();
        await http?.stop();
        await issuer.close();
      }
    }, 120_000);

    /** Starts the bundle entry in `folder` over stdio and connects the SDK client to it. */
    const connectStdio = async (folder: string): Promise<{ client: Client; stderr: () => string }> => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [join(folder, `ravenhelm-mcp-${name}.mjs`), '--stdio'],
        cwd: tmpdir(),
        env: envFor('stdio', { RAVENHELM_LOCAL_SCOPES: `mcp:${name}:write`, RAVENHELM_LOCAL_SUBJECT: 'bundle-test' }),
        stderr: 'pipe',
      });
      let stderr = '';
      transport.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-5000);
      });
      const client = new Client({ name: 'bundle-test-stdio', version: '1.0.0' });
      await client.connect(transport);
      return { client, stderr: () => stderr };
    };

    /** Copies the bundle's code files, except those `skip` names, into a fresh folder of their own. */
    const copyCode = (folder: string, skip: (file: string) => boolean = () => false): string => {
      const to = join(dir, folder);
      mkdirSync(to);
      for (const file of codeFilesOf(name)) if (!skip(basename(file))) copyFileSync(file, join(to, basename(file)));
      return to;
    };

    it('serves the same tool over stdio from a lone copy of its code files (no package.json, no node_modules)', async () => {
      let stdio: { client: Client; stderr: () => string } | undefined;
      try {
        stdio = await connectStdio(copyCode('alone'));
        const { client } = stdio;
        const { tools } = await client.listTools();
        const read = firstRead(backend().cases, specs);
        await callRead(client, read);
        // zod's messages come from the one locale the bundle keeps (English): a wrong type is explained.
        const typed = tools.flatMap((t) =>
          Object.entries((t.inputSchema.properties ?? {}) as Record<string, { type?: unknown; enum?: unknown }>)
            .filter(([, p]) => p.type === 'string' && p.enum === undefined)
            .map(([arg]) => ({ tool: t.name, arg })),
        )[0];
        expect(typed, 'no tool takes a string argument').toBeDefined();
        const bad = await client.callTool({ name: typed?.tool as string, arguments: { [typed?.arg as string]: {} } });
        const text = ((bad.content ?? []) as { text?: string }[]).map((p) => p.text ?? '').join('\n');
        expect(bad.isError).toBe(true);
        expect(text).toMatch(/ERR_INVALID_INPUT/);
        expect(text).toMatch(/Invalid input: expected string, received object/);
      } catch (err) {
        throw new Error(`${(err as Error).message}\nstderr:\n${stdio?.stderr() ?? ''}`);
      } finally {
        await stdio?.client.close();
      }
    }, 120_000);

    const lazyChunk = LAZY_CLIENT_CHUNKS[name];
    it.runIf(lazyChunk !== undefined)(
      'without the chunk of its backend client, a call is a tool error that says so and the server keeps serving',
      async () => {
        const missing = codeFilesOf(name).filter((f) => basename(f).startsWith(`${lazyChunk}-`));
        expect(missing, `one ${lazyChunk}-*.mjs chunk in the bundle`).toHaveLength(1);
        let stdio: { client: Client; stderr: () => string } | undefined;
        try {
          stdio = await connectStdio(copyCode('incomplete', (f) => f.startsWith(`${lazyChunk}-`)));
          const read = firstRead(backend().cases, specs);
          for (let attempt = 0; attempt < 2; attempt++) {
            const r = await stdio.client.callTool({ name: read.tool, arguments: read.arguments });
            const text = ((r.content ?? []) as { text?: string }[]).map((p) => p.text ?? '').join('\n');
            expect(r.isError).toBe(true);
            expect(text).toMatch(/ERR_BACKEND_UNAVAILABLE/);
            expect(text).toMatch(/could not load its .+ \(ERR_MODULE_NOT_FOUND\); .*reinstall or rebuild/);
          }
          expect((await stdio.client.listTools()).tools.length).toBeGreaterThan(0);
        } catch (err) {
          throw new Error(`${(err as Error).message}\nstderr:\n${stdio?.stderr() ?? ''}`);
        } finally {
          await stdio?.client.close();
        }
      },
      120_000,
    );
  });
}
