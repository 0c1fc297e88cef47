/**
 * The setup the GitLab attack suites share: a fresh simulator, the tools called in-process through the real
 * gitbeaker client (`fx.services`), and the same server over Streamable HTTP with the MCP SDK client
 * (`server.call`), read scope only. Registers its own beforeAll/afterAll; read `fx` and `server` inside tests.
 */
import { type GitLabServices, gitlabServer } from '@ravenhelm/mcp-gitlab';
import { afterAll, beforeAll } from 'vitest';
import { type ServedOverHttp, serveOverHttp } from '../fixtures/fault-server.js';
import { BOT_TOKEN } from '../simulators/gitlab.js';
import { type Fixture, start } from './harness.js';

export interface ServedGitLab {
  fx: Fixture;
  server: ServedOverHttp<GitLabServices>;
}

/** `env` is added to (and may replace) GITLAB_URL, GITLAB_TOKEN and RAVENHELM_TOOLSETS=all. */
export function servedGitLab(env: Record<string, string> = {}): ServedGitLab {
  const served = {} as ServedGitLab;
  beforeAll(async () => {
    served.fx = await start();
    served.server = await serveOverHttp<GitLabServices>(
      gitlabServer,
      { GITLAB_URL: served.fx.sim.url, GITLAB_TOKEN: BOT_TOKEN, RAVENHELM_TOOLSETS: 'all', ...env },
      ['mcp:gitlab:read'],
    );
  }, 60_000);
  afterAll(async () => {
    await served.server?.close();
    await served.fx?.close();
  });
  return served;
}
