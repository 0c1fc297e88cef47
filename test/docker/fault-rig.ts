/**
 * The Docker server served over HTTP to an MCP SDK client, its engine reached through a fault proxy on a
 * socket of its own, for the attack rounds that need a slow or broken engine. By default engine calls may
 * take 20 s and a call 4 s: only the call's own time limit can cut a slow engine short.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DockerServices, dockerServer } from '@ravenhelm/mcp-docker';
import { type FaultMode, type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.js';
import { faulted, type ServedOverHttp, serveOverHttp, type ToolAnswer } from '../fixtures/fault-server.js';

/** Engine requests a fault can be limited to (proxy.only). */
export const LOGS = /^GET \/[^ ]*\/logs/;
export const INSPECT = /^GET \/[^ ]*containers\/[^/ ]+\/json/;

export interface FaultRig {
  proxy: FaultProxy;
  calls: ServedOverHttp<DockerServices>;
  /** Calls `tool` while the engine requests matching `only` suffer `mode` (garbage collected all along). */
  underFault(only: RegExp, mode: FaultMode, tool: string, args: Record<string, unknown>): Promise<ToolAnswer>;
  close(): Promise<void>;
}

export async function startFaultRig(
  tag: string,
  settings: { backendTimeoutMs?: number; callTimeoutMs?: number; env?: Record<string, string> } = {},
): Promise<FaultRig> {
  const dir = mkdtempSync(join(tmpdir(), `rh-${tag}-docker-`));
  let proxy: FaultProxy | undefined;
  try {
    proxy = await startFaultProxy({ path: '/var/run/docker.sock' }, { listenPath: join(dir, 'docker.sock') });
    const p = proxy;
    const calls = await serveOverHttp<DockerServices>(
      dockerServer,
      { DOCKER_HOST: `unix://${p.socketPath}`, RAVENHELM_TOOLSETS: 'all', ...settings.env },
      ['mcp:docker:admin'],
      {
        'backend.timeoutMs': settings.backendTimeoutMs ?? 20_000,
        'limits.callTimeoutMs': settings.callTimeoutMs ?? 4000,
      },
    );
    return {
      proxy: p,
      calls,
      underFault: async (only, mode, tool, args) => {
        p.only = only;
        try {
          return await faulted(p, mode, () => calls.call(tool, args));
        } finally {
          p.only = undefined;
        }
      },
      close: async () => {
        p.mode = { kind: 'pass' };
        await calls.close();
        await p.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
