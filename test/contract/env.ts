import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { ContractBackend, ContractSuite } from './types.js';

/**
 * The environment a server's bin runs with against a contract backend: PATH and HOME, quiet logs, an
 * audit file per transport in `dir`, the caller's extras, then the suite's own settings (they win: its
 * policy may name its own SPIFFE ID, scopes or subject). Without a policy file from the suite,
 * `defaultPolicy` is written to `dir` and used.
 */
export function contractBinEnv(o: {
  dir: string;
  backend: ContractBackend;
  transport: string;
  extra: Record<string, string>;
  defaultPolicy: string;
}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? o.dir,
    RAVENHELM_LOG_LEVEL: 'warn',
    RAVENHELM_AUDIT_FILE: join(o.dir, `audit-${o.transport}.jsonl`),
    ...o.extra,
    ...o.backend.env,
  };
  if (!env.RAVENHELM_POLICY_FILE) {
    env.RAVENHELM_POLICY_FILE = join(o.dir, 'policy.yaml');
    writeFileSync(env.RAVENHELM_POLICY_FILE, o.defaultPolicy);
  }
  return env;
}

/**
 * Inside a describe block: sets up the suite's backend before its tests and stops it after, with a
 * private scratch folder. `backend` is readable once the tests run; `envFor` builds a bin's environment.
 */
export function useContractBackend(o: { name: string; suite: ContractSuite; prefix: string; defaultPolicy: string }) {
  const dir = mkdtempSync(join(tmpdir(), `${o.prefix}-${o.name}-`));
  let current: ContractBackend | undefined;
  beforeAll(async () => {
    current = await o.suite.setup();
  }, 180_000);
  afterAll(async () => {
    await current?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const backend = (): ContractBackend => {
    if (!current) throw new Error(`the ${o.name} contract backend is not set up (only read it inside a test)`);
    return current;
  };
  return {
    dir,
    backend,
    envFor: (transport: string, extra: Record<string, string>) =>
      contractBinEnv({ dir, backend: backend(), transport, extra, defaultPolicy: o.defaultPolicy }),
  };
}
