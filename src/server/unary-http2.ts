// The HTTP/2 side of a lean unary gRPC server on node:http2: accept h2c streams, collect one
// length-prefixed message per stream, compute its deadline (deadline.ts, the one place), hand it on
// as a UnaryRequest, and write the UnaryReply back (response message and trailers, or a
// trailers-only status). The protocol is the standard one — 5-byte length prefix,
// grpc-status/grpc-message trailers, custom metadata as headers — so any gRPC client works. Why not
// @grpc/grpc-js's server: it costs about 150 µs of CPU per unary call here (interceptor chains,
// per-call metadata objects, several stream layers), which is most of a node's CPU per request on
// a 2-core machine.
//
// Listening, sessions and closing are the raft port's as well (src/transport/grpc-http2-server.ts).
// Imports nothing but that, the status codes, deadline.ts and the request/reply types, so that the
// client-API worker thread (client-api-worker.ts) loads little.
import type http2 from 'node:http2';
import {
  GRPC_OK_TRAILERS,
  GRPC_RESPONSE_HEADERS,
  GrpcHttp2Server,
  sendTrailersOnly,
} from '../transport/grpc-http2-server.ts';
import { GrpcStatus } from '../transport/grpc-status.ts';
import type { ServerTls } from '../transport/tls.ts';
import { deadlineOf } from './deadline.ts';
import { type ServerStreamHandler, serverStreamCall } from './server-stream.ts';
import type { UnaryReply, UnaryRequest } from './unary-dispatch.ts';

/**
 * Receive windows. HTTP/2's defaults (64 KiB per stream and per connection) let one client
 * connection carry only 64 KiB of request bodies at a time: 256 puts of 4 KiB in flight then wait
 * a window update per 16 requests. etcd's (Go) server opens its windows wide as well.
 */
const STREAM_WINDOW_BYTES = 1024 * 1024;
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;

/** A streaming call's unsent bytes at most before its handler is told to end it (a client not reading). */
export const STREAM_BUFFER_BYTES_MAX = 8 * 1024 * 1024;

/** Set on a request one node forwards to another: the receiver serves it and never forwards again. */
export const FORWARDED_KEY = 'ringkv-forwarded';

export interface UnaryHttp2Options {
  /** Largest request message accepted; larger ones get RESOURCE_EXHAUSTED. */
  readonly maxReceiveBytes: number;
  /**
   * Every served path with its deadline limit (ms): a request's deadline is the client's
   * (`grpc-timeout`) capped by it (deadlineOf). Other paths get UNIMPLEMENTED without a call to `handle`.
   */
  readonly deadlineLimitsMs: ReadonlyMap<string, number>;
  /** Runs one request; `reply` answers it (a reply after the stream closed is dropped). */
  readonly handle: (req: UnaryRequest, reply: (r: UnaryReply) => void) => void;
  /** Server-streaming methods by path (no deadline: they run until either side ends them). */
  readonly streams?: ReadonlyMap<string, ServerStreamHandler> | undefined;
  /** Paths answered UNIMPLEMENTED with the given reason (a method this front cannot serve). */
  readonly refused?: ReadonlyMap<string, string> | undefined;
  /** Serve TLS (h2 by ALPN) instead of h2c. */
  readonly tls?: ServerTls | undefined;
  /** A client's TLS handshake failed (rate-limited: see GrpcHttp2Server). */
  readonly onTlsFailure?: ((reason: string, remoteAddress: string) => void) | undefined;
}

export class UnaryHttp2Listener {
  private readonly http: GrpcHttp2Server;
  private readonly o: UnaryHttp2Options;

  constructor(o: UnaryHttp2Options) {
    this.o = o;
    this.http = new GrpcHttp2Server({
      maxSessionMemoryMb: 64,
      settings: { initialWindowSize: STREAM_WINDOW_BYTES },
      sessionWindowBytes: SESSION_WINDOW_BYTES,
      onStream: (stream, headers) => this.onStream(stream, headers),
      ...(o.tls === undefined ? {} : { tls: o.tls }),
      ...(o.onTlsFailure === undefined ? {} : { onTlsFailure: o.onTlsFailure }),
    });
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return this.http.listen(host, port);
  }

  /** Stops accepting; calls in flight get up to `graceMs` to finish, then the sessions are destroyed. */
  close(graceMs: number): Promise<void> {
    return this.http.close(graceMs);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', ignoreError);
    const path = headers[':path'] ?? '';
    const refusal = this.o.refused?.get(path);
    if (refusal !== undefined) {
      sendTrailersOnly(stream, GrpcStatus.UNIMPLEMENTED, refusal);
      return;
    }
    const streaming = this.o.streams?.get(path);
    if (streaming !== undefined) {
      collectMessage(stream, this.o.maxReceiveBytes, (message) =>
        streaming(message, serverStreamCall(stream, STREAM_BUFFER_BYTES_MAX)),
      );
      return;
    }
    const limitMs = this.o.deadlineLimitsMs.get(path);
    if (limitMs === undefined) {
      sendTrailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
      return;
    }
    // From the moment the call arrived: the client's clock started before it sent the request.
    const deadlineMs = deadlineOf(headers['grpc-timeout'], limitMs, Date.now());
    collectMessage(stream, this.o.maxReceiveBytes, (message) => {
      const req: UnaryRequest = { path, message, deadlineMs, forwarded: headers[FORWARDED_KEY] === '1' };
      this.o.handle(req, (r) => reply(stream, r));
    });
  }
}

/** Reads the stream's one length-prefixed request message; answers the stream itself when it is bad. */
function collectMessage(
  stream: http2.ServerHttp2Stream,
  max: number,
  done: (message: Uint8Array) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (c: Buffer) => {
    size += c.byteLength;
    if (size <= max + 5) chunks.push(c);
  });
  stream.on('end', () => {
    if (size > max + 5) {
      const details = `received message larger than max (${size - 5} vs. ${max})`;
      sendTrailersOnly(stream, GrpcStatus.RESOURCE_EXHAUSTED, details);
      return;
    }
    const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    if (buf.byteLength < 5 || buf[0] !== 0 || buf.readUInt32BE(1) !== buf.byteLength - 5) {
      sendTrailersOnly(
        stream,
        GrpcStatus.INTERNAL,
        'expected exactly one uncompressed length-prefixed message',
      );
      return;
    }
    done(buf.subarray(5));
  });
}

function reply(stream: http2.ServerHttp2Stream, r: UnaryReply): void {
  if (stream.destroyed || stream.closed) return;
  if (!('framed' in r)) {
    sendTrailersOnly(stream, r.code, r.details, r.trailers);
    return;
  }
  stream.respond(GRPC_RESPONSE_HEADERS, WAIT_FOR_TRAILERS);
  // 'wantTrailers' is emitted once per stream: a shared listener, no closure or once-wrapper per call.
  stream.on('wantTrailers', sendOkTrailers);
  stream.end(r.framed);
}

const WAIT_FOR_TRAILERS = { waitForTrailers: true } as const;

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(GRPC_OK_TRAILERS);
}

/** A stream's errors end it ('close' follows); the call's outcome is already decided. */
function ignoreError(): void {}
