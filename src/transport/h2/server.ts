// A gRPC port on the hand-written HTTP/2 connection (server-connection.ts): h2c, or TLS with h2
// negotiated by ALPN; connections tracked, listen, close (at once or after a grace period), a
// failed TLS handshake reported at most once per reason per TLS_REPORT_INTERVAL_MS. What the port
// serves is its own: the `onStream` callback. The client port's; the raft port stays on node:http2
// (GrpcHttp2Server: one long-lived stream per peer, where node:http2 costs little).
//
// Imports nothing but node: modules, its siblings and the transport's TLS and listening helpers
// (the client port's worker thread loads it).
import net from 'node:net';
import tls from 'node:tls';
import { STREAM_RESET_BURST, STREAM_RESET_PER_SECOND, TlsFailureReporter } from '../grpc-http2-server.ts';
import { listen } from '../listen.ts';
import type { ServerTls } from '../tls.ts';
import { type ConnectionHandlers, H2ServerConnection } from './server-connection.ts';

export interface H2ServerOptions {
  readonly onStream: ConnectionHandlers['onStream'];
  /** Serve TLS (h2 by ALPN) instead of h2c. */
  readonly tls?: ServerTls | undefined;
  /** A client's TLS handshake failed: `reason` in an operator's words (rate-limited). */
  readonly onTlsFailure?: ((reason: string, remoteAddress: string) => void) | undefined;
}

export class H2Server {
  private readonly server: net.Server;
  private readonly conns = new Set<H2ServerConnection>();
  private readonly o: H2ServerOptions;

  constructor(o: H2ServerOptions) {
    this.o = o;
    if (o.tls === undefined) {
      this.server = net.createServer((socket) => this.accept(socket));
    } else {
      if (o.tls.requireClientCert && (o.tls.ca === undefined || o.tls.ca === ''))
        throw new Error('ServerTls: requireClientCert needs the CA that client certificates chain to');
      const server = tls.createServer(
        {
          cert: o.tls.cert,
          key: o.tls.key,
          ...(o.tls.ca === undefined ? {} : { ca: o.tls.ca }),
          requestCert: o.tls.requireClientCert,
          rejectUnauthorized: o.tls.requireClientCert,
          ALPNProtocols: ['h2'],
        },
        (socket) => {
          // gRPC is HTTP/2 only: a client that did not negotiate h2 is refused.
          if (socket.alpnProtocol !== 'h2') {
            socket.destroy();
            return;
          }
          this.accept(socket);
        },
      );
      const reporter = new TlsFailureReporter(o.onTlsFailure);
      server.on('tlsClientError', (err: Error, socket: { remoteAddress?: string }) =>
        reporter.report(err, socket.remoteAddress ?? ''),
      );
      this.server = server;
    }
  }

  /** Connections open now (tests). */
  get connections(): number {
    return this.conns.size;
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return listen(this.server, host, port);
  }

  /**
   * Stops accepting connections. With `graceMs` > 0 each connection is told to go away (its calls
   * in flight finish) and destroyed when the grace period ends; with 0 all are destroyed at once.
   * Resolves once the server is closed.
   */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      const destroyAll = (): void => {
        for (const c of this.conns) c.destroy();
      };
      if (!this.server.listening) {
        destroyAll();
        resolve();
        return;
      }
      const timer = graceMs > 0 ? setTimeout(destroyAll, graceMs) : undefined;
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      if (timer === undefined) destroyAll();
      else for (const c of this.conns) c.close();
    });
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const conn = new H2ServerConnection(
      socket,
      { onStream: this.o.onStream, onClose: () => this.conns.delete(conn) },
      { burst: STREAM_RESET_BURST, perSecond: STREAM_RESET_PER_SECOND },
    );
    this.conns.add(conn);
  }
}
