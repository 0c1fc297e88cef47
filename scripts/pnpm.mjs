#!/usr/bin/env node
// Runs pnpm 10 whether or not it is installed: a fresh machine has only Node and npm.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const local = spawnSync('pnpm', ['--version'], { encoding: 'utf8', shell: false });
const useLocal = local.status === 0 && /^10\./.test(local.stdout.trim());
const [cmd, argv] = useLocal ? ['pnpm', args] : ['npx', ['--yes', 'pnpm@10', ...args]];
const result = spawnSync(cmd, argv, { stdio: 'inherit', shell: false });
process.exit(result.status ?? 1);
