/**
 * Seventh round against the Traefik server from outside (the real bin over stdio, the SDK Client, the simulator),
 * on what changed this round: keyed list cursors, the scan that names the file blocking Traefik's file-provider
 * directory, IPv6 zones in ClientIP.
 * - the blocking-file scan read and parsed every file of the directory (2,000 entries of up to 256 KiB) on the
 *   timeout path: a directory of large files held the call for many seconds past its load timeout;
 * - a file name is shown in the note: names with terminal controls or bidirectional overrides reordered or
 *   rewrote what a reader sees;
 * - hand-written YAML is parsed (diffs of a file taken over, what a removal waits for, the blocking-file scan):
 *   100,000 nested compact sequences ("- - - ...", 200 kB, within the 256 KiB file bound) made the yaml library
 *   run V8 out of memory compiling a regexp, which aborts the whole server process.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { confirmed, connectStdio, fails, ok, type Structured } from '../traefik/harness.js';
import { traefikSession, until } from './traefik-session.js';

describe('keyed cursors cannot be carried across listings', () => {
  const s = traefikSession();

  it('a cursor of one tool, protocol or filter is refused by another', async () => {
    const routers = Object.fromEntries(['a', 'b', 'c'].map((n) => [n, { rule: `Host(\`${n}.x\`)`, service: n }]));
    const services = Object.fromEntries(['a', 'b', 'c'].map((n) => [n, { loadBalancer: { servers: [] } }]));
    s.fx.sim.setProvider('docker', { http: { routers, services }, tcp: { services } });
    const first = await ok(s.client, 'services_list', { limit: 1 });
    expect(first.nextCursor).toEqual(expect.any(String));
    for (const [tool, args] of [
      ['routers_list', { limit: 1 }],
      ['services_list', { limit: 1, protocol: 'tcp' }],
      ['services_list', { limit: 1, status: 'enabled' }],
    ] as const) {
      expect(await fails(s.client, tool, { ...args, cursor: first.nextCursor })).toMatch(
        /^ERR_INVALID_INPUT: cursor .*omit it to start from the first page/,
      );
    }
    // the same listing again: accepted
    expect((await ok(s.client, 'services_list', { limit: 1, cursor: first.nextCursor })).services).toHaveLength(1);
  });
});

describe('the blocking-file scan is bounded and shows names as they are', () => {
  const s = traefikSession({ env: { TRAEFIK_LOAD_TIMEOUT_MS: '600' } });
  let slow: Client;
  beforeAll(async () => {
    slow = await connectStdio({ ...s.fx.env, TRAEFIK_LOAD_TIMEOUT_MS: '600', RAVENHELM_CALL_TIMEOUT_MS: '60000' });
  });
  afterAll(async () => {
    await slow?.close();
  });

  const apply = (name: string) =>
    confirmed(slow, 'routes_apply', {
      name,
      rule: `Host(\`${name}.example.com\`)`,
      servers: ['http://10.0.0.9'],
      dryRun: false,
    });

  it('a directory of large files does not hold the answer (the scan stops within its budget)', async () => {
    // a broken file first (the simulator, like Traefik, stops at it), then 300 large valid YAML files
    writeFileSync(join(s.fx.dir, '0-broken.yml'), 'http: [\n');
    mkdirSync(join(s.fx.dir, 'bulk'));
    const body = `http:\n  routers:\n${Array.from({ length: 2600 }, (_, i) => `    r${i}: { rule: "Host(\`r${i}.example.com\`)", service: s }\n`).join('')}`;
    expect(body.length).toBeGreaterThan(150_000);
    for (let i = 0; i < 300; i++) writeFileSync(join(s.fx.dir, 'bulk', `f${String(i).padStart(3, '0')}.yml`), body);
    await until(() => s.fx.sim.fileError !== undefined);
    try {
      const started = Date.now();
      const { result } = await apply('bounded');
      const took = Date.now() - started;
      expect((result.structuredContent as Structured).note).toMatch(/"0-broken\.yml" .* does not parse as YAML/);
      expect(took).toBeLessThan(600 + 3000);
    } finally {
      rmSync(join(s.fx.dir, 'bulk'), { recursive: true, force: true });
      rmSync(join(s.fx.dir, '0-broken.yml'), { force: true });
      await until(() => s.fx.sim.fileError === undefined);
    }
  }, 60_000);

  it('a file name with controls or bidirectional overrides is shown escaped', async () => {
    const name = 'evil\u202egnp.\u001b[2Jok.yml';
    writeFileSync(join(s.fx.dir, name), '- not a mapping\n');
    await until(() => s.fx.sim.fileError !== undefined);
    try {
      const { result } = await apply('names');
      const note = (result.structuredContent as Structured).note as string;
      expect(note).toMatch(/is not a YAML mapping/);
      expect(note.includes('\u202e') || note.includes('\u001b')).toBe(false);
      expect(note).toContain('"evil[U+202E]gnp.[U+001B][2Jok.yml"');
    } finally {
      rmSync(join(s.fx.dir, name), { force: true });
      await until(() => s.fx.sim.fileError === undefined);
    }
  });

  it('a symbolic link in the directory is never followed by the scan (its target is not read or quoted)', async () => {
    const outside = join(s.fx.scratch, 'outside.yml');
    writeFileSync(outside, 'http: [ outside-secret-value\n');
    symlinkSync(outside, join(s.fx.dir, 'link.yml'));
    await until(() => s.fx.sim.fileError !== undefined); // Traefik follows it and fails (os.ReadFile)
    try {
      const { result } = await apply('linked');
      const note = (result.structuredContent as Structured).note as string;
      expect(note).not.toContain('outside-secret-value');
      expect(note).not.toMatch(/does not parse as YAML/);
    } finally {
      rmSync(join(s.fx.dir, 'link.yml'), { force: true });
      await until(() => s.fx.sim.fileError === undefined);
    }
  });
});

describe('pathological YAML in the directory does not take the server down', () => {
  const s = traefikSession({ env: { TRAEFIK_LOAD_TIMEOUT_MS: '600' } });

  it('a taken-over file of deeply nested sequences: the plan answers and the server lives on', async () => {
    const nested = '- '.repeat(100_000);
    writeFileSync(join(s.fx.dir, 'nested.yaml'), nested);
    try {
      const res = await s.client.callTool({ name: 'routes_remove', arguments: { name: 'nested', takeOver: true } });
      const meta = res._meta?.['ravenhelm/confirmation'] as { plan: string } | undefined;
      expect(meta?.plan).toMatch(/^remove .*nested\.yaml:\n/);
      expect(meta?.plan).toMatch(/not shown/);
      const applied = await s.client.callTool({
        name: 'routes_apply',
        arguments: { name: 'nested', takeOver: true, rule: 'Host(`n.example.com`)', servers: ['http://10.0.0.9'] },
      });
      expect(JSON.stringify(applied)).toMatch(/nested\.yaml/);
      expect((await ok(s.client, 'overview_get')).sections).toHaveLength(8); // still answering
    } finally {
      rmSync(join(s.fx.dir, 'nested.yaml'), { force: true });
    }
  }, 60_000);
});
