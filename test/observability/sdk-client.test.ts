/**
 * Every observability tool through the real SDK `Client` over stdio, with the client's default output-schema
 * validation (it validates structuredContent against the outputSchema it read in tools/list). Cases come
 * from the contract suite (test/contract/servers/observability.ts), which the cross-server runner also reads.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Ajv, type ValidateFunction } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import suite from '../contract/servers/observability.js';
import type { ContractBackend } from '../contract/types.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';

let backend: ContractBackend;
let client: Client;

beforeAll(async () => {
  backend = await suite.setup();
  const entry = tsEntry(suite.bin, ['--stdio']);
  const transport = new StdioClientTransport({
    command: entry.command,
    args: entry.args,
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...backend.env },
    stderr: 'ignore',
  });
  client = new Client({ name: 'observability-contract', version: '0' });
  await client.connect(transport);
}, 180_000);

afterAll(async () => {
  await client?.close();
  await backend?.stop();
});

describe('observability through the SDK Client (stdio, output validation on)', () => {
  it('has an ok case for every tool in tools/list, and nothing else', async () => {
    const { tools } = await client.listTools();
    const withOk = new Set(backend.cases.filter((c) => c.expect === 'ok').map((c) => c.tool));
    expect(tools.map((t) => t.name).filter((n) => !withOk.has(n))).toEqual([]);
    expect([...withOk].filter((n) => !tools.some((t) => t.name === n))).toEqual([]);
    // tuple forms (prefixItems / items:false) are what the client could not read
    const tuples = tools.filter((t) => /prefixItems|"items":false/.test(JSON.stringify(t))).map((t) => t.name);
    expect(tuples).toEqual([]);
  });

  it('keeps tools/list within its byte budget (issue 9: was 50,783 bytes for 20 tools)', async () => {
    const list = await client.listTools();
    const bytes = Buffer.byteLength(JSON.stringify(list));
    // 2,200 bytes per tool today; lower it as the kit's schema emission slims down.
    expect(bytes / list.tools.length).toBeLessThanOrEqual(2200);
  });

  it('every case is accepted by the client (and by Ajv draft-07 and 2020-12) and gives the expected outcome', async () => {
    const { tools } = await client.listTools();
    const ajvs = [new Ajv({ strict: true, allErrors: true }), new Ajv2020({ strict: true, allErrors: true })];
    const validators = new Map<string, ValidateFunction[]>(
      tools.map((t) => [t.name, ajvs.map((a) => a.compile(t.outputSchema ?? {}))]),
    );
    const failures: string[] = [];
    for (const c of backend.cases) {
      const name = `${c.tool} (${c.label})`;
      try {
        const res = await client.callTool({ name: c.tool, arguments: c.arguments });
        const text = (res.content as { type: string; text?: string }[]).map((b) => b.text ?? '').join('\n');
        if (c.expect === 'ok') {
          if (res.isError) throw new Error(`isError: ${text.slice(0, 300)}`);
          if (!res.structuredContent) throw new Error('no structuredContent');
          for (const validate of validators.get(c.tool) ?? []) {
            if (!validate(res.structuredContent))
              throw new Error(`Ajv: ${JSON.stringify(validate.errors).slice(0, 300)}`);
          }
        } else {
          if (!res.isError) throw new Error('expected an isError result');
          if (!/ERR_[A-Z_]+/.test(text)) throw new Error(`error text names no ERR_ code: ${text.slice(0, 200)}`);
        }
        c.check?.(res.structuredContent as Record<string, unknown> | undefined, text);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
