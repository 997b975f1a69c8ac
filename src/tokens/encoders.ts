/**
 * The tokenizers (`gpt-tokenizer`: pure JS, no native code, no network), loaded on first use so a
 * process that never estimates tokens never pays for the rank tables (~170 ms, ~60 MB each).
 */
import { createRequire } from 'node:module';

export type EncodingName = 'o200k_base' | 'cl100k_base';

export interface Encoder {
  countTokens(text: string): number;
}

const require = createRequire(import.meta.url);
const loaded = new Map<EncodingName, Encoder>();

/** The encoding a model's rate limits count in: `cl100k_base` for GPT-4/3.5 and the embeddings models, else `o200k_base`. */
export function encodingFor(model: string | undefined): EncodingName {
  if (model === undefined) return 'o200k_base';
  const name = model.toLowerCase();
  if (/^(gpt-4o|gpt-4\.[15]|chatgpt-4o)/.test(name)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-|davinci-002|babbage-002)/.test(name)) return 'cl100k_base';
  return 'o200k_base';
}

export function encoder(encoding: EncodingName): Encoder {
  let found = loaded.get(encoding);
  if (!found) {
    found = require(`gpt-tokenizer/cjs/encoding/${encoding}`) as Encoder;
    loaded.set(encoding, found);
  }
  return found;
}
