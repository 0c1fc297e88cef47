import {
  type AnyTool,
  argumentDescriptionProblems,
  jsonSchemaOf,
  loadConfig,
  redactConfig,
  silentLogger,
  toolDescriptionProblems,
  toSpec,
} from '@ravenhelm/kit';
import { describe, expect, it } from 'vitest';
import { GitLabBackendConfig, gitlabServer, toolSpecs, tools } from './index.js';

const SCOPE_FOR_TIER = { LOW: 'mcp:gitlab:read', MEDIUM: 'mcp:gitlab:write', HIGH: 'mcp:gitlab:admin' } as const;

describe('gitlab tool declarations', () => {
  it('names are unique <area>_<verb> snake_case, each in a toolset named after its area', () => {
    const names = tools.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    for (const t of tools) {
      expect(t.name).toMatch(/^[a-z]+(_[a-z]+)+$/);
      expect(t.name.startsWith(`${t.toolset}_`), t.name).toBe(true);
    }
    expect(toolSpecs.map((s) => s.name)).toEqual(names);
  });

  it('reads are LOW/read-only; writes MEDIUM; secrets and admin rights HIGH', () => {
    for (const t of tools) {
      expect(t.scopes, t.name).toEqual([SCOPE_FOR_TIER[t.tier]]);
      expect(t.annotations.readOnlyHint, t.name).toBe(t.tier === 'LOW');
      for (const k of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const)
        expect(typeof t.annotations[k]).toBe('boolean');
    }
    expect(tools.filter((t) => t.tier === 'HIGH').map((t) => t.name)).toEqual([
      'variables_set',
      'variables_delete',
      'users_create',
      'users_set_admin',
      'users_block',
      'users_unblock',
    ]);
  });

  it('destructive tools describe their plan; secrets are sensitive inputs', () => {
    for (const t of tools.filter((x) => x.annotations.destructiveHint)) expect(t.plan, t.name).toBeTypeOf('function');
    const sensitive = (name: string) =>
      Object.entries(
        (jsonSchemaOf((tools.find((t) => t.name === name) as AnyTool<object>).input, 'input').properties ??
          {}) as Record<string, { sensitive?: boolean }>,
      )
        .filter(([, s]) => s.sensitive)
        .map(([k]) => k);
    expect(sensitive('variables_set')).toEqual(['value']);
    expect(sensitive('hooks_create')).toEqual(['url', 'token']);
  });

  it('has one-sentence descriptions, inputs described where it adds information, lean object outputs', () => {
    for (const t of tools) {
      expect(toolDescriptionProblems(t.title, t.description), t.name).toEqual([]);
      const spec = toSpec('gitlab', t as unknown as AnyTool<object>);
      expect(spec.outputSchema.type).toBe('object');
      const out = JSON.stringify(spec.outputSchema);
      expect(out, t.name).not.toContain('prefixItems');
      expect(out, t.name).not.toMatch(/"description":"/);
      expect(argumentDescriptionProblems(spec.inputSchema), t.name).toEqual([]);
    }
  });
});

describe('gitlab config', () => {
  it('has working defaults and reads GITLAB_* from the environment, redacting the token', () => {
    expect(GitLabBackendConfig.parse({})).toMatchObject({
      url: 'http://127.0.0.1:8929',
      timeoutMs: 10_000,
      maxRetries: 2,
      allowlist: ['**'],
      memberMaxAccess: 'maintainer',
    });
    const config = loadConfig({
      backendSchema: gitlabServer.backendConfig,
      backendEnv: gitlabServer.backendEnv,
      env: {
        GITLAB_URL: 'https://gitlab.example.test',
        GITLAB_TOKEN: 'glpat-do-not-print',
        GITLAB_ALLOWLIST: 'platform/**, tools/cli',
        GITLAB_TIMEOUT_MS: '2500',
        GITLAB_MAX_RETRY_WAIT_MS: '0',
        GITLAB_MAX_LOG_BYTES: '65536',
      },
    });
    expect(config.backend).toMatchObject({
      url: 'https://gitlab.example.test',
      timeoutMs: 2500,
      maxRetryWaitMs: 0,
      maxLogBytes: 65_536,
      allowlist: ['platform/**', 'tools/cli'],
    });
    const printed = JSON.stringify(redactConfig(config, gitlabServer.secretPaths));
    expect(printed).not.toContain('glpat-do-not-print');
    expect(printed).toContain('[redacted]');
  });

  it('GITLAB_MEMBER_MAX_ACCESS is read at start, and a value that is no GitLab role stops the start naming it', () => {
    const load = (value: string) =>
      loadConfig({
        backendSchema: gitlabServer.backendConfig,
        backendEnv: gitlabServer.backendEnv,
        env: { GITLAB_MEMBER_MAX_ACCESS: value },
      });
    expect(load('developer').backend).toMatchObject({ memberMaxAccess: 'developer' });
    expect(() => load('admin')).toThrow(/GITLAB_MEMBER_MAX_ACCESS|memberMaxAccess/);
  });

  it('refuses a URL that is not one', () => {
    expect(GitLabBackendConfig.safeParse({ url: 'gitlab' }).success).toBe(false);
  });

  it('ready() fails fast with ERR_BACKEND_UNAVAILABLE when GitLab is not there', async () => {
    const config = GitLabBackendConfig.parse({ url: 'http://127.0.0.1:9', token: 't', timeoutMs: 2000 });
    const services = await gitlabServer.createServices(config, { logger: silentLogger() });
    await expect(gitlabServer.ready?.(services, new AbortController().signal)).rejects.toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
    });
  });

  it('without a token it says which setting to set', async () => {
    const services = await gitlabServer.createServices(GitLabBackendConfig.parse({ url: 'http://127.0.0.1:9' }), {
      logger: silentLogger(),
    });
    await expect(gitlabServer.ready?.(services, new AbortController().signal)).rejects.toMatchObject({
      code: 'ERR_BACKEND_UNAVAILABLE',
      message: expect.stringMatching(/GITLAB_TOKEN_FILE/),
    });
  });
});
