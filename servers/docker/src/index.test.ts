import { existsSync } from 'node:fs';
import type { RedisLike } from '@ravenhelm/kit';
import {
  type AnyTool,
  argumentDescriptionProblems,
  silentLogger,
  toolDescriptionProblems,
  toSpec,
} from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { DockerBackendConfig, dockerServer, MemoryRestartStore, RedisRestartStore, tools } from './index.js';

const SCOPE_FOR_TIER = { LOW: 'mcp:docker:read', MEDIUM: 'mcp:docker:write', HIGH: 'mcp:docker:admin' } as const;

describe('docker tool declarations', () => {
  it('names are unique <area>_<verb> snake_case, each in a toolset named after its area', () => {
    const names = tools.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const t of tools) {
      expect(t.name).toMatch(/^[a-z]+(_[a-z]+)+$/);
      expect(t.name.startsWith(`${t.toolset}_`)).toBe(true);
    }
    expect(new Set(tools.map((t) => t.toolset))).toEqual(
      new Set(['containers', 'logs', 'health', 'events', 'compose', 'exec']),
    );
  });

  it('reads are LOW/read, lifecycle MEDIUM/write, exec HIGH/admin', () => {
    for (const t of tools) {
      expect(t.scopes).toEqual([SCOPE_FOR_TIER[t.tier]]);
      expect(t.annotations.readOnlyHint).toBe(t.tier === 'LOW');
    }
    const tierOf = Object.fromEntries(tools.map((t) => [t.name, t.tier]));
    expect(tierOf).toMatchObject({
      containers_restart: 'MEDIUM',
      containers_stop: 'MEDIUM',
      compose_restart: 'MEDIUM',
      exec_run: 'HIGH',
      logs_get: 'LOW',
    });
  });

  it('states all four annotations; stop and exec are destructive, nothing else is', () => {
    for (const t of tools) {
      for (const k of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const)
        expect(typeof t.annotations[k]).toBe('boolean');
    }
    expect(
      tools
        .filter((t) => t.annotations.destructiveHint)
        .map((t) => t.name)
        .sort(),
    ).toEqual(['compose_stop', 'containers_stop', 'exec_run']);
  });

  it('has a title, a one-sentence description, inputs described where it adds information, an object output', () => {
    for (const t of tools) {
      expect(t.title.length).toBeGreaterThan(5);
      expect(toolDescriptionProblems(t.title, t.description), t.name).toEqual([]);
      const spec = toSpec('docker', t as unknown as AnyTool<object>);
      expect(spec.outputSchema.type).toBe('object');
      expect(argumentDescriptionProblems(spec.inputSchema), t.name).toEqual([]);
    }
  });
});

describe('dockerServer', () => {
  it('backend config has working defaults and takes DOCKER_HOST as host', () => {
    expect(DockerBackendConfig.parse({})).toEqual({
      socketPath: '/var/run/docker.sock',
      timeoutMs: 10_000,
      maxResponseBytes: 8 * 1024 * 1024,
      maxConcurrentCalls: 16,
      restartBudget: { maxRestarts: 3, windowSeconds: 600 },
      eventHistory: { maxEvents: 10_000, maxExecEvents: 2_000 },
    });
    expect(dockerServer.backendEnv).toEqual({ DOCKER_HOST: 'host' });
    expect(DockerBackendConfig.parse({ host: 'tcp://127.0.0.1:2375' }).host).toBe('tcp://127.0.0.1:2375');
    expect(DockerBackendConfig.parse({ host: 'unix:///run/docker.sock' }).host).toBe('unix:///run/docker.sock');
  });

  it('refuses a DOCKER_HOST it cannot use, saying which forms work', () => {
    for (const host of ['ssh://me@host', 'https://h:2376', 'tcp://host', 'unix://relative.sock']) {
      const res = DockerBackendConfig.safeParse({ host });
      expect(res.success, host).toBe(false);
      expect(res.error?.issues[0]?.message).toMatch(/tcp:\/\/|unix:\/\//);
    }
  });

  it('ready() fails fast with ERR_BACKEND_UNAVAILABLE when the engine is not there', async () => {
    const config = DockerBackendConfig.parse({ socketPath: '/tmp/ravenhelm-missing-docker.sock', timeoutMs: 2000 });
    const services = await dockerServer.createServices(config, { logger: silentLogger() });
    await expect(dockerServer.ready?.(services, new AbortController().signal)).rejects.toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
    });
  });

  it.runIf(existsSync('/var/run/docker.sock'))('ready() resolves against the local engine', async () => {
    const services = await dockerServer.createServices(DockerBackendConfig.parse({}), { logger: silentLogger() });
    await expect(dockerServer.ready?.(services, new AbortController().signal)).resolves.toBeUndefined();
  });

  it("keeps the restart budget in memory, or in the runtime's Redis when one is configured", async () => {
    const config = DockerBackendConfig.parse({ restartBudget: { maxRestarts: 5 } });
    const alone = await dockerServer.createServices(config, { logger: silentLogger() });
    expect(alone.restartBudget.store).toBeInstanceOf(MemoryRestartStore);
    const redis = {} as RedisLike; // never called: only the choice of store is checked here
    const shared = await dockerServer.createServices(config, { logger: silentLogger(), redis });
    expect(shared.restartBudget.store).toBeInstanceOf(RedisRestartStore);
    expect(shared.restartBudget.options).toEqual({ maxRestarts: 5, windowSeconds: 600 });
  });
});
