/**
 * GitLab job logs as an agent needs them: ANSI colour codes stripped, GitLab's collapsible-section
 * markers (`section_start:<unix>:<name>[opts]\r\e[0K`, `section_end:...`) removed, carriage-return
 * progress overwrites resolved, with the name of the section each line belongs to kept aside.
 */
import { charStartAtOrBefore } from '@ravenhelm/kit';

/**
 * Terminal control sequences (ECMA-48 / ISO 6429, in their 7-bit and 8-bit forms): CSI with any parameter
 * bytes (0x30-0x3F: colons of truecolour SGR, private markers < = > ?), intermediates and a final byte;
 * the control strings OSC, DCS, SOS, PM and APC up to their terminator (ST, or BEL as xterm accepts; an
 * unterminated one to the end of its line), payload included (a hyperlink's URL, an inline image's
 * base64); any other escape with its intermediates and final byte; a lone ESC.
 */
const ANSI =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
  /(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]|(?:\x1b[\]PX^_]|[\x90\x98\x9d-\x9f])[^\n]*?(?:\x07|\x1b\\|\x9c|$)|\x1b[ -/]*[0-~]|\x1b/gm;
/** C0 controls but tab and newline, DEL and C1 controls: nothing a reader of the log should get. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: GitLab's section marker ends with \r\e[0K
const SECTION = /section_(start|end):(\d+):([A-Za-z0-9_.-]+)(?:\[[^\]\r\n]*\])?\r?(?:\x1b\[0K)?/g;

export function stripAnsi(text: string): string {
  return eraseBackspaces(text.replace(ANSI, '')).replace(CONTROL, '');
}

/** A backspace moves back over the character before it, which the next one overwrites (spinners, overstrike). */
function eraseBackspaces(text: string): string {
  if (!text.includes('\b')) return text;
  const out: string[] = [];
  for (const ch of text) {
    if (ch === '\b') out.pop();
    else out.push(ch);
  }
  return out.join('');
}

export interface CleanLine {
  text: string;
  /** The innermost open section (`step_script`, `prepare_executor`...), or null outside any section. */
  section: string | null;
  /** Where its raw line starts and where the next one starts, in bytes of the raw text. */
  start: number;
  end: number;
}

/** Splits a raw trace into clean lines, tracking which section each belongs to. */
export function cleanLog(raw: string): { lines: CleanLine[]; lastSection: string | null } {
  const out: CleanLine[] = [];
  const open: string[] = [];
  let lastSection: string | null = null;
  let end = 0;
  for (const rawLine of raw.split('\n')) {
    const start = end;
    end += Buffer.byteLength(rawLine, 'utf8') + 1;
    let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    let sectionLineOnly = false;
    line = line.replace(SECTION, (_m, kind: string, _ts: string, name: string) => {
      if (kind === 'start') {
        open.push(name);
        lastSection = name;
      } else {
        const at = open.lastIndexOf(name);
        if (at >= 0) open.splice(at, 1);
      }
      sectionLineOnly = true;
      return '';
    });
    // a progress bar rewrites its line with \r: what remains visible is the text after the last \r
    const cr = line.lastIndexOf('\r');
    if (cr >= 0) line = line.slice(cr + 1);
    const text = stripAnsi(line).trimEnd();
    if (text === '' && sectionLineOnly) continue;
    out.push({ text, section: open.at(-1) ?? null, start, end });
  }
  while (out.length > 0 && out.at(-1)?.text === '') out.pop();
  return { lines: out, lastSection };
}

/** The last `maxLines` lines whose total UTF-8 size stays within `maxBytes` (newest kept). */
export function tailLines<T extends { text: string }>(
  lines: readonly T[],
  maxLines: number,
  maxBytes: number,
): { lines: T[]; bytes: number } {
  const kept: T[] = [];
  let bytes = 0;
  for (let i = lines.length - 1; i >= 0 && kept.length < maxLines; i--) {
    const line = lines[i] as T;
    const size = Buffer.byteLength(line.text, 'utf8') + 1;
    if (bytes + size > maxBytes) {
      if (kept.length > 0) break;
      // a single huge line: keep its end
      const cut = Buffer.from(line.text, 'utf8');
      kept.push({ ...line, text: cut.subarray(Math.max(0, cut.length - maxBytes + 1)).toString('utf8') });
      bytes = maxBytes;
      break;
    }
    kept.push(line);
    bytes += size;
  }
  return { lines: kept.reverse(), bytes };
}

/** The first `maxLines` lines whose total UTF-8 size stays within `maxBytes`; a single huge line keeps its start. */
export function headLines<T extends { text: string }>(
  lines: readonly T[],
  maxLines: number,
  maxBytes: number,
): { lines: T[]; cut: boolean } {
  const kept: T[] = [];
  let bytes = 0;
  for (const line of lines) {
    if (kept.length >= maxLines) break;
    const size = Buffer.byteLength(line.text, 'utf8') + 1;
    if (bytes + size > maxBytes) {
      if (kept.length > 0) break;
      const buf = Buffer.from(line.text, 'utf8');
      const n = charStartAtOrBefore(buf, maxBytes - 1); // not inside a character
      return { lines: [{ ...line, text: buf.subarray(0, n).toString('utf8') }], cut: true };
    }
    kept.push(line);
    bytes += size;
  }
  return { lines: kept, cut: false };
}
