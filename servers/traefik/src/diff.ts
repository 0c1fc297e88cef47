/** A small line diff (LCS) for route files: "-" removed, "+" added, " " kept. Files here are a few dozen lines. */
const MAX_LINES = 400;

export function lineDiff(before: string, after: string): string {
  const a = before === '' ? [] : before.replace(/\n$/, '').split('\n');
  const b = after === '' ? [] : after.replace(/\n$/, '').split('\n');
  if (a.length > MAX_LINES || b.length > MAX_LINES) {
    return [...a.map((l) => `-${l}`), ...b.map((l) => `+${l}`)].join('\n');
  }
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..]
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      row[j] = a[i] === b[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push(` ${a[i++]}`);
      j++;
    } else if (i < a.length && (j >= b.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      out.push(`-${a[i++]}`);
    } else {
      out.push(`+${b[j++]}`);
    }
  }
  return out.join('\n');
}

/**
 * A diff cut at whole lines to fit `maxBytes` (as JSON, where newlines and quotes are escaped), ending with
 * a line that says how much was left out. Route files may be 256 KiB; plans and answers may not.
 */
export function clipDiff(diff: string, maxBytes: number): string {
  const size = (s: string) => Buffer.byteLength(JSON.stringify(s));
  if (size(diff) <= maxBytes) return diff;
  const lines = diff.split('\n');
  const budget = Math.max(0, maxBytes - 80);
  let used = 2;
  let kept = 0;
  for (const line of lines) {
    const cost = size(line); // its escaped text; the two quotes stand for its escaped newline
    if (used + cost > budget) break;
    used += cost;
    kept++;
  }
  return [
    ...lines.slice(0, kept),
    `... ${lines.length - kept} more lines not shown (diff cut at ${maxBytes} bytes)`,
  ].join('\n');
}
