/**
 * Dynamic toolsets over Streamable HTTP through the real SDK client: a session starts with the 'echo'
 * toolset, a call into another toolset is refused with the call that enables it, toolsets_enable grows
 * that principal's tools/list (and nobody else's), and with Redis the enablement survives a restart.
 */
import { Client as ModernClient, StreamableHTTPClientTransport as ModernTransport } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { connectRedis } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoHarness, startEcho } from '../fixtures/kit-harness.js';
import { startRedis, useRedisPair } from '../fixtures/redis.js';

const tokens = {
  a: { subject: 'agent-a', clientId: 'cli', scopes: ['mcp:echo:write'], roles: [] },
  b: { subject: 'agent-b', clientId: 'cli', scopes: ['mcp:echo:write'], roles: [] },
  reader: { subject: 'reader', clientId: 'cli', scopes: ['mcp:echo:read'], roles: [] },
};

async function client(url: string, token: string): Promise<Client> {
  const c = new Client({ name: 'toolsets-test', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  );
  return c;
}

const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name).sort();
const text = (r: Awaited<ReturnType<Client['callTool']>>) => (r.content as { text: string }[])[0]?.text ?? '';

describe('dynamic toolsets over HTTP (memory store)', () => {
  let h: EchoHarness;
  beforeAll(async () => {
    h = await startEcho({ tokens, env: { RAVENHELM_TOOLSETS: 'echo' } });
  }, 30_000);
  afterAll(async () => {
    await h?.stop();
  });

  it('list -> refused call names the toolset -> enable -> list grows -> call works', async () => {
    const a = await client(h.url, 'a');
    const before = await names(a);
    expect(before).toContain('echo_say');
    expect(before).toContain('toolsets_list');
    expect(before).toContain('toolsets_enable');
    expect(before).not.toContain('echo_write');

    // A tool result the model reads (as over stdio), not a protocol error the client may hide from it.
    const off = await a.callTool({ name: 'echo_write', arguments: { value: 'x' } });
    expect(off.isError).toBe(true);
    expect((off.content as { text: string }[])[0]?.text).toMatch(
      /^ERR_TOOLSET_NOT_ENABLED: echo_write is in toolset 'writes', which is not enabled for you; call toolsets_enable with \{"toolset": "writes"\}/,
    );
    expect(h.services.calls.filter((c) => c.tool === 'echo_write')).toHaveLength(0);

    // The same answer to a 2026-07-28 client (SDK v2, the other server behind this endpoint).
    const modern = new ModernClient({ name: 'toolsets-2026', version: '1.0.0' }, {
      versionNegotiation: { mode: { pin: '2026-07-28' } },
    } as never);
    await modern.connect(
      new ModernTransport(new URL(h.url), { requestInit: { headers: { authorization: 'Bearer a' } } }),
    );
    const modernOff = await modern.callTool({ name: 'echo_write', arguments: { value: 'x' } });
    expect(modernOff.isError).toBe(true);
    expect(text(modernOff as never)).toMatch(/^ERR_TOOLSET_NOT_ENABLED: echo_write is in toolset 'writes'/);
    await modern.close();
    expect(h.services.calls.filter((c) => c.tool === 'echo_write')).toHaveLength(0);

    const listed = await a.callTool({ name: 'toolsets_list', arguments: {} });
    const sets = (listed.structuredContent as { toolsets: { name: string; enabled: boolean; tools: string[] }[] })
      .toolsets;
    expect(sets.find((s) => s.name === 'echo')?.enabled).toBe(true);
    expect(sets.find((s) => s.name === 'writes')).toMatchObject({
      enabled: false,
      tools: expect.arrayContaining(['echo_write']),
    });
    // admin holds a HIGH tool this caller cannot use (no SPIFFE ID, HIGH off): not offered
    expect(sets.map((s) => s.name)).not.toContain('admin');

    const enabled = await a.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } });
    expect(enabled.isError).toBeFalsy();
    expect(enabled.structuredContent).toMatchObject({ toolset: 'writes', enabled: ['echo', 'writes'] });

    const after = await names(a);
    expect(after).toEqual([...new Set([...before, 'echo_write', 'echo_delete'])].sort());
    const wrote = await a.callTool({ name: 'echo_write', arguments: { value: 'x' } });
    expect(wrote.isError).toBeFalsy();
    expect(h.services.calls.filter((c) => c.tool === 'echo_write')).toHaveLength(1);
    await a.close();
  });

  it('keeps principals apart', async () => {
    const a = await client(h.url, 'a');
    const b = await client(h.url, 'b');
    await a.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } });
    expect(await names(a)).toContain('echo_write');
    expect(await names(b)).not.toContain('echo_write');
    await a.close();
    await b.close();
  });

  it('enables only toolsets with tools the caller may call, and says which exist', async () => {
    const reader = await client(h.url, 'reader');
    const refused = await reader.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } });
    expect(refused.isError).toBe(true);
    expect(text(refused)).toMatch(/^ERR_INVALID_INPUT: no toolset 'writes' with tools you may call; toolsets: echo/);
    const bad = await reader.callTool({ name: 'toolsets_enable', arguments: { toolset: 'Bad Name' } });
    expect(text(bad)).toMatch(/^ERR_INVALID_INPUT: pass \{"toolset": "<name>"\}/);
    await reader.close();
  });
});

describe('dynamic toolsets with Redis', () => {
  const redis = useRedisPair(connectRedis);

  it('keep a principal’s enabled toolsets across a restart and across replicas', async () => {
    const env = { RAVENHELM_TOOLSETS: 'echo', RAVENHELM_REDIS_URL: redis.url };
    const first = await startEcho({ tokens, env });
    try {
      const a = await client(first.url, 'a');
      await a.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } });
      await a.close();
    } finally {
      await first.stop();
    }
    const second = await startEcho({ tokens, env });
    try {
      const a = await client(second.url, 'a');
      expect(await names(a)).toContain('echo_write');
      expect((await a.callTool({ name: 'echo_write', arguments: { value: 'y' } })).isError).toBeFalsy();
      const b = await client(second.url, 'b');
      expect(await names(b)).not.toContain('echo_write');
      await a.close();
      await b.close();
    } finally {
      await second.stop();
    }
  }, 30_000);
});

describe('dynamic toolsets while Redis is down', () => {
  it('the initial toolsets keep working and listing; enabled ones are refused with the reason', async () => {
    const redis = await startRedis();
    const h = await startEcho({ tokens, env: { RAVENHELM_TOOLSETS: 'echo', RAVENHELM_REDIS_URL: redis.url } });
    try {
      const a = await client(h.url, 'a');
      await a.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } });
      expect(await names(a)).toContain('echo_write');
      await redis.stop();
      // The initial toolset needs no store: listed and callable.
      const listed = await names(a);
      expect(listed).toContain('echo_say');
      expect(listed).not.toContain('echo_write');
      const said = await a.callTool({ name: 'echo_say', arguments: { message: 'still here' } });
      expect(said.isError, text(said)).toBeFalsy();
      // A toolset enabled earlier cannot be confirmed: refused with why, never run blind.
      const refused = await a.callTool({ name: 'echo_write', arguments: { value: 'x' } });
      expect(refused.isError).toBe(true);
      expect(text(refused)).toMatch(/toolset store \(Redis\) did not answer/);
      await a.close();
    } finally {
      await h.stop();
      await redis.stop().catch(() => undefined);
    }
  }, 30_000);
});

describe('the default: every toolset, as before', () => {
  it('lists every tool and no toolset tools', async () => {
    const h = await startEcho({ tokens });
    try {
      const a = await client(h.url, 'a');
      const list = await names(a);
      expect(list).toContain('echo_write');
      expect(list).not.toContain('toolsets_list');
      await expect(a.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } })).rejects.toThrow(
        /no tool named 'toolsets_enable'/,
      );
      await a.close();
    } finally {
      await h.stop();
    }
  }, 30_000);
});
