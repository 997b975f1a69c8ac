import { afterEach, describe, expect, it } from 'vitest';
import { scrubSecrets } from '../../src/keys/redact.js';
import { Notifier } from '../../src/notify/index.js';
import { collectingLogger, type Receiver, startReceiver } from './receiver.js';

const KEY = 'sk-test-SECRETSECRETSECRET1234';
const REDACTED = 'sk-…1234';
const scrub = (text: string) => scrubSecrets(text, [KEY]);

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('Notifier privacy', () => {
  it('no full key reaches any webhook, whatever event or detail carries it', async () => {
    // The receiver echoes the request body in a 500 for one path, so log lines are checked too.
    const r = await startReceiver({
      answer: (req) => (req.path === '/failing' ? { status: 500, body: req.raw } : { status: 200 }),
    });
    receivers.push(r);
    const logger = collectingLogger();
    const n = new Notifier(
      { slack: `${r.url}/slack`, webhook: `${r.url}/generic`, baseWaitTime: 0.03 },
      { env: { LARK_HOOK: `${r.url}/failing` }, logger, scrub },
    );
    const details = {
      key: KEY,
      [KEY]: 'as a property name',
      nested: { keys: [KEY, { again: `Bearer ${KEY}` }] },
      error: new Error(`Incorrect API key provided: ${KEY}`),
    };
    await n.send({ kind: 'crashed', message: `key ${KEY} was rejected`, details });
    n.startBlocked(`no usable key (last tried ${KEY})`, details);
    await r.waitFor(1, (req) => req.path === '/generic' && req.raw.includes('"repeat":1'));
    n.stopBlocked(`resumed with ${KEY}`, details);
    await n.close();

    const paths = new Set(r.received.map((req) => req.path));
    expect(paths).toEqual(new Set(['/slack', '/generic', '/failing']));
    expect(r.received.length).toBeGreaterThanOrEqual(12); // crashed, blocked ×2, resumed to each of 3
    for (const req of r.received) {
      expect(req.raw).not.toContain(KEY);
      expect(req.raw).toContain(REDACTED); // the key was there, and was redacted
    }
    // The echoed bodies of the failing target come back in warn lines: scrubbed as well.
    const warns = logger.warns();
    expect(warns.length).toBeGreaterThanOrEqual(4);
    for (const line of logger.lines) expect(line.message).not.toContain(KEY);
    expect(warns.join('\n')).toContain(REDACTED);
  });

  it('without scrub the payload is sent as given (the test above can fail)', async () => {
    const r = await startReceiver();
    receivers.push(r);
    const n = new Notifier({ webhook: r.url }, { env: {} });
    await n.send({ kind: 'crashed', message: `key ${KEY}` });
    expect(r.received[0]?.raw).toContain(KEY);
  });
});
