#!/usr/bin/env node
// Committed launcher: runs the bundled server (one file, built by scripts/bundle.mjs: starts faster and
// smaller) and falls back to the workspace build (dist/) when no bundle was built.
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node >= 22.1 keeps V8's compiled code between starts (NODE_COMPILE_CACHE picks the directory,
// NODE_DISABLE_COMPILE_CACHE=1 turns it off); Node 20 has no such cache and skips this.
module.enableCompileCache?.();
const bundle = new URL('../bundle/ravenhelm-mcp-gitlab.mjs', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/bin.js');
