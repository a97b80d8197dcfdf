// The in-memory twin of GrpcTransport, for the node's tests: same contract, same bounds, same
// checks on arrival (shared with the gRPC receiver), and by default the same protobuf bytes, but
// no sockets. Messages sent during one turn are delivered together on the next (setImmediate).
// The MemoryNetwork connecting the transports can partition nodes and drop messages at random.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Message, NodeId } from '../raft/types.ts';
import { isPrecious, messageFromWire, messageToWire, wireSizeBoundBytes } from './codec.ts';
import { encodeBatchFrame, FRAME_PREFIX_BYTES } from './grpc-frames.ts';
import { type BatchContext, logRefusal, type Refusal, receiveBatch } from './inbound.ts';
import { LogLimiter, silentLogger, type TransportLogger } from './log.ts';
import type { Outgoing } from './peer-link.ts';
import { PeerQueue } from './peer-queue.ts';
import {
  DEFAULT_LIMITS,
  type MessageHandler,
  type Transport,
  type TransportLimits,
  type TransportStats,
  type UnreachableHandler,
  zeroStats,
} from './transport.ts';
import { type BatchIn, readPeerRequest } from './wire-message.ts';

export interface MemoryNetworkOptions {
  /** Randomness for dropProbability, in [0, 1): inject a seeded one for reproducible tests. */
  readonly random?: () => number;
  /** Run every batch through its protobuf encoding, as on the wire (default true). */
  readonly encode?: boolean;
}

export interface MemoryTransportOptions {
  readonly clusterId?: string;
  readonly limits?: Partial<TransportLimits>;
  readonly logger?: TransportLogger;
}

export class MemoryNetwork {
  private readonly random: () => number;
  readonly encode: boolean;
  private readonly endpoints = new Map<string, MemoryTransport>();
  /** Directed links that lose everything, as `from → to`. */
  private readonly blocked = new Set<string>();
  private dropProbability = 0;
  /** Messages lost to partitions and random drops (the senders cannot know). */
  droppedByNetwork = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.random = options.random ?? Math.random;
    this.encode = options.encode ?? true;
  }

  /** A transport for node `id`, reachable at `transport.address` (`memory://<id>`). */
  createTransport(id: NodeId, options: MemoryTransportOptions = {}): MemoryTransport {
    const address = `memory://${id}`;
    if (this.endpoints.has(address)) throw new Error(`MemoryNetwork: node '${id}' already has a transport`);
    const transport = new MemoryTransport(this, id, address, options);
    this.endpoints.set(address, transport);
    return transport;
  }

  /** Cuts every link between nodes of different sides, both ways (adds to existing cuts). */
  partition(...sides: readonly (readonly NodeId[])[]): void {
    sides.forEach((side, i) => {
      for (const other of sides.slice(i + 1)) {
        for (const a of side) {
          for (const b of other) {
            this.block(a, b);
            this.block(b, a);
          }
        }
      }
    });
  }

  /** Cuts `id` off from every other node with a transport on this network. */
  isolate(id: NodeId): void {
    const others = [...this.endpoints.values()].map((t) => t.localId).filter((other) => other !== id);
    this.partition([id], others);
  }

  /** Loses everything sent from `from` to `to` (one direction). */
  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from} → ${to}`);
  }

  unblock(from: NodeId, to: NodeId): void {
    this.blocked.delete(`${from} → ${to}`);
  }

  /** Restores every link and stops random drops. */
  heal(): void {
    this.blocked.clear();
    this.dropProbability = 0;
  }

  /** Each message is lost independently with probability p. */
  setDropProbability(p: number): void {
    if (!(p >= 0 && p <= 1)) throw new Error(`MemoryNetwork: drop probability must be in [0, 1], got ${p}`);
    this.dropProbability = p;
  }

  /** The transport listening at `address`, if any (used by MemoryTransport). */
  endpoint(address: string): MemoryTransport | undefined {
    return this.endpoints.get(address);
  }

  /** Whether the network loses this message (used by MemoryTransport). */
  loses(from: NodeId, to: NodeId): boolean {
    const lost =
      this.blocked.has(`${from} → ${to}`) ||
      (this.dropProbability > 0 && this.random() < this.dropProbability);
    if (lost) this.droppedByNetwork++;
    return lost;
  }

  forget(transport: MemoryTransport): void {
    if (this.endpoints.get(transport.address) === transport) this.endpoints.delete(transport.address);
  }
}

interface MemoryPeer {
  readonly address: string;
  readonly queue: PeerQueue<Outgoing>;
}

export class MemoryTransport implements Transport {
  readonly localId: NodeId;
  readonly address: string;
  private readonly network: MemoryNetwork;
  private readonly limits: TransportLimits;
  private readonly counters: TransportStats = zeroStats();
  private readonly peers = new Map<NodeId, MemoryPeer>();
  private readonly dirty = new Set<NodeId>();
  private readonly pendingUnreachable = new Set<NodeId>();
  private readonly batchContext: BatchContext;
  private flushScheduled = false;
  private clusterId: string;
  private state: 'new' | 'started' | 'closed' = 'new';
  private messageHandler: MessageHandler = () => {};
  private unreachableHandler: UnreachableHandler = () => {};

  constructor(network: MemoryNetwork, localId: NodeId, address: string, options: MemoryTransportOptions) {
    this.network = network;
    this.localId = localId;
    this.address = address;
    this.clusterId = options.clusterId ?? '';
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.batchContext = {
      localId,
      clusterId: () => this.clusterId,
      deliver: (groupId, msg) => this.messageHandler(groupId, msg),
      stats: this.counters,
      logger: options.logger ?? silentLogger,
      limiter: new LogLimiter(10_000),
    };
  }

  /** Whether batches sent here are accepted (started and not closed). */
  get accepting(): boolean {
    return this.state === 'started';
  }

  async start(): Promise<void> {
    if (this.state !== 'new')
      throw new Error(`MemoryTransport ${this.localId}: start() in state ${this.state}`);
    this.state = 'started';
  }

  /** Delivery stays at the end of the turn (handlers must not run inside the caller's Ready round). */
  flush(): void {}

  send(groupId: number, msg: Message): void {
    if (!(Number.isInteger(groupId) && groupId >= 0 && groupId <= 0xffff_ffff)) {
      throw new Error(`MemoryTransport.send: groupId must be a uint32, got ${groupId}`);
    }
    const peer = this.peers.get(msg.to);
    if (this.state === 'closed' || peer === undefined) {
      this.counters.droppedUnreachable++;
      if (this.state !== 'closed') this.noteUnreachable(msg.to);
      return;
    }
    const sizeBytes = wireSizeBoundBytes(msg);
    if (sizeBytes > this.limits.queueBytesMax) {
      this.counters.droppedTooLarge++;
      return;
    }
    const dropped = peer.queue.push({
      groupId,
      msg,
      sizeBytes,
      precious: isPrecious(msg.type),
    });
    if (dropped > 0) {
      this.counters.droppedQueueFull += dropped;
      this.pendingUnreachable.add(msg.to);
    }
    this.dirty.add(msg.to);
    this.scheduleFlush();
  }

  setPeerAddress(id: NodeId, raftAddr: string): void {
    if (id === this.localId) throw new Error(`MemoryTransport: setPeerAddress for the local node '${id}'`);
    if (this.peers.get(id)?.address === raftAddr) return;
    const queue = new PeerQueue<Outgoing>({
      messagesMax: this.limits.queueMessagesMax,
      bytesMax: this.limits.queueBytesMax,
    });
    this.peers.set(id, { address: raftAddr, queue });
  }

  removePeer(id: NodeId): void {
    this.peers.delete(id);
    this.dirty.delete(id);
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onUnreachable(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  setClusterId(clusterId: string): void {
    this.clusterId = clusterId;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.state = 'closed';
    this.peers.clear();
    this.dirty.clear();
    this.pendingUnreachable.clear();
    this.network.forget(this);
  }

  /** Takes one batch that arrived from node `from`; returns a refusal if it was refused. */
  receive(batch: BatchIn | undefined, from: NodeId): Refusal | undefined {
    const refusal = receiveBatch(batch, from, this.batchContext);
    if (refusal !== undefined) logRefusal(this.batchContext, `memory://${from}`, refusal);
    return refusal;
  }

  private noteUnreachable(peer: NodeId): void {
    this.pendingUnreachable.add(peer);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flushTurn());
  }

  private flushTurn(): void {
    this.flushScheduled = false;
    if (this.state === 'closed') return;
    const peers = [...this.dirty];
    this.dirty.clear();
    for (const id of peers) {
      const peer = this.peers.get(id);
      // Bounded: each take removes at least one message from a bounded queue.
      while (peer !== undefined && peer.queue.length > 0) {
        this.deliver(id, peer, peer.queue.take(this.limits.batchMessagesMax, this.limits.batchBytesMax));
      }
    }
    const unreachable = [...this.pendingUnreachable];
    this.pendingUnreachable.clear();
    for (const id of unreachable) this.unreachableHandler(id);
  }

  private deliver(id: NodeId, peer: MemoryPeer, items: readonly Outgoing[]): void {
    const target = this.network.endpoint(peer.address);
    if (target === undefined || !target.accepting) {
      this.counters.connectFailures++;
      this.counters.droppedUnreachable += items.length;
      this.pendingUnreachable.add(id);
      return;
    }
    this.counters.batchesSent++;
    this.counters.messagesSent += items.length;
    const kept = items.filter(() => !this.network.loses(this.localId, target.localId));
    if (kept.length === 0) return;
    // Through the bytes a real stream carries, or (encode: false) through the wire objects, which
    // copy every message as the bytes would.
    const batch: BatchIn | undefined = this.network.encode
      ? readPeerRequest(
          encodeBatchFrame(new BinaryWriter(), this.localId, this.clusterId, kept).subarray(
            FRAME_PREFIX_BYTES,
          ),
        )
      : {
          fromNodeId: this.localId,
          clusterId: this.clusterId,
          messages: kept.map((it) => ({
            groupId: it.groupId,
            message: messageFromWire(messageToWire(it.msg)),
          })),
        };
    if (target.receive(batch, this.localId) !== undefined) {
      this.counters.connectFailures++;
      this.pendingUnreachable.add(id);
    }
  }
}
