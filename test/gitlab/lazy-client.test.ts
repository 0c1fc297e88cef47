/**
 * gitbeaker is loaded by the first GitLab call, not at start (issue 14: idle RSS): constructing the
 * backend sends nothing and builds no client; the first calls, even concurrent ones, share one client and
 * work against the simulator through the real @gitbeaker/rest. A missing gitbeaker chunk in the bundle is
 * covered by test/e2e/bundle.test.ts (a tool error, and the server keeps serving).
 */
import { gitlabServer } from '@ravenhelm/mcp-gitlab';
import { describe, expect, it } from 'vitest';
import { BOT_TOKEN } from '../simulators/gitlab.js';
import { backendFor, call, simulatorFor } from './harness.js';

const fx = simulatorFor();

describe('the GitLab client, loaded on first use', () => {
  it('sends nothing when the backend is built; concurrent first calls share one client and all work', async () => {
    const services = { gitlab: backendFor(fx.sim.url) };
    const before = fx.sim.control.requests.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(fx.sim.control.requests.length).toBe(before);

    const clients = await Promise.all([services.gitlab.api(), services.gitlab.api(), services.gitlab.api()]);
    expect(clients[0]).toBe(clients[1]);
    expect(clients[1]).toBe(clients[2]);
    expect(fx.sim.control.requests.length).toBe(before);

    const fresh = { gitlab: backendFor(fx.sim.url) };
    const results = await Promise.all(
      ['platform/api', 'platform/api', 'platform/api'].map((project) => call('projects_get', { project }, fresh)),
    );
    for (const r of results) expect(r).toMatchObject({ path: 'platform/api', defaultBranch: 'main' });
    expect(await fresh.gitlab.api()).toBe(await fresh.gitlab.api());
    expect(fx.sim.control.requests.length - before).toBe(3);
  });

  it("readiness asks GitLab's metadata endpoint through the request handler alone, with the server's token", async () => {
    const services = { gitlab: backendFor(fx.sim.url) };
    const before = fx.sim.control.requests.length;
    await gitlabServer.ready?.(services, AbortSignal.timeout(3000));
    const sent = fx.sim.control.requests.slice(before);
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v4/metadata']);
    expect(sent[0]?.token).toBe(BOT_TOKEN);
    expect(await services.gitlab.metadata(AbortSignal.timeout(3000))).toMatchObject({ version: '17.5.1' });

    const refused = backendFor(fx.sim.url, { token: 'not-a-gitlab-token' });
    const err = await refused.metadata(AbortSignal.timeout(3000)).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'ERR_BACKEND_ERROR',
      message: expect.stringMatching(/refused this server's token \(401\)/),
    });
    expect(String((err as Error).message)).not.toContain('not-a-gitlab-token');

    const down = backendFor('http://127.0.0.1:9', { maxRetries: 0 });
    await expect(down.metadata(AbortSignal.timeout(3000))).rejects.toMatchObject({ code: 'ERR_BACKEND_UNAVAILABLE' });
  });
});
