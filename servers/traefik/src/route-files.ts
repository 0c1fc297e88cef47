/**
 * Route files in Traefik's file-provider directory: one `<name>.yaml` per route, written atomically
 * (temp file + fsync + rename), confined to the directory (safe names only, the directory resolved
 * once, symlinked targets refused), and marked so we never overwrite a file we did not write.
 */
import { randomBytes } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { join, sep } from 'node:path';
import { ToolError } from '@ravenhelm/kit';

/** The first line of every file this server writes; files without it belong to someone else. */
export const OWNER_MARKER = '# managed-by: ravenhelm-mcp-traefik';
export const ROUTE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_FILE_BYTES = 256 * 1024;

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

  /**
   * The file's content, read from what was opened: pathOf's lstat is only a first check, and the path can be
   * swapped between it and the open. O_NONBLOCK keeps a FIFO put there from blocking the open (and a libuv
   * thread with it, until a writer comes); the opened descriptor must be a regular file (fstat), and at most
   * MAX_FILE_BYTES + 1 bytes are read from it (a file that grows after the fstat is still refused).
   */
  async read(name: string): Promise<RouteFile | undefined> {
    const path = await this.pathOf(name);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code === 'ELOOP') {
        throw new ToolError(
          'ERR_NOT_ALLOWED',
          `${path} is a symbolic link; refusing to follow it out of its directory`,
        );
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
      const content = buf.subarray(0, got).toString('utf8');
      return { path, content, owned: content.startsWith(OWNER_MARKER) };
    } finally {
      await handle.close();
    }
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
