/**
 * GitLab's order of a merge request's files (modelled in the simulator from GitLab's and Gitaly's source: see
 * `fileCollectionSort` and `gitalyOrder` in test/simulators/gitlab.ts), and our paging under it: every file
 * is listed once across pages, whatever the page size, and every file is found by merge_requests_get_diff.
 */
import { describe, expect, it } from 'vitest';
import { fileCollectionSort, gitalyOrder, type SimDiff, type SimMergeRequest, simDiff } from '../simulators/gitlab.js';
import { call, callError, simulatorFor } from './harness.js';

const fx = simulatorFor();

const MR = { project: 'platform/api', iid: 7 };

function mr7(): SimMergeRequest {
  const mr = fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.merge_requests[0];
  if (!mr) throw new Error('seed changed: platform/api has no merge request');
  return mr;
}

async function withDiffs<T>(diffs: SimDiff[], fn: () => Promise<T>, maxFiles?: number): Promise<T> {
  const mr = mr7();
  const seeded = mr.diffs;
  const files = fx.sim.control.diffMaxFiles;
  mr.diffs = diffs;
  if (maxFiles !== undefined) fx.sim.control.diffMaxFiles = maxFiles;
  try {
    return await fn();
  } finally {
    mr.diffs = seeded;
    fx.sim.control.diffMaxFiles = files;
  }
}

const one = (path: string, extra: Partial<SimDiff> = {}) =>
  simDiff(path, `@@ -1 +1 @@\n-old ${path}\n+new ${path}\n`, extra);

/** A merge request's paths in no order: nested and flat, names that sort differently as bytes and as numbers. */
function mixedPaths(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const dir = ['', 'src/', 'src/gen/', 'a-b/', 'a/', 'Z/', 'docs/ü/'][i % 7];
    out.push(`${dir}f${i}.${i % 3 === 0 ? 'ts' : 'md'}`);
  }
  // a fixed shuffle: the seed's order must not matter
  return out
    .map((p, i) => ({ p, k: (i * 7919) % n }))
    .sort((a, b) => a.k - b.k)
    .map((x) => x.p);
}

describe("GitLab's file order (simulator against GitLab's own spec)", () => {
  it('sorts as spec/lib/gitlab/diff/file_collection_sorter_spec.rb expects: directories first at every level', () => {
    const d = (new_path: string, old_path = new_path) => ({ new_path, old_path });
    const input = [
      d('README'),
      d('.dir/test'),
      d('', '.file'),
      d('1-folder/A-file.ext'),
      d('1-folder/README'),
      d('', '1-folder/M-file.ext'),
      d('1-folder/Z-file.ext'),
      d('1-folder/README'),
      d('', '1-folder/nested/A-file.ext'),
      d('1-folder/nested/M-file.ext'),
      d('', '1-folder/nested/Z-file.ext'),
      d('2-folder/A-file.ext'),
      d('', '2-folder/M-file.ext'),
      d('2-folder/Z-file.ext'),
      d('', '2-folder/nested/A-file.ext'),
      d('A-file.ext'),
      d('', 'M-file.ext'),
      d('Z-file.ext'),
      d('README'),
    ];
    expect(fileCollectionSort(input).map((x) => x.new_path || x.old_path)).toEqual([
      '.dir/test',
      '1-folder/nested/A-file.ext',
      '1-folder/nested/M-file.ext',
      '1-folder/nested/Z-file.ext',
      '1-folder/A-file.ext',
      '1-folder/M-file.ext',
      '1-folder/README',
      '1-folder/README',
      '1-folder/Z-file.ext',
      '2-folder/nested/A-file.ext',
      '2-folder/A-file.ext',
      '2-folder/M-file.ext',
      '2-folder/Z-file.ext',
      '.file',
      'A-file.ext',
      'M-file.ext',
      'README',
      'README',
      'Z-file.ext',
    ]);
    // git's (Gitaly's) order is bytes of the whole path: "a-b/x" before "a/x" ("-" < "/"), files mixed in
    expect(gitalyOrder([d('a/x'), d('b'), d('a-b/x'), d('a.txt')]).map((x) => x.new_path)).toEqual([
      'a-b/x',
      'a.txt',
      'a/x',
      'b',
    ]);
  });

  it('GET /diffs of the seeded merge request comes in that order, not the order the changes were made in', async () => {
    const listed: string[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 5; n++) {
      const page = await call(
        'merge_requests_list_changes',
        { ...MR, limit: 7, ...(cursor ? { cursor } : {}) },
        fx.services,
      );
      listed.push(...page.files.map((f: { newPath: string }) => f.newPath));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    expect(listed).toEqual([
      'data/fixtures.json',
      ...[0, 1, 10, 11, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `src/gen/file${i}.ts`),
      'src/billing.ts',
      'src/ledger.ts',
      'src/new-name.ts',
    ]);
  });
});

describe('paging under GitLab’s order', () => {
  it('merge_requests_list_changes lists every file exactly once, in GitLab’s order, whatever the page size', async () => {
    const paths = mixedPaths(95);
    const expected = fileCollectionSort(paths.map((p) => one(p))).map((d) => d.new_path);
    expect(expected).not.toEqual(paths);
    await withDiffs(
      paths.map((p) => one(p)),
      async () => {
        for (const limit of [1, 7, 29, 30, 31, 100]) {
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let n = 0; n < 200; n++) {
            const page = await call(
              'merge_requests_list_changes',
              { ...MR, limit, ...(cursor ? { cursor } : {}) },
              fx.services,
            );
            expect(page.total).toBe(95);
            seen.push(...page.files.map((f: { newPath: string }) => f.newPath));
            cursor = page.nextCursor;
            if (!cursor) break;
          }
          expect(seen, `limit ${limit}`).toEqual(expected);
        }
      },
    );
  });

  it('a small output budget re-cuts pages without skipping or repeating a file', async () => {
    const paths = mixedPaths(64);
    const expected = fileCollectionSort(paths.map((p) => one(p))).map((d) => d.new_path);
    await withDiffs(
      paths.map((p) => one(p)),
      async () => {
        const seen: string[] = [];
        let cursor: string | undefined;
        let calls = 0;
        for (; calls < 200; calls++) {
          const page = await call(
            'merge_requests_list_changes',
            { ...MR, limit: 30, ...(cursor ? { cursor } : {}) },
            fx.services,
            2048,
          );
          seen.push(...page.files.map((f: { newPath: string }) => f.newPath));
          cursor = page.nextCursor;
          if (!cursor) break;
        }
        expect(calls).toBeGreaterThan(3);
        expect(seen).toEqual(expected);
      },
    );
  });

  it('merge_requests_get_diff finds every file, on whatever page GitLab’s order puts it', async () => {
    const paths = mixedPaths(70);
    await withDiffs(
      paths.map((p) => one(p)),
      async () => {
        for (const path of paths) {
          const a = await call('merge_requests_get_diff', { ...MR, path }, fx.services);
          expect(a.newPath, path).toBe(path);
          expect(a.diff).toContain(`+new ${path}`);
        }
      },
    );
  });

  it('a rename whose old path is another file’s new path: the path names the file there now', async () => {
    // "z.ts" renamed to "a.ts" and a new "z.ts": GitLab lists the rename at "a.ts", before the new "z.ts"
    const diffs = [
      one('z.ts', { new_file: true, a_mode: '0' }),
      simDiff('a.ts', '', { old_path: 'z.ts', renamed_file: true }),
    ];
    await withDiffs(diffs, async () => {
      const z = await call('merge_requests_get_diff', { ...MR, path: 'z.ts' }, fx.services);
      expect(z).toMatchObject({ newPath: 'z.ts', change: 'added' });
      const a = await call('merge_requests_get_diff', { ...MR, path: 'a.ts' }, fx.services);
      expect(a).toMatchObject({ newPath: 'a.ts', oldPath: 'z.ts', change: 'renamed' });
    });
    // the same with the new "z.ts" two pages after the rename
    const between = Array.from({ length: 45 }, (_, i) => one(`m${String(i).padStart(2, '0')}.ts`));
    await withDiffs([...diffs, ...between], async () => {
      const z = await call('merge_requests_get_diff', { ...MR, path: 'z.ts' }, fx.services);
      expect(z).toMatchObject({ newPath: 'z.ts', change: 'added' });
    });
    // a rename away with no new file there: the rename, found without reading past where the path would be
    await withDiffs([diffs[1] as SimDiff, ...between, one('zz/last.ts')], async () => {
      const from = fx.sim.control.requests.length;
      const z = await call('merge_requests_get_diff', { ...MR, path: 'z.ts' }, fx.services);
      expect(z).toMatchObject({ newPath: 'a.ts', oldPath: 'z.ts', change: 'renamed' });
      expect(fx.sim.control.requests.slice(from).filter((r) => r.path.endsWith('/diffs'))).toHaveLength(2);
    });
  });

  it('an overflowing merge request keeps the first files in git’s order, listed in GitLab’s', async () => {
    const paths = ['src/z.ts', 'a/b/c.ts', 'src/gen/x.ts', 'README.md', 'a.ts', 'docs/guide.md'];
    await withDiffs(
      paths.map((p) => one(p)),
      async () => {
        const list = await call('merge_requests_list_changes', { ...MR, limit: 100 }, fx.services);
        // git's order: README.md, a.ts, a/b/c.ts, docs/guide.md | src/gen/x.ts, src/z.ts (cut)
        expect(list.files.map((f: { newPath: string }) => f.newPath)).toEqual([
          'a/b/c.ts',
          'docs/guide.md',
          'README.md',
          'a.ts',
        ]);
        const err = await callError('merge_requests_get_diff', { ...MR, path: 'src/gen/x.ts' }, fx.services);
        expect(err.message).toMatch(/GitLab stored only the first 4 files/);
      },
      4,
    );
  });
});
