import { ToolError } from '@ravenhelm/kit';

/** GitLab's access levels (doc/api/members.md), lowest first. */
export const ACCESS_LEVELS = { guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50 } as const;
export type AccessLevel = keyof typeof ACCESS_LEVELS;
export const LEVEL_NAMES = Object.keys(ACCESS_LEVELS) as [AccessLevel, ...AccessLevel[]];

/**
 * The highest role a tool of this server may grant (GITLAB_MEMBER_MAX_ACCESS). A grant above it is
 * refused before GitLab is asked: with mcp:gitlab:write an agent could otherwise make anyone (its own
 * human included) owner of a group, more power than any tool of this server gives.
 */
export function checkGrant(level: AccessLevel, ceiling: AccessLevel, what: string): number {
  if (ACCESS_LEVELS[level] > ACCESS_LEVELS[ceiling])
    throw new ToolError(
      'ERR_NOT_ALLOWED',
      `${what}: "${level}" is above the highest role this server may grant ("${ceiling}", GITLAB_MEMBER_MAX_ACCESS); grant "${ceiling}" or lower, or ask a GitLab owner to grant "${level}" in GitLab`,
      { accessLevel: level, ceiling },
    );
  return ACCESS_LEVELS[level];
}
