/**
 * Real nginx `limit_req` in front of an upstream (the simulator): a leaky bucket per API key
 * (`$http_authorization`) at `rate` requests per second, refusing with a bare 429 (no rate-limit
 * header, no `retry-after`), either without a burst (a request closer than 1/rate to the last one
 * is refused) or with `burst=N nodelay`. One process (`daemon off; master_process off;`), its
 * config, pid, temp files and logs in a temp dir. Its access log holds one status per line, so a
 * test reads nginx's own count of what it refused.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ProxyProcess, startProxy } from './proxy-process.js';

export interface NginxOptions {
  /** `http://127.0.0.1:<port>` of the server behind it. */
  readonly upstream: string;
  /** Requests per second per key. @default 20 */
  readonly rate?: number;
  /** `burst=N nodelay`; `0` (default): no burst. */
  readonly burst?: number;
}

export interface LimiterProcess extends ProxyProcess {
  /** Answers per HTTP status, from the limiter's own log. */
  statuses(): Promise<Record<string, number>>;
}

/** The answers a status log holds, one status per line. */
export function countStatuses(log: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of log.split('\n')) {
    const status = line.trim();
    if (/^\d{3}$/.test(status)) counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}

function upstreamAddress(upstream: string): string {
  const url = new URL(upstream);
  return `${url.hostname}:${url.port || '80'}`;
}

/** The config: everything nginx writes stays in `dir`. */
export function nginxConfig(dir: string, port: number, options: NginxOptions): string {
  const rate = options.rate ?? 20;
  const burst = options.burst ?? 0;
  const limit = burst > 0 ? `limit_req zone=k burst=${burst} nodelay;` : 'limit_req zone=k;';
  return `daemon off;
master_process off;
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  log_format status '$status';
  access_log ${join(dir, 'access.log')} status;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  limit_req_zone $http_authorization zone=k:1m rate=${rate}r/s;
  limit_req_status 429;
  upstream sim {
    server ${upstreamAddress(options.upstream)};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      ${limit}
      proxy_pass http://sim;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
`;
}

export async function startNginx(options: NginxOptions): Promise<LimiterProcess> {
  const burst = options.burst ?? 0;
  const proxy = await startProxy({
    name: `nginx limit_req${burst > 0 ? ` burst=${burst} nodelay` : ''}`,
    binary: 'nginx',
    debianPackage: 'nginx-light',
    async configure(dir, port) {
      const conf = join(dir, 'nginx.conf');
      await writeFile(conf, nginxConfig(dir, port, options));
      return ['-p', dir, '-e', join(dir, 'error.log'), '-c', conf];
    },
  });
  return {
    ...proxy,
    statuses: async () =>
      countStatuses(await readFile(join(proxy.dir, 'access.log'), 'utf8').catch(() => '')),
  };
}
