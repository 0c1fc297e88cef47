/**
 * The world the GitLab simulator starts with (tests only). Shapes follow the GitLab REST v4
 * reference cited in ./gitlab.ts; the content (a failing pipeline with coloured, sectioned logs, an
 * MR whose diff overflows, masked variables, a private group the server's token cannot see) is
 * what the tests exercise.
 */

export const ACCESS = { guest: 10, reporter: 20, developer: 30, maintainer: 40, owner: 50 } as const;

export interface SimUser {
  id: number;
  username: string;
  name: string;
  email: string;
  state: 'active' | 'blocked';
  is_admin: boolean;
  bot: boolean;
  created_at: string;
  last_activity_on: string | null;
}

export interface SimGroup {
  id: number;
  name: string;
  path: string;
  full_path: string;
  parent_id: number | null;
  visibility: 'private' | 'internal' | 'public';
  description: string;
  members: Map<number, number>;
  variables: SimVariable[];
  hooks: SimHook[];
}

export interface SimVariable {
  key: string;
  value: string;
  variable_type: 'env_var' | 'file';
  protected: boolean;
  masked: boolean;
  hidden: boolean;
  raw: boolean;
  environment_scope: string;
  description: string | null;
}

export interface SimHook {
  id: number;
  url: string;
  token: string | null;
  push_events: boolean;
  merge_requests_events: boolean;
  pipeline_events: boolean;
  issues_events: boolean;
  enable_ssl_verification: boolean;
  created_at: string;
}

export interface SimJob {
  id: number;
  pipeline_id: number;
  name: string;
  stage: string;
  status: string;
  allow_failure: boolean;
  failure_reason: string | null;
  retried: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration: number | null;
  trace: string;
  /**
   * Set on a trigger job (GitLab's bridge): the downstream pipeline it created, null when none was.
   * jobs.md: GET /pipelines/:id/jobs lists no bridges; GET /pipelines/:id/bridges lists them with their
   * `downstream_pipeline`, and the job endpoints (get, trace, retry) do not find them.
   */
  bridge?: { project_id: number; pipeline_id: number } | null;
}

export interface SimPipeline {
  id: number;
  iid: number;
  project_id: number;
  ref: string;
  sha: string;
  status: string;
  source: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration: number | null;
  user_id: number;
}

export interface SimDiff {
  old_path: string;
  new_path: string;
  a_mode: string;
  b_mode: string;
  diff: string;
  new_file: boolean;
  renamed_file: boolean;
  deleted_file: boolean;
  generated_file: boolean;
  /** What GET /diffs answers: computed by the simulator from its diff limits (`apiDiffs`), not set here. */
  collapsed: boolean;
  /** Gitaly found the patch too large however the limits stand (also set when the patch reaches diff_max_patch_bytes). */
  too_large: boolean;
  /** A binary change: GitLab stores the patch base64 and answers "Binary files <old> and <new> differ". */
  binary?: boolean;
}

export interface SimNote {
  id: number;
  body: string;
  author_id: number;
  created_at: string;
  system: boolean;
}

export interface SimMergeRequest {
  id: number;
  iid: number;
  title: string;
  description: string;
  state: 'opened' | 'closed' | 'merged';
  source_branch: string;
  /** The fork its source branch is in (merge_requests.md `source_project_id`); absent: this project. */
  source_project_id?: number;
  target_branch: string;
  author_id: number;
  draft: boolean;
  created_at: string;
  updated_at: string;
  head_pipeline_id: number | null;
  /** The shas of its commits (merge_request_diff_commits); default: every branch pipeline's sha of its source branch. */
  commit_shas?: string[];
  diffs: SimDiff[];
  approvals_required: number;
  approved_by: number[];
  notes: SimNote[];
  /**
   * GitLab's stored merge status (app/models/merge_request.rb state machine `merge_status`): the API shows
   * it as `merge_status` (cannot_be_merged_rechecking and preparing as "checking", `public_merge_status`),
   * derives `detailed_merge_status` from it and `has_conflicts` (= `cannot_be_merged?`) from it.
   */
  merge_status:
    | 'preparing'
    | 'unchecked'
    | 'checking'
    | 'can_be_merged'
    | 'cannot_be_merged'
    | 'cannot_be_merged_recheck'
    | 'cannot_be_merged_rechecking';
}

export interface SimIssue {
  id: number;
  iid: number;
  title: string;
  description: string;
  state: 'opened' | 'closed';
  labels: string[];
  author_id: number;
  assignee_ids: number[];
  created_at: string;
  updated_at: string;
  closed_at: string | null;
  notes: SimNote[];
}

export interface SimProject {
  id: number;
  name: string;
  path: string;
  namespace_id: number;
  path_with_namespace: string;
  description: string;
  visibility: 'private' | 'internal' | 'public';
  default_branch: string;
  archived: boolean;
  created_at: string;
  last_activity_at: string;
  members: Map<number, number>;
  pipelines: SimPipeline[];
  jobs: SimJob[];
  merge_requests: SimMergeRequest[];
  issues: SimIssue[];
  variables: SimVariable[];
  hooks: SimHook[];
  /** ref -> path -> content */
  files: Map<string, Map<string, string>>;
  /**
   * Commits a ref of `files` can be read at by SHA: sha -> its files and the refs of this project that
   * contain it (commits.md "Get references a commit is pushed to"). Absent: no commit is known by SHA.
   */
  commits?: Map<string, { files: Map<string, string>; refs: { type: 'branch' | 'tag'; name: string }[] }>;
  /** The project this one is a fork of (projects.md `forked_from_project`). */
  forked_from_id?: number;
  /** projects.md `merge_requests_access_level`; absent: enabled. */
  merge_requests_access_level?: 'enabled' | 'private' | 'disabled';
  wiki: { slug: string; title: string; format: string; content: string }[];
}

export interface SimRunner {
  id: number;
  description: string;
  runner_type: 'instance_type' | 'group_type' | 'project_type';
  status: 'online' | 'offline' | 'stale' | 'never_contacted';
  paused: boolean;
  is_shared: boolean;
  online: boolean;
  contacted_at: string | null;
  tag_list: string[];
  project_ids: number[];
}

export interface SimState {
  users: SimUser[];
  tokens: Map<string, number>;
  groups: SimGroup[];
  projects: SimProject[];
  runners: SimRunner[];
  nextId: number;
  /** Old full path (lower case) -> project id, left behind when a project is renamed or transferred. */
  redirects?: Map<string, number>;
}

const E = '\x1b';
const T0 = Date.parse('2026-11-20T10:00:00Z');
export const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

/** The secret value of the seeded masked variable: tests search every captured byte for it. */
export const MASKED_SECRET = 'sim-masked-Zq7v9XkP2mWc';
/** platform/api pipeline 1030 (failed): jobs 5101 compile, 5102 unit (failed), 5103 lint (failed, allowed), 5104 e2e, 5105 staging. */
export const FAILED_PIPELINE = 1030;
export const FAILED_PIPELINE_FIRST_JOB = 5101;
export const UNIT_JOB = 5102;
export const LONG_LOG_JOB = 6000;
/** platform/web pipeline with 130 jobs. */
export const BIG_PIPELINE = 3001;
export const BOT_TOKEN = 'glpat-sim-bot-5f2a9c';
export const ADMIN_TOKEN = 'glpat-sim-root-77e1d0';
export const REPORTER_TOKEN = 'glpat-sim-viewer-31b8aa';

/** A failing unit-test job log the way GitLab Runner writes it: colours, sections, \r progress. */
export function failingTrace(extraLines = 0): string {
  const lines = [
    `${E}[0KRunning with gitlab-runner 17.5.0 (abc123)${E}[0;m`,
    `section_start:1763632800:prepare_executor\r${E}[0K${E}[0K${E}[36;1mPreparing the "docker" executor${E}[0;m${E}[0;m`,
    `Using Docker executor with image node:20 ...`,
    `section_end:1763632805:prepare_executor\r${E}[0K`,
    `section_start:1763632805:get_sources\r${E}[0K${E}[0K${E}[36;1mGetting source from Git repository${E}[0;m${E}[0;m`,
    `Fetching changes with git depth set to 20...`,
    `Receiving objects:  50% (10/20)\rReceiving objects: 100% (20/20), done.`,
    `section_end:1763632808:get_sources\r${E}[0K`,
    `section_start:1763632808:step_script\r${E}[0K${E}[0K${E}[36;1mExecuting "step_script" stage of the job script${E}[0;m${E}[0;m`,
    `${E}[32;1m$ npm ci${E}[0;m`,
    ...Array.from({ length: extraLines }, (_, i) => `noise line ${i} ${'.'.repeat(60)}`),
    `${E}[32;1m$ npm test${E}[0;m`,
    ` ${E}[32m✓${E}[39m src/config.test.ts (12 tests)`,
    ` ${E}[31m×${E}[39m src/billing.test.ts > invoices > rounds totals`,
    `   ${E}[31mAssertionError: expected 10.01 to be 10${E}[39m`,
    `   ${E}[90m at src/billing.test.ts:42:19${E}[39m`,
    ` Test Files  ${E}[1m${E}[31m1 failed${E}[39m${E}[22m | ${E}[1m${E}[32m11 passed${E}[39m${E}[22m`,
    `section_end:1763632900:step_script\r${E}[0K`,
    `section_start:1763632900:cleanup_file_variables\r${E}[0K${E}[0K${E}[36;1mCleaning up project directory and file based variables${E}[0;m${E}[0;m`,
    `section_end:1763632901:cleanup_file_variables\r${E}[0K`,
    `${E}[31;1mERROR: Job failed: exit code 1${E}[0;m`,
    '',
  ];
  return lines.join('\n');
}

const lintTrace = [
  `section_start:1763632800:step_script\r${E}[0K${E}[0K${E}[36;1mExecuting "step_script" stage of the job script${E}[0;m${E}[0;m`,
  `${E}[32;1m$ npm run lint${E}[0;m`,
  `src/api.ts:3:1 ${E}[33mwarning${E}[0m  Unexpected console statement`,
  `src/api.ts:9:5 ${E}[31merror${E}[0m  'x' is assigned a value but never used`,
  `section_end:1763632830:step_script\r${E}[0K`,
  `${E}[31;1mERROR: Job failed: exit code 2${E}[0;m`,
  '',
].join('\n');

const okTrace = `${E}[32;1m$ make build${E}[0;m\nbuilt in 3.1s\n${E}[32;1mJob succeeded${E}[0;m\n`;

function diffOfLines(n: number, tag: string): string {
  const out = [`@@ -1,${n} +1,${n} @@`];
  for (let i = 0; i < n; i++) out.push(`-old ${tag} line ${i}`, `+new ${tag} line ${i}`);
  return `${out.join('\n')}\n`;
}

/** A changed file of a merge request: a modification of `path` unless `extra` says otherwise. */
export function simDiff(path: string, diff: string, extra: Partial<SimDiff> = {}): SimDiff {
  return {
    old_path: path,
    new_path: path,
    a_mode: '100644',
    b_mode: '100644',
    diff,
    new_file: false,
    renamed_file: false,
    deleted_file: false,
    generated_file: false,
    collapsed: false,
    too_large: false,
    ...extra,
  };
}

export function emptyProject(
  id: number,
  namespace: SimGroup,
  path: string,
  extra: Partial<SimProject> = {},
): SimProject {
  return {
    id,
    name: path,
    path,
    namespace_id: namespace.id,
    path_with_namespace: `${namespace.full_path}/${path}`,
    description: '',
    visibility: 'private',
    default_branch: 'main',
    archived: false,
    created_at: at(-10_000 + id),
    last_activity_at: at(id),
    members: new Map(),
    pipelines: [],
    jobs: [],
    merge_requests: [],
    issues: [],
    variables: [],
    hooks: [],
    files: new Map(),
    wiki: [],
    ...extra,
  };
}

function group(id: number, path: string, parent: SimGroup | null, visibility: SimGroup['visibility']): SimGroup {
  return {
    id,
    name: path,
    path,
    full_path: parent ? `${parent.full_path}/${path}` : path,
    parent_id: parent?.id ?? null,
    visibility,
    description: `${path} group`,
    members: new Map(),
    variables: [],
    hooks: [],
  };
}

function user(id: number, username: string, extra: Partial<SimUser> = {}): SimUser {
  return {
    id,
    username,
    name: username.replace(/(^|-)(\w)/g, (_m, _d, c: string) => ` ${c.toUpperCase()}`).trim(),
    email: `${username}@example.test`,
    state: 'active',
    is_admin: false,
    bot: false,
    created_at: at(-20_000 + id),
    last_activity_on: '2026-11-19',
    ...extra,
  };
}

export function seed(): SimState {
  const users = [
    user(1, 'root', { is_admin: true, name: 'Administrator' }),
    user(2, 'ravenhelm-bot', { bot: true }),
    user(3, 'alice'),
    user(4, 'bob'),
    user(5, 'viewer'),
  ];
  const tokens = new Map([
    [ADMIN_TOKEN, 1],
    [BOT_TOKEN, 2],
    [REPORTER_TOKEN, 5],
  ]);
  const platform = group(10, 'platform', null, 'private');
  const infra = group(11, 'infra', platform, 'private');
  const secret = group(12, 'secret', null, 'private');
  const sandbox = group(13, 'sandbox', null, 'public');
  platform.members.set(2, ACCESS.maintainer).set(3, ACCESS.developer).set(1, ACCESS.owner).set(5, ACCESS.reporter);
  secret.members.set(1, ACCESS.owner);
  sandbox.members.set(2, ACCESS.owner);
  platform.variables.push({
    key: 'REGISTRY_PASSWORD',
    value: 'sim-group-masked-R4nd0mVal',
    variable_type: 'env_var',
    protected: true,
    masked: true,
    hidden: false,
    raw: false,
    environment_scope: '*',
    description: 'registry login',
  });

  const api = emptyProject(100, platform, 'api', { description: 'Billing and accounts API' });
  const web = emptyProject(101, platform, 'web', { description: 'The web front end' });
  const terraform = emptyProject(102, infra, 'terraform', { description: 'Infrastructure as code' });
  const vault = emptyProject(103, secret, 'vault', { description: 'Not for bots' });
  const projects = [api, web, terraform, vault];
  for (let i = 1; i <= 45; i++)
    projects.push(emptyProject(200 + i, sandbox, `demo-${String(i).padStart(2, '0')}`, { visibility: 'public' }));

  // platform/api: 30 pipelines, the newest failed
  let jobId = 5000;
  // feature/invoices (merge request !7) runs both branch pipelines (push, ref = the branch) and merge request
  // pipelines (source merge_request_event, ref refs/merge-requests/7/head; doc/ci/pipelines/merge_request_pipelines.md):
  // the duplicate pipelines GitLab runs without workflow:rules (doc/ci/jobs/job_rules.md "Avoid duplicate
  // pipelines"). A merge request pipeline never has the branch as its ref.
  for (let n = 1; n <= 30; n++) {
    const id = 1000 + n;
    const failed = n === 30;
    const status = failed ? 'failed' : n % 7 === 0 ? 'canceled' : 'success';
    const mrPipeline = n === 10 || n === 20;
    api.pipelines.push({
      id,
      iid: n,
      project_id: api.id,
      ref: mrPipeline ? 'refs/merge-requests/7/head' : n % 5 === 0 ? 'feature/invoices' : 'main',
      sha: `${String(n).padStart(2, '0')}f3c1d2e4b5a69788990a1b2c3d4e5f60718293`,
      status,
      source: mrPipeline ? 'merge_request_event' : 'push',
      created_at: at(n * 30),
      updated_at: at(n * 30 + 12),
      started_at: at(n * 30 + 1),
      finished_at: at(n * 30 + 12),
      duration: 660,
      user_id: 3,
    });
    const jobs: [string, string, string, boolean, string | null, string][] = failed
      ? [
          ['build', 'compile', 'success', false, null, okTrace],
          ['test', 'unit', 'failed', false, 'script_failure', failingTrace()],
          ['test', 'lint', 'failed', true, 'script_failure', lintTrace],
          ['test', 'e2e', 'success', false, null, okTrace],
          ['deploy', 'staging', 'skipped', false, null, ''],
        ]
      : [
          ['build', 'compile', 'success', false, null, okTrace],
          ['test', 'unit', status === 'canceled' ? 'canceled' : 'success', false, null, okTrace],
        ];
    if (failed) jobId = FAILED_PIPELINE_FIRST_JOB - 1;
    for (const [stage, name, st, allow, reason, trace] of jobs) {
      api.jobs.push({
        id: ++jobId,
        pipeline_id: id,
        name,
        stage,
        status: st,
        allow_failure: allow,
        failure_reason: reason,
        retried: false,
        created_at: at(n * 30),
        started_at: st === 'skipped' ? null : at(n * 30 + 1),
        finished_at: st === 'skipped' ? null : at(n * 30 + 5),
        duration: st === 'skipped' ? null : 240.52,
        trace,
      });
    }
  }
  // an earlier attempt of "unit" in the failing pipeline that GitLab hides unless include_retried
  api.jobs.push({
    ...(api.jobs.find((j) => j.pipeline_id === 1030 && j.name === 'unit') as SimJob),
    id: 4999,
    retried: true,
  });
  // a long log to exercise the tail caps
  api.jobs.push({
    id: 6000,
    pipeline_id: 1029,
    name: 'long-log',
    stage: 'test',
    status: 'failed',
    allow_failure: true,
    failure_reason: 'script_failure',
    retried: false,
    created_at: at(870),
    started_at: at(871),
    finished_at: at(880),
    duration: 540,
    trace: failingTrace(20_000),
  });

  // platform/web: one pipeline with 130 jobs (GitLab pages jobs by at most 100)
  web.pipelines.push({
    id: BIG_PIPELINE,
    iid: 1,
    project_id: web.id,
    ref: 'main',
    sha: 'b'.repeat(40),
    status: 'success',
    source: 'schedule',
    created_at: at(2000),
    updated_at: at(2030),
    started_at: at(2001),
    finished_at: at(2030),
    duration: 1740,
    user_id: 2,
  });
  for (let i = 0; i < 130; i++) {
    web.jobs.push({
      id: 7000 + i,
      pipeline_id: BIG_PIPELINE,
      name: `shard ${i + 1}/130`,
      stage: i < 65 ? 'test' : 'e2e',
      status: 'success',
      allow_failure: false,
      failure_reason: null,
      retried: false,
      created_at: at(2000),
      started_at: at(2001),
      finished_at: at(2010),
      duration: 30,
      trace: okTrace,
    });
  }

  api.variables.push(
    {
      key: 'DEPLOY_TOKEN',
      value: MASKED_SECRET,
      variable_type: 'env_var',
      protected: true,
      masked: true,
      hidden: false,
      raw: false,
      environment_scope: 'production',
      description: 'deploys to prod',
    },
    {
      key: 'LOG_LEVEL',
      value: 'debug',
      variable_type: 'env_var',
      protected: false,
      masked: false,
      hidden: false,
      raw: false,
      environment_scope: '*',
      description: null,
    },
  );
  api.hooks.push({
    id: 1,
    url: 'https://hooks.example.test/ci',
    token: 'sim-hook-secret-should-never-show',
    push_events: true,
    merge_requests_events: false,
    pipeline_events: true,
    issues_events: false,
    enable_ssl_verification: true,
    created_at: at(5),
  });

  const mainFiles = new Map([
    ['README.md', '# api\n\nBilling and accounts API.\n'],
    [
      'src/billing.ts',
      'export function total(items: number[]): number {\n  return items.reduce((a, b) => a + b, 0);\n}\n',
    ],
    ['src/config.ts', 'export const port = 8080;\n'],
    ['.gitlab-ci.yml', 'stages: [build, test, deploy]\n'],
  ]);
  api.files.set('main', mainFiles);
  api.files.set('feature/invoices', new Map([...mainFiles, ['src/invoices.ts', 'export const rounding = 2;\n']]));
  api.wiki.push(
    { slug: 'home', title: 'home', format: 'markdown', content: '# Home\n\nRunbooks live here.\n' },
    { slug: 'runbooks/deploy', title: 'deploy', format: 'markdown', content: '# Deploy\n\n1. Merge to main.\n' },
  );

  const bigDiffs: SimDiff[] = Array.from({ length: 12 }, (_, i) =>
    simDiff(`src/gen/file${i}.ts`, diffOfLines(3, `f${i}`)),
  );
  bigDiffs.push(
    // 600 changed lines, ~25 KB: over 10% of diff_max_patch_bytes, so collapsed where GitLab collapses
    simDiff('src/billing.ts', diffOfLines(600, 'billing')),
    // ~17 KB: under the collapse limit, sent whole
    simDiff('src/ledger.ts', diffOfLines(400, 'ledger')),
    // stored by GitLab without its patch (Gitaly found it too large): an added file, not a modification
    simDiff('data/fixtures.json', '', { new_file: true, a_mode: '0', too_large: true }),
    simDiff('src/new-name.ts', '', { old_path: 'src/old-name.ts', renamed_file: true }),
  );
  api.merge_requests.push(
    {
      id: 700,
      iid: 7,
      title: 'Round invoice totals',
      description: 'Fixes rounding in invoices.\n\nCloses #3',
      state: 'opened',
      source_branch: 'feature/invoices',
      target_branch: 'main',
      author_id: 3,
      draft: false,
      created_at: at(100),
      updated_at: at(900),
      head_pipeline_id: 1030,
      diffs: bigDiffs,
      approvals_required: 2,
      approved_by: [4],
      notes: [],
      merge_status: 'can_be_merged',
    },
    {
      id: 701,
      iid: 8,
      title: 'Draft: bump node',
      description: '',
      state: 'merged',
      source_branch: 'bump-node',
      target_branch: 'main',
      author_id: 4,
      draft: false,
      created_at: at(50),
      updated_at: at(60),
      head_pipeline_id: null,
      diffs: [bigDiffs[0] as SimDiff],
      approvals_required: 0,
      approved_by: [],
      notes: [],
      merge_status: 'can_be_merged',
    },
  );
  for (let i = 1; i <= 5; i++) {
    api.issues.push({
      id: 900 + i,
      iid: i,
      title: i === 3 ? 'Invoice totals off by a cent' : `Issue ${i}`,
      description: i === 3 ? 'Totals are rounded wrong for EUR.' : '',
      state: i === 5 ? 'closed' : 'opened',
      labels: i === 3 ? ['bug', 'billing'] : [],
      author_id: 3,
      assignee_ids: i === 3 ? [3] : [],
      created_at: at(i * 10),
      updated_at: at(i * 10 + 5),
      closed_at: i === 5 ? at(55) : null,
      notes: [],
    });
  }
  const runners: SimRunner[] = [
    {
      id: 1,
      description: 'shared-docker-1',
      runner_type: 'instance_type',
      status: 'online',
      paused: false,
      is_shared: true,
      online: true,
      contacted_at: at(1000),
      tag_list: ['docker'],
      project_ids: [],
    },
    {
      id: 2,
      description: 'api-deploy',
      runner_type: 'project_type',
      status: 'offline',
      paused: false,
      is_shared: false,
      online: false,
      contacted_at: at(-3000),
      tag_list: ['deploy'],
      project_ids: [100],
    },
  ];
  return { users, tokens, groups: [platform, infra, secret, sandbox], projects, runners, nextId: 10_000 };
}
