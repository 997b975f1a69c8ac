/**
 * An HTTP capture in front of the simulator: every request's raw body bytes are kept as sent on
 * the wire (before any parsing), then the request is passed on unchanged and the answer returned.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Capture {
  /** The capture's base URL (`…/v1`), to put in a config instead of the simulator's. */
  url: string;
  /** Every request body received, raw. */
  bodies: Buffer[];
  close(): Promise<void>;
}

/** Starts a capture forwarding to `target` (the simulator's base URL, `http://127.0.0.1:port/v1`). */
export async function startCapture(target: string): Promise<Capture> {
  const upstream = new URL(target);
  const bodies: Buffer[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    bodies.push(body);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && name !== 'host' && name !== 'content-length') headers.set(name, value);
    }
    const answer = await fetch(new URL(req.url ?? '/', upstream.origin), {
      method: req.method ?? 'GET',
      headers,
      ...(body.length > 0 ? { body } : {}),
    });
    const out = Buffer.from(await answer.arrayBuffer());
    const back: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      if (name !== 'content-encoding' && name !== 'transfer-encoding' && name !== 'content-length')
        back[name] = value;
    });
    res.writeHead(answer.status, { ...back, 'content-length': out.length });
    res.end(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Forms of `secret` in a body: as is, JSON-escaped, and base64 at each of the 3 byte alignments. */
function formsOf(secret: string): string[] {
  const forms = [secret, JSON.stringify(secret).slice(1, -1)];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), Buffer.from(secret)]).toString('base64');
    // The 4-character groups touched by the padding bytes or the end differ with the neighbours.
    forms.push(b64.slice(shift === 0 ? 0 : 4, -4));
  }
  return forms;
}

/** The bodies that contain `secret` anywhere in their bytes (as text, JSON-escaped or base64). */
export function bodiesWith(bodies: readonly Buffer[], secret: string): number {
  const forms = formsOf(secret);
  return bodies.filter((body) => {
    const text = body.toString('latin1');
    return forms.some((form) => text.includes(form));
  }).length;
}
