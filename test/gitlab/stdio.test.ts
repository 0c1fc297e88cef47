import { existsSync, readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { toolSpecs } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import suite, { CONTRACT_SECRETS } from '../contract/servers/gitlab.js';
import type { ContractBackend } from '../contract/types.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { MASKED_SECRET } from '../simulators/gitlab.js';

// The real bin over stdio, the way mcp.json starts it, driven by the SDK client (output-schema
// validation on) through every contract case, against the GitLab simulator.
let backend: ContractBackend;
let client: Client;
const stderr: Buffer[] = [];
const results: string[] = [];

beforeAll(async () => {
  backend = await suite.setup();
  const entry = tsEntry(suite.bin, ['--stdio']);
  const transport = new StdioClientTransport({
    command: entry.command,
    args: entry.args,
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...backend.env, RAVENHELM_LOG_LEVEL: 'trace' },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (c: Buffer) => stderr.push(c));
  client = new Client({ name: 'gitlab-stdio-test', version: '0' });
  await client.connect(transport);
}, 60_000);

afterAll(async () => {
  await client?.close();
  await backend?.stop();
});

describe('ravenhelm-mcp-gitlab --stdio', () => {
  it('lists every tool, lean: bytes per tool within budget', async () => {
    const listed = (await client.listTools()).tools;
    expect(listed.map((t) => t.name).sort()).toEqual(toolSpecs.map((s) => s.name).sort());
    const bytes = Buffer.byteLength(JSON.stringify(listed));
    const perTool = bytes / listed.length;
    // measured 2026-12-04: see docs/gitlab.md; the docker server lists ~3,100 bytes per tool
    expect(perTool).toBeLessThanOrEqual(1500);
    for (const t of listed) expect(Buffer.byteLength(JSON.stringify(t)), t.name).toBeLessThanOrEqual(2600);
  });

  it('every tool has an ok contract case', () => {
    const ok = new Set(backend.cases.filter((c) => c.expect === 'ok').map((c) => c.tool));
    expect(toolSpecs.map((s) => s.name).filter((n) => !ok.has(n))).toEqual([]);
  });

  it('passes every contract case through the SDK client', async () => {
    for (const c of backend.cases) {
      const res = await client.callTool({ name: c.tool, arguments: c.arguments });
      const text = (res.content as { type: string; text: string }[]).map((x) => x.text).join('\n');
      results.push(JSON.stringify(res));
      if (c.expect === 'ok') {
        expect(res.isError, `${c.tool} (${c.label}): ${text}`).toBeFalsy();
        expect(res.structuredContent, c.tool).toBeDefined();
      } else {
        expect(res.isError, `${c.tool} (${c.label})`).toBe(true);
        expect(text).toMatch(/^ERR_[A-Z_]+: /);
      }
      c.check?.(res.structuredContent as Record<string, unknown> | undefined, text);
    }
  }, 120_000);

  it('no secret appears in any result, log line or audit record', async () => {
    await client.close();
    const audit = backend.env.RAVENHELM_AUDIT_FILE as string;
    expect(existsSync(audit)).toBe(true);
    const captured = {
      results: results.join('\n'),
      stderr: Buffer.concat(stderr).toString('utf8'),
      audit: readFileSync(audit, 'utf8'),
    };
    // the audit file did record the HIGH calls (so the search below is over real records)
    expect(captured.audit).toContain('"tool":"variables_set"');
    expect(captured.stderr.length).toBeGreaterThan(100);
    for (const secret of [
      CONTRACT_SECRETS.variableValue,
      CONTRACT_SECRETS.hookToken,
      MASKED_SECRET,
      'sim-group-masked-R4nd0mVal',
      'sim-hook-secret-should-never-show',
      readFileSync(backend.env.GITLAB_TOKEN_FILE as string, 'utf8').trim(),
    ]) {
      for (const [where, bytes] of Object.entries(captured))
        expect(bytes.includes(secret), `${secret} in ${where}`).toBe(false);
    }
  });
});
