#!/usr/bin/env node
// The two README commands: `npm run demo` and `npm test`, plus `npm run bench`.
// Each sets up what it needs (pnpm via npx, dependencies, build, engines) and then runs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...rest] = process.argv.slice(2);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0 && !opts.allowFail) process.exit(r.status ?? 1);
  return r.status ?? 1;
}

function pnpm(...args) {
  return run(process.execPath, [join(root, 'scripts/pnpm.mjs'), ...args]);
}

function setup() {
  pnpm('install', '--frozen-lockfile', '--reporter=append-only');
  pnpm('-r', '--reporter=append-only', 'build');
}

const tsx = [process.execPath, ['--conditions=@ravenhelm/source', '--import', 'tsx']];

switch (command) {
  case 'test': {
    setup();
    // Static checks first: type errors in tests and lint errors fail the run before any test does.
    pnpm('-r', '--reporter=append-only', 'typecheck');
    run(join(root, 'node_modules/.bin/biome'), ['check', '.']);
    run('bash', [join(root, 'scripts/engines.sh')]);
    mkdirSync(join(root, '.reports'), { recursive: true });
    const report = join(root, '.reports/vitest.json');
    const status = run(join(root, 'node_modules/.bin/vitest'), ['run', ...rest], {
      allowFail: true,
      env: { ...process.env, VITEST_JSON: report },
    });
    process.exit(status);
    break;
  }
  case 'demo': {
    setup();
    run(tsx[0], [...tsx[1], join(root, 'examples/demo.ts'), ...rest]);
    break;
  }
  case 'bench': {
    if (!existsSync(join(root, 'node_modules'))) setup();
    // `npm run bench` runs every benchmark; `npm run bench -- auth` (or throughput) runs one.
    const all = [
      'throughput',
      'cpu-per-call',
      'soak',
      'growth',
      'auth',
      'observability-summary',
      'audit',
      'audit-rotate',
      'audit-lock',
      'context',
      'gitlab-context',
      'startup',
      'fair-queue',
      'redis-sentinel',
      'redis-tls',
    ];
    for (const name of rest.length > 0 ? rest : all) {
      if (!all.includes(name)) {
        console.error(`unknown benchmark '${name}'; choose from ${all.join(', ')}`);
        process.exit(2);
      }
      run(tsx[0], [...tsx[1], join(root, `test/bench/${name}.ts`)]);
    }
    break;
  }
  default:
    console.error('usage: node scripts/run.mjs test|demo|bench');
    process.exit(2);
}
