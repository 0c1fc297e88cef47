/**
 * A tiny compose project for the demo's approval walk-through, so `compose_restart` has something real
 * to restart on any Docker Engine: two containers of a local busybox image (built with `docker import`
 * from the host's /bin/busybox, nothing pulled), labelled as compose labels them, with no network.
 * Containers the demo creates are removed when it stops; a project that already exists is reused and
 * left alone.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const IMAGE = 'ravenhelm-demo/busybox:1';
const BUSYBOX = '/bin/busybox';
const SERVICES = ['web', 'worker'] as const;
// PID 1 ignores SIGTERM unless it traps it: stop (and so restart) takes well under a second.
const SCRIPT = 'trap "exit 0" TERM INT; while :; do sleep 1; done';

const docker = async (args: string[], timeout = 60_000) =>
  (await run('docker', args, { timeout, maxBuffer: 4 * 1024 * 1024 })).stdout.trim();

export interface DemoProject {
  name: string;
  /** What happened, for the startup output. */
  note: string;
  remove(): Promise<void>;
}

/** No project: why not (Docker unreachable, no busybox...). */
export interface NoDemoProject {
  name?: undefined;
  note: string;
  remove?: undefined;
}

async function ensureImage(): Promise<void> {
  try {
    await docker(['image', 'inspect', '--format', '{{.Id}}', IMAGE]);
    return;
  } catch {
    // not built yet
  }
  const dir = await mkdtemp(join(tmpdir(), 'rh-demo-busybox-'));
  try {
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile(BUSYBOX, join(root, 'bin', 'busybox'));
    for (const applet of ['sh', 'sleep']) await symlink('busybox', join(root, 'bin', applet));
    await run('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.'], { timeout: 60_000 });
    await docker(['import', '--change', 'ENV PATH=/bin', '--change', 'CMD ["sh"]', join(dir, 'rootfs.tar'), IMAGE]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Makes sure the compose project `name` runs; only a note (the reason) when Docker is not usable. */
export async function ensureDemoProject(name: string): Promise<DemoProject | NoDemoProject> {
  try {
    await docker(['version', '--format', '{{.Server.Version}}'], 10_000);
  } catch {
    return { note: 'no Docker Engine reachable: the approval walk-through needs one' };
  }
  const label = `com.docker.compose.project=${name}`;
  const existing = await docker(['ps', '-aq', '--filter', `label=${label}`]);
  if (existing) {
    await docker(['start', ...existing.split('\n')]);
    return { name: name, note: `compose project "${name}" already exists: reused`, remove: async () => {} };
  }
  if (!existsSync(BUSYBOX)) return { note: `${BUSYBOX} is missing: the demo cannot build its tiny compose project` };
  await ensureImage();
  const created: string[] = [];
  const remove = async () => {
    if (created.length > 0) await docker(['rm', '-f', ...created]).catch(() => undefined);
  };
  try {
    for (const service of SERVICES) {
      const container = `${name}-${service}-1`;
      await docker([
        'run',
        '-d',
        '--name',
        container,
        '--network',
        'none',
        '--label',
        label,
        '--label',
        `com.docker.compose.service=${service}`,
        '--label',
        'com.docker.compose.container-number=1',
        IMAGE,
        'sh',
        '-c',
        SCRIPT,
      ]);
      created.push(container);
    }
  } catch (err) {
    await remove();
    // Another demo created it at the same moment: use theirs.
    if (await docker(['ps', '-aq', '--filter', `label=${label}`])) {
      return { name: name, note: `compose project "${name}" already exists: reused`, remove: async () => {} };
    }
    return { note: `the demo compose project could not be created: ${(err as Error).message.split('\n')[0]}` };
  }
  return {
    name: name,
    note: `compose project "${name}" (${SERVICES.join(', ')}; busybox, no network) created; removed on Ctrl-C`,
    remove,
  };
}
