/** The batch lifecycle as a pure function of the clock: every transition at its exact time. */
import { describe, expect, it } from 'vitest';
import { type BatchRecord, batchStateAt, type LineOutcome } from '../../src/sim/batch-state.js';

const timing = { validateMs: 100, processMs: 400, finalizeMs: 50, dayMs: 1000 };

function lineOf(customId: string, status = 200, expires = false): LineOutcome {
  return {
    customId,
    id: `batch_req_${customId}`,
    requestId: 'req',
    status,
    body: {},
    tokens: 1,
    inputTokens: 1,
    outputTokens: 1,
    expires,
  };
}

function batch(lines: LineOutcome[], extra: Partial<BatchRecord> = {}): BatchRecord {
  return { id: 'batch_1', createdMs: 0, timing, errors: null, lines, cancelAtMs: null, ...extra };
}

const at = (record: BatchRecord, now: number) => {
  const state = batchStateAt(record, now);
  return [state.status, state.done.map((l) => l.customId), state.expired.map((l) => l.customId)];
};

describe('batchStateAt', () => {
  it('validates, then completes lines evenly over processMs, finalizes and completes', () => {
    const record = batch([lineOf('a'), lineOf('b', 400), lineOf('c'), lineOf('d')]);
    expect(at(record, 99)).toEqual(['validating', [], []]);
    expect(at(record, 100)).toEqual(['in_progress', [], []]);
    expect(at(record, 200)).toEqual(['in_progress', ['a'], []]);
    expect(at(record, 399)).toEqual(['in_progress', ['a', 'b'], []]);
    expect(at(record, 500)).toEqual(['finalizing', ['a', 'b', 'c', 'd'], []]);
    expect(at(record, 550)).toEqual(['completed', ['a', 'b', 'c', 'd'], []]);
    expect(batchStateAt(record, 550).times).toEqual({ in_progress: 100, finalizing: 500, completed: 550 });
  });

  it('fails after validation when the input had errors', () => {
    const record = batch([], { errors: [{ code: 'empty_file', line: null, message: 'empty', param: null }] });
    expect(at(record, 50)).toEqual(['validating', [], []]);
    expect(batchStateAt(record, 100)).toMatchObject({
      status: 'failed',
      final: true,
      times: { failed: 100 },
    });
  });

  it('expires at the end of the window when a line never completes', () => {
    const record = batch([lineOf('a'), lineOf('late', 200, true), lineOf('c')]);
    expect(at(record, 999)).toEqual(['in_progress', ['a', 'c'], []]);
    expect(at(record, 1000)).toEqual(['expired', ['a', 'c'], ['late']]);
  });

  it('expires the lines the window cannot hold', () => {
    const record = batch([lineOf('a'), lineOf('b')], { timing: { ...timing, processMs: 1000 } });
    expect(at(record, 1000)).toEqual(['expired', ['a'], ['b']]);
  });

  it('cancels: cancelling for finalizeMs, then cancelled with the lines done by then', () => {
    const record = batch([lineOf('a'), lineOf('b'), lineOf('c'), lineOf('d')], { cancelAtMs: 250 });
    expect(at(record, 260)).toEqual(['cancelling', ['a'], []]);
    expect(batchStateAt(record, 300)).toMatchObject({
      status: 'cancelled',
      times: { in_progress: 100, cancelling: 250, cancelled: 300 },
    });
    const early = batch([lineOf('a')], { cancelAtMs: 10 });
    expect(batchStateAt(early, 100)).toMatchObject({
      status: 'cancelled',
      times: { cancelling: 10, cancelled: 60 },
    });
  });
});
