import { describe, expect, it } from 'vitest';
import { parseTriggers, TriggerMemory } from '../../src/sim/triggers.js';

describe('parseTriggers', () => {
  it('finds nothing in ordinary text', () => {
    expect(parseTriggers('hello [[not a trigger]]')).toBeNull();
  });

  it('reads a status, with or without a count', () => {
    expect(parseTriggers('x [[sim:500]] y')).toEqual({
      action: { kind: 'status', status: 500 },
      times: null,
      sleepMs: 0,
    });
    expect(parseTriggers('[[sim:503x2]]')).toEqual({
      action: { kind: 'status', status: 503 },
      times: 2,
      sleepMs: 0,
    });
  });

  it('reads drop, hang and sleep; sleeps add up and the first action wins', () => {
    expect(parseTriggers('[[sim:dropx1]]')).toEqual({ action: { kind: 'drop' }, times: 1, sleepMs: 0 });
    expect(parseTriggers('[[sim:hang]][[sim:500]]')).toEqual({
      action: { kind: 'hang' },
      times: null,
      sleepMs: 0,
    });
    expect(parseTriggers('[[sim:sleep=100]] [[sim:sleep=50]]')).toEqual({
      action: null,
      times: null,
      sleepMs: 150,
    });
  });

  it('ignores unknown trigger words and impossible statuses', () => {
    expect(parseTriggers('[[sim:explode]] [[sim:999]]')).toBeNull();
  });
});

describe('TriggerMemory', () => {
  it('applies a counted trigger the first N times the exact text is seen, then never', () => {
    const memory = new TriggerMemory();
    const text = 'again [[sim:500x2]]';
    expect(memory.evaluate(text)?.action).toEqual({ kind: 'status', status: 500 });
    expect(memory.evaluate(text)?.action).toEqual({ kind: 'status', status: 500 });
    expect(memory.evaluate(text)?.action).toBeNull();
    expect(memory.evaluate(text)?.action).toBeNull();
    // Another text has its own count.
    expect(memory.evaluate('other [[sim:500x2]]')?.action).toEqual({ kind: 'status', status: 500 });
  });

  it('applies an uncounted trigger every time', () => {
    const memory = new TriggerMemory();
    for (let i = 0; i < 3; i++)
      expect(memory.evaluate('[[sim:500]]')?.action).toEqual({ kind: 'status', status: 500 });
  });
});
