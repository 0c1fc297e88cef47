/**
 * GitLab job logs as an agent needs them: ANSI colour codes stripped, GitLab's collapsible-section
 * markers (`section_start:<unix>:<name>[opts]\r\e[0K`, `section_end:...`) removed, carriage-return
 * progress overwrites resolved, with the name of the section each line belongs to kept aside.
 */
import { charStartAtOrBefore, stripTerminalControls } from '@ravenhelm/kit';

// biome-ignore lint/suspicious/noControlCharactersInRegex: GitLab's section marker ends with \r\e[0K
const SECTION = /section_(start|end):(\d+):([A-Za-z0-9_.-]+)(?:\[[^\]\r\n]*\])?\r?(?:\x1b\[0K)?/g;

/** Terminal control sequences and their payloads removed, as the kit does for every server's terminal text. */
export function stripAnsi(text: string): string {
  return stripTerminalControls(text);
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
