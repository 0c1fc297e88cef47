/**
 * The durable audit log on a REALLY full disk: the log lives on a small tmpfs mounted for this test (root
 * only; skipped with a printed reason otherwise), a real server process serves LOW, MEDIUM and HIGH calls
 * over Streamable HTTP to SDK clients, and a filler file takes every free page so the next records only
 * partly fit (write(2) writes up to the page end, then ENOSPC). Then space is freed, and the server is
 * restarted on the same file, full again, with a torn tail. What must hold throughout: no HIGH side effect
 * without its attempt record on disk; every call answered once, within its deadline, with a clear error
 * when it cannot be audited; the chain verifies (library and CLI) with no torn record; no secret anywhere;
 * /readyz tells the truth. Bounded: a few hundred calls in total.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { type AuditRecord, verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { sfxHighEnv } from '../fixtures/side-effect-env.js';
import { fillDisk, mountTmpfs, readyz } from '../fixtures/small-disk.js';
import { type HttpBin, startHttpBin, tsEntry } from '../fixtures/spawn.js';

const SECRET = 'S3CR3T-auditfault-9d1e';
const CALL_DEADLINE_MS = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'rh-auditfault-'));
const mnt = join(dir, 'mnt');
const auditFile = join(mnt, 'audit.jsonl');
const filler = join(mnt, 'filler');
const sideEffects = join(dir, 'side-effects.log');
/** On the real disk, beside the tmpfs: where outcome records kept at a stop on the full disk go. */
const fallbackFile = join(dir, 'audit-fallback.jsonl');

const skipReason = mountTmpfs(mnt, '512k');
if (skipReason) console.warn(`audit-faults-disk skipped: ${skipReason}`);

const servers: HttpBin[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  if (!skipReason) execFileSync('umount', [mnt]);
  rmSync(dir, { recursive: true, force: true });
});

async function startServer(): Promise<HttpBin> {
  const s = await startHttpBin(
    'test/fixtures/side-effect-bin.ts',
    {
      ...sfxHighEnv(dir),
      RAVENHELM_AUDIT_FILE: auditFile,
      // The default (1 MiB) is more than this whole disk: readiness here follows failed writes alone.
      RAVENHELM_AUDIT_MIN_FREE_BYTES: '16384',
      RAVENHELM_AUDIT_FALLBACK_FILE: fallbackFile,
      SFX_LOG: sideEffects,
    },
    { timeoutMs: 30_000 },
  );
  servers.push(s);
  return s;
}

/** An SDK client that also counts the responses it receives per request id. */
async function connect(url: string): Promise<{ client: Client; answers: Map<string | number, number> }> {
  const client = new Client({ name: 'auditfault', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const answers = new Map<string | number, number>();
  await client.connect(transport);
  const deliver = transport.onmessage;
  transport.onmessage = (msg: JSONRPCMessage) => {
    const id = 'id' in msg && ('result' in msg || 'error' in msg) ? msg.id : undefined;
    if (id !== undefined) answers.set(id, (answers.get(id) ?? 0) + 1);
    deliver?.call(transport, msg);
  };
  return { client, answers };
}

type Tier = 'LOW' | 'MEDIUM' | 'HIGH';
interface Outcome {
  tier: Tier;
  value: string;
  ok: boolean;
  text: string;
  ms: number;
}

/** One call with a deadline: a hang is a failure, not a stuck test. */
async function call(client: Client, tier: Tier, value: string): Promise<Outcome> {
  const started = Date.now();
  const params =
    tier === 'LOW'
      ? { name: 'sfx_read', arguments: { ms: 1 } }
      : tier === 'MEDIUM'
        ? { name: 'sfx_write', arguments: { value, ms: 2 } }
        : { name: 'sfx_grant', arguments: { value, secret: SECRET, ms: 2 } };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CALL_DEADLINE_MS} ms`)), CALL_DEADLINE_MS);
  });
  try {
    const res = (await Promise.race([client.callTool(params), deadline])) as {
      isError?: boolean;
      content?: { text?: string }[];
    };
    const text = (res.content ?? []).map((c) => c.text ?? '').join(' ');
    return { tier, value, ok: res.isError !== true, text, ms: Date.now() - started };
  } catch (err) {
    return { tier, value, ok: false, text: `thrown: ${(err as Error).message}`, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** `workers` clients in parallel, `perWorker` calls each, tiers rotating; bounded in count. */
async function load(clients: Client[], tag: string, perWorker: number): Promise<Outcome[]> {
  const tiers: Tier[] = ['HIGH', 'MEDIUM', 'LOW'];
  const out: Outcome[] = [];
  await Promise.all(
    clients.map(async (client, w) => {
      for (let i = 0; i < perWorker; i++) {
        out.push(await call(client, tiers[(i + w) % 3] as Tier, `${tag}-w${w}-${i}`));
      }
    }),
  );
  return out;
}

const records = (): AuditRecord[] =>
  readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditRecord);

/** The checks every phase must pass. */
async function expectIntactLog(): Promise<void> {
  const text = readFileSync(auditFile, 'utf8');
  expect(text.endsWith('\n')).toBe(true); // no torn record left behind
  expect(await verifyAuditChain(auditFile)).toMatchObject({ ok: true });
  const cli = tsEntry('shared/src/audit-cli.ts', ['verify', auditFile]);
  const verified = spawnSync(cli.command, cli.args, { encoding: 'utf8', timeout: 20_000 });
  expect({ status: verified.status, out: verified.stdout }).toMatchObject({
    status: 0,
    out: expect.stringMatching(/^ok: \d+ records, chain intact/),
  });
  const attempts = new Set(
    records()
      .filter((r) => r.phase === 'attempt')
      .map((r) => (r.args as { value: string }).value),
  );
  const started = existsSync(sideEffects) ? readFileSync(sideEffects, 'utf8').split('\n').filter(Boolean) : [];
  expect(started.filter((v) => !attempts.has(v))).toEqual([]);
  for (const r of records().filter((x) => x.tool === 'sfx_grant')) {
    expect((r.args as { secret?: unknown }).secret).not.toBe(SECRET);
  }
}

/**
 * Starts `n` slow HIGH calls, fills the disk once all of them are past their attempt record (their side
 * effects started), and returns their answers.
 */
async function inFlightHigh(clients: Client[], tag: string, n: number) {
  const calls = Array.from({ length: n }, (_, i) =>
    (clients[i % clients.length] as Client).callTool({
      name: 'sfx_grant',
      arguments: { value: `${tag}-${i}`, secret: SECRET, ms: 1000 }, // the tool's longest wait
    }),
  );
  for (let i = 0; i < 200 && readFileSync(sideEffects, 'utf8').split(`${tag}-`).length <= n; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  fillDisk(filler);
  return Promise.all(calls);
}

/** Every MEDIUM/HIGH call answered with success has its attempt and then its outcome record, once. */
function expectOutcomeForEveryRun(): void {
  const byValue = new Map<string, string[]>();
  for (const r of records()) {
    const v = (r.args as { value?: string }).value;
    if (v) byValue.set(v, [...(byValue.get(v) ?? []), r.phase]);
  }
  const ran = all.filter((o) => o.tier !== 'LOW' && o.ok);
  expect(ran.length).toBeGreaterThan(0);
  expect(ran.filter((o) => byValue.get(o.value)?.join() !== 'attempt,outcome').map((o) => o.value)).toEqual([]);
}

const all: Outcome[] = [];
const freeDisk = () => rmSync(filler, { force: true });

describe.skipIf(skipReason !== undefined)('the audit log on a really full disk', () => {
  let server: HttpBin;
  let clients: { client: Client; answers: Map<string | number, number> }[] = [];

  it('full disk under concurrent LOW/MEDIUM/HIGH load: fail closed, answered once, chain intact, readiness false', async () => {
    server = await startServer();
    clients = await Promise.all(Array.from({ length: 6 }, () => connect(server.url)));
    const warm = await load(
      clients.map((c) => c.client),
      'warm',
      6,
    );
    expect(warm.filter((o) => !o.ok)).toEqual([]);
    all.push(...warm);

    // HIGH calls already past their attempt record when the disk fills: their outcome records cannot be
    // written. Their side effects ran, so they are answered with success and the records are kept.
    // (More outcome records than the slack left in the log's last page can hold.)
    const IN_FLIGHT = 36;
    for (const [i, res] of (
      await inFlightHigh(
        clients.map((c) => c.client),
        'inflight',
        IN_FLIGHT,
      )
    ).entries()) {
      all.push({ tier: 'HIGH', value: `inflight-${i}`, ok: res.isError !== true, text: '', ms: 0 });
    }
    const sizeAtFull = statSync(auditFile).size;
    expect(all.filter((o) => o.value.startsWith('inflight-') && o.ok).length).toBe(IN_FLIGHT);
    expect(server.stderr()).toMatch(/outcome records are kept \(\d+ waiting\).*"msg":"audit outcome write failed"/);
    const full = await load(
      clients.map((c) => c.client),
      'full',
      15,
    );
    all.push(...full);
    // No hang: every call answered within its deadline; each request got exactly one response.
    expect(full.filter((o) => /no answer within/.test(o.text))).toEqual([]);
    for (const c of clients) for (const [id, n] of c.answers) expect({ id, n }).toEqual({ id, n: 1 });
    // Every call's answer was seen: in a 200 response, or (ERR_AUDIT_UNAVAILABLE is HTTP 503) as the JSON-RPC
    // error body the SDK puts in the error it throws.
    const in503 = full.filter((o) => /^thrown: Streamable HTTP error: .*"jsonrpc":"2.0"/.test(o.text)).length;
    const answered = clients.reduce((sum, c) => sum + c.answers.size, 0) + in503;
    expect(answered).toBeGreaterThanOrEqual(warm.length + 36 + full.length);
    // Reads need no audit record: they keep working on a full disk.
    expect(full.filter((o) => o.tier === 'LOW' && !o.ok)).toEqual([]);
    // The disk really was full: calls that need an attempt record were refused, with a clear error.
    const refused = full.filter((o) => !o.ok);
    expect(refused.length).toBeGreaterThan(0);
    for (const o of refused) {
      expect(o.text).toMatch(/was not run: the audit log cannot be written/);
      expect(o.text).toMatch(/no space left/i);
      expect(o.text).not.toContain(SECRET);
    }
    expect(refused.some((o) => o.tier === 'HIGH')).toBe(true);
    const slowest = Math.max(...full.map((o) => o.ms));
    console.info(
      `full disk: ${full.length} calls, refused HIGH ${refused.filter((o) => o.tier === 'HIGH').length} MEDIUM ${
        refused.filter((o) => o.tier === 'MEDIUM').length
      }, ran ${full.filter((o) => o.ok && o.tier !== 'LOW').length}, slowest answer ${slowest} ms, partial writes cut ${
        server.stderr().match(/partial write of \d+ of \d+ bytes/g)?.length ?? 0
      }`,
    );
    expect(slowest).toBeLessThan(CALL_DEADLINE_MS);
    // The operator's log says what is wrong and where (the path and ENOSPC), and never the secret.
    expect(server.stderr()).toMatch(/audit attempt write failed.*ENOSPC|ENOSPC.*audit attempt write failed/);
    expect(server.stderr()).toContain(auditFile);
    expect(server.stderr()).not.toContain(SECRET);
    // A write really was cut in the middle (the proof this test exercised partial writes).
    expect(server.stderr()).toMatch(/partial write of \d+ of \d+ bytes/);
    expect(statSync(auditFile).size).toBeGreaterThanOrEqual(sizeAtFull);
    await expectIntactLog();
    // Readiness tells an orchestrator the truth while records cannot be written.
    const r = await readyz(server.url);
    expect(r.status).toBe(503);
    expect(r.body).toMatch(/audit log.*no space left/i);
  }, 60_000);

  it('once space is freed the sink recovers by itself: calls run, readiness is back, the chain continues', async () => {
    freeDisk();
    const after = await load(
      clients.map((c) => c.client),
      'freed',
      6,
    );
    all.push(...after);
    expect(after.filter((o) => !o.ok)).toEqual([]);
    // Readiness is cached for a second: it turns back within a bound, not at once.
    const until = Date.now() + 5000;
    let r = await readyz(server.url);
    while (r.status !== 200 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      r = await readyz(server.url);
    }
    expect(r).toMatchObject({ status: 200 });
    await expectIntactLog();
    // Calls that ran while the disk was full (their outcome record did not fit) have it now: it was kept.
    expectOutcomeForEveryRun();
  }, 60_000);

  it('restarted on the same file while the disk is full and the log ends torn: it says what to do, and starts once space is free', async () => {
    // Stopped while the disk is full and outcome records wait for space: they go to the server's log
    // instead (redacted like the audit log), not nowhere.
    const waiting = await inFlightHigh(
      clients.map((c) => c.client),
      'atstop',
      36,
    );
    expect(waiting.every((r) => r.isError !== true)).toBe(true);
    for (const c of clients) await c.client.close();
    await server.stop();
    expect(server.child.exitCode).toBe(0);
    const logged = server
      .stderr()
      .split('\n')
      .filter((l) => l.includes('they are in this log line instead'));
    expect(logged.length).toBeGreaterThan(0);
    const unwritten = logged.flatMap((l) => (JSON.parse(l) as { records: string[] }).records);
    const onDisk = new Set(records().map((r) => `${r.requestId}/${r.phase}`));
    for (const line of unwritten) {
      const r = JSON.parse(line) as AuditRecord;
      expect(r.phase).toBe('outcome');
      expect(onDisk.has(`${r.requestId}/outcome`)).toBe(false);
    }
    // Every in-flight call's outcome is somewhere: in the log, or in that log line.
    const outcomeValues = new Set([
      ...records()
        .filter((r) => r.phase === 'outcome')
        .map((r) => (r.args as { value: string }).value),
      ...unwritten.map((l) => (JSON.parse(l) as { args: { value: string } }).args.value),
    ]);
    expect(Array.from({ length: 36 }, (_, i) => `atstop-${i}`).filter((v) => !outcomeValues.has(v))).toEqual([]);
    expect(server.stderr()).not.toContain(SECRET);
    console.info(
      `SIGTERM with a full disk: ${unwritten.length} outcome records went to the server log and the fallback file`,
    );
    // ...and to the fallback file, for the next start to append to the chain.
    const fallen = readFileSync(fallbackFile, 'utf8').split('\n').filter(Boolean);
    expect(fallen.map((l) => (JSON.parse(l) as AuditRecord).requestId)).toEqual(
      unwritten.map((l) => (JSON.parse(l) as AuditRecord).requestId),
    );
    expect(logged.at(-1)).toContain(`they are also in the fallback file ${fallbackFile}`);
    expect(readFileSync(fallbackFile, 'utf8')).not.toContain(SECRET);
    // A crash mid-write left a torn tail, and the disk is full.
    freeDisk();
    writeFileSync(auditFile, '{"args":{"value":"torn', { flag: 'a' });
    fillDisk(filler);
    let failed: Error | undefined;
    try {
      server = await startServer();
    } catch (err) {
      failed = err as Error;
    }
    console.info(
      `restart on a full disk with a torn tail: ${failed ? `refused: ${failed.message.trim().split('\n').pop()}` : 'started'}`,
    );
    if (failed) {
      // Refusing to start is acceptable only with a message that names the cause and the fix.
      expect(failed.message).toMatch(/no space left/i);
      expect(failed.message).toMatch(/free space/i);
      expect(readdirSync(mnt).filter((f) => f.includes('.torn-'))).toEqual([]); // no empty evidence file
      expect(readFileSync(auditFile, 'utf8').endsWith('"torn')).toBe(true); // the log is untouched
    }
    freeDisk();
    if (failed) server = await startServer();
    else if (existsSync(fallbackFile)) {
      // Started on the full disk: the fallback records waited for the next start.
      await server.stop();
      server = await startServer();
    }
    // The outcome records kept at the stop are in the chain now, after the records then on disk.
    expect(existsSync(fallbackFile)).toBe(false);
    expect(server.stderr()).toMatch(/appended the outcome records of the fallback file/);
    expect(records().filter((r) => r.fallbackDigest !== undefined)).toHaveLength(unwritten.length);
    const outcomesNow = new Set(
      records()
        .filter((r) => r.phase === 'outcome')
        .map((r) => (r.args as { value: string }).value),
    );
    expect(Array.from({ length: 36 }, (_, i) => `atstop-${i}`).filter((v) => !outcomesNow.has(v))).toEqual([]);
    expect(readdirSync(mnt).filter((f) => f.includes('.torn-')).length).toBe(1);
    await expectIntactLog();
    const c = await connect(server.url);
    clients = [c];
    const again = await load([c.client], 'restart', 6);
    all.push(...again);
    expect(again.filter((o) => !o.ok)).toEqual([]);
    await expectIntactLog();
    expectOutcomeForEveryRun();
    expect(readFileSync(auditFile, 'utf8')).not.toContain(SECRET);
  }, 60_000);
});
