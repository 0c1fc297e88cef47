import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContractBackend } from './types.js';

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
