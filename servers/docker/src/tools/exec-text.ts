/**
 * What a command run by exec_run wrote, as text an agent (and an operator reading the transcript in a
 * terminal) can be shown. The bytes are the command's, so they can hold anything:
 * - terminal control sequences (cursor moves, erases, a window title, an OSC 52 clipboard write, hyperlinks
 *   with hidden payloads) are removed as logs_get removes them (the kit's stripTerminalControls), and the
 *   answer says how many went;
 * - bytes that are not UTF-8 are shown as U+FFFD, and the answer says how many sequences were replaced;
 * - NUL bytes in text (NUL-separated lists such as /proc/1/cmdline) are shown as U+2400 (a visible mark,
 *   where stripping them would run the items together);
 * - binary output (mostly NUL bytes and invalid UTF-8) is not shown at all: decoded as text it is noise
 *   that costs tokens and could still carry controls; the answer says what it was instead.
 */
import { countTerminalControls, stripTerminalControls } from '@ravenhelm/kit';

export interface ShownStream {
  text: string;
  /** Terminal control sequences removed. */
  controls: number;
  /** Byte sequences that were not UTF-8, shown as U+FFFD. */
  invalidUtf8: number;
  /** Binary output: `text` is empty. */
  binary: boolean;
  /** NUL bytes in the output. */
  nulBytes: number;
}

/** More than this share of NUL bytes and invalid sequences (per byte) makes output binary rather than text with a few bad bytes. */
const BINARY_SHARE = 0.3;

/** U+2400 SYMBOL FOR NULL: how a NUL byte in text is shown. */
export const NUL_MARK = '\u2400';

/**
 * `data` as shown: decoded, controls stripped. `cutAtStart` says the bytes are the tail of a longer output,
 * so a character cut at their start is not counted as invalid.
 */
export function shownStream(data: Buffer, cutAtStart: boolean): ShownStream {
  let start = 0;
  // a UTF-8 character has at most 3 continuation bytes (10xxxxxx) after its lead byte
  if (cutAtStart) while (start < Math.min(3, data.length) && ((data[start] ?? 0) & 0xc0) === 0x80) start++;
  const bytes = data.subarray(start);
  const nulBytes = count(bytes, 0);
  const decoded = bytes.toString('utf8');
  const invalidUtf8 = countChar(decoded, '\uFFFD') - countReplacementChars(bytes);
  if (nulBytes + invalidUtf8 > bytes.length * BINARY_SHARE) {
    return { text: '', controls: 0, invalidUtf8, binary: true, nulBytes };
  }
  const marked = nulBytes > 0 ? decoded.replaceAll('\0', NUL_MARK) : decoded;
  const controls = countTerminalControls(marked);
  return {
    text: controls > 0 ? stripTerminalControls(marked) : marked,
    controls,
    invalidUtf8,
    binary: false,
    nulBytes,
  };
}

/** The notes an answer carries for one stream (none when it is plain text). */
export function streamNotes(stream: 'stdout' | 'stderr', s: ShownStream, totalBytes: number): string[] {
  if (s.binary) {
    const why = [
      ...(s.nulBytes > 0 ? [`${s.nulBytes} NUL bytes`] : []),
      ...(s.invalidUtf8 > 0 ? [`${s.invalidUtf8} byte sequences that are not UTF-8`] : []),
    ].join(' and ');
    return [
      `${stream} is binary (${why} in the ${totalBytes} bytes written), so it is not shown: as text it would be noise; run a command that prints it as text (e.g. od or base64) if the allowlist has one`,
    ];
  }
  const notes: string[] = [];
  if (s.nulBytes > 0) notes.push(`${stream} has ${s.nulBytes} NUL bytes, shown as ${NUL_MARK} (U+2400)`);
  if (s.invalidUtf8 > 0)
    notes.push(`${stream} is not valid UTF-8: ${s.invalidUtf8} byte sequences are shown as U+FFFD (\uFFFD)`);
  if (s.controls > 0)
    notes.push(
      `${stream}: ${s.controls} terminal control sequences (colours, cursor moves, erases, titles, clipboard writes, hyperlinks) removed, as a terminal shows the text`,
    );
  return notes;
}

function count(data: Buffer, byte: number): number {
  let n = 0;
  for (let i = data.indexOf(byte); i >= 0; i = data.indexOf(byte, i + 1)) n++;
  return n;
}

function countChar(text: string, ch: string): number {
  let n = 0;
  for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

/** U+FFFD the command wrote itself (EF BF BD), not a replacement made while decoding. */
function countReplacementChars(data: Buffer): number {
  let n = 0;
  const fffd = Buffer.from([0xef, 0xbf, 0xbd]);
  for (let i = data.indexOf(fffd); i >= 0; i = data.indexOf(fffd, i + 3)) n++;
  return n;
}
