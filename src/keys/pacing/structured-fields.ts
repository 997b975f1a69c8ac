/**
 * Just enough of RFC 8941 structured fields for rate-limit headers: lists of items with parameters
 * (`"default";q=100;w=60, "daily";q=1000;w=86400`) and dictionaries (`limit=100, remaining=5`).
 * Malformed members are skipped rather than failing the whole field.
 */

export type SfBare = number | string | boolean;

export interface SfItem {
  value: SfBare;
  params: Map<string, SfBare>;
}

/** Splits `text` on `separator` outside quoted strings. */
function splitOutsideQuotes(text: string, separator: ',' | ';'): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"' && text[i - 1] !== '\\') quoted = !quoted;
    if (ch === separator && !quoted) {
      out.push(current);
      current = '';
    } else current += ch;
  }
  out.push(current);
  return out;
}

/** Splits on commas outside quoted strings. */
function members(text: string): string[] {
  return splitOutsideQuotes(text, ',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}

function bare(text: string): SfBare | undefined {
  const t = text.trim();
  if (/^-?\d{1,15}(\.\d{1,3})?$/.test(t)) return Number(t);
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(t);
  if (quoted) return quoted[1]!.replace(/\\(.)/g, '$1');
  if (t === '?1') return true;
  if (t === '?0') return false;
  if (/^[A-Za-z*][A-Za-z0-9_\-.:%*/]*$/.test(t)) return t;
  return undefined;
}

/** Splits `value;a=1;b` on semicolons outside quoted strings. */
function pieces(text: string): string[] {
  return splitOutsideQuotes(text, ';');
}

function params(parts: string[]): Map<string, SfBare> | undefined {
  const map = new Map<string, SfBare>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!/^[a-z*][a-z0-9_\-.*]*$/.test(key)) return undefined;
    if (eq < 0) {
      map.set(key, true);
      continue;
    }
    const value = bare(part.slice(eq + 1));
    if (value === undefined) return undefined;
    map.set(key, value);
  }
  return map;
}

function item(text: string): SfItem | undefined {
  const [head, ...rest] = pieces(text);
  const value = bare(head ?? '');
  const map = params(rest);
  return value === undefined || map === undefined ? undefined : { value, params: map };
}

/** A structured list; undefined or garbage gives `[]`, a bad member is skipped. */
export function parseStructuredList(text: string | undefined): SfItem[] {
  if (text === undefined || text.length > 4096) return [];
  const out: SfItem[] = [];
  for (const member of members(text)) {
    const parsed = item(member);
    if (parsed) out.push(parsed);
  }
  return out;
}

/** A structured dictionary (`key=item` members, a bare `key` meaning true). */
export function parseStructuredDictionary(text: string | undefined): Map<string, SfItem> {
  const out = new Map<string, SfItem>();
  if (text === undefined || text.length > 4096) return out;
  for (const member of members(text)) {
    const [head, ...rest] = pieces(member);
    const eq = (head ?? '').indexOf('=');
    const key = (eq < 0 ? head! : head!.slice(0, eq)).trim().toLowerCase();
    if (!/^[a-z*][a-z0-9_\-.*]*$/.test(key)) continue;
    const value = eq < 0 ? true : bare(head!.slice(eq + 1));
    const map = params(rest);
    if (value === undefined || map === undefined) continue;
    out.set(key, { value, params: map });
  }
  return out;
}
