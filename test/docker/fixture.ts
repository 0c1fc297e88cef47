/**
 * Real-engine fixtures for the Docker MCP server tests: a busybox image imported from the host's
 * busybox-static (no pulls possible here) and labelled containers, all with `--network none`.
 * Every container carries `ravenhelm.test=1` and a per-run label so cleanup is certain.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TEST_IMAGE = 'ravenhelm-test/busybox:2';
export const TEST_LABEL = 'ravenhelm.test';
export const RUN_LABEL = 'ravenhelm.test.run';
const BUSYBOX = '/bin/busybox';

export async function docker(args: string[], timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

/**
 * Removes test containers left by runs whose process is gone (a crashed or killed run never reached
 * afterAll). Run labels carry the owning pid, so live parallel runs are never touched.
 */
export async function sweepStale(): Promise<number> {
  const rows = await docker([
    'ps',
    '-a',
    '--filter',
    `label=${TEST_LABEL}=1`,
    '--format',
    `{{.ID}} {{.Label "${RUN_LABEL}"}}`,
  ]);
  const stale: string[] = [];
  for (const row of rows.split('\n').filter(Boolean)) {
    const [id, run] = row.split(' ');
    const pid = Number(/^rh-[a-z0-9]+-(\d+)-[0-9a-f]+$/.exec(run ?? '')?.[1]);
    if (!id || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') stale.push(id);
    }
  }
  if (stale.length > 0) await docker(['rm', '-f', '-v', ...stale]);
  return stale.length;
}

/** Imports the test image from a busybox rootfs when it is not there yet; safe to call from parallel runs. */
export async function ensureImage(): Promise<void> {
  await sweepStale();
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', TEST_IMAGE]);
    return;
  } catch {
    // not there yet: build it below
  }
  const dir = await mkdtemp(join(tmpdir(), 'rh-busybox-'));
  try {
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
    // Every applet this busybox has (sh, sleep, echo, cat, ls, true, false, wget, seq, sed, dd...).
    const { stdout } = await run(BUSYBOX, ['--list'], { timeout: 10_000 });
    const applets = stdout.split('\n').filter((a) => /^[a-z0-9_.-]+$/.test(a) && a !== 'busybox');
    for (const applet of applets) await symlink('busybox', join(root, 'bin', applet));
    const tar = join(dir, 'rootfs.tar');
    await run('tar', ['-C', root, '-cf', tar, '.'], { timeout: 60_000 });
    await docker(['import', '--change', 'ENV PATH=/bin', '--change', 'CMD ["sh"]', tar, TEST_IMAGE]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface RunSpec {
  /** Suffix; the container is named `<prefix>-<name>`. */
  name: string;
  /** Shell script run by `sh -c`. */
  script: string;
  health?: { cmd: string; intervalSeconds?: number; retries?: number };
  restart?: 'always' | 'unless-stopped' | 'on-failure' | 'no';
  labels?: Record<string, string>;
  /** Run tini as PID 1 so SIGTERM stops the container at once (default true). */
  init?: boolean;
  memory?: string;
  /** `--log-driver` (e.g. "none": a container whose log the engine cannot read). */
  logDriver?: string;
  /** `-t`: the process writes to a terminal; the engine logs both streams as one raw stdout stream. */
  tty?: boolean;
}

/** One test file's containers: unique names, one label to find them all, removed in `cleanup()`. */
export class DockerFixture {
  readonly prefix: string;
  readonly names: string[] = [];

  constructor(tag: string) {
    this.prefix = `rh-${tag}-${process.pid}-${randomBytes(3).toString('hex')}`;
  }

  nameOf(suffix: string): string {
    return `${this.prefix}-${suffix}`;
  }

  async start(spec: RunSpec): Promise<string> {
    const name = this.nameOf(spec.name);
    const args = [
      'run',
      '-d',
      '--network',
      'none',
      '--name',
      name,
      '--label',
      `${TEST_LABEL}=1`,
      '--label',
      `${RUN_LABEL}=${this.prefix}`,
    ];
    if (spec.init ?? true) args.push('--init');
    for (const [k, v] of Object.entries(spec.labels ?? {})) args.push('--label', `${k}=${v}`);
    if (spec.health) {
      const interval = `${spec.health.intervalSeconds ?? 1}s`;
      args.push(
        '--health-cmd',
        spec.health.cmd,
        '--health-interval',
        interval,
        '--health-timeout',
        '2s',
        '--health-retries',
        String(spec.health.retries ?? 1),
      );
    }
    if (spec.restart) args.push('--restart', spec.restart);
    if (spec.memory) args.push('--memory', spec.memory, '--memory-swap', spec.memory);
    if (spec.logDriver) args.push('--log-driver', spec.logDriver);
    if (spec.tty) args.push('-t');
    args.push(TEST_IMAGE, 'sh', '-c', spec.script);
    this.names.push(name);
    await docker(args);
    return name;
  }

  async inspect(name: string): Promise<DockerInspect> {
    return JSON.parse(await docker(['inspect', name]))[0] as DockerInspect;
  }

  /** Polls until `check` passes; fails the test with `what` after `timeoutMs`. */
  async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }

  /**
   * Waits until the engine reports `name` (a process that outgrows its memory limit) OOM-killed. An exit
   * without OOMKilled means the engine missed the kernel's OOM event (containerd on cgroup v1 can, when
   * the process dies as the event is read): the container is started again, at most 3 times. A timeout
   * says what the engine showed last.
   */
  async waitForOomKill(name: string, timeoutMs = 60_000): Promise<void> {
    let restarts = 0;
    let last: DockerInspect['State'] | undefined;
    try {
      await this.waitFor(
        `${name} to be OOM-killed`,
        async () => {
          last = (await this.inspect(name)).State;
          if (last.OOMKilled) return true;
          if (last.Status === 'exited' && restarts < 3) {
            restarts++;
            await docker(['start', name]);
          }
          return false;
        },
        timeoutMs,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; restarted ${restarts} times; last state ${JSON.stringify(last)}`);
    }
  }

  async waitForHealth(name: string, status: 'healthy' | 'unhealthy', timeoutMs = 60_000): Promise<void> {
    await this.waitFor(
      `${name} to be ${status}`,
      async () => (await this.inspect(name)).State.Health?.Status === status,
      timeoutMs,
    );
  }

  async cleanup(): Promise<void> {
    const ids = await docker(['ps', '-aq', '--filter', `label=${RUN_LABEL}=${this.prefix}`]);
    if (ids) await docker(['rm', '-f', '-v', ...ids.split(/\s+/)]);
  }
}

export interface DockerInspect {
  Id: string;
  Name: string;
  RestartCount: number;
  State: {
    Status: string;
    Running: boolean;
    Restarting: boolean;
    ExitCode: number;
    OOMKilled: boolean;
    StartedAt: string;
    FinishedAt: string;
    Health?: { Status: string; FailingStreak: number; Log: { ExitCode: number; Output: string }[] };
  };
}
