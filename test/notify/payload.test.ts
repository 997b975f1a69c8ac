import { describe, expect, it } from 'vitest';
import { buildPayload } from '../../src/notify/index.js';

const time = new Date('2025-01-02T03:04:05.678Z');
const identity = (text: string) => text;

describe('buildPayload', () => {
  it('gives Lark/Feishu a text message with the [keybatch] prefix', () => {
    expect(buildPayload('lark', { kind: 'blocked', message: 'no usable key' }, time, identity)).toEqual({
      msg_type: 'text',
      content: { text: '[keybatch] no usable key' },
    });
  });

  it('gives Slack a text message with the [keybatch] prefix', () => {
    expect(buildPayload('slack', { kind: 'finished', message: 'done' }, time, identity)).toEqual({
      text: '[keybatch] done',
    });
  });

  it('gives the generic webhook source, event, message, time and details', () => {
    const event = { kind: 'crashed' as const, message: 'boom', details: { items: 3, ok: false } };
    expect(buildPayload('webhook', event, time, identity)).toEqual({
      source: 'keybatch',
      event: 'crashed',
      message: 'boom',
      time: '2025-01-02T03:04:05.678Z',
      details: { items: 3, ok: false },
    });
    expect(buildPayload('webhook', { kind: 'started', message: 'go' }, time, identity)).toMatchObject({
      details: {},
    });
  });

  it('turns awkward details into plain JSON instead of throwing', () => {
    const circular: Record<string, unknown> = { name: 'loop' };
    circular['self'] = circular;
    const error = Object.assign(new Error('bad key'), { code: 'invalid_api_key', status: 401 });
    const payload = buildPayload(
      'webhook',
      {
        kind: 'crashed',
        message: 'x',
        details: {
          big: 12n,
          when: time,
          error,
          circular,
          fn: () => 1,
          list: [1, undefined, Number.NaN],
          map: new Map([['a', 1]]),
        },
      },
      time,
      identity,
    );
    expect(() => JSON.stringify(payload)).not.toThrow();
    expect(payload['details']).toEqual({
      big: '12',
      when: '2025-01-02T03:04:05.678Z',
      error: { name: 'Error', message: 'bad key', code: 'invalid_api_key', status: 401 },
      circular: { name: 'loop', self: '[Circular]' },
      list: [1, null, 'NaN'],
      map: { a: 1 },
    });
  });

  it('passes every string, keys included, through scrub', () => {
    const scrub = (text: string) => text.replaceAll('SECRET', '***');
    const payload = buildPayload(
      'webhook',
      {
        kind: 'blocked',
        message: 'm SECRET',
        details: { SECRET: 'v SECRET', deep: [{ e: new Error('SECRET') }] },
      },
      time,
      scrub,
    );
    expect(JSON.stringify(payload)).not.toContain('SECRET');
    expect(payload['details']).toEqual({ '***': 'v ***', deep: [{ e: { name: 'Error', message: '***' } }] });
    expect(
      JSON.stringify(buildPayload('lark', { kind: 'blocked', message: 'SECRET' }, time, scrub)),
    ).not.toContain('SECRET');
  });
});
