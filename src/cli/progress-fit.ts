/**
 * Fitting the live progress line, and the lines above it, to the terminal's width. cli-progress
 * turns line wrap off, so a line wider than the terminal is cut wherever it ends; here nothing is
 * ever cut inside a word.
 *
 * The progress line is made of fields, each with its forms from longest to shortest ('' drops the
 * field). While the line is too wide, the next step of `SHORTEN_ORDER` takes one field one form
 * shorter: first the key counts lose their zero states, the bar narrows, tokens and spend abbreviate,
 * the blocked hint shortens; then the least needed fields go (a zero failed count, the rate, the
 * tokens, the bar, the spend, the ETA); last the hint and the key counts take their shortest form.
 * Anything still too wide loses whole fields from its end (a first field alone, whole words).
 */

export type FieldName = 'bar' | 'count' | 'blocked' | 'failed' | 'rate' | 'eta' | 'tokens' | 'spent' | 'keys';

/** A field's forms, longest first; a field absent from the line has none. */
export type Fields = Partial<Record<FieldName, readonly string[]>>;

/** Which field gets one form shorter at each step, in order. */
export const SHORTEN_ORDER: readonly FieldName[] = Object.freeze([
  'keys',
  'bar',
  'tokens',
  'spent',
  'blocked',
  'failed',
  'rate',
  'tokens',
  'bar',
  'spent',
  'eta',
  'blocked',
  'keys',
  'bar',
]);

/** The order fields appear in. */
const LAYOUT: readonly FieldName[] = ['bar', 'blocked', 'failed', 'rate', 'eta', 'tokens', 'spent', 'keys'];

/** Visible width: code points (the line holds no wide characters or escapes). */
const width = (text: string): number => [...text].length;

function join(fields: Fields, level: Partial<Record<FieldName, number>>, separator: string): string {
  const form = (name: FieldName): string => {
    const forms = fields[name];
    if (!forms || forms.length === 0) return '';
    return forms[Math.min(level[name] ?? 0, forms.length - 1)] ?? '';
  };
  // The bar and the count are one part: `[####----] 12/100 done`.
  const head = [form('bar'), form('count')].filter(Boolean).join(' ');
  const rest = LAYOUT.filter((name) => name !== 'bar')
    .map(form)
    .filter(Boolean);
  return [head, ...rest].filter(Boolean).join(separator);
}

/** The words of `text` that fit in `columns`, whole. */
export function cutAtWord(text: string, columns: number): string {
  if (width(text) <= columns) return text;
  const words = text.split(' ');
  let out = '';
  for (const word of words) {
    const next = out ? `${out} ${word}` : word;
    if (width(next) > columns) break;
    out = next;
  }
  return out;
}

/** The fields joined by `separator`, shortened (SHORTEN_ORDER) until the line fits `columns`. */
export function fitFields(fields: Fields, columns: number, separator = ' | '): string {
  const level: Partial<Record<FieldName, number>> = {};
  let line = join(fields, level, separator);
  for (const name of SHORTEN_ORDER) {
    if (width(line) <= columns) return line;
    const forms = fields[name];
    if (!forms || (level[name] ?? 0) >= forms.length - 1) continue;
    level[name] = (level[name] ?? 0) + 1;
    line = join(fields, level, separator);
  }
  // Still too wide: whole fields go from the end; a first field wider than the line loses words.
  const parts = line.split(separator);
  let out = parts[0] ?? '';
  for (const part of parts.slice(1)) {
    if (width(`${out}${separator}${part}`) > columns) break;
    out = `${out}${separator}${part}`;
  }
  return cutAtWord(out, columns);
}

/**
 * `text` broken into lines of at most `columns`, at spaces; continuation lines indented by
 * `indent`. A word wider than a line stays whole (a URL, a path).
 */
export function wrapWords(text: string, columns: number, indent = '  '): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      const prefix = out.length > 0 ? indent : '';
      const next = line ? `${line} ${word}` : word;
      if (line && width(prefix) + width(next) > columns) {
        out.push(prefix + line);
        line = word;
      } else line = next;
    }
    out.push((out.length > 0 ? indent : '') + line);
  }
  return out;
}
