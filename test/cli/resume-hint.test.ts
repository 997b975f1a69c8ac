import { describe, expect, it } from 'vitest';
import { resumeCommand } from '../../src/cli/run.js';

describe('the rerun hint of a stopped run', () => {
  it('drops --fresh and --cancel: the rerun goes on from where the run stopped, it neither starts over nor cancels again', () => {
    const argv = ['node', 'keybatch', 'run', 'in.jsonl', '-o', 'out.jsonl', '--batch', '--cancel', '--fresh'];
    expect(resumeCommand(argv)).toBe('keybatch run in.jsonl -o out.jsonl --batch');
  });
});
