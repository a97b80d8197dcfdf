// The sending side towards one peer: its bounded queue and its one gRPC stream, with reconnection.
//
// States: idle → (something to send) → connecting → (receiver's headers) → open → (stream breaks)
// → backoff → (timer) → idle. While connecting, messages queue (bounded); in backoff they are
// dropped at once: the peer is known to be unreachable, Raft resends, and a burst of stale
// messages after the reconnect would help nobody.
import {
  type ChannelOptions,
  type ClientWritableStream,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { PeerServiceClient, type PeerServiceStreamRequest, type RaftMessage } from '../gen/ringkv/v1/peer.ts';
import type { NodeId } from '../raft/types.ts';
import { HEADER_CLUSTER, HEADER_FROM, HEADER_TO } from './inbound.ts';
import type { TransportLogger } from './log.ts';
import { PeerQueue, type QueueItem } from './peer-queue.ts';
import type { TransportLimits, TransportStats } from './transport.ts';

/** A message waiting for its stream write, already converted to its wire form. */
export interface Outgoing extends QueueItem {
  readonly groupId: number;
  readonly wire: RaftMessage;
}

export interface LinkTiming {
  readonly connectTimeoutMs: number;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** Batches written to gRPC whose write has not completed yet (our own flow control). */
  readonly writesInFlightMax: number;
}

export interface LinkContext {
  readonly localId: NodeId;
  clusterId(): string;
  readonly limits: TransportLimits;
  readonly timing: LinkTiming;
  readonly channelOptions: ChannelOptions;
  readonly stats: TransportStats;
  readonly logger: TransportLogger;
  /** Reports (later, on the transport's flush) that messages to `peer` were lost. */
  unreachable(peer: NodeId): void;
  /** Asks for flush() on the transport's next flush (end of this event-loop turn). */
  requestFlush(link: PeerLink): void;
}

type LinkState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';
type Call = ClientWritableStream<PeerServiceStreamRequest>;

export class PeerLink {
  readonly peerId: NodeId;
  readonly address: string;
  private readonly ctx: LinkContext;
  private readonly queue: PeerQueue<Outgoing>;
  private readonly client: PeerServiceClient;
  private state: LinkState = 'idle';
  // Invariant: call !== undefined exactly when state is 'connecting' or 'open'.
  private call: Call | undefined;
  // Invariant: 0 <= writesInFlight <= timing.writesInFlightMax; reset with each new call.
  private writesInFlight = 0;
  private awaitingDrain = false;
  private backoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** The last failure logged, so that the same failure repeating is logged once, not every retry. */
  private lastFailure = '';

  constructor(peerId: NodeId, address: string, ctx: LinkContext) {
    this.peerId = peerId;
    this.address = address;
    this.ctx = ctx;
    this.queue = new PeerQueue({
      messagesMax: ctx.limits.queueMessagesMax,
      bytesMax: ctx.limits.queueBytesMax,
    });
    this.client = new PeerServiceClient(address, credentials.createInsecure(), ctx.channelOptions);
    this.backoffMs = ctx.timing.backoffMinMs;
  }

  get linkState(): LinkState {
    return this.state;
  }

  get queuedMessages(): number {
    return this.queue.length;
  }

  enqueue(item: Outgoing): void {
    if (this.state === 'closed' || this.state === 'backoff') {
      this.ctx.stats.droppedUnreachable++;
      return;
    }
    if (item.sizeBytes > this.ctx.limits.queueBytesMax) {
      this.ctx.stats.droppedTooLarge++;
      return;
    }
    const dropped = this.queue.push(item);
    if (dropped > 0) {
      this.ctx.stats.droppedQueueFull += dropped;
      this.ctx.unreachable(this.peerId);
    }
    if (this.state === 'idle') this.connect();
    else if (this.state === 'open') this.ctx.requestFlush(this);
  }

  /** Writes queued messages as batches while the stream accepts them (gRPC backpressure). */
  flush(): void {
    const call = this.call;
    if (this.state !== 'open' || call === undefined) return;
    // Bounded: every write takes at least one message or stops at writesInFlightMax.
    while (
      this.queue.length > 0 &&
      !this.awaitingDrain &&
      this.writesInFlight < this.ctx.timing.writesInFlightMax
    ) {
      this.write(call, this.queue.take(this.ctx.limits.batchMessagesMax, this.ctx.limits.batchBytesMax));
    }
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.client.close();
    this.queue.clear();
  }

  private write(call: Call, items: readonly Outgoing[]): void {
    if (items.length === 0)
      throw new Error(`PeerLink ${this.peerId}: empty batch taken from a non-empty queue`);
    const request: PeerServiceStreamRequest = {
      batch: {
        fromNodeId: this.ctx.localId,
        clusterId: this.ctx.clusterId(),
        messages: items.map((it) => ({ groupId: it.groupId, message: it.wire })),
      },
    };
    this.writesInFlight++;
    const accepted = call.write(request, () => {
      if (this.call !== call) return; // a completion from a stream we already gave up on
      this.writesInFlight--;
      this.ctx.requestFlush(this);
    });
    this.ctx.stats.batchesSent++;
    this.ctx.stats.messagesSent += items.length;
    if (!accepted) {
      this.awaitingDrain = true;
      call.once('drain', () => {
        if (this.call !== call) return;
        this.awaitingDrain = false;
        this.ctx.requestFlush(this);
      });
    }
  }

  private connect(): void {
    if (this.state !== 'idle') throw new Error(`PeerLink ${this.peerId}: connect in state ${this.state}`);
    this.state = 'connecting';
    const md = new Metadata();
    md.set(HEADER_FROM, encodeURIComponent(this.ctx.localId));
    md.set(HEADER_TO, encodeURIComponent(this.peerId));
    md.set(HEADER_CLUSTER, encodeURIComponent(this.ctx.clusterId()));
    const call: Call = this.client.stream(md, (err: ServiceError | null) => this.onEnd(call, err));
    this.call = call;
    this.writesInFlight = 0;
    this.awaitingDrain = false;
    call.on('metadata', () => this.onOpen(call));
    // grpc-js reports failures through the callback; a listener keeps a stray 'error' from crashing us.
    call.on('error', (err: Error) =>
      this.ctx.logger.debug({ peer: this.peerId, err: err.message }, 'peer call error'),
    );
    this.timer = setTimeout(() => this.onConnectTimeout(call), this.ctx.timing.connectTimeoutMs);
    this.timer.unref();
  }

  private onOpen(call: Call): void {
    if (this.call !== call || this.state !== 'connecting') return;
    this.clearTimer();
    this.state = 'open';
    this.backoffMs = this.ctx.timing.backoffMinMs;
    if (this.lastFailure !== '') {
      this.ctx.logger.info({ peer: this.peerId, address: this.address }, 'peer stream open again');
      this.lastFailure = '';
    }
    this.ctx.requestFlush(this);
  }

  private onConnectTimeout(call: Call): void {
    if (this.call !== call || this.state !== 'connecting') return;
    this.fail(status.DEADLINE_EXCEEDED, `no answer within ${this.ctx.timing.connectTimeoutMs} ms`);
    call.cancel(); // its callback now finds this.call changed and is ignored
  }

  private onEnd(call: Call, err: ServiceError | null): void {
    if (this.call !== call) return;
    // We never end a stream ourselves while it is in use, so even a clean end is a failure here.
    this.fail(err?.code ?? status.OK, err?.details ?? 'stream ended by the receiver');
  }

  private fail(code: status, details: string): void {
    const wasOpen = this.state === 'open';
    this.call = undefined;
    this.clearTimer();
    this.ctx.stats.connectFailures++;
    this.ctx.stats.droppedUnreachable += this.queue.clear();
    this.ctx.unreachable(this.peerId);
    this.logFailure(code, details, wasOpen);
    // A refusal (another cluster, another node) will not heal by retrying fast.
    const delayMs = code === status.FAILED_PRECONDITION ? this.ctx.timing.backoffMaxMs : this.backoffMs;
    this.backoffMs = Math.min(this.ctx.timing.backoffMaxMs, this.backoffMs * 2);
    this.state = 'backoff';
    // ±20% jitter so that nodes restarted together do not reconnect in lockstep.
    this.timer = setTimeout(() => this.onBackoffEnd(), Math.round(delayMs * (0.8 + 0.4 * Math.random())));
    this.timer.unref();
  }

  private onBackoffEnd(): void {
    if (this.state !== 'backoff') return;
    this.timer = undefined;
    this.state = 'idle'; // the next send reconnects
  }

  private logFailure(code: status, details: string, wasOpen: boolean): void {
    const summary = `${status[code] ?? code}: ${details}`;
    const fields = { peer: this.peerId, address: this.address, code: status[code] ?? code, reason: details };
    if (summary === this.lastFailure) {
      this.ctx.logger.debug(fields, 'peer still unreachable');
    } else if (code === status.FAILED_PRECONDITION) {
      this.ctx.logger.error(fields, 'peer refused our stream');
    } else {
      this.ctx.logger.warn(fields, wasOpen ? 'peer stream broke' : 'peer unreachable');
    }
    this.lastFailure = summary;
  }

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
