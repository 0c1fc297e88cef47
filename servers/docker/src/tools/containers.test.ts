import type { ToolContext } from '@ravenhelm/kit';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { LONE_SURROGATE } from '../../../../test/fixtures/unicode.js';
import type { DockerBackend } from '../backend.js';
import type { DockerServices } from './define.js';
import { containersDiagnose, fitErrorLines } from './diagnose.js';
import { healthGetReport } from './health.js';

describe('fitErrorLines', () => {
  it('cuts long lines and lines over their share between characters, never inside an emoji', () => {
    // one ASCII character first, so the 1,000-character cut falls inside an emoji
    const line = `x${'🚀'.repeat(700)} error`;
    for (const budget of [100_000, 3000, 1001, 777, 301]) {
      const { lines } = fitErrorLines(
        [
          { stream: 'stderr', text: line },
          { stream: 'stdout', text: `E${line}` },
        ],
        budget,
      );
      expect(lines.length, `budget ${budget}`).toBeGreaterThan(0);
      for (const l of lines) {
        expect(l.text, `budget ${budget}`).not.toMatch(LONE_SURROGATE);
        expect(l.text).toMatch(/^(x|Ex)(🚀)*…$/u);
      }
    }
  });
});

describe('health check output and engine errors cut to a length', () => {
  // one ASCII character first, so every cut at an even length (200, 300, 500) falls inside an emoji
  const text = `x${'🩺'.repeat(400)}`;
  const info = {
    Id: 'a'.repeat(64),
    Name: '/web-1',
    Created: '2026-01-01T00:00:00Z',
    RestartCount: 0,
    Config: { Image: 'img', Labels: {} },
    HostConfig: { RestartPolicy: { Name: 'no' } },
    State: {
      Status: 'running',
      Running: true,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: 1,
      ExitCode: 0,
      Error: text,
      StartedAt: '2026-01-01T00:00:00Z',
      FinishedAt: '0001-01-01T00:00:00Z',
      Health: {
        Status: 'unhealthy',
        FailingStreak: 3,
        Log: [{ Start: '2026-01-01T00:00:01Z', End: '2026-01-01T00:00:02Z', ExitCode: 1, Output: text }],
      },
    },
  } as unknown as Docker.ContainerInspectInfo;
  const ctx = {
    docker: {
      inspect: async () => info,
      listContainers: async () => [{ Id: info.Id, Names: ['/web-1'], Labels: {} }] as Docker.ContainerInfo[],
    } as unknown as DockerBackend,
    signal: new AbortController().signal,
    maxOutputBytes: 64 * 1024,
  } as unknown as ToolContext<DockerServices>;

  it('containers_diagnose cuts them between characters and marks the cut', async () => {
    const res = await containersDiagnose.handler({ container: 'web-1', errorLines: 0, healthChecks: 3 }, ctx);
    const output = res.health?.lastChecks[0]?.output ?? '';
    expect(output).not.toMatch(LONE_SURROGATE);
    expect(output).toMatch(/^x(🩺)+…$/u);
    for (const finding of res.findings) expect(finding).not.toMatch(LONE_SURROGATE);
    expect(res.findings.find((f) => f.startsWith('engine error:'))).toMatch(/^engine error: x(🩺)+…$/u);
  });

  it('health_get_report cuts lastHealthOutput between characters and marks the cut', async () => {
    const res = await healthGetReport.handler({ limit: 50 }, ctx);
    const output = res.containers[0]?.lastHealthOutput ?? '';
    expect(output).not.toMatch(LONE_SURROGATE);
    expect(output).toMatch(/^x(🩺)+…$/u);
  });
});
