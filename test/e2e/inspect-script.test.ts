/**
 * `npm run inspect` (scripts/inspect.mjs) with a server started by a command given by a relative path: the
 * inspector runs from test/, so the path must be taken relative to where the caller is (INIT_CWD under
 * `npm run`, the current directory otherwise).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../fixtures/spawn.js';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'scripts/inspect.mjs');
const SERVERS = join(REPO_ROOT, 'servers');
const BIN = 'observability/bin/ravenhelm-mcp-observability.js';
const built = existsSync(join(SERVERS, 'observability/dist/bin.js'));

async function toolsListed(args: string[], cwd: string, initCwd: string): Promise<string[]> {
  const { stdout } = await run(process.execPath, [SCRIPT, ...args, '--stdio', '--method', 'tools/list'], {
    cwd,
    env: { ...process.env, INIT_CWD: initCwd, RAVENHELM_LOG_LEVEL: 'warn' },
    timeout: 60_000,
  });
  return (JSON.parse(stdout) as { tools: { name: string }[] }).tools.map((t) => t.name);
}

describe.runIf(built)('npm run inspect with a relative command path', () => {
  it('resolves it against the current directory when run directly (with -e, through the front end)', async () => {
    const tools = await toolsListed(['-e', 'RAVENHELM_LOG_LEVEL=warn', 'node', BIN], SERVERS, '');
    expect(tools).toContain('metrics_query');
  }, 90_000);

  it('resolves it against INIT_CWD, where `npm run` was typed (npm runs the script from the root)', async () => {
    const tools = await toolsListed(['node', `./${BIN}`], REPO_ROOT, SERVERS);
    expect(tools).toContain('metrics_query');
  }, 90_000);
});
