/**
 * One writer per audit log, with real server processes (test/fixtures/side-effect-bin.ts): a second server
 * given the same RAVENHELM_AUDIT_FILE exits non-zero naming the lock file, its holder and what to do,
 * while the first keeps writing and its chain verifies (with the real `ravenhelm-audit verify`, which
 * reads beside the running writer without taking the lock); a SIGKILLed holder is taken over at once by a
 * restart on this host. Then racing starters (test/fixtures/lock-racer.ts, real processes set off
 * together) for a stale lock: exactly one wins each round. Bounded: a few dozen calls, 12 rounds.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createFileAuditSink, readAuditLock, verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { killAndWait } from '../fixtures/kill-load.js';
import { fillDisk, mountTmpfs } from '../fixtures/small-disk.js';
import { type HttpBin, REPO_ROOT, startHttpBin, tsEntry } from '../fixtures/spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-auditlock-'));
const auditFile = join(dir, 'audit.jsonl');
const children: ChildProcess[] = [];
const servers: HttpBin[] = [];
const mnt = join(dir, 'mnt');
const noTmpfs = mountTmpfs(mnt, '256k');
if (noTmpfs) console.warn(`audit-lock full-disk case skipped: ${noTmpfs}`);
afterAll(async () => {
  for (const s of servers) await killAndWait(s.child);
  for (const c of children) await killAndWait(c);
  if (!noTmpfs) execFileSync('umount', [mnt]);
  rmSync(dir, { recursive: true, force: true });
});

const env = (name: string) => ({
  PATH: process.env.PATH ?? '',
  RAVENHELM_AUTH_MODE: 'none',
  RAVENHELM_LOCAL_SCOPES: 'mcp:sfx:write',
  RAVENHELM_AUDIT_FILE: auditFile,
  RAVENHELM_RATE_LIMIT_POINTS: '1000000',
  SFX_LOG: join(dir, `${name}-side-effects.log`),
});

async function start(name: string): Promise<HttpBin> {
  const s = await startHttpBin('test/fixtures/side-effect-bin.ts', env(name), { timeoutMs: 30_000 });
  servers.push(s);
  return s;
}

async function calls(url: string, tag: string, n: number): Promise<void> {
  const client = new Client({ name: 'auditlock', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  try {
    for (let i = 0; i < n; i++) {
      const r = await client.callTool({ name: 'sfx_write', arguments: { value: `${tag}-${i}`, ms: 0 } });
      expect(r.isError, JSON.stringify(r)).toBeFalsy();
    }
  } finally {
    await client.close();
  }
}

const run = promisify(execFile);
async function cliVerify(file: string): Promise<string> {
  const { command, args } = tsEntry('shared/src/audit-cli.ts', ['verify', file]);
  return (await run(command, args, { timeout: 30_000 })).stdout;
}

describe('one writer per audit log (real processes)', () => {
  it('a second server on the same audit file exits non-zero naming the holder; the first keeps writing; verify reads beside it', async () => {
    const first = await start('first');
    await calls(first.url, 'before', 5);
    const err = (await start('second').catch((e: Error) => e)) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/server exited with 1/);
    expect(err.message).toContain(
      `failed to start: audit log ${auditFile} is locked: ${auditFile}.lock is held by pid ${first.child.pid} on host ${hostname()} (server sfx) since 20`,
    );
    expect(err.message).toContain('give each server its own RAVENHELM_AUDIT_FILE (audit.file), or stop that process');
    await calls(first.url, 'after', 5);
    // The read-only verifier does not take the lock: it works while the server holds it.
    expect(await cliVerify(auditFile)).toMatch(/intact/);
    expect((await readAuditLock(auditFile))?.pid).toBe(first.child.pid);
    const v = await verifyAuditChain(auditFile);
    expect(v).toMatchObject({ ok: true });
    expect(v.records).toBeGreaterThanOrEqual(20); // attempt + outcome for each of the 10 calls
    await first.stop();
    expect(existsSync(`${auditFile}.lock`)).toBe(false); // a clean stop releases it
  });

  it('a SIGKILLed holder leaves its lock; a restart on this host takes it over at once and continues the chain', async () => {
    const holder = await start('killed');
    await calls(holder.url, 'pre-kill', 3);
    await killAndWait(holder.child);
    const left = await readAuditLock(auditFile);
    expect(left?.pid).toBe(holder.child.pid);
    const again = await start('restarted');
    expect(again.stderr()).toContain(
      `took over the lock of pid ${holder.child.pid} on host ${hostname()} (server sfx) since ${left?.startedAt}: its process ${holder.child.pid} is gone`,
    );
    await calls(again.url, 'post-kill', 3);
    await again.stop();
    expect(await verifyAuditChain(auditFile)).toMatchObject({ ok: true });
  });
});

describe('several copies of one server at the default location (several stdio clients)', () => {
  it('each copy writes a log of its own beside the default one, every chain intact; the third gets audit-3', async () => {
    const state = join(dir, 'state');
    const { RAVENHELM_AUDIT_FILE: _, ...rest } = env('copies');
    const copyEnv = { ...rest, XDG_STATE_HOME: state };
    const copies: HttpBin[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await startHttpBin('test/fixtures/side-effect-bin.ts', copyEnv, { timeoutMs: 30_000 });
      servers.push(s);
      copies.push(s);
    }
    const logDir = join(state, 'ravenhelm', 'sfx');
    const files = ['audit.jsonl', 'audit-2.jsonl', 'audit-3.jsonl'].map((f) => join(logDir, f));
    expect(copies[1]?.stderr()).toContain('this copy writes its own');
    expect(copies[2]?.stderr()).toContain(`${files[1]} (pid ${copies[1]?.child.pid} on ${hostname()})`);
    for (const [i, s] of copies.entries()) await calls(s.url, `copy${i}`, 3);
    for (const [i, s] of copies.entries()) {
      expect((await readAuditLock(files[i] as string))?.pid).toBe(s.child.pid);
      await s.stop();
      const v = await verifyAuditChain(files[i] as string);
      expect(v).toMatchObject({ ok: true });
      expect(readFileSync(files[i] as string, 'utf8')).toContain(`copy${i}-2`);
    }
    // With the copies gone, the next start writes the default log again.
    const next = await startHttpBin('test/fixtures/side-effect-bin.ts', copyEnv, { timeoutMs: 30_000 });
    servers.push(next);
    expect((await readAuditLock(files[0] as string))?.pid).toBe(next.child.pid);
    await next.stop();
  });
});

describe('several stdio copies of one mcp.json entry that names its audit log', () => {
  it('the second copy writes <name>-2<ext> beside it instead of exiting; both chains verify', async () => {
    const file = join(dir, 'stdio', 'docker-stdio.jsonl');
    const { RAVENHELM_AUDIT_FILE: _, ...rest } = env('stdio');
    const entry = tsEntry('test/fixtures/side-effect-bin.ts', ['--stdio']);
    const clients: Client[] = [];
    const stderr: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const transport = new StdioClientTransport({
          ...entry,
          cwd: REPO_ROOT,
          env: { ...rest, RAVENHELM_AUDIT_FILE: file },
          stderr: 'pipe',
        });
        transport.stderr?.on('data', (d: Buffer) => {
          stderr[i] = (stderr[i] ?? '') + d.toString();
        });
        const client = new Client({ name: `copy${i}`, version: '1.0.0' });
        await client.connect(transport);
        clients.push(client);
      }
      for (const [i, client] of clients.entries()) {
        const r = await client.callTool({ name: 'sfx_write', arguments: { value: `stdio${i}`, ms: 0 } });
        expect(r.isError, JSON.stringify(r)).toBeFalsy();
      }
    } finally {
      for (const c of clients) await c.close();
    }
    expect(stderr[1]).toContain('this copy writes its own');
    const second = join(dir, 'stdio', 'docker-stdio-2.jsonl');
    for (const [i, f] of [file, second].entries()) {
      expect(await verifyAuditChain(f)).toMatchObject({ ok: true });
      expect(readFileSync(f, 'utf8')).toContain(`stdio${i}`);
    }
  });
});

describe('capacity at start (real server)', () => {
  it('logs a warning with the numbers and the settings when rotation with retention outgrows the file system, and starts', async () => {
    const rotateBytes = 2 ** 50; // with keepFiles 1: 2^51 bytes, more than any file system here
    const s = await startHttpBin(
      'test/fixtures/side-effect-bin.ts',
      {
        ...env('capacity'),
        RAVENHELM_AUDIT_FILE: join(dir, 'capacity.jsonl'),
        RAVENHELM_AUDIT_ROTATE_BYTES: String(rotateBytes),
        RAVENHELM_AUDIT_KEEP_FILES: '1',
      },
      { timeoutMs: 30_000 },
    );
    servers.push(s);
    const line = s
      .stderr()
      .split('\n')
      .find((l) => l.includes('more than its whole file system'));
    expect(line, s.stderr()).toBeDefined();
    const logged = JSON.parse(line as string) as {
      level: number;
      needed: number;
      fileSystemBytes: number;
      msg: string;
    };
    expect(logged.level).toBe(40); // warn
    expect(logged.needed).toBe(rotateBytes * 2 + 1024 * 1024);
    expect(logged.fileSystemBytes).toBeGreaterThan(0);
    expect(logged.msg).toContain(
      `audit.rotateBytes ${rotateBytes} × (audit.keepFiles 1 + 1) + audit.minFreeBytes 1048576`,
    );
    expect(logged.msg).toContain('lower audit.rotateBytes or audit.keepFiles, or give the log a larger volume');
    await calls(s.url, 'capacity', 1); // it started and serves
    await s.stop();
  });
});

interface Racer {
  child: ChildProcess;
  next(): Promise<{ won?: boolean; pid: number; error?: string; released?: boolean }>;
}

async function racer(): Promise<Racer> {
  const { command, args } = tsEntry('test/fixtures/lock-racer.ts');
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      const line = queue.shift();
      if (line !== undefined) return resolve(line);
      const timer = setTimeout(() => reject(new Error('racer gave no answer in 30 s')), 30_000);
      waiting.push((l) => {
        clearTimeout(timer);
        resolve(l);
      });
    }).then((l) => JSON.parse(l));
  expect(await next()).toEqual({ ready: true });
  return { child, next };
}

describe('racing starters for a stale lock', () => {
  it('exactly one of three wins, every round; the lock names the winner', async () => {
    const racers = await Promise.all([racer(), racer(), racer()]);
    const wins = new Map<number, number>();
    for (let round = 1; round <= 12; round++) {
      const path = join(dir, `race-${round}.jsonl`);
      // Half the rounds a lock from another host whose heartbeat stopped, half one of a dead process here.
      const remote = round % 2 === 0;
      writeFileSync(
        `${path}.lock`,
        JSON.stringify({
          pid: remote ? 1 : 2 ** 22 + round, // over pid_max's usual default: no such process here
          hostname: remote ? 'gone-host' : hostname(),
          startedAt: '2026-12-01T10:00:00.000Z',
          token: `stale-${round}`,
          staleAfterMs: 15_000,
        }),
      );
      const old = new Date(Date.now() - (remote ? 60_000 : 0));
      utimesSync(`${path}.lock`, old, old);
      for (const r of racers) r.child.stdin?.write(`go ${path}\n`);
      const answers = await Promise.all(racers.map((r) => r.next()));
      const winners = answers.filter((a) => a.won);
      expect(winners, JSON.stringify(answers)).toHaveLength(1);
      for (const loser of answers.filter((a) => !a.won)) {
        expect(loser.error).toMatch(/is locked: .* is held by pid \d+ on host .* \(server racer-\d+\)/);
      }
      const winner = winners[0] as { pid: number };
      expect((await readAuditLock(path))?.pid).toBe(winner.pid);
      wins.set(winner.pid, (wins.get(winner.pid) ?? 0) + 1);
      const holder = racers.find((r) => r.child.pid === winner.pid) as Racer;
      holder.child.stdin?.write('release\n');
      expect(await holder.next()).toEqual({ released: true });
      expect(existsSync(`${path}.lock`)).toBe(false);
    }
    console.log(`audit-lock race: 12 rounds, wins by racer ${JSON.stringify([...wins.values()])}`);
  });
});

describe.skipIf(noTmpfs !== undefined)('the lock on a full file system', () => {
  it('is taken empty (an inode, no block), still refuses a second writer, and names its holder once space is back', async () => {
    const path = join(mnt, 'audit.jsonl');
    const filler = join(mnt, 'filler');
    fillDisk(filler);
    const sink = await createFileAuditSink({ path, server: 'docker', lock: { heartbeatMs: 50 } });
    try {
      expect(statSync(`${path}.lock`).size).toBe(0);
      await expect(createFileAuditSink({ path })).rejects.toThrow(
        /is locked: .* is held by nobody it names \(the lock file is empty or cut short\), heartbeat 0(\.\d)? s ago/,
      );
      rmSync(filler);
      const until = Date.now() + 5_000;
      while (statSync(`${path}.lock`).size === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      expect(JSON.parse(readFileSync(`${path}.lock`, 'utf8'))).toMatchObject({ pid: process.pid, server: 'docker' });
    } finally {
      await sink.close();
    }
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});
