/** No Redis URL with a password in any hint or error line the CLI prints. */
import { describe, expect, it } from 'vitest';
import { errorLine } from '../../src/cli/errors.js';
import { resumeCommand } from '../../src/cli/run.js';
import { KeybatchError } from '../../src/errors.js';

const PASSWORD = 's3cret-redis-pw-7731';

describe('a Redis password is never printed', () => {
  it('the "rerun the same command" hint shows *** for it, in every URL form', () => {
    const hint = resumeCommand([
      'node',
      'keybatch',
      'run',
      'in.jsonl',
      '-o',
      'out.jsonl',
      '--redis',
      `redis://:${PASSWORD}@10.0.0.5:6379`,
      `--redis=rediss://admin:${PASSWORD}@cache.example:6380/2`,
      '--fresh',
    ]);
    expect(hint).not.toContain(PASSWORD);
    expect(hint).toContain('redis://:***@10.0.0.5:6379');
    expect(hint).toContain('rediss://admin:***@cache.example:6380/2');
    expect(hint).not.toContain('--fresh');
  });

  it('an error line naming a Redis URL (a driver message) shows *** for the password', () => {
    const line = errorLine(
      new KeybatchError('REDIS_UNREACHABLE', `connect ECONNREFUSED redis://user:${PASSWORD}@127.0.0.1:1`),
    );
    expect(line).not.toContain(PASSWORD);
    expect(line).toContain('redis://user:***@127.0.0.1:1');
  });
});
