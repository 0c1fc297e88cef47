import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePolicy, serverPolicy } from './policy.js';

// The documented example must stay a valid policy; test/registry checks it against the real tools too.
const text = readFileSync(join(import.meta.dirname, '..', '..', 'examples', 'policy.yaml'), 'utf8');

describe('examples/policy.yaml', () => {
  it('parses', () => {
    expect(() => parsePolicy(text, 'examples/policy.yaml')).not.toThrow();
  });

  it('shows every kind of key', () => {
    const docker = serverPolicy(parsePolicy(text), 'docker');
    expect(docker.confirm).toBe('destructive');
    expect(docker.toolsets.enabled).toContain('exec');
    expect(docker.spiffe.default.length).toBeGreaterThan(0);
    expect(Object.keys(docker.spiffe.toolsets)).toContain('exec');
    expect(docker.tools.exec_run?.options).toEqual({
      allow: [
        { container: 'web-*', argv: ['cat', '/etc/hostname'] },
        { container: 'db', argv: ['pg_isready', '-h', { pattern: '[a-z0-9.-]{1,63}' }] },
        {
          container: 'web-*',
          argv: ['ls', '-l'],
          rest: { pattern: '/var/log(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*', max: 4 },
        },
      ],
    });
    const entries = Object.values(docker.tools);
    for (const key of ['enabled', 'tier', 'confirm', 'spiffe', 'options', 'approve'] as const) {
      expect(
        entries.some((t) => key in t),
        `no example of tools.<name>.${key}`,
      ).toBe(true);
    }
    expect(serverPolicy(parsePolicy(text), 'observability').readOnly).toBe(true);
  });
});
