/**
 * Route files in Traefik's file-provider directory: one `<name>.yaml` per route, written atomically
 * (temp file + fsync + rename), confined to the directory (safe names only, the directory resolved
 * once, symlinked targets refused), and marked so we never overwrite a file we did not write.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Dirent, promises as fs } from 'node:fs';
import { join, sep } from 'node:path';
import { ToolError, visible } from '@ravenhelm/kit';
import type { YamlOutcome } from './yaml-worker.js';

/** The first line of every file this server writes; files without it belong to someone else. */
export const OWNER_MARKER = '# managed-by: ravenhelm-mcp-traefik';
export const ROUTE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_FILE_BYTES = 256 * 1024;
/** The files Traefik's file provider reads (pkg/provider/file/file.go isFileSupported). */
const CONFIG_FILE = /\.(ya?ml|toml)$/i;
/** Directory entries and levels looked at when naming the file that blocks the directory. */
const MAX_SCAN = 2000;
const MAX_DEPTH = 8;
/** Time the scan may spend reading and parsing files (the caller has already waited the load timeout). */
const SCAN_MS = 1500;

/**
 * A file name as a note shows it: quoted, every character that hides or reorders text (controls, bidirectional
 * overrides, zero-width characters, separators) shown as [U+XXXX] (the kit's `visible`); at most 200 characters.
 */
function shownName(rel: string): string {
  return JSON.stringify(visible(rel.length > 200 ? `${rel.slice(0, 200)}...` : rel, { oneLine: true }));
}

export interface RouteFile {
  path: string;
  content: string;
  owned: boolean;
}

export class RouteFiles {
  #real: string | undefined;

  constructor(readonly directory: string) {}

  /** The directory's real path, checked once: it must exist and be a directory. */
  async #dir(): Promise<string> {
    if (this.#real) return this.#real;
    let real: string;
    try {
      real = await fs.realpath(this.directory);
      if (!(await fs.stat(real)).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        `the dynamic-config directory ${this.directory} does not exist or is not a directory; check backend.dynamicDir`,
      );
    }
    this.#real = real;
    return real;
  }

  /** The file for a route name, inside the directory; refuses unsafe names and symlinked targets. */
  async pathOf(name: string): Promise<string> {
    if (!ROUTE_NAME.test(name)) {
      throw new ToolError(
        'ERR_INVALID_INPUT',
        `route name ${JSON.stringify(name)} is not allowed: use 1-63 lower-case letters, digits and "-"`,
      );
    }
    const dir = await this.#dir();
    const path = join(dir, `${name}.yaml`);
    if (!path.startsWith(dir + sep)) throw new ToolError('ERR_NOT_ALLOWED', `${name} resolves outside ${dir}`);
    try {
      const st = await fs.lstat(path);
      if (st.isSymbolicLink()) {
        throw new ToolError('ERR_NOT_ALLOWED', `${path} is a symbolic link; refusing to follow it out of ${dir}`);
      }
      if (!st.isFile()) throw new ToolError('ERR_NOT_ALLOWED', `${path} exists and is not a regular file`);
    } catch (err) {
      if (err instanceof ToolError) throw err;
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return path;
  }

  /** The route file's content (readBounded: no symlink, no FIFO, at most MAX_FILE_BYTES). */
  async read(name: string): Promise<RouteFile | undefined> {
    const path = await this.pathOf(name);
    const content = (await readBounded(path))?.text;
    return content === undefined ? undefined : { path, content, owned: content.startsWith(OWNER_MARKER) };
  }

  /**
   * Which file of the directory likely keeps Traefik from loading it, judged from what this server can see (the
   * API has no per-file error): files Traefik reads (pkg/provider/file/file.go collectFileConfigs: the directory
   * recursively, isFileSupported .toml/.yaml/.yml) that fail our own check (YAML that does not parse, or whose
   * top level is not a mapping), else the newest one that this server did not write. `own` (the file just written)
   * is left out. Bounded: MAX_SCAN entries, MAX_DEPTH levels, symbolic links not followed; a file's content is
   * never quoted (it may hold credentials).
   */
  async blocker(own: string): Promise<string | undefined> {
    const dir = await this.#dir();
    const found: { rel: string; mtimeMs: number; owned: boolean }[] = [];
    let bad: { rel: string; why: string } | undefined;
    let seen = 0;
    let unchecked = 0;
    const deadline = Date.now() + SCAN_MS;
    const walk = async (d: string, rel: string, depth: number): Promise<void> => {
      let entries: Dirent[];
      try {
        entries = await fs.readdir(d, { withFileTypes: true });
      } catch {
        return;
      }
      // Traefik reads in os.ReadDir's order (by name) and fails at the first file it cannot decode
      for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        if (bad || ++seen > MAX_SCAN) return;
        const path = join(d, e.name);
        const relPath = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (depth < MAX_DEPTH) await walk(path, relPath, depth + 1);
          continue;
        }
        if (!e.isFile() || !CONFIG_FILE.test(e.name) || path === own) continue;
        const st = await fs.lstat(path).catch(() => undefined);
        if (!st?.isFile()) continue;
        // judged within the budget; beyond it (or too large to parse here), only a candidate for the newest file
        if (Date.now() > deadline || st.size > MAX_PARSED_BYTES) {
          unchecked++;
          found.push({ rel: relPath, mtimeMs: st.mtimeMs, owned: false });
          continue;
        }
        try {
          const file = await readBounded(path);
          if (file === undefined) continue;
          const toml = /\.toml$/i.test(e.name);
          const why = toml ? undefined : await yamlProblem(file.text, deadline - Date.now());
          if (why === UNCHECKED) unchecked++;
          else if (why) bad = { rel: relPath, why };
          found.push({ rel: relPath, mtimeMs: file.mtimeMs, owned: file.text.startsWith(OWNER_MARKER) });
        } catch (err) {
          // swapped for something else meanwhile: not judged
          if (!(err instanceof ToolError)) throw err;
        }
      }
    };
    await walk(dir, '', 0);
    if (bad) return `${shownName(bad.rel)} in ${this.directory} ${bad.why}: fix or remove it`;
    // files this server wrote are rendered by it and pass the check above: the newest hand-written one is the suspect
    const newest = found
      .filter((f) => !f.owned)
      .reduce<(typeof found)[number] | undefined>((a, f) => (!a || f.mtimeMs > a.mtimeMs ? f : a), undefined);
    if (!newest) return undefined;
    const ago = Math.max(0, Math.round((Date.now() - newest.mtimeMs) / 1000));
    const notChecked = unchecked > 0 ? `, ${unchecked} file(s) too large, too complex or too many to check here` : '';
    return `no other file fails our YAML check (TOML and templated files are not checked${notChecked}); the newest file this server did not write is ${shownName(newest.rel)} (changed ${ago} s ago): check it first`;
  }

  /** Writes atomically: a new temp file beside the target (O_EXCL), fsync, rename over the target. */
  async write(name: string, content: string): Promise<string> {
    return this.#fsErrors(name, 'write', () => this.#write(name, content));
  }

  async remove(name: string): Promise<string> {
    return this.#fsErrors(name, 'remove', async () => {
      const path = await this.pathOf(name);
      await fs.unlink(path);
      await syncDir(await this.#dir());
      return path;
    });
  }

  /** File-system failures become errors that say what could not be done and what to check. */
  async #fsErrors<T>(name: string, verb: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (err instanceof ToolError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new ToolError(
        'ERR_BACKEND_UNAVAILABLE',
        `cannot ${verb} ${name}.yaml in ${this.directory} (${code}); check that the directory exists and this server may write to it`,
      );
    }
  }

  async #write(name: string, content: string): Promise<string> {
    const path = await this.pathOf(name);
    const dir = await this.#dir();
    // A temp name Traefik ignores (not .yaml/.yml/.toml), so a half-written file is never loaded.
    const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await fs.open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } catch (err) {
      await handle.close();
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await handle.close();
    try {
      await this.pathOf(name); // re-check: a symlink may have appeared meanwhile
      await fs.rename(tmp, path);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    await syncDir(dir);
    return path;
  }
}

/**
 * A file's content, read from what was opened: a path checked by lstat can be swapped before the open. O_NONBLOCK
 * keeps a FIFO put there from blocking the open (and a libuv thread with it, until a writer comes); the opened
 * descriptor must be a regular file (fstat), and at most MAX_FILE_BYTES + 1 bytes are read from it (a file that
 * grows after the fstat is still refused). Undefined when the file does not exist.
 */
async function readBounded(path: string): Promise<{ text: string; mtimeMs: number } | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') {
      throw new ToolError('ERR_NOT_ALLOWED', `${path} is a symbolic link; refusing to follow it out of its directory`);
    }
    throw new ToolError('ERR_NOT_ALLOWED', `cannot open ${path} (${code}); check the file and its permissions`);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `${path} is not a regular file (it was replaced while being opened); remove it from the directory`,
      );
    }
    if (st.size > MAX_FILE_BYTES) tooLarge(path);
    const buf = Buffer.alloc(MAX_FILE_BYTES + 1);
    let got = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > MAX_FILE_BYTES) tooLarge(path);
    }
    return { text: buf.subarray(0, got).toString('utf8'), mtimeMs: st.mtimeMs };
  } finally {
    await handle.close();
  }
}

/** The largest file the blocking-file scan parses (the library takes seconds on 64 KiB of errors). */
const MAX_PARSED_BYTES = 64 * 1024;
/** The nesting hand-written YAML may have to be parsed here (see yamlTooComplex). */
const MAX_LEAD = 64;
const MAX_FLOW_DEPTH = 32;

/**
 * Why hand-written text is not handed to the YAML library, or undefined. Deep nesting makes the library (yaml 2.9)
 * run V8 out of memory, which aborts the process: 100,000 compact sequences ("- - - ...", 200 kB) did. So: no line
 * whose indentation and block indicators ("- ", "? ", ": ") take more than MAX_LEAD columns, flow collections nested
 * at most MAX_FLOW_DEPTH deep (counted without regard to quotes: conservative). Files this server writes pass.
 */
export function yamlTooComplex(content: string): string | undefined {
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= content.length; i++) {
    const c = content.charCodeAt(i);
    if (i === content.length || c === 10) {
      const lead = /^[ \t]*(?:[-?:](?:[ \t]+|$))*/.exec(content.slice(start, Math.min(i, start + MAX_LEAD + 2)))?.[0];
      if ((lead?.length ?? 0) > MAX_LEAD) return 'nested too deeply';
      start = i + 1;
    } else if (c === 91 || c === 123) {
      if (++depth > MAX_FLOW_DEPTH) return 'nested too deeply';
    } else if ((c === 93 || c === 125) && depth > 0) depth--;
  }
  return undefined;
}

/**
 * Parses hand-written YAML off the main thread, bounded in time and memory (yaml-worker.ts; loaded on first use,
 * its own chunk in the bundle). Text yamlTooComplex refuses is not parsed at all.
 */
export async function parseYaml(text: string, timeoutMs?: number): Promise<YamlOutcome> {
  const complex = yamlTooComplex(text);
  if (complex) return { kind: 'limit', why: complex };
  return (await import('./yaml-worker.js')).parseYaml(text, timeoutMs);
}

/** Starts the YAML parser's worker ahead of a parse likely to come (the route tools: diffs, the blocking-file scan). */
export function warmYamlParser(): void {
  import('./yaml-worker.js').then(
    (m) => m.warm(),
    () => undefined,
  );
}

const UNCHECKED = 'unchecked';

/**
 * Why Traefik would not decode this YAML, as far as a YAML parser can tell (paerser decodes with gopkg.in/yaml.v3
 * into a map): it does not parse (the position only: the parser's message may quote the file), its aliases expand
 * too far, or its top level is not a mapping. A file with Go template actions (`{{`) is rendered by Traefik first,
 * so it is not judged here; one too complex to parse within `timeoutMs` is UNCHECKED.
 */
async function yamlProblem(content: string, timeoutMs: number): Promise<string | undefined> {
  if (content.includes('{{')) return undefined;
  if (timeoutMs <= 0) return UNCHECKED;
  const parsed = await parseYaml(content, timeoutMs);
  if (parsed.kind === 'limit') return UNCHECKED;
  if (parsed.kind === 'invalid') {
    return `does not parse as YAML${parsed.line ? ` (line ${parsed.line}, column ${parsed.col})` : ''}`;
  }
  return parsed.top === 'other' ? 'is not a YAML mapping at its top level' : undefined;
}

function tooLarge(path: string): never {
  throw new ToolError('ERR_NOT_ALLOWED', `${path} is larger than ${MAX_FILE_BYTES} bytes`);
}

async function syncDir(dir: string): Promise<void> {
  try {
    const h = await fs.open(dir, constants.O_RDONLY);
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
  }
}
