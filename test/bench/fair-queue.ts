/**
 * Benchmark: the cost of fair queuing in the backend-slot semaphore (`shared/src/semaphore.ts`) against
 * the first-in-first-out semaphore it replaced (copied below as the baseline), in the same run:
 *   1. free slot (the hot path): acquire + release with no one waiting, N times.
 *   2. contended: 4 callers x CALLS each through 8 slots, 4 x 64 waiting at once (every grant picks
 *      among the callers).
 *   3. a tool call's shape: an async handler with a few awaits around one slot, plain vs entered as a
 *      caller (`runAsCaller`, what invokeTool does). Node 20/22 pay for an AsyncLocalStorage with promise
 *      hooks once any store is entered, process-wide; so phases 1 and 2 run first, before any store is
 *      entered, and are repeated after (rows marked "ALS on").
 *   4. the kit's invokeTool on a tool taking one slot: before any backend queue formed in the process (the
 *      caller is not entered) and after (it is), the cost a server pays once its backends have queued.
 * Prints µs per operation (median of ROUNDS) and the ratios to the baseline.
 * Run: npm run bench -- fair-queue
 */
import { createToolDefiner, invokeTool, runAsCaller, Semaphore, silentLogger } from '@ravenhelm/kit';
import { z } from 'zod';
import { runIfMain } from './common.js';

const N = Number(process.env.BENCH_FAIR_N ?? 200_000);
const CALLS = Number(process.env.BENCH_FAIR_CALLS ?? 5_120);
const ROUNDS = Number(process.env.BENCH_FAIR_ROUNDS ?? 5);
const CALLERS = ['agent-a', 'agent-b', 'agent-c', 'agent-d'];

/** The semaphore before fair queuing (first in, first out), as the baseline. */
class FifoSemaphore {
  readonly limit: number;
  #active = 0;
  readonly #queue: { grant: () => void; signal: AbortSignal | undefined }[] = [];
  constructor(limit: number) {
    this.limit = limit;
  }
  acquire(signal?: AbortSignal, _key?: string): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.limit) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        signal,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser());
        },
      };
      const onAbort = () => {
        const i = this.#queue.indexOf(entry);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(entry);
    });
  }
  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#queue.shift();
      if (next) next.grant();
      else this.#active--;
    };
  }
}

interface Slots {
  acquire(signal?: AbortSignal, key?: string): Promise<() => void>;
}

async function freeSlot(s: Slots, n: number, key?: string): Promise<void> {
  for (let i = 0; i < n; i++) (await s.acquire(undefined, key))();
}

async function contended(s: Slots): Promise<void> {
  const one = async (key: string) => {
    const release = await s.acquire(undefined, key);
    await Promise.resolve();
    release();
  };
  // in batches of 4 x 64 waiting at once: the queue depth admission allows (256 calls in flight)
  for (let done = 0; done < CALLS; done += 64) {
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) for (const key of CALLERS) batch.push(one(key));
    await Promise.all(batch);
  }
}

/** A handler's shape: validation and a backend call around one slot. */
async function handler(s: Slots): Promise<number> {
  await Promise.resolve();
  const release = await s.acquire();
  try {
    await Promise.resolve();
    return 1;
  } finally {
    release();
  }
}

async function toolCalls(s: Slots, n: number, asCaller: boolean): Promise<void> {
  for (let i = 0; i < n; i++) await (asCaller ? runAsCaller('agent-a', () => handler(s)) : handler(s));
}

const defineTool = createToolDefiner<{ slots: Semaphore }>();
const oneSlot = defineTool({
  name: 'bench_slot',
  title: 'Take a slot',
  description: 'Takes one backend slot and answers.',
  toolset: 'bench',
  tier: 'LOW',
  scopes: ['mcp:bench:read'],
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({ n: z.number().int() }),
  output: z.object({ n: z.number().int() }),
  handler: async ({ n }, { slots, signal }) => {
    const release = await slots.acquire(signal);
    try {
      await Promise.resolve();
      return { n };
    } finally {
      release();
    }
  },
});
const callBase = {
  signal: new AbortController().signal,
  logger: silentLogger(),
  principal: { subject: 'agent-a', scopes: [], roles: [], source: 'stdio' as const },
  requestId: 'bench',
  maxOutputBytes: 4096,
  options: {},
};

async function invokeCalls(n: number): Promise<void> {
  const services = { slots: new Semaphore(8) };
  for (let i = 0; i < n; i++) await invokeTool(oneSlot, { n: i }, services, callBase, { timeoutMs: 10_000 });
}

/** Median µs per operation of `fn` over ROUNDS rounds of `ops` operations (after one warm-up round). */
async function measure(ops: number, fn: () => Promise<void>): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1000 / ops);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

function row(label: string, us: number, base: number): void {
  console.log(`| ${label} | ${us.toFixed(3)} | ${(us / base).toFixed(2)} |`);
}

export async function main(): Promise<void> {
  console.log(
    `fair-queue: N ${N} free-slot acquires, ${CALLERS.length} callers x ${CALLS} contended calls through 8 slots, median of ${ROUNDS} rounds (Node ${process.version})`,
  );
  const invokeN = Math.max(1, Math.floor(N / 4));
  const quiet = await measure(invokeN, () => invokeCalls(invokeN));
  console.log('| case | µs/op | x FIFO |');
  console.log('|---|---|---|');
  const phases = async (als: string) => {
    const fifoFree = await measure(N, () => freeSlot(new FifoSemaphore(8), N));
    row(`free slot, FIFO (baseline)${als}`, fifoFree, fifoFree);
    row(`free slot, fair, no caller${als}`, await measure(N, () => freeSlot(new Semaphore(8), N)), fifoFree);
    row(`free slot, fair, keyed${als}`, await measure(N, () => freeSlot(new Semaphore(8), N, 'agent-a')), fifoFree);
    const ops = CALLS * CALLERS.length;
    const fifoBusy = await measure(ops, () => contended(new FifoSemaphore(8)));
    row(`contended, FIFO (baseline)${als}`, fifoBusy, fifoBusy);
    row(`contended, fair, 4 callers${als}`, await measure(ops, () => contended(new Semaphore(8))), fifoBusy);
    return { fifoFree, fifoBusy };
  };
  const before = await phases('');
  const plain = await measure(N, () => toolCalls(new FifoSemaphore(8), N, false));
  row('tool call shape, FIFO, no ALS (baseline)', plain, plain);
  row('tool call shape, fair, no ALS', await measure(N, () => toolCalls(new Semaphore(8), N, false)), plain);
  // From here on an AsyncLocalStorage store has been entered: every promise pays for its hooks.
  const entered = await measure(N, () => toolCalls(new Semaphore(8), N, true));
  row('tool call shape, fair, entered as caller (ALS on)', entered, plain);
  const queued = await measure(invokeN, () => invokeCalls(invokeN));
  row('invokeTool, no backend queue yet in the process (baseline)', quiet, quiet);
  row('invokeTool, after a backend queue formed (caller entered, ALS on)', queued, quiet);
  const after = await phases(' (ALS on)');
  console.log(
    `ALS on, FIFO rows against the same rows before: free slot x${(after.fifoFree / before.fifoFree).toFixed(2)}, contended x${(after.fifoBusy / before.fifoBusy).toFixed(2)}`,
  );
}

runIfMain(import.meta, main);
