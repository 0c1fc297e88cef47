/**
 * A handler states what a successful call did for its audit outcome record (`ctx.noteResult`): an
 * idempotent repeat is recorded as `result: { kind: 'noop', reason }` beside `outcome: 'success'`. Through
 * the SDK Client over HTTP, into a real file log that must still verify: the new member is hashed like every
 * other (an edited reason breaks the chain) and records without it keep the old shape.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  createFileAuditSink,
  createRuntime,
  createToolDefiner,
  defineServer,
  loadConfig,
  silentLogger,
  startHttp,
  ToolError,
  verifyAuditSet,
} from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sdkHttpClient, staticTokens } from '../fixtures/kit-harness.js';

const defineTool = createToolDefiner<{ secret: string }>();
const LONG = `${'x'.repeat(199)}\u{1F600}${'y'.repeat(300)}`;

const server = defineServer({
  name: 'noopkit',
  version: '0.0.0',
  description: 'Kit test server for audit results',
  tools: [
    defineTool({
      name: 'thing_set',
      title: 'Set a thing',
      description: 'Sets a thing.',
      toolset: 'thing',
      tier: 'MEDIUM',
      scopes: ['mcp:noopkit:write'],
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      input: z.object({ mode: z.enum(['change', 'noop', 'noop-then-fail', 'long', 'extra']) }),
      output: z.object({ ok: z.boolean() }),
      handler: async ({ mode }, { noteResult, secret }) => {
        if (mode === 'change') return { ok: true };
        if (mode === 'long') noteResult?.({ kind: 'noop', reason: LONG });
        else if (mode === 'extra') noteResult?.({ kind: 'noop', reason: 'held', secret } as never);
        else noteResult?.({ kind: 'noop', reason: 'already set' });
        if (mode === 'noop-then-fail') throw new ToolError('ERR_CONFLICT', 'changed meanwhile; repeat');
        return { ok: true };
      },
    }),
  ],
  backendConfig: z.object({}),
  createServices: () => ({ secret: 'svc-secret-value-7q3' }),
});

let dir: string;
let auditFile: string;
let client: Client;
let stop: () => Promise<void>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rh-audit-outcome-'));
  auditFile = join(dir, 'audit.jsonl');
  const config = loadConfig({
    backendSchema: server.backendConfig,
    env: { RAVENHELM_HTTP_PORT: '0', RAVENHELM_CALL_TIMEOUT_MS: '5000' },
  });
  const audit = await createFileAuditSink({ path: auditFile, server: 'noopkit' });
  const rt = await createRuntime(server as never, config, silentLogger(), { audit });
  const http = await startHttp(rt, {
    authenticator: staticTokens({ w: { subject: 'writer', scopes: ['mcp:noopkit:write'], roles: [] } }),
    authorizationServers: ['http://127.0.0.1:1/issuer'],
  });
  client = await sdkHttpClient(http.url, 'w');
  stop = async () => {
    await client.close();
    await http.shutdown();
    await rt.close();
  };
});

afterAll(async () => {
  await stop?.();
  rmSync(dir, { recursive: true, force: true });
});

type Rec = Record<string, unknown> & { requestId: string; phase: string };
const records = (): Rec[] =>
  readFileSync(auditFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

/** Calls thing_set and returns its outcome record (the last record of the log once the call answered). */
async function outcomeOf(mode: string): Promise<Rec> {
  await client.callTool({ name: 'thing_set', arguments: { mode } });
  const last = records().at(-1);
  expect(last?.phase).toBe('outcome');
  return last as Rec;
}

describe('ctx.noteResult in the audit outcome record', () => {
  it('a no-op success says so; a change has no result member (the old record shape)', async () => {
    expect(await outcomeOf('noop')).toMatchObject({
      outcome: 'success',
      result: { kind: 'noop', reason: 'already set' },
    });
    const changed = await outcomeOf('change');
    expect(changed.outcome).toBe('success');
    expect('result' in changed).toBe(false);
    // the attempt record never carries it
    expect(
      records()
        .filter((r) => r.phase === 'attempt')
        .some((r) => 'result' in r),
    ).toBe(false);
  });

  it('a call that noted a no-op and then failed is an error, without the result', async () => {
    const r = await outcomeOf('noop-then-fail');
    expect(r).toMatchObject({ outcome: 'error', errorCode: 'ERR_CONFLICT' });
    expect('result' in r).toBe(false);
  });

  it('the reason is clipped to 200 characters and well-formed; unknown members are not written', async () => {
    const long = (await outcomeOf('long')).result as { reason: string };
    expect(long.reason.startsWith('x'.repeat(199))).toBe(true);
    expect(long.reason).toMatch(/…\[clipped \d+ chars\]$/);
    expect(long.reason).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    const extra = await outcomeOf('extra');
    expect(extra.result).toEqual({ kind: 'noop', reason: 'held' });
    expect(readFileSync(auditFile, 'utf8')).not.toContain('svc-secret-value-7q3');
  });

  it('the log verifies, and an edited reason breaks its chain', async () => {
    const ok = await verifyAuditSet(auditFile);
    expect(ok.ok, JSON.stringify(ok.files)).toBe(true);
    expect(ok.records).toBe(records().length);
    const copy = join(dir, 'edited.jsonl');
    writeFileSync(copy, readFileSync(auditFile, 'utf8').replace('"reason":"already set"', '"reason":"already gone"'));
    const edited = await verifyAuditSet(copy);
    expect(edited.ok).toBe(false);
    expect(edited.files[0]?.says).toMatch(/broken at record 2/);
  });
});
