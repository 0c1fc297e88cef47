/**
 * Audit log rotation in a real server process: a kit server (test/fixtures/side-effect-bin.ts) with a small
 * audit.rotateBytes serves LOW, MEDIUM and HIGH calls over Streamable HTTP to SDK clients while its log
 * rotates many times. What must hold: no call refused because of a rotation; every side effect has its
 * attempt record and every call its outcome record, each exactly once across the files; the real
 * `ravenhelm-audit` bin (shared/bin, built by `npm test`) verifies the whole set with `verify --all`; a
 * restart with a smaller audit.keepFiles removes the oldest files and the set still verifies. Then the case
 * rotation exists for: on a really small disk (a tmpfs; root only), retention keeps the server writing and
 * ready far past the volume's size. Bounded: a few hundred calls per phase.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { AuditRecord } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { sfxHighEnv } from '../fixtures/side-effect-env.js';
import { mountTmpfs, readyz } from '../fixtures/small-disk.js';
import { type HttpBin, REPO_ROOT, startHttpBin } from '../fixtures/spawn.js';

const SECRET = 'S3CR3T-auditrotate-51c7';
const AUDIT_BIN = join(REPO_ROOT, 'shared/bin/ravenhelm-audit.js');

const dir = mkdtempSync(join(tmpdir(), 'rh-auditrotate-'));
const logDir = join(dir, 'audit');
mkdirSync(logDir);
const auditFile = join(logDir, 'audit.jsonl');
const sideEffects = join(dir, 'side-effects.log');
const mnt = join(dir, 'mnt');

const servers: HttpBin[] = [];
const clients: Client[] = [];
let mounted = false;
afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined);
  for (const s of servers) await s.stop().catch(() => undefined);
  if (mounted) execFileSync('umount', [mnt]);
  rmSync(dir, { recursive: true, force: true });
});

async function startServer(env: Record<string, string>): Promise<HttpBin> {
  const s = await startHttpBin(
    'test/fixtures/side-effect-bin.ts',
    { ...sfxHighEnv(dir), RAVENHELM_AUDIT_FILE: auditFile, SFX_LOG: sideEffects, ...env },
    { timeoutMs: 30_000 },
  );
  servers.push(s);
  return s;
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'auditrotate', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  clients.push(client);
  return client;
}

type Tier = 'LOW' | 'MEDIUM' | 'HIGH';
const TOOLS: Record<Tier, (value: string) => { name: string; arguments: Record<string, unknown> }> = {
  LOW: () => ({ name: 'sfx_read', arguments: { ms: 0 } }),
  MEDIUM: (value) => ({ name: 'sfx_write', arguments: { value, ms: 0 } }),
  HIGH: (value) => ({ name: 'sfx_grant', arguments: { value, secret: SECRET, ms: 0 } }),
};

/** `workers` SDK clients, `perWorker` calls each, tiers taking turns; returns the calls that were not answered ok. */
async function drive(url: string, tag: string, workers: number, perWorker: number): Promise<string[]> {
  const failed: string[] = [];
  const tiers: Tier[] = ['HIGH', 'MEDIUM', 'LOW'];
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const client = await connect(url);
      for (let i = 0; i < perWorker; i++) {
        const tier = tiers[(i + w) % 3] as Tier;
        const value = `${tag}-w${w}-${i}`;
        try {
          const res = (await client.callTool(TOOLS[tier](value), undefined, { timeout: 10_000 })) as {
            isError?: boolean;
            content?: { text?: string }[];
          };
          if (res.isError) failed.push(`${value}: ${(res.content ?? []).map((c) => c.text).join(' ')}`);
        } catch (err) {
          failed.push(`${value}: ${(err as Error).message}`);
        }
      }
    }),
  );
  return failed;
}

/** The log's files in chain order (rotated ones by name, oldest first, then the live file). */
function logFiles(path: string): string[] {
  const base = path.split('/').pop() as string;
  const folder = path.slice(0, -base.length - 1);
  const rotated = readdirSync(folder)
    .filter((n) => /^audit\.jsonl\.\d{8}T\d{6}\.\d{3}Z(-\d+)?$/.test(n))
    .sort()
    .map((n) => join(folder, n));
  return [...rotated, ...(existsSync(path) ? [path] : [])];
}

const recordsIn = (files: string[]) =>
  files.flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditRecord & { event?: string }),
  );

function verifyAll(path: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [AUDIT_BIN, 'verify', path, '--all'], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('audit log rotation in a real server', () => {
  it('rotates many times under concurrent calls without refusing one; every record once; verify --all passes', async () => {
    const server = await startServer({ RAVENHELM_AUDIT_ROTATE_BYTES: '16384', RAVENHELM_AUDIT_KEEP_FILES: '1000' });
    const failed = await drive(server.url, 'a', 6, 50);
    expect(failed).toEqual([]);
    await server.stop();

    const files = logFiles(auditFile);
    expect(files.length).toBeGreaterThanOrEqual(8);
    const rotations = server.stderr().match(/"msg":"audit log rotated: the chain continues in a new file"/g) ?? [];
    expect(rotations).toHaveLength(files.length - 1);
    const records = recordsIn(files);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    const values = (phase: string) =>
      records
        .filter((r) => r.phase === phase && r.tool !== 'sfx_read')
        .map((r) => (r.args as { value: string }).value)
        .sort();
    const started = readFileSync(sideEffects, 'utf8').split('\n').filter(Boolean).sort();
    expect(started).toHaveLength(200); // 300 calls, a third of them reads
    expect(values('attempt')).toEqual(started);
    expect(values('outcome')).toEqual(started);
    expect(readFileSync(auditFile, 'utf8')).not.toContain(SECRET);
    expect(records.filter((r) => r.event === 'audit.rotated')).toHaveLength(files.length - 1);

    const verified = verifyAll(auditFile);
    expect(verified.stderr).toBe('');
    expect(verified.status).toBe(0);
    const lines = verified.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^audit\.jsonl\.\d{8}T\d{6}\.\d{3}Z(-\d+)?: \d+ records, seq 1\.\.\d+, starts at genesis$/,
    );
    expect(lines.at(-1)).toBe(`ok: ${files.length} files, ${records.length} records, chain intact across files`);
  });

  it('a restart with a smaller keepFiles removes the oldest rotated files; the rest still verifies', async () => {
    const before = logFiles(auditFile);
    const server = await startServer({ RAVENHELM_AUDIT_ROTATE_BYTES: '16384', RAVENHELM_AUDIT_KEEP_FILES: '2' });
    expect(await drive(server.url, 'b', 3, 30)).toEqual([]);
    await server.stop();
    const after = logFiles(auditFile);
    expect(after).toHaveLength(3);
    for (const f of before.slice(0, -1)) expect(after).not.toContain(f);
    const verified = verifyAll(auditFile);
    expect(verified.status).toBe(0);
    expect(verified.stdout.split('\n')[0]).toMatch(
      /starts at rotation from audit\.jsonl\.\S+ \(not present: removed by retention\)$/,
    );
    expect(server.stderr()).toMatch(/"removed":\["audit\.jsonl\./);
  });
});

const skipTmpfs = mountTmpfs(mnt, '256k');
mounted = !skipTmpfs;
if (skipTmpfs) console.warn(`audit-rotate small-disk case skipped: ${skipTmpfs}`);

describe.skipIf(Boolean(skipTmpfs))('audit log rotation on a really small disk', () => {
  it('keeps a server on a 256 KiB volume writing and ready for several times the volume in records', async () => {
    const smallLog = join(mnt, 'audit.jsonl');
    const server = await startServer({
      RAVENHELM_AUDIT_FILE: smallLog,
      RAVENHELM_AUDIT_ROTATE_BYTES: '32768',
      RAVENHELM_AUDIT_KEEP_FILES: '3',
      RAVENHELM_AUDIT_MIN_FREE_BYTES: '65536',
    });
    for (let round = 0; round < 8; round++) {
      expect(await drive(server.url, `c${round}`, 4, 50)).toEqual([]);
      expect((await readyz(server.url)).status).toBe(200);
    }
    await server.stop();
    const files = logFiles(smallLog);
    const kept = recordsIn(files);
    const bytes = files.reduce((n, f) => n + readFileSync(f).length, 0);
    expect(bytes).toBeLessThan(5 * 32768);
    // Several times what the volume holds went through the log: every record ever written is at least as
    // long as the shortest call record kept (rotation markers are shorter, and fewer).
    const shortest = Math.min(
      ...files.flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .filter((l) => l && !l.includes('"event":"audit.rotated"'))
          .map((l) => l.length),
      ),
    );
    expect((kept.at(-1)?.seq ?? 0) * shortest).toBeGreaterThan(3 * 256 * 1024);
    expect(verifyAll(smallLog).status).toBe(0);
  });
});
