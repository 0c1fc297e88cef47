/**
 * Benchmark: tool calls per second on a no-op tool over Streamable HTTP, every server driven by the same
 * load generator (autocannon in its own process, `BENCH_CONCURRENCY` connections, default 20), in one run:
 *   raw:        a node:http server answering a constant JSON-RPC result (the ceiling for any Node server)
 *   baseline:   the SDK's documented stateless pattern (new McpServer + transport per request), no auth
 *   kit bare:   the bench bin (below) with auth.mode none and a LOW no-op (outcome record only)
 *   full stack: the real bin path (runMain, built packages) in its own process: OAuth (a dev-issuer JWT, verified once then cached),
 *               registry, MEDIUM tier (rate limited on every call), attempt + outcome records in the audit
 *               file, metrics; then the same over direct mTLS (SVIDs from the dev CA, keep-alive).
 * Prints calls/s, p50/p99, the ratios to the SDK pattern and to raw node:http, and the server's RSS.
 * BENCH_PROFILE=1 profiles the full-stack server (node --cpu-prof) and prints its top self-time functions.
 * Run: npm run bench -- throughput
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { MODERN_NOOP_CALL, MODERN_NOOP_HEADERS, NOOP_CALL, runIfMain, SECONDS } from './common.js';
import { type LoadOptions, type LoadResult, runLoad } from './load.js';
import { STACK_HEADERS, type Stack, startStack, summarizeProfile } from './stack.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const PROFILE = process.env.BENCH_PROFILE === '1';
const headers = STACK_HEADERS;
const WRITE_CALL = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'bench_write', arguments: { item: 'x' } },
});

interface Served {
  url: string;
  close: () => Promise<void>;
}

async function listen(server: http.Server): Promise<Served> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** node:http reading the body and answering the JSON-RPC result a no-op call gets: no MCP, no checks. */
function rawEcho(): Promise<Served> {
  const answer = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    result: { content: [{ type: 'text', text: '{"ok":true}' }], structuredContent: { ok: true } },
  });
  return listen(
    http.createServer(async (req, res) => {
      for await (const _ of req);
      res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
    }),
  );
}

function sdkPerRequest(): Promise<Served> {
  return listen(
    http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const mcp = new McpServer({ name: 'baseline', version: '0.0.0' });
      mcp.registerTool(
        'echo_noop',
        { description: 'no-op', inputSchema: {}, outputSchema: { ok: z.boolean() } },
        async () => ({ content: [{ type: 'text', text: '{"ok":true}' }], structuredContent: { ok: true } }),
      );
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      await mcp.connect(transport);
      await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString()));
    }),
  );
}

interface Row {
  name: string;
  r: LoadResult;
  rssMb?: number;
}

async function measure(name: string, o: Omit<LoadOptions, 'concurrency' | 'maxSeconds'>): Promise<Row> {
  const load = { ...o, concurrency: CONCURRENCY };
  const warm = await runLoad({ ...load, maxSeconds: 2 });
  if (warm.completed === 0) throw new Error(`${name}: no call succeeded in the warm-up (${warm.failed} failed)`);
  return { name, r: await runLoad({ ...load, maxSeconds: SECONDS }) };
}

function rssMbOf(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8') as string;
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb ? Number(kb) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

const NOOP_READ = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'bench_noop', arguments: {} },
});

/** The same write call as a 2026-07-28 client sends it: protocol fields in `_meta`, routing headers. */
const MODERN_WRITE_CALL = JSON.stringify({
  ...JSON.parse(WRITE_CALL),
  params: { ...JSON.parse(WRITE_CALL).params, _meta: JSON.parse(MODERN_NOOP_CALL).params._meta },
});
const MODERN_WRITE_HEADERS = { ...headers, ...MODERN_NOOP_HEADERS, 'mcp-name': 'bench_write' };

/** One row on the bench bin: `bare` is auth.mode none and the LOW no-op; otherwise the full stack. */
async function stackRow(
  name: string,
  o: { mtls?: boolean; bare?: boolean; modern?: boolean },
): Promise<{ row: Row; profile?: string[] }> {
  const stack: Stack = await startStack({
    mtls: o.mtls ?? false,
    profile: PROFILE && !o.mtls && !o.bare,
    ...(o.bare ? { env: { RAVENHELM_AUTH_MODE: 'none', RAVENHELM_LOCAL_SCOPES: 'mcp:bench:read' } } : {}),
  });
  try {
    const base = o.modern ? MODERN_WRITE_HEADERS : headers;
    const row = await measure(name, {
      url: stack.url,
      body: o.bare ? NOOP_READ : o.modern ? MODERN_WRITE_CALL : WRITE_CALL,
      headers: o.bare ? base : { ...base, authorization: `Bearer ${stack.token}` },
      ...(stack.tls ? { tls: stack.tls } : {}),
    });
    row.rssMb = rssMbOf(stack.child.pid);
    await stack.close();
    return {
      row,
      ...(stack.profileDir
        ? { profile: summarizeProfile(stack.profileDir, Number(process.env.BENCH_PROFILE_TOP ?? 15)) }
        : {}),
    };
  } finally {
    await stack.close();
    stack.remove();
  }
}

const fmt = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

export async function main(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [name, start] of [
    ['raw node:http JSON echo', rawEcho],
    ['SDK per-request pattern (baseline)', sdkPerRequest],
  ] as const) {
    const s = await start();
    rows.push(await measure(name, { url: s.url, body: NOOP_CALL, headers }));
    await s.close();
  }
  rows.push((await stackRow('kit bare (auth none, LOW no-op)', { bare: true })).row);
  const full = await stackRow('kit full stack (OAuth, MEDIUM, audit file)', {});
  rows.push(full.row);
  rows.push((await stackRow('kit full stack over mTLS', { mtls: true })).row);
  rows.push((await stackRow('kit full stack, 2026-07-28 client', { modern: true })).row);

  const raw = rows[0]?.r.perSecond ?? 1;
  const sdk = rows[1]?.r.perSecond ?? 1;
  console.log(
    `no-op tool call over Streamable HTTP, ${CONCURRENCY} connections, ${SECONDS} s each (after 2 s warm-up)`,
  );
  console.log('| server | calls/s | p50 ms | p99 ms | x SDK | % of raw | failed | server RSS |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const { name, r, rssMb } of rows) {
    console.log(
      `| ${name} | ${fmt(r.perSecond)} | ${r.p50ms} | ${r.p99ms} | ${(r.perSecond / sdk).toFixed(1)}x | ${((100 * r.perSecond) / raw).toFixed(0)}% | ${r.failed} | ${rssMb ? `${rssMb.toFixed(0)} MB` : '-'} |`,
    );
  }
  const f = full.row.r;
  console.log(
    `targets (full stack): >= 8x SDK: ${f.perSecond / sdk >= 8 ? 'met' : 'NOT met'} (${(f.perSecond / sdk).toFixed(1)}x); ` +
      `>= 40% of raw: ${f.perSecond / raw >= 0.4 ? 'met' : 'NOT met'} (${((100 * f.perSecond) / raw).toFixed(0)}%); ` +
      `p99 < 5 ms: ${f.p99ms < 5 ? 'met' : 'NOT met'} (${f.p99ms} ms)`,
  );
  if (full.profile) for (const l of full.profile) console.log(l);
  return rows;
}

runIfMain(import.meta, main);
