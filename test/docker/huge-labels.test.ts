/**
 * Labels are free text of any length, and so are container names (the engine sets no limit on either): a
 * compose project or service label, or a name, of tens of kilobytes must not make a tool's answer exceed
 * the output budget; answers show them clipped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerFixture, ensureImage, RUN_LABEL } from './fixture.js';
import { call, callError, makeServices, tool } from './harness.js';

const fx = new DockerFixture('hugelabel');
const services = makeServices();
const project = `huge-${fx.prefix.slice(-6)}`;
const bigService = 's'.repeat(20_000);
const bigProject = `p${'x'.repeat(30_000)}`;
const budget = { maxOutputBytes: 16_384 };
const mine = [`${RUN_LABEL}=${fx.prefix}`];
let names: string[] = [];
const longProject = `long-${fx.prefix.slice(-6)}`;
let longName = '';
let longId = '';

beforeAll(async () => {
  await ensureImage();
  const at = (service: string) => ({ 'com.docker.compose.project': project, 'com.docker.compose.service': service });
  names = await Promise.all([
    fx.start({ name: 'a', labels: at(bigService), script: 'echo hello; sleep 600' }),
    fx.start({ name: 'b', labels: at(`${bigService}b`), script: 'sleep 600' }),
    fx.start({ name: 'c', labels: { 'com.docker.compose.project': bigProject }, script: 'exit 3' }),
  ]);
  longName = await fx.start({
    name: 'n'.repeat(40_000),
    labels: { 'com.docker.compose.project': longProject, 'com.docker.compose.service': 'web' },
    script: 'echo hi; exit 4',
    restart: 'always',
  });
  longId = (await fx.inspect(longName)).Id;
}, 120_000);

afterAll(async () => {
  await fx.cleanup();
});

const clipped = `${'s'.repeat(200)}…`;

describe('huge label values', () => {
  it('compose tools answer within the budget, showing the labels clipped', async () => {
    const listed = await call(tool('compose_list_projects'), { limit: 200 }, services, budget);
    const rows = listed.projects as { project: string; services: string[]; addressable?: false }[];
    expect(rows.find((p) => p.project === project)).toMatchObject({ services: [clipped], containers: 2 });
    expect(rows.find((p) => p.project === `p${'x'.repeat(199)}…`)).toMatchObject({ addressable: false });
    const status = await call(tool('compose_get_status'), { project }, services, budget);
    expect(status.services.map((s: { service: string }) => s.service)).toEqual([clipped]);
    expect(status.services[0].total).toBe(2);
    const logs = await call(tool('compose_get_logs'), { project }, services, budget);
    expect(logs.services).toEqual([clipped]);
    expect(logs.text).toContain('hello');
    const unknown = await callError(tool('compose_get_logs'), { project, services: ['db'] }, services, budget);
    expect(unknown.code).toBe('ERR_NOT_FOUND');
    expect(unknown.message.length).toBeLessThan(1000);
    const stopped = await call(tool('compose_stop'), { project, stopTimeoutSeconds: 0 }, services, budget);
    expect(stopped).toMatchObject({ allReached: true, omitted: 0 });
    expect(stopped.containers.map((c: { service: string }) => c.service)).toEqual([clipped, clipped]);
  }, 60_000);

  it('container and health tools answer within the budget, showing the labels clipped', async () => {
    const list = await call(tool('containers_list'), { labels: mine }, services, budget);
    expect(list.containers).toHaveLength(4);
    expect(list.containers.map((c: { composeService: string | null }) => c.composeService)).toContain(clipped);
    const report = await call(tool('health_get_report'), { labels: mine }, services, budget);
    expect(report.containers.map((c: { composeProject: string | null }) => c.composeProject)).toContain(
      `p${'x'.repeat(199)}…`,
    );
    const diagnosed = await call(tool('containers_diagnose'), { container: names[0] }, services, budget);
    expect(diagnosed.compose).toEqual({ project, service: clipped });
  }, 60_000);

  it('a container name of 40,000 characters is shown clipped, and every answer fits the budget', async () => {
    const shown = `${longName.slice(0, 200)}…`;
    const list = await call(tool('containers_list'), { labels: mine, limit: 200 }, services, budget);
    expect(list.containers.map((c: { name: string }) => c.name)).toContain(shown);
    const status = await call(tool('compose_get_status'), { project: longProject }, services, budget);
    expect(status.services[0].containers[0].name).toBe(shown);
    const report = await call(tool('health_get_report'), { labels: mine }, services, budget);
    expect(report.containers.map((c: { name: string }) => c.name)).toContain(shown);
    const diagnosed = await call(tool('containers_diagnose'), { container: longId }, services, budget);
    expect(diagnosed.container.name).toBe(shown);
    const logs = await call(tool('logs_get'), { container: longId }, services, budget);
    expect(logs.text).toContain('hi');
    const projectLogs = await call(tool('compose_get_logs'), { project: longProject }, services, budget);
    expect(projectLogs.text).toContain('web | hi');
    const stopped = await call(tool('compose_stop'), { project: longProject, stopTimeoutSeconds: 0 }, services, budget);
    expect(stopped.containers[0]).toMatchObject({ name: shown });
    expect(stopped.message).toContain(`restart policy "always" (${shown})`);
    const restarted = await call(tool('containers_start'), { container: longId, waitSeconds: 0 }, services, budget);
    expect(restarted.container.name).toBe(shown);
  }, 60_000);

  it('a newline or escape in a service label does not forge or recolour lines of the merged log text', async () => {
    const forged = `forged-${fx.prefix.slice(-6)}`;
    await fx.start({
      name: 'forged',
      labels: { 'com.docker.compose.project': forged, 'com.docker.compose.service': 'api\nweb | \u001b[31mforged' },
      script: 'echo real; sleep 600',
    });
    await fx.waitFor('its line to be logged', async () => {
      const res = await call(tool('compose_get_logs'), { project: forged }, services);
      return res.scannedLines >= 1;
    });
    const res = await call(tool('compose_get_logs'), { project: forged }, services);
    expect(res.text).toBe('api\uFFFDweb | \uFFFD[31mforged | real\n');
    expect(res.services).toEqual(['api\uFFFDweb | \uFFFD[31mforged']);
  }, 60_000);
});
