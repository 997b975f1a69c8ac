/** The pure parts: shards within the limits, one endpoint and model each; what a result line means; poll backoff. */
import { describe, expect, it } from 'vitest';
import {
  customIdOf,
  indexOfCustomId,
  lineOutcome,
  planShards,
  pollDelay,
  type ShardItem,
  validationOutcomes,
} from '../../src/batch/shards.js';
import { fromRanges, toRanges } from '../../src/batch/state.js';

const chat = (index: number, text = 'x', model = 'gpt-4o-mini'): ShardItem => ({
  index,
  endpoint: 'chat',
  body: { model, messages: [{ role: 'user', content: text }] },
});

describe('planShards', () => {
  it('cuts at maxRequests and maxBytes, in input order, each line a Batch API request with an index custom_id', () => {
    const items = Array.from({ length: 7 }, (_, i) => chat(i * 2));
    expect(planShards(items, 3, 1e9).map((s) => s.indices)).toEqual([[0, 2, 4], [6, 8, 10], [12]]);
    const lineBytes = Buffer.byteLength(planShards([chat(0)], 10, 1e9)[0]?.lines[0] ?? '');
    expect(planShards(items.slice(0, 4), 100, lineBytes * 2).map((s) => s.indices.length)).toEqual([2, 2]);
    const [first] = planShards([chat(5)], 1, 1e9);
    expect(JSON.parse(first?.lines[0] ?? '')).toEqual({
      custom_id: 'i-5',
      method: 'POST',
      url: '/v1/chat/completions',
      body: chat(5).body,
    });
  });

  it('keeps one endpoint and one model per shard', () => {
    const items: ShardItem[] = [
      chat(0),
      { index: 1, endpoint: 'embeddings', body: { model: 'text-embedding-3-small', input: 'a' } },
      chat(2, 'y', 'gpt-4o'),
      chat(3),
    ];
    const shards = planShards(items, 100, 1e9);
    expect(shards.map((s) => [s.endpoint, s.indices])).toEqual([
      ['chat', [0, 3]],
      ['embeddings', [1]],
      ['chat', [2]],
    ]);
  });
});

describe('result lines', () => {
  it('tells answers, final refusals and lines to send again apart', () => {
    const ok = {
      custom_id: 'i-1',
      response: { status_code: 200, request_id: 'r1', body: { id: 'c' } },
      error: null,
    };
    expect(lineOutcome(ok)).toEqual({ kind: 'answer', body: { id: 'c' }, requestId: 'r1' });
    const refused = {
      custom_id: 'i-2',
      response: { status_code: 400, request_id: 'r2', body: { error: { code: 'bad', message: 'no' } } },
      error: null,
    };
    expect(lineOutcome(refused)).toMatchObject({ kind: 'final', status: 400, code: 'bad', message: 'no' });
    for (const status of [429, 500, 503, 408]) {
      const line = { response: { status_code: status, body: { error: { message: 'later' } } }, error: null };
      expect(lineOutcome(line).kind).toBe('retry');
    }
    const expired = { response: null, error: { code: 'batch_expired', message: 'late' } };
    expect(lineOutcome(expired)).toEqual({
      kind: 'retry',
      status: null,
      code: 'batch_expired',
      message: 'late',
    });
    expect(indexOfCustomId(customIdOf(42))).toBe(42);
    expect(indexOfCustomId('user-42')).toBeUndefined();
  });

  it('names the input record of each line a validation refused', () => {
    const out = validationOutcomes(
      [
        { code: 'invalid_json_line', line: 2, message: 'bad' },
        { code: 'x', line: null },
      ],
      [4, 9],
      'batch_1',
    );
    expect([...out.keys()]).toEqual([9]);
    expect(out.get(9)).toMatchObject({
      kind: 'final',
      message: "input record 10 (line 2 of batch batch_1's file): bad",
    });
  });
});

describe('state helpers and polling', () => {
  it('keeps positions as ranges and backs off polls to 8x', () => {
    expect(toRanges([1, 2, 3, 7, 9, 10])).toEqual([
      [1, 3],
      [7, 7],
      [9, 10],
    ]);
    expect(fromRanges(toRanges([1, 2, 3, 7, 9, 10]))).toEqual([1, 2, 3, 7, 9, 10]);
    expect([0, 1, 2, 10].map((n) => pollDelay(1000, n))).toEqual([1000, 1500, 2250, 8000]);
  });
});
