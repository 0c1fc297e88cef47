/**
 * A server STARTED on an audit volume that cannot take records: a full tmpfs (mounted for this test, root
 * only; skipped with a printed reason otherwise), a read-only one, a directory its user may not write.
 * Real server processes over Streamable HTTP, SDK clients. What must hold: /readyz says 503 with the reason
 * from the start (not only after a call failed), a server whose tools are all reads stays ready, readiness
 * returns by itself about a second after space is freed; a volume the server cannot write at all stops the
 * start with the errno and what to do; and the error lines about refused calls are bounded, their counts
 * adding up to the refusals the metrics count.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { sfxHighEnv } from '../fixtures/side-effect-env.js';
import { fillDisk, mountTmpfs, readyz, readyzWithin, remount } from '../fixtures/small-disk.js';
import { type HttpBin, repoTraversableByOthers, startHttpBin, startHttpProcess, tsEntry } from '../fixtures/spawn.js';

const SECRET = 'S3CR3T-auditstart-51c0';
const dir = mkdtempSync(join(tmpdir(), 'rh-auditstart-'));
const mnt = join(dir, 'mnt');
const auditFile = join(mnt, 'audit.jsonl');
const filler = join(mnt, 'filler');
const skipReason = mountTmpfs(mnt, '4m');
if (skipReason) console.warn(`audit-start skipped: ${skipReason}`);

const servers: HttpBin[] = [];
const restoreModes: (() => void)[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  for (const restore of restoreModes) restore();
  if (!skipReason) {
    spawnSync('mount', ['-o', 'remount,rw', mnt]);
    execFileSync('umount', [mnt]);
  }
  rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  ...sfxHighEnv(dir),
  RAVENHELM_AUDIT_FILE: auditFile,
  SFX_LOG: join(dir, 'side-effects.log'),
  ...extra,
});

async function start(extra: Record<string, string> = {}): Promise<HttpBin> {
  const s = await startHttpBin('test/fixtures/side-effect-bin.ts', env(extra), { timeoutMs: 30_000 });
  servers.push(s);
  return s;
}

async function connect(url: string): Promise<Client> {
  const client = new Client({ name: 'auditstart', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

type Tier = 'LOW' | 'MEDIUM' | 'HIGH';

/** One call; a refusal the transport throws (ERR_AUDIT_UNAVAILABLE is HTTP 503) comes back as its text. */
async function call(client: Client, tier: Tier, value: string): Promise<{ ok: boolean; text: string }> {
  const params =
    tier === 'LOW'
      ? { name: 'sfx_read', arguments: { ms: 1 } }
      : tier === 'MEDIUM'
        ? { name: 'sfx_write', arguments: { value, ms: 1 } }
        : { name: 'sfx_grant', arguments: { value, secret: SECRET, ms: 1 } };
  try {
    const res = (await client.callTool(params, undefined, { timeout: 10_000 })) as {
      isError?: boolean;
      content?: { text?: string }[];
    };
    return { ok: res.isError !== true, text: (res.content ?? []).map((c) => c.text ?? '').join(' ') };
  } catch (err) {
    return { ok: false, text: `thrown: ${(err as Error).message}` };
  }
}

/** The server's JSON log lines with this message. */
function linesWith(server: HttpBin, msg: string): { count?: number }[] {
  return server
    .stderr()
    .split('\n')
    .filter((l) => l.includes(`"msg":${JSON.stringify(msg)}`))
    .map((l) => JSON.parse(l) as { count?: number });
}

async function metric(url: string, name: string, phase: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`phase="${phase}"`));
  return line ? Number(line.split(' ').pop()) : 0;
}

function verifyCli(): { status: number | null; out: string } {
  const cli = tsEntry('shared/src/audit-cli.ts', ['verify', auditFile]);
  const r = spawnSync(cli.command, cli.args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: r.stdout };
}

describe.skipIf(skipReason !== undefined)('a server started on an audit volume that cannot take records', () => {
  it('full volume: unready from the start with the reason, writes refused, reads served; ready about a second after space returns', async () => {
    fillDisk(filler);
    const server = await start();
    const first = await readyz(server.url);
    expect(first.status).toBe(503);
    expect(JSON.parse(first.body)).toMatchObject({
      status: 'not ready',
      reason: expect.stringMatching(
        /audit log .*audit\.jsonl.*bytes free.*audit\.minFreeBytes \(1048576\).*free space/,
      ),
    });
    expect(server.stderr()).toMatch(/"msg":"audit log is not ready to take records/);

    // Many refused calls: their error lines are bounded, and every refusal is counted in them.
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect(server.url)));
    const refused = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        call(clients[i % 4] as Client, i % 3 === 0 ? 'MEDIUM' : 'HIGH', `full-${i}`),
      ),
    );
    expect(refused.filter((r) => r.ok)).toEqual([]);
    for (const r of refused) expect(r.text).toMatch(/was not run: the audit log cannot be written.*no space left/);
    expect(await call(clients[0] as Client, 'LOW', 'read')).toMatchObject({ ok: true });
    expect((await readyz(server.url)).status).toBe(503);

    // Space for records, but less than the threshold: records are written, readiness stays off.
    rmSync(filler);
    fillDisk(filler, 256 * 1024);
    expect(await call(clients[1] as Client, 'HIGH', 'low-space')).toMatchObject({ ok: true });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the 1 s readiness cache
    const low = await readyz(server.url);
    expect(low.status).toBe(503);
    expect(JSON.parse(low.body).reason).toMatch(/almost out of space: \d+ bytes free.*under audit\.minFreeBytes/);

    rmSync(filler);
    const back = await readyzWithin(server.url, 200, 5000);
    expect(back.status).toBe(200);
    console.info(`full volume at start: /readyz 503 from the first probe, 200 ${back.ms} ms after space was freed`);
    expect(back.ms).toBeLessThan(2500);
    expect(await call(clients[2] as Client, 'HIGH', 'after')).toMatchObject({ ok: true });

    const attemptFailures = await metric(server.url, 'ravenhelm_audit_write_failures_total', 'attempt');
    expect(attemptFailures).toBe(60);
    for (const c of clients) await c.close();
    await server.stop();
    expect(server.child.exitCode).toBe(0);
    const lines = linesWith(server, 'audit attempt write failed; refusing the call');
    console.info(`60 refused calls: ${lines.length} error lines, counts ${lines.map((l) => l.count).join('+')}`);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    expect(lines.length).toBeLessThanOrEqual(3);
    expect(lines.reduce((sum, l) => sum + (l.count ?? 0), 0)).toBe(attemptFailures);
    expect(server.stderr()).not.toContain(SECRET);
    expect(verifyCli()).toMatchObject({ status: 0, out: expect.stringMatching(/^ok: \d+ records, chain intact/) });
  }, 60_000);

  it('full volume, only read tools (policy readOnly): ready, since no call needs an audit record to run', async () => {
    fillDisk(filler);
    const policy = join(dir, 'readonly-policy.yaml');
    writeFileSync(policy, 'servers:\n  sfx:\n    readOnly: true\n');
    const server = await start({ RAVENHELM_POLICY_FILE: policy });
    expect(await readyz(server.url)).toMatchObject({ status: 200 });
    const client = await connect(server.url);
    expect(await call(client, 'LOW', 'read')).toMatchObject({ ok: true });
    await client.close();
    await server.stop();
    rmSync(filler);
  }, 60_000);

  it('read-only volume: the start stops with EROFS and what to do; after a read-write remount it starts ready', async () => {
    for (const s of servers) await s.stop(); // a file open for writing would make the remount fail (EBUSY)
    remount(mnt, 'ro');
    let failed: Error | undefined;
    try {
      await start();
    } catch (err) {
      failed = err as Error;
    } finally {
      remount(mnt, 'rw');
    }
    expect(failed?.message).toMatch(/server exited with 1/);
    expect(failed?.message).toMatch(
      /failed to start: .*audit\.jsonl.*EROFS.*mounted read-only: mount the audit volume read-write/,
    );
    const server = await start();
    expect(await readyz(server.url)).toMatchObject({ status: 200 });
    await server.stop();
  }, 60_000);

  it("a log directory the server's user may not write: the start names the uid and the fix; with the file made for it, it runs", async () => {
    // The server runs as nobody (65534), as in the container image; the fixtures must be readable to it,
    // and the repository reachable (a fresh clone in `mktemp -d` is under a 0700 directory).
    chmodSync(dir, 0o755);
    chmodSync(mnt, 0o755);
    restoreModes.push(repoTraversableByOthers());
    const logDir = join(mnt, 'nobody');
    mkdirSync(logDir);
    chownSync(logDir, 65534, 65534);
    chmodSync(logDir, 0o500);
    const file = join(logDir, 'audit.jsonl');
    const asNobody = async () => {
      const entry = tsEntry('test/fixtures/side-effect-bin.ts', ['--http', '--port', '0']);
      const s = await startHttpProcess(
        {
          command: 'setpriv',
          args: ['--reuid=65534', '--regid=65534', '--clear-groups', entry.command, ...entry.args],
        },
        { ...env({ RAVENHELM_AUDIT_FILE: file, SFX_LOG: join(logDir, 'sfx.log') }), HOME: logDir },
        { timeoutMs: 30_000 },
      );
      servers.push(s);
      return s;
    };
    await expect(asNobody()).rejects.toThrow(
      /failed to start: .*nobody\/audit\.jsonl.*EACCES.*\(uid 65534\) may not write the file or create it in its directory/,
    );
    // The directory stays read-only, but the file exists and is the server's: it can append, and is ready.
    writeFileSync(file, '', { mode: 0o600 });
    chownSync(file, 65534, 65534);
    const server = await asNobody();
    expect(await readyz(server.url)).toMatchObject({ status: 200 });
    // Its directory refuses the lock file too: it runs without one, and says so.
    expect(server.stderr()).toMatch(
      /its lock file .*nobody\/audit\.jsonl\.lock cannot be created \(EACCES.*: it is written without one, and a second writer of this log is not detected/,
    );
    const client = await connect(server.url);
    expect(await call(client, 'LOW', 'read')).toMatchObject({ ok: true });
    await client.close();
    await server.stop();
    expect(await verifyAuditChain(file)).toMatchObject({ ok: true });
  }, 60_000);
});
