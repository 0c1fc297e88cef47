/**
 * The container image, built the way the Dockerfile's run stage lays it out but without pulling a base
 * image (none can be pulled here): the server package is packed with `pnpm pack` and installed from its
 * tarballs with `npm install --omit=dev` into /app, whatever its `bin` runs (the esbuild bundle once
 * the server ships one); the rootfs holds only that, the Node binary at distroless' path /nodejs/bin/node
 * and the shared libraries `ldd` says it needs. It is `docker import`ed and run with --read-only
 * --user 65534 --network none, state on a bind-mounted volume, over stdio with the SDK client.
 *
 * The tool called is containers_list against the host's Docker Engine socket, mounted into the container:
 * that is how the Docker server is deployed, and it is the honest offline check (a real engine answering
 * with a real container), where the HTTP servers' backends cannot be reached with --network none.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { verifyAuditChain } from '@ravenhelm/kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, docker, ensureImage, RUN_LABEL } from '../docker/fixture.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

const execFileP = promisify(execFile);
const SERVER = 'docker';
const PACKAGES = ['shared', 'auth', 'registry', `servers/${SERVER}`];
const IMAGE = `ravenhelm-test/mcp-${SERVER}:${process.pid}-${Date.now().toString(36)}`;
const NODE_IN_IMAGE = '/nodejs/bin/node';
const STATE = '/var/lib/ravenhelm';
const DEV_ONLY = ['vitest', 'typescript', '@biomejs/biome', 'tsx', 'esbuild', 'oidc-provider', 'playwright-core'];

async function registryReachable(): Promise<string | undefined> {
  try {
    await execFileP('npm', ['ping'], { timeout: 20_000, cwd: tmpdir() });
    return undefined;
  } catch (err) {
    return (err as Error).message.split('\n')[0] ?? 'failed';
  }
}

const unreachable = await registryReachable();
if (unreachable) console.warn(`image.test.ts SKIPPED: the npm registry did not answer "npm ping" (${unreachable})`);

/** The shared libraries and loader `ldd` lists for a binary, as absolute paths. */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await execFileP('ldd', [binary], { timeout: 10_000 });
  return [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1] as string);
}

describe.skipIf(unreachable !== undefined)('the server image: read-only, uid 65534, no network', () => {
  const work = mkdtempSync(join(tmpdir(), 'rh-image-'));
  const root = join(work, 'rootfs');
  const state = join(work, 'state');
  const fixture = new DockerFixture('image');
  const figures: string[] = [];
  let listed: string;

  /** The flags the image is run with: read-only root, uid 65534, no network, no capabilities, state on a volume. */
  const restricted = (name: string): string[] => [
    '--name',
    name,
    '--label',
    'ravenhelm.test=1',
    '--label',
    `${RUN_LABEL}=${fixture.prefix}`,
    '--read-only',
    '--user',
    '65534:65534',
    // The engine socket's group: the only privilege the server gets.
    '--group-add',
    String(statSync('/var/run/docker.sock').gid),
    '--network',
    'none',
    '--tmpfs',
    '/tmp',
    '--cap-drop',
    'ALL',
    '--security-opt',
    'no-new-privileges',
    '-v',
    `${state}:${STATE}`,
    '-v',
    '/var/run/docker.sock:/var/run/docker.sock',
  ];

  beforeAll(async () => {
    await ensureImage();
    const tarballs = join(work, 'tarballs');
    mkdirSync(tarballs);
    for (const dir of PACKAGES) {
      await execFileP('npx', ['-y', 'pnpm@10', 'pack', '--pack-destination', tarballs], {
        cwd: join(REPO_ROOT, dir),
        timeout: 120_000,
      });
    }
    const app = join(root, 'app');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'ravenhelm-image', private: true }));
    const files = (await execFileP('ls', [tarballs])).stdout
      .trim()
      .split('\n')
      .map((f) => join(tarballs, f));
    await execFileP('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', ...files], {
      cwd: app,
      timeout: 300_000,
      env: { ...process.env, npm_config_loglevel: 'error' },
    });
    symlinkSync(`node_modules/.bin/ravenhelm-mcp-${SERVER}`, join(app, 'server'));

    // Node and exactly the libraries it links: no shell, no package manager.
    const node = realpathSync(process.execPath);
    mkdirSync(dirname(join(root, NODE_IN_IMAGE)), { recursive: true });
    cpSync(node, join(root, NODE_IN_IMAGE));
    for (const lib of await sharedLibraries(node)) {
      mkdirSync(dirname(join(root, lib)), { recursive: true });
      cpSync(realpathSync(lib), join(root, lib));
    }
    mkdirSync(join(root, 'tmp'));
    mkdirSync(join(root, STATE), { recursive: true });
    chownSync(join(root, STATE), 65534, 65534);

    const { stdout: size } = await execFileP('du', ['-sm', root]);
    figures.push(`rootfs: ${size.split('\t')[0]} MiB`);
    const tar = join(work, 'rootfs.tar');
    await execFileP('tar', ['-C', root, '-cf', tar, '.'], { timeout: 120_000 });
    await docker([
      'import',
      '--change',
      'USER 65534:65534',
      '--change',
      `ENV NODE_ENV=production HOME=${STATE} XDG_STATE_HOME=${STATE}`,
      '--change',
      `VOLUME ["${STATE}"]`,
      '--change',
      'ENV RAVENHELM_HTTP_HOST=0.0.0.0',
      '--change',
      `ENTRYPOINT ["${NODE_IN_IMAGE}", "/app/server"]`,
      '--change',
      'CMD ["--http"]',
      tar,
      IMAGE,
    ]);
    mkdirSync(state);
    chmodSync(state, 0o700);
    chownSync(state, 65534, 65534);
  }, 600_000);

  afterAll(async () => {
    if (figures.length > 0) console.log(`image.test.ts figures:\n${figures.join('\n')}`);
    await fixture.cleanup();
    await docker(['rmi', '-f', IMAGE]).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it('holds no development dependencies, and the entry point is what the package bin runs', () => {
    const modules = join(root, 'app', 'node_modules');
    for (const dev of DEV_ONLY) expect(() => statSync(join(modules, dev)), `${dev} is in the image`).toThrow();
    const manifest = JSON.parse(readFileSync(join(modules, '@ravenhelm', `mcp-${SERVER}`, 'package.json'), 'utf8')) as {
      bin: Record<string, string>;
    };
    const bin = manifest.bin[`ravenhelm-mcp-${SERVER}`] as string;
    expect(realpathSync(join(root, 'app', 'server'))).toBe(
      realpathSync(join(modules, '@ravenhelm', `mcp-${SERVER}`, bin)),
    );
    // The Dockerfile's run stage has the same layout, user, volume and entry point.
    const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENTRYPOINT ["${NODE_IN_IMAGE}", "/app/server"]`);
    expect(dockerfile).toMatch(/^USER 65534:65534$/m);
    expect(dockerfile).toContain(`VOLUME ["${STATE}"]`);
    expect(dockerfile).toContain('npm install --omit=dev');
    expect(dockerfile).toContain('CMD ["--http"]');
    expect(dockerfile).toContain('RAVENHELM_HTTP_HOST=0.0.0.0');
  });

  it('runs --read-only --user 65534 --network none and answers containers_list from the real engine over stdio', async () => {
    const target = await fixture.start({ name: 'listed', script: 'sleep 3600' });
    const name = `${fixture.prefix}-server`;
    const transport = new StdioClientTransport({
      command: 'docker',
      args: [
        'run',
        '-i',
        '--rm',
        ...restricted(name),
        '-e',
        'RAVENHELM_LOCAL_SCOPES=mcp:docker:read',
        IMAGE,
        '--stdio',
      ],
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const client = new Client({ name: 'image-test', version: '0.0.0' });
    const started = performance.now();
    try {
      await client.connect(transport);
      figures.push(`docker run to initialize answered: ${Math.round(performance.now() - started)} ms`);
      const inspect = JSON.parse(await docker(['inspect', name]))[0] as {
        Config: { User: string };
        HostConfig: { ReadonlyRootfs: boolean; NetworkMode: string };
      };
      expect(inspect.Config.User).toBe('65534:65534');
      expect(inspect.HostConfig).toMatchObject({ ReadonlyRootfs: true, NetworkMode: 'none' });

      const tools = (await client.listTools()).tools.map((t) => t.name);
      expect(tools).toContain('containers_list');
      expect(tools).not.toContain('containers_restart'); // read scope only

      const result = (await client.callTool({
        name: 'containers_list',
        arguments: { labels: [`${RUN_LABEL}=${fixture.prefix}`] },
      })) as { isError?: boolean; structuredContent?: { containers: { name: string; state: string }[] } };
      expect(result.isError, JSON.stringify(result)).toBeFalsy();
      const names = result.structuredContent?.containers.map((c) => c.name) ?? [];
      expect(names).toContain(target);
      listed = target;
    } finally {
      await client.close().catch(() => undefined);
    }
    expect(stderr).not.toMatch(/EROFS|EACCES/);
    // The audit log went to the volume, written by uid 65534, chain intact.
    const audit = join(state, 'ravenhelm', SERVER, 'audit.jsonl');
    expect(statSync(audit).uid).toBe(65534);
    const chain = await verifyAuditChain(audit);
    expect(chain.ok).toBe(true);
    expect(readFileSync(audit, 'utf8')).toContain('"containers_list"');
    expect(listed).toBe(target);
  }, 120_000);

  it('serves HTTP by default (its CMD) under the same restrictions: /mcp asks for a token, /readyz says the issuer is out of reach', async () => {
    const name = `${fixture.prefix}-http`;
    await docker([
      'run',
      '-d',
      ...restricted(name),
      // --network none: the issuer cannot be reached, so the replica cannot check tokens and is not ready
      // (/readyz 503 with the reason, docs/troubleshooting.md ERR_AUTH_UNAVAILABLE) while it still answers.
      '-e',
      'RAVENHELM_AUTH_ISSUER=https://issuer.invalid',
      '-e',
      'RAVENHELM_AUTH_JWKS_URI=https://issuer.invalid/jwks',
      '-e',
      'RAVENHELM_AUDIT_FILE=/var/lib/ravenhelm/http-audit.jsonl',
      IMAGE,
    ]);
    // No shell or curl in the image: its own Node asks its own loopback.
    const probe = `const u='http://127.0.0.1:8701';
      const ready = await fetch(u + '/readyz');
      const mcp = await fetch(u + '/mcp', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
      console.log(JSON.stringify({ ready: ready.status, body: await ready.text(), mcp: mcp.status, www: mcp.headers.get('www-authenticate') }));`;
    let answer: { ready: number; body: string; mcp: number; www: string | null } | undefined;
    const deadline = Date.now() + 30_000;
    while (!answer && Date.now() < deadline) {
      try {
        const out = await docker(['exec', name, NODE_IN_IMAGE, '--input-type=module', '-e', probe], 15_000);
        answer = JSON.parse(out.split('\n').pop() ?? '');
      } catch {
        await new Promise((r) => setTimeout(r, 500)); // still starting
      }
    }
    // The server logs JSON to stderr, which `docker logs` gives back on stderr.
    const logs = await execFileP('docker', ['logs', name], { timeout: 15_000 }).then(
      (r) => r.stdout + r.stderr,
      () => '',
    );
    expect(answer, logs).toBeDefined();
    expect(answer).toMatchObject({ ready: 503, mcp: 401 });
    expect(answer?.body).toMatch(/issuer\.invalid/);
    expect(answer?.www).toMatch(/^Bearer resource_metadata=/);
    expect(logs).toMatch(/"msg":"listening"/);
  }, 90_000);
});
