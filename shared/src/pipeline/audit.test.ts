import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AuditEvent, createFileAuditSink, digestArgs, redactArgs, verifyAuditChain } from './audit.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-audit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const event = (i: number, args: unknown = { container: `web-${i}` }): AuditEvent => ({
  server: 'docker',
  tool: 'containers_restart',
  tier: 'MEDIUM',
  principal: { subject: 'agent', clientId: 'cli' },
  requestId: `r${i}`,
  phase: 'outcome',
  args,
  outcome: 'success',
  durationMs: i,
});

async function writeLog(name: string, n: number): Promise<string> {
  const path = join(dir, name);
  const sink = await createFileAuditSink({ path });
  for (let i = 1; i <= n; i++) await sink.write(event(i), { durable: i % 2 === 0 });
  await sink.close();
  return path;
}

describe('file audit sink', () => {
  it('writes a hash chain that verifies', async () => {
    const path = await writeLog('ok.jsonl', 5);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[1] as string).prevHash).toBe(JSON.parse(lines[0] as string).hash);
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 5 });
  });

  it('continues the chain after reopening', async () => {
    const path = await writeLog('resume.jsonl', 2);
    const sink = await createFileAuditSink({ path });
    await sink.write(event(3), { durable: true });
    await sink.close();
    expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 3 });
  });

  it.each([
    ['an edited field', (l: string[]) => l.splice(2, 1, (l[2] as string).replace('"agent"', '"mallory"'))],
    ['a deleted record', (l: string[]) => l.splice(2, 1)],
    ['reordered records', (l: string[]) => l.splice(1, 2, l[2] as string, l[1] as string)],
  ])('detects %s at the right record', async (_name, tamper) => {
    const path = await writeLog(`tamper-${_name.replace(/\W/g, '')}.jsonl`, 5);
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    tamper(lines);
    writeFileSync(path, `${lines.join('\n')}\n`);
    const result = await verifyAuditChain(path);
    expect(result.ok).toBe(false);
    expect(result.brokenAt).toBe(_name === 'reordered records' ? 2 : 3);
  });

  it('refuses to append to a log whose last record is corrupt', async () => {
    const path = await writeLog('corrupt.jsonl', 2);
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"half":`);
    await expect(createFileAuditSink({ path })).rejects.toThrow(/corrupt/);
  });

  it('never writes secret values, only their digest', async () => {
    const path = join(dir, 'secrets.jsonl');
    const sink = await createFileAuditSink({ path });
    const args = { name: 'db', password: 'hunter2-planted', nested: { apiKey: 'ak-planted' }, newValue: 'nv-planted' };
    await sink.write({ ...event(1, args), sensitiveKeys: ['newValue'] }, { durable: true });
    await sink.close();
    const text = readFileSync(path, 'utf8');
    for (const planted of ['hunter2-planted', 'ak-planted', 'nv-planted']) expect(text).not.toContain(planted);
    expect(JSON.parse(text).argsDigest).toBe(digestArgs(args));
  });

  it('rejects a durable write that cannot reach the disk, so HIGH calls fail closed', async () => {
    const sink = await createFileAuditSink({ path: '/dev/full' });
    await expect(sink.write(event(1), { durable: true })).rejects.toThrow();
    await sink.close().catch(() => undefined);
  });
});

describe('redactArgs and digestArgs', () => {
  it('redacts secret-looking keys at any depth and clips long strings', () => {
    const out = redactArgs({ token: 't', list: [{ clientSecret: 's' }], note: 'x'.repeat(600) }) as Record<
      string,
      unknown
    >;
    expect(out.token).toBe('[redacted]');
    expect(out.list).toEqual([{ clientSecret: '[redacted]' }]);
    expect((out.note as string).length).toBeLessThan(600);
  });

  it('gives the same digest whatever the key order', () => {
    expect(digestArgs({ a: 1, b: { c: 2, d: 3 } })).toBe(digestArgs({ b: { d: 3, c: 2 }, a: 1 }));
    expect(digestArgs({ a: 1 })).not.toBe(digestArgs({ a: 2 }));
  });
});

describe('ravenhelm-audit verify', () => {
  it('exits 0 on an intact chain and 1 naming the broken record', async () => {
    const { runAuditCli } = await import('../audit-cli.js');
    const path = await writeLog('cli.jsonl', 3);
    const out: string[] = [];
    const sink = { write: (s: string) => out.push(s) };
    expect(await runAuditCli(['verify', path], sink, sink)).toBe(0);
    expect(out.join('')).toBe('ok: 3 records, chain intact\n');
    const lines = readFileSync(path, 'utf8').trim().split('\n');
    lines.splice(1, 1);
    writeFileSync(path, `${lines.join('\n')}\n`);
    expect(await runAuditCli(['verify', path], sink, sink)).toBe(1);
    expect(out.at(-1)).toMatch(/^broken at record 2: /);
    expect(await runAuditCli(['verify'], sink, sink)).toBe(2);
  });
});
