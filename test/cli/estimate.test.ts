/**
 * `keybatch estimate` and `keybatch run --dry-run` as real child processes: token counts equal the
 * tokenizer's on a fixture, the cost arithmetic, an unknown model's cost is "unknown", and a dry run
 * sends nothing (the simulator's counts stay 0) and writes nothing.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeChat } from 'gpt-tokenizer/model/gpt-4o';
import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { cli, tempDirs, writeConfig, writeJsonl } from './helpers.js';

const tempDir = tempDirs();
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

const FIXTURE = [
  { id: 'a', prompt: 'Summarise the plot of Hamlet in one sentence.', max_tokens: 40 },
  { id: 'b', system: 'You are terse.', prompt: 'Name three primes.' },
  {
    id: 'c',
    messages: [
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'What is the capital of Italy?' },
    ],
    max_completion_tokens: 20,
  },
];

/** The fixture's prompt tokens, counted by gpt-tokenizer itself. */
function tokenizerCount(): number {
  const chats = [
    [{ role: 'user', content: FIXTURE[0]!.prompt! }],
    [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Name three primes.' },
    ],
    FIXTURE[2]!.messages!,
  ] as Array<Array<{ role: 'system' | 'user'; content: string }>>;
  return chats.reduce((sum, messages) => sum + encodeChat(messages, 'gpt-4o').length, 0);
}

async function setup(prices?: Record<string, unknown>) {
  const dir = await tempDir();
  const input = join(dir, 'in.jsonl');
  await writeJsonl(input, FIXTURE);
  const config = join(dir, 'config.json');
  await writeConfig(config, [{ api_key: 'sk-test-cli-estimate-0001', rpm: 60, tpm: 6000 }]);
  if (prices) {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      config,
      JSON.stringify({ key_list: [{ api_key: 'sk-test-cli-estimate-0001', rpm: 60, tpm: 6000 }], prices }),
    );
  }
  return { dir, input, config };
}

describe('keybatch estimate', () => {
  it('counts input tokens with the real tokenizer, output at max_tokens or the stated assumption, and prices them', async () => {
    const { dir, input, config } = await setup();
    const result = await cli(['estimate', input, '-m', 'gpt-4o', '-c', config, '--json'], { cwd: dir });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    const inputTokens = tokenizerCount();
    expect(report.requests).toBe(3);
    expect(report.inputTokens).toBe(inputTokens);
    expect(report.outputTokens).toBe(40 + 256 + 20);
    expect(report.assumed).toEqual({ requests: 1, tokensPerRequest: 256 });
    // gpt-4o: $2.5 in, $10 out per 1M; the Batch API half of it.
    const online = (inputTokens * 2.5 + 316 * 10) / 1e6;
    expect(report.cost.online).toBeCloseTo(online, 12);
    expect(report.cost.batch).toBeCloseTo(online / 2, 12);
    // 3 requests at 60 rpm is 3 s; (input + 316) tokens at 6000 tpm is longer.
    expect(report.time.seconds).toBeCloseTo(((inputTokens + 316) / 6000) * 60, 6);

    const text = await cli(['estimate', input, '-m', 'gpt-4o', '-c', config, '--max-tokens', '100'], {
      cwd: dir,
    });
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`input tokens    ${inputTokens}\n`);
    expect(text.stdout).toContain(
      'output tokens   160 (assuming 100 output tokens per request for the 1 that set no max_tokens; pass --max-tokens)',
    );
    expect(text.stdout).toMatch(/cost online {5}\$0\.\d+\ncost batch API {2}\$0\.\d+\n/);
    expect(text.stdout).toMatch(/time {12}about .* at 60 rpm, 6000 tpm \(.*config\.json\)/);
  });

  it('a model with no price costs "unknown", never a guess; config.json prices add one', async () => {
    const { dir, input, config } = await setup({ 'house-model': { input: 1, output: 2 } });
    const unknown = await cli(['estimate', input, '-m', 'gpt-4o-housebrand', '-c', config], { cwd: dir });
    expect(unknown.code).toBe(0);
    expect(unknown.stdout).toMatch(
      /cost online {5}unknown \(no price for gpt-4o-housebrand; add it to config\.json "prices"\)/,
    );
    const priced = await cli(['estimate', input, '-m', 'house-model', '-c', config, '--json'], { cwd: dir });
    const report = JSON.parse(priced.stdout);
    expect(report.cost.online).toBeCloseTo((report.inputTokens * 1 + report.outputTokens * 2) / 1e6, 12);
  });
});

describe('keybatch run --dry-run', () => {
  it('checks input, config and output path, prints the estimate, sends nothing, exits 0', async () => {
    sim = await startSimulator({ keys: [{ key: 'sk-test-cli-dryrun-0001' }] });
    const dir = await tempDir();
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    const config = join(dir, 'config.json');
    await writeJsonl(input, FIXTURE);
    await writeConfig(config, [{ api_key: 'sk-test-cli-dryrun-0001', base_url: sim.url }]);
    const result = await cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--dry-run'], {
      cwd: dir,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('requests        3\n');
    expect(result.stdout).toContain('dry run: input, config and output path are fine; nothing was sent');
    expect(sim.stats().requests).toBe(0);
    expect(sim.requests()).toHaveLength(0);
    expect(await exists(output)).toBe(false);
    expect(await exists(`${output}.keybatch`)).toBe(false);

    // The checks of a run: the output may not be the input; a bad record is named.
    const refused = await cli(['run', input, '-o', input, '-c', config, '-m', 'gpt-4o-mini', '--dry-run'], {
      cwd: dir,
    });
    expect(refused.code).toBe(2);
    await writeJsonl(input, [{ prompt: 'ok' }, { id: 2 }]);
    const bad = await cli(['run', input, '-o', output, '-c', config, '-m', 'gpt-4o-mini', '--dry-run'], {
      cwd: dir,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${input}:2:`);
    expect(sim.requests()).toHaveLength(0);
  });
});
