import { describe, expect, it } from 'vitest';
import { demoSpecs, spec } from '../test/specs.js';
import { type Policy, PolicyError, parsePolicy } from './policy.js';
import { Registry, validateSpec } from './registry.js';
import type { ToolSpec } from './types.js';

const ANNOTATIONS = ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const;
const AGENT = 'spiffe://ravenhelm.local/agent/oncall';

function policy(servers: Record<string, unknown>): Policy {
  return parsePolicy(JSON.stringify({ servers }));
}

function registry(servers: Record<string, unknown> = {}, specs: ToolSpec[] = demoSpecs()): Registry {
  return new Registry(specs, policy(servers));
}

const admin = { scopes: ['mcp:demo:admin'], spiffeId: AGENT };

describe('validateSpec', () => {
  it('accepts a complete declaration', () => {
    expect(validateSpec(spec())).toEqual([]);
  });

  it.each([
    ['toolset', { toolset: '' }, 'toolset is required'],
    ['title', { title: '  ' }, 'title is required'],
    ['description', { description: '' }, 'description is required'],
    ['tier', { tier: 'CRITICAL' as never }, 'tier must be LOW, MEDIUM or HIGH'],
    ['scopes', { scopes: [] }, 'at least one scope is required'],
    ['output schema', { outputSchema: undefined as never }, 'output schema must be a JSON Schema of type object'],
    [
      'object output schema',
      { outputSchema: { type: 'string' } },
      'output schema must be a JSON Schema of type object',
    ],
    ['object input schema', { inputSchema: { type: 'array' } }, 'input schema must be a JSON Schema of type object'],
  ])('reports a missing or wrong %s', (_what, overrides, message) => {
    expect(validateSpec(spec(overrides))).toEqual([`demo/things_list: ${message}`]);
  });

  it.each(ANNOTATIONS)('reports a missing %s annotation', (key) => {
    const annotations = { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false };
    delete (annotations as Partial<typeof annotations>)[key];
    expect(validateSpec(spec({ annotations }))).toEqual([`demo/things_list: annotation ${key} must be explicit`]);
  });

  it('reports every annotation when the annotations are absent', () => {
    expect(validateSpec(spec({ annotations: undefined as never }))).toHaveLength(4);
  });

  it.each([
    'list',
    'ThingsList',
    'things-list',
    'things_List',
    '_things_list',
    'things__list',
    'things_list_',
    '1_list',
  ])('rejects the tool name %s', (name) => {
    expect(validateSpec(spec({ name }))).toEqual([`demo/${name}: name must be <area>_<verb> in snake_case`]);
  });

  it.each(['containers_list', 'pipelines_get_status', 'exec_run', 'v2_list'])('accepts the tool name %s', (name) => {
    expect(validateSpec(spec({ name }))).toEqual([]);
  });

  it.each(['mcp:other:read', 'mcp:demo:root', 'read', 'mcp:demo'])('rejects the scope %s', (scope) => {
    expect(validateSpec(spec({ scopes: [scope] }))).toEqual([
      `demo/things_list: scope '${scope}' must be mcp:demo:<read|write|admin>`,
    ]);
  });

  it('rejects a tool that is both read-only and destructive', () => {
    const annotations = { readOnlyHint: true, destructiveHint: true, idempotentHint: true, openWorldHint: false };
    expect(validateSpec(spec({ annotations }))).toEqual(['demo/things_list: a read-only tool cannot be destructive']);
  });

  it('rejects a read-only tool that is not idempotent (tools/list leaves that hint off read-only tools)', () => {
    const annotations = { readOnlyHint: true, destructiveHint: false, idempotentHint: false, openWorldHint: false };
    expect(validateSpec(spec({ annotations }))).toEqual([
      'demo/things_list: a read-only tool is idempotent; set idempotentHint: true',
    ]);
  });
});

describe('Registry construction', () => {
  it('rejects duplicate tool names within a server', () => {
    expect(() => new Registry([spec(), spec({ title: 'Again' })])).toThrow('demo/things_list: duplicate tool name');
  });

  it('allows the same tool name on different servers', () => {
    const specs = [spec(), spec({ server: 'other', scopes: ['mcp:other:read'] })];
    expect(new Registry(specs).all()).toHaveLength(2);
  });

  it('lists every problem of every invalid declaration at once', () => {
    const bad = [spec({ title: '' }), spec({ name: 'BAD', toolset: '' })];
    expect(() => new Registry(bad)).toThrow(/title is required[\s\S]*BAD: name must[\s\S]*BAD: toolset is required/);
  });

  it('keeps declaration order', () => {
    expect(
      registry()
        .all('demo')
        .map((t) => t.name),
    ).toEqual(['things_list', 'things_restart', 'things_delete', 'secrets_rotate']);
  });
});

describe('Registry.decide: the filter order', () => {
  it('step 1: a toolset outside `toolsets.enabled` is off', () => {
    const r = registry({ demo: { toolsets: { enabled: ['things'] } } });
    expect(r.decide('demo', 'secrets_rotate', admin)).toMatchObject({ allowed: false, reason: 'toolset-disabled' });
    expect(r.decide('demo', 'things_list', admin).allowed).toBe(true);
  });

  it('step 1: a toolset in `toolsets.disabled` is off, before read-only mode is considered', () => {
    const r = registry({ demo: { readOnly: true, toolsets: { disabled: ['things'] } } });
    expect(r.decide('demo', 'things_restart', admin)).toMatchObject({ allowed: false, reason: 'toolset-disabled' });
    expect(r.decide('demo', 'things_list', admin)).toMatchObject({ allowed: false, reason: 'toolset-disabled' });
  });

  it('step 2: read-only mode keeps exactly the tools with readOnlyHint, before the policy file', () => {
    const r = registry({ demo: { readOnly: true, tools: { things_restart: { enabled: false } } } });
    expect(r.decide('demo', 'things_list', admin).allowed).toBe(true);
    expect(r.decide('demo', 'things_restart', admin)).toMatchObject({ allowed: false, reason: 'read-only' });
    expect(r.decide('demo', 'things_delete', admin)).toMatchObject({ allowed: false, reason: 'read-only' });
    expect(r.enabled('demo').map((t) => t.name)).toEqual(['things_list']);
  });

  it('step 2: read-only mode follows the annotation, not a list', () => {
    const writeAnnotations = {
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    };
    const specs = [spec({ name: 'things_get' }), spec({ name: 'things_touch', annotations: writeAnnotations })];
    const r = registry({ demo: { readOnly: true } }, specs);
    expect(r.enabled('demo').map((t) => t.name)).toEqual(['things_get']);
  });

  it('step 3: the policy file disables a tool, before the caller is considered', () => {
    const r = registry({ demo: { tools: { things_list: { enabled: false } } } });
    expect(r.decide('demo', 'things_list', admin)).toMatchObject({ allowed: false, reason: 'policy-disabled' });
    expect(r.decide('demo', 'things_list', { scopes: [] })).toMatchObject({
      allowed: false,
      reason: 'policy-disabled',
    });
    expect(r.decide('demo', 'things_restart', admin).allowed).toBe(true);
  });

  it('step 4: the caller needs the scopes, and is told which are missing', () => {
    const r = registry();
    expect(r.decide('demo', 'things_restart', { scopes: ['mcp:demo:read'] })).toMatchObject({
      allowed: false,
      reason: 'insufficient-scope',
      missingScopes: ['mcp:demo:write'],
    });
    expect(r.decide('demo', 'things_list', { scopes: ['mcp:other:admin'] })).toMatchObject({
      reason: 'insufficient-scope',
      missingScopes: ['mcp:demo:read'],
    });
  });

  it('step 4: admin implies write implies read', () => {
    const r = registry();
    for (const scopes of [['mcp:demo:read'], ['mcp:demo:write'], ['mcp:demo:admin']]) {
      expect(r.decide('demo', 'things_list', { scopes }).allowed).toBe(true);
    }
    expect(r.decide('demo', 'things_restart', { scopes: ['mcp:demo:admin'] }).allowed).toBe(true);
    expect(r.decide('demo', 'things_restart', { scopes: ['mcp:demo:write'] }).allowed).toBe(true);
  });

  it('step 4: HIGH needs a SPIFFE ID on the allowlist, checked after scopes', () => {
    const r = registry({ demo: { spiffe: { default: ['spiffe://ravenhelm.local/agent/*'] } } });
    expect(r.decide('demo', 'secrets_rotate', { scopes: ['mcp:demo:admin'] })).toMatchObject({
      allowed: false,
      reason: 'spiffe-required',
    });
    expect(
      r.decide('demo', 'secrets_rotate', { scopes: ['mcp:demo:admin'], spiffeId: 'spiffe://ravenhelm.local/ci/build' }),
    ).toMatchObject({ allowed: false, reason: 'spiffe-required' });
    expect(r.decide('demo', 'secrets_rotate', { scopes: ['mcp:demo:write'], spiffeId: AGENT })).toMatchObject({
      reason: 'insufficient-scope',
    });
    expect(r.decide('demo', 'secrets_rotate', admin).allowed).toBe(true);
  });

  it('step 4: HIGH with no allowlist admits nobody', () => {
    expect(registry().decide('demo', 'secrets_rotate', admin)).toMatchObject({ reason: 'spiffe-required' });
  });

  it('step 4: tiers below HIGH do not look at the SPIFFE ID', () => {
    expect(registry().decide('demo', 'things_delete', { scopes: ['mcp:demo:write'] }).allowed).toBe(true);
  });

  it('answers unknown-tool for a name it does not know', () => {
    expect(registry().decide('demo', 'things_fly', admin)).toEqual({ allowed: false, reason: 'unknown-tool' });
    expect(registry().decide('nowhere', 'things_list', admin)).toEqual({ allowed: false, reason: 'unknown-tool' });
  });
});

describe('Registry.visibleTo', () => {
  const r = registry({
    demo: { spiffe: { default: [AGENT] }, tools: { things_delete: { enabled: false } } },
  });

  it('shows a reader only the read tools', () => {
    expect(r.visibleTo('demo', { scopes: ['mcp:demo:read'] }).map((t) => t.name)).toEqual(['things_list']);
  });

  it('shows a writer the write tools except those the policy disabled', () => {
    expect(r.visibleTo('demo', { scopes: ['mcp:demo:write'] }).map((t) => t.name)).toEqual([
      'things_list',
      'things_restart',
    ]);
  });

  it('shows HIGH tools only to an allowlisted workload', () => {
    expect(r.visibleTo('demo', { scopes: ['mcp:demo:admin'] }).map((t) => t.name)).not.toContain('secrets_rotate');
    expect(r.visibleTo('demo', admin).map((t) => t.name)).toEqual(['things_list', 'things_restart', 'secrets_rotate']);
  });

  it('shows nothing without scopes, and nothing of another server', () => {
    expect(r.visibleTo('demo', { scopes: [] })).toEqual([]);
    expect(r.visibleTo('other', admin)).toEqual([]);
  });
});

describe('policy applied to tools', () => {
  it('raises a tier', () => {
    const r = registry({ demo: { tools: { things_restart: { tier: 'HIGH' } } } });
    expect(r.get('demo', 'things_restart')).toMatchObject({ tier: 'HIGH', declaredTier: 'MEDIUM' });
    expect(r.decide('demo', 'things_restart', { scopes: ['mcp:demo:write'] })).toMatchObject({
      reason: 'spiffe-required',
    });
  });

  it('accepts restating the declared tier', () => {
    const r = registry({ demo: { tools: { things_restart: { tier: 'MEDIUM' } } } });
    expect(r.get('demo', 'things_restart')?.tier).toBe('MEDIUM');
  });

  it('rejects lowering a tier, naming the tool and both tiers', () => {
    const attempt = () => registry({ demo: { tools: { secrets_rotate: { tier: 'LOW' } } } });
    expect(attempt).toThrow(PolicyError);
    expect(attempt).toThrow(
      'policy servers.demo.tools.secrets_rotate.tier: LOW is below the default HIGH; a policy can raise a tier, never lower it',
    );
  });

  it.each([
    [{ tools: { things_fly: { enabled: false } } }, 'policy servers.demo.tools.things_fly: no such tool'],
    [{ toolsets: { enabled: ['thingz'] } }, "policy servers.demo: no toolset named 'thingz'"],
    [{ toolsets: { disabled: ['thingz'] } }, "policy servers.demo: no toolset named 'thingz'"],
    [{ spiffe: { toolsets: { thingz: [AGENT] } } }, "policy servers.demo: no toolset named 'thingz'"],
    [{ toolsets: { initial: ['thingz'] } }, "policy servers.demo: no toolset named 'thingz'"],
  ])('rejects unknown names: %j', (server, message) => {
    expect(() => registry({ demo: server })).toThrow(message);
  });

  it('reads the dynamic toolsets start set: all, default or a list', () => {
    expect(registry({ demo: { toolsets: { initial: 'default' } } }).policy.servers.demo?.toolsets.initial).toBe(
      'default',
    );
    expect(registry({ demo: { toolsets: { initial: ['things'] } } }).policy.servers.demo?.toolsets.initial).toEqual([
      'things',
    ]);
    expect(() => registry({ demo: { toolsets: { initial: 'some' } } })).toThrow();
  });

  it('ignores servers this process does not run', () => {
    expect(() => registry({ elsewhere: { tools: { anything_at_all: { enabled: false } } } })).not.toThrow();
  });

  it('`confirm: destructive` marks only the tools with destructiveHint', () => {
    const r = registry({ demo: { confirm: 'destructive' } });
    expect(
      r
        .all('demo')
        .filter((t) => t.confirm)
        .map((t) => t.name),
    ).toEqual(['things_delete', 'secrets_rotate']);
    expect(
      registry()
        .all('demo')
        .some((t) => t.confirm),
    ).toBe(false);
  });

  it('a tool entry overrides the server-wide confirm setting', () => {
    const r = registry({ demo: { confirm: 'destructive', tools: { things_delete: { confirm: false } } } });
    expect(r.get('demo', 'things_delete')?.confirm).toBe(false);
    expect(r.get('demo', 'secrets_rotate')?.confirm).toBe(true);
  });

  it('SPIFFE allowlists: a tool entry beats its toolset, which beats the server default', () => {
    const r = registry(
      {
        demo: {
          spiffe: {
            default: ['spiffe://ravenhelm.local/default'],
            toolsets: { secrets: ['spiffe://ravenhelm.local/ts'] },
          },
          tools: { secrets_rotate: { spiffe: ['spiffe://ravenhelm.local/tool'] } },
        },
      },
      [...demoSpecs(), spec({ name: 'secrets_reveal', toolset: 'secrets', tier: 'HIGH', scopes: ['mcp:demo:admin'] })],
    );
    expect(r.get('demo', 'secrets_rotate')?.spiffeAllow).toEqual(['spiffe://ravenhelm.local/tool']);
    expect(r.get('demo', 'secrets_reveal')?.spiffeAllow).toEqual(['spiffe://ravenhelm.local/ts']);
    expect(r.get('demo', 'things_list')?.spiffeAllow).toEqual(['spiffe://ravenhelm.local/default']);
    const caller = (spiffeId: string) => ({ scopes: ['mcp:demo:admin'], spiffeId });
    expect(r.decide('demo', 'secrets_rotate', caller('spiffe://ravenhelm.local/tool')).allowed).toBe(true);
    expect(r.decide('demo', 'secrets_rotate', caller('spiffe://ravenhelm.local/ts')).allowed).toBe(false);
    expect(r.decide('demo', 'secrets_reveal', caller('spiffe://ravenhelm.local/default')).allowed).toBe(false);
  });

  it('an empty tool allowlist shuts a HIGH tool even when the server default would admit the caller', () => {
    const r = registry({ demo: { spiffe: { default: [AGENT] }, tools: { secrets_rotate: { spiffe: [] } } } });
    expect(r.decide('demo', 'secrets_rotate', admin)).toMatchObject({ reason: 'spiffe-required' });
  });

  it('hands per-tool options through untouched', () => {
    const allow = [{ container: 'web-*', argv: ['cat', '/etc/hostname'] }];
    const r = registry({ demo: { tools: { things_restart: { options: { allow } } } } });
    expect(r.get('demo', 'things_restart')?.options).toEqual({ allow });
    expect(r.get('demo', 'things_list')?.options).toEqual({});
  });
});

describe('policy: human approval', () => {
  it('is off by default', () => {
    for (const t of registry().all()) expect(t.approval).toBeNull();
  });

  it('applies a toolset rule with defaults, and a tool entry wins over it', () => {
    const r = registry({
      demo: {
        approve: { toolsets: { things: {} } },
        tools: { things_delete: { approve: { approvers: 'ops-approver', count: 2, ttl: '2h' } } },
      },
    });
    expect(r.get('demo', 'things_restart')?.approval).toEqual({
      approvers: 'mcp:approvals:approve',
      count: 1,
      ttlSeconds: 1800,
    });
    expect(r.get('demo', 'things_delete')?.approval).toEqual({ approvers: 'ops-approver', count: 2, ttlSeconds: 7200 });
    expect(r.get('demo', 'secrets_rotate')?.approval).toBeNull();
  });

  it('lets a tool entry turn a toolset rule off when the tool has no approval by default', () => {
    const r = registry({
      demo: { approve: { toolsets: { things: {} } }, tools: { things_list: { approve: false } } },
    });
    expect(r.get('demo', 'things_list')?.approval).toBeNull();
    expect(r.get('demo', 'things_restart')?.approval).not.toBeNull();
  });

  it('never removes or lowers an approval the tool requires by default', () => {
    const specs = demoSpecs().map((s) =>
      s.name === 'secrets_rotate' ? { ...s, approval: { approvers: 'sec', count: 2 as const, ttlSeconds: 600 } } : s,
    );
    expect(registry({}, specs).get('demo', 'secrets_rotate')?.approval).toEqual({
      approvers: 'sec',
      count: 2,
      ttlSeconds: 600,
    });
    expect(() => registry({ demo: { tools: { secrets_rotate: { approve: false } } } }, specs)).toThrow(
      'policy servers.demo.tools.secrets_rotate.approve: secrets_rotate requires approval by default; a policy can require approval, never remove it',
    );
    expect(() => registry({ demo: { tools: { secrets_rotate: { approve: { count: 1 } } } } }, specs)).toThrow(
      /approve\.count: 1 is below the default 2 approvers/,
    );
    expect(() => registry({ demo: { approve: { toolsets: { secrets: { count: 1 } } } } }, specs)).toThrow(
      /approve\.toolsets\.secrets\.approve\.count: 1 is below/,
    );
  });

  it('rejects an unknown toolset and malformed rules, naming the path', () => {
    expect(() => registry({ demo: { approve: { toolsets: { thingz: {} } } } })).toThrow(
      "policy servers.demo: no toolset named 'thingz'",
    );
    const bad = (rule: unknown) => () =>
      parsePolicy(JSON.stringify({ servers: { demo: { tools: { things_delete: { approve: rule } } } } }));
    expect(bad({ count: 3 })).toThrow(/servers\.demo\.tools\.things_delete\.approve\.count/);
    expect(bad({ ttl: '30 minutes' })).toThrow(/approve\.ttl: must be a duration like/);
    expect(bad({ ttl: '30s' })).toThrow(/approve\.ttl: must be between 1m and 24h/);
    expect(bad({ ttl: '25h' })).toThrow(/approve\.ttl: must be between 1m and 24h/);
    expect(bad({ approvers: 'two words' })).toThrow(/approve\.approvers: must be a scope or role name/);
    expect(bad({ approvers: 'x', extra: 1 })).toThrow(/things_delete\.approve/);
    expect(bad(true)).toThrow(/approve/);
  });
});
