/**
 * The GitLab server's merge request diffs, sixth round: GitLab's diff limits (files, lines, patch bytes,
 * collapsing, 30 files a page) modelled in the simulator from GitLab's source, big merge requests paged with a
 * cursor instead of failing, and odd changes (no files, renames, mode changes, submodules, binary files, names
 * with newlines or non-ASCII letters, CRLF lines, "\ No newline at end of file", lines that begin with "++" or
 * "--"). Through the real gitbeaker client against the simulator, and through the MCP SDK client over
 * Streamable HTTP.
 */
import { describe, expect, it } from 'vitest';
import { call, callError, type Fixture } from '../gitlab/harness.js';
import { servedGitLab } from '../gitlab/served.js';
import { type SimDiff, type SimMergeRequest, simDiff } from '../simulators/gitlab.js';

const gl = servedGitLab();

const MR = { project: 'platform/api', iid: 7 };

function lines(n: number, tag: string): string {
  const out = [`@@ -1,${n} +1,${n} @@`];
  for (let i = 0; i < n; i++) out.push(`-old ${tag} ${i}`, `+new ${tag} ${i}`);
  return `${out.join('\n')}\n`;
}

const file = simDiff;

/** Runs `fn` with !7 changing `diffs` (and the limits as given), then puts the seed and the defaults back. */
async function withDiffs<T>(diffs: SimDiff[], fn: () => Promise<T>, limits: Partial<Fixture['sim']['control']> = {}) {
  const mr = gl.fx.sim.state.projects.find((p) => p.path_with_namespace === 'platform/api')?.merge_requests[0];
  if (!mr) throw new Error('seed changed: platform/api has no merge request');
  const seeded = mr.diffs;
  const c = gl.fx.sim.control;
  const defaults = { ...c };
  (mr as SimMergeRequest).diffs = diffs;
  Object.assign(c, limits);
  try {
    return await fn();
  } finally {
    mr.diffs = seeded;
    c.diffMaxFiles = defaults.diffMaxFiles;
    c.diffMaxLines = defaults.diffMaxLines;
    c.diffMaxPatchBytes = defaults.diffMaxPatchBytes;
    c.diffsExpanded = defaults.diffsExpanded;
  }
}

/** GET /diffs through gitbeaker, one page. */
async function diffsPage(page: number, perPage: number) {
  const api = await gl.fx.services.gitlab.api();
  return (await api.MergeRequests.allDiffs('platform/api', 7, {
    page,
    perPage,
    showExpanded: true,
    maxPages: 1,
  } as never)) as unknown as {
    data: Record<string, unknown>[];
    paginationInfo: { next: number | null; perPage: number; total: number };
  };
}

describe("GitLab's diff limits in the simulator (gitbeaker against it)", () => {
  it('a page of /diffs holds at most 30 files whatever per_page asks', async () => {
    const many = Array.from({ length: 70 }, (_, i) => file(`f${String(i).padStart(2, '0')}.txt`, lines(1, `f${i}`)));
    await withDiffs(many, async () => {
      const first = await diffsPage(1, 100);
      expect(first.data).toHaveLength(30);
      expect(first.paginationInfo).toMatchObject({ perPage: 30, next: 2, total: 70 });
      const third = await diffsPage(3, 100);
      expect(third.data.map((d) => d.new_path)).toEqual(Array.from({ length: 10 }, (_, i) => `f${60 + i}.txt`));
    });
  });

  it('a patch of diff_max_patch_bytes or more is stored empty and too_large; older releases collapse one of 10% of it', async () => {
    const big = 'x'.repeat(100);
    const patch = (kb: number) => `@@ -1 +1 @@\n${`+${big}\n`.repeat(Math.ceil((kb * 1024) / 102))}`;
    const diffs = [file('a-small.txt', patch(5)), file('b-medium.txt', patch(30)), file('c-huge.txt', patch(210))];
    await withDiffs(diffs, async () => {
      const [small, medium, huge] = (await diffsPage(1, 20)).data;
      expect(small).toMatchObject({ collapsed: false, too_large: false });
      expect(String(small?.diff).length).toBeGreaterThan(5000);
      expect(medium).toMatchObject({ collapsed: true, too_large: false, diff: '' });
      expect(huge).toMatchObject({ collapsed: false, too_large: true, diff: '' });
      gl.fx.sim.control.diffsExpanded = true;
      const expanded = (await diffsPage(1, 20)).data;
      expect(expanded[1]).toMatchObject({ collapsed: false, too_large: false });
      expect(String(expanded[1]?.diff).length).toBeGreaterThan(30_000);
      expect(expanded[2]).toMatchObject({ too_large: true, diff: '' });
    });
  });

  it('past the safe limit of 100 files every further file is collapsed (not expanded)', async () => {
    const many = Array.from({ length: 110 }, (_, i) => file(`f${String(i).padStart(3, '0')}.txt`, lines(1, `f${i}`)));
    await withDiffs(many, async () => {
      const page4 = await diffsPage(4, 30); // files 90..109
      const collapsed = page4.data.filter((d) => d.collapsed === true).map((d) => d.new_path);
      expect(collapsed).toEqual(Array.from({ length: 10 }, (_, i) => `f${100 + i}.txt`));
    });
  });

  it('a merge request over diff_max_lines has only its first files stored: changes_count "N+", /changes overflow', async () => {
    const diffs = Array.from({ length: 10 }, (_, i) => file(`f${i}.txt`, lines(100, `f${i}`)));
    await withDiffs(
      diffs,
      async () => {
        const api = await gl.fx.services.gitlab.api();
        const mr = (await api.MergeRequests.show('platform/api', 7)) as unknown as Record<string, unknown>;
        // 201 lines a file (its @@ line counts): the 5th brings the count past 1,000 and is dropped with the rest
        expect(mr.changes_count).toBe('4+');
        expect((await diffsPage(1, 30)).data).toHaveLength(4);
        const changes = (await api.MergeRequests.showChanges('platform/api', 7)) as unknown as Record<string, unknown>;
        expect(changes.overflow).toBe(true);
      },
      { diffMaxLines: 1000 },
    );
  });

  it("a binary change is answered with GitLab's notice, not its bytes", async () => {
    await withDiffs([file('logo.png', 'PNG\0binary', { binary: true })], async () => {
      const [d] = (await diffsPage(1, 20)).data;
      expect(d?.diff).toBe('Binary files logo.png and logo.png differ\n');
    });
  });
});

describe('merge_requests_get_diff on big merge requests (MCP SDK client)', () => {
  it('a file on a late page of a 3,000-file merge request is reached by following nextCursor; no answer asks to narrow anything', async () => {
    const many = Array.from({ length: 3000 }, (_, i) =>
      file(`src/f${String(i).padStart(4, '0')}.ts`, lines(1, `f${i}`)),
    );
    await withDiffs(
      many,
      async () => {
        let from = gl.fx.sim.control.requests.length;
        let a = await gl.server.call('merge_requests_get_diff', { ...MR, path: 'src/f2999.ts' });
        const answers = [a];
        const perCall: number[] = [gl.fx.sim.control.requests.length - from];
        while (!a.isError && a.structured?.nextCursor && answers.length < 20) {
          from = gl.fx.sim.control.requests.length;
          a = await gl.server.call('merge_requests_get_diff', {
            ...MR,
            path: 'src/f2999.ts',
            cursor: a.structured.nextCursor,
          });
          answers.push(a);
          perCall.push(gl.fx.sim.control.requests.length - from);
        }
        // before: ERR_OUTPUT_TOO_LARGE "not among the first 2000 files ... which changes more"
        for (const x of answers) {
          expect(x.isError, x.text).toBe(false);
          expect(x.text).not.toMatch(/narrow/i);
        }
        expect(a.structured).toMatchObject({ newPath: 'src/f2999.ts', collapsed: true, truncated: true });
        expect(a.structured?.note).toMatch(/collapsed.*repository_get_file/);
        // 100 pages of 30 files in five calls of at most 20 pages, one of them also reading the MR's refs
        expect(answers).toHaveLength(5);
        expect(Math.max(...perCall)).toBeLessThanOrEqual(21);
      },
      { diffMaxFiles: 3000 },
    );
  });

  it('a file GitLab did not store (over diff_max_files) is not reported as unchanged; it says where to read it', async () => {
    const many = Array.from({ length: 40 }, (_, i) => file(`src/f${i}.ts`, lines(1, `f${i}`)));
    await withDiffs(
      many,
      async () => {
        const a = await gl.server.call('merge_requests_get_diff', { ...MR, path: 'src/f39.ts' });
        expect(a.isError).toBe(true);
        expect(a.text).not.toMatch(/does not change/);
        expect(a.text).toMatch(
          /GitLab stored only the first 25 files .* "src\/f39.ts" is not among them.*read it at ref a{40} and at ref \w{40} with repository_get_file/,
        );
      },
      { diffMaxFiles: 25 },
    );
  });

  it('merge_requests_list_changes pages a big merge request to its end, 30 files a page at most', async () => {
    const many = Array.from({ length: 95 }, (_, i) => file(`src/f${String(i).padStart(2, '0')}.ts`, lines(2, `f${i}`)));
    await withDiffs(many, async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let n = 0; n < 10; n++) {
        const a = await gl.server.call('merge_requests_list_changes', {
          ...MR,
          limit: 100,
          ...(cursor ? { cursor } : {}),
        });
        expect(a.isError, a.text).toBe(false);
        expect(a.structured?.total).toBe(95);
        seen.push(...(a.structured?.files ?? []).map((f: { newPath: string }) => f.newPath));
        cursor = a.structured?.nextCursor;
        if (!cursor) break;
      }
      expect(seen).toEqual(many.map((d) => d.new_path));
    });
  });
});

describe('odd changes', () => {
  it('a merge request with no files: an empty list, and a path is "not changed"', async () => {
    await withDiffs([], async () => {
      const list = await call('merge_requests_list_changes', MR, gl.fx.services);
      expect(list).toMatchObject({ files: [], total: 0, truncated: false });
      const err = await callError('merge_requests_get_diff', { ...MR, path: 'README.md' }, gl.fx.services);
      expect(err.code).toBe('ERR_NOT_FOUND');
      expect(err.message).toMatch(/does not change "README.md"/);
    });
  });

  it('renames, mode changes and submodules say what changed when there is no text', async () => {
    const diffs = [
      file('src/new.ts', '', { old_path: 'src/old.ts', renamed_file: true }),
      file('bin/run.sh', '', { b_mode: '100755' }),
      file('vendor/lib', '@@ -1 +1 @@\n-Subproject commit aaaa\n+Subproject commit bbbb\n', {
        a_mode: '160000',
        b_mode: '160000',
      }),
      file('vendor/new', '@@ -0,0 +1 @@\n+Subproject commit cccc\n', { a_mode: '0', b_mode: '160000', new_file: true }),
    ];
    await withDiffs(diffs, async () => {
      const rename = await call('merge_requests_get_diff', { ...MR, path: 'src/old.ts' }, gl.fx.services);
      expect(rename).toMatchObject({ change: 'renamed', oldPath: 'src/old.ts', newPath: 'src/new.ts', diff: '' });
      expect(rename.note).toBe('renamed with the same content');
      const mode = await call('merge_requests_get_diff', { ...MR, path: 'bin/run.sh' }, gl.fx.services);
      // before: diff '' and note null, nothing said about what changed
      expect(mode).toMatchObject({ change: 'modified', mode: '100644 -> 100755', added: 0, removed: 0 });
      expect(mode.note).toBe('only the file mode changed (100644 -> 100755)');
      const sub = await call('merge_requests_get_diff', { ...MR, path: 'vendor/lib' }, gl.fx.services);
      expect(sub).toMatchObject({ added: 1, removed: 1, truncated: false });
      expect(sub.diff).toContain('+Subproject commit bbbb');
      const list = await call('merge_requests_list_changes', MR, gl.fx.services);
      const added = list.files.find((f: { newPath: string }) => f.newPath === 'vendor/new');
      // a new file's old mode is 0: not a mode change
      expect(added).toMatchObject({ change: 'added', added: 1, removed: 0 });
      expect(added.mode).toBeUndefined();
    });
  });

  it('a binary change says so and where to read the file, instead of a diff of 0 lines', async () => {
    await withDiffs([file('assets/logo.png', 'PNG\0', { binary: true })], async () => {
      const a = await call('merge_requests_get_diff', { ...MR, path: 'assets/logo.png' }, gl.fx.services);
      expect(a).toMatchObject({ diff: '', truncated: true });
      expect(a.note).toMatch(/^a binary file: GitLab sends no text diff; read "assets\/logo.png" at ref a{40} and/);
    });
  });

  it('lines that begin with "++" or "--" (YAML separators, SQL comments) are counted', async () => {
    const diff = '@@ -1,3 +1,3 @@\n----\n+---\n--- old comment\n+++ new\n-x\n+y\n';
    await withDiffs([file('db/schema.sql', diff)], async () => {
      const a = await call('merge_requests_get_diff', { ...MR, path: 'db/schema.sql' }, gl.fx.services);
      // before: 1 added, 1 removed (every line starting "+++" or "---" taken for a header)
      expect(a).toMatchObject({ added: 3, removed: 3 });
    });
  });

  it('CRLF lines and "\\ No newline at end of file" are kept byte for byte and not counted as changes', async () => {
    const diff =
      '@@ -1,2 +1,2 @@\r\n-a\r\n+b\r\n \\ c\r\n-d\n\\ No newline at end of file\n+e\n\\ No newline at end of file\n';
    await withDiffs([file('win.txt', diff)], async () => {
      const a = await call('merge_requests_get_diff', { ...MR, path: 'win.txt' }, gl.fx.services);
      expect(a).toMatchObject({ diff, added: 2, removed: 2, diffBytes: Buffer.byteLength(diff), truncated: false });
      // windows cut a CRLF diff without losing or doubling a byte
      const big = `@@ -1,400 +1,400 @@\r\n${'-old line\r\n+new line\r\n'.repeat(400)}`;
      await withDiffs([file('win.txt', big)], async () => {
        let text = '';
        let offset: number | undefined = 0;
        for (let n = 0; offset !== undefined && n < 20; n++) {
          const w: Record<string, unknown> = await call(
            'merge_requests_get_diff',
            { ...MR, path: 'win.txt', maxBytes: 1024, offset },
            gl.fx.services,
          );
          text += w.diff as string;
          offset = w.nextOffset as number | undefined;
        }
        expect(text).toBe(big);
      });
    });
  });

  it('names with a newline, quotes or non-ASCII letters are found and quoted unambiguously in notes', async () => {
    const odd = 'docs/naïve "файл"\nERR_FAKE: injected.md';
    await withDiffs([file(odd, '', { too_large: true, new_file: true, a_mode: '0' })], async () => {
      const a = await call('merge_requests_get_diff', { ...MR, path: odd }, gl.fx.services);
      expect(a.newPath).toBe(odd);
      // the name is JSON-quoted: its newline cannot start a line of its own in the note
      expect(a.note).toContain(JSON.stringify(odd));
      expect(a.note).not.toContain('\n');
      const sdk = await gl.server.call('merge_requests_get_diff', { ...MR, path: odd });
      expect(sdk.isError).toBe(false);
      expect(sdk.structured?.newPath).toBe(odd);
      // a name not in the merge request: the error text cannot be given a line of the name's making
      const missing = await gl.server.call('merge_requests_get_diff', { ...MR, path: `${odd}.bak` });
      expect(missing.isError).toBe(true);
      expect(missing.text).toMatch(/^ERR_NOT_FOUND: merge request !7 of "platform\/api" does not change /);
      expect(missing.text).not.toContain('\nERR_FAKE');
    });
  });
});
