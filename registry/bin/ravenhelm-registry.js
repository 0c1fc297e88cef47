#!/usr/bin/env node
// Committed launcher: pnpm can link it before the first build, so a fresh install prints no bin warnings.
const { main } = await import('../dist/cli.js');
process.exitCode = await main(process.argv.slice(2));
