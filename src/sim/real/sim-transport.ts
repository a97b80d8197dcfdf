// The peer Transport (src/transport/transport.ts) of one node incarnation in the simulated world:
// send() hands each message to the world's network model (src/sim/network.ts: loss, delay,
// duplication, directed cuts, links in send order but for the messages a reordering window lets
// skip it), which delivers it as an event of the world's queue to the incarnation of its addressee
// that is running then, through that one's onMessage handler. Never from inside send(), as the
// contract asks. A dead incarnation's transport sends nothing and
// receives nothing.
import type { Message, NodeId } from '../../raft/types.ts';
import type {
  MessageHandler,
  Transport,
  TransportStats,
  UnreachableHandler,
} from '../../transport/transport.ts';
import { zeroStats } from '../../transport/transport.ts';

/** What the transport needs of the world: the network that carries its messages. */
export interface Wire {
  /** Carries `msg` from `from` (its sender's node) through the network model. */
  carry(from: NodeId, groupId: number, msg: Message): void;
}

/** Bound on distinct peers one transport knows (a simulated cluster has a handful). */
const PEERS_MAX = 64;

export class SimTransport implements Transport {
  readonly localId: NodeId;
  private readonly wire: Wire;
  private readonly peers = new Map<NodeId, string>();
  private messageHandler: MessageHandler | undefined;
  private unreachableHandler: UnreachableHandler | undefined;
  private started = false;
  private closed = false;
  private readonly counters: TransportStats = zeroStats();

  constructor(localId: NodeId, wire: Wire) {
    this.localId = localId;
    this.wire = wire;
  }

  /** Whether messages may be handed to this transport's handler now. */
  get receiving(): boolean {
    return this.started && !this.closed && this.messageHandler !== undefined;
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error(`sim transport of ${this.localId}: start after close`);
    this.started = true;
  }

  send(groupId: number, msg: Message): void {
    if (!Number.isSafeInteger(msg.term) || !Number.isSafeInteger(msg.index))
      throw new Error(`sim transport: ${msg.type} with term ${msg.term}, index ${msg.index}`);
    if (this.closed) {
      this.counters.droppedUnreachable++;
      return;
    }
    if (!this.peers.has(msg.to)) {
      this.counters.droppedUnreachable++;
      return;
    }
    this.counters.messagesSent++;
    this.counters.batchesSent++;
    this.wire.carry(this.localId, groupId, msg);
  }

  flush(): void {}

  setPeerAddress(id: NodeId, raftAddr: string): void {
    if (!this.peers.has(id) && this.peers.size >= PEERS_MAX)
      throw new Error(`sim transport of ${this.localId}: more than ${PEERS_MAX} peers`);
    this.peers.set(id, raftAddr);
  }

  removePeer(id: NodeId): void {
    this.peers.delete(id);
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onUnreachable(handler: UnreachableHandler): void {
    this.unreachableHandler = handler;
  }

  setClusterId(_clusterId: string): void {
    // One cluster per world: every stream names it.
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The world delivers a message addressed to this incarnation (an event of its own). */
  deliver(groupId: number, msg: Message): void {
    if (!this.receiving) return;
    this.counters.messagesReceived++;
    this.counters.batchesReceived++;
    this.messageHandler?.(groupId, msg);
  }

  /** The world reports that `peer` could not be reached (it is down): the node probes instead of streaming. */
  unreachable(peer: NodeId): void {
    if (!this.receiving) return;
    this.counters.connectFailures++;
    this.unreachableHandler?.(peer);
  }

  /** The incarnation died (kill -9): nothing more leaves or arrives. */
  kill(): void {
    this.closed = true;
  }
}
