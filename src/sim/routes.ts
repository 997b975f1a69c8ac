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
  | { kind: 'files.delete'; id: string };

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
  if (path.startsWith('/v1/files/')) {
    const id = decode(path.slice('/v1/files/'.length));
    if (!id || id.includes('/')) return null;
    if (method === 'GET') return { kind: 'files.get', id };
    if (method === 'DELETE') return { kind: 'files.delete', id };
  }
  return null;
}
