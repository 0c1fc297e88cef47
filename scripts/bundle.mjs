#!/usr/bin/env node
// One ESM bundle per server (`servers/<x>/bundle/<bin>.mjs` + sourcemap + metafile), built from the
// TypeScript sources with esbuild: what each server's bin runs, so it starts fast and small. Code the
// servers load on first use (`import()`: a backend's client library, SDK v2, ioredis) is split into
// `<module>-<hash>.mjs` chunks beside it, so an idle server neither parses nor holds it; the bundle folder (no
// node_modules, no package.json) is what runs. The unbundled workspace build (dist/) stays for
// development and for library use.
//
//   node scripts/bundle.mjs            every server
//   node scripts/bundle.mjs docker     one server
//
// The build fails when any file of a bundle (entry or chunk) would carry dev-only or test code (the dev
// CA and issuer, simulators, fixtures) or a module that must stay off the start-up path (see FORBIDDEN).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const SERVERS = ['docker', 'observability', 'gitlab', 'zitadel', 'traefik', 'secrets'];

/** Inputs no server bundle may contain: dev-only code, test code, and heavy modules nothing at runtime needs. */
export const FORBIDDEN = [
  { pattern: /(^|\/)test\//, why: 'test code (simulators, fixtures)' },
  { pattern: /(^|\/)auth\/src\/dev\//, why: 'the dev issuer / dev CA' },
  { pattern: /\.test\.ts$/, why: 'a unit test' },
  {
    pattern: /node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?(@grpc|protobufjs)\//,
    why: 'gRPC/protobuf (BuildKit sessions)',
  },
  {
    pattern: /node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?(@peculiar|reflect-metadata|oidc-provider)\//,
    why: 'dev-only crypto',
  },
];

// dockerode requires its BuildKit session helper (gRPC + protobufjs, ~90 ms to load) at the top of
// lib/docker.js, and lib/buildkit.js (protobufjs) from followProgress; only buildImage({ version: '2' })
// and followProgress use them, and no tool calls either.
const NO_BUILDKIT = `function unavailable() {
  throw new Error('BuildKit is not available in the bundled Ravenhelm server (no tool builds images)');
}
module.exports = unavailable;
module.exports.followProgress = unavailable;`;

// docker-modem requires ssh2 (~55 ms) at the top of lib/ssh.js although only ssh:// Docker hosts use it.
const SSH_EAGER = "var Client = require('ssh2').Client,\n  http = require('http');";
const SSH_LAZY = "var http = require('http');\nfunction Client() { return new (require('ssh2').Client)(); }";

// zod re-exports every message locale (~290 KiB, 12% of a bundle) through `z.locales`; the servers speak
// English, which zod installs by default from locales/en.js.
const ZOD_ENGLISH_ONLY = "export { default as en } from './en.js';";

// Each server reads its version from ../package.json at load; the bundle carries it instead, so the one
// file runs wherever it is copied (a container image needs nothing else).
const VERSION_FROM_MANIFEST = "createRequire(import.meta.url)('../package.json')";

/** @type {import('esbuild').Plugin} */
export const trimDependencies = {
  name: 'trim-dependencies',
  setup(b) {
    b.onLoad({ filter: /dockerode[/\\]lib[/\\](session|buildkit)\.js$/ }, () => ({
      contents: NO_BUILDKIT,
      loader: 'js',
    }));
    b.onLoad({ filter: /servers[/\\][^/\\]+[/\\]src[/\\]index\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(VERSION_FROM_MANIFEST)) return undefined;
      const { version } = JSON.parse(readFileSync(join(dirname(args.path), '..', 'package.json'), 'utf8'));
      return { contents: text.replace(VERSION_FROM_MANIFEST, JSON.stringify({ version })), loader: 'ts' };
    });
    b.onLoad({ filter: /zod[/\\]v4[/\\]locales[/\\]index\.js$/ }, () => ({ contents: ZOD_ENGLISH_ONLY, loader: 'js' }));
    b.onLoad({ filter: /docker-modem[/\\]lib[/\\]ssh\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8').replace(/\r\n/g, '\n');
      if (!text.includes(SSH_EAGER)) {
        return { errors: [{ text: `${args.path} changed upstream: update SSH_EAGER in scripts/bundle.mjs` }] };
      }
      return { contents: text.replace(SSH_EAGER, SSH_LAZY), loader: 'js' };
    });
  },
};

function binOf(server) {
  const manifest = JSON.parse(readFileSync(join(root, 'servers', server, 'package.json'), 'utf8'));
  const [name] = Object.keys(manifest.bin ?? {});
  if (!name) throw new Error(`servers/${server}/package.json has no bin`);
  return name;
}

/**
 * Every input that reached some output file (entry or chunk), repository-relative: the metafile also
 * lists files esbuild parsed and then tree-shook away.
 * @param {import('esbuild').Metafile} metafile
 */
export function bundledInputs(metafile) {
  const inputs = new Set();
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) if (input.bytesInOutput > 0) inputs.add(path);
  }
  return [...inputs];
}

/**
 * What the guard refuses: each bundled input (of any output file) that FORBIDDEN matches, with why.
 * @param {import('esbuild').Metafile} metafile
 */
export function offendingInputs(metafile) {
  return bundledInputs(metafile).flatMap((input) =>
    FORBIDDEN.filter((f) => f.pattern.test(input)).map((f) => `${input} (${f.why})`),
  );
}

/** Bundles one server; returns the entry's path, its chunks' paths and its inputs (repository-relative). */
export async function bundleServer(server) {
  const dir = join(root, 'servers', server);
  const outdir = join(dir, 'bundle');
  rmSync(outdir, { recursive: true, force: true });
  const bin = binOf(server);
  const outfile = join(outdir, `${bin}.mjs`);
  const result = await build({
    // Metafile paths are relative to this: the repository root, wherever the build was started from.
    absWorkingDir: root,
    entryPoints: { [bin]: join(dir, 'src', 'bin.ts') },
    outdir,
    splitting: true,
    // Flat beside the entry, so the packages' `files` (bundle/*.mjs) and the image carry them as they are.
    chunkNames: '[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20.18',
    conditions: ['@ravenhelm/source'],
    // Whitespace and syntax only: identifiers stay readable in stack traces without the sourcemap.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    legalComments: 'linked',
    metafile: true,
    logLevel: 'warning',
    // Native and optional: ssh2 works without cpu-features; a *.node file cannot be bundled.
    external: ['cpu-features', '*.node'],
    banner: {
      js: "import { createRequire as __rhCreateRequire } from 'node:module'; const require = __rhCreateRequire(import.meta.url);",
    },
    plugins: [trimDependencies],
  });
  const inputs = bundledInputs(result.metafile);
  const chunks = Object.keys(result.metafile.outputs)
    .filter((p) => p.endsWith('.mjs') && join(root, p) !== outfile)
    .map((p) => join(root, p));
  const offending = offendingInputs(result.metafile);
  if (offending.length > 0) {
    throw new Error(`servers/${server} bundle would include:\n  ${offending.join('\n  ')}`);
  }
  writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  return { outfile, chunks, inputs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((s) => !SERVERS.includes(s));
  if (unknown.length > 0) {
    console.error(`unknown server ${unknown.join(', ')}; choose from ${SERVERS.join(', ')}`);
    process.exit(2);
  }
  for (const server of wanted.length > 0 ? wanted : SERVERS) {
    const start = performance.now();
    const { outfile, chunks } = await bundleServer(server);
    const kib = (f) => `${(readFileSync(f).length / 1024).toFixed(0)} KiB`;
    const loadedLater = chunks.map((c) => `${relative(dirname(outfile), c)} ${kib(c)}`).join(', ');
    console.log(
      `${relative(root, outfile)}: ${kib(outfile)} in ${Math.round(performance.now() - start)} ms` +
        (chunks.length > 0 ? `; chunks: ${loadedLater}` : ''),
    );
  }
}
