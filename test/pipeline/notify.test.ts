import { describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/pipeline/pipeline.js';
import { collectingLogger, receiver, until, useCleanup } from '../helpers.js';

const cleanup = useCleanup();

describe('run notifications', () => {
  it('says started and finished with counts', async () => {
    const hook = await receiver();
    cleanup(hook);
    const config = { key_list: [{ api_key: 'sk-test-notify-0001' }], notify: { webhook: hook.url } };
    await runPipeline(config, [1, 2, 3], (c: number[]) => c, {
      handleSignals: false,
      logger: collectingLogger(),
      pool: { watch: false, env: {} },
    });
    await until(() => hook.bodies.length >= 2, 3000, 'two notifications');
    const events = hook.bodies.map(
      ({ body }) => body as { event: string; message: string; details: Record<string, unknown> },
    );
    expect(events[0]).toMatchObject({ event: 'started', message: 'run started on array' });
    expect(events[1]).toMatchObject({
      event: 'finished',
      message: 'run finished: 3 done, 0 failed, 0 skipped',
      details: { done: 3, failed: 0, skipped: 0, total: 3 },
    });
  });

  it('says crashed, with the error, when the run itself fails', async () => {
    const hook = await receiver();
    cleanup(hook);
    const config = { key_list: [{ api_key: 'sk-test-notify-0002' }], notify: { webhook: hook.url } };
    async function* broken() {
      for (let i = 0; i < 1500; i++) yield i;
      throw new Error('the input source broke');
    }
    await expect(
      runPipeline(config, broken(), (c: number[]) => c, {
        handleSignals: false,
        logger: collectingLogger(),
        pool: { watch: false, env: {} },
      }),
    ).rejects.toThrow('the input source broke');
    await until(
      () => hook.bodies.some(({ body }) => (body as { event: string }).event === 'crashed'),
      3000,
      'crashed',
    );
    const crashed = hook.bodies.find(({ body }) => (body as { event: string }).event === 'crashed');
    expect(JSON.stringify(crashed?.body)).toContain('the input source broke');
  });
});
