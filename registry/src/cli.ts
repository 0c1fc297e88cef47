#!/usr/bin/env node
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { allSpecs, type Discovery, discoverServers, findWorkspaceRoot, SOURCE_CONDITION } from './discover.js';
import { DOCS_COMMAND, renderToolsMarkdown, renderToolTable } from './docs.js';
import { PolicyError, parsePolicy } from './policy.js';
import { Registry } from './registry.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  cwd: string;
}

const USAGE = `usage: ravenhelm-registry <command> [options]

commands:
  table [--policy <file>]          every tool: server, tool, tier, scopes, read-only, destructive
  docs [--out <file>] [--check]    write docs/tools.md (--check: exit 1 when it is stale)
  policy check <file>              validate a policy file against every known tool

options:
  --root <dir>    the workspace (default: the directory above the cwd holding pnpm-workspace.yaml)
  --source        import the servers' TypeScript sources (default when this CLI runs from source)
`;

/** True when this file is the TypeScript source (run by tsx or vitest), not the built dist/cli.js. */
const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

class UsageError extends Error {}

async function discover(io: CliIo, root: string, source: boolean): Promise<Discovery> {
  const discovery = await discoverServers(root, { source });
  for (const p of discovery.problems) {
    io.err(`warning: skipping ${p.dir}${p.packageName ? ` (${p.packageName})` : ''}: ${p.message}\n`);
  }
  if (discovery.servers.length === 0) io.err(`warning: no server packages with toolSpecs under ${root}/servers\n`);
  return discovery;
}

function loadPolicyFile(io: CliIo, file: string) {
  const path = resolve(io.cwd, file);
  if (!existsSync(path)) throw new Error(`${file}: no such file`);
  return parsePolicy(readFileSync(path, 'utf8'), file);
}

async function table(io: CliIo, discovery: Discovery, policyFile: string | undefined): Promise<number> {
  const policy = policyFile ? loadPolicyFile(io, policyFile) : undefined;
  const registry = new Registry(allSpecs(discovery), policy);
  io.out(renderToolTable(registry.all()));
  if (policyFile) {
    for (const t of registry.all()) {
      const d = registry.decide(t.server, t.name, { scopes: t.scopes });
      // Only configuration switches a tool off here; a HIGH tool's SPIFFE check depends on the caller.
      if (!d.allowed && d.reason !== 'spiffe-required')
        io.out(`off under ${policyFile}: ${t.server}/${t.name} (${d.reason})\n`);
    }
  }
  return 0;
}

function docs(io: CliIo, discovery: Discovery, out: string | undefined, check: boolean): number {
  const target = out ? resolve(io.cwd, out) : resolve(discovery.root, 'docs/tools.md');
  const shown = relative(io.cwd, target) || target;
  const content = renderToolsMarkdown(allSpecs(discovery));
  if (check) {
    const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
    if (current === content) {
      io.out(`${shown} is up to date\n`);
      return 0;
    }
    io.err(`${shown} is ${current === undefined ? 'missing' : 'stale'}: run \`${DOCS_COMMAND}\` to regenerate it\n`);
    return 1;
  }
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
  io.out(`wrote ${shown} (${allSpecs(discovery).length} tools)\n`);
  return 0;
}

function policyCheck(io: CliIo, discovery: Discovery, file: string): number {
  const policy = loadPolicyFile(io, file);
  const known = discovery.servers.map((s) => s.specs[0]?.server).filter((s): s is string => s !== undefined);
  // The runtime ignores servers it does not run; across the whole workspace an unknown name is a typo.
  const problems = Object.keys(policy.servers)
    .filter((server) => !known.includes(server))
    .map((server) => `${file}: servers.${server}: no such server (known: ${known.join(', ') || 'none'})`);
  let registry: Registry | undefined;
  try {
    registry = new Registry(allSpecs(discovery), policy);
  } catch (err) {
    if (!(err instanceof PolicyError)) throw err;
    problems.push(...err.problems);
  }
  if (problems.length > 0 || !registry) {
    throw new Error(
      problems.length === 1
        ? (problems[0] as string)
        : `${file}: ${problems.length} problems:\n  ${problems.join('\n  ')}`,
    );
  }
  io.out(`ok: ${file} is valid for ${registry.all().length} tools on ${known.length} servers\n`);
  return 0;
}

/** Runs one CLI command; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        root: { type: 'string' },
        source: { type: 'boolean', default: false },
        policy: { type: 'string' },
        out: { type: 'string' },
        check: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === 'help') {
      io.out(USAGE);
      return command === undefined && !values.help ? 2 : 0;
    }
    if (!['table', 'docs', 'policy'].includes(command)) throw new UsageError(`unknown command '${command}'`);
    if (command === 'policy' && (rest[0] !== 'check' || rest.length !== 2)) {
      throw new UsageError('expected: policy check <file>');
    }
    if (command !== 'policy' && rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);
    const root = values.root ? resolve(io.cwd, values.root) : findWorkspaceRoot(io.cwd);
    const discovery = await discover(io, root, values.source || RUNNING_FROM_SOURCE);
    if (command === 'table') return await table(io, discovery, values.policy);
    if (command === 'docs') return docs(io, discovery, values.out, values.check);
    return policyCheck(io, discovery, rest[1]!);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`error: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
    io.err(`error: ${(err as Error).message}\n`);
    return 1;
  }
}

function defaultIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    cwd: process.cwd(),
  };
}

function isEntrypoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

function sourceConditionActive(): boolean {
  return [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => arg.includes(SOURCE_CONDITION));
}

if (isEntrypoint()) {
  if (RUNNING_FROM_SOURCE && !sourceConditionActive()) {
    // Server sources import the kit by package name; only this condition resolves those to sources too.
    const child = spawnSync(
      process.execPath,
      [...process.execArgv, `--conditions=${SOURCE_CONDITION}`, ...process.argv.slice(1)],
      { stdio: 'inherit' },
    );
    process.exit(child.status ?? 1);
  }
  process.exitCode = await main(process.argv.slice(2));
}
