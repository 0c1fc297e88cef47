import { describe, expect, it } from 'vitest';
import { EMPTY_POLICY, PolicyError, parsePolicy, serverPolicy } from './policy.js';

function errorOf(text: string, source?: string): PolicyError {
  try {
    parsePolicy(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyError);
    return err as PolicyError;
  }
  throw new Error('expected parsePolicy to throw');
}

describe('parsePolicy', () => {
  it('treats an empty document as the empty policy', () => {
    expect(parsePolicy('')).toEqual(EMPTY_POLICY);
    expect(parsePolicy('# only a comment\n')).toEqual(EMPTY_POLICY);
  });

  it('fills defaults for a server entry', () => {
    const p = parsePolicy('servers:\n  docker:\n    readOnly: true\n');
    expect(serverPolicy(p, 'docker')).toEqual({
      readOnly: true,
      toolsets: { disabled: [] },
      confirm: 'none',
      spiffe: { default: [], toolsets: {} },
      approve: { toolsets: {} },
      tools: {},
    });
    expect(serverPolicy(p, 'observability').readOnly).toBe(false);
  });

  it('reads JSON too', () => {
    expect(parsePolicy('{"servers":{"docker":{"confirm":"destructive"}}}').servers.docker?.confirm).toBe('destructive');
  });

  it('names the source and says the YAML is broken', () => {
    const err = errorOf('servers: [unclosed', 'ops/policy.yaml');
    expect(err.message).toMatch(/^ops\/policy\.yaml: not valid YAML: /);
    expect(err.code).toBe('ERR_POLICY_INVALID');
  });

  it.each([
    ['servers:\n  docker:\n    tools:\n    containers_list: {}\n', 'servers.docker.tools'],
    [
      'servers:\n  docker:\n    tools:\n      containers_list:\n        tier: CRITICAL\n',
      'servers.docker.tools.containers_list.tier',
    ],
    ['servers:\n  docker:\n    readOnly: "yes"\n', 'servers.docker.readOnly'],
    ['servers:\n  docker:\n    confirm: always\n', 'servers.docker.confirm'],
    ['servers:\n  docker:\n    spiffe:\n      default: ["https://x"]\n', 'servers.docker.spiffe.default.0'],
    [
      'servers:\n  docker:\n    spiffe:\n      toolsets:\n        exec: ["spiffe://td/a/*/b"]\n',
      'servers.docker.spiffe.toolsets.exec.0',
    ],
    ['servers:\n  docker:\n    toolsets:\n      enabled: containers\n', 'servers.docker.toolsets.enabled'],
    ['version: 2\n', 'version'],
  ])('names the path of the mistake (%#)', (text, path) => {
    expect(errorOf(text, 'p.yaml').message).toMatch(new RegExp(`^p\\.yaml: ${path.replace(/\./g, '\\.')}: `));
  });

  it('rejects unknown keys, naming where they are', () => {
    const err = errorOf('servers:\n  docker:\n    tools:\n      exec_run:\n        tierr: HIGH\n');
    expect(err.message).toContain('servers.docker.tools.exec_run: ');
    expect(err.message).toContain('tierr');
    expect(errorOf('server: {}\n').message).toMatch(/^policy: \(root\): .*server/);
  });

  it('accepts SPIFFE patterns: exact, /* and /**', () => {
    const p = parsePolicy(
      'servers:\n  docker:\n    spiffe:\n      default:\n        - spiffe://ravenhelm.local/agent/oncall\n        - spiffe://ravenhelm.local/agent/*\n        - spiffe://ravenhelm.local/ops/**\n',
    );
    expect(p.servers.docker?.spiffe.default).toHaveLength(3);
  });
});
