/**
 * Benchmark: tool calls per second on a no-op tool over Streamable HTTP.
 *   baseline: the SDK's documented stateless pattern (new McpServer + transport per request)
 *   kit:      one long-lived server fed by the multiplexing transport (this suite)
 * Both run in this process, one after the other, against the same bounded load; prints the ratio.
 * Run: npm run bench   (or: node --conditions=@ravenhelm/source --import tsx test/bench/throughput.ts)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import {
  CONCURRENCY,
  MODERN_NOOP_CALL,
  MODERN_NOOP_HEADERS,
  NOOP_CALL,
  runIfMain,
  SECONDS,
  startKit,
} from './common.js';
import { type LoadResult, runLoad } from './load.js';

const body = NOOP_CALL;
const headers = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-11-25',
};

async function baseline(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const mcp = new McpServer({ name: 'baseline', version: '0.0.0' });
    mcp.registerTool(
      'echo_noop',
      { description: 'no-op', inputSchema: {}, outputSchema: { ok: z.boolean() } },
      async () => ({
        content: [{ type: 'text', text: '{"ok":true}' }],
        structuredContent: { ok: true },
      }),
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

function line(name: string, r: LoadResult): string {
  return `${name.padEnd(34)} ${r.perSecond.toFixed(0).padStart(7)} calls/s  p50 ${r.p50ms.toFixed(2)} ms  p99 ${r.p99ms.toFixed(2)} ms  (${r.completed} ok, ${r.failed} failed, ${r.seconds.toFixed(1)} s)`;
}

export async function main(): Promise<{ baseline: LoadResult; kit: LoadResult; modern: LoadResult }> {
  const load = { body, headers, concurrency: CONCURRENCY, maxSeconds: SECONDS };
  const b = await baseline();
  await runLoad({ ...load, url: b.url, maxSeconds: 2 }); // warm-up
  const baseResult = await runLoad({ ...load, url: b.url });
  await b.close();
  const k = await startKit();
  await runLoad({ ...load, url: k.url, maxSeconds: 2 });
  const kitResult = await runLoad({ ...load, url: k.url });
  const modernLoad = { ...load, url: k.url, body: MODERN_NOOP_CALL, headers: MODERN_NOOP_HEADERS };
  await runLoad({ ...modernLoad, maxSeconds: 2 });
  const modernResult = await runLoad(modernLoad);
  await k.close();
  console.log(`no-op tool call over Streamable HTTP, concurrency ${CONCURRENCY}, ${SECONDS} s each`);
  console.log(line('baseline: SDK server per request', baseResult));
  console.log(line('kit: long-lived, multiplexed', kitResult));
  console.log(line('kit: same server, 2026-07-28 client', modernResult));
  console.log(`ratio kit/baseline: ${(kitResult.perSecond / baseResult.perSecond).toFixed(1)}x`);
  console.log(`ratio kit 2026/kit 2025: ${(modernResult.perSecond / kitResult.perSecond).toFixed(2)}x`);
  return { baseline: baseResult, kit: kitResult, modern: modernResult };
}

runIfMain(import.meta, main);
