import { ToolError } from '@ravenhelm/kit';
import { RE2JS } from 're2js';

/**
 * The project and group paths this server may touch, as globs over GitLab full paths:
 * `*` matches within one path segment, `**` any number of segments (zero included, so `team/**`
 * covers the group `team` itself). Checked before GitLab is asked.
 */
export class Allowlist {
  readonly patterns: readonly string[];
  readonly #compiled: RE2JS[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    this.#compiled = patterns.map((p) => RE2JS.compile(globToRegex(p), RE2JS.CASE_INSENSITIVE));
  }

  allows(path: string): boolean {
    // "team/.." matches "team/*" as text but names nothing in team: "." and ".." are never allowed segments
    if (path.split('/').some((segment) => segment === '.' || segment === '..')) return false;
    return this.#compiled.some((re) => re.matches(path));
  }

  /** Throws ERR_NOT_ALLOWED naming the path and where the allowlist is configured. */
  check(kind: 'project' | 'group', path: string): string {
    if (!this.allows(path))
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `${kind} "${path}" is outside this server's allowlist (${this.patterns.join(', ') || 'empty'}); an operator can extend GITLAB_ALLOWLIST`,
        { kind, path },
      );
    return path;
  }
}

export function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '*' && glob[i + 1] === '*') {
      i++;
      if (glob[i + 1] === '/') {
        i++;
        out += '(?:.*/)?';
      } else if (out.endsWith('/')) {
        out = `${out.slice(0, -1)}(?:/.*)?`;
      } else out += '.*';
    } else if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  }
  return `^${out}$`;
}
