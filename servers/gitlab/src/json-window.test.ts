import { describe, expect, it } from 'vitest';
import { JsonFieldWindow, type JsonWindowSpec } from './json-window.js';

const spec = (offset: number, bytes: number): JsonWindowSpec => ({
  field: 'content',
  offset,
  bytes,
  wants: ['title', 'slug', 'format'],
});

/** Feeds `json` in chunks of `size` until the reader has enough, as the handler does. */
function read(json: string | Buffer, s: JsonWindowSpec, size: number) {
  const r = new JsonFieldWindow(s);
  const buf = Buffer.isBuffer(json) ? json : Buffer.from(json);
  for (let i = 0; i < buf.length; i += size) {
    r.push(buf.subarray(i, i + size));
    if (r.enough) break;
  }
  return { ...r.result(), enough: r.enough };
}

/** Every non-ASCII character as \uXXXX, as ASCII-only JSON encoders write it. */
const asciiOnly = (json: string) =>
  json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

describe('JsonFieldWindow', () => {
  const content = `# Runbook "deploy"\n\tstep 1 <b>&</b> \\ / é € 🐳\r\n${'line\n'.repeat(50)}end \u2028 \ud800 lone`;
  // GitLab's entity order (WikiPageBasic, then WikiPage): format, slug, title, wiki_page_meta_id, content, encoding
  const page = { format: 'markdown', slug: 'runbooks/deploy', title: 'Deploy "now"', wiki_page_meta_id: 12, content };
  const bytes = Buffer.from(content, 'utf8');

  it.each([
    ['UTF-8', JSON.stringify({ ...page, encoding: 'UTF-8', front_matter: { a: ['}', { b: '"' }] } })],
    ['escaped to ASCII', asciiOnly(JSON.stringify({ ...page, encoding: 'UTF-8' }))],
    [
      'pretty, content first',
      JSON.stringify({ content, format: 'markdown', slug: 'runbooks/deploy', title: 'Deploy "now"' }, null, 2),
    ],
  ])('keeps exactly the window of the decoded value (%s), however the stream is cut', (_name, json) => {
    for (const size of [1, 3, 7, 64, 100_000])
      for (const [offset, len] of [
        [0, 16],
        [5, 40],
        [21, 3],
        [bytes.length - 10, 50],
        [bytes.length + 5, 10],
      ] as const) {
        const r = read(json, spec(offset, len), size);
        expect(r.window.equals(bytes.subarray(offset, offset + len)), `${size} ${offset}`).toBe(true);
        expect(r.fields).toMatchObject({ format: 'markdown', slug: 'runbooks/deploy', title: 'Deploy "now"' });
      }
  });

  it('knows the size only when the value ended in what was read', () => {
    const json = JSON.stringify({ ...page, encoding: 'UTF-8' });
    expect(read(json, spec(0, 16), 100_000).total).toBe(bytes.length);
    const cut = read(json, spec(0, 16), 64);
    expect(cut.total).toBeUndefined();
    expect(cut.received).toBeLessThan(Buffer.byteLength(json));
  });

  it('reads on past the window for wanted fields that come after it', () => {
    const json = JSON.stringify({ content, format: 'markdown', slug: 's', title: 't' });
    const r = read(json, spec(0, 4), 8);
    expect(r).toMatchObject({ fields: { format: 'markdown', slug: 's', title: 't' }, total: bytes.length });
  });

  it('refuses what is not a JSON object', () => {
    expect(() => read('<html>login</html>', spec(0, 10), 64)).toThrow(SyntaxError);
    expect(() => read('{"content":"x",}', spec(0, 10), 64)).toThrow(SyntaxError);
    expect(() => read('{"content":"\\q"}', spec(0, 10), 64)).toThrow(SyntaxError);
    expect(read('{"content":"abc"', spec(0, 10), 64).enough).toBe(false);
  });
});
