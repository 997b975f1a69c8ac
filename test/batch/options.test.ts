/** The batch options are checked before anything runs. */
import { describe, expect, it } from 'vitest';
import { resolvePromptOptions } from '../../src/prompts/options.js';

const base = { output: '/tmp/out.jsonl' };

describe('batch options', () => {
  it('accepts the batch backend with its options and refuses what does not fit', () => {
    expect(
      resolvePromptOptions({
        ...base,
        backend: 'batch',
        pollIntervalMs: 10,
        shardMaxRequests: 5,
        shardMaxBytes: 100,
        cancel: true,
      }),
    ).toMatchObject({ backend: 'batch', cancel: true });
    expect(() => resolvePromptOptions({ ...base, backend: 'x' as never })).toThrow(
      "`backend` to be 'online' or 'batch'",
    );
    expect(() => resolvePromptOptions({ ...base, backend: 'batch', shardMaxRequests: 50_001 })).toThrow(
      'at most 50000',
    );
    expect(() => resolvePromptOptions({ ...base, cancel: true })).toThrow("needs `backend: 'batch'`");
    expect(() => resolvePromptOptions({ ...base, backend: 'batch', budgetUsd: 1 })).toThrow('not supported');
    expect(() => resolvePromptOptions({ ...base, backend: 'batch', pollIntervalMs: 0 })).toThrow(
      'pollIntervalMs',
    );
  });
});
