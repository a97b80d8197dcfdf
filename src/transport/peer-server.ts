// The raft port: a plain node:http2 server for incoming peer streams, speaking the gRPC wire
// protocol of PeerService.Stream (h2c, 5-byte framed protobuf, grpc-status trailers), so a gRPC
// client can still talk to it. Why not @grpc/grpc-js's server: it cost about a fifth of a node's
// busy CPU under load (interceptors, per-message objects, several stream layers) for one method.
import http2 from 'node:http2';
import { PeerServiceService } from '../gen/ringkv/v1/peer.ts';
import { TransportBindError } from './errors.ts';
import { GrpcStatus } from './grpc-status.ts';
import { type InboundContext, refuseBeforeAccept, servePeerStream } from './inbound.ts';
import { startKeepalive } from './keepalive.ts';

export const PEER_STREAM_PATH: string = PeerServiceService.stream.path;

/** HTTP/2 flow-control windows of incoming peer traffic (one stream per connection). */
export const RECEIVE_WINDOW_BYTES = 8 * 1024 * 1024;
// A well-behaved sender opens one stream per connection; a few more are tolerated, not hundreds.
const STREAMS_PER_SESSION_MAX = 8;
const MIB = 1024 * 1024;

/** http2 `maxSessionMemory` (MB, a credit limit, not an allocation) that lets one whole message through. */
export function sessionMemoryMb(messageBytesMax: number): number {
  return Math.ceil((2 * messageBytesMax + RECEIVE_WINDOW_BYTES) / MIB) + 16;
}

export interface PeerServerOptions {
  readonly keepaliveIntervalMs: number;
}

export class PeerServer {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly ctx: InboundContext;

  constructor(ctx: InboundContext, options: PeerServerOptions) {
    this.ctx = ctx;
    this.server = http2.createServer({
      maxSessionMemory: sessionMemoryMb(ctx.messageBytesMax),
      settings: {
        initialWindowSize: RECEIVE_WINDOW_BYTES,
        maxConcurrentStreams: STREAMS_PER_SESSION_MAX,
      },
    });
    this.server.on('session', (session) => this.onSession(session, options.keepaliveIntervalMs));
    // Garbage on the port (HTTP/1, random bytes, a broken preface) costs that connection only.
    this.server.on('sessionError', () => {});
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number, address: string): Promise<number> {
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new TransportBindError(address, err));
      this.server.once('error', onError);
      this.server.listen(port, bare, () => {
        this.server.off('error', onError);
        const bound = this.server.address();
        resolve(bound !== null && typeof bound === 'object' ? bound.port : port);
      });
    });
  }

  /** Stops listening and ends every incoming stream at once (no graceful drain: Raft resends). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        for (const s of this.sessions) s.destroy();
        resolve();
        return;
      }
      this.server.close(() => resolve());
      for (const s of this.sessions) s.destroy();
    });
  }

  private onSession(session: http2.ServerHttp2Session, keepaliveIntervalMs: number): void {
    this.sessions.add(session);
    session.on('error', () => {}); // followed by 'close'
    // The default connection window (64 KiB) would stall a sender after every few batches.
    session.setLocalWindowSize(RECEIVE_WINDOW_BYTES);
    // A sender that vanished without a FIN would otherwise pin its stream here forever.
    const stop = startKeepalive(session, keepaliveIntervalMs, (reason) => {
      this.ctx.logger.debug({ reason }, 'dropping a silent peer connection');
      session.destroy();
    });
    session.on('close', () => {
      stop();
      this.sessions.delete(session);
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', (err: Error) => {
      this.ctx.logger.debug({ err: err.message }, 'peer stream error');
    });
    const path = headers[':path'] ?? '';
    if (headers[':method'] !== 'POST' || path !== PEER_STREAM_PATH) {
      refuseBeforeAccept(stream, { code: GrpcStatus.UNIMPLEMENTED, details: `unknown method ${path}` });
      return;
    }
    const contentType = headers['content-type'] ?? '';
    if (!contentType.startsWith('application/grpc')) {
      // What gRPC servers answer to a request that is not gRPC at all.
      stream.respond({ ':status': 415 }, { endStream: true });
      return;
    }
    servePeerStream(stream, headers, this.ctx);
  }
}
