/**
 * logs_get with `until` on a long log: the engine applies `tail` before `until`, so the backend reads
 * growing windows of the newest lines instead of the whole log, up to UNTIL_SCAN_LINES, and says so when
 * the lines before `until` are older than that. Real engine; bytes counted on the socket.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UNTIL_SCAN_LINES } from '@ravenhelm/mcp-docker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from './fixture.js';
import { call, makeServices, tool } from './harness.js';

const fx = new DockerFixture('untilbound');
const LATE = UNTIL_SCAN_LINES + 40_000;
let container: string;
let until: string;
let dir: string;
let engineBytes = 0;
const proxy = createServer((client) => {
  const engine = connect('/var/run/docker.sock');
  engine.on('data', (c: Buffer) => {
    engineBytes += c.length;
  });
  client.pipe(engine).pipe(client);
  client.on('error', () => engine.destroy());
  engine.on('error', () => client.destroy());
});

beforeAll(async () => {
  await ensureImage();
  dir = mkdtempSync(join(tmpdir(), 'rh-untilbound-'));
  await new Promise<void>((r) => proxy.listen(join(dir, 'docker.sock'), r));
  container = await fx.start({
    name: 'long',
    script: `for i in 1 2 3 4 5; do echo early-$i; done; sleep 2.2; seq 1 ${LATE} | sed 's/^/late-/'; echo done; sleep 600`,
  });
  const services = makeServices();
  await fx.waitFor('the late phase', async () => {
    const res = await call(tool('logs_get'), { container, tail: 1 }, services);
    return res.text === 'done\n';
  });
  // The early lines come right after the start, the late ones 2.2 s later: until = the whole second after start + 0.5 s.
  const started = Date.parse((await fx.inspect(container)).State.StartedAt);
  until = new Date(Math.ceil((started + 500) / 1000) * 1000).toISOString();
}, 120_000);

afterAll(async () => {
  proxy.close();
  await fx.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('logs_get with until on a long log', () => {
  it('stops at the scan bound and says how far back it looked', async () => {
    const services = makeServices({ socketPath: join(dir, 'docker.sock') });
    engineBytes = 0;
    const res = await call(tool('logs_get'), { container, until, tail: 3 }, services);
    expect(res.lines).toBe(0);
    expect(res.notes).toContainEqual(
      `until: 0 lines found before it among the newest ${UNTIL_SCAN_LINES.toLocaleString('en')} lines of the log, which is as far back as a read goes; older lines were not read`,
    );
    // Doubling windows read at most about twice the bound's lines; the whole log would be LATE lines more.
    const perLine = 'late-123456\n'.length + 31 + 8; // text, timestamp, frame header
    expect(engineBytes).toBeLessThan(2 * UNTIL_SCAN_LINES * perLine);
  }, 120_000);

  it('finds lines before until within the bound, in as few windows as it needs', async () => {
    const services = makeServices();
    const lateUntil = new Date(Date.now() + 60_000).toISOString();
    const res = await call(tool('logs_get'), { container, until: lateUntil, tail: 3 }, services);
    expect(res.text).toBe(`late-${LATE - 1}\nlate-${LATE}\ndone\n`);
    expect(res.notes).toBeUndefined();
  }, 60_000);
});
