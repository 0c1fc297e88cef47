/** The exec allowlist is checked when the server starts: a dangerous rule stops startup, the example policy passes. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryAuditSink, createRuntime, loadConfig, silentLogger } from '@ravenhelm/kit';
import { dockerServer } from '@ravenhelm/mcp-docker';
import { afterAll, describe, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'rh-exec-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function start(policyFile: string) {
  const config = loadConfig({
    backendSchema: dockerServer.backendConfig,
    backendEnv: dockerServer.backendEnv ?? {},
    env: { RAVENHELM_POLICY_FILE: policyFile, DOCKER_HOST: `unix://${dir}/no-such.sock` },
  });
  const rt = await createRuntime(dockerServer as never, config, silentLogger(), { audit: createMemoryAuditSink() });
  await rt.close();
  return rt;
}

function policyWith(allow: string): string {
  const file = join(dir, `policy-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `version: 1\nservers:\n  docker:\n    tools:\n      exec_run:\n        options:\n          allow:\n${allow}`,
  );
  return file;
}

describe('exec allowlist at policy load', () => {
  it('the example policy (exact rules, patterns, rest) starts', async () => {
    await expect(start(join(import.meta.dirname, '../../examples/policy.yaml'))).resolves.toBeDefined();
  });

  it('refuses a variable argument to an interpreter, naming the policy path and the reason', async () => {
    const file = policyWith('            - argv: ["sh", "-c", { pattern: ".*" }]\n');
    await expect(start(file)).rejects.toThrow(
      /servers\.docker\.tools\.exec_run\.options: .*"sh" runs code or other programs/,
    );
  });

  it('refuses variable arguments for a wrapper or an unknown program unless vouched for (audit #8)', async () => {
    await expect(
      start(policyWith('            - { argv: ["ionice", "-c3"], rest: { pattern: ".*", max: 8 } }\n')),
    ).rejects.toThrow(/servers\.docker\.tools\.exec_run\.options: .*"ionice" runs code or other programs/);
    await expect(
      start(
        policyWith(
          '            - { argv: ["/lib/ld-musl-x86_64.so.1"], rest: { pattern: ".*" }, runsPrograms: false }\n',
        ),
      ),
    ).rejects.toThrow(/runs code or other programs/);
    await expect(start(policyWith('            - { argv: ["myctl", { pattern: "[a-z]+" }] }\n'))).rejects.toThrow(
      /"myctl" is not a program known never to run another.*runsPrograms: false/,
    );
    await expect(
      start(policyWith('            - { argv: ["myctl", { pattern: "[a-z]+" }], runsPrograms: false }\n')),
    ).resolves.toBeDefined();
  });

  it('refuses the old prefix form and an unsupported pattern', async () => {
    await expect(start(policyWith('            - { argv: ["cat"], exact: false }\n'))).rejects.toThrow(
      /prefix rules are no longer supported/,
    );
    await expect(start(policyWith('            - { argv: ["cat", { pattern: "(?=x)" }] }\n'))).rejects.toThrow(
      /lookahead/,
    );
  });
});
