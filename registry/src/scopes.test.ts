import { describe, expect, it } from 'vitest';
import { isValidScope, missingScopes, scopeSatisfied } from './scopes.js';

describe('scopeSatisfied', () => {
  it.each([
    [['mcp:docker:read'], 'mcp:docker:read', true],
    [['mcp:docker:write'], 'mcp:docker:read', true],
    [['mcp:docker:admin'], 'mcp:docker:read', true],
    [['mcp:docker:admin'], 'mcp:docker:write', true],
    [['mcp:docker:read'], 'mcp:docker:write', false],
    [['mcp:docker:write'], 'mcp:docker:admin', false],
    [['mcp:observability:admin'], 'mcp:docker:read', false],
    [['mcp:docker-x:admin'], 'mcp:docker:read', false],
    [['custom.scope'], 'custom.scope', true],
    [['mcp:docker:admin'], 'custom.scope', false],
    [[], 'mcp:docker:read', false],
  ])('%j satisfies %s: %s', (granted, required, expected) => {
    expect(scopeSatisfied(granted, required)).toBe(expected);
  });
});

describe('missingScopes', () => {
  it('lists only the scopes not implied by a grant', () => {
    expect(missingScopes(['mcp:docker:write'], ['mcp:docker:read', 'mcp:docker:admin', 'mcp:loki:read'])).toEqual([
      'mcp:docker:admin',
      'mcp:loki:read',
    ]);
    expect(missingScopes(['mcp:docker:admin'], ['mcp:docker:read', 'mcp:docker:write'])).toEqual([]);
  });
});

describe('isValidScope', () => {
  it('accepts RFC 6749 scope tokens and rejects spaces, quotes and backslashes', () => {
    expect(isValidScope('mcp:docker:read')).toBe(true);
    for (const bad of ['', 'a b', 'a"b', 'a\\b']) expect(isValidScope(bad)).toBe(false);
  });
});
