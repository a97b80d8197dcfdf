// A node:http2 server for gRPC calls, the raft port's (PeerServer; one long-lived stream per peer,
// where node:http2's cost per call does not matter; the client port is served by src/transport/h2):
// h2c, or TLS (h2 by ALPN) when given `tls`; sessions tracked and their connection window opened
// wide, garbage on the port costing only its own connection, a failed TLS handshake reported (at
// most once per reason per 10 s, TlsFailureReporter, which the client port shares), listen, close
// (at once or after a grace period), and the gRPC answer's fixed headers and trailers-only
// statuses. What a port serves is its own: the `onStream` callback. With TLS off the server is the
// plain one, nothing else changes.
//
// Imports nothing but node:http2, grpc-status.ts and tls.ts: the client port's worker thread loads it.

import http2 from 'node:http2';
import { encodeGrpcMessage, type GrpcStatusCode } from './grpc-status.ts';
import { listen } from './listen.ts';
import { describeTlsFailure, type ServerTls, secureServerOptions } from './tls.ts';

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
  /** Serve TLS (h2 by ALPN) instead of h2c. */
  readonly tls?: ServerTls;
  /**
   * A client's TLS handshake failed (a plaintext client, an untrusted or missing certificate):
   * `reason` in an operator's words. Called at most once per reason per TLS_REPORT_INTERVAL_MS.
   */
  readonly onTlsFailure?: (reason: string, remoteAddress: string) => void;
}

/**
 * How many streams a client may cancel (RST_STREAM) on one connection: a burst, refilled at a rate
 * per second. nghttp2's defaults (1,000, then 33 per second; its defence against the "rapid reset"
 * flood) end the whole connection, every call in flight on it failing, once a client has cancelled
 * about a thousand calls: any client whose deadlines expire or who hedges calls (asks several members
 * and cancels the slower ones, as ours does for the shard map) gets there within minutes under load,
 * and its writes in flight then end indeterminate. Here a client may cancel 1,000 calls per second
 * for good, with bursts of 10,000; a flood beyond that still ends its connection.
 */
export const STREAM_RESET_BURST = 10_000;
export const STREAM_RESET_PER_SECOND = 1_000;

/** A port probed by many bad clients reports each kind of handshake failure once per this long. */
export const TLS_REPORT_INTERVAL_MS = 10_000;
/** Bound on the reasons remembered for that (they are few kinds; the map is cleared when full). */
const TLS_REASONS_MAX = 64;

export class GrpcHttp2Server {
  private readonly server: http2.Http2Server | http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(o: GrpcHttp2ServerOptions) {
    const options = {
      maxSessionMemory: o.maxSessionMemoryMb,
      settings: o.settings,
      streamResetBurst: STREAM_RESET_BURST,
      streamResetRate: STREAM_RESET_PER_SECOND,
    };
    if (o.tls === undefined) {
      this.server = http2.createServer(options);
    } else {
      const server = http2.createSecureServer({ ...options, ...secureServerOptions(o.tls) });
      const reporter = new TlsFailureReporter(o.onTlsFailure);
      server.on('tlsClientError', (err: Error, socket: { remoteAddress?: string }) =>
        reporter.report(err, socket.remoteAddress ?? ''),
      );
      this.server = server;
    }
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
    return listen(this.server, host, port);
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

/** Reports each kind of failed TLS handshake at most once per TLS_REPORT_INTERVAL_MS. */
export class TlsFailureReporter {
  /** Reason → when it was last reported (bounded: cleared when TLS_REASONS_MAX are held). */
  private readonly reported = new Map<string, number>();
  private readonly report_: ((reason: string, remoteAddress: string) => void) | undefined;

  constructor(report: ((reason: string, remoteAddress: string) => void) | undefined) {
    this.report_ = report;
  }

  report(err: Error, remoteAddress: string): void {
    if (this.report_ === undefined) return;
    const reason = describeTlsFailure(err);
    const now = Date.now();
    const last = this.reported.get(reason);
    if (last !== undefined && now - last < TLS_REPORT_INTERVAL_MS) return;
    if (this.reported.size >= TLS_REASONS_MAX) this.reported.clear();
    this.reported.set(reason, now);
    this.report_(reason, remoteAddress);
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
