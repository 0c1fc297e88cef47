/**
 * A finished call leaves nothing behind in the pipeline: its result can be collected once the caller
 * drops it. (Racing each call against one long-lived shutdown promise kept every result reachable from
 * that promise's reactions: about 350 bytes per call, for the life of the process.)
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Principal } from '@ravenhelm/auth';
import { createMemoryAuditSink, createRuntime, loadConfig, silentLogger } from '@ravenhelm/kit';
import { expect, it } from 'vitest';
import { echoServer } from '../fixtures/echo-server.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

it('does not keep the results of finished calls', async () => {
  const def = echoServer();
  const config = loadConfig({ backendSchema: def.backendConfig, env: { RAVENHELM_LOCAL_SCOPES: 'mcp:echo:read' } });
  const rt = await createRuntime(def as never, config, silentLogger(), { audit: createMemoryAuditSink() });
  const principal: Principal = { subject: 'agent', scopes: ['mcp:echo:read'], roles: [], source: 'oauth' };
  try {
    const refs: WeakRef<object>[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await rt.pipeline.call(principal, 'echo_say', { message: `m${i}` }, {});
      expect(r.structuredContent).toEqual({ message: `m${i}` });
      refs.push(new WeakRef(r.structuredContent as object));
    }
    await new Promise((r) => setImmediate(r));
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
    // The last result may still sit in a register of this frame; the 19 before it must be gone.
    expect(refs.slice(0, -1).filter((r) => r.deref() !== undefined).length).toBe(0);
  } finally {
    await rt.close();
  }
});
