import { type Dirent, promises as fs, constants as fsConstants } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ToolError } from '@ravenhelm/kit';
import { checkValue, type Finding, isPlaceholder, looksSecret, type StrengthPolicy } from './checks.js';

export interface FileScanOptions {
  /** Directories the file tools may read; nothing outside them (after resolving symlinks) is touched. */
  roots: readonly string[];
  maxFiles: number;
  maxFileBytes: number;
  maxDepth: number;
}

export interface Entry {
  line: number;
  key: string;
  /** Stays inside the server: findings and answers carry line and key only. */
  value: string;
}

export interface FileFinding extends Finding {
  file: string;
  line: number;
  key: string;
}

export interface ScanResult {
  files: number;
  skipped: { file: string; reason: string }[];
  findings: FileFinding[];
  /** True when the file cap stopped the walk. */
  capped: boolean;
}

const SKIP_DIRS = new Set(['node_modules', '.git', '.hg', '.svn', '.venv', '__pycache__']);

/** `.env`, `.env.local`, `prod.env`, `.env.example`; `docker-compose.yml`, `compose.prod.yaml`, `compose.yaml.tmpl`. */
export function fileKind(name: string): 'env' | 'compose' | undefined {
  if (/^\.env(\..+)?$/.test(name) || /\.env$/.test(name)) return 'env';
  // Templates too: `docker-compose.yml.template`, `compose.yaml.tmpl`, `.example`, `.sample`, `.dist`.
  if (/^(docker-)?compose([.-][\w.-]*)?\.ya?ml(\.(template|tmpl|example|sample|dist))?$/.test(name)) return 'compose';
  return undefined;
}

/**
 * A path the caller named, confined to the configured roots: no `..` segments, and its real path (symlinks
 * resolved) must lie inside the real path of a root. Relative paths are taken from the first root.
 */
export async function confine(path: string, opts: FileScanOptions): Promise<{ root: string; real: string }> {
  if (opts.roots.length === 0) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      'no file roots are configured; set backend.files.roots (SECRETS_FILE_ROOTS)',
    );
  }
  if (path.split(/[\\/]/).includes('..')) throw new ToolError('ERR_NOT_ALLOWED', `"${path}": ".." is not allowed`);
  const roots = await realRoots(opts);
  const candidate = isAbsolute(path) ? path : join(roots[0] as string, path);
  let real: string;
  try {
    real = await fs.realpath(candidate);
  } catch {
    throw new ToolError('ERR_NOT_FOUND', `"${path}" does not exist under the configured roots`);
  }
  const root = roots.find((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep));
  if (!root) {
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      `"${path}" resolves outside the configured roots; only ${roots.join(', ')} may be read`,
    );
  }
  return { root, real };
}

async function realRoots(opts: FileScanOptions): Promise<string[]> {
  const out: string[] = [];
  for (const r of opts.roots) {
    try {
      out.push(await fs.realpath(resolve(r)));
    } catch {
      // A root that does not exist (yet) confines nothing and is skipped.
    }
  }
  if (out.length === 0)
    throw new ToolError('ERR_NOT_FOUND', `none of the configured roots exists: ${opts.roots.join(', ')}`);
  return out;
}

/**
 * Walks the roots (or one directory inside them), bounded by file count, file size and depth, and by the
 * call: it stops when `signal` aborts (call timeout or cancel) instead of reading on in the background.
 */
export async function scanFiles(
  opts: FileScanOptions,
  policy: StrengthPolicy,
  under: string | undefined,
  signal: AbortSignal,
): Promise<ScanResult> {
  const stopIfOver = () => {
    if (signal.aborted)
      throw new ToolError(
        'ERR_CANCELLED',
        'the file scan stopped: its call was cancelled or timed out; scan one folder (path) at a time',
      );
  };
  const roots = await realRoots(opts);
  const starts = under ? [await confine(under, opts)] : roots.map((r) => ({ root: r, real: r }));
  const result: ScanResult = { files: 0, skipped: [], findings: [], capped: false };
  const seenDirs = new Set<string>();
  const inside = (real: string, root: string) => real === root || real.startsWith(root + sep);

  /** `path` is what the answer shows; `real` (symlinks resolved, checked inside the root) is what is opened. */
  const visitFile = async (path: string, kind: 'env' | 'compose', real = path) => {
    stopIfOver();
    if (result.files >= opts.maxFiles) {
      result.capped = true;
      return;
    }
    const read = await readBounded(real, opts.maxFileBytes);
    if ('reason' in read) {
      result.skipped.push({ file: path, reason: read.reason });
      return;
    }
    result.files++;
    for (const e of parseEntries(read.text, kind)) {
      for (const f of entryFindings(e, policy)) result.findings.push({ file: path, line: e.line, key: e.key, ...f });
    }
  };

  const walk = async (dir: string, root: string, depth: number): Promise<void> => {
    stopIfOver();
    if (seenDirs.has(dir) || result.capped) return;
    seenDirs.add(dir);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      result.skipped.push({ file: dir, reason: `unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
      return;
    }
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const ent of entries) {
      if (result.capped) return;
      const path = join(dir, ent.name);
      if (ent.isSymbolicLink()) {
        const real = await fs.realpath(path).catch(() => undefined);
        if (!real || !inside(real, root)) {
          result.skipped.push({ file: path, reason: real ? 'symlink outside the root' : 'broken symlink' });
          continue;
        }
        const st = await fs.stat(real);
        if (st.isDirectory()) {
          if (depth < opts.maxDepth) await walk(real, root, depth + 1);
        } else if (st.isFile()) {
          const kind = fileKind(ent.name);
          if (kind) await visitFile(path, kind, real);
        }
        continue;
      }
      if (ent.isDirectory()) {
        if (!SKIP_DIRS.has(ent.name) && depth < opts.maxDepth) await walk(path, root, depth + 1);
      } else if (ent.isFile()) {
        const kind = fileKind(ent.name);
        if (kind) await visitFile(path, kind);
      }
    }
  };

  for (const s of starts) {
    const st = await fs.stat(s.real);
    if (st.isDirectory()) await walk(s.real, s.root, 0);
    else {
      const kind = fileKind(basename(s.real));
      if (!kind)
        throw new ToolError('ERR_INVALID_INPUT', `"${under}" is neither a directory nor a .env or compose file`);
      await visitFile(s.real, kind);
    }
  }
  return result;
}

/** The value of one key in one scanned file; the value never leaves the server. */
export async function readEntry(
  path: string,
  key: string,
  opts: FileScanOptions,
): Promise<{ file: string; root: string; entry: Entry; kind: 'env' | 'compose' }> {
  const { real, root } = await confine(path, opts);
  const kind = fileKind(basename(real)) ?? fileKind(basename(path));
  if (!kind) throw new ToolError('ERR_INVALID_INPUT', `"${path}" is not a .env or compose file`);
  const read = await readBounded(real, opts.maxFileBytes);
  if ('reason' in read) throw new ToolError('ERR_INVALID_INPUT', `"${path}" was not read: ${read.reason}`);
  const matches = parseEntries(read.text, kind).filter((e) => e.key === key);
  const entry = kind === 'env' ? matches.at(-1) : matches.length === 1 ? matches[0] : undefined;
  if (!entry) {
    throw new ToolError(
      matches.length > 1 ? 'ERR_CONFLICT' : 'ERR_NOT_FOUND',
      matches.length > 1
        ? `key ${key} appears ${matches.length} times in "${path}" (lines ${matches.map((m) => m.line).join(', ')}); move it by hand`
        : `key ${key} is not set in "${path}"; run files_audit to see its keys`,
    );
  }
  return { file: real, root, entry: { ...entry, value: literalValue(entry.value) ?? entry.value }, kind };
}

async function readBounded(path: string, max: number): Promise<{ text: string } | { reason: string }> {
  let fh: fs.FileHandle | undefined;
  try {
    // O_NOFOLLOW: the path was resolved and confined first; a symlink swapped in since is not followed.
    // O_NONBLOCK: opening a FIFO nobody writes to would otherwise block a threadpool thread for good.
    fh = await fs.open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
    const st = await fh.stat();
    if (!st.isFile()) return { reason: 'not a regular file' };
    if (st.size > max) return { reason: `larger than ${max} bytes (${st.size})` };
    const buf = Buffer.alloc(max + 1);
    const { bytesRead } = await fh.read(buf, 0, max + 1, 0);
    if (bytesRead > max) return { reason: `larger than ${max} bytes` };
    const text = buf.subarray(0, bytesRead).toString('utf8');
    if (text.includes('\u0000')) return { reason: 'binary' };
    return { text };
  } catch (err) {
    return { reason: `unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    await fh?.close();
  }
}

const ENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$/;
// `KEY: value`, `"KEY": value`, `- KEY=value`, `- "KEY=value"` (the quote then wraps the whole entry).
const COMPOSE_LINE = /^\s*(?:-\s+)?(["']?)([A-Za-z_][A-Za-z0-9_.-]*)(["']?)\s*(=|:(?=\s|$))\s*(.*)$/;

export function parseEntries(text: string, kind: 'env' | 'compose'): Entry[] {
  const out: Entry[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    if (/^\s*#/.test(raw)) return;
    if (kind === 'env') {
      const m = ENV_LINE.exec(raw);
      if (m) out.push({ line: i + 1, key: m[1] as string, value: unquote(m[2] as string) });
      return;
    }
    const m = COMPOSE_LINE.exec(raw);
    if (!m) return;
    const [, open, key, close, sep, rest] = m as unknown as string[];
    let raw2 = (rest as string).trim();
    // A quote opened before the key and not closed after it wraps the whole `KEY=value` entry.
    if (open && !close && raw2.endsWith(open as string)) raw2 = raw2.slice(0, -1);
    const value = unquote(raw2);
    // `environment:` and other mapping keys have no value of their own; `|`/`>` start block scalars.
    if (sep === ':' && (value === '' || value === '|' || value === '>')) return;
    out.push({ line: i + 1, key: key as string, value });
  });
  return out;
}

function unquote(v: string): string {
  const t = v.trim();
  if (
    (t.startsWith('"') && t.endsWith('"') && t.length >= 2) ||
    (t.startsWith("'") && t.endsWith("'") && t.length >= 2)
  ) {
    return t.slice(1, -1);
  }
  return t.replace(/\s+#.*$/, '');
}

/**
 * The literal part of a value: `${VAR}` is a reference (undefined: nothing to judge), `${VAR:-default}` and
 * `${VAR-default}` judge the default, anything else is the literal value.
 */
export function literalValue(value: string): string | undefined {
  const ref = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?:(:?[-?+])(.*))?\}$/.exec(value);
  if (!ref) return /^\$[A-Za-z_][A-Za-z0-9_]*$/.test(value) ? undefined : value;
  if (ref[1] === ':-' || ref[1] === '-') return ref[2] ?? '';
  return undefined;
}

function entryFindings(e: Entry, policy: StrengthPolicy): Finding[] {
  const literal = literalValue(e.value);
  if (literal === undefined) return [];
  const secretKey = looksSecret(e.key);
  if (!secretKey) return isPlaceholder(literal) && literal !== '' ? [{ issue: 'placeholder' }] : [];
  const found = checkValue(literal, policy);
  if (literal.trim() !== '' && !isPlaceholder(literal)) {
    found.push({ issue: 'plaintext', detail: 'move it with files_migrate' });
  }
  return found;
}

export function displayPath(file: string, root: string): string {
  return relative(root, file) || basename(file);
}
