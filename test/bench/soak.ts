/**
 * Benchmark: the cost of a call must not grow with history. A long run (BENCH_SOAK_SECONDS, default 90)
 * through the full stack in its own process (soak-bin: OAuth, registry, MEDIUM rate limit with a short
 * window, audit file, metrics), driven by BENCH_SOAK_PRINCIPALS distinct agents (default 5,000, under the token
 * cache's 10,000 entries: more agents than that, called round-robin, make every call a signature check,
 * as any LRU would), each call with distinct arguments, one in ten refused for a missing
 * scope (the denial aggregation path). Load comes in consecutive chunks of BENCH_SOAK_CHUNK seconds; the
 * server reports RSS, heap, cached tokens and rate-limit windows every second.
 * Prints per chunk: calls/s, p99, RSS, heap, state sizes and audit bytes per call; then first vs last.
 * Run: npm run bench -- soak
 */
import { statSync } from 'node:fs';
import { runIfMain } from './common.js';
import { type LoadResult, runLoad } from './load.js';
import { STACK_HEADERS, startStack } from './stack.js';

const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 90);
const CHUNK = Number(process.env.BENCH_SOAK_CHUNK ?? 15);
const PRINCIPALS = Number(process.env.BENCH_SOAK_PRINCIPALS ?? 5_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const WINDOW_SECONDS = 10;

interface Chunk {
  r: LoadResult;
  rssMb: number;
  heapMb: number;
  liveHeapMb: number;
  cachedTokens: number;
  rateLimitKeys: number;
  auditBytesPerCall: number;
}

export async function main(): Promise<Chunk[]> {
  let last: Record<string, number> = {};
  let maxRss = 0;
  const stack = await startStack({
    soak: {
      statsMs: 1000,
      onStats: (s) => {
        last = s;
        maxRss = Math.max(maxRss, s.rss ?? 0);
      },
    },
    env: { RAVENHELM_RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS), RAVENHELM_AUDIT_DENIAL_WINDOW_SECONDS: '5' },
  });
  try {
    const t0 = Date.now();
    const tokens: string[] = [];
    for (let i = 0; i < PRINCIPALS; i++) tokens.push(await stack.mint(`agent-${i}`));
    const readOnly = await Promise.all(
      Array.from({ length: Math.ceil(PRINCIPALS / 10) }, (_, i) => stack.readOnlyToken(`reader-${i}`)),
    );
    console.log(`minted ${tokens.length + readOnly.length} tokens in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const call = (i: number) =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'bench_write', arguments: { item: `item-${i}` } },
      });
    const requests = tokens.flatMap((token, i) => {
      const r = [{ body: call(i), headers: { authorization: `Bearer ${token}` } }];
      const reader = readOnly[i / 10];
      if (i % 10 === 0 && reader) r.push({ body: call(i), headers: { authorization: `Bearer ${reader}` } });
      return r;
    });
    const chunks: Chunk[] = [];
    let auditBefore = statSync(stack.auditFile).size;
    const headers = STACK_HEADERS;
    console.log(
      `long run: ${SECONDS} s in ${CHUNK} s chunks, ${CONCURRENCY} connections, ${PRINCIPALS} agents (+${readOnly.length} refused), rate-limit window ${WINDOW_SECONDS} s, token cache 10,000`,
    );
    console.log(
      '| chunk | calls/s | p99 ms | refused | RSS MB | heap MB | live heap MB | cached tokens | rate-limit windows | audit B/call |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (let t = 0; t < SECONDS; t += CHUNK) {
      const r = await runLoad({
        url: stack.url,
        body: requests[0]?.body ?? '',
        headers,
        concurrency: CONCURRENCY,
        maxSeconds: CHUNK,
        requests,
      });
      await new Promise((res) => setTimeout(res, 1100)); // one more stats line after the chunk
      const auditNow = statSync(stack.auditFile).size;
      const c: Chunk = {
        r,
        rssMb: (last.rss ?? 0) / 2 ** 20,
        heapMb: (last.heapUsed ?? 0) / 2 ** 20,
        liveHeapMb: (last.liveHeap ?? 0) / 2 ** 20,
        cachedTokens: last.cachedTokens ?? 0,
        rateLimitKeys: last.rateLimitKeys ?? 0,
        auditBytesPerCall: (auditNow - auditBefore) / Math.max(1, r.completed + r.non2xx),
      };
      auditBefore = auditNow;
      chunks.push(c);
      console.log(
        `| ${chunks.length} | ${r.perSecond.toFixed(0)} | ${r.p99ms} | ${r.non2xx} | ${c.rssMb.toFixed(0)} | ${c.heapMb.toFixed(0)} | ${c.liveHeapMb.toFixed(0)} | ${c.cachedTokens} | ${c.rateLimitKeys} | ${c.auditBytesPerCall.toFixed(0)} |`,
      );
    }
    // The first chunk pays each token's signature check once; from the second on the state is warm.
    const first = chunks[1] ?? chunks[0];
    const lastChunk = chunks[chunks.length - 1];
    if (first && lastChunk) {
      console.log(
        `last/second chunk: calls/s ${(lastChunk.r.perSecond / first.r.perSecond).toFixed(2)}, RSS ${(lastChunk.rssMb / first.rssMb).toFixed(2)} (max ${(maxRss / 2 ** 20).toFixed(0)} MB), live heap ${(lastChunk.liveHeapMb / first.liveHeapMb).toFixed(2)}, audit bytes/call ${(lastChunk.auditBytesPerCall / first.auditBytesPerCall).toFixed(2)}`,
      );
    }
    return chunks;
  } finally {
    await stack.close();
    stack.remove();
  }
}

runIfMain(import.meta, main);
