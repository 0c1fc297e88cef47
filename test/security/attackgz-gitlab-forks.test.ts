/**
 * The GitLab server attacked from outside (attackgz): reading a project the allowlist keeps out through
 * an allowed fork of it. GitLab pools the objects of a public or internal project's fork network, so a
 * commit SHA the upstream gained after the fork resolves in the fork as well
 * (doc/development/git_object_deduplication.md). Through the real gitbeaker client and the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, callError, type Fixture, start } from '../gitlab/harness.js';
import { emptyProject } from '../simulators/gitlab-seed.js';

let fx: Fixture;
const SHARED = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678'; // in both: the fork was made from it
const UPSTREAM_ONLY = 'f0e1d2c3b4a5968778695a4b3c2d1e0f12345678'; // pushed to the upstream after the fork

beforeAll(async () => {
  fx = await start({ allowlist: ['sandbox/fork'] });
  const sandbox = fx.sim.state.groups.find((g) => g.full_path === 'sandbox');
  if (!sandbox) throw new Error('seed changed: no sandbox group');
  const atFork = new Map([['README.md', '# upstream\n']]);
  const later = new Map([...atFork, ['deploy/credentials.txt', 'internal only\n']]);
  const upstream = emptyProject(300, sandbox, 'upstream', { visibility: 'internal' });
  upstream.files.set('main', later);
  upstream.commits = new Map([
    [SHARED, { files: atFork, refs: [{ type: 'branch', name: 'main' }] }],
    [UPSTREAM_ONLY, { files: later, refs: [{ type: 'branch', name: 'main' }] }],
  ]);
  const fork = emptyProject(301, sandbox, 'fork', { visibility: 'public', forked_from_id: 300 });
  fork.files.set('main', atFork);
  fork.files.set('v1', atFork);
  fork.commits = new Map([
    [
      SHARED,
      {
        files: atFork,
        refs: [
          { type: 'branch', name: 'main' },
          { type: 'tag', name: 'v1' },
        ],
      },
    ],
  ]);
  fx.sim.state.projects.push(upstream, fork);
});
afterAll(() => fx?.close());

describe('an allowed fork does not read its upstream', () => {
  it('the upstream itself is refused by the allowlist', async () => {
    const e = await callError('repository_get_file', { project: 'sandbox/upstream', path: 'README.md' }, fx.services);
    expect(e.code).toBe('ERR_NOT_ALLOWED');
  });

  it("a commit only the upstream holds is refused in the fork's file and tree reads, by full or short SHA", async () => {
    for (const ref of [UPSTREAM_ONLY, UPSTREAM_ONLY.slice(0, 8)]) {
      const file = await callError(
        'repository_get_file',
        { project: 'sandbox/fork', path: 'deploy/credentials.txt', ref },
        fx.services,
      );
      // before the fix: the content of deploy/credentials.txt, a file of the upstream only
      expect(file.message).toMatch(
        new RegExp(`^"${ref}" is a commit on no branch or tag of "sandbox/fork": .*name a branch, a tag, or a commit`),
      );
      expect(file.code).toBe('ERR_NOT_FOUND');
      const tree = await callError(
        'repository_list_tree',
        { project: 'sandbox/fork', ref, recursive: true },
        fx.services,
      );
      expect(tree.code).toBe('ERR_NOT_FOUND');
      expect(JSON.stringify(tree)).not.toContain('credentials');
    }
  });

  it("the fork's own branches, tags and commits read as before", async () => {
    for (const ref of ['main', 'v1', SHARED, SHARED.slice(0, 10), undefined]) {
      const r = await call('repository_get_file', { project: 'sandbox/fork', path: 'README.md', ref }, fx.services);
      expect(r.content).toBe('# upstream\n');
    }
    const tree = await call('repository_list_tree', { project: 'sandbox/fork', ref: SHARED }, fx.services);
    expect(tree.entries).toEqual([{ path: 'README.md', type: 'blob' }]);
  });

  it('a ref that is nothing at all is not found, as before', async () => {
    const e = await callError(
      'repository_get_file',
      { project: 'sandbox/fork', path: 'README.md', ref: 'nope' },
      fx.services,
    );
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toMatch(/"sandbox\/fork" was not found, or this server's token cannot see it/);
  });
});
