/**
 * A bundled bin (scripts/bundle.mjs: esbuild, code splitting; what `bin`, images and packed packages
 * run) on Redis: through Sentinel it starts and serves through the SDK client; pointed at a replica by a
 * plain URL it exits with the reason. Both load ioredis and its standalone connector from split chunks,
 * where CommonJS exports arrive only as `default` (a destructured `Redis` was undefined there: every
 * bundled server with RAVENHELM_REDIS_URL failed to start with "RedisClient is not a constructor").
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  listToolsOverStdio,
  SENTINEL_DATA_PASSWORD,
  SENTINEL_PASSWORD,
  useSentinelSet,
} from '../fixtures/redis-sentinel.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

const BIN = join(REPO_ROOT, 'servers/docker/bundle/ravenhelm-mcp-docker.mjs');

describe('a bundled bin on Redis', () => {
  const s = useSentinelSet();
  const dir = mkdtempSync(join(tmpdir(), 'rh-bundle-redis-'));
  const env = (url: string) => ({
    PATH: process.env.PATH ?? '',
    RAVENHELM_REDIS_URL: url,
    RAVENHELM_REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
    RAVENHELM_AUDIT_FILE: join(dir, 'audit.jsonl'),
    RAVENHELM_LOCAL_SCOPES: 'mcp:docker:read',
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts through Sentinel and answers tools/list', async () => {
    expect(existsSync(BIN), 'run `node scripts/bundle.mjs docker` (or the build) first').toBe(true);
    const { tools, stderr } = await listToolsOverStdio(BIN, env(s.set.url));
    expect(tools.length, stderr).toBeGreaterThan(0);
    expect(stderr).not.toContain(SENTINEL_DATA_PASSWORD);
    expect(stderr).not.toContain(SENTINEL_PASSWORD);
  }, 30_000);

  it('pointed at a replica by a plain URL, exits saying so', async () => {
    const primary = await s.set.primaryPort();
    const replica = [...s.set.nodes.keys()].find((p) => p !== primary) as number;
    const child = spawn(process.execPath, [BIN, '--stdio'], {
      env: env(`redis://:${SENTINEL_DATA_PASSWORD}@127.0.0.1:${replica}`),
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain(`answers as a read-only slave, not a primary`);
    expect(stderr).not.toContain(SENTINEL_DATA_PASSWORD);
  }, 30_000);
});
