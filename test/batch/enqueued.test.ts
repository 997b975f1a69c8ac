/** How a `token_limit_exceeded` refusal is judged from the batches open when the refused one was created. */
import { describe, expect, it } from 'vitest';
import { EnqueuedBatches, judgeRefusal, standingAfter } from '../../src/batch/enqueued.js';

const ORG = '{"organization":"org-a"}';

describe('the enqueued token queue of a run', () => {
  it('two batches created together and both refused are each too large alone', () => {
    const queue = new EnqueuedBatches();
    const a = queue.creating(ORG);
    const b = queue.creating(ORG);
    queue.created(b);
    queue.created(a);
    queue.observe(a, 'failed');
    // The sibling is not known yet: it may be the one holding the queue.
    expect(queue.judge(a)).toBe('wait');
    queue.observe(b, 'failed');
    expect(queue.judge(a)).toBe('alone');
    expect(queue.judge(b)).toBe('alone');
  });

  it('a batch refused while a sibling holds the queue waits for it to end, then is submitted again', () => {
    const queue = new EnqueuedBatches();
    const held = queue.creating(ORG);
    queue.created(held);
    queue.observe(held, 'in_progress');
    const refused = queue.creating(ORG);
    queue.created(refused);
    queue.observe(refused, 'failed');
    expect(queue.judge(refused)).toBe('wait');
    queue.observe(held, 'completed');
    expect(queue.judge(refused)).toBe('again');
  });

  it('only batches of the same organization, open or being created at the time, are peers', () => {
    const queue = new EnqueuedBatches();
    const other = queue.creating('{"organization":"org-b"}');
    queue.created(other);
    queue.observe(other, 'in_progress');
    const ended = queue.creating(ORG);
    queue.created(ended);
    queue.observe(ended, 'completed');
    const refused = queue.creating(ORG);
    queue.created(refused);
    const later = queue.creating(ORG);
    queue.created(later);
    queue.observe(later, 'in_progress');
    queue.observe(refused, 'failed');
    // `later` was sent after `refused` was answered: it cannot have caused the refusal.
    expect(queue.judge(refused)).toBe('alone');
  });

  it('a batch no longer polled (its create or poll threw) may have held tokens: its peers submit again', () => {
    const queue = new EnqueuedBatches();
    const lost = queue.creating(ORG);
    const refused = queue.creating(ORG);
    queue.created(refused);
    queue.observe(refused, 'failed');
    queue.release(lost);
    expect(queue.judge(refused)).toBe('again');
  });

  it('a batch a stopped run created is submitted again once nothing of its organization is open', () => {
    const queue = new EnqueuedBatches();
    const adopted = queue.adopt(ORG);
    const open = queue.creating(ORG);
    queue.created(open);
    queue.observe(adopted, 'failed');
    expect(queue.judge(adopted)).toBe('wait');
    queue.observe(open, 'failed');
    expect(queue.judge(adopted)).toBe('again');
  });

  it('standings follow the Batch API states', () => {
    expect(standingAfter('validating', 'validating')).toBe('validating');
    expect(standingAfter('validating', 'failed')).toBe('refused');
    expect(standingAfter('held', 'failed')).toBe('over');
    expect(standingAfter('validating', 'in_progress')).toBe('held');
    expect(standingAfter('validating', 'completed')).toBe('over');
    expect(judgeRefusal([], true)).toBe('alone');
    expect(judgeRefusal(['refused', 'over'], true)).toBe('again');
  });
});
