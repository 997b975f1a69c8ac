/** What every benchmark file exports, and the options `npm run bench -- <name> --key=value` gives it. */

export interface BenchContext {
  /** `--quick`: short durations and small sizes, for development (figures not for BENCHMARKS.md). */
  quick: boolean;
  /** A numeric option: `--name=value` if given, else the quick or the full default. */
  number(name: string, full: number, quick: number): number;
  /** Whether `--name` (or `--name=true`) was given. */
  flag(name: string): boolean;
  /** A text option: `--name=value`, or undefined. */
  text(name: string): string | undefined;
  /** A progress line on stderr. */
  log(line: string): void;
}

export interface Benchmark {
  name: string;
  title: string;
  /** Runs the benchmark and its baseline; returns its report (markdown: the table and notes). */
  run(ctx: BenchContext): Promise<string>;
}
