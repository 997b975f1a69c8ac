/**
 * How secrets and long texts are shown once they leave the process: a key as `sk-…abcd` (or its
 * name), every piece of a key found in a text replaced by that label, an error body cut to 4 KiB.
 */

/** How a key is shown anywhere outside a request: its `name`, else `sk-…` + the last 4 characters. */
export function redactKey(apiKey: string, name?: string): string {
  if (name) return name;
  const tail = apiKey.length > 8 ? apiKey.slice(-4) : '';
  return `sk-…${tail}`;
}

/** Keys shorter than this are only scrubbed whole; longer ones also by any long enough piece. */
const PIECE_KEY_LENGTH = 16;
/** The shortest piece of a (long) key that is scrubbed. */
const PIECE_LENGTH = 12;
/** Probe width and step: any piece of >= 11 characters holds a whole probe (6 + 6 - 1). */
const PROBE = 6;
/** Keys shorter than this are too short to tell from ordinary text; they are not scrubbed. */
const MIN_SECRET_LENGTH = 8;

/** A range `[start, end)` of a text to replace by `label`. */
type Range = [start: number, end: number, label: string];

/** The ranges of `text` that are a piece (>= 12 characters) of `secret`, possibly overlapping. */
function pieces(text: string, secret: string, label: string, out: Range[]): void {
  if (secret.length < MIN_SECRET_LENGTH || text.length < Math.min(secret.length, PIECE_LENGTH)) return;
  if (secret.length < PIECE_KEY_LENGTH) {
    for (let at = text.indexOf(secret); at >= 0; at = text.indexOf(secret, at + secret.length)) {
      out.push([at, at + secret.length, label]);
    }
    return;
  }
  // One probe every PROBE characters of the key: a piece of >= 11 characters contains one whole,
  // so every occurrence of a piece is found from its probe, then extended both ways.
  for (let offset = 0; offset + PROBE <= secret.length; offset += PROBE) {
    const probe = secret.slice(offset, offset + PROBE);
    for (let at = text.indexOf(probe); at >= 0; at = text.indexOf(probe, at + 1)) {
      let start = at;
      let k = offset;
      while (k > 0 && start > 0 && text.charCodeAt(start - 1) === secret.charCodeAt(k - 1)) {
        start -= 1;
        k -= 1;
      }
      let end = at + PROBE;
      let j = offset + PROBE;
      while (j < secret.length && end < text.length && text.charCodeAt(end) === secret.charCodeAt(j)) {
        end += 1;
        j += 1;
      }
      if (end - start >= PIECE_LENGTH) out.push([start, end, label]);
    }
  }
}

/**
 * `text` with the ranges replaced: ranges that overlap or touch become one, shown by the label of
 * the longest of them (keys sharing a long prefix give several ranges for one key in the text).
 */
function replaceRanges(text: string, ranges: Range[]): string {
  ranges.sort((a, b) => a[0] - b[0]);
  let out = '';
  let last = 0;
  for (let i = 0; i < ranges.length; ) {
    const first = ranges[i]!;
    let end = first[1];
    let longest = first;
    for (i += 1; i < ranges.length && ranges[i]![0] <= end; i += 1) {
      const next = ranges[i]!;
      end = Math.max(end, next[1]);
      if (next[1] - next[0] > longest[1] - longest[0]) longest = next;
    }
    out += text.slice(last, first[0]) + longest[2];
    last = end;
  }
  return out + text.slice(last);
}

/**
 * Replaces `secret` and every piece of it of 12 characters or more (for a key of 16 characters or
 * more) in `text` by `label`. Costs one `indexOf` per 6 characters of the key: about 1 µs for a
 * 1 KB answer and a 180-character key.
 */
export function scrubSecret(text: string, secret: string, label = redactKey(secret)): string {
  const ranges: Range[] = [];
  pieces(text, secret, label, ranges);
  return ranges.length === 0 ? text : replaceRanges(text, ranges);
}

/**
 * For a stream: `text` scrubbed up to a cut, and the rest left raw for the next chunk — what may
 * be the start of a piece going on in it: at most the last `secret.length` characters, none after
 * a character the key does not hold, and any piece of the key that crosses the cut.
 */
export function scrubHead(text: string, secret: string, label: string): { head: string; tail: string } {
  const ranges: Range[] = [];
  pieces(text, secret, label, ranges);
  let cut = Math.max(0, text.length - secret.length);
  // A piece cannot hold a character the key does not: what ends in one (an event's `\n\n`) waits for nothing.
  for (let i = text.length - 1; i >= cut; i--) {
    if (!secret.includes(text[i]!)) {
      cut = i + 1;
      break;
    }
  }
  for (let moved = true; moved; ) {
    moved = false;
    for (const [start, end] of ranges) {
      if (start < cut && end > cut) {
        cut = start;
        moved = true;
      }
    }
  }
  const before = ranges.filter((range) => range[1] <= cut);
  const head = text.slice(0, cut);
  return { head: before.length === 0 ? head : replaceRanges(head, before), tail: text.slice(cut) };
}

/** Replaces every one of `secrets`, and every long piece of one, in `text` by its redacted form. */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  const ranges: Range[] = [];
  for (const secret of secrets) pieces(text, secret, redactKey(secret), ranges);
  return ranges.length === 0 ? text : replaceRanges(text, ranges);
}

/** The longest error body or message copied into a row, a lane record or an audit line (UTF-8 bytes). */
export const MAX_ERROR_TEXT_BYTES = 4096;

const CAP_SLACK_BYTES = 64;

/** `text` cut to 4 KiB (UTF-8) with `… [truncated: N bytes]` (the bytes left out) when longer. */
export function capErrorText(text: string, maxBytes = MAX_ERROR_TEXT_BYTES): string {
  // Fast path: even at 3 bytes per character it fits.
  if (text.length * 3 <= maxBytes) return text;
  const bytes = Buffer.from(text, 'utf8');
  // Room for a prefix and the marker: a text cut once (then prefixed, e.g. `400 …`) is not cut again.
  if (bytes.length <= maxBytes + CAP_SLACK_BYTES) return text;
  let kept = bytes.subarray(0, maxBytes).toString('utf8');
  // A character cut in the middle decodes as U+FFFD: leave it out.
  if (kept.endsWith('\uFFFD') && !text.startsWith(kept)) kept = kept.slice(0, -1);
  const left = bytes.length - Buffer.byteLength(kept, 'utf8');
  return `${kept}… [truncated: ${left} bytes]`;
}
