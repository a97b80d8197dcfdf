// The real transport: a server on the raft port for incoming peer streams (PeerServer), and one
// outgoing stream per peer (PeerLink), both speaking gRPC's wire protocol over node:http2.
// Everything sent during one event-loop turn is flushed together on setImmediate, one PeerBatch
// write per peer.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Message, NodeId } from '../raft/types.ts';
import { isPrecious, wireSizeBoundBytes } from './codec.ts';
import { encodeBatchFrame } from './grpc-frames.ts';
import type { InboundContext } from './inbound.ts';
import { LogLimiter, silentLogger, type TransportLogger } from './log.ts';
import { type LinkContext, type LinkTiming, type Outgoing, PeerLink } from './peer-link.ts';
import { PeerServer } from './peer-server.ts';
import type { PeerTls } from './tls.ts';
import {
  DEFAULT_LIMITS,
  type MessageHandler,
  PEER_TRAFFIC_PEERS_MAX,
  type PeerTraffic,
  type Transport,
  type TransportLimits,
  type TransportStats,
  type UnreachableHandler,
  zeroStats,
} from './transport.ts';

export interface GrpcTransportOptions {
  readonly localId: NodeId;
  /** Interface to bind the raft port on (e.g. '127.0.0.1', '0.0.0.0', '::'). */
  readonly listenHost: string;
  /** 0 picks a free port; read it back from `port` after start(). */
  readonly listenPort: number;
  readonly clusterId?: string;
  readonly logger?: TransportLogger;
  readonly limits?: Partial<TransportLimits>;
  readonly timing?: Partial<LinkTiming>;
  /** Bound on one gRPC message (one batch), sent or received (default 64 MiB). */
  readonly grpcMessageBytesMax?: number;
  /** Mutual TLS on the raft port and towards every peer (default: h2c, no TLS). */
  readonly tls?: PeerTls;
}

export const DEFAULT_TIMING: LinkTiming = {
  connectTimeoutMs: 3000,
  backoffMinMs: 50,
  backoffMaxMs: 500,
  writesInFlightMax: 4,
  keepaliveIntervalMs: 10_000,
};

export const DEFAULT_GRPC_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
// Room for a PeerBatch's own fields (node id, cluster id) around its messages.
const BATCH_OVERHEAD_BYTES_MAX = 64 * 1024;
const LOG_INTERVAL_MS = 10_000;
// The shared encoder's buffer is kept between batches, unless a large batch made it grow past this.
const WRITER_KEEP_BYTES_MAX = 1024 * 1024;

function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class GrpcTransport implements Transport {
  private readonly localId: NodeId;
  private readonly listenHost: string;
  private readonly listenPort: number;
  private readonly limits: TransportLimits;
  private readonly timing: LinkTiming;
  private readonly messageBytesMax: number;
  private readonly logger: TransportLogger;
  private readonly limiter = new LogLimiter(LOG_INTERVAL_MS);
  private readonly counters: TransportStats = zeroStats();
  /** Per peer, by node id (bounded: PEER_TRAFFIC_PEERS_MAX). */
  private readonly traffic = new Map<string, PeerTraffic>();
  private readonly links = new Map<NodeId, PeerLink>();
  // Work for the end of this turn: links with something to write, peers to report unreachable.
  private readonly dirty = new Set<PeerLink>();
  private readonly pendingUnreachable = new Set<NodeId>();
  /** The end-of-turn flush, while one is scheduled (an explicit flush() may cancel it). */
  private flushImmediate: NodeJS.Immediate | undefined;
  private clusterId: string;
  private server: PeerServer | undefined;
  // One encoder for every link's batches: its buffer is reused, so encoding allocates only the frame.
  private writer = new BinaryWriter();
  private boundPort = 0;
  private closed = false;
  private messageHandler: MessageHandler = () => {};
  private unreachableHandler: UnreachableHandler = () => {};
  private readonly linkContext: LinkContext;
  private readonly tls: PeerTls | undefined;

  constructor(options: GrpcTransportOptions) {
    this.localId = options.localId;
    this.listenHost = options.listenHost;
    this.listenPort = options.listenPort;
    this.clusterId = options.clusterId ?? '';
    this.logger = options.logger ?? silentLogger;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.messageBytesMax = options.grpcMessageBytesMax ?? DEFAULT_GRPC_MESSAGE_BYTES_MAX;
    this.tls = options.tls;
    checkOptions(this.localId, this.listenPort, this.limits, this.timing, this.messageBytesMax);
    this.linkContext = this.makeLinkContext();
  }

  /** The bound raft port (the real one when listenPort was 0). Valid after start(). */
  get port(): number {
    if (this.server === undefined) throw new Error('GrpcTransport: port is known only after start()');
    return this.boundPort;
  }

  /** `host:port` of the bound raft port, for setPeerAddress on other transports (tests). */
  get address(): string {
    return hostPort(this.listenHost, this.port);
  }

  async start(): Promise<void> {
    if (this.server !== undefined || this.closed)
      throw new Error('GrpcTransport: start() called twice or after close()');
    const server = new PeerServer(this.makeInboundContext(), {
      keepaliveIntervalMs: this.timing.keepaliveIntervalMs,
      ...(this.tls === undefined ? {} : { tls: this.tls }),
    });
    this.server = server;
    const address = hostPort(this.listenHost, this.listenPort);
    this.boundPort = await server.listen(this.listenHost, this.listenPort, address);
    this.logger.info(
      {
        nodeId: this.localId,
        address: hostPort(this.listenHost, this.boundPort),
        tls: this.tls !== undefined,
      },
      'raft port listening',
    );
  }

  send(groupId: number, msg: Message): void {
    if (!(Number.isInteger(groupId) && groupId >= 0 && groupId <= 0xffff_ffff)) {
      throw new Error(`GrpcTransport.send: groupId must be a uint32, got ${groupId}`);
    }
    if (this.closed) {
      this.counters.droppedUnreachable++;
      return;
    }
    const link = this.links.get(msg.to);
    if (link === undefined) {
      this.counters.droppedUnreachable++;
      this.noteUnreachable(msg.to);
      return;
    }
    const sizeBytes = wireSizeBoundBytes(msg);
    if (sizeBytes > this.messageBytesMax - BATCH_OVERHEAD_BYTES_MAX) {
      this.counters.droppedTooLarge++;
      if (this.limiter.allow(`tooLarge:${msg.to}`)) {
        this.logger.error(
          { peer: msg.to, groupId, type: msg.type, sizeBytes },
          'dropped a message too large to send',
        );
      }
      return;
    }
    link.enqueue({ groupId, msg, sizeBytes, precious: isPrecious(msg.type) });
  }

  setPeerAddress(id: NodeId, raftAddr: string): void {
    if (id === this.localId) throw new Error(`GrpcTransport: setPeerAddress for the local node '${id}'`);
    if (this.closed) return;
    const old = this.links.get(id);
    if (old !== undefined && old.address === raftAddr) return;
    old?.close();
    this.links.set(id, new PeerLink(id, raftAddr, this.linkContext));
    this.logger.debug({ peer: id, address: raftAddr }, 'peer address set');
  }

  removePeer(id: NodeId): void {
    const link = this.links.get(id);
    if (link === undefined) return;
    link.close();
    this.links.delete(id);
    this.dirty.delete(link);
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

  peerTraffic(): ReadonlyMap<string, Readonly<PeerTraffic>> {
    return this.traffic;
  }

  /** The traffic record of `peer`, made on first use; undefined once the bound is reached. */
  private trafficOf(peer: string): PeerTraffic | undefined {
    let t = this.traffic.get(peer);
    if (t === undefined && this.traffic.size < PEER_TRAFFIC_PEERS_MAX) {
      t = { bytesSent: 0, bytesReceived: 0, rttMs: undefined };
      this.traffic.set(peer, t);
    }
    return t;
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** Messages waiting in the queue of `peer` (0 when unknown); for tests and metrics. */
  queuedMessages(peer: NodeId): number {
    return this.links.get(peer)?.queuedMessages ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    this.dirty.clear();
    this.pendingUnreachable.clear();
    // Raft tolerates the loss of whatever is in flight: no graceful drain of the peer streams.
    await this.server?.close();
  }

  private scheduleFlush(): void {
    if (this.flushImmediate !== undefined) return;
    this.flushImmediate = setImmediate(() => this.flushTurn());
  }

  private noteUnreachable(peer: NodeId): void {
    this.pendingUnreachable.add(peer);
    this.scheduleFlush();
  }

  flush(): void {
    if (this.closed || this.dirty.size === 0) return;
    const links = [...this.dirty];
    this.dirty.clear();
    for (const link of links) link.flush();
    // Left with nothing to do, the end-of-turn flush goes too: a pending immediate would make the
    // event loop's next poll return at once, an iteration spent on nothing.
    if (this.flushImmediate !== undefined && this.dirty.size === 0 && this.pendingUnreachable.size === 0) {
      clearImmediate(this.flushImmediate);
      this.flushImmediate = undefined;
    }
  }

  /** The end-of-turn flush: queued batches, then the unreachable reports (handlers run here). */
  private flushTurn(): void {
    this.flushImmediate = undefined;
    if (this.closed) return;
    this.flush();
    const peers = [...this.pendingUnreachable];
    this.pendingUnreachable.clear();
    for (const peer of peers) this.unreachableHandler(peer);
  }

  private makeLinkContext(): LinkContext {
    return {
      localId: this.localId,
      clusterId: () => this.clusterId,
      limits: this.limits,
      timing: this.timing,
      messageBytesMax: this.messageBytesMax,
      encodeBatch: (items) => this.encodeBatch(items),
      stats: this.counters,
      logger: this.logger,
      unreachable: (peer) => this.noteUnreachable(peer),
      requestFlush: (link) => {
        this.dirty.add(link);
        this.scheduleFlush();
      },
      tls: this.tls,
      traffic: (peer) => this.trafficOf(peer),
    };
  }

  private makeInboundContext(): InboundContext {
    return {
      localId: this.localId,
      clusterId: () => this.clusterId,
      deliver: (groupId, msg) => {
        if (!this.closed) this.messageHandler(groupId, msg);
      },
      stats: this.counters,
      logger: this.logger,
      limiter: this.limiter,
      messageBytesMax: this.messageBytesMax,
      traffic: (peer) => this.trafficOf(peer),
    };
  }

  private encodeBatch(items: readonly Outgoing[]): Buffer {
    const frame = encodeBatchFrame(this.writer, this.localId, this.clusterId, items);
    if (frame.byteLength > WRITER_KEEP_BYTES_MAX) this.writer = new BinaryWriter();
    return frame;
  }
}

function checkOptions(
  localId: NodeId,
  listenPort: number,
  limits: TransportLimits,
  timing: LinkTiming,
  messageBytesMax: number,
): void {
  const problems: string[] = [];
  if (localId === '') problems.push('localId is empty');
  if (!(Number.isInteger(listenPort) && listenPort >= 0 && listenPort <= 65535))
    problems.push(`listenPort ${listenPort}`);
  for (const [name, value] of Object.entries({ ...limits, ...timing, messageBytesMax })) {
    if (!(Number.isSafeInteger(value) && value > 0))
      problems.push(`${name} must be a positive integer, got ${value}`);
  }
  if (limits.batchBytesMax > messageBytesMax - BATCH_OVERHEAD_BYTES_MAX) {
    problems.push(
      `batchBytesMax ${limits.batchBytesMax} must leave room within messageBytesMax ${messageBytesMax}`,
    );
  }
  if (timing.backoffMinMs > timing.backoffMaxMs) {
    problems.push(`backoffMinMs ${timing.backoffMinMs} > backoffMaxMs ${timing.backoffMaxMs}`);
  }
  if (problems.length > 0) throw new Error(`GrpcTransport options: ${problems.join('; ')}`);
}
