import { describe, expect, it } from 'vitest';
import { BOT_TOKEN } from '../simulators/gitlab.js';
import { call, callError, simulatorFor } from './harness.js';

const fx = simulatorFor();

const filesOf = (path: string) => {
  const files = fx.sim.state.projects.find((p) => p.path_with_namespace === path)?.files.get('main');
  if (!files) throw new Error(`seed changed: no main branch in ${path}`);
  return files;
};

const get = async (path: string) => {
  const res = await fetch(`${fx.sim.url}/api/v4/${path}`, { headers: { 'PRIVATE-TOKEN': BOT_TOKEN } });
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, text: await res.text() };
};

describe('repository_get_file on an empty repository', () => {
  it('the simulator answers as GitLab does: a default branch named, no commit behind it', async () => {
    // GitLab >= 14.1 names the branch a first push would create (gitlab-org/gitlab MR 64944); the files
    // endpoints find no commit for any ref of an empty repository, and refuse a blank ref (lib/api/files.rb)
    const project = JSON.parse((await get('projects/platform%2Fweb')).text);
    expect(project).toMatchObject({ empty_repo: true, default_branch: 'main' });
    const json = await get('projects/platform%2Fweb/repository/files/main.tf?ref=main');
    expect(json).toMatchObject({ status: 404, text: '{"message":"404 Commit Not Found"}' });
    const raw = await get('projects/platform%2Fweb/repository/files/main.tf/raw');
    expect(raw).toMatchObject({ status: 404, text: '{"message":"404 Commit Not Found"}' });
    const blank = await get('projects/platform%2Fweb/repository/files/main.tf?ref=');
    expect(blank).toMatchObject({ status: 400, text: '{"error":"ref is empty"}' });
  });

  it('says the repository is empty when no ref is given', async () => {
    const e = await callError('repository_get_file', { project: 'platform/web', path: 'main.tf' }, fx.services);
    // before the fix: "file main.tf of ... was not found, or this server's token cannot see it" (or, on a
    // GitLab naming no default branch, a 400 for `ref=`): nothing said the repository has no commits
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toMatch(/^"platform\/web" has an empty repository \(no commits\): .*until something is pushed/);
  });

  it('with a ref, says what GitLab said about it', async () => {
    const e = await callError(
      'repository_get_file',
      { project: 'platform/web', path: 'main.tf', ref: 'main' },
      fx.services,
    );
    expect(e.code).toBe('ERR_NOT_FOUND');
    expect(e.message).toMatch(/GitLab said: 404 Commit Not Found/);
  });
});

describe('repository_get_file on a large file', () => {
  // 13,000,008 bytes: in GET /repository/files/:path its base64 content is over 17 MB of JSON
  const line = `${'x'.repeat(99)}\n`;
  const text = `${line.repeat(130_000)}the end\n`;
  const size = Buffer.byteLength(text);

  it('the simulator serves it raw as GitLab does: text/plain with the X-Gitlab-* headers', async () => {
    filesOf('platform/api').set('data/huge.log', text);
    const raw = await get('projects/platform%2Fapi/repository/files/data%2Fhuge.log/raw?ref=main');
    expect(raw.status).toBe(200);
    expect(raw.type).toMatch(/^text\/plain/);
    expect(raw.headers.get('x-gitlab-size')).toBe(String(size));
    expect(raw.headers.get('x-gitlab-file-path')).toBe('data/huge.log');
    expect(raw.text.length).toBe(size);
  });

  it('reads it window by window, from the start and from near its end', async () => {
    filesOf('platform/api').set('data/huge.log', text);
    // before the fix: ERR_OUTPUT_TOO_LARGE, "narrow the request (filters, a smaller page)"
    const first = await call(
      'repository_get_file',
      { project: 'platform/api', path: 'data/huge.log', maxBytes: 4096 },
      fx.services,
    );
    expect(first).toMatchObject({ ref: 'main', size, binary: false, truncated: true, nextOffset: 4000 });
    expect(first.content).toBe(line.repeat(40));
    const second = await call(
      'repository_get_file',
      { project: 'platform/api', path: 'data/huge.log', maxBytes: 4096, offset: first.nextOffset },
      fx.services,
    );
    expect(second).toMatchObject({ content: line.repeat(40), nextOffset: 8000 });
    const last = await call(
      'repository_get_file',
      { project: 'platform/api', path: 'data/huge.log', offset: size - 208 },
      fx.services,
    );
    expect(last).toMatchObject({ size, content: `${line}${line}the end\n`, truncated: false });
    expect(last.nextOffset).toBeUndefined();
  });

  it('still reports a binary file (a NUL in its first 8,000 bytes) without its content, at any offset', async () => {
    filesOf('platform/api').set('assets/logo.bin', `PNG\u0000${'y'.repeat(20_000)}`);
    for (const offset of [0, 12_000]) {
      const bin = await call(
        'repository_get_file',
        { project: 'platform/api', path: 'assets/logo.bin', maxBytes: 256, offset },
        fx.services,
      );
      expect(bin).toMatchObject({ size: 20_004, binary: true, content: '', truncated: false });
    }
  });
});
