// The sending side towards one peer: its bounded queue and its one gRPC stream (a client stream of
// PeerService.Stream on its own HTTP/2 connection, written with node:http2), with reconnection.
//
// States: idle → (something to send) → connecting → (receiver's headers) → open → (stream breaks)
// → backoff → (timer) → idle. While connecting, messages queue (bounded); in backoff they are
// dropped at once: the peer is known to be unreachable, Raft resends, and a burst of stale
// messages after the reconnect would help nobody. Every failure tears the connection down; the
// next attempt opens a new one.
import http2 from 'node:http2';
import type { Message, NodeId } from '../raft/types.ts';
import { FRAME_PREFIX_BYTES } from './grpc-frames.ts';
import {
  decodeGrpcMessage,
  GrpcStatus,
  type GrpcStatusCode,
  parseStatus,
  statusName,
} from './grpc-status.ts';
import { HEADER_CLUSTER, HEADER_FROM, HEADER_TO } from './inbound.ts';
import { startKeepalive } from './keepalive.ts';
import type { TransportLogger } from './log.ts';
import { PeerQueue, type QueueItem } from './peer-queue.ts';
import { PEER_STREAM_PATH, sessionMemoryMb } from './peer-server.ts';
import { describeTlsFailure, type PeerTls } from './tls.ts';
import type { PeerTraffic, TransportLimits, TransportStats } from './transport.ts';

/** A message waiting for its stream write (encoded with its batch: wire-message.ts). */
export interface Outgoing extends QueueItem {
  readonly groupId: number;
  readonly msg: Message;
}

export interface LinkTiming {
  readonly connectTimeoutMs: number;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  /** Batches written to the stream whose write has not completed yet (our own flow control). */
  readonly writesInFlightMax: number;
  /** HTTP/2 PING period on every peer connection; two unanswered periods end it. */
  readonly keepaliveIntervalMs: number;
}

export interface LinkContext {
  readonly localId: NodeId;
  clusterId(): string;
  readonly limits: TransportLimits;
  readonly timing: LinkTiming;
  /** The bound on one gRPC message (one encoded PeerServiceStreamRequest), without its prefix. */
  readonly messageBytesMax: number;
  /** Encodes one batch into one Buffer, gRPC prefix included. */
  encodeBatch(items: readonly Outgoing[]): Buffer;
  readonly stats: TransportStats;
  readonly logger: TransportLogger;
  /** Reports (later, on the transport's flush) that messages to `peer` were lost. */
  unreachable(peer: NodeId): void;
  /** Asks for flush() on the transport's next flush (end of this event-loop turn). */
  requestFlush(link: PeerLink): void;
  /** Mutual TLS towards every peer (undefined: h2c). */
  readonly tls: PeerTls | undefined;
  /** The traffic record of a peer (undefined: not kept). */
  traffic?(peer: NodeId): PeerTraffic | undefined;
}

type LinkState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/** One connection attempt and its stream; replaced as a whole on every reconnect. */
interface Connection {
  readonly session: http2.ClientHttp2Session;
  readonly stream: http2.ClientHttp2Stream;
  /** Write completions and 'drain' of this stream (one closure per connection, not per write). */
  readonly onWritten: (err?: Error | null) => void;
  stopKeepalive: () => void;
}

export class PeerLink {
  readonly peerId: NodeId;
  readonly address: string;
  private readonly ctx: LinkContext;
  private readonly queue: PeerQueue<Outgoing>;
  private state: LinkState = 'idle';
  // Invariant: conn !== undefined exactly when state is 'connecting' or 'open'.
  private conn: Connection | undefined;
  // Invariant: 0 <= writesInFlight <= timing.writesInFlightMax; reset with each new connection.
  private writesInFlight = 0;
  private awaitingDrain = false;
  private backoffMs: number;
  private timer: NodeJS.Timeout | undefined;
  /** The last failure logged, so that the same failure repeating is logged once, not every retry. */
  private lastFailure = '';
  /** Bytes sent and the keepalive's round trip, for the metrics (looked up once, not per write). */
  private readonly traffic: PeerTraffic | undefined;

  constructor(peerId: NodeId, address: string, ctx: LinkContext) {
    this.peerId = peerId;
    this.address = address;
    this.ctx = ctx;
    this.traffic = ctx.traffic?.(peerId);
    this.queue = new PeerQueue({
      messagesMax: ctx.limits.queueMessagesMax,
      bytesMax: ctx.limits.queueBytesMax,
    });
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

  /** Writes queued messages as batches while the stream accepts them (HTTP/2 backpressure). */
  flush(): void {
    const conn = this.conn;
    if (this.state !== 'open' || conn === undefined) return;
    // Bounded: every write takes at least one message or stops at writesInFlightMax.
    while (
      this.queue.length > 0 &&
      !this.awaitingDrain &&
      this.writesInFlight < this.ctx.timing.writesInFlightMax &&
      this.conn === conn
    ) {
      this.write(conn, this.queue.take(this.ctx.limits.batchMessagesMax, this.ctx.limits.batchBytesMax));
    }
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
    this.dropConnection();
    this.queue.clear();
  }

  private write(conn: Connection, items: readonly Outgoing[]): void {
    if (items.length === 0)
      throw new Error(`PeerLink ${this.peerId}: empty batch taken from a non-empty queue`);
    const frame = this.ctx.encodeBatch(items);
    const sizeBytes = frame.byteLength - FRAME_PREFIX_BYTES;
    if (sizeBytes > this.ctx.messageBytesMax) {
      // The receiver would refuse it and the stream with it; the size bounds on send() should
      // make this impossible, so it is logged as an error.
      this.ctx.stats.droppedTooLarge += items.length;
      this.ctx.logger.error(
        { peer: this.peerId, sizeBytes, messageBytesMax: this.ctx.messageBytesMax, messages: items.length },
        'dropped a batch larger than a gRPC message may be',
      );
      return;
    }
    this.writesInFlight++;
    this.ctx.stats.batchesSent++;
    this.ctx.stats.messagesSent += items.length;
    if (this.traffic !== undefined) this.traffic.bytesSent += frame.byteLength;
    if (!conn.stream.write(frame, conn.onWritten)) this.awaitingDrain = true;
  }

  private connect(): void {
    if (this.state !== 'idle') throw new Error(`PeerLink ${this.peerId}: connect in state ${this.state}`);
    this.state = 'connecting';
    this.writesInFlight = 0;
    this.awaitingDrain = false;
    let conn: Connection;
    try {
      conn = this.openConnection();
    } catch (err) {
      // A malformed address: http2.connect or request threw before any socket work.
      this.fail(GrpcStatus.UNAVAILABLE, `cannot connect to ${this.address}: ${String(err)}`);
      return;
    }
    this.conn = conn;
    this.timer = setTimeout(() => this.onConnectTimeout(conn), this.ctx.timing.connectTimeoutMs);
    this.timer.unref();
  }

  private openConnection(): Connection {
    const tls = this.ctx.tls;
    const session =
      tls === undefined
        ? http2.connect(`http://${this.address}`, {
            maxSessionMemory: sessionMemoryMb(this.ctx.messageBytesMax),
          })
        : // The peer's certificate must chain to the CA and name the host dialled (checked by node:tls).
          http2.connect(`https://${this.address}`, {
            maxSessionMemory: sessionMemoryMb(this.ctx.messageBytesMax),
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
          });
    session.on('error', () => {}); // followed by 'close', which reports it
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(
        {
          ':method': 'POST',
          ':path': PEER_STREAM_PATH,
          'content-type': 'application/grpc',
          te: 'trailers',
          [HEADER_FROM]: encodeURIComponent(this.ctx.localId),
          [HEADER_TO]: encodeURIComponent(this.peerId),
          [HEADER_CLUSTER]: encodeURIComponent(this.ctx.clusterId()),
        },
        { endStream: false },
      );
    } catch (err) {
      session.destroy();
      throw err;
    }
    const conn: Connection = {
      session,
      stream,
      onWritten: () => this.onWritten(conn),
      stopKeepalive: () => {},
    };
    this.listen(conn);
    return conn;
  }

  private listen(conn: Connection): void {
    const { session, stream } = conn;
    let lastError = '';
    session.on('close', () => this.onBroken(conn, GrpcStatus.UNAVAILABLE, lastError || 'connection closed'));
    session.on('error', (err: Error) => {
      lastError = this.ctx.tls === undefined ? err.message : tlsAware(err);
    });
    stream.on('error', (err: Error) => {
      // A failed handshake cancels the pending stream: the reason is its cause.
      const cause = err.cause instanceof Error ? err.cause : undefined;
      lastError = this.ctx.tls !== undefined && cause !== undefined ? tlsAware(cause) : err.message;
      this.ctx.logger.debug({ peer: this.peerId, err: err.message }, 'peer stream error');
    });
    stream.on('response', (headers) => this.onResponse(conn, headers));
    stream.on('trailers', (trailers) =>
      this.onBroken(conn, parseStatus(trailers['grpc-status']), decodeGrpcMessage(trailers['grpc-message'])),
    );
    stream.on('close', () => this.onBroken(conn, GrpcStatus.UNAVAILABLE, lastError || 'stream closed'));
    stream.on('drain', () => {
      if (this.conn !== conn) return;
      this.awaitingDrain = false;
      if (this.queue.length > 0) this.ctx.requestFlush(this);
    });
    stream.resume(); // the receiver's one response message (at the end) is not needed
  }

  private onResponse(conn: Connection, headers: http2.IncomingHttpHeaders): void {
    if (headers['grpc-status'] !== undefined) {
      // Trailers-only: the receiver refused the stream before accepting it.
      this.onBroken(conn, parseStatus(headers['grpc-status']), decodeGrpcMessage(headers['grpc-message']));
      return;
    }
    const httpStatus = headers[':status'];
    if (Number(httpStatus) !== 200) {
      this.onBroken(conn, GrpcStatus.UNKNOWN, `the receiver answered HTTP status ${httpStatus}`);
      return;
    }
    this.onOpen(conn);
  }

  private onWritten(conn: Connection): void {
    if (this.conn !== conn) return; // a completion from a connection we already gave up on
    this.writesInFlight--;
    // Only a backlog needs another flush; an idle link would schedule an empty turn per write.
    if (this.queue.length > 0) this.ctx.requestFlush(this);
  }

  private onOpen(conn: Connection): void {
    if (this.conn !== conn || this.state !== 'connecting') return;
    this.clearTimer();
    this.state = 'open';
    this.backoffMs = this.ctx.timing.backoffMinMs;
    const traffic = this.traffic;
    conn.stopKeepalive = startKeepalive(
      conn.session,
      this.ctx.timing.keepaliveIntervalMs,
      (reason) => this.onBroken(conn, GrpcStatus.UNAVAILABLE, reason),
      traffic === undefined
        ? undefined
        : (ms) => {
            traffic.rttMs = ms;
          },
    );
    if (this.lastFailure !== '') {
      this.ctx.logger.info({ peer: this.peerId, address: this.address }, 'peer stream open again');
      this.lastFailure = '';
    }
    this.ctx.requestFlush(this);
  }

  private onConnectTimeout(conn: Connection): void {
    if (this.conn !== conn || this.state !== 'connecting') return;
    this.fail(GrpcStatus.DEADLINE_EXCEEDED, `no answer within ${this.ctx.timing.connectTimeoutMs} ms`);
  }

  private onBroken(conn: Connection, code: GrpcStatusCode, details: string): void {
    if (this.conn !== conn) return;
    // We never end a stream ourselves while it is in use, so even a clean end is a failure here.
    this.fail(code, code === GrpcStatus.OK ? 'stream ended by the receiver' : details);
  }

  /** Tears the current connection down; its late events find this.conn changed and are ignored. */
  private dropConnection(): void {
    const conn = this.conn;
    this.conn = undefined;
    if (conn === undefined) return;
    conn.stopKeepalive();
    conn.session.destroy();
  }

  private fail(code: GrpcStatusCode, details: string): void {
    const wasOpen = this.state === 'open';
    this.dropConnection();
    this.clearTimer();
    this.ctx.stats.connectFailures++;
    this.ctx.stats.droppedUnreachable += this.queue.clear();
    this.ctx.unreachable(this.peerId);
    this.logFailure(code, details, wasOpen);
    // A refusal (another cluster, another node) will not heal by retrying fast.
    const delayMs = code === GrpcStatus.FAILED_PRECONDITION ? this.ctx.timing.backoffMaxMs : this.backoffMs;
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

  private logFailure(code: GrpcStatusCode, details: string, wasOpen: boolean): void {
    const name = statusName(code);
    const summary = `${name}: ${details}`;
    const fields = { peer: this.peerId, address: this.address, code: name, reason: details };
    if (summary === this.lastFailure) {
      this.ctx.logger.debug(fields, 'peer still unreachable');
    } else if (code === GrpcStatus.FAILED_PRECONDITION) {
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

/** A connection error under TLS: a failed handshake said plainly, anything else as it came. */
function tlsAware(err: Error & { code?: string }): string {
  const code = err.code ?? '';
  const tlsish =
    code.startsWith('ERR_SSL') ||
    code.startsWith('ERR_TLS') ||
    /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME/.test(code) ||
    /SSL routines|certificate/i.test(err.message);
  return tlsish ? `TLS: ${describeTlsFailure(err)}` : err.message;
}
