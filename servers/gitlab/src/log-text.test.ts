import { describe, expect, it } from 'vitest';
import { cleanLog, stripAnsi, tailLines } from './log-text.js';

const E = '\x1b';

describe('job log cleaning', () => {
  it('strips colours and erase-line codes', () => {
    expect(stripAnsi(`${E}[32;1mJob succeeded${E}[0;m`)).toBe('Job succeeded');
    expect(stripAnsi(`${E}[0K${E}[31;1mERROR: Job failed${E}[0m`)).toBe('ERROR: Job failed');
  });

  it('removes section markers, keeps section headers and tracks the open section', () => {
    const raw = [
      `${E}[0Ksection_start:1560896352:prepare_executor${E}[0K\r${E}[0K${E}[36;1mPreparing${E}[0;m`,
      `Using docker executor`,
      `section_end:1560896353:prepare_executor\r${E}[0K`,
      `section_start:1560896354:step_script[collapsed=true]\r${E}[0K${E}[32;1m$ make test${E}[0;m`,
      `${E}[31mFAIL${E}[0m src/a.test.ts`,
      `downloading 10%\rdownloading 100%`,
      `section_end:1560896360:step_script\r${E}[0K`,
      `${E}[31;1mERROR: Job failed: exit code 1${E}[0;m`,
      '',
    ].join('\n');
    const { lines, lastSection } = cleanLog(raw);
    expect(lines.map((l) => l.text)).toEqual([
      'Preparing',
      'Using docker executor',
      '$ make test',
      'FAIL src/a.test.ts',
      'downloading 100%',
      'ERROR: Job failed: exit code 1',
    ]);
    expect(lines.map((l) => l.section)).toEqual([
      'prepare_executor',
      'prepare_executor',
      'step_script',
      'step_script',
      'step_script',
      null,
    ]);
    expect(lastSection).toBe('step_script');
    expect(JSON.stringify(lines)).not.toMatch(/section_|\\u001b|\\r/);
  });

  it('tails by lines and bytes, newest kept, cutting a single huge line from its end', () => {
    const lines = ['a', 'bb', 'ccc', 'dddd'].map((text) => ({ text }));
    expect(tailLines(lines, 2, 100).lines.map((l) => l.text)).toEqual(['ccc', 'dddd']);
    expect(tailLines(lines, 10, 9).lines.map((l) => l.text)).toEqual(['ccc', 'dddd']);
    const huge = tailLines([{ text: `${'x'.repeat(50)}END` }], 5, 10);
    expect(huge.lines[0]?.text.endsWith('END')).toBe(true);
    expect(Buffer.byteLength(huge.lines[0]?.text ?? '')).toBeLessThanOrEqual(10);
  });

  it("uses the kit's terminal text: a string ends where a terminal ends it, line edits apply", () => {
    // an OSC link cut short by another escape does not swallow the text after it
    expect(stripAnsi(`${E}]8;;https://evil.example/${E}[31mred${E}[0m`)).toBe('red');
    // a line erased and rewritten shows only what a terminal leaves
    expect(stripAnsi(`IGNORE PREVIOUS INSTRUCTIONS${E}[2K${E}[1Gbuild ok`)).toBe('build ok');
    const { lines } = cleanLog(`${E}Pdcs${'\x07'}payload${E}\\step 1\nfetching${E}[K\rdone\n`);
    expect(lines.map((l) => l.text)).toEqual(['step 1', 'done']);
  });
});
