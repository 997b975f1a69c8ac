/**
 * The spend a budget cannot read from the checkpoint's rows, kept in `<run dir>/spend.log`:
 * reservations of requests that were sent but never settled (the process was killed while they
 * were in flight: the provider may have billed them) and answers that carried no `usage` (their
 * reserved estimate is what they cost). A rerun counts both as spent, so `kill -9` loops and
 * servers without `usage` cannot reset a budget.
 *
 * Lines: `R <id> <usd>` a request reserved, `S <id>` it settled or was refunded, `E <usd>` an
 * answer without usage spent its estimate, `C <usd>` spend carried over from earlier runs. A torn
 * last line (a kill mid-write) is ignored.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const SPEND_LOG = 'spend.log';

const usd = (value: number): number => Math.round(value * 1e12) / 1e12;

/** USD the journal at `dir` counts as spent: open reservations, estimated answers, carried spend. */
export async function readJournalSpend(dir: string): Promise<number> {
  const text = await readFile(join(dir, SPEND_LOG), 'utf8').catch(() => '');
  const open = new Map<string, number>();
  let spent = 0;
  for (const line of text.split('\n')) {
    const [kind, a, b] = line.split(' ');
    if (kind === 'R' && a !== undefined && Number.isFinite(Number(b))) open.set(a, Number(b));
    else if (kind === 'S' && a !== undefined) open.delete(a);
    else if ((kind === 'E' || kind === 'C') && Number.isFinite(Number(a))) spent += Number(a);
  }
  for (const value of open.values()) spent += value;
  return usd(spent);
}

/**
 * The journal of this run. It is first written at the first reservation (the run directory is
 * locked by then), as one `C` line of what earlier runs left, so it never grows past one run.
 */
export class SpendJournal {
  private started = false;
  private nextId = 1;

  constructor(
    private readonly dir: string,
    private readonly carried: number,
  ) {}

  private write(line: string): void {
    const path = join(this.dir, SPEND_LOG);
    if (!this.started) {
      this.started = true;
      writeFileSync(path, `C ${this.carried}\n`);
    }
    appendFileSync(path, `${line}\n`);
  }

  /** A request is about to be sent holding `usdReserved`; returns its id for `settled`. */
  reserved(usdReserved: number): number {
    const id = this.nextId++;
    this.write(`R ${id} ${usdReserved}`);
    return id;
  }

  /** The request settled (answered, with usage, or refunded): the checkpoint's rows say the rest. */
  settled(id: number): void {
    this.write(`S ${id}`);
  }

  /** The request was answered without `usage`: its estimate is what it cost. */
  estimated(id: number, usdSpent: number): void {
    this.write(`S ${id}`);
    this.write(`E ${usdSpent}`);
  }
}
