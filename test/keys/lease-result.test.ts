/**
 * What the pool-aware fetch reports per attempt: the answer's limits in any dialect, its `usage`
 * as sent and the tokens it counted, the organization asked for, and token estimates (the real
 * tokenizer once a key has `tpm`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createClient } from '../../src/keys/client.js';
import { redactKey } from '../../src/keys/redact.js';
import type { KeyBroker, Lease, LeaseRequest, LeaseResult } from '../../src/keys/types.js';
import { type Simulator, startSimulator } from '../../src/sim/index.js';
import { estimateRequestTokens } from '../../src/tokens/estimate.js';

const KEY = 'sk-test-lease-result-0001';
const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

class OneKeyBroker implements KeyBroker {
  readonly requests: LeaseRequest[] = [];
  readonly results: LeaseResult[] = [];
  private next = 1;
  constructor(
    private readonly baseURL: string,
    private readonly limited = false,
  ) {}
  async acquire(request: LeaseRequest): Promise<Lease> {
    this.requests.push(request);
    return { leaseId: this.next++, keyId: 1, label: redactKey(KEY), apiKey: KEY, baseURL: this.baseURL };
  }
  release(_lease: Lease, result: LeaseResult): void {
    this.results.push(result);
  }
  tokenLimited(): boolean {
    return this.limited;
  }
}

async function sim(spec: Record<string, unknown>): Promise<Simulator> {
  const s = await startSimulator({ keys: [{ key: KEY, ...spec }] });
  sims.push(s);
  return s;
}

describe('LeaseResult and LeaseRequest from the pool-aware fetch', () => {
  it('an answer gives back its usage as sent, the tokens it counted, and its limits (IETF dialect)', async () => {
    const s = await sim({ requestsPerWindow: 120, windowMs: 60_000, headers: { dialect: 'ietf' } });
    const broker = new OneKeyBroker(s.url);
    const answer = await createClient(broker).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'usage please' }],
    });
    const result = broker.results[0]!;
    expect(result.outcome).toBe('ok');
    expect(result.usage).toEqual(JSON.parse(JSON.stringify(answer.usage)));
    expect(result.tokens).toBe(answer.usage?.total_tokens);
    expect(result.limits).toMatchObject({ dialect: 'ietf', requests: { limit: 120, windowMs: 60_000 } });
  });

  it("a 429's retry-after comes back in limits, for the pacer to pause the domain", async () => {
    const s = await sim({});
    s.inject({ kind: 'status', status: 429, key: KEY, retryAfterMs: 1500 });
    const broker = new OneKeyBroker(s.url);
    await createClient(broker).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'after a 429' }],
    });
    expect(broker.results[0]).toMatchObject({ outcome: 'rate_limit', status: 429 });
    expect(broker.results[0]?.limits?.retryAfterMs).toBeGreaterThan(1000);
  });

  it('the organization of the client, or of the request header, goes into the lease request', async () => {
    const s = await sim({});
    const broker = new OneKeyBroker(s.url);
    const body = { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: 'org' }] };
    await createClient(broker, { organization: 'org-files' }).chat.completions.create(body);
    await createClient(broker).chat.completions.create(body, {
      headers: { 'OpenAI-Organization': 'org-hdr' },
    });
    await createClient(broker).chat.completions.create(body);
    expect(broker.requests.map((r) => r.organization)).toEqual(['org-files', 'org-hdr', undefined]);
  });

  it('estimates with the real tokenizer when a key has tpm, by characters otherwise', async () => {
    const s = await sim({});
    const body = {
      model: 'gpt-4o-mini',
      messages: [{ role: 'user' as const, content: '你好世界'.repeat(100) }],
      max_tokens: 10,
    };
    const byLength = new OneKeyBroker(s.url, false);
    await createClient(byLength).chat.completions.create(body);
    const byTokenizer = new OneKeyBroker(s.url, true);
    await createClient(byTokenizer).chat.completions.create(body);
    expect(byLength.requests[0]!.tokens).toBe(Math.ceil(JSON.stringify(body).length / 4) + 10);
    expect(byTokenizer.requests[0]!.tokens).toBe(estimateRequestTokens('chat', body).total);
    // 400 CJK characters are 200 tokens: far more than characters ÷ 4 says.
    expect(byTokenizer.requests[0]!.tokens).toBeGreaterThan(200);
  });
});
