/**
 * A TTY container's log is raw bytes, a container without one is multiplexed; the engine says which
 * (`Config.Tty`). Output that begins like a frame header must not be read as one, and compose_get_logs
 * says what logs_get says about a TTY container.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage } from './fixture.js';
import { call, makeServices, tool } from './harness.js';

const fx = new DockerFixture('ttyframe');
const project = `tty-${fx.prefix.slice(-6)}`;
const services = makeServices();
const label = (service: string) => ({ 'com.docker.compose.project': project, 'com.docker.compose.service': service });
// 8 bytes a multiplexed reader takes for a header: stream 2 (stderr) / 3 (systemerr), payload of 5 bytes
const STDERR_HEADER = String.raw`\002\000\000\000\000\000\000\005`;
const SYSERR_HEADER = String.raw`\003\000\000\000\000\000\000\005`;
let errLike: string;
let sysLike: string;
let plain: string;
let termLog: string;

beforeAll(async () => {
  await ensureImage();
  [errLike, sysLike, plain, termLog] = await Promise.all([
    fx.start({ name: 'errlike', tty: true, script: `printf '${STDERR_HEADER}hello\\n'; echo all fine; sleep 600` }),
    fx.start({ name: 'syslike', tty: true, script: `printf '${SYSERR_HEADER}hello\\n'; echo all fine; sleep 600` }),
    fx.start({ name: 'plain', labels: label('api'), script: 'echo api-out; echo api-err >&2; sleep 600' }),
    fx.start({ name: 'term', labels: label('term'), tty: true, script: 'echo term-out; echo term-err >&2; sleep 600' }),
  ]);
  for (const c of [errLike, sysLike, plain, termLog]) {
    await fx.waitFor(`${c} to log`, async () => (await call(tool('logs_get'), { container: c }, services)).lines >= 2);
  }
});

afterAll(async () => {
  await fx.cleanup();
});

describe('the log format comes from the container, not from its first bytes', () => {
  it('containers_diagnose: TTY output that starts like a stderr frame header is stdout, not an error line', async () => {
    const res = await call(tool('containers_diagnose'), { container: errLike }, services);
    expect(res.errorLog.unavailable).toBeUndefined();
    expect(res.errorLog.lines).toEqual([]);
    expect(res.errorLog.scannedLines).toBe(2);
    expect(res.findings).toEqual([]);
  });

  it('containers_diagnose: TTY output that starts like a systemerr frame is read, not an engine error', async () => {
    const res = await call(tool('containers_diagnose'), { container: sysLike }, services);
    expect(res.errorLog.unavailable).toBeUndefined();
    expect(res.errorLog.scannedLines).toBe(2);
    expect(res.findings).toEqual([]);
  });

  it('logs_get returns such a TTY line whole, as stdout (its control bytes removed, as from any line)', async () => {
    const res = await call(tool('logs_get'), { container: errLike }, services);
    // read as a frame header, the 8 bytes would have made "hello" a stderr line of its own
    expect(res.text).toBe('hello\nall fine\n');
    expect((await call(tool('logs_get'), { container: errLike, streams: 'stdout' }, services)).lines).toBe(2);
  });
});

describe('compose_get_logs and TTY containers', () => {
  it('names the TTY container and says why streams "stderr" finds nothing from it', async () => {
    const res = await call(tool('compose_get_logs'), { project, streams: 'stderr' }, services);
    expect(res.text).toBe('api | api-err\n');
    expect(res.notes).toEqual([
      `container "${termLog}" (service term) has a TTY: the engine logs all it writes, stderr included, as stdout, so streams "stderr" finds nothing from it; use streams "both" (and grep for errors)`,
    ]);
    const both = await call(tool('compose_get_logs'), { project }, services);
    expect(both.text).toContain('term | term-err\n');
    expect(both.text).toContain('api | [stderr] api-err\n');
    expect(both.notes).toEqual([
      `container "${termLog}" (service term) has a TTY: the engine logs all it writes, stderr included, as stdout, so none of its lines is marked [stderr]`,
    ]);
  });
});
