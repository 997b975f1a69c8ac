/**
 * Real HAProxy in front of an upstream (the simulator): a stick table keyed on the Authorization
 * header stores `http_req_rate(1s)`; a request is tracked before the check, so refused requests
 * count too, and `http-request deny deny_status 429` refuses every request while the key sent more
 * than `rate` in the last second (a bare 429: no rate-limit header, no `retry-after`). Foreground
 * (`-db`), config in a temp dir, one status per log line on stdout for the limiter's own counts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { countStatuses, type LimiterProcess } from './nginx.js';
import { startProxy } from './proxy-process.js';

export interface HaproxyOptions {
  /** `http://127.0.0.1:<port>` of the server behind it. */
  readonly upstream: string;
  /** Requests per second per key; more in the last second are refused. @default 20 */
  readonly rate?: number;
}

export function haproxyConfig(port: number, options: HaproxyOptions): string {
  const url = new URL(options.upstream);
  const rate = options.rate ?? 20;
  return `global
  log stdout format raw local0
  maxconn 4096
defaults
  mode http
  log global
  option dontlognull
  log-format "%ST"
  timeout connect 5s
  timeout client 300s
  timeout server 300s
frontend limiter
  bind 127.0.0.1:${port}
  stick-table type string len 200 size 10k expire 10s store http_req_rate(1s)
  http-request track-sc0 req.hdr(authorization)
  http-request deny deny_status 429 if { sc_http_req_rate(0) gt ${rate} }
  default_backend sim
backend sim
  server sim ${url.hostname}:${url.port || '80'}
`;
}

export async function startHaproxy(options: HaproxyOptions): Promise<LimiterProcess> {
  const proxy = await startProxy({
    name: 'HAProxy http_req_rate',
    binary: 'haproxy',
    debianPackage: 'haproxy',
    async configure(dir, port) {
      const conf = join(dir, 'haproxy.cfg');
      await writeFile(conf, haproxyConfig(port, options));
      return ['-db', '-f', conf];
    },
  });
  return { ...proxy, statuses: async () => countStatuses(proxy.output()) };
}
