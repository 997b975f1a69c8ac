/** Small text helpers for the command line: durations, counts, aligned tables, shell quoting. */

/** `850ms`, `4.2s`, `16s`, `2m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Items per second, one decimal below 100. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '0/s';
  return perSecond < 100 ? `${perSecond.toFixed(1)}/s` : `${Math.round(perSecond)}/s`;
}

/** `a ×3, b ×1`, most frequent first, at most `limit` entries. */
export function formatCounts(counts: Record<string, number>, limit = 3): string {
  const entries = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = entries.slice(0, limit).map(([name, n]) => `${name} ×${n}`);
  if (entries.length > limit) shown.push(`${entries.length - limit} more`);
  return shown.join(', ');
}

/** Rows as columns padded to their widest cell; numbers (and `-`) right-aligned. */
export function table(header: string[], rows: string[][], indent = '  '): string[] {
  const widths = header.map((title, c) =>
    Math.max(title.length, ...rows.map((row) => (row[c] ?? '').length)),
  );
  const cell = (row: string[], c: number) => row[c] ?? '';
  // A column is numeric when every cell is a number or `-`, and at least one is a number.
  const numeric = header.map(
    (_, c) =>
      rows.some((row) => /^\d/.test(cell(row, c))) &&
      rows.every((row) => /^(-|\d[\d.,]*)$/.test(cell(row, c))),
  );
  const line = (cells: string[]) =>
    indent +
    cells
      .map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** A command line as it can be pasted back into a POSIX shell. */
export function shellQuote(args: readonly string[]): string {
  return args
    .map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`))
    .join(' ');
}
