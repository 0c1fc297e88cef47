import { describe, expect, it } from 'vitest';
import { visible, visibleDeep } from './visible.js';

describe('visible', () => {
  it('shows terminal controls, bidi overrides and invisible characters as [U+XXXX]', () => {
    expect(visible('a\u001b[2K\rb')).toBe('a[U+001B][2K[U+000D]b');
    expect(visible('bob\u202Eecilah')).toBe('bob[U+202E]ecilah');
    expect(visible('ad\u200Bmin\u2066x\u2069')).toBe('ad[U+200B]min[U+2066]x[U+2069]');
    expect(visible('x\u2028y\u009Bz\u00ADw')).toBe('x[U+2028]y[U+009B]z[U+00AD]w');
    expect(visible('tag\u{E0041}')).toBe('tag[U+E0041]');
  });

  it('leaves ordinary text alone, line feeds unless oneLine', () => {
    const text = 'Zoë Ångström 東京 emoji 🚀 and a tab\there\nnext line';
    expect(visible(text)).toBe(text);
    expect(visible('a\nb', { oneLine: true })).toBe('a[U+000A]b');
  });

  it('applies to every string of a JSON value, keys included', () => {
    expect(visibleDeep({ 'k\u202E': ['v\u001b', 1, null, { n: true }] })).toEqual({
      'k[U+202E]': ['v[U+001B]', 1, null, { n: true }],
    });
  });
});
