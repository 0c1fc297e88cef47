/**
 * Group commit keeps the audit guarantees (issue 14): many calls share one write and one fsync, yet a
 * side-effecting call's attempt record is written (HIGH: fsynced) before its handler runs, a call is
 * answered only after its outcome record is written, the chain follows call order, and a failing fsync
 * fails HIGH calls closed. The file sink runs on a real file with hooks that hold or fail operations.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AuditFile,
  type AuditRecord,
  type AuditSink,
  createFileAuditSink,
  openAuditFile,
  verifyAuditChain,
} from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { callBody, type EchoHarness, rpc, startEcho } from '../fixtures/kit-harness.js';

const AGENT = 'spiffe://ravenhelm.local/agent/oncall';
const tokens = {
  reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] },
  writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] },
  admin: { subject: 'admin', scopes: ['mcp:echo:admin'], roles: [], spiffeId: AGENT },
};
const POLICY = `servers:\n  echo:\n    spiffe:\n      default: ['${AGENT}']\n`;
const auth = (who: keyof typeof tokens) => ({ authorization: `Bearer ${who}` });

const dir = mkdtempSync(join(tmpdir(), 'rh-group-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A gate a hook can wait on; `open()` lets everything waiting through. */
function gate() {
  let open!: () => void;
  const passed = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { passed, open };
}

interface Hooks {
  append?: (data: Buffer) => Promise<void> | void;
  sync?: () => Promise<void> | void;
}

/** An echo server over HTTP whose audit is a real file sink with hooks; counts appends and fsyncs. */
async function echoWithFileAudit(hooks: Hooks = {}) {
  const path = join(dir, `${++n}.jsonl`);
  const counts = { append: 0, sync: 0 };
  const openFile = async (p: string): Promise<AuditFile> => {
    const real = await openAuditFile(p);
    return {
      ...real,
      append: async (data) => {
        counts.append++;
        await hooks.append?.(data);
        return real.append(data);
      },
      sync: async () => {
        counts.sync++;
        await hooks.sync?.();
        return real.sync();
      },
    };
  };
  const sink: AuditSink = await createFileAuditSink({ path, openFile });
  // Many calls of one principal at once: above the default per-caller bound (test/kit/admission.test.ts).
  const h: EchoHarness = await startEcho({
    tokens,
    policy: POLICY,
    wrapAudit: () => sink,
    env: { RAVENHELM_MAX_CALLS_IN_FLIGHT_PER_CALLER: '1000' },
  });
  const records = () =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as AuditRecord);
  return { h, path, counts, records };
}

const ran = (h: EchoHarness, tool: string) => h.services.calls.filter((c) => c.tool === tool).length;
const settledWithin = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

describe('group commit keeps the guarantees', () => {
  it('a HIGH handler does not start before its attempt record is fsynced', async () => {
    const held = gate();
    let holding = true;
    const { h, path } = await echoWithFileAudit({ sync: () => (holding ? held.passed : undefined) });
    try {
      const call = rpc(h.url, callBody('echo_secret_rotate', { name: 'db', newValue: 'n' }), auth('admin'));
      expect(await settledWithin(call, 300)).toBe(false);
      expect(ran(h, 'echo_secret_rotate')).toBe(0);
      holding = false;
      held.open();
      expect((await call).json.result.structuredContent).toEqual({ rotated: 'db' });
      expect(ran(h, 'echo_secret_rotate')).toBe(1);
      expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 2 });
    } finally {
      await h.stop();
    }
  });

  it('a MEDIUM handler does not start before its attempt record is written', async () => {
    const held = gate();
    let holding = true;
    const { h } = await echoWithFileAudit({ append: () => (holding ? held.passed : undefined) });
    try {
      const call = rpc(h.url, callBody('echo_write', { value: 'v' }), auth('writer'));
      expect(await settledWithin(call, 300)).toBe(false);
      expect(ran(h, 'echo_write')).toBe(0);
      holding = false;
      held.open();
      expect((await call).status).toBe(200);
      expect(ran(h, 'echo_write')).toBe(1);
    } finally {
      await h.stop();
    }
  });

  it('the answer is not sent before the outcome record is written', async () => {
    const held = gate();
    const { h, records } = await echoWithFileAudit({
      append: (data) => (data.includes('"phase":"outcome"') ? held.passed : undefined),
    });
    try {
      const call = rpc(h.url, callBody('echo_say', { message: 'hi' }), auth('reader'));
      expect(await settledWithin(call, 300)).toBe(false);
      expect(ran(h, 'echo_say')).toBe(1); // the handler ran; only the outcome write is held
      held.open();
      expect((await call).json.result.structuredContent).toEqual({ message: 'hi' });
      expect(records().map((r) => [r.tool, r.phase, r.outcome])).toEqual([['echo_say', 'outcome', 'success']]);
    } finally {
      await h.stop();
    }
  });

  it('many concurrent calls share writes and fsyncs; the chain follows call order', async () => {
    const { h, path, counts, records } = await echoWithFileAudit();
    try {
      const calls = 40;
      const results = await Promise.all(
        Array.from({ length: calls }, (_, i) =>
          rpc(h.url, callBody('echo_secret_rotate', { name: `s${i}`, newValue: 'n' }, i), auth('admin')),
        ),
      );
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(await verifyAuditChain(path)).toEqual({ ok: true, records: 2 * calls });
      expect(counts.append).toBeLessThan(calls);
      expect(counts.sync).toBeLessThan(calls);
      // Per call: attempt, then handler (side effect in call order), then outcome.
      const recs = records();
      const firstIndex = new Map<string, number>();
      recs.forEach((r, i) => {
        if (r.phase === 'attempt') firstIndex.set(r.requestId, i);
        else expect(firstIndex.get(r.requestId)).toBeLessThan(i);
      });
      expect(firstIndex.size).toBe(calls);
      expect(recs.map((r) => r.seq)).toEqual(recs.map((_, i) => i + 1));
    } finally {
      await h.stop();
    }
  });

  it('a failing fsync fails the HIGH call closed, and every later side-effecting call', async () => {
    const { h } = await echoWithFileAudit({
      sync: () => {
        throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
      },
    });
    try {
      const high = await rpc(h.url, callBody('echo_secret_rotate', { name: 'db', newValue: 'n' }), auth('admin'));
      expect(high.status).toBe(503);
      expect(high.json.error.data.code).toBe('ERR_AUDIT_UNAVAILABLE');
      expect(ran(h, 'echo_secret_rotate')).toBe(0);
      const medium = await rpc(h.url, callBody('echo_write', { value: 'v' }), auth('writer'));
      expect(medium.status).toBe(503);
      expect(ran(h, 'echo_write')).toBe(0);
    } finally {
      await h.stop();
    }
  });
});
