import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseConfig } from '../../src/keys/config.js';
import { configPrices } from '../../src/prompts/run-spend.js';
import { useTempDir } from '../helpers.js';

const key_list = [{ api_key: 'sk-config-prices-test-0001' }];
const tempDir = useTempDir();

describe('config.json prices', () => {
  it('reads prices per model, USD per 1M tokens', async () => {
    const prices = { 'llama-local': { input: 0.1, output: 0.2, cached_input: 0.05 } };
    expect(parseConfig({ key_list, prices }).config.prices).toEqual(prices);
    const path = join(await tempDir(), 'config.json');
    await writeFile(path, JSON.stringify({ key_list, prices }));
    expect(await configPrices(path)).toEqual(prices);
    expect(await configPrices({ key_list })).toEqual({});
  });

  it('refuses a negative or missing price, naming the field', () => {
    const bad = (prices: unknown) => () => parseConfig({ key_list, prices }, 'config.json');
    expect(bad({ m: { input: -1, output: 1 } })).toThrow(ConfigError);
    expect(bad({ m: { input: -1, output: 1 } })).toThrow(
      'config.json: prices.m.input: must be a number >= 0',
    );
    expect(bad({ m: { input: 1 } })).toThrow(
      'config.json: prices.m.output: must be a number (USD per 1M tokens)',
    );
    expect(bad({ m: { input: 1, output: 1, cached: 1 } })).toThrow('config.json: prices.m: must be');
    expect(bad({ m: 3 })).toThrow('config.json: prices.m: must be');
  });
});
