#!/usr/bin/env node
// Committed launcher: pnpm can link it before the first build, so a fresh install prints no bin warnings.
await import('../dist/bin.js');
