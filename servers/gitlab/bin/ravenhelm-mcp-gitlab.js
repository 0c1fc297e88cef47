#!/usr/bin/env node
// Committed launcher: runs the bundled server (an entry file plus chunks it loads on first use, built by
// scripts/bundle.mjs: starts faster and smaller) and falls back to the workspace build (dist/) when no
// bundle was built.
import { existsSync } from 'node:fs';
import module from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Node >= 22.1 keeps V8's compiled code between starts. Only in this user's own cache directory, never a
// shared temp directory (code read from the cache runs as this server); NODE_COMPILE_CACHE picks another,
// NODE_DISABLE_COMPILE_CACHE=1 turns it off, and a directory that cannot be written just means no cache.
try {
  module.enableCompileCache?.(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ravenhelm-node'));
} catch {}
const bundle = new URL('../bundle/ravenhelm-mcp-gitlab.mjs', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/bin.js');
