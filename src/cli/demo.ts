/**
 * `keybatch demo`: a full run on the embedded simulator, in `.keybatch-demo/` of the current
 * directory. The pool has one key the simulator does not know (invalid), one with a small quota
 * (exhausted), one with a tight rate limit (cooling) and one good key; a few prompts are refused
 * (`[[sim:400]]`) to show final error rows. The run is stopped at about 40% as Ctrl-C would stop
 * it, then run again to show the resume.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Simulator, startSimulator } from '../index.js';
import { EXIT, exitCodeOf } from './errors.js';
import { formatCounts } from './format.js';
import { stopOnSignals } from './interrupt.js';
import { createDisplay, displayMode } from './progress.js';
import { checkpointCounts, executeRun, type RunOutcome, type RunSettings } from './run.js';
import { formatSummary } from './summary.js';

export interface DemoFlags {
  verbose?: boolean;
}

export const DEMO_DIR = '.keybatch-demo';
const PROMPTS = 300;
/** Prompts the simulator refuses with a 400: they end as rows with `error`. */
const REFUSED = new Set([37, 111, 222, 280]);
const STOP_AT = 0.4;

const KEYS = {
  unknown: 'sk-demo-revoked-key-0000',
  quota: 'sk-demo-small-quota-1111',
  limited: 'sk-demo-rate-limited-2222',
  good: 'sk-demo-good-key-3333',
};

function startDemoSimulator(): Promise<Simulator> {
  return startSimulator({
    keys: [
      { key: KEYS.quota, quota: 25 },
      { key: KEYS.limited, requestsPerWindow: 8, windowMs: 1000 },
      { key: KEYS.good },
    ],
    latencyMs: 30,
  });
}

function demoConfig(url: string): object {
  return {
    key_index: 0,
    key_list: [
      { api_key: KEYS.unknown, base_url: url },
      { api_key: KEYS.quota, base_url: url },
      { api_key: KEYS.limited, base_url: url },
      { api_key: KEYS.good, base_url: url },
    ],
  };
}

function demoPrompts(): string {
  const topics = ['the sea', 'a library', 'rain in spring', 'an old map', 'a train at night', 'bread'];
  const lines: string[] = [];
  for (let i = 0; i < PROMPTS; i++) {
    const topic = topics[i % topics.length]!;
    const refused = REFUSED.has(i) ? ' [[sim:400]]' : '';
    lines.push(
      JSON.stringify({
        id: `q${String(i + 1).padStart(3, '0')}`,
        prompt: `One line about ${topic} (#${i + 1}).${refused}`,
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

const say = (message: string) => process.stderr.write(`keybatch demo: ${message}\n`);

export async function demoCommand(flags: DemoFlags): Promise<number> {
  const dir = DEMO_DIR;
  const configPath = join(dir, 'config.json');
  const input = join(dir, 'prompts.jsonl');
  const output = join(dir, 'output.jsonl');
  const logDir = join(dir, 'logs');
  const sim = await startDemoSimulator();
  const interrupt = new AbortController();
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(configPath, `${JSON.stringify(demoConfig(sim.url), null, 2)}\n`);
    await writeFile(input, demoPrompts());
    say(
      `simulator at ${sim.url}; wrote ${configPath} (4 keys: one unknown to the simulator, one with a quota of 25, one limited to 8 requests/s, one good)`,
    );
    say(`and ${input} (${PROMPTS} prompts, ${REFUSED.size} of them refused by the simulator with a 400)`);

    const settings: RunSettings = { output, model: 'gpt-4o-mini', workers: 4, concurrency: 2, logDir };
    const run = async (resume: boolean, stopAt?: number): Promise<RunOutcome> => {
      const display = createDisplay({
        mode: displayMode(false),
        verbose: flags.verbose === true,
        configPath,
      });
      const stop = new AbortController();
      const signals = stopOnSignals(interrupt, display);
      try {
        return await executeRun({
          config: configPath,
          input,
          settings: { ...settings, resume },
          display,
          stopSignal: AbortSignal.any([interrupt.signal, stop.signal]),
          progressIntervalMs: 100,
          onProgress: (progress) => {
            const finished = progress.done + progress.skipped + progress.failed;
            if (stopAt !== undefined && progress.total && finished >= progress.total * stopAt) stop.abort();
          },
        });
      } finally {
        signals.detach();
      }
    };

    say(
      `run 1: ${PROMPTS} prompts over the pool, stopped at about ${STOP_AT * 100}% as Ctrl-C would stop it`,
    );
    const first = await run(false, STOP_AT);
    if (interrupt.signal.aborted) return interrupted(first);
    if (first.kind === 'stopped') {
      if (first.summary) {
        const checkpoint = await checkpointCounts(output);
        const lines = formatSummary(first.summary, { stopped: 'stopped by the demo', output, checkpoint });
        process.stderr.write(`${lines.join('\n')}\n`);
      }
      say('run 1 stopped; everything finished so far is in the checkpoint');
    } else {
      say('run 1 finished before the demo could stop it');
    }

    say('run 2: the same run again; it resumes from the checkpoint (the "skipped" count)');
    const second = await run(true);
    if (interrupt.signal.aborted || second.kind === 'stopped') return interrupted(second);
    const { summary } = second;
    const counts = await checkpointCounts(output);
    const errorRows = counts?.failed ?? summary.failed;
    process.stderr.write(`${formatSummary(summary, { output, checkpoint: counts }).join('\n')}\n`);
    const stats = sim.stats();
    say(`simulator answers: ${formatCounts(stats.byStatus, 6)}`);
    say(
      `output: ${output} — ${summary.total} rows in input order, ${errorRows} with "error" (the refused prompts, as expected)`,
    );
    say(`audit log: ${logDir}/; config: ${configPath}; checkpoint: ${summary.checkpoint}`);
    say(`try: keybatch status ${output}`);
    return EXIT.ok;
  } finally {
    await sim.close();
  }
}

function interrupted(outcome: RunOutcome): number {
  say('interrupted; run `keybatch demo` again to start over');
  return outcome.kind === 'stopped' ? exitCodeOf(outcome.error) : EXIT.stopped;
}
