import { describe, expect, it } from 'vitest';
import { BOT_TOKEN } from '../simulators/gitlab.js';
import { call, simulatorFor } from './harness.js';

const fx = simulatorFor();

const wikiOf = (path: string) => {
  const wiki = fx.sim.state.projects.find((p) => p.path_with_namespace === path)?.wiki;
  if (!wiki) throw new Error(`seed changed: no project ${path}`);
  return wiki;
};

describe('wiki_get on a large page', () => {
  // 17,000,008 bytes of content: more than the 16 MiB a JSON answer may hold
  const line = `${'w'.repeat(99)}\n`;
  const content = `${line.repeat(170_000)}the end\n`;
  const size = Buffer.byteLength(content);

  it('the simulator answers as GitLab does: the page only inside JSON, basic fields first', async () => {
    wikiOf('platform/api').push({ slug: 'ops/huge', title: 'Huge', format: 'markdown', content: 'small' });
    try {
      const res = await fetch(`${fx.sim.url}/api/v4/projects/platform%2Fapi/wikis/ops%2Fhuge`, {
        headers: { 'PRIVATE-TOKEN': BOT_TOKEN },
      });
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.text()).toBe(
        '{"format":"markdown","slug":"ops/huge","title":"Huge","content":"small","encoding":"UTF-8"}',
      );
    } finally {
      wikiOf('platform/api').pop();
    }
  });

  it('reads it window by window, stopping after each window and saying the size is not known', async () => {
    wikiOf('platform/api').push({ slug: 'ops/huge', title: 'Huge', format: 'markdown', content });
    try {
      // before the fix: ERR_OUTPUT_TOO_LARGE ("the answer exceeded 16777216 bytes"), whatever the window
      const first = await call('wiki_get', { project: 'platform/api', slug: 'ops/huge', maxBytes: 4096 }, fx.services);
      expect(first).toMatchObject({
        slug: 'ops/huge',
        title: 'Huge',
        format: 'markdown',
        content: line.repeat(40),
        truncated: true,
        nextOffset: 4000,
        bytes: null,
      });
      expect(first.note).toMatch(/reading stopped after this window: .*continue with offset 4000/);
      const second = await call(
        'wiki_get',
        { project: 'platform/api', slug: 'ops/huge', maxBytes: 4096, offset: first.nextOffset },
        fx.services,
      );
      expect(second).toMatchObject({ content: line.repeat(40), nextOffset: 8000 });
      // near its end the whole page was read: the size is known
      const last = await call(
        'wiki_get',
        { project: 'platform/api', slug: 'ops/huge', offset: size - 108 },
        fx.services,
      );
      expect(last).toMatchObject({ content: `${line}the end\n`, truncated: false, bytes: size, title: 'Huge' });
      expect(last.nextOffset).toBeUndefined();
      expect(last.note).toBeUndefined();
    } finally {
      wikiOf('platform/api').pop();
    }
  }, 30_000);

  it('a small page is read whole: its size is stated and nothing is cut', async () => {
    const page = await call('wiki_get', { project: 'platform/api', slug: 'runbooks/deploy' }, fx.services);
    const seeded = wikiOf('platform/api').find((w) => w.slug === 'runbooks/deploy')?.content ?? '';
    expect(page).toMatchObject({ content: seeded, truncated: false, bytes: Buffer.byteLength(seeded) });
    expect(page.note).toBeUndefined();
  });
});
