#!/usr/bin/env node
// Committed launcher: runs the bundled server (one file, built by scripts/bundle.mjs: starts faster and
// smaller) and falls back to the workspace build (dist/) when no bundle was built.
import { existsSync } from 'node:fs';

const bundle = new URL('../bundle/ravenhelm-mcp-zitadel.mjs', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/bin.js');
