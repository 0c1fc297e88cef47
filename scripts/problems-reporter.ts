// A vitest reporter for CI: writes the errors vitest's JSON report leaves out (a failed beforeAll or
// afterAll of a describe block, a module's own errors, unhandled errors) to `<VITEST_JSON>.problems.json`,
// so .ci/run can name them in the last lines CI keeps. The JSON report marks such a file "failed" with an
// empty message and its tests "skipped", which says nothing about why.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

interface SerializedErrorLike {
  name?: string;
  message?: string;
  stack?: string;
}

export interface Problem {
  file: string;
  where: string;
  message: string;
}

function firstLines(err: SerializedErrorLike): string {
  const text = err.stack || `${err.name ?? 'Error'}: ${err.message ?? ''}`;
  return text.split('\n').slice(0, 4).join(' | ').slice(0, 600);
}

export default class ProblemsReporter implements Reporter {
  constructor(private readonly outputFile: string) {}

  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedErrorLike>): void {
    const problems: Problem[] = [];
    for (const mod of testModules) {
      for (const err of mod.errors())
        problems.push({ file: mod.relativeModuleId, where: '(module)', message: firstLines(err) });
      for (const suite of mod.children.allSuites()) {
        for (const err of suite.errors())
          problems.push({ file: mod.relativeModuleId, where: suite.fullName, message: firstLines(err) });
      }
    }
    for (const err of unhandledErrors) problems.push({ file: '(unhandled)', where: '(run)', message: firstLines(err) });
    mkdirSync(dirname(this.outputFile), { recursive: true });
    writeFileSync(this.outputFile, `${JSON.stringify(problems, null, 2)}\n`);
  }
}
