/**
 * Text that people read before they decide (an approval's plan and arguments, in the console, the
 * approvals CLI and the webhook) comes in part from the agent that asks: its arguments. Characters that
 * change how the text around them looks, or that do not show at all, would let an agent show approvers
 * something other than what runs:
 * - terminal controls (ESC sequences, a carriage return, a backspace) rewrite what the CLI printed;
 * - bidirectional overrides and isolates (Trojan Source, CVE-2021-42574) reorder what a browser shows;
 * - zero-width and other invisible characters make two different names look the same;
 * - line and paragraph separators break a line where none seems to be.
 * Each such character is shown as `[U+XXXX]` instead: visible, and never taken for the character.
 */

// Control characters (C0, DEL, C1; tab and line feed are kept below), soft hyphen, Arabic letter mark,
// Mongolian vowel separator, zero-width space/joiners and LRM/RLM, line/paragraph separators, bidi
// embeddings and overrides, word joiner and invisible operators, bidi isolates and deprecated format
// characters, BOM, interlinear annotation controls, and the tag characters of plane 14.
const HIDDEN =
  /[\p{Cc}\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]/gu;

const shown = (ch: string) => `[U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}]`;

/** `text` with every hidden or reordering character shown as `[U+XXXX]`; tabs stay, line feeds unless `oneLine`. */
export function visible(text: string, opts: { oneLine?: boolean } = {}): string {
  return text.replace(HIDDEN, (ch) => (ch === '\t' || (ch === '\n' && !opts.oneLine) ? ch : shown(ch)));
}

/** `value` with `visible` applied to every string in it, keys included (a JSON value: arguments). */
export function visibleDeep(value: unknown): unknown {
  if (typeof value === 'string') return visible(value);
  if (Array.isArray(value)) return value.map(visibleDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [visible(k), visibleDeep(v)]));
  }
  return value;
}
