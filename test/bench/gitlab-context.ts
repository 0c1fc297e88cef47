/**
 * Context economy against the most used GitLab MCP server: @zereight/mcp-gitlab (installed with npm
 * into a scratch folder, not a suite dependency) and ours, both over stdio against the same GitLab
 * simulator, for four agent tasks; prints tools/list bytes and bytes per task, ours against theirs.
 *
 *   node --conditions=@ravenhelm/source --import tsx test/bench/gitlab-context.ts
 *
 * PEER_VERSION (default 2.1.64) and PEER_DIR (default $TMPDIR/ravenhelm-bench-zereight) override.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { REPO_ROOT, tsEntry } from '../fixtures/spawn.js';
import { BOT_TOKEN, LONG_LOG_JOB, startGitLabSim } from '../simulators/gitlab.js';

const PEER_VERSION = process.env.PEER_VERSION ?? '2.1.64';
const PEER_DIR = process.env.PEER_DIR ?? join(tmpdir(), 'ravenhelm-bench-zereight');
const PEER_BIN = join(PEER_DIR, 'node_modules/@zereight/mcp-gitlab/build/index.js');
const ESC = String.fromCharCode(27);

interface Call {
  name: string;
  arguments: Record<string, unknown>;
}
interface Task {
  label: string;
  ours: Call[];
  theirs: Call[];
  /** Text the answer must contain to count as answering the task. */
  needle: string;
}

const P = 'platform/api';
const TASKS: Task[] = [
  {
    label: 'list projects (20)',
    ours: [{ name: 'projects_list', arguments: { limit: 20 } }],
    theirs: [{ name: 'list_projects', arguments: { per_page: 20 } }],
    needle: 'platform/api',
  },
  {
    label: 'why did pipeline 1030 fail',
    ours: [{ name: 'pipelines_diagnose', arguments: { project: P, pipelineId: 1030 } }],
    theirs: [
      { name: 'get_pipeline', arguments: { project_id: P, pipeline_id: '1030' } },
      { name: 'list_pipeline_jobs', arguments: { project_id: P, pipeline_id: '1030', scope: 'failed' } },
      { name: 'get_pipeline_job_output', arguments: { project_id: P, job_id: '5102' } },
      { name: 'get_pipeline_job_output', arguments: { project_id: P, job_id: '5103' } },
    ],
    needle: 'AssertionError: expected 10.01 to be 10',
  },
  {
    label: 'a long job log (1.5 MB)',
    ours: [{ name: 'jobs_get_log', arguments: { project: P, jobId: LONG_LOG_JOB } }],
    theirs: [{ name: 'get_pipeline_job_output', arguments: { project_id: P, job_id: String(LONG_LOG_JOB) } }],
    needle: 'ERROR: Job failed',
  },
  {
    label: "one file's MR diff",
    ours: [{ name: 'merge_requests_get_diff', arguments: { project: P, iid: 7, path: 'src/ledger.ts' } }],
    theirs: [
      {
        name: 'get_merge_request_file_diff',
        arguments: { project_id: P, merge_request_iid: '7', file_paths: ['src/ledger.ts'] },
      },
    ],
    needle: 'new ledger line 0',
  },
];

function ensurePeer(): void {
  if (existsSync(PEER_BIN)) return;
  mkdirSync(PEER_DIR, { recursive: true });
  console.error(`installing @zereight/mcp-gitlab@${PEER_VERSION} into ${PEER_DIR} ...`);
  execFileSync(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefix', PEER_DIR, `@zereight/mcp-gitlab@${PEER_VERSION}`],
    {
      stdio: 'inherit',
      timeout: 300_000,
    },
  );
}

async function connect(command: string, args: string[], env: Record<string, string>): Promise<Client> {
  const transport = new StdioClientTransport({
    command,
    args,
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'gitlab-context-bench', version: '0' });
  await client.connect(transport);
  return client;
}

interface Measured {
  calls: number;
  /** Bytes of the text content (what a client puts in front of the model). */
  text: number;
  /** Bytes of the whole result: text plus structuredContent. */
  total: number;
  answered: boolean;
  ansi: boolean;
  errors: number;
}

async function run(client: Client, calls: Call[], needle: string): Promise<Measured> {
  const m: Measured = { calls: calls.length, text: 0, total: 0, answered: false, ansi: false, errors: 0 };
  for (const c of calls) {
    let res: Awaited<ReturnType<Client['callTool']>>;
    try {
      res = await client.callTool(c, undefined, { timeout: 60_000 });
    } catch (err) {
      // a protocol error (the server rejected its own answer, a timeout): counts as no answer
      m.errors++;
      m.text += Buffer.byteLength((err as Error).message);
      continue;
    }
    const text = (res.content as { type: string; text?: string }[]).map((x) => x.text ?? '').join('\n');
    m.text += Buffer.byteLength(text);
    m.total += Buffer.byteLength(JSON.stringify({ content: res.content, structuredContent: res.structuredContent }));
    if (res.isError) m.errors++;
    if (text.includes(needle) || JSON.stringify(res.structuredContent ?? '').includes(needle)) m.answered = true;
    if (text.includes(ESC) || text.includes('\\u001b')) m.ansi = true;
  }
  return m;
}

const fmt = (n: number) => n.toLocaleString('en-US');

async function main(): Promise<void> {
  ensurePeer();
  const sim = await startGitLabSim();
  const entry = tsEntry('servers/gitlab/src/bin.ts', ['--stdio']);
  const ours = await connect(entry.command, entry.args, {
    GITLAB_URL: sim.url,
    GITLAB_TOKEN: BOT_TOKEN,
    RAVENHELM_LOG_LEVEL: 'silent',
    RAVENHELM_AUDIT_FILE: join(tmpdir(), `ravenhelm-bench-gitlab-${process.pid}.jsonl`),
  });
  const theirs = await connect(process.execPath, [PEER_BIN], {
    GITLAB_PERSONAL_ACCESS_TOKEN: BOT_TOKEN,
    GITLAB_API_URL: `${sim.url}/api/v4`,
    USE_PIPELINE: 'true',
  });
  try {
    const [ourTools, theirTools] = [(await ours.listTools()).tools, (await theirs.listTools()).tools];
    const ourBytes = Buffer.byteLength(JSON.stringify(ourTools));
    const theirBytes = Buffer.byteLength(JSON.stringify(theirTools));
    console.log(
      `\nGitLab context benchmark: ravenhelm-mcp-gitlab vs @zereight/mcp-gitlab ${PEER_VERSION} (USE_PIPELINE=true), same simulator\n`,
    );
    console.log(
      `tools/list    ours ${ourTools.length} tools, ${fmt(ourBytes)} B (${fmt(Math.round(ourBytes / ourTools.length))} B/tool)`,
    );
    console.log(
      `              theirs ${theirTools.length} tools, ${fmt(theirBytes)} B (${fmt(Math.round(theirBytes / theirTools.length))} B/tool)`,
    );
    const withoutOutput = (tools: typeof ourTools) =>
      Buffer.byteLength(JSON.stringify(tools.map(({ outputSchema: _o, ...rest }) => rest))) / tools.length;
    console.log(
      `              without output schemas: ours ${fmt(Math.round(withoutOutput(ourTools)))} B/tool, theirs ${fmt(Math.round(withoutOutput(theirTools)))} B/tool (${theirTools.filter((t) => t.outputSchema).length} of theirs have one)\n`,
    );
    console.log(
      'task                         | ours: calls, text B (with structured) | theirs: calls, text B | answered ours/theirs | ANSI left ours/theirs',
    );
    for (const t of TASKS) {
      const o = await run(ours, t.ours, t.needle);
      const p = await run(theirs, t.theirs, t.needle);
      console.log(
        `${t.label.padEnd(28)} | ${String(o.calls).padStart(2)}, ${fmt(o.text).padStart(9)} (${fmt(o.total)})`.padEnd(
          70,
        ) +
          `| ${String(p.calls).padStart(2)}, ${fmt(p.text).padStart(9)}${p.errors ? ` (${p.errors} errors)` : ''}`.padEnd(
            24,
          ) +
          `| ${o.answered ? 'yes' : 'no'}/${p.answered ? 'yes' : 'no'}`.padEnd(23) +
          `| ${o.ansi ? 'yes' : 'no'}/${p.ansi ? 'yes' : 'no'}`,
      );
    }
  } finally {
    await ours.close();
    await theirs.close();
    await sim.close();
  }
}

await main();
