/**
 * Text a program wrote to a terminal (container logs, CI job traces, health-check output, error messages
 * relayed from a backend), as a person at that terminal would read it. Terminal control sequences
 * (ECMA-48 / ISO 6429, 7-bit and 8-bit C1 forms) are removed; the few that move the cursor within a line
 * are applied, so text a terminal overwrites or erases is not shown either:
 * - control strings OSC, DCS, SOS, PM and APC go with their payload (a hyperlink's URL, an inline image,
 *   a title). They end at ST (ESC \ or 0x9C), an OSC also at BEL; as in terminal parsers (vt100.net's DEC
 *   parser), any other ESC or C1 control, CAN or SUB ends them too. An unterminated one runs to the end of
 *   its line: callers read line by line, and one stray introducer must not swallow the rest of a text;
 * - CSI sequences go (colours, with colons or private markers); erase in line (EL), cursor back/forward
 *   and to a column (CUB, CUF, CHA), carriage return and backspace act on the line as in a terminal;
 * - any other escape (with its intermediates and final byte), a lone ESC, C0 controls but tab and line
 *   feed, DEL and the C1 controls go.
 * A cursor move goes no further than column MAX_BLANK_COLUMN or the end of the line written so far, so
 * escape sequences cannot turn a few bytes into a line of megabytes of blanks.
 */

const CONTROL_STRING =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal control strings is the point
  /(?:\x1b\]|\x9d)[^\x07\x18\x1a\x1b\x80-\x9f\n]*(?:\x07|\x1b\\|\x9c|[\x18\x1a])?|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x18\x1a\x1b\x80-\x9f\n]*(?:\x1b\\|\x9c|[\x18\x1a])?/g;

/** CSI (parameters, intermediates, final), any other escape, a lone ESC, and every other control but tab and LF. */
const CONTROL =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal controls is the point
  /(?:\x1b\[|\x9b)([0-?]*)([ -/]*)([@-~])|\x1b[ -/]*[0-~]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** Anything that moves the cursor or erases within a line: such lines are replayed cell by cell. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: as above
const LINE_EDIT = /[\r\b]|(?:\x1b\[|\x9b)[0-9;]*[CDGK]/;

// biome-ignore lint/suspicious/noControlCharactersInRegex: a fast path for text without any control
const ANY_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** A cursor move stops at this column or at the end of what the line holds, whichever is further (a terminal stops at its width). */
const MAX_BLANK_COLUMN = 256;

/** Each sequence CONTROL removes, once: a CR counts unless it ends a line (CRLF output). */
const COUNTED =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: counting terminal controls is the point
  /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|\x1b[ -/]*[0-~]?|\r(?!\n|$)|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]/g;

/**
 * How many control sequences stripTerminalControls removes from `text`, for an answer that says so: a control
 * string with its payload counts once, a CSI or escape once, a lone control once; a CR that ends a line does not count.
 */
export function countTerminalControls(text: string): number {
  if (!ANY_CONTROL.test(text)) return 0;
  let n = 0;
  const rest = text.replace(CONTROL_STRING, () => {
    n++;
    return '';
  });
  for (const _ of rest.matchAll(COUNTED)) n++;
  return n;
}

/** `text` as a terminal shows it: control sequences and their payloads removed, line edits applied. Tabs and line feeds stay. */
export function stripTerminalControls(text: string): string {
  if (!ANY_CONTROL.test(text)) return text;
  const bare = text.replace(CONTROL_STRING, '');
  if (!LINE_EDIT.test(bare)) return bare.replace(CONTROL, '');
  return bare
    .split('\n')
    .map((line) => (LINE_EDIT.test(line) ? replayLine(line) : line.replace(CONTROL, '')))
    .join('\n');
}

/** One line replayed on a row of cells: text overwrites at the cursor, CR/BS/EL/CUB/CUF/CHA act, the rest goes. */
function replayLine(line: string): string {
  // a hole is a cell nothing was written to, or one erased: blank inside the line, dropped at its end
  const cells: (string | undefined)[] = [];
  let col = 0;
  const write = (run: string) => {
    for (const ch of run) cells[col++] = ch;
  };
  const moveTo = (target: number) => {
    col = Math.max(0, Math.min(target, Math.max(cells.length, MAX_BLANK_COLUMN)));
  };
  let from = 0;
  CONTROL.lastIndex = 0;
  for (let m = CONTROL.exec(line); m; m = CONTROL.exec(line)) {
    write(line.slice(from, m.index));
    from = m.index + m[0].length;
    if (m[0] === '\r') col = 0;
    else if (m[0] === '\b') col = Math.max(0, col - 1);
    else if (m[3] !== undefined && m[2] === '' && /^[0-9;]*$/.test(m[1] ?? '')) {
      const n = Number.parseInt(m[1] || '0', 10) || 0;
      if (m[3] === 'K') eraseInLine(cells, col, n);
      else if (m[3] === 'C') moveTo(col + Math.max(1, n));
      else if (m[3] === 'D') moveTo(col - Math.max(1, n));
      else if (m[3] === 'G') moveTo(Math.max(1, n) - 1);
    }
  }
  write(line.slice(from));
  while (cells.length > 0 && cells[cells.length - 1] === undefined) cells.length--;
  return Array.from(cells, (c) => c ?? ' ').join('');
}

/** EL: 0 from the cursor to the end of the line, 1 from its start to the cursor (included), 2 all of it. */
function eraseInLine(cells: (string | undefined)[], col: number, mode: number): void {
  if (mode === 0 || mode === 2) cells.length = Math.min(cells.length, col);
  if (mode === 1 || mode === 2) cells.fill(undefined, 0, Math.min(cells.length, col + 1));
}
