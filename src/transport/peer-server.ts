// The raft port: a node:http2 server (h2c, or mutual TLS) (grpc-http2-server.ts, shared with the client port) for
// incoming peer streams, speaking the gRPC wire protocol of PeerService.Stream (h2c, 5-byte framed
// protobuf, grpc-status trailers), so a gRPC client can still talk to it. Why not @grpc/grpc-js's
// server: it cost about a fifth of a node's busy CPU under load (interceptors, per-message objects,
// several stream layers) for one method.
import type http2 from 'node:http2';
import { PeerServiceService } from '../gen/ringkv/v1/peer.ts';
import { TransportBindError } from './errors.ts';
import { GrpcHttp2Server, sendTrailersOnly } from './grpc-http2-server.ts';
import { GrpcStatus } from './grpc-status.ts';
import { type InboundContext, servePeerStream } from './inbound.ts';
import { startKeepalive } from './keepalive.ts';
import { type PeerTls, peerServerTls } from './tls.ts';

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
  /** Mutual TLS: only peers whose certificate chains to its CA get a connection. */
  readonly tls?: PeerTls;
}

export class PeerServer {
  private readonly http: GrpcHttp2Server;
  private readonly ctx: InboundContext;

  constructor(ctx: InboundContext, options: PeerServerOptions) {
    this.ctx = ctx;
    this.http = new GrpcHttp2Server({
      maxSessionMemoryMb: sessionMemoryMb(ctx.messageBytesMax),
      settings: {
        initialWindowSize: RECEIVE_WINDOW_BYTES,
        maxConcurrentStreams: STREAMS_PER_SESSION_MAX,
      },
      // The default connection window (64 KiB) would stall a sender after every few batches.
      sessionWindowBytes: RECEIVE_WINDOW_BYTES,
      // A sender that vanished without a FIN would otherwise pin its stream here forever.
      onSession: (session) =>
        startKeepalive(session, options.keepaliveIntervalMs, (reason) => {
          this.ctx.logger.debug({ reason }, 'dropping a silent peer connection');
          session.destroy();
        }),
      onStream: (stream, headers) => this.onStream(stream, headers),
      ...(options.tls === undefined
        ? {}
        : {
            tls: peerServerTls(options.tls),
            onTlsFailure: (reason, remoteAddress) =>
              this.ctx.logger.error(
                { remoteAddress, reason },
                `refused a peer connection: ${reason} (--peer_trusted_ca_file must hold the CA of every node's --peer_cert_file)`,
              ),
          }),
    });
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number, address: string): Promise<number> {
    return this.http.listen(host, port).catch((err: Error) => {
      throw new TransportBindError(address, err);
    });
  }

  /** Stops listening and ends every incoming stream at once (no graceful drain: Raft resends). */
  close(): Promise<void> {
    return this.http.close(0);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', (err: Error) => {
      this.ctx.logger.debug({ err: err.message }, 'peer stream error');
    });
    const path = headers[':path'] ?? '';
    if (headers[':method'] !== 'POST' || path !== PEER_STREAM_PATH) {
      sendTrailersOnly(stream, GrpcStatus.UNIMPLEMENTED, `unknown method ${path}`);
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
