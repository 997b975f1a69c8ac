import { afterEach, describe, expect, it } from 'vitest';
import { Notifier } from '../../src/notify/index.js';
import { closedPortUrl, collectingLogger, type Receiver, startReceiver } from './receiver.js';

const receivers: Receiver[] = [];
const notifiers: Notifier[] = [];

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  receivers.push(r);
  return r;
}

function notifier(...args: ConstructorParameters<typeof Notifier>): Notifier {
  const n = new Notifier(...args);
  notifiers.push(n);
  return n;
}

afterEach(async () => {
  await Promise.all(notifiers.splice(0).map((n) => n.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('Notifier payloads over HTTP', () => {
  it('posts the exact Lark/Feishu custom-bot shape as JSON', async () => {
    const r = await receiver();
    const n = notifier({ lark: `${r.url}/open-apis/bot/v2/hook/abc` }, { env: {} });
    await n.send({ kind: 'started', message: 'run started: 10 items', details: { items: 10 } });
    expect(r.received).toHaveLength(1);
    const [req] = r.received;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe('/open-apis/bot/v2/hook/abc');
    expect(req?.contentType).toMatch(/^application\/json/);
    expect(req?.raw).toBe('{"msg_type":"text","content":{"text":"[keybatch] run started: 10 items"}}');
  });

  it('posts the Slack and generic shapes to their own targets', async () => {
    const r = await receiver();
    const n = notifier(
      { slack: `${r.url}/slack`, webhook: `${r.url}/generic?token=t` },
      { env: { LARK_HOOK: '' } },
    );
    const before = Date.now();
    await n.send({ kind: 'finished', message: 'done: 10 ok, 0 failed', details: { done: 10, failed: 0 } });
    const byPath = new Map(r.received.map((req) => [req.path, req.body]));
    expect(r.received).toHaveLength(2);
    expect(byPath.get('/slack')).toEqual({ text: '[keybatch] done: 10 ok, 0 failed' });
    const generic = byPath.get('/generic?token=t') as Record<string, unknown>;
    expect(generic).toEqual({
      source: 'keybatch',
      event: 'finished',
      message: 'done: 10 ok, 0 failed',
      time: expect.any(String),
      details: { done: 10, failed: 0 },
    });
    const time = Date.parse(generic['time'] as string);
    expect(time).toBeGreaterThanOrEqual(before - 1000);
    expect(new Date(time).toISOString()).toBe(generic['time']);
  });

  it('delivers events to a target in the order they were sent', async () => {
    const r = await receiver();
    const n = notifier({ webhook: r.url }, { env: {} });
    const kinds = ['started', 'blocked', 'resumed', 'finished'] as const;
    await Promise.all(kinds.map((kind) => n.send({ kind, message: kind })));
    expect(r.received.map((req) => (req.body as { event: string }).event)).toEqual([...kinds]);
  });
});

describe('Notifier configuration', () => {
  it('takes the Lark URL from LARK_HOOK when notify.lark is absent', async () => {
    const r = await receiver();
    const n = notifier(undefined, { env: { LARK_HOOK: `${r.url}/from-env` } });
    expect(n.enabled).toBe(true);
    await n.send({ kind: 'started', message: 'hi' });
    expect(r.received.map((req) => [req.path, req.body])).toEqual([
      ['/from-env', { msg_type: 'text', content: { text: '[keybatch] hi' } }],
    ]);
  });

  it('prefers notify.lark over LARK_HOOK', async () => {
    const r = await receiver();
    const n = notifier({ lark: `${r.url}/from-config` }, { env: { LARK_HOOK: `${r.url}/from-env` } });
    await n.send({ kind: 'started', message: 'hi' });
    expect(r.received.map((req) => req.path)).toEqual(['/from-config']);
  });

  it('is disabled, and sends nothing, with no target', async () => {
    const n = notifier({ baseWaitTime: 5 }, { env: {} });
    expect(n.enabled).toBe(false);
    await expect(n.send({ kind: 'started', message: 'x' })).resolves.toBeUndefined();
  });

  it('applies a reloaded config to later sends', async () => {
    const r = await receiver();
    const n = notifier({ slack: `${r.url}/old` }, { env: {} });
    await n.send({ kind: 'started', message: 'one' });
    n.update({ webhook: `${r.url}/new` });
    await n.send({ kind: 'finished', message: 'two' });
    expect(r.received.map((req) => req.path)).toEqual(['/old', '/new']);
    n.update(undefined);
    expect(n.enabled).toBe(false);
  });

  it('warns about, and ignores, a URL that is not http(s) or a bad base_wait_time', () => {
    const logger = collectingLogger();
    const n = notifier(
      { slack: 'not a url', webhook: 'ftp://example.com/x', baseWaitTime: -3 },
      { env: { LARK_HOOK: 'nope' }, logger },
    );
    expect(n.enabled).toBe(false);
    const warns = logger.warns();
    expect(warns).toHaveLength(4);
    expect(warns.join('\n')).toContain('notify.slack');
    expect(warns.join('\n')).toContain('notify.webhook');
    expect(warns.join('\n')).toContain('LARK_HOOK');
    expect(warns.join('\n')).toContain('got `-3`');
  });

  it('refuses an invalid timeoutMs option', () => {
    expect(() => new Notifier(undefined, { timeoutMs: 0, env: {} })).toThrow(RangeError);
    expect(() => new Notifier(undefined, { timeoutMs: Number.NaN, env: {} })).toThrow('timeoutMs');
  });
});

describe('Notifier failures', () => {
  it('logs a 500 once, naming the target kind and status but not the URL token, and resolves', async () => {
    const r = await receiver({ answer: () => ({ status: 500, body: 'internal error' }) });
    const logger = collectingLogger();
    const n = notifier(
      { lark: `${r.url}/open-apis/bot/v2/hook/TOKEN-123?sign=QSECRET` },
      { env: {}, logger },
    );
    await expect(n.send({ kind: 'crashed', message: 'x' })).resolves.toBeUndefined();
    const warns = logger.warns();
    expect(warns).toHaveLength(1);
    expect(warns[0]).toContain('lark');
    expect(warns[0]).toContain('500');
    expect(warns[0]).toContain('internal error');
    expect(warns[0]).not.toContain('TOKEN-123');
    expect(warns[0]).not.toContain('QSECRET');
  });

  it('logs a Lark refusal that comes inside an HTTP 200', async () => {
    const r = await receiver({
      answer: () => ({ status: 200, body: '{"code":19021,"msg":"sign match fail"}' }),
    });
    const logger = collectingLogger();
    const n = notifier({ lark: `${r.url}/hook` }, { env: {}, logger });
    await n.send({ kind: 'started', message: 'x' });
    expect(logger.warns()).toEqual([expect.stringMatching(/lark.*19021.*sign match fail/)]);
  });

  it('logs an unreachable webhook and never throws', async () => {
    const logger = collectingLogger();
    const url = await closedPortUrl();
    const n = notifier(
      { slack: `${url}/services/T0/B0/XYZSECRET`, webhook: `${url}/w` },
      { env: {}, logger },
    );
    await expect(n.send({ kind: 'crashed', message: 'x' })).resolves.toBeUndefined();
    const warns = logger.warns();
    expect(warns).toHaveLength(2);
    expect(warns.find((w) => w.includes('slack'))).toMatch(/ECONNREFUSED|network error/);
    expect(warns.find((w) => w.includes('webhook ('))).toMatch(/ECONNREFUSED|network error/);
    expect(warns.join('\n')).not.toContain('XYZSECRET');
  });

  it('gives up on a webhook that never answers after timeoutMs', async () => {
    const r = await receiver({ answer: () => 'hang' });
    const logger = collectingLogger();
    const n = notifier({ webhook: `${r.url}/slow` }, { env: {}, logger, timeoutMs: 150 });
    const started = Date.now();
    await n.send({ kind: 'started', message: 'x' });
    // It gives up (the receiver never answers); generous for a busy machine.
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(logger.warns()).toEqual([expect.stringMatching(/webhook .*timed out after 150 ms/)]);
  });

  it('survives a scrub or logger that throws', async () => {
    const r = await receiver({ answer: () => ({ status: 503 }) });
    const n = notifier(
      { webhook: r.url },
      {
        env: {},
        logger: {
          debug() {},
          info() {},
          error() {},
          warn() {
            throw new Error('logger broke');
          },
        },
      },
    );
    await expect(n.send({ kind: 'started', message: 'x' })).resolves.toBeUndefined();
    const m = notifier(
      { webhook: r.url },
      {
        env: {},
        scrub: () => {
          throw new Error('scrub broke');
        },
      },
    );
    await expect(m.send({ kind: 'started', message: 'x' })).resolves.toBeUndefined();
  });
});
