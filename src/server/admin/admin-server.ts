// The admin port (`serve --admin_port`, default the client port + 1000): plain HTTP/1.1 for
// Prometheus, load balancers and Kubernetes probes, or HTTPS with the client port's certificate
// (and its client-certificate rule) when the client port serves TLS.
//   GET /metrics  Prometheus text format (metrics.ts)
//   GET /livez    200 while the process and its event loop answer (this handler running is the check)
//   GET /readyz   200 when ready (readiness.ts), else 503; `?verbose` lists every check
//   GET anything else: the pages it is handed (AdminPages: the dashboard, src/dashboard), else 404
// A method other than GET or HEAD is 405. It runs on the node's thread: an answer from it means
// that thread is free, which is what /livez claims.

import http from 'node:http';
import https from 'node:https';
import { listen } from '../../transport/listen.ts';
import type { ServerTls } from '../../transport/tls.ts';
import { describeChecks, type ReadinessCheck } from './readiness.ts';

export interface AdminServerOptions {
  /** The metrics' text exposition and its content type. */
  readonly metrics: { text(): Promise<string>; readonly contentType: string };
  /** The readiness checks, computed at each request. */
  readonly readiness: () => readonly ReadinessCheck[];
  /** HTTPS with these (the client port's); absent: plain HTTP. */
  readonly tls?: ServerTls | undefined;
  /** A scrape that failed (a bug in a collector): logged, answered 500. */
  readonly onError?: (err: unknown) => void;
  /** Pages served on the other paths (the dashboard); absent: those are 404. */
  readonly pages?: AdminPages | undefined;
}

/** One answer of AdminPages. */
export interface AdminReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string | Uint8Array;
  /** More headers (cache-control, etag, …); cache-control defaults to no-store. */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Pages the admin port serves beside its own endpoints. The admin server knows nothing of what they
 * are (the dashboard reaches the cluster through src/client, which src/server may not import); the
 * process that starts the node hands them in.
 */
export interface AdminPages {
  /**
   * The answer to a GET (or HEAD) of `url`, or undefined when `url.pathname` is none of its pages.
   * `ifNoneMatch` is the request's If-None-Match header. A rejected promise is answered 500.
   */
  get(url: URL, ifNoneMatch: string | undefined): Promise<AdminReply> | undefined;
  /** Releases what it holds (its clients); called once, when the admin port closes. */
  close(): void;
}

/** Bound on one request's headers: the admin port reads no bodies. */
const HEADERS_BYTES_MAX = 16 * 1024;
/** Idle keep-alive connections are closed after this (Prometheus scrapes every 15 s or so). */
const KEEP_ALIVE_MS = 30_000;

export class AdminServer {
  private readonly server: http.Server;
  private readonly o: AdminServerOptions;
  /** The pages' close() has been called (it is called once, however often the port is closed). */
  private pagesClosed = false;

  constructor(o: AdminServerOptions) {
    this.o = o;
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.handle(req, res);
    const common = { maxHeaderSize: HEADERS_BYTES_MAX, keepAliveTimeout: KEEP_ALIVE_MS };
    this.server =
      o.tls === undefined
        ? http.createServer(common, handler)
        : https.createServer(
            {
              ...common,
              cert: o.tls.cert,
              key: o.tls.key,
              ...(o.tls.ca === undefined ? {} : { ca: o.tls.ca }),
              requestCert: o.tls.requireClientCert,
              rejectUnauthorized: o.tls.requireClientCert,
            },
            handler,
          );
    // A failed TLS handshake or garbage costs that connection only.
    this.server.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Binds `host:port` (0: any free port; an IPv6 host may come in brackets); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return listen(this.server, host, port);
  }

  /** Stops listening and closes every connection, idle or not. */
  close(): Promise<void> {
    if (!this.pagesClosed) this.o.pages?.close();
    this.pagesClosed = true;
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      reply(res, 405, 'text/plain; charset=utf-8', `method ${req.method} not allowed\n`);
      return;
    }
    const route = ROUTES[url.pathname];
    if (route === undefined) {
      this.page(url, req, res);
      return;
    }
    const verbose = url.searchParams.has('verbose');
    if (route === 'metrics') {
      this.o.metrics.text().then(
        (text) => reply(res, 200, this.o.metrics.contentType, text),
        (e: unknown) => {
          this.o.onError?.(e);
          reply(res, 500, 'text/plain; charset=utf-8', 'collecting the metrics failed\n');
        },
      );
      return;
    }
    const checks = route === 'livez' ? [{ name: 'ping', ok: true, reason: '' }] : this.o.readiness();
    const { ok, body } = describeChecks(route, checks, verbose);
    reply(res, ok ? 200 : 503, 'text/plain; charset=utf-8', body);
  }

  /** A path that is none of the admin port's own: one of the pages, or 404. */
  private page(url: URL, req: http.IncomingMessage, res: http.ServerResponse): void {
    const answer = this.o.pages?.get(url, req.headers['if-none-match']);
    if (answer === undefined) {
      const also = this.o.pages === undefined ? '' : ', / for the dashboard';
      reply(
        res,
        404,
        'text/plain; charset=utf-8',
        `not found: ${url.pathname} (try /metrics, /livez, /readyz${also})\n`,
      );
      return;
    }
    answer.then(
      (a) => reply(res, a.status, a.contentType, a.body, a.headers),
      (e: unknown) => {
        this.o.onError?.(e);
        reply(res, 500, 'text/plain; charset=utf-8', `${url.pathname} failed\n`);
      },
    );
  }
}

const ROUTES: Readonly<Record<string, 'metrics' | 'livez' | 'readyz'>> = {
  '/metrics': 'metrics',
  '/livez': 'livez',
  '/readyz': 'readyz',
};

function reply(
  res: http.ServerResponse,
  status: number,
  contentType: string,
  body: string | Uint8Array,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.writeHead(status, {
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
    'content-type': contentType,
    'content-length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
  });
  // A 304 has no body (its content-length is the one the cached copy has: 0 is sent here).
  res.end(res.req.method === 'HEAD' || status === 304 ? undefined : body);
}
