/**
 * Fuzz (issue 7): thousands of generated malformed JSON-RPC bodies against a really running HTTP
 * server with the real pipeline and a file audit log, while a few slow calls are in flight; then a
 * smaller run of malformed lines against the real bin over stdio. Fixed seed, bounded in count and time.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AuditSink, createFileAuditSink, verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, describe, expect, it } from 'vitest';
import { callBody, startEcho } from '../fixtures/kit-harness.js';
import { StdioPeer } from '../fixtures/stdio-peer.js';
import { expectedAnswer, malformedBody, seeded } from './fuzz-gen.js';

const SEED = 0x5eed7;
const HTTP_COUNT = 2400;
const HTTP_DEADLINE_MS = 40_000;
const CONCURRENCY = 12;
const tokens = {
  reader: { subject: 'reader', scopes: ['mcp:echo:read'], roles: [] },
  writer: { subject: 'writer', scopes: ['mcp:echo:write'], roles: [] },
};

const dir = mkdtempSync(join(tmpdir(), 'rh-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One POST on its own connection (no keep-alive), so every socket the server holds is visible. */
function post(
  url: string,
  body: string,
  token: string,
  timeoutMs = 10_000,
): Promise<{ status: number; text: string } | { unanswered: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          authorization: `Bearer ${token}`,
          connection: 'close',
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', (e) => resolve({ unanswered: e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer in time')));
    req.on('error', (e) => resolve({ unanswered: e.message }));
    req.end(body);
  });
}

describe('fuzz: malformed JSON-RPC over HTTP', () => {
  it('answers every body, never 500s, leaves no socket open, keeps serving, and the audit chain verifies', async () => {
    const auditPath = join(dir, 'audit.jsonl');
    const fileSink: AuditSink = await createFileAuditSink({ path: auditPath });
    const h = await startEcho({
      tokens,
      env: { RAVENHELM_RATE_LIMIT_POINTS: '1000' },
      wrapAudit: () => fileSink,
    });
    try {
      const rng = seeded(SEED);
      const started = Date.now();
      // calls in flight the whole time: a guessed notifications/cancelled must never reach them
      const victims = Array.from({ length: 4 }, (_, i) =>
        post(h.url, JSON.stringify(callBody('echo_slow', { ms: 1500 }, i + 1)), 'reader'),
      );
      const failures: string[] = [];
      const kinds = new Map<string, number>();
      let sent = 0;
      const worker = async () => {
        while (sent < HTTP_COUNT && Date.now() - started < HTTP_DEADLINE_MS) {
          const { kind, body } = malformedBody(rng);
          sent++;
          kinds.set(kind.split(' ')[0] ?? kind, (kinds.get(kind.split(' ')[0] ?? kind) ?? 0) + 1);
          const res = await post(h.url, body, rng() < 0.5 ? 'reader' : 'writer');
          const label = `${kind}: ${body.slice(0, 120)}`;
          if ('unanswered' in res) {
            failures.push(`unanswered (${res.unanswered}) ${label}`);
            continue;
          }
          if (res.status >= 500) failures.push(`HTTP ${res.status} ${res.text.slice(0, 200)} for ${label}`);
          if (res.status === 202) {
            if (res.text !== '') failures.push(`202 with a body for ${label}`);
            continue;
          }
          let answer: { jsonrpc?: unknown; id?: unknown; result?: unknown; error?: { code?: unknown } };
          try {
            answer = JSON.parse(res.text);
          } catch {
            failures.push(`HTTP ${res.status} body is not JSON for ${label}`);
            continue;
          }
          if (answer.jsonrpc !== '2.0' || 'result' in answer === 'error' in answer) {
            failures.push(`not a JSON-RPC response (${res.text.slice(0, 200)}) for ${label}`);
          }
          const expected = expectedAnswer(body);
          if (expected.answer && answer.id !== null && answer.id !== expected.id) {
            failures.push(`answered id ${String(answer.id)}, expected ${String(expected.id)} for ${label}`);
          }
          if (res.text.length > 4096) failures.push(`a ${res.text.length}-byte answer echoes input for ${label}`);
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      const elapsed = Date.now() - started;
      expect(failures.slice(0, 10), `${failures.length} failures`).toEqual([]);
      expect(sent, `only ${sent} bodies in ${elapsed} ms`).toBeGreaterThanOrEqual(2000);
      for (const v of await Promise.all(victims)) {
        expect('status' in v && v.status, JSON.stringify(v)).toBe(200);
        const json = JSON.parse((v as { text: string }).text);
        expect(json.result.structuredContent.aborted).toBe(false);
      }
      // the server still answers a valid call
      const ok = await post(h.url, JSON.stringify(callBody('echo_say', { message: 'after the storm' })), 'reader');
      expect('status' in ok && JSON.parse(ok.text).result.structuredContent).toEqual({ message: 'after the storm' });
      // no socket left open (clients closed theirs; the server must not hold any)
      let open = -1;
      for (let i = 0; i < 40 && open !== 0; i++) {
        open = await new Promise<number>((resolve) => h.http.server.getConnections((_e, n) => resolve(n)));
        if (open !== 0) await new Promise((r) => setTimeout(r, 50));
      }
      expect(open).toBe(0);
      expect(h.rt.metrics).toBeDefined();
      console.info(`fuzz: ${sent} bodies in ${elapsed} ms`, Object.fromEntries(kinds));
    } finally {
      await h.stop();
    }
    const chain = await verifyAuditChain(auditPath);
    expect(chain.ok, chain.reason).toBe(true);
    expect(chain.records).toBeGreaterThan(10);
  }, 60_000);
});

describe('fuzz: malformed lines over stdio', () => {
  it('answers each bad request with its id (or null), ignores notifications and responses, stays alive', async () => {
    const auditPath = join(dir, 'stdio-audit.jsonl');
    const peer = await StdioPeer.start({ RAVENHELM_AUDIT_FILE: auditPath, RAVENHELM_RATE_LIMIT_POINTS: '1000' });
    const rng = seeded(SEED + 1);
    const failures: string[] = [];
    const started = Date.now();
    let sent = 0;
    try {
      for (; sent < 300 && Date.now() - started < 15_000; sent++) {
        const { kind, body } = malformedBody(rng);
        const line = body.replace(/\n/g, ' ');
        const expected = expectedAnswer(line);
        const label = `${kind}: ${line.slice(0, 120)}`;
        if (expected.answer) {
          const got = await peer.send(line);
          if (got === undefined) {
            failures.push(`no answer for ${label}`);
            continue;
          }
          const answer = JSON.parse(got);
          if (answer.id !== expected.id) failures.push(`id ${answer.id} instead of ${expected.id} for ${label}`);
        } else {
          peer.child.stdin.write(`${line}\n`);
          const sentinel = `s${sent}`;
          const got = await peer.send(`{"jsonrpc":"2.0","id":"${sentinel}","method":"ping"}`);
          if (got === undefined || JSON.parse(got).id !== sentinel) failures.push(`unexpected ${got} after ${label}`);
        }
        if (!peer.alive) {
          failures.push(`server exited after ${label}`);
          break;
        }
      }
      expect(failures.slice(0, 10), `${failures.length} failures`).toEqual([]);
      expect(sent).toBeGreaterThanOrEqual(200);
      const ok = await peer.send(JSON.stringify(callBody('echo_say', { message: 'alive' }, 'last')));
      expect(JSON.parse(ok ?? '{}').result.structuredContent).toEqual({ message: 'alive' });
    } finally {
      await peer.stop();
    }
    expect((await verifyAuditChain(auditPath)).ok).toBe(true);
  }, 60_000);
});
