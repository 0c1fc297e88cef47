import { describe, expect, it } from 'vitest';
import { byStage, earlierErrors, failingSection, projectOfPipelineUrl } from './pipelines.js';

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

describe('earlierErrors', () => {
  it('finds the last error-looking lines above the tail, in order', () => {
    const lines = ['ok', 'Error: boom', 'fine', 'FAILED test_a', 'x', 'tail ERROR: Job failed'].map((text) => ({
      text,
    }));
    expect(earlierErrors(lines, 5)).toEqual(['Error: boom', 'FAILED test_a']);
    expect(earlierErrors(lines, 0)).toEqual([]);
    const many = Array.from({ length: 20 }, (_, i) => ({ text: `error ${i}` }));
    expect(earlierErrors(many, 20)).toEqual(['error 15', 'error 16', 'error 17', 'error 18', 'error 19']);
  });
});

describe('projectOfPipelineUrl', () => {
  it("reads the project path below GitLab's relative root, in either URL form GitLab has used", () => {
    expect(projectOfPipelineUrl('https://gl.example', 'https://gl.example/a/b/c/-/pipelines/5')).toBe('a/b/c');
    expect(projectOfPipelineUrl('https://gl.example/gitlab/', 'https://gl.example/gitlab/a/b/pipelines/5')).toBe('a/b');
    // the server may reach GitLab at an internal address while GitLab renders its external one
    expect(projectOfPipelineUrl('http://gitlab:8929', 'https://gl.example/a/b/-/pipelines/5')).toBe('a/b');
    expect(projectOfPipelineUrl('https://gl.example', 'not a url')).toBeNull();
    expect(projectOfPipelineUrl('https://gl.example', 'https://gl.example/a/b/-/jobs/5')).toBeNull();
  });
});
