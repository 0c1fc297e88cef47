#!/usr/bin/env node
// Committed launcher: pnpm can link it before the first build, so a fresh install prints no bin warnings.
const { runAuditCli } = await import('../dist/audit-cli.js');
process.exitCode = await runAuditCli(process.argv.slice(2));
