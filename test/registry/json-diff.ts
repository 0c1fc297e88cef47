/** A readable list of differences between two JSON values: `- path: old` / `+ path: new`, at most `limit` lines. */
export function jsonDiff(before: unknown, after: unknown, limit = 40): string[] {
  const lines: string[] = [];
  walk(before, after, '', lines);
  return lines.length > limit ? [...lines.slice(0, limit), `  ... ${lines.length - limit} more lines`] : lines;
}

function show(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function walk(a: unknown, b: unknown, path: string, lines: string[]): void {
  const at = path || '(root)';
  if (isRecord(a) && isRecord(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const sub = path ? `${path}.${key}` : key;
      if (!(key in b)) lines.push(`  - ${sub}: ${show(a[key])}`);
      else if (!(key in a)) lines.push(`  + ${sub}: ${show(b[key])}`);
      else walk(a[key], b[key], sub, lines);
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    for (const [i, item] of a.entries()) walk(item, b[i], `${path}[${i}]`, lines);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) lines.push(`  - ${at}: ${show(a)}`, `  + ${at}: ${show(b)}`);
}
