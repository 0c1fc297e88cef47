/**
 * Contract cases for the Docker server against the real engine: a running compose-labelled web
 * service with a healthcheck, a worker, and a container that crashed with exit code 2.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerFixture, ensureImage } from '../../docker/fixture.js';
import type { ContractSuite } from '../types.js';

const RUNNER_SPIFFE_ID = 'spiffe://contract.test/agent/runner';

const suite: ContractSuite = {
  server: 'docker',
  bin: 'servers/docker/src/bin.ts',
  async setup() {
    await ensureImage();
    const fx = new DockerFixture('contract');
    const project = `contract-${fx.prefix.slice(-6)}`;
    const label = (service: string) => ({
      'com.docker.compose.project': project,
      'com.docker.compose.service': service,
    });
    const [web, , crashed] = await Promise.all([
      fx.start({
        name: 'web',
        labels: label('web'),
        health: { cmd: 'true' },
        script: 'echo "web: listening"; echo "web: upstream timeout" >&2; sleep 3600',
      }),
      fx.start({ name: 'worker', labels: label('worker'), script: 'echo "worker: ready"; sleep 3600' }),
      fx.start({ name: 'crashed', script: 'echo "panic: nil map" >&2; exit 2' }),
    ]);
    await fx.waitForHealth(web, 'healthy');
    const dir = mkdtempSync(join(tmpdir(), 'rh-contract-docker-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      [
        'servers:',
        '  docker:',
        '    confirm: destructive',
        '    spiffe:',
        `      default: ["${RUNNER_SPIFFE_ID}"]`,
        '    tools:',
        '      exec_run:',
        '        options:',
        '          allow:',
        `            - { container: "${fx.prefix}-*", argv: ["cat", "/etc/hostname"], exact: true }`,
        '',
      ].join('\n'),
    );
    const c = (suffix: string) => fx.nameOf(suffix);
    return {
      env: { RAVENHELM_POLICY_FILE: policy },
      cases: [
        { tool: 'containers_list', label: 'by name', arguments: { name: fx.prefix }, expect: 'ok' },
        {
          tool: 'containers_list',
          label: 'paged, one per page',
          arguments: { name: fx.prefix, limit: 1 },
          expect: 'ok',
          check: (s) => {
            if (typeof s?.nextCursor !== 'string') throw new Error('expected a nextCursor with limit 1');
          },
        },
        { tool: 'containers_list', label: 'empty result', arguments: { name: `${fx.prefix}-none` }, expect: 'ok' },
        { tool: 'containers_diagnose', label: 'crashed container', arguments: { container: crashed }, expect: 'ok' },
        { tool: 'containers_diagnose', label: 'not found', arguments: { container: c('nope') }, expect: 'error' },
        { tool: 'containers_get_stats', label: 'running container', arguments: { container: web }, expect: 'ok' },
        { tool: 'logs_get', label: 'tail', arguments: { container: web, tail: 10 }, expect: 'ok' },
        {
          tool: 'logs_get',
          label: 'grep and timestamps',
          arguments: { container: web, grep: 'timeout', timestamps: true },
          expect: 'ok',
        },
        { tool: 'logs_get', label: 'invalid tail', arguments: { container: web, tail: 0 }, expect: 'error' },
        { tool: 'health_get_report', label: 'by project', arguments: { composeProject: project }, expect: 'ok' },
        { tool: 'health_get_report', label: 'whole host', arguments: {}, expect: 'ok' },
        {
          tool: 'events_list',
          label: 'one project, last 10 minutes',
          arguments: { composeProject: project, since: '10m' },
          expect: 'ok',
        },
        { tool: 'events_list', label: 'deaths on the host', arguments: { actions: ['die', 'oom'] }, expect: 'ok' },
        { tool: 'events_list', label: 'invalid since', arguments: { since: 'last week' }, expect: 'error' },
        { tool: 'compose_list_projects', label: 'all projects', arguments: { limit: 200 }, expect: 'ok' },
        { tool: 'compose_get_status', label: 'one project', arguments: { project }, expect: 'ok' },
        { tool: 'compose_get_logs', label: 'merged logs', arguments: { project }, expect: 'ok' },
        {
          tool: 'exec_run',
          label: 'allowlisted command',
          arguments: { container: web, argv: ['cat', '/etc/hostname'] },
          expect: 'ok',
        },
        {
          tool: 'exec_run',
          label: 'not allowlisted',
          arguments: { container: web, argv: ['ls', '/'] },
          expect: 'error',
        },
        {
          tool: 'containers_restart',
          label: 'restart and wait',
          arguments: { container: c('worker'), stopTimeoutSeconds: 1, waitSeconds: 30 },
          expect: 'ok',
        },
        {
          tool: 'containers_stop',
          label: 'stop (confirmed)',
          arguments: { container: c('worker'), stopTimeoutSeconds: 1, waitSeconds: 30 },
          expect: 'ok',
        },
        {
          tool: 'containers_start',
          label: 'start again',
          arguments: { container: c('worker'), waitSeconds: 30 },
          expect: 'ok',
        },
        {
          tool: 'compose_stop',
          label: 'stop one service (confirmed)',
          arguments: { project, services: ['worker'], stopTimeoutSeconds: 1, waitSeconds: 30 },
          expect: 'ok',
        },
        {
          tool: 'compose_start',
          label: 'start it again',
          arguments: { project, services: ['worker'], waitSeconds: 30 },
          expect: 'ok',
        },
        {
          tool: 'compose_restart',
          label: 'restart one service of the project',
          arguments: { project, services: ['web'], stopTimeoutSeconds: 1, waitSeconds: 30 },
          expect: 'ok',
        },
      ],
      async stop() {
        await fx.cleanup();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export default suite;
