import { describe, expect, it } from 'vitest';
import { byStage, failingSection } from './pipelines.js';

describe('failingSection', () => {
  it('is the last section before runner housekeeping', () => {
    const lines = [
      'prepare_executor',
      'step_script',
      'step_script',
      'after_script',
      'cleanup_file_variables',
      null,
    ].map((section) => ({ section }));
    expect(failingSection(lines)).toBe('step_script');
    expect(failingSection([{ section: null }])).toBeNull();
  });
});

describe('byStage', () => {
  it('orders stages by their first job and marks allowed failures as warnings', () => {
    const jobs = [
      { id: 3, stage: 'test', name: 'lint', status: 'failed', allow_failure: true },
      { id: 1, stage: 'build', name: 'compile', status: 'success' },
      { id: 2, stage: 'test', name: 'unit', status: 'success' },
    ];
    expect(byStage(jobs).map((s) => `${s.name}:${s.status}:${s.jobs.map((j) => j.name).join(',')}`)).toEqual([
      'build:success:compile',
      'test:success_with_warnings:unit,lint',
    ]);
  });
});
