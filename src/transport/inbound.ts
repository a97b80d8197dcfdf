// The receiving side of peer streams: checks who is calling (handshake headers, then every batch),
// cuts the stream into gRPC messages, decodes them and hands them to the node. The answer follows
// gRPC: response headers at once when the stream is accepted (with `ringkv-node-id`), and at the
// end an empty response message and `grpc-status`/`grpc-message` trailers; a refusal before
// anything was accepted is a trailers-only response.
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { Message, NodeId } from '../raft/types.ts';
import { PeerCodecError, PeerFrameError } from './errors.ts';
import { FrameParser, frameOf } from './grpc-frames.ts';
import { GRPC_OK_TRAILERS, GRPC_RESPONSE_HEADERS, sendTrailersOnly } from './grpc-http2-server.ts';
import { encodeGrpcMessage, GrpcStatus, type GrpcStatusCode, statusName } from './grpc-status.ts';
import type { LogLimiter, TransportLogger } from './log.ts';
import { clusterIdsCompatible, type PeerTraffic, type TransportStats } from './transport.ts';
import { type BatchIn, type BatchMessage, readPeerRequest } from './wire-message.ts';

// Handshake headers of a peer stream; values are URI-encoded (node ids may be any string).
export const HEADER_FROM = 'ringkv-from-node-id';
export const HEADER_TO = 'ringkv-to-node-id';
export const HEADER_CLUSTER = 'ringkv-cluster-id';
/** Sent back by the receiver when it accepts a stream: the sender then knows the stream is open. */
export const HEADER_NODE = 'ringkv-node-id';

/** What checking and delivering a batch needs (shared with MemoryTransport). */
export interface BatchContext {
  readonly localId: NodeId;
  clusterId(): string;
  deliver(groupId: number, msg: Message): void;
  readonly stats: TransportStats;
  readonly logger: TransportLogger;
  readonly limiter: LogLimiter;
}

export interface InboundContext extends BatchContext {
  /** The bound on one gRPC message (one PeerServiceStreamRequest), without its 5-byte prefix. */
  readonly messageBytesMax: number;
  /** The traffic record of a peer (undefined: not kept). */
  traffic?(peer: string): PeerTraffic | undefined;
}

export interface Refusal {
  readonly code: GrpcStatusCode;
  readonly details: string;
}

export function headerValue(headers: IncomingHttpHeaders, key: string): string | undefined {
  const value = headers[key];
  if (typeof value !== 'string') return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined; // malformed escape: treated as missing
  }
}

function checkHandshake(headers: IncomingHttpHeaders, ctx: BatchContext): Refusal | undefined {
  const from = headerValue(headers, HEADER_FROM);
  const to = headerValue(headers, HEADER_TO);
  const cluster = headerValue(headers, HEADER_CLUSTER) ?? '';
  if (from === undefined || from === '' || to === undefined) {
    return {
      code: GrpcStatus.INVALID_ARGUMENT,
      details: `peer stream without ${HEADER_FROM}/${HEADER_TO} headers`,
    };
  }
  if (to !== ctx.localId) {
    return {
      code: GrpcStatus.FAILED_PRECONDITION,
      details: `this raft port belongs to node '${ctx.localId}', not '${to}' (stale peer address?)`,
    };
  }
  return checkCluster(cluster, from, ctx);
}

function checkCluster(remote: string, from: string, ctx: BatchContext): Refusal | undefined {
  const local = ctx.clusterId();
  if (clusterIdsCompatible(local, remote)) return undefined;
  return {
    code: GrpcStatus.FAILED_PRECONDITION,
    details: `node '${from}' belongs to cluster '${remote}', this node '${ctx.localId}' to cluster '${local}'`,
  };
}

/**
 * Delivers one batch that arrived on the stream of node `from`; returns a refusal (and delivers
 * nothing more) when the batch breaks the stream's contract.
 */
export function receiveBatch(
  batch: BatchIn | undefined,
  from: string,
  ctx: BatchContext,
): Refusal | undefined {
  if (batch === undefined) return undefined; // an empty frame: nothing to do (room for other frame kinds)
  if (batch.fromNodeId !== from) {
    return {
      code: GrpcStatus.INVALID_ARGUMENT,
      details: `batch from '${batch.fromNodeId}' on the stream of '${from}'`,
    };
  }
  const refusal = checkCluster(batch.clusterId, from, ctx);
  if (refusal !== undefined) return refusal;
  ctx.stats.batchesReceived++;
  for (const gm of batch.messages) {
    const msg = decoded(gm, from, ctx);
    if (msg === undefined) continue;
    // Raft forwards some messages on behalf of another node (a follower passes a transferLeader
    // from the transferee to its leader), so `from` may differ from the stream's node for that
    // type. Anything else that does not fit the stream is dropped alone, never the whole stream:
    // refusing the stream would cut every group's traffic between the two nodes.
    const forwarded = msg.type === 'transferLeader';
    if ((msg.from !== from && !forwarded) || msg.to !== ctx.localId) {
      ctx.stats.droppedInvalid++;
      if (ctx.limiter.allow(`misrouted:${from}`)) {
        ctx.logger.warn(
          { peer: from, groupId: gm.groupId, msgFrom: msg.from, msgTo: msg.to },
          'dropped misrouted peer message',
        );
      }
      continue;
    }
    ctx.stats.messagesReceived++;
    ctx.deliver(gm.groupId, msg);
  }
  return undefined;
}

/** The message of `gm`, or undefined (counted and logged) when the peer sent one the core cannot take. */
function decoded(gm: BatchMessage, from: string, ctx: BatchContext): Message | undefined {
  const err = gm.message;
  if (!(err instanceof PeerCodecError)) return err;
  ctx.stats.droppedInvalid++;
  if (ctx.limiter.allow(`invalid:${from}:${err.field}`)) {
    ctx.logger.warn(
      { peer: from, groupId: gm.groupId, field: err.field, err: err.message },
      'dropped invalid peer message',
    );
  }
  return undefined;
}

/** Counts a refused stream and logs it (an error when it is a configuration problem). */
export function logRefusal(ctx: BatchContext, remote: string, refusal: Refusal): void {
  ctx.stats.streamsRejected++;
  if (!ctx.limiter.allow(`refused:${remote}:${refusal.details}`)) return;
  const fields = { remote, code: statusName(refusal.code), reason: refusal.details };
  if (refusal.code === GrpcStatus.FAILED_PRECONDITION) ctx.logger.error(fields, 'refused peer stream');
  else ctx.logger.warn(fields, 'refused peer stream');
}

/** The one response message of the call: an empty PeerServiceStreamResponse. */
const EMPTY_RESPONSE_FRAME = frameOf(new Uint8Array(0));

/** `address:port` of the other end, for logs. */
export function remoteOf(stream: ServerHttp2Stream): string {
  const socket = stream.session?.socket;
  return `${socket?.remoteAddress ?? '?'}:${socket?.remotePort ?? '?'}`;
}

/** Serves one PeerService.Stream call whose path and content type were checked by the server. */
export function servePeerStream(
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  ctx: InboundContext,
): void {
  const handshakeRefusal = checkHandshake(headers, ctx);
  if (handshakeRefusal !== undefined) {
    logRefusal(ctx, remoteOf(stream), handshakeRefusal);
    sendTrailersOnly(stream, handshakeRefusal.code, handshakeRefusal.details);
    return;
  }
  new InboundStream(stream, headerValue(headers, HEADER_FROM) as string, ctx);
}

/** One accepted stream: parser, per-batch checks, the end of the call. */
class InboundStream {
  private readonly stream: ServerHttp2Stream;
  private readonly from: string;
  private readonly ctx: InboundContext;
  private readonly parser: FrameParser;
  private finished = false;
  /** Bytes received, for the metrics (looked up once per stream, not per chunk). */
  private readonly traffic: PeerTraffic | undefined;

  constructor(stream: ServerHttp2Stream, from: string, ctx: InboundContext) {
    this.stream = stream;
    this.from = from;
    this.ctx = ctx;
    this.traffic = ctx.traffic?.(from);
    this.parser = new FrameParser(ctx.messageBytesMax, (bytes) => this.onMessage(bytes));
    stream.respond(
      { ...GRPC_RESPONSE_HEADERS, [HEADER_NODE]: encodeURIComponent(ctx.localId) },
      { waitForTrailers: true },
    );
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('end', () => this.onEnd());
    stream.on('close', () => {
      this.finished = true;
    });
  }

  private onData(chunk: Buffer): void {
    if (this.traffic !== undefined) this.traffic.bytesReceived += chunk.byteLength;
    if (this.finished) return; // refused: what still arrives is read and ignored
    try {
      this.parser.push(chunk);
    } catch (err) {
      if (!(err instanceof PeerFrameError)) throw err;
      this.refuse(frameRefusal(err));
    }
  }

  private onMessage(bytes: Buffer): boolean {
    let batch: BatchIn | undefined;
    try {
      batch = readPeerRequest(bytes);
    } catch (err) {
      this.refuse({ code: GrpcStatus.INTERNAL, details: `could not decode a peer request: ${String(err)}` });
      return false;
    }
    const refusal = receiveBatch(batch, this.from, this.ctx);
    if (refusal === undefined) return true;
    this.refuse(refusal);
    return false;
  }

  private onEnd(): void {
    if (this.finished) return;
    try {
      this.parser.end();
    } catch (err) {
      if (!(err instanceof PeerFrameError)) throw err;
      this.refuse(frameRefusal(err));
      return;
    }
    this.finish(undefined);
  }

  private refuse(refusal: Refusal): void {
    if (this.finished) return;
    logRefusal(this.ctx, `${this.from} (${remoteOf(this.stream)})`, refusal);
    this.finish(refusal);
  }

  /** Ends our side: the response message when all went well, then the status in trailers. */
  private finish(refusal: Refusal | undefined): void {
    if (this.finished) return;
    this.finished = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const trailers =
      refusal === undefined
        ? GRPC_OK_TRAILERS
        : { 'grpc-status': String(refusal.code), 'grpc-message': encodeGrpcMessage(refusal.details) };
    stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    if (refusal === undefined) stream.end(EMPTY_RESPONSE_FRAME);
    else stream.end();
  }
}

function frameRefusal(err: PeerFrameError): Refusal {
  const code = err.problem === 'tooLarge' ? GrpcStatus.RESOURCE_EXHAUSTED : GrpcStatus.INTERNAL;
  return { code, details: err.message };
}
