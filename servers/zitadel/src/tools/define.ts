import { createToolDefiner } from '@ravenhelm/kit';
import type { Registry } from '@ravenhelm/registry';
import type { ZitadelBackend } from '../backend.js';
import type { SecretsKeyStore } from '../keystore.js';

/** The Zitadel roles that become MCP scopes: the same three settings the auth package reads. */
export interface RoleMapping {
  projectId?: string | undefined;
  allowedOrgIds: readonly string[];
  roleScopes: Readonly<Record<string, readonly string[]>>;
}

/** What every Zitadel tool handler receives besides the base context. */
export interface ZitadelServices {
  zitadel: ZitadelBackend;
  mapping: RoleMapping;
  /** Where new key files go instead of the tool result; undefined: returned once. */
  keyStore?: SecretsKeyStore | undefined;
  /** Every server's tools under the operator's policy, for "what can this agent do"; undefined when not found. */
  registry: () => Promise<{ registry: Registry; servers: string[] } | undefined>;
}

// Annotated so declaration emit can name the type through the kit's public export.
export const defineTool: ReturnType<typeof createToolDefiner<ZitadelServices>> = createToolDefiner<ZitadelServices>();

export const READ = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false } as const;
/** A change that adds or replaces (tools whose change is destructive or idempotent say so over it). */
export const WRITE = {
  readOnlyHint: false,
  destructiveHint: false,
  idempotentHint: false,
  openWorldHint: false,
} as const;
/** The scope of every tool that changes Zitadel. */
export const ADMIN = ['mcp:zitadel:admin'];
