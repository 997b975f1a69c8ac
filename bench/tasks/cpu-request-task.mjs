/**
 * The CPU-heavy task of the distributed benchmark (plain JavaScript, as a user's module would be):
 * per item about 2 ms of computation, then one chat request through the pool.
 *
 * @param {Array<{ id: number, text: string }>} chunk
 * @param {{ client: import('openai').default, signal: AbortSignal, args: { cpuMs?: number } }} ctx
 */
export default async function cpuThenRequest(chunk, ctx) {
  const cpuMs = ctx.args?.cpuMs ?? 2;
  return Promise.all(
    chunk.map(async (x) => {
      // ~cpuMs of work: a hash-like loop until the thread's clock has moved on that much.
      let h = x.id;
      const until = performance.now() + cpuMs;
      while (performance.now() < until) for (let k = 0; k < 1000; k++) h = (h * 31 + k) | 0;
      const answer = await ctx.client.chat.completions.create(
        { model: 'gpt-4o-mini', messages: [{ role: 'user', content: x.text }], max_tokens: 8 },
        { signal: ctx.signal },
      );
      return { id: x.id, h, n: answer.choices[0]?.message.content?.length ?? 0 };
    }),
  );
}
