// The contract between the node (which drives many Raft groups) and the network that carries their
// messages to other nodes. Two implementations: GrpcTransport (real sockets, the raft port) and
// MemoryTransport (in-process, for tests); the node cannot tell them apart.
import type { Message, NodeId } from '../raft/types.ts';

export type MessageHandler = (groupId: number, msg: Message) => void;
export type UnreachableHandler = (peer: NodeId) => void;

/**
 * Delivery is best effort, like the network Raft assumes: a message may be lost, and is then
 * recovered by Raft itself (resend on the next tick, probe after reportUnreachable). Messages to
 * one peer that do arrive arrive in the order they were sent.
 *
 * Concurrency: every method returns without waiting. Handlers run on the event loop, never from
 * inside send() (so the node may call back into Raft from them), and only after start().
 */
export interface Transport {
  /** Starts receiving (for GrpcTransport: binds the raft port). Rejects if the port cannot be bound. */
  start(): Promise<void>;
  /**
   * Queues `msg` for `msg.to`. Never blocks and never throws for a network condition: when the
   * peer's queue is full (in messages or bytes), its address is unknown, or it is unreachable, the
   * message is dropped and counted in stats(). Messages sent during one event-loop turn leave in
   * one batch per peer. Throws only for a caller bug (e.g. a term that is not a safe integer).
   */
  send(groupId: number, msg: Message): void;
  /**
   * Writes what send() queued so far now, instead of at the end of this event-loop turn: the node
   * calls it once a Ready round's messages are queued, so they do not wait for the next loop
   * iteration (one hop less on each leg of a write). Handlers are not called from here. An
   * implementation without sockets may leave delivery to the end of the turn.
   */
  flush(): void;
  /** Where `id` receives peer traffic (`host:port` of its raft port). Replaces an older address. */
  setPeerAddress(id: NodeId, raftAddr: string): void;
  /** Forgets `id`: its queue is dropped and its stream closed. */
  removePeer(id: NodeId): void;
  /** The one handler for incoming messages (a later call replaces it). */
  onMessage(handler: MessageHandler): void;
  /**
   * The one handler told that messages to `peer` were lost because it could not be reached (a
   * failed connection, a broken stream, a full queue). The node answers with
   * RawNode.reportUnreachable(peer) on every group, so that Raft probes instead of streaming.
   * Called at most once per peer per event-loop turn.
   */
  onUnreachable(handler: UnreachableHandler): void;
  /**
   * The cluster this node belongs to, once known. Streams from a node that names another cluster
   * are refused (logged as an error on both sides); an empty id on either side is accepted, so that
   * a joining node can talk before it has learnt the id.
   */
  setClusterId(clusterId: string): void;
  /** Counters since creation, for logs, metrics and tests. */
  stats(): TransportStats;
  /**
   * Traffic with each peer since creation (GrpcTransport; the in-memory twin keeps none), by node id:
   * outgoing peers and those whose streams came in, at most PEER_TRAFFIC_PEERS_MAX of them.
   */
  peerTraffic?(): ReadonlyMap<string, Readonly<PeerTraffic>>;
  /** Stops sending and receiving; queued messages are dropped. Idempotent. */
  close(): Promise<void>;
}

export interface TransportStats {
  /** Messages handed to a peer stream, and the batches that carried them. */
  messagesSent: number;
  batchesSent: number;
  /** Messages handed to the onMessage handler, and the batches that carried them. */
  messagesReceived: number;
  batchesReceived: number;
  /** Dropped because a peer's queue was full. */
  droppedQueueFull: number;
  /** Dropped because the peer had no address, could not be reached, or the transport was closed. */
  droppedUnreachable: number;
  /** Dropped because one message alone was larger than a queue or a gRPC message may be. */
  droppedTooLarge: number;
  /** Received messages that could not be decoded (PeerCodecError). */
  droppedInvalid: number;
  /** Incoming streams (or batches) refused: another cluster, addressed to another node. */
  streamsRejected: number;
  /** Outgoing connection attempts that failed and open streams that broke. */
  connectFailures: number;
}

/** Traffic with one peer. */
export interface PeerTraffic {
  /** Bytes of batches written to the peer's stream (gRPC frames). */
  bytesSent: number;
  /** Bytes received on streams from the peer. */
  bytesReceived: number;
  /** The round trip of the last keepalive PING answered on our connection to it (ms); undefined before one. */
  rttMs: number | undefined;
}

/** Peers whose traffic is kept: a cluster has at most a few dozen (a bound against made-up ids). */
export const PEER_TRAFFIC_PEERS_MAX = 1024;

export function zeroStats(): TransportStats {
  return {
    messagesSent: 0,
    batchesSent: 0,
    messagesReceived: 0,
    batchesReceived: 0,
    droppedQueueFull: 0,
    droppedUnreachable: 0,
    droppedTooLarge: 0,
    droppedInvalid: 0,
    streamsRejected: 0,
    connectFailures: 0,
  };
}

/** Bounds shared by both implementations (defaults in DEFAULT_LIMITS). */
export interface TransportLimits {
  /** Per peer: messages waiting to be written. */
  readonly queueMessagesMax: number;
  /** Per peer: bytes (upper bound of encoded size) waiting to be written. */
  readonly queueBytesMax: number;
  /** One stream write (PeerBatch) carries at most this many messages… */
  readonly batchMessagesMax: number;
  /** …and about this many bytes (but always at least one message). */
  readonly batchBytesMax: number;
}

export const DEFAULT_LIMITS: TransportLimits = {
  queueMessagesMax: 8192,
  queueBytesMax: 16 * 1024 * 1024,
  batchMessagesMax: 4096,
  batchBytesMax: 4 * 1024 * 1024,
};

/** Checks that two cluster ids may talk: equal, or at least one still unknown (empty). */
export function clusterIdsCompatible(local: string, remote: string): boolean {
  return local === '' || remote === '' || local === remote;
}
