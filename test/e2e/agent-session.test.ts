/**
 * examples/agent-session.ts run exactly as the README shows it (`npx tsx examples/agent-session.ts
 * --state <dir>`) against the real demo: one read per server over mTLS with the demo's tokens.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoBuilt, type RunningDemo, startDemo } from '../fixtures/demo.js';
import { REPO_ROOT } from '../fixtures/spawn.js';

/** What each server's line must say: the tool called and a summary read from its structured answer. */
const EXPECTED: Record<string, RegExp> = {
  docker: /^docker\s+health_get_report\s+ok: \d+ container\(s\) inspected, \d+ running; (all healthy|problems: .+)$/m,
  observability: /^observability\s+alerts_list\s+ok: \d+ alert\(s\) in Alertmanager/m,
  gitlab: /^gitlab\s+projects_list\s+ok: [1-9]\d* project\(s\) visible: [\w.-]+\/[\w./-]+/m,
  zitadel: /^zitadel\s+users_search\s+ok: [1-9]\d* user\(s\) in Zitadel: \S+/m,
  traefik: /^traefik\s+routers_list\s+ok: [1-9]\d* HTTP router\(s\): \S+@\S+/m,
  secrets: /^secrets\s+secrets_list\s+ok: [1-9]\d* secret\(s\), metadata only: \S+/m,
};

function session(stateDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'examples/agent-session.ts', '--state', stateDir],
      { cwd: REPO_ROOT, timeout: 90_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let demo: RunningDemo | undefined;
const scratch = mkdtempSync(join(tmpdir(), 'rh-session-'));

beforeAll(async () => {
  if (demoBuilt()) demo = await startDemo();
}, 120_000);

afterAll(async () => {
  await demo?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe.runIf(demoBuilt())('the scripted agent session', () => {
  it('calls one read tool per server and prints what it learned', async () => {
    const { code, stdout, stderr } = await session((demo as RunningDemo).stateDir);
    expect(code, `${stdout}\n${stderr}`).toBe(0);
    expect(stdout).toMatch(/^agent spiffe:\/\/ravenhelm\.local\/agent\/oncall/m);
    for (const [server, line] of Object.entries(EXPECTED)) expect(stdout, server).toMatch(line);
    expect(stdout).toContain('session complete: every call answered');
    // Tokens travel in headers only; the session never prints one.
    const state = JSON.parse(readFileSync(join((demo as RunningDemo).stateDir, 'demo.json'), 'utf8')) as {
      servers: { token: string }[];
    };
    for (const s of state.servers) expect(stdout.includes(s.token)).toBe(false);
  }, 120_000);

  it('exits 1 and names the call that failed when a server refuses its token', async () => {
    const state = JSON.parse(readFileSync(join((demo as RunningDemo).stateDir, 'demo.json'), 'utf8')) as {
      servers: { name: string; token: string }[];
    };
    for (const s of state.servers) if (s.name === 'traefik') s.token = `${s.token.slice(0, -8)}AAAAAAAA`;
    writeFileSync(join(scratch, 'demo.json'), JSON.stringify(state));
    const { code, stdout } = await session(scratch);
    expect(code, stdout).toBe(1);
    expect(stdout).toMatch(/^traefik\s+routers_list\s+FAILED: /m);
    expect(stdout).toMatch(EXPECTED.gitlab as RegExp);
    expect(stdout).toContain('session failed: 1 call(s) failed');
  }, 120_000);

  it('exits 2 with a hint when there is no demo state', async () => {
    const { code, stderr } = await session(join(scratch, 'missing'));
    expect(code).toBe(2);
    expect(stderr).toContain('is the demo running?');
  }, 60_000);
});
