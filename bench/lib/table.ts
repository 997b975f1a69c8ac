/** Markdown tables and number formatting for benchmark reports. */

export type Cell = string | number;

/** A GitHub-flavoured markdown table; numbers are right-aligned. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly Cell[]>): string {
  const text = rows.map((row) => row.map((cell) => String(cell)));
  const widths = header.map((h, c) => Math.max(h.length, 3, ...text.map((row) => row[c]?.length ?? 0)));
  const numeric = header.map((_, c) =>
    rows.every(
      (row) => typeof row[c] === 'number' || /^[\d.,%×≤≥<>~ -]+(ms|s|MB|x)?$/.test(String(row[c] ?? '')),
    ),
  );
  const line = (cells: readonly string[]) =>
    `| ${cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (numeric[c] ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...text.map(line)].join('\n');
}

/** `1234567` -> `1,234,567`; fractions keep `digits` decimals. */
export function num(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function pct(fraction: number, digits = 2): string {
  return `${num(fraction * 100, digits)}%`;
}

export function ms(value: number, digits = 0): string {
  return `${num(value, digits)} ms`;
}

export function mb(bytes: number): string {
  return `${num(bytes / (1024 * 1024), 0)} MB`;
}

/** `met` / `MISSED` against a target. */
export function verdict(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}
