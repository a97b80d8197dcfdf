// A node:http2 (h2c) server for gRPC calls, shared by the raft port (PeerServer) and the client
// port (src/server's UnaryHttp2Listener): sessions tracked and their connection window opened wide,
// garbage on the port costing only its own connection, listen, close (at once or after a grace
// period), and the gRPC answer's fixed headers and trailers-only statuses. What a port serves is its
// own: the `onStream` callback.
//
// Imports nothing but node:http2 and grpc-status.ts: the client port's worker thread loads it.
import http2 from 'node:http2';
import { encodeGrpcMessage, type GrpcStatusCode } from './grpc-status.ts';

/** The response headers of every gRPC answer. */
export const GRPC_RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc+proto' } as const;
/** The trailers of a call that succeeded. */
export const GRPC_OK_TRAILERS = { 'grpc-status': '0', 'grpc-message': 'OK' } as const;

export interface GrpcHttp2ServerOptions {
  /** http2's `maxSessionMemory` (MB, a credit limit, not an allocation). */
  readonly maxSessionMemoryMb: number;
  /** Our SETTINGS: at least the stream receive window (`initialWindowSize`). */
  readonly settings: http2.Settings;
  /** The connection-level receive window of every session (HTTP/2's default is 64 KiB). */
  readonly sessionWindowBytes: number;
  /** Per-session work beyond the shared setup (keepalive); returns what to run when it closes. */
  readonly onSession?: (session: http2.ServerHttp2Session) => () => void;
  readonly onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void;
}

export class GrpcHttp2Server {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(o: GrpcHttp2ServerOptions) {
    this.server = http2.createServer({ maxSessionMemory: o.maxSessionMemoryMb, settings: o.settings });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      session.on('error', () => {}); // followed by 'close'
      session.setLocalWindowSize(o.sessionWindowBytes);
      const onClose = o.onSession?.(session);
      session.on('close', () => {
        onClose?.();
        this.sessions.delete(session);
      });
    });
    // Garbage on the port (HTTP/1, random bytes, a broken preface) costs that connection only.
    this.server.on('sessionError', () => {});
    this.server.on('stream', o.onStream);
  }

  /**
   * Binds `host:port` (port 0: any free port; an IPv6 host may come in brackets); resolves with the
   * bound port, rejects with the bind error (EADDRINUSE…).
   */
  listen(host: string, port: number): Promise<number> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, bare, () => {
        this.server.off('error', reject);
        const bound = this.server.address();
        resolve(bound !== null && typeof bound === 'object' ? bound.port : port);
      });
    });
  }

  /**
   * Stops accepting connections. With `graceMs` > 0 the open sessions are asked to close (calls in
   * flight finish) and destroyed when the grace period ends; with 0 they are destroyed at once.
   * Resolves once the server is closed.
   */
  close(graceMs: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        this.destroySessions();
        resolve();
        return;
      }
      const timer = graceMs > 0 ? setTimeout(() => this.destroySessions(), graceMs) : undefined;
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      if (timer === undefined) this.destroySessions();
      else for (const s of this.sessions) s.close();
    });
  }

  private destroySessions(): void {
    for (const s of this.sessions) s.destroy();
  }
}

/**
 * Answers a call with a status and nothing else (a trailers-only response): `metadata` (custom
 * keys, e.g. a leader hint) goes with it. Whatever the caller still sends is read and dropped,
 * not left to fill the connection's window.
 */
export function sendTrailersOnly(
  stream: http2.ServerHttp2Stream,
  code: GrpcStatusCode,
  details: string,
  metadata: Readonly<Record<string, string | string[]>> = {},
): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.resume();
  stream.respond(
    {
      ...GRPC_RESPONSE_HEADERS,
      ...metadata,
      'grpc-status': String(code),
      'grpc-message': encodeGrpcMessage(details),
    },
    { endStream: true },
  );
}
