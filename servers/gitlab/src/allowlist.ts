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
  /** The part before "/**" of each pattern that ends so: a group it matches is allowed with all it holds. */
  readonly #subtrees: RE2JS[];

  constructor(patterns: readonly string[]) {
    this.patterns = patterns;
    this.#compiled = patterns.map((p) => RE2JS.compile(globToRegex(p), RE2JS.CASE_INSENSITIVE));
    this.#subtrees = patterns
      .filter((p) => p === '**' || p.endsWith('/**'))
      .map((p) => RE2JS.compile(p === '**' ? '^.*$' : globToRegex(p.slice(0, -3)), RE2JS.CASE_INSENSITIVE));
  }

  /** True unless "**" (everything) is one of the patterns. */
  get restricted(): boolean {
    return !this.patterns.includes('**');
  }

  /** The group, and every subgroup and project below it however deep, are allowed. */
  allowsSubtree(group: string): boolean {
    if (!this.allows(group)) return false;
    // "team/**" covers "team/sub/**" too: the group or one of its ancestors is the part before "/**"
    const segments = group.split('/');
    return segments.some((_, i) => {
      const ancestor = segments.slice(0, i + 1).join('/');
      return this.#subtrees.some((re) => re.matches(ancestor));
    });
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

  /**
   * For changes that reach everything in a group (members, group CI/CD variables): the whole subtree
   * must be allowed, not only the group's own path ("team/*" allows the group "team/sub" but not the
   * project "team/sub/app", which a member of "team/sub" can push to).
   */
  checkSubtree(group: string): string {
    this.check('group', group);
    if (!this.allowsSubtree(group))
      throw new ToolError(
        'ERR_NOT_ALLOWED',
        `group "${group}" is inside this server's allowlist (${this.patterns.join(', ')}) but not everything in it is: this change reaches every subgroup and project of the group; use a project-level tool, or an operator can add "${group}/**" to GITLAB_ALLOWLIST`,
        { kind: 'group', path: group },
      );
    return group;
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
