/**
 * SIGKILL under load while the audit log rotates (issue 7 again, with audit.rotateBytes at its minimum,
 * 16 KiB: a rotation every few dozen records). A real server (test/fixtures/side-effect-bin.ts) is killed
 * many times, each kill aimed at a rotation in one of four ways: a few ms after it logs 'audit log rotated';
 * a few ms after the live file reached the size (the rotation is due at the next batch); stepping the
 * process with SIGSTOP/SIGCONT from the moment the file is nearly full and killing it once the live file is
 * missing, empty or holds only its marker (inside the rotation); or at a random point. After every kill
 * the server must start on the same files without manual repair. At the end: `verifyAuditSet` and the real
 * `ravenhelm-audit verify <file> --all` pass over all files; every acknowledged call has its outcome record
 * and every started side effect its attempt record, each in exactly one file; seq counts up across the
 * set. A fallback file (audit.fallbackFile) found at a start after a kill mid-rotation is replayed into the
 * new file once. Then with audit.keepFiles 2: after each restart no more than 2 rotated files, only the
 * oldest rotated files ever removed, and the oldest present file's marker names a removed file. Last,
 * `verify --all` beside a running server that rotates and removes files must not report a false failure.
 * The aiming is in test/fixtures/rotation-kill.ts. Bounded: about 0.2–2 s of load per trial, 16 + 8
 * trials, 3 s of verifying.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { verifyAuditSet } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Call,
  driveUntilKilled,
  killAndWait,
  readAuditRecords,
  startedSideEffects,
  untilFlowing,
} from '../fixtures/kill-load.js';
import {
  IN_ROTATION,
  killAimed,
  type LiveState,
  liveState,
  ROTATE_BYTES,
  ROTATED,
  STRATEGIES,
  type Strategy,
  sizeOf,
  sleep,
  spin,
} from '../fixtures/rotation-kill.js';
import { type HttpBin, REPO_ROOT, startHttpBin, tsEntry } from '../fixtures/spawn.js';

const AUDIT_BIN = join(REPO_ROOT, 'shared/bin/ravenhelm-audit.js');

const root = mkdtempSync(join(tmpdir(), 'rh-sigkill-rotate-'));
const servers: HttpBin[] = [];
afterAll(async () => {
  for (const s of servers) await killAndWait(s.child);
  rmSync(root, { recursive: true, force: true });
});

interface Log {
  dir: string;
  auditFile: string;
  sideEffects: string;
  fallbackFile: string;
}

function newLog(name: string): Log {
  const dir = join(root, name);
  mkdirSync(join(dir, 'log'), { recursive: true });
  mkdirSync(join(dir, 'spill'));
  return {
    dir,
    auditFile: join(dir, 'log', 'audit.jsonl'),
    sideEffects: join(dir, 'side-effects.log'),
    fallbackFile: join(dir, 'spill', 'fallback.jsonl'),
  };
}

function serverEnv(log: Log, env: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    RAVENHELM_LOG_LEVEL: 'info',
    RAVENHELM_AUTH_MODE: 'none',
    RAVENHELM_LOCAL_SCOPES: 'mcp:sfx:write',
    RAVENHELM_AUDIT_FILE: log.auditFile,
    RAVENHELM_AUDIT_ROTATE_BYTES: String(ROTATE_BYTES),
    RAVENHELM_AUDIT_FALLBACK_FILE: log.fallbackFile,
    RAVENHELM_RATE_LIMIT_POINTS: '1000000',
    SFX_LOG: log.sideEffects,
    ...env,
  };
}

async function start(log: Log, env: Record<string, string> = {}): Promise<HttpBin> {
  const server = await startHttpBin('test/fixtures/side-effect-bin.ts', serverEnv(log, env), { timeoutMs: 20_000 });
  servers.push(server);
  return server;
}

/** The rotated files of a log, oldest first (their names sort in chain order), then the live file if present. */
function logFiles(auditFile: string): string[] {
  const folder = join(auditFile, '..');
  const rotated = readdirSync(folder)
    .filter((n) => ROTATED.test(n))
    .sort()
    .map((n) => join(folder, n));
  return [...rotated, ...(existsSync(auditFile) ? [auditFile] : [])];
}
/**
 * Starts the server on a log left mid-rotation and kills it as its start changes the live file (the
 * marker that finishes the rotation, a torn tail cut away, the fallback file replayed), before it listens.
 * Returns whether the kill came after such a change.
 */
async function killDuringStart(log: Log, env: Record<string, string>): Promise<boolean> {
  const entry = tsEntry('test/fixtures/side-effect-bin.ts', ['--http', '--port', '0']);
  const child = spawn(entry.command, entry.args, { cwd: REPO_ROOT, env: serverEnv(log, env), stdio: 'ignore' });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const initial = sizeOf(log.auditFile);
  const deadline = Date.now() + 20_000;
  let changed = false;
  while (Date.now() < deadline && child.exitCode === null) {
    if (sizeOf(log.auditFile) !== initial) {
      changed = true;
      spin(Math.random() * 1000);
      break;
    }
    await sleep(1);
  }
  child.kill('SIGKILL');
  await exited;
  return changed;
}

interface Tally {
  kills: number;
  byState: Partial<Record<LiveState, number>>;
  byStrategy: Partial<Record<Strategy, number>>;
  inRotation: number;
  /** Aimed kills whose moment came (the rotated line seen, the size reached, the stepped state found). */
  aimed: number;
  steps: number;
  /** Starts killed as they finished a rotation cut short, and how many of those after the file changed. */
  startKills: number;
  startKillsAfterWrite: number;
  restarts: number;
  resumed: number;
  tornMoved: number;
}

interface Cycles {
  trials: number;
  env?: Record<string, string>;
  /** Checks each start (the restarts and the last clean one) before load reaches it. */
  afterStart?: (server: HttpBin, trial: number) => Promise<void> | void;
  /** Runs before each start, told what the last kill left at the live file. */
  beforeStart?: (state: LiveState, trial: number) => void;
  strategies?: readonly Strategy[];
  /** After a kill that cut a rotation short, kill the next start too as it finishes the rotation. */
  killStarts?: boolean;
}

/** Runs kill cycles on `log`: start (no repair), load, an aimed kill, again; then a last clean start and stop. */
async function killCycles(log: Log, calls: Call[], o: Cycles): Promise<Tally> {
  const env = o.env ?? {};
  const strategies = o.strategies ?? STRATEGIES;
  const t: Tally = {
    kills: 0,
    byState: {},
    byStrategy: {},
    inRotation: 0,
    aimed: 0,
    steps: 0,
    startKills: 0,
    startKillsAfterWrite: 0,
    restarts: 0,
    resumed: 0,
    tornMoved: 0,
  };
  const ours: HttpBin[] = [];
  let state: LiveState = 'mid';
  for (let trial = 1; trial <= o.trials; trial++) {
    o.beforeStart?.(state, trial);
    if (o.killStarts && (state === 'missing' || state === 'empty' || state === 'torn-marker')) {
      t.startKills++;
      if (await killDuringStart(log, env)) t.startKillsAfterWrite++;
    }
    const server = await start(log, env); // no repair between kills: the start must cope alone
    ours.push(server);
    if (trial > 1) t.restarts++;
    await o.afterStart?.(server, trial);
    const tag = `t${trial}`;
    let stop = false;
    const load = driveUntilKilled(server.url, tag, calls, () => stop);
    await untilFlowing(calls, tag, 5);
    const strategy = strategies[trial % strategies.length] as Strategy;
    const { stepped, aimed } = await killAimed(server, log.auditFile, strategy, t.byStrategy[strategy] ?? 0);
    stop = true;
    await load;
    state = liveState(log.auditFile);
    t.kills++;
    t.steps += stepped;
    if (aimed && strategy !== 'random') t.aimed++;
    t.byState[state] = (t.byState[state] ?? 0) + 1;
    t.byStrategy[strategy] = (t.byStrategy[strategy] ?? 0) + 1;
    if (IN_ROTATION.includes(state)) t.inRotation++;
  }
  // A last start comes up without help too, then stops cleanly.
  const last = await start(log, env);
  ours.push(last);
  t.restarts++;
  await o.afterStart?.(last, o.trials + 1);
  await last.stop();
  expect(last.child.exitCode).toBe(0);
  const logs = ours.map((s) => s.stderr()).join('\n');
  t.resumed = (logs.match(/empty after a rotation cut short/g) ?? []).length;
  t.tornMoved = (logs.match(/torn record .*moved it aside/g) ?? []).length;
  return t;
}

function verifyAllCli(auditFile: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [AUDIT_BIN, 'verify', auditFile, '--all'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Where each key occurs, as `file:line` (a key in two places is a record written twice). */
function placesBy<T>(files: string[], keyOf: (r: ReturnType<typeof readAuditRecords>[number]) => T | undefined) {
  const at = new Map<T, string[]>();
  for (const f of files) {
    readAuditRecords(f).forEach((r, i) => {
      const k = keyOf(r);
      if (k !== undefined) at.set(k, [...(at.get(k) ?? []), `${f.split('/').pop()}:${i + 1}`]);
    });
  }
  return at;
}

describe('SIGKILL under load during audit log rotation', () => {
  it('restarts alone after kills aimed at rotations; the set verifies; every acknowledged or started call is recorded exactly once', async () => {
    const log = newLog('all');
    const calls: Call[] = [];
    let fallbackPlanted: string[] = [];
    let tornMarkerPlanted = false;
    const tally = await killCycles(log, calls, {
      trials: 16,
      killStarts: true,
      afterStart: (server) => {
        expect(server.child.exitCode).toBeNull();
      },
      beforeStart: (state) => {
        if (!['missing', 'empty', 'torn-marker'].includes(state)) return;
        if (fallbackPlanted.length > 0 && !tornMarkerPlanted) {
          // Later, such a kill also leaves a cut marker (what a kill inside its write(2) would leave): the
          // start must move it aside and write the marker whole.
          appendFileSync(log.auditFile, '{"event":"audit.rotated","prevHash":"sha256:');
          tornMarkerPlanted = true;
          return;
        }
        // Once, after a kill that left the rotation unfinished, a fallback file is waiting at the start as
        // well (outcome records a full disk kept at a stop): the start must finish the rotation, then replay.
        if (fallbackPlanted.length > 0) return;
        const source = logFiles(log.auditFile)
          .flatMap((f) => readAuditRecords(f))
          .find((r) => r.phase === 'outcome');
        if (!source) return;
        const { prevHash: _p, seq: _s, hash: _h, ...rest } = source;
        fallbackPlanted = ['fallback-1', 'fallback-2'];
        writeFileSync(
          log.fallbackFile,
          fallbackPlanted.map((requestId) => `${JSON.stringify({ ...rest, requestId })}\n`).join(''),
        );
      },
    });

    const set = await verifyAuditSet(log.auditFile);
    expect(set.files.filter((f) => !f.ok)).toEqual([]);
    expect(set.ok).toBe(true);
    const cli = verifyAllCli(log.auditFile);
    expect(cli.stderr).toBe('');
    expect(cli.stdout).toMatch(/^ok: \d+ files, \d+ records, chain intact across files$/m);
    expect(cli.status).toBe(0);

    const files = logFiles(log.auditFile);
    const all = files.flatMap((f) => readAuditRecords(f));
    expect(all.length).toBe(set.records);
    // seq counts up by one across the whole set (markers included): nothing lost, nothing twice.
    expect(all.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
    // Each file after the first starts with a marker naming the file before it.
    files.slice(1).forEach((f, i) => {
      const first = readAuditRecords(f)[0];
      if (first === undefined) return; // the live file, empty: only allowed last (verifyAuditSet said so)
      expect({ file: f, previousFile: first.previousFile }).toEqual({
        file: f,
        previousFile: (files[i] as string).split('/').pop(),
      });
    });

    const outcomes = placesBy(files, (r) =>
      r.phase === 'outcome' && r.outcome === 'success' ? r.requestId : undefined,
    );
    const attempts = placesBy(files, (r) => (r.phase === 'attempt' ? (r.args as { value?: string }).value : undefined));
    const acknowledged = calls.filter((c) => c.success);
    expect(acknowledged.length).toBeGreaterThan(100);
    const notOnce = acknowledged
      .map((c) => ({ value: c.value, requestId: c.requestId, at: outcomes.get(c.requestId as string) ?? [] }))
      .filter((c) => c.at.length !== 1);
    expect(notOnce).toEqual([]);
    const started = startedSideEffects(log.sideEffects);
    const attemptsNotOnce = started.map((v) => ({ v, at: attempts.get(v) ?? [] })).filter((a) => a.at.length !== 1);
    expect(attemptsNotOnce).toEqual([]);
    // No record of any kind twice (attempts of reads carry no value; request ids tell them apart).
    const twice = [...placesBy(files, (r) => (r.requestId ? `${r.requestId}/${r.phase}` : undefined))].filter(
      ([, at]) => at.length > 1,
    );
    expect(twice).toEqual([]);

    if (fallbackPlanted.length > 0) {
      const replayed = all.filter((r) => fallbackPlanted.includes(r.requestId));
      expect(replayed.map((r) => r.requestId)).toEqual(fallbackPlanted);
      expect(replayed.every((r) => typeof r.fallbackDigest === 'string')).toBe(true);
      expect(existsSync(log.fallbackFile)).toBe(false);
    }

    if (tornMarkerPlanted) {
      const moved = readdirSync(join(log.auditFile, '..')).filter((n) => n.startsWith('audit.jsonl.torn-'));
      expect(moved.map((n) => readFileSync(join(log.auditFile, '..', n), 'utf8'))).toContain(
        '{"event":"audit.rotated","prevHash":"sha256:',
      );
    }

    // The kills must have landed mid-call and in rotations, or this test proves little.
    const requestIdOf = new Map(calls.map((c) => [c.value, c.requestId]));
    const killedMidCall = started.filter((v) => !outcomes.has(requestIdOf.get(v) as string));
    console.info(
      `sigkill-rotate: ${tally.kills} kills (${JSON.stringify(tally.byStrategy)}), states after kill ${JSON.stringify(tally.byState)}, ${tally.inRotation} in a rotation, ${tally.aimed} of the ${tally.kills - (tally.byStrategy.random ?? 0)} aimed kills found their moment, ${tally.steps} SIGSTOP/SIGCONT steps; ${tally.startKills} starts killed finishing a rotation (${tally.startKillsAfterWrite} after their first write); ${tally.restarts} restarts (${tally.resumed} finished a rotation, ${tally.tornMoved} moved a torn tail aside); fallback replayed: ${fallbackPlanted.length}; cut marker planted: ${tornMarkerPlanted}; ${files.length} files, ${set.records} records verified; ${acknowledged.length} acknowledged calls, ${started.length} side effects, ${killedMidCall.length} cut by a kill`,
    );
    expect(killedMidCall.length).toBeGreaterThan(0);
    expect(tally.inRotation).toBeGreaterThanOrEqual(3);
    expect(tally.aimed).toBeGreaterThanOrEqual(6);
    expect(files.length).toBeGreaterThanOrEqual(10);
  }, 240_000);

  it('with keepFiles 2: after every restart at most 2 rotated files, only the oldest rotated files removed, the oldest marker names a removed file', async () => {
    const log = newLog('keep');
    const calls: Call[] = [];
    const KEEP = 2;
    const seen = new Set<string>();
    const removed = new Set<string>();
    const check = async (when: string) => {
      const now = new Set(readdirSync(join(log.auditFile, '..')));
      const gone = [...seen].filter((n) => !now.has(n));
      // Nothing but rotated files is ever removed (the live file may be missing right after a kill; the
      // writer's lock file goes at a clean stop).
      const kept = (n: string) => !ROTATED.test(n) && n !== 'audit.jsonl' && n !== 'audit.jsonl.lock';
      expect({ when, gone: gone.filter(kept) }).toEqual({ when, gone: [] });
      for (const n of gone) removed.add(n);
      for (const n of now) seen.add(n);
      const present = [...now].filter((n) => ROTATED.test(n)).sort();
      // Only the oldest go: every removed name sorts before every rotated file still present.
      const newerRemoved = [...removed].filter((r) => ROTATED.test(r) && present.some((p) => p < r));
      expect({ when, newerRemoved }).toEqual({ when, newerRemoved: [] });
      return present;
    };
    // Mostly stepped into the rotation: a kill between its rename and its retention is the case to catch.
    const aim: Strategy[] = ['step-into-rotation', 'step-into-rotation', 'rotation-due', 'after-rotated-line'];
    const afterStart = async (_server: HttpBin, trial: number) => {
      const present = await check(`after start ${trial}`);
      expect({ trial, rotated: present }).toEqual({ trial, rotated: present.slice(-KEEP) });
      const set = await verifyAuditSet(log.auditFile);
      expect({ trial, failed: set.files.filter((f) => !f.ok) }).toEqual({ trial, failed: [] });
      const oldest = present[0];
      if (oldest !== undefined && removed.size > 0) {
        // The oldest file continues one retention removed: a rotated name, older, gone (a file rotated and
        // removed between two looks was never seen; one that was seen must be among those removed).
        const marker = readAuditRecords(join(log.auditFile, '..', oldest))[0];
        expect(marker?.event).toBe('audit.rotated');
        const previous = marker?.previousFile as string;
        expect({ trial, previous, rotatedName: ROTATED.test(previous), older: previous < oldest }).toEqual({
          trial,
          previous,
          rotatedName: true,
          older: true,
        });
        expect(present).not.toContain(previous);
        if (seen.has(previous)) expect(removed.has(previous)).toBe(true);
      }
    };
    const keep = { RAVENHELM_AUDIT_KEEP_FILES: String(KEEP) };
    const tally = await killCycles(log, calls, { trials: 8, env: keep, afterStart, strategies: aim });
    await check('at the end');
    expect(removed.size).toBeGreaterThan(0);
    expect(verifyAllCli(log.auditFile).status).toBe(0);
    console.info(
      `sigkill-rotate keepFiles ${KEEP}: ${tally.kills} kills (${tally.aimed} found their moment), states ${JSON.stringify(tally.byState)}, ${tally.restarts} restarts, ${removed.size} rotated files removed by retention`,
    );
  }, 180_000);

  it('verify --all of a running server that rotates (and removes files) under load reports no false failure', async () => {
    // Operators verify a live log (a cron job): a rotation or a retention between listing the files and
    // reading them must not read as a gap or an unreadable file, which would be a false alarm of tampering.
    const log = newLog('live');
    const server = await start(log, { RAVENHELM_AUDIT_KEEP_FILES: '2' });
    const calls: Call[] = [];
    let stop = false;
    // Three workers: a rotation every few verifications (at full load one lands in most of them, faster
    // than any reading can follow; the verdict then says the log kept changing).
    const load = driveUntilKilled(server.url, 'v', calls, () => stop, 3);
    await untilFlowing(calls, 'v', 5);
    const failures: string[] = [];
    let runs = 0;
    const until = Date.now() + 3000;
    while (Date.now() < until || runs < 20) {
      runs++;
      try {
        const v = await verifyAuditSet(log.auditFile);
        if (!v.ok)
          failures.push(
            v.files
              .filter((f) => !f.ok)
              .map((f) => `${f.name}: ${f.says}`)
              .join('; '),
          );
      } catch (err) {
        failures.push(`threw: ${(err as Error).message}`);
      }
      if (runs % 10 === 0) {
        const cli = await promisify(execFile)(process.execPath, [AUDIT_BIN, 'verify', log.auditFile, '--all']).catch(
          (err: { stdout?: string; code?: number }) => ({ stdout: `exit ${err.code}: ${err.stdout}` }),
        );
        if (!/chain intact across files\n$/.test(cli.stdout)) failures.push(`cli: ${cli.stdout}`);
      }
    }
    stop = true;
    await server.stop();
    await load;
    const rotations = (server.stderr().match(/audit log rotated/g) ?? []).length;
    console.info(
      `sigkill-rotate live verify: ${runs} verifications during ${rotations} rotations, ${failures.length} failed`,
    );
    expect(rotations).toBeGreaterThan(5);
    expect(failures).toEqual([]);
    expect((await verifyAuditSet(log.auditFile)).ok).toBe(true);
  }, 60_000);
});
