/**
 * Attempts that fail at the key's endpoint rather than at the request: the connection is refused,
 * the host name does not resolve, TLS fails, the server redirects to another origin, or a route
 * answers 404 that never answered this key. Pure functions: which error is which, and the one
 * line (redacted) that says so, naming the key and its base URL.
 */
import { CrossOriginRedirect } from './transport.js';

/** Codes of a connection that never reached the API, with what they mean. */
const CONNECT: Record<string, string> = {
  ECONNREFUSED: 'refused the connection',
  ENOTFOUND: 'has a host name that does not resolve',
  EAI_AGAIN: 'has a host name that could not be resolved',
  EHOSTUNREACH: 'cannot be reached (no route to host)',
  ENETUNREACH: 'cannot be reached (network unreachable)',
};

const TLS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);
const TLS_PREFIXES = ['CERT_', 'ERR_TLS_', 'ERR_SSL_'];

function isTlsCode(code: string): boolean {
  return TLS.has(code) || TLS_PREFIXES.some((prefix) => code.startsWith(prefix));
}

/** What an error says about the endpoint, looking through `cause` chains and AggregateErrors. */
export function endpointFailure(error: unknown): string | undefined {
  const queue: unknown[] = [error];
  for (let seen = 0; queue.length > 0 && seen < 12; seen++) {
    const current = queue.shift();
    if (current === null || typeof current !== 'object') continue;
    if (current instanceof CrossOriginRedirect) {
      return `redirected to another origin (${current.to}); keys are never sent across origins — set base_url to the API's real address`;
    }
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      const connect = CONNECT[code];
      if (connect) return `${connect} (${code})`;
      if (isTlsCode(code)) return `failed the TLS handshake (${code})`;
    }
    const { cause, errors } = current as { cause?: unknown; errors?: unknown };
    if (cause !== undefined) queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return undefined;
}

/** The one line of an unreachable key: `key sk-…abcd: https://host/v1 refused the connection (ECONNREFUSED)`. */
export function unreachableMessage(label: string, baseURL: string, what: string): string {
  return `key ${label}: ${baseURL} ${what}`;
}

/** The error's own message of a 404 body, on one line and short, for the unreachable message. */
export function notFoundMessage(method: string, path: string, serverMessage: string | undefined): string {
  const said = serverMessage?.replace(/\s+/g, ' ').trim().slice(0, 200);
  const route = `${method.toUpperCase()} ${path.split('?')[0]}`;
  return `answered 404 to ${route}${said ? ` (${said})` : ''}; check base_url (OpenAI-compatible APIs usually end in /v1)`;
}
