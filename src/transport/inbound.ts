// The receiving side of peer streams: checks who is calling (handshake headers, then every batch),
// decodes the messages and hands them to the node. One instance serves every incoming stream.
import { type handleClientStreamingCall, Metadata, type ServerReadableStream, status } from '@grpc/grpc-js';
import type {
  PeerBatch,
  PeerServiceStreamRequest,
  PeerServiceStreamResponse,
} from '../gen/ringkv/v1/peer.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { messageFromWire } from './codec.ts';
import { PeerCodecError } from './errors.ts';
import type { LogLimiter, TransportLogger } from './log.ts';
import { clusterIdsCompatible, type TransportStats } from './transport.ts';

// Handshake headers of a peer stream; values are URI-encoded (node ids may be any string).
export const HEADER_FROM = 'ringkv-from-node-id';
export const HEADER_TO = 'ringkv-to-node-id';
export const HEADER_CLUSTER = 'ringkv-cluster-id';
/** Sent back by the receiver when it accepts a stream: the sender then knows the stream is open. */
export const HEADER_NODE = 'ringkv-node-id';

export type InboundCall = ServerReadableStream<PeerServiceStreamRequest, PeerServiceStreamResponse>;

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
  /** Remembers an open call (so that close() can end it); returns the function that forgets it. */
  track(call: InboundCall): () => void;
}

export interface Refusal {
  readonly code: status;
  readonly details: string;
}

export function headerValue(md: Metadata, key: string): string | undefined {
  const [value] = md.get(key);
  if (typeof value !== 'string') return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined; // malformed escape: treated as missing
  }
}

function checkHandshake(md: Metadata, ctx: InboundContext): Refusal | undefined {
  const from = headerValue(md, HEADER_FROM);
  const to = headerValue(md, HEADER_TO);
  const cluster = headerValue(md, HEADER_CLUSTER) ?? '';
  if (from === undefined || from === '' || to === undefined) {
    return {
      code: status.INVALID_ARGUMENT,
      details: `peer stream without ${HEADER_FROM}/${HEADER_TO} headers`,
    };
  }
  if (to !== ctx.localId) {
    return {
      code: status.FAILED_PRECONDITION,
      details: `this raft port belongs to node '${ctx.localId}', not '${to}' (stale peer address?)`,
    };
  }
  return checkCluster(cluster, from, ctx);
}

function checkCluster(remote: string, from: string, ctx: BatchContext): Refusal | undefined {
  const local = ctx.clusterId();
  if (clusterIdsCompatible(local, remote)) return undefined;
  return {
    code: status.FAILED_PRECONDITION,
    details: `node '${from}' belongs to cluster '${remote}', this node '${ctx.localId}' to cluster '${local}'`,
  };
}

/**
 * Delivers one batch that arrived on the stream of node `from`; returns a refusal (and delivers
 * nothing more) when the batch breaks the stream's contract.
 */
export function receiveBatch(
  batch: PeerBatch | undefined,
  from: string,
  ctx: BatchContext,
): Refusal | undefined {
  if (batch === undefined) return undefined; // an empty frame: nothing to do (room for other frame kinds)
  if (batch.fromNodeId !== from) {
    return {
      code: status.INVALID_ARGUMENT,
      details: `batch from '${batch.fromNodeId}' on the stream of '${from}'`,
    };
  }
  const refusal = checkCluster(batch.clusterId, from, ctx);
  if (refusal !== undefined) return refusal;
  ctx.stats.batchesReceived++;
  for (const gm of batch.messages) {
    const msg = decode(gm.groupId, gm.message, from, ctx);
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

function decode(
  groupId: number,
  wire: PeerBatch['messages'][number]['message'],
  from: string,
  ctx: BatchContext,
): Message | undefined {
  try {
    if (wire === undefined) throw new PeerCodecError('message', 'missing');
    return messageFromWire(wire);
  } catch (err) {
    if (!(err instanceof PeerCodecError)) throw err;
    ctx.stats.droppedInvalid++;
    if (ctx.limiter.allow(`invalid:${from}:${err.field}`)) {
      ctx.logger.warn(
        { peer: from, groupId, field: err.field, err: err.message },
        'dropped invalid peer message',
      );
    }
    return undefined;
  }
}

/** Counts a refused stream and logs it (an error when it is a configuration problem). */
export function logRefusal(ctx: BatchContext, remote: string, refusal: Refusal): void {
  ctx.stats.streamsRejected++;
  if (!ctx.limiter.allow(`refused:${remote}:${refusal.details}`)) return;
  const fields = { remote, code: status[refusal.code], reason: refusal.details };
  if (refusal.code === status.FAILED_PRECONDITION) ctx.logger.error(fields, 'refused peer stream');
  else ctx.logger.warn(fields, 'refused peer stream');
}

/** The PeerService.Stream handler. */
export function peerStreamHandler(
  ctx: InboundContext,
): handleClientStreamingCall<PeerServiceStreamRequest, PeerServiceStreamResponse> {
  return (call, callback) => {
    const handshakeRefusal = checkHandshake(call.metadata, ctx);
    if (handshakeRefusal !== undefined) {
      logRefusal(ctx, call.getPeer(), handshakeRefusal);
      callback(handshakeRefusal);
      return;
    }
    const from = headerValue(call.metadata, HEADER_FROM) as string;
    const untrack = ctx.track(call);
    let finished = false;
    const finish = (refusal: Refusal | undefined): void => {
      if (finished) return;
      finished = true;
      untrack();
      if (refusal === undefined) callback(null, {});
      else callback(refusal);
    };
    const accepted = new Metadata();
    accepted.set(HEADER_NODE, encodeURIComponent(ctx.localId));
    call.sendMetadata(accepted);
    call.on('data', (req: PeerServiceStreamRequest) => {
      if (finished) return;
      const refusal = receiveBatch(req.batch, from, ctx);
      if (refusal === undefined) return;
      logRefusal(ctx, call.getPeer(), refusal);
      finish(refusal);
    });
    call.on('end', () => finish(undefined));
    call.on('cancelled', () => {
      finished = true;
      untrack();
    });
    call.on('error', (err: Error) => {
      ctx.logger.debug({ peer: from, err: err.message }, 'peer stream error');
      finished = true;
      untrack();
    });
  };
}
