/**
 * Dynamic toolsets over stdio: the server declares tools.listChanged and sends
 * notifications/tools/list_changed after toolsets_enable turns a toolset on (once, not for a repeat).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, describe, expect, it } from 'vitest';
import { connectEchoStdio } from '../fixtures/echo-stdio.js';

const dir = mkdtempSync(join(tmpdir(), 'rh-toolsets-stdio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const connect = (env: Record<string, string>) => connectEchoStdio(dir, env, 'toolsets-stdio-test');

describe('dynamic toolsets over stdio', () => {
  it('announces list changes after enabling a toolset', async () => {
    const client = await connect({ RAVENHELM_TOOLSETS: 'echo' });
    try {
      expect(client.getServerCapabilities()?.tools?.listChanged).toBe(true);
      let changes = 0;
      let notified!: () => void;
      const first = new Promise<void>((resolve) => {
        notified = resolve;
      });
      client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        changes++;
        notified();
      });
      const names = async () => (await client.listTools()).tools.map((t) => t.name);
      expect(await names()).not.toContain('echo_write');
      const refused = await client.callTool({ name: 'echo_write', arguments: { value: 'x' } });
      expect(refused.isError).toBe(true);
      expect((refused.content as { text: string }[])[0]?.text).toMatch(
        /^ERR_TOOLSET_NOT_ENABLED: echo_write is in toolset 'writes'.*toolsets_enable with \{"toolset": "writes"\}/,
      );
      await client.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } });
      await first;
      expect(await names()).toContain('echo_write');
      expect((await client.callTool({ name: 'echo_write', arguments: { value: 'x' } })).isError).toBeFalsy();
      // enabling it again changes nothing: no second notification
      await client.callTool({ name: 'toolsets_enable', arguments: { toolset: 'writes' } });
      await client.ping();
      expect(changes).toBe(1);
    } finally {
      await client.close();
    }
  }, 60_000);

  it('declares no list changes when every toolset is listed (the default)', async () => {
    const client = await connect({});
    try {
      expect(client.getServerCapabilities()?.tools?.listChanged).toBe(false);
    } finally {
      await client.close();
    }
  }, 60_000);
});
