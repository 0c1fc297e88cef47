/** The real secrets bin over stdio against the Secrets Manager simulator, with everything it writes captured. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SecretsManagerSimulator } from '../simulators/secrets-manager.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = ['--conditions=@ravenhelm/source', '--import', 'tsx', 'servers/secrets/src/bin.ts'];
export const SPIFFE = 'spiffe://ravenhelm.test/agent/ops';

/** A policy that lets the local principal call everything: HIGH tools on its SPIFFE ID, reveal for `ops`. */
export function policyFor(opts: { confirm?: boolean; revealTo?: string[]; allowForceDelete?: boolean } = {}) {
  return {
    version: 1,
    servers: {
      secrets: {
        confirm: opts.confirm === false ? 'none' : 'destructive',
        spiffe: { default: ['spiffe://ravenhelm.test/agent/*'] },
        tools: {
          secrets_get: { options: opts.revealTo ? { reveal: { subjects: opts.revealTo } } : {} },
          secrets_delete: { options: { allowForceDelete: opts.allowForceDelete ?? false } },
        },
      },
    },
  };
}

// biome-ignore lint/suspicious/noExplicitAny: results are checked field by field in each test
export type Structured = Record<string, any>;

export interface CallResult {
  isError: boolean;
  text: string;
  structured: Structured | undefined;
  raw: unknown;
}

export interface SecretsBin {
  client: Client;
  sim: SecretsManagerSimulator;
  dir: string;
  /** Everything the bin wrote to stderr so far. */
  stderr(): string;
  auditText(): string;
  /** Every tool result seen so far, serialized. */
  results(): string;
  call(name: string, args: Record<string, unknown>): Promise<CallResult>;
  /**
   * Calls a confirm-policy tool: the first call returns a plan and token, the second runs it; a refusal the plan
   * met (no token) is returned as it is.
   */
  confirmed(name: string, args: Record<string, unknown>): Promise<CallResult>;
  close(): Promise<void>;
}

export async function startBin(
  opts: {
    sim?: SecretsManagerSimulator;
    policy?: object;
    subject?: string;
    scopes?: string;
    env?: Record<string, string>;
  } = {},
): Promise<SecretsBin> {
  const sim = opts.sim ?? (await new SecretsManagerSimulator().start());
  const dir = mkdtempSync(join(tmpdir(), 'secrets-bin-'));
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(opts.policy ?? policyFor({ revealTo: ['ops'] })));
  const auditFile = join(dir, 'audit.jsonl');
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    AWS_ENDPOINT_URL: sim.url,
    AWS_REGION: sim.region,
    ...sim.sdkEnv(dir),
    RAVENHELM_POLICY_FILE: policyFile,
    RAVENHELM_AUDIT_FILE: auditFile,
    RAVENHELM_LOG_LEVEL: 'debug',
    RAVENHELM_LOCAL_SUBJECT: opts.subject ?? 'ops',
    RAVENHELM_LOCAL_SCOPES: opts.scopes ?? 'mcp:secrets:admin',
    RAVENHELM_LOCAL_SPIFFE_ID: SPIFFE,
    RAVENHELM_LOCAL_ALLOW_HIGH: 'true',
    ...opts.env,
  };
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...BIN, '--stdio'],
    cwd: ROOT,
    env,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const client = new Client({ name: 'secrets-test', version: '0' });
  await client.connect(transport);
  const seen: string[] = [];
  const call = async (name: string, args: Record<string, unknown>): Promise<CallResult> => {
    const raw = await client.callTool({ name, arguments: args });
    seen.push(JSON.stringify(raw));
    const content = (raw.content as { type: string; text?: string }[] | undefined) ?? [];
    return {
      isError: raw.isError === true,
      text: content.map((c) => c.text ?? '').join('\n'),
      structured: raw.structuredContent as Structured | undefined,
      raw,
    };
  };
  return {
    client,
    sim,
    dir,
    stderr: () => stderr,
    auditText: () => {
      try {
        return readFileSync(auditFile, 'utf8');
      } catch {
        return '';
      }
    },
    results: () => seen.join('\n'),
    call,
    async confirmed(name, args) {
      const first = await call(name, args);
      const meta = (first.raw as { _meta?: Record<string, { token?: string }> })._meta;
      const token = meta?.['ravenhelm/confirmation']?.token;
      if (!first.isError) throw new Error(`${name} did not ask for confirmation: ${first.text}`);
      // a plan that reads the target refuses a call that cannot run before asking (plans.test.ts)
      if (!token) return first;
      return call(name, { ...args, confirmationToken: token });
    },
    async close() {
      await client.close();
      if (!opts.sim) await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fails with the first place a value shows up, naming the channel (never printing the value). */
export function assertNowhere(values: readonly string[], channels: Record<string, string>): void {
  for (const v of values) {
    for (const [channel, text] of Object.entries(channels)) {
      if (text.includes(v)) throw new Error(`a secret value (${v.length} chars) appears in ${channel}`);
      // JSON escaping would hide values with quotes or backslashes: search the escaped form too.
      const escaped = JSON.stringify(v).slice(1, -1);
      if (escaped !== v && text.includes(escaped)) throw new Error(`a secret value (escaped) appears in ${channel}`);
    }
  }
}

/** The real AWS SDK client against the simulator, with its keys and no retries. */
export function sdkFor(sim: SecretsManagerSimulator): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint: sim.url,
    region: sim.region,
    credentials: { accessKeyId: sim.accessKeyId, secretAccessKey: sim.secretAccessKey },
    maxAttempts: 1,
  });
}

/** The error a call to the service fails with (its name and message); throws when the call succeeds. */
export async function awsError(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { name: (err as Error).name, message: (err as Error).message };
  }
  throw new Error('expected the call to fail');
}
