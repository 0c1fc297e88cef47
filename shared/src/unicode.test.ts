import { describe, expect, it } from 'vitest';
import { clip } from './message.js';
import { oneLine } from './stdio.js';
import {
  clipChars,
  findLoneSurrogate,
  loneSurrogateAt,
  sliceChars,
  stringifyWellFormed,
  wellFormed,
  wellFormedValue,
} from './unicode.js';

const WHALE = '🐳'; // U+1F433: two UTF-16 code units
const isWellFormed = (s: string) => loneSurrogateAt(s) < 0;

describe('sliceChars and clipChars', () => {
  it('never end in half a surrogate pair, and are never longer than asked', () => {
    const text = `ab${WHALE.repeat(10)}`;
    for (let max = 0; max <= text.length + 1; max++) {
      const cut = sliceChars(text, max);
      expect(cut.length, `max ${max}`).toBeLessThanOrEqual(max);
      expect(isWellFormed(cut), `max ${max}`).toBe(true);
      expect(text.startsWith(cut)).toBe(true);
      // at most one code unit is given up, and only when the cut fell inside a pair
      expect(cut.length).toBeGreaterThanOrEqual(Math.min(max, text.length) - 1);
    }
    // the naive cut these replace leaves a lone high surrogate
    expect(isWellFormed(text.slice(0, 3))).toBe(false);
    expect(sliceChars(text, 3)).toBe('ab');
    expect(sliceChars(text, 4)).toBe(`ab${WHALE}`);
  });

  it('mark a cut with an ellipsis and leave a short text as it is', () => {
    expect(clipChars(`x${WHALE}`, 2)).toBe('x…');
    expect(clipChars(`x${WHALE}`, 3)).toBe(`x${WHALE}`);
    expect(clipChars('hello', 10)).toBe('hello');
    expect(clipChars('', 0)).toBe('');
  });

  it('keep error messages that quote caller input well-formed', () => {
    const quoted = clip(WHALE.repeat(100), 81);
    expect(isWellFormed(quoted)).toBe(true);
    expect(quoted.startsWith(WHALE.repeat(40))).toBe(true);
    expect(quoted).toContain('(200 characters)');
  });
});

describe('wellFormed and wellFormedValue', () => {
  it('replace lone high and low surrogates with U+FFFD and keep pairs', () => {
    expect(wellFormed(`a\uD83D`)).toBe('a\uFFFD');
    expect(wellFormed(`\uDC33b`)).toBe('\uFFFDb');
    expect(wellFormed(`\uDC33\uD83D`)).toBe('\uFFFD\uFFFD');
    expect(wellFormed(`${WHALE}x`)).toBe(`${WHALE}x`);
  });

  it('return the same value when nothing needs fixing, and copy only the changed path', () => {
    const clean = { a: [1, 'x', { b: WHALE }], c: null, d: true };
    expect(wellFormedValue(clean)).toBe(clean);
    const dirty = { kept: { n: 1 }, list: ['ok', `cut ${WHALE.slice(0, 1)}`], [`k\uDC00`]: 1 };
    const fixed = wellFormedValue(dirty);
    expect(fixed).not.toBe(dirty);
    expect(fixed.kept).toBe(dirty.kept);
    expect(fixed.list).toEqual(['ok', 'cut \uFFFD']);
    expect(Object.keys(fixed)).toContain('k\uFFFD');
    expect(dirty.list[1]).toBe(`cut ${WHALE.slice(0, 1)}`); // the input is not changed
  });

  it('find the first lone surrogate in arguments by path and character', () => {
    expect(findLoneSurrogate({ a: 'fine', b: [WHALE] })).toBeUndefined();
    expect(findLoneSurrogate({ a: 'fine', b: ['x', `12\uD800`] })).toEqual({ path: 'b.1', index: 2 });
    expect(findLoneSurrogate({ nested: { [`k\uDFFF`]: 1 } })).toEqual({ path: '(key) nested.k\uFFFD', index: 1 });
    expect(findLoneSurrogate('\uD800')).toEqual({ path: '(arguments)', index: 0 });
  });
});

describe('stringifyWellFormed: the last guard on every answer', () => {
  it('replaces every lone surrogate with U+FFFD, keys too, and keeps pairs and escaped text', () => {
    const value = {
      lone: `a${WHALE.slice(0, 1)}`,
      low: WHALE.slice(1),
      pair: WHALE,
      literal: '\\ud83d is text here',
      both: `\\${WHALE.slice(0, 1)}`,
      nested: [{ id: `x${WHALE.slice(1)}`, [`k${WHALE.slice(0, 1)}`]: 1 }],
    };
    expect(JSON.stringify(value)).toContain('\\ud83d'); // what strict parsers refuse
    const json = stringifyWellFormed(value);
    expect(json).not.toMatch(/(?<!\\)(?:\\\\)*\\ud[89a-f]/);
    expect(JSON.parse(json)).toEqual({
      lone: 'a\uFFFD',
      low: '\uFFFD',
      pair: WHALE,
      literal: '\\ud83d is text here',
      both: '\\\uFFFD',
      nested: [{ id: 'x\uFFFD', 'k\uFFFD': 1 }],
    });
    const clean = { pair: WHALE, literal: '\\ud800' };
    expect(stringifyWellFormed(clean)).toBe(JSON.stringify(clean));
  });

  it("echoes the message's own id exactly, as JSON-RPC requires", () => {
    const id = `r-${WHALE.slice(0, 1)}`;
    const sent = JSON.parse(stringifyWellFormed({ jsonrpc: '2.0', id, error: { message: `bad ${id}` } }));
    expect(sent.id).toBe(id);
    expect(sent.error.message).toBe('bad r-\uFFFD');
  });

  it('guards every stdio line', () => {
    const line = oneLine({ jsonrpc: '2.0', id: 1, result: { text: `x${WHALE.slice(0, 1)}` } });
    expect(JSON.parse(line).result.text).toBe('x\uFFFD');
  });
});
