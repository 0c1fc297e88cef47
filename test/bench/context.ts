/**
 * Context economy, side by side: what an agent reads from our servers and from peer MCP servers on npm
 * for the same tasks, against the same real Docker Engine, Prometheus and Alertmanager.
 *
 *   npm run bench -- context
 *
 * Peers are installed by this benchmark into a scratch folder (never dependencies of the suite):
 * docker-mcp, @0xshariq/docker-mcp-server, prometheus-mcp, mcp-alertmanager. Every server runs over stdio
 * and is called through the SDK Client. Bytes are JSON bytes: tools/list as the client receives it, the
 * model-facing part of it (name, description, inputSchema), what the list spends on outputSchema, annotations
 * and _meta (the parts the peers send little or none of) and the rest, and each task's tool results (all calls a
 * task needs, summed): the whole result on the wire, and what the model reads ("reads"): clients forward
 * one copy, the text blocks (Kimi Code, hermes-agent, ollama clients) or structuredContent (Claude Code and
 * VS Code when a result has it), so the larger of the two; ours send the same data in both. Ours run twice for Docker and
 * Prometheus: every toolset listed (the default, used for the ratios) and RAVENHELM_TOOLSETS=default. Prometheus gets one hour of history for 120 series by promtool backfill.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { DockerFixture, ensureImage } from '../docker/fixture.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { freePort, postAlerts, startAlertmanager, waitFor } from '../observability/fixture.js';

const run = promisify(execFile);
const PEERS: Record<string, string> = {
  'docker-mcp': '1.0.0',
  '@0xshariq/docker-mcp-server': '2.0.4',
  'prometheus-mcp': '1.1.3',
  'mcp-alertmanager': '2.1.1',
};
const SERIES = 120;
const HISTORY_SECONDS = 3600;
const SCRAPE_SECONDS = 15;

/** Installs the peers once into a scratch folder outside the workspace. */
async function ensurePeers(): Promise<string> {
  const dir = join(tmpdir(), 'ravenhelm-bench-peers');
  mkdirSync(dir, { recursive: true });
  const installed = Object.entries(PEERS).every(([name, version]) => {
    const manifest = join(dir, 'node_modules', name, 'package.json');
    return existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).version === version;
  });
  if (!installed) {
    console.error('installing peer servers into', dir);
    if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{"private":true}\n');
    await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--loglevel=error', ...Object.entries(PEERS).map(([n, v]) => `${n}@${v}`)],
      { cwd: dir, timeout: 300_000 },
    );
  }
  return join(dir, 'node_modules');
}

type Args = Record<string, unknown>;
type Call = [tool: string, args: Args];

interface Contender {
  name: string;
  ours: boolean;
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Per task: the calls an agent makes with this server, or undefined when it cannot do the task. */
  tasks: Record<string, Call[] | ((previous: unknown[]) => Call[]) | undefined>;
}

interface Measured {
  name: string;
  ours: boolean;
  tools: number;
  listBytes: number;
  modelBytes: number;
  /** outputSchema, annotations and _meta as listed (`"key":value,` each): what no docker peer sends. */
  extraBytes: number;
  tasks: Record<string, TaskBytes | undefined>;
}

interface TaskBytes {
  bytes: number;
  /**
   * What the model reads: a client forwards one copy, the text blocks (Kimi Code, hermes-agent, ollama
   * clients) or the structured copy as JSON (Claude Code, VS Code): the larger of the two.
   */
  readBytes: number;
  calls: number;
  error?: string;
}

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** Failed answers do not count as the best peer: some peers report errors as ordinary text. */
function looksFailed(result: Record<string, unknown>): boolean {
  if (result.isError) return true;
  const text = ((result.content ?? []) as { text?: string }[])
    .map((c) => c.text ?? '')
    .join('\n')
    .slice(0, 300);
  return /"isError":\s*true|^\s*(error|failed)\b|Error: /i.test(text);
}

/** The same server started with dynamic toolsets (RAVENHELM_TOOLSETS=default): what a session loads first. */
function withDefaultToolsets(c: Contender): Contender {
  return {
    ...c,
    name: `${c.name.replace(/\)$/, '')}, toolsets=default)`,
    env: { ...c.env, RAVENHELM_TOOLSETS: 'default' },
  };
}

async function measure(c: Contender): Promise<Measured> {
  const client = new Client({ name: 'ravenhelm-context-bench', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: c.command,
      args: c.args,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), ...c.env },
      cwd: REPO_ROOT,
      stderr: 'ignore',
    }),
  );
  try {
    const listed = await client.listTools();
    const out: Measured = {
      name: c.name,
      ours: c.ours,
      tools: listed.tools.length,
      listBytes: bytes({ tools: listed.tools }),
      modelBytes: listed.tools.reduce(
        (n, t) => n + bytes({ name: t.name, description: t.description, inputSchema: t.inputSchema }),
        0,
      ),
      extraBytes: listed.tools.reduce(
        (n, t) =>
          n +
          (['outputSchema', 'annotations', '_meta'] as const).reduce(
            (m, k) => m + (t[k] === undefined ? 0 : bytes(k) + bytes(t[k]) + 2),
            0,
          ),
        0,
      ),
      tasks: {},
    };
    for (const [task, spec] of Object.entries(c.tasks)) {
      if (!spec) continue;
      const results: unknown[] = [];
      const calls = typeof spec === 'function' ? spec(results) : spec;
      let total = 0;
      let read = 0;
      let error: string | undefined;
      for (const [tool, args] of calls) {
        try {
          const result = await client.callTool({ name: tool, arguments: args }, undefined, { timeout: 120_000 });
          results.push(result);
          total += bytes(result);
          const textOnly = ((result.content ?? []) as { text?: string }[]).reduce(
            (n, c) => n + Buffer.byteLength(c.text ?? ''),
            0,
          );
          read += Math.max(textOnly, result.structuredContent === undefined ? 0 : bytes(result.structuredContent));
          if (looksFailed(result)) error = JSON.stringify(result.content).slice(0, 120);
        } catch (err) {
          error = (err as Error).message.slice(0, 120);
        }
      }
      out.tasks[task] = {
        bytes: total,
        readBytes: read,
        calls: calls.length,
        ...(error ? { error } : {}),
      };
    }
    return out;
  } finally {
    await client.close();
  }
}

/** One hour of history for SERIES gauges, written as OpenMetrics and imported with promtool. */
async function backfilledPrometheus(): Promise<{ url: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'rh-bench-prom-'));
  const now = Math.floor(Date.now() / 1000);
  const lines = ['# TYPE bench_latency_seconds gauge'];
  for (let s = 0; s < SERIES; s++) {
    const labels = `route="/api/r${s % 40}",code="${['200', '404', '500'][s % 3]}",instance="web-${s % 4}"`;
    for (let t = now - HISTORY_SECONDS; t <= now - 30; t += SCRAPE_SECONDS) {
      const value = (0.05 + 0.02 * Math.sin(t / 300 + s) + (s % 7) * 0.01).toFixed(4);
      lines.push(`bench_latency_seconds{${labels}} ${value} ${t}`);
    }
  }
  lines.push('# EOF', '');
  writeFileSync(join(dir, 'input.om'), lines.join('\n'));
  mkdirSync(join(dir, 'data'));
  await run('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '-q', join(dir, 'input.om'), join(dir, 'data')], {
    timeout: 120_000,
  });
  writeFileSync(join(dir, 'prometheus.yml'), 'global:\n  scrape_interval: 1m\n');
  const port = await freePort();
  const child = spawn(
    '/usr/bin/prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor('backfilled prometheus', async () => {
    const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent('count(bench_latency_seconds)')}`).catch(
      () => undefined,
    );
    if (!res?.ok) return false;
    const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
    return Number(body.data.result[0]?.value[1]) === SERIES;
  });
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function table(title: string, rows: Measured[], taskNames: string[]): string {
  const peers = rows.filter((r) => !r.ours);
  const best = (pick: (r: Measured) => number | undefined) => {
    const values = peers.map(pick).filter((v): v is number => v !== undefined && v > 0);
    return values.length > 0 ? Math.min(...values) : undefined;
  };
  const bestTask = (task: string, field: 'bytes' | 'readBytes') => {
    const values = peers
      .map((r) => r.tasks[task])
      .filter((t) => t && !t.error && t[field] > 0)
      .map((t) => t?.[field] as number);
    return values.length > 0 ? Math.min(...values) : undefined;
  };
  const ratio = (ours: number | undefined, peer: number | undefined) =>
    ours !== undefined && peer ? `${(ours / peer).toFixed(2)}x` : 'n/a';
  const fmt = (n: number | undefined) => (n === undefined ? '-' : n.toLocaleString('en-US'));
  const cols = ['metric', ...rows.map((r) => r.name), 'ours / best peer'];
  const lines: string[][] = [];
  const ours = rows.find((r) => r.ours);
  const add = (label: string, pick: (r: Measured) => number | undefined) =>
    lines.push([label, ...rows.map((r) => fmt(pick(r))), ratio(ours ? pick(ours) : undefined, best(pick))]);
  add('tools', (r) => r.tools);
  add('tools/list bytes', (r) => r.listBytes);
  add('tools/list bytes per tool', (r) => Math.round(r.listBytes / r.tools));
  add('model-facing bytes per tool', (r) => Math.round(r.modelBytes / r.tools));
  add('per tool: outputSchema + annotations + _meta', (r) => Math.round(r.extraBytes / r.tools) || undefined);
  add('per tool: the rest (list without those)', (r) => Math.round((r.listBytes - r.extraBytes) / r.tools));
  for (const task of taskNames) {
    lines.push([
      task,
      ...rows.map((r) => {
        const t = r.tasks[task];
        if (!t) return '-';
        const calls = t.calls > 1 ? `, ${t.calls} calls` : '';
        return `${fmt(t.bytes)} (reads ${fmt(t.readBytes)}${calls})${t.error ? ' FAILED' : ''}`;
      }),
      ours?.tasks[task]?.error
        ? 'n/a (ours failed)'
        : `${ratio(ours?.tasks[task]?.bytes, bestTask(task, 'bytes'))} (reads ${ratio(ours?.tasks[task]?.readBytes, bestTask(task, 'readBytes'))})`,
    ]);
  }

  const widths = cols.map((c, i) => Math.max(c.length, ...lines.map((l) => (l[i] ?? '').length)));
  const row = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const errors = rows.flatMap((r) =>
    Object.entries(r.tasks)
      .filter(([, t]) => t?.error)
      .map(([task, t]) => `  ${r.name} / ${task}: ${t?.error}`),
  );
  return [
    `### ${title}`,
    '',
    row(cols),
    row(widths.map((w) => '-'.repeat(w))),
    ...lines.map(row),
    ...(errors.length ? ['', 'Errors:', ...errors] : []),
    '',
  ].join('\n');
}

const peers = await ensurePeers();
await ensureImage();
const fx = new DockerFixture('ctxbench');
const prom = await backfilledPrometheus();
const am = await startAlertmanager();
try {
  // Docker: one quiet service, one with ~2 MB of log, one unhealthy, one that exited with an error.
  const [, noisy, , crashed] = await Promise.all([
    fx.start({ name: 'web', script: 'echo "web: listening on :8080"; sleep 3600' }),
    fx.start({
      name: 'noisy',
      script:
        'i=0; while [ $i -lt 30000 ]; do echo "2026-12-04T10:00:00Z INFO request id=$i path=/api/orders/$i status=200 took=12ms"; i=$((i+1)); done; sleep 3600',
    }),
    fx.start({
      name: 'sick',
      health: { cmd: 'false', intervalSeconds: 1, retries: 1 },
      script: 'echo "sick: started"; sleep 3600',
    }),
    fx.start({
      name: 'crashed',
      script:
        'echo "booting"; echo "connecting to db:5432"; echo "FATAL: password authentication failed for user app" >&2; exit 3',
    }),
  ]);
  await fx.waitForHealth(fx.nameOf('sick'), 'unhealthy');
  await fx.waitFor('2 MB of log', async () => {
    const { stdout } = await run('docker', ['logs', '--tail', '1', noisy], { maxBuffer: 1 << 20 });
    return stdout.includes('id=29999');
  });
  await postAlerts(
    am.url,
    Array.from({ length: 20 }, (_, i) => ({
      labels: { alertname: `BenchAlert${i % 5}`, severity: i % 3 === 0 ? 'critical' : 'warning', instance: `web-${i}` },
      annotations: { summary: `Bench alert ${i} is firing on web-${i}` },
    })),
  );

  const oursDocker = tsEntry('servers/docker/src/bin.ts', ['--stdio']);
  const oursObs = tsEntry('servers/observability/src/bin.ts', ['--stdio']);
  const obsEnv = { PROMETHEUS_URL: prom.url, ALERTMANAGER_URL: am.url };
  const state = mkdtempSync(join(tmpdir(), 'rh-bench-ctx-'));
  const oursEnv = (name: string) => ({
    RAVENHELM_AUDIT_FILE: join(state, `${name}.jsonl`),
    RAVENHELM_LOG_LEVEL: 'warn',
  });
  const label = `ravenhelm.test.run=${fx.prefix}`;

  const dockerTasks = [
    'list containers',
    'last 100 lines of a 2 MB log',
    'all of that log',
    'find the unhealthy and the exited',
    'why did the exited one fail',
  ];
  const docker: Contender[] = [
    {
      name: 'ours (docker)',
      ours: true,
      ...oursDocker,
      env: oursEnv('docker'),
      tasks: {
        'list containers': [['containers_list', { name: fx.prefix }]],
        'last 100 lines of a 2 MB log': [['logs_get', { container: noisy, tail: 100 }]],
        'all of that log': [['logs_get', { container: noisy, tail: 50_000, maxBytes: 1_048_576 }]],
        'find the unhealthy and the exited': [['health_get_report', { labels: [label] }]],
        'why did the exited one fail': [['containers_diagnose', { container: crashed }]],
      },
    },
    {
      name: 'docker-mcp',
      ours: false,
      command: process.execPath,
      args: [join(peers, 'docker-mcp/dist/index.js')],
      env: {},
      tasks: {
        // Its `filters` argument fails on the engine (HTTP 500), so it can only list every container.
        'list containers': [['docker_container_list', { all: true }]],
        'last 100 lines of a 2 MB log': [['docker_container_logs', { containerId: noisy, tail: 100 }]],
        'all of that log': [['docker_container_logs', { containerId: noisy, tail: 1_000_000 }]],
        'find the unhealthy and the exited': [['docker_container_list', { all: true }]],
        'why did the exited one fail': [
          ['docker_container_inspect', { containerId: crashed }],
          ['docker_container_logs', { containerId: crashed, tail: 100 }],
        ],
      },
    },
    {
      name: '@0xshariq/docker-mcp-server',
      ours: false,
      command: process.execPath,
      args: [join(peers, '@0xshariq/docker-mcp-server/dist/index.js')],
      env: {},
      tasks: {
        'list containers': [['docker-containers', { all: true, filter: fx.prefix }]],
        'last 100 lines of a 2 MB log': [['docker-logs', { containerId: noisy, tail: 100 }]],
        'all of that log': [['docker-logs', { containerId: noisy }]],
        'find the unhealthy and the exited': [['docker-containers', { all: true, filter: fx.prefix }]],
        'why did the exited one fail': [
          ['docker-inspect', { objectType: 'container', objectId: crashed }],
          ['docker-logs', { containerId: crashed, tail: 100 }],
        ],
      },
    },
  ];

  const end = new Date();
  const start = new Date(end.getTime() - HISTORY_SECONDS * 1000);
  const promTasks = ['1 h range query, 120 series', 'instant query, 40 series'];
  const prometheus: Contender[] = [
    {
      name: 'ours (observability)',
      ours: true,
      ...oursObs,
      env: { ...obsEnv, ...oursEnv('observability') },
      tasks: {
        '1 h range query, 120 series': [
          ['metrics_query_range', { query: 'bench_latency_seconds', start: 'now-1h', step: '15s' }],
        ],
        'instant query, 40 series': [['metrics_query', { query: 'bench_latency_seconds{code="500"}' }]],
      },
    },
    {
      name: 'prometheus-mcp',
      ours: false,
      command: process.execPath,
      args: [join(peers, 'prometheus-mcp/dist/index.mjs'), 'stdio'],
      env: { PROMETHEUS_URL: prom.url },
      tasks: {
        '1 h range query, 120 series': [
          [
            'prometheus_query_range',
            { query: 'bench_latency_seconds', start: start.toISOString(), end: end.toISOString(), step: '15s' },
          ],
        ],
        'instant query, 40 series': [['prometheus_query', { query: 'bench_latency_seconds{code="500"}' }]],
      },
    },
  ];

  const alertTasks = ['list alerts (20 firing)'];
  const alertmanager: Contender[] = [
    {
      name: 'ours (observability)',
      ours: true,
      ...oursObs,
      env: { ...obsEnv, ...oursEnv('observability-am') },
      tasks: { 'list alerts (20 firing)': [['alerts_list', {}]] },
    },
    {
      name: 'mcp-alertmanager',
      ours: false,
      command: join(peers, 'mcp-alertmanager/bin/index.js'),
      args: [],
      env: { ALERTMANAGER_URL: am.url },
      tasks: { 'list alerts (20 firing)': [['getAlerts', {}]] },
    },
  ];

  const sections: string[] = [];
  for (const [title, contenders, tasks] of [
    ['Docker', [docker[0] as Contender, withDefaultToolsets(docker[0] as Contender), ...docker.slice(1)], dockerTasks],
    [
      'Prometheus',
      [prometheus[0] as Contender, withDefaultToolsets(prometheus[0] as Contender), ...prometheus.slice(1)],
      promTasks,
    ],
    ['Alertmanager', alertmanager, alertTasks],
  ] as const) {
    const measured: Measured[] = [];
    for (const c of contenders) measured.push(await measure(c));
    sections.push(table(title, measured, [...tasks]));
  }
  console.log(`\nContext economy, bytes an agent receives (same engines, one run, ${new Date().toISOString()}):\n`);
  console.log(sections.join('\n'));
  rmSync(state, { recursive: true, force: true });
} finally {
  await fx.cleanup();
  await prom.stop();
  await am.stop();
}
