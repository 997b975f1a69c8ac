/** A proxy in front of the simulator that holds chosen requests until told to let them through. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Gate {
  /** The simulator's URL through the gate (`…/v1`). */
  url: string;
  /** Requests held now. */
  held(): number;
  /** Lets every held request (and all later ones) through. */
  release(): void;
  close(): Promise<void>;
}

/** What a gate is asked about a request: hold it (until `release()`) or let it through. */
export type HoldRule = string | ((request: { method: string; url: string; body: Buffer }) => boolean);

/**
 * A proxy to `target` (the simulator's `…/v1` URL) that holds every request whose body contains
 * `hold` (a string), or for which `hold` (a function) says so.
 */
export async function startGate(target: string, hold: HoldRule): Promise<Gate> {
  const held = typeof hold === 'string' ? (request: { body: Buffer }) => request.body.includes(hold) : hold;
  const origin = new URL(target).origin;
  const waiting: Array<() => void> = [];
  let released = false;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const forward = async () => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(req.headers)) {
          if (name === 'host' || name === 'content-length' || name === 'connection') continue;
          if (typeof value === 'string') headers.set(name, value);
        }
        const answer = await fetch(`${origin}${req.url}`, {
          method: req.method ?? 'GET',
          headers,
          ...(body.length > 0 ? { body } : {}),
        });
        const out: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          if (!['content-encoding', 'transfer-encoding', 'connection', 'content-length'].includes(name)) {
            out[name] = value;
          }
        });
        const bytes = Buffer.from(await answer.arrayBuffer());
        res.writeHead(answer.status, out);
        res.end(bytes);
      };
      const go = () => {
        forward().catch(() => res.destroy());
      };
      if (!released && held({ method: req.method ?? 'GET', url: req.url ?? '', body })) waiting.push(go);
      else go();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    held: () => waiting.length,
    release() {
      released = true;
      for (const go of waiting.splice(0)) go();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
