import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, callError, makeServices, tool } from './harness.js';

// A TCP server that accepts connections and never answers: the engine hanging.
let silent: Server;
let silentPort = 0;
const sockets = new Set<Socket>();
// A port nobody listens on: bind, read the port, close.
let deadPort = 0;
// A loopback TCP proxy to the local engine's unix socket: the engine reached as tcp://.
let proxy: Server;
let proxyPort = 0;

beforeAll(async () => {
  silent = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as { port: number }).port;
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  deadPort = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  proxy = createServer((client) => {
    sockets.add(client);
    const upstream = connect('/var/run/docker.sock');
    sockets.add(upstream);
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyPort = (proxy.address() as { port: number }).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => silent.close(() => r()));
  await new Promise<void>((r) => proxy.close(() => r()));
});

describe('engine endpoints', () => {
  it('reaches the engine over tcp:// (DOCKER_HOST form)', async () => {
    const services = makeServices({ host: `tcp://127.0.0.1:${proxyPort}`, socketPath: '/nonexistent.sock' });
    const res = await call(tool('containers_list'), { limit: 1 }, services);
    expect(typeof res.total).toBe('number');
    await expect(services.docker.ping()).resolves.toBeUndefined();
    expect(services.docker.endpoint).toBe(`tcp://127.0.0.1:${proxyPort}`);
  });

  it('reaches the engine over unix:// (DOCKER_HOST form), which wins over socketPath', async () => {
    const services = makeServices({ host: 'unix:///var/run/docker.sock', socketPath: '/nonexistent.sock' });
    await expect(services.docker.ping()).resolves.toBeUndefined();
  });
});

describe('engine unreachable', () => {
  it('a missing unix socket is ERR_BACKEND_UNAVAILABLE at once, naming DOCKER_HOST/dockerd', async () => {
    const services = makeServices({ socketPath: '/tmp/ravenhelm-no-such-docker.sock' });
    const started = Date.now();
    const err = await callError(tool('containers_list'), {}, services);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toMatch(/unix:\/\/\/tmp\/ravenhelm-no-such-docker\.sock/);
    expect(err.message).toMatch(/DOCKER_HOST/);
    expect(err.message).toMatch(/dockerd/);
  });

  it('a closed TCP port is ERR_BACKEND_UNAVAILABLE at once', async () => {
    const services = makeServices({ host: `tcp://127.0.0.1:${deadPort}` });
    const started = Date.now();
    const err = await callError(tool('containers_diagnose'), { container: 'web' }, services);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(err.code).toBe('ERR_BACKEND_UNAVAILABLE');
    expect(err.message).toContain(`tcp://127.0.0.1:${deadPort}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('an engine that never answers is ERR_BACKEND_TIMEOUT after the configured timeout, never a hang', async () => {
    const services = makeServices({ host: `tcp://127.0.0.1:${silentPort}`, timeoutMs: 500 });
    for (const [name, args] of [
      ['containers_list', {}],
      ['logs_get', { container: 'web' }],
      ['health_get_report', {}],
    ] as const) {
      const started = Date.now();
      const err = await callError(tool(name), args, services);
      const took = Date.now() - started;
      expect(err.code).toBe('ERR_BACKEND_TIMEOUT');
      expect(err.message).toMatch(/500 ms/);
      expect(took).toBeGreaterThanOrEqual(450);
      expect(took).toBeLessThan(3_000);
    }
  });

  it("the caller's abort signal ends a call early", async () => {
    const services = makeServices({ host: `tcp://127.0.0.1:${silentPort}`, timeoutMs: 30_000 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    const err = await callError(tool('containers_list'), {}, services, { signal: ac.signal });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err.code).toBe('ERR_CANCELLED');
  });
});
