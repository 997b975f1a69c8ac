/**
 * The simulator's routes: which endpoint a method and path address.
 */
import type { ModelEndpoint } from './request-text.js';

export type Route =
  | { kind: 'model'; endpoint: ModelEndpoint }
  | { kind: 'models.list' }
  | { kind: 'models.get'; id: string }
  | { kind: 'files.create' }
  | { kind: 'files.list' }
  | { kind: 'files.get'; id: string }
  | { kind: 'files.delete'; id: string }
  | { kind: 'files.content'; id: string }
  | { kind: 'batches.create' }
  | { kind: 'batches.list' }
  | { kind: 'batches.get'; id: string }
  | { kind: 'batches.cancel'; id: string };

/** Routes of `/v1/files` and `/v1/batches`. */
export type ObjectRoute = Extract<Route, { kind: `files.${string}` | `batches.${string}` }>;

export function isObjectRoute(route: Route): route is ObjectRoute {
  return route.kind.startsWith('files.') || route.kind.startsWith('batches.');
}

const MODEL_ENDPOINTS: Record<string, ModelEndpoint> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
};

function decode(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** The route of a request, or `null` for an unknown method or path (404). */
export function matchRoute(method: string, path: string): Route | null {
  const endpoint = MODEL_ENDPOINTS[path];
  if (endpoint) return method === 'POST' ? { kind: 'model', endpoint } : null;
  if (path === '/v1/models') return method === 'GET' ? { kind: 'models.list' } : null;
  if (path === '/v1/files') {
    if (method === 'POST') return { kind: 'files.create' };
    return method === 'GET' ? { kind: 'files.list' } : null;
  }
  if (path.startsWith('/v1/models/') && method === 'GET') {
    const id = decode(path.slice('/v1/models/'.length));
    return id ? { kind: 'models.get', id } : null;
  }
  if (path === '/v1/batches') {
    if (method === 'POST') return { kind: 'batches.create' };
    return method === 'GET' ? { kind: 'batches.list' } : null;
  }
  const [collection, rawId, action, ...rest] = path.split('/').slice(2);
  const id = rawId ? decode(rawId) : null;
  if (!id || rest.length > 0) return null;
  if (collection === 'files') {
    if (action === 'content') return method === 'GET' ? { kind: 'files.content', id } : null;
    if (action !== undefined) return null;
    if (method === 'GET') return { kind: 'files.get', id };
    if (method === 'DELETE') return { kind: 'files.delete', id };
  }
  if (collection === 'batches') {
    if (action === 'cancel') return method === 'POST' ? { kind: 'batches.cancel', id } : null;
    if (action === undefined && method === 'GET') return { kind: 'batches.get', id };
  }
  return null;
}
