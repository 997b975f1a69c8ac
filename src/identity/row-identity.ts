/**
 * A prompt row's identity: the sha256 of its canonical request. Two rows are the same row when
 * they send the same request to the same provider: same namespace, endpoint, and body (model and
 * every default and flag applied, object keys sorted), the same content of the files they attach,
 * and the same sample index. The API key is never part of it, so a row keeps its identity
 * whichever key answers it, and an identity never reveals a key.
 */
import { hash } from 'node:crypto';

/** What identifies one request. */
export interface RequestIdentity {
  /** The provider the request goes to (see `namespaceOf`). */
  namespace: string;
  /** The API: `chat`, `responses`, `completions`, `embeddings`. */
  endpoint: string;
  /** The request body as sent (model included), before the key and base URL are added. */
  body: Readonly<Record<string, unknown>>;
  /** The sha256 of each attached file's content, in the record's order (`null`: unreadable). */
  files?: ReadonlyArray<readonly [string, string | null]>;
  /** Which repetition of the same request this is, when repeats are asked on purpose. @default 0 */
  sample?: number;
}

/** The form of an identity: 64 lowercase hex characters (fits every provider's `custom_id`: ≤ 64, [A-Za-z0-9_-]). */
export const IDENTITY_PATTERN = /^[0-9a-f]{64}$/;

/**
 * The JSON text of `value` with object keys sorted; undefined where JSON has no text (undefined,
 * functions). Built by appending to one string, not by arrays joined per level: it runs once per
 * row of a run, over every row of the input.
 */
function canonical(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const toJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') return canonical(toJson.call(value));
  if (Array.isArray(value)) {
    let text = '[';
    for (let k = 0; k < value.length; k++) {
      if (k > 0) text += ',';
      text += canonical(value[k]) ?? 'null';
    }
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (keys.length > 1) keys.sort();
  let text = '{';
  for (const key of keys) {
    const member = canonical(record[key]);
    if (member === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${JSON.stringify(key)}:${member}`;
  }
  return `${text}}`;
}

/**
 * JSON with object keys sorted at every depth (arrays keep their order): one text per value, the
 * same as `JSON.stringify` gives for the same keys in sorted order.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value) ?? 'null';
}

/** The identity of a request: sha256 (hex) of its canonical JSON. */
export function rowIdentity(request: RequestIdentity): string {
  const canonical = canonicalJson({
    v: 1,
    namespace: request.namespace,
    endpoint: request.endpoint,
    body: request.body,
    files: request.files ?? [],
    sample: request.sample ?? 0,
  });
  // One call, no Hash object: this runs once per row.
  return hash('sha256', canonical, 'hex');
}

/**
 * The provider namespace of a pool: the distinct hosts and paths of its keys' base URLs, sorted
 * (`api.openai.com/v1`). Scheme, credentials, query and a trailing slash do not count: the same
 * provider reached as `https://api.openai.com/v1/` is the same namespace. A key without a base
 * URL uses `fallback` (the default base URL).
 */
export function namespaceOf(baseUrls: ReadonlyArray<string | undefined>, fallback: string): string {
  const names = new Set<string>();
  for (const url of baseUrls) names.add(providerOf(url ?? fallback));
  return [...names].sort().join(' ');
}

function providerOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`.toLowerCase();
  } catch {
    return url.trim().toLowerCase();
  }
}
