// The HTTP/2 side of a lean unary gRPC server: accept streams, collect one length-prefixed message
// per stream, compute its deadline (deadline.ts, the one place), hand it on as a UnaryRequest, and
// write the UnaryReply back (headers, response message and trailers in one write, or a
// trailers-only status). The protocol is the standard one — 5-byte length prefix,
// grpc-status/grpc-message trailers, custom metadata as headers — so any gRPC client works. Not
// @grpc/grpc-js's server (about 150 µs of CPU per unary call here: interceptor chains, per-call
// metadata objects, several stream layers), and not node:http2 either (25–37 µs per call: a JS
// stream object with its listeners per call, header objects converted both ways, the trailers a
// loop iteration after the message): HTTP/2 is read and written by src/transport/h2, 3–4 µs.
//
// Imports nothing but the transport's HTTP/2 server, the status codes, deadline.ts and the
// request/reply types, so that the client-API worker thread (client-api-worker.ts) loads little.
import { GrpcStatus } from '../transport/grpc-status.ts';
import { H2Server } from '../transport/h2/server.ts';
import type { H2ServerStream } from '../transport/h2/server-connection.ts';
import type { ServerTls } from '../transport/tls.ts';
import { deadlineOf } from './deadline.ts';
import { OK_TRAILERS, RESPONSE_HEADERS, statusBlock } from './grpc-blocks.ts';
import { type ServerStreamHandler, serverStreamCall } from './server-stream.ts';
import type { UnaryReply, UnaryRequest } from './unary-dispatch.ts';

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
  /** A client's TLS handshake failed (rate-limited: see H2Server). */
  readonly onTlsFailure?: ((reason: string, remoteAddress: string) => void) | undefined;
}

/** A request header's value (fields flat: name, value, …), the first if repeated. */
function field(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

export class UnaryHttp2Listener {
  private readonly http: H2Server;
  private readonly o: UnaryHttp2Options;

  constructor(o: UnaryHttp2Options) {
    this.o = o;
    this.http = new H2Server({
      onStream: (stream, fields) => this.onStream(stream, fields),
      tls: o.tls,
      onTlsFailure: o.onTlsFailure,
    });
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return this.http.listen(host, port);
  }

  /** Stops accepting; calls in flight get up to `graceMs` to finish, then the connections are destroyed. */
  close(graceMs: number): Promise<void> {
    return this.http.close(graceMs);
  }

  private onStream(stream: H2ServerStream, fields: readonly string[]): void {
    const path = field(fields, ':path') ?? '';
    const refusal = this.o.refused?.get(path);
    if (refusal !== undefined) {
      stream.endTrailersOnly(statusBlock(GrpcStatus.UNIMPLEMENTED, refusal, {}, true));
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
      stream.endTrailersOnly(statusBlock(GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`, {}, true));
      return;
    }
    // From the moment the call arrived: the client's clock started before it sent the request.
    const deadlineMs = deadlineOf(field(fields, 'grpc-timeout'), limitMs, Date.now());
    const forwarded = field(fields, FORWARDED_KEY) === '1';
    collectMessage(stream, this.o.maxReceiveBytes, (message) => {
      const req: UnaryRequest = { path, message, deadlineMs, forwarded };
      this.o.handle(req, (r) => reply(stream, r));
    });
  }
}

/** Reads the stream's one length-prefixed request message; answers the stream itself when it is bad. */
function collectMessage(stream: H2ServerStream, max: number, done: (message: Uint8Array) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.onData = (c) => {
    size += c.byteLength;
    if (size <= max + 5) chunks.push(c);
  };
  stream.onEnd = () => {
    if (size > max + 5) {
      const details = `received message larger than max (${size - 5} vs. ${max})`;
      stream.endTrailersOnly(statusBlock(GrpcStatus.RESOURCE_EXHAUSTED, details, {}, true));
      return;
    }
    const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
    if (buf.byteLength < 5 || buf[0] !== 0 || buf.readUInt32BE(1) !== buf.byteLength - 5) {
      const details = 'expected exactly one uncompressed length-prefixed message';
      stream.endTrailersOnly(statusBlock(GrpcStatus.INTERNAL, details, {}, true));
      return;
    }
    done(buf.subarray(5));
  };
}

function reply(stream: H2ServerStream, r: UnaryReply): void {
  if (!stream.writable) return;
  if (!('framed' in r)) {
    stream.endTrailersOnly(statusBlock(r.code, r.details, r.trailers, true));
    return;
  }
  stream.respondUnary(RESPONSE_HEADERS, r.framed, OK_TRAILERS);
}
