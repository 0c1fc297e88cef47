import { describe, expect, it } from 'vitest';
import { oneLine } from './stdio.js';

describe('oneLine', () => {
  it('escapes U+2028 and U+2029, so a line splitter that breaks on them reads one message per line', () => {
    const message = { jsonrpc: '2.0', id: 1, error: { code: -32601, message: 'no method "\u2028x\u2029" here' } };
    const line = oneLine(message);
    expect(line).not.toMatch(/[\n\r\u2028\u2029]/);
    expect(line).toContain('\\u2028x\\u2029');
    expect(JSON.parse(line)).toEqual(message);
  });
});
