import { type AnyTool, toSpec } from '@ravenhelm/kit';
import { dockerServer, ExecOptions, tools } from '@ravenhelm/mcp-docker';
import { PolicySchema, Registry, validateSpec } from '@ravenhelm/registry';
import { describe, expect, it } from 'vitest';

const specs = tools.map((t) => toSpec(dockerServer.name, t as unknown as AnyTool<object>));

describe('docker tools against the registry', () => {
  it("every declaration passes the registry's checks", () => {
    expect(specs.flatMap((s) => validateSpec(s))).toEqual([]);
  });

  it('the registry accepts the whole server and keeps each declared tier', () => {
    const registry = new Registry(specs);
    for (const s of specs) expect(registry.get(s.server, s.name)?.tier).toBe(s.tier);
  });
});

describe('exec allowlist from a policy file', () => {
  it('reaches exec_run as its options, in the shape ExecOptions accepts', () => {
    const policy = PolicySchema.parse({
      servers: {
        docker: {
          tools: {
            exec_run: { options: { allow: [{ container: 'web-*', argv: ['cat', '/etc/hostname'], exact: true }] } },
          },
        },
      },
    });
    const options = new Registry(specs, policy).get('docker', 'exec_run')?.options ?? {};
    expect(ExecOptions.parse(options).allow).toEqual([
      { container: 'web-*', argv: ['cat', '/etc/hostname'], exact: true },
    ]);
  });
});
