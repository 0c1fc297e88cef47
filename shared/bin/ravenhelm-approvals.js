#!/usr/bin/env node
// Committed launcher: pnpm can link it before the first build, so a fresh install prints no bin warnings.
const { runApprovalsCli } = await import('../dist/approvals-cli.js');
process.exitCode = await runApprovalsCli(process.argv.slice(2));
