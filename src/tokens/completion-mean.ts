/** The running mean of completion tokens answers used: the estimate for requests without `max_tokens`. */

export class CompletionMean {
  private mean: number;
  private count = 0;

  /**
   * @param initial Tokens assumed before any answer was seen. @default 256
   * @param horizon Answers the mean mostly reflects (an exponential mean past this many). @default 200
   */
  constructor(
    private readonly initial = 256,
    private readonly horizon = 200,
  ) {
    this.mean = initial;
  }

  observe(completionTokens: number): void {
    if (!Number.isFinite(completionTokens) || completionTokens < 0) return;
    this.count += 1;
    const weight = 1 / Math.min(this.count, this.horizon);
    this.mean += weight * (completionTokens - this.mean);
  }

  get value(): number {
    return this.count === 0 ? this.initial : this.mean;
  }

  get observed(): number {
    return this.count;
  }
}
