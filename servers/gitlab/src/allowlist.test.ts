import { describe, expect, it } from 'vitest';
import { Allowlist } from './allowlist.js';

describe('Allowlist', () => {
  it('matches one segment with *, any depth with **, including the group itself', () => {
    const a = new Allowlist(['platform/**', 'tools/cli', 'apps/*-svc']);
    for (const ok of [
      'platform',
      'platform/api',
      'platform/infra/terraform',
      'tools/cli',
      'apps/pay-svc',
      'Apps/Pay-Svc',
    ])
      expect(a.allows(ok), ok).toBe(true);
    for (const no of ['platformx', 'tools/cli2', 'tools', 'apps/pay-svc/sub', 'other/api', 'apps/pay'])
      expect(a.allows(no), no).toBe(false);
  });

  it('** alone allows everything; an empty list allows nothing', () => {
    expect(new Allowlist(['**']).allows('a/b/c')).toBe(true);
    expect(new Allowlist([]).allows('a')).toBe(false);
  });

  it('treats regex metacharacters in paths literally', () => {
    const a = new Allowlist(['my.group/a+b']);
    expect(a.allows('my.group/a+b')).toBe(true);
    expect(a.allows('myXgroup/aab')).toBe(false);
  });

  it('check() refuses with ERR_NOT_ALLOWED naming the path', () => {
    expect(() => new Allowlist(['team/**']).check('project', 'secret/vault')).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_ALLOWED', message: expect.stringContaining('secret/vault') }),
    );
  });
});

describe('Allowlist subtrees (changes that reach everything in a group)', () => {
  it('a group is covered with all it holds only under a pattern ending in /**', () => {
    const a = new Allowlist(['platform/*', 'team/**', 'apps/*/**']);
    for (const ok of ['team', 'team/sub', 'team/sub/deeper', 'apps/pay', 'apps/pay/svc'])
      expect(a.allowsSubtree(ok), ok).toBe(true);
    // platform/infra is allowed as a path, but platform/infra/terraform is not
    expect(a.allows('platform/infra')).toBe(true);
    for (const no of ['platform/infra', 'platform', 'apps', 'other']) expect(a.allowsSubtree(no), no).toBe(false);
    expect(() => a.checkSubtree('platform/infra')).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_ALLOWED', message: expect.stringContaining('"platform/infra/**"') }),
    );
  });

  it('** covers every group; restricted is false only then', () => {
    expect(new Allowlist(['**']).allowsSubtree('a/b')).toBe(true);
    expect(new Allowlist(['**']).restricted).toBe(false);
    expect(new Allowlist(['a/**']).restricted).toBe(true);
  });
});
