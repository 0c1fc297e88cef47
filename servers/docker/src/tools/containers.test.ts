import { describe, expect, it } from 'vitest';
import { fitErrorLines } from './containers.js';

/** Half of a UTF-16 surrogate pair: strict JSON parsers (serde_json, the Anthropic API) refuse it. */
const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('fitErrorLines', () => {
  it('cuts long lines and lines over their share between characters, never inside an emoji', () => {
    // one ASCII character first, so the 1,000-character cut falls inside an emoji
    const line = `x${'🚀'.repeat(700)} error`;
    for (const budget of [100_000, 3000, 1001, 777, 301]) {
      const { lines } = fitErrorLines(
        [
          { stream: 'stderr', text: line },
          { stream: 'stdout', text: `E${line}` },
        ],
        budget,
      );
      expect(lines.length, `budget ${budget}`).toBeGreaterThan(0);
      for (const l of lines) {
        expect(l.text, `budget ${budget}`).not.toMatch(LONE);
        expect(l.text).toMatch(/^(x|Ex)(🚀)*…$/u);
      }
    }
  });
});
