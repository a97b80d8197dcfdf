// The server side of one HTTP/2 connection (RFC 9113), as much of it as a gRPC server needs: streams
// opened by the client, their request bodies, and answers of headers, data and trailers. Written
// by hand instead of node:http2 because node:http2 costs 25–37 µs of CPU per unary call here
// (a JS stream object per call with its listeners, header objects converted both ways, the answer's
// trailers one loop iteration after its message), where reading and writing the frames costs 3–4.
//
// Contract:
// - Concurrency: one socket, one event loop; every callback runs from the socket's 'data' (or
//   'close') handler, or (onClosed's) in a microtask after the call that closed the stream; never
//   from inside a method the listener calls.
// - Ordering: frames are written in the order the methods are called; what is written in one
//   synchronous run (a turn that answers many calls) leaves in one socket write (the socket is
//   corked until the next tick).
// - Flow control: request bodies are consumed as they arrive (windows reopened at once, the
//   connection's once half is used); answers respect the client's windows, the data beyond them
//   queued per stream, trailers after it.
// - Bounds: open streams (MAX_STREAMS: beyond, a stream is refused), a header block
//   (MAX_HEADER_BLOCK_BYTES), the header list (HpackDecoder), the client's stream resets (a token
//   bucket), what waits unwritten on the socket (beyond OUTBOUND_BYTES_HIGH the socket is no longer
//   read until it drains).
// - Errors: a protocol error ends the connection with GOAWAY and its code; a stream error resets
//   only that stream. Garbage instead of the preface ends the connection without a word.
import type { Duplex } from 'node:stream';
import {
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_WINDOW_BYTES,
  ErrorCode,
  Flag,
  FRAME_HEADER_BYTES,
  FrameType,
  frame,
  goAwayFrame,
  MAX_WINDOW_BYTES,
  PREFACE,
  rstStreamFrame,
  SETTINGS_ACK,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames.ts';
import { HpackDecoder, HpackError } from './hpack.ts';

/** Streams open at once on one connection; the client is told (SETTINGS_MAX_CONCURRENT_STREAMS). */
export const MAX_STREAMS = 10_000;
/** Our receive window per stream, and the connection's. */
export const STREAM_WINDOW_BYTES = 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** A header block with its CONTINUATIONs, compressed. */
const MAX_HEADER_BLOCK_BYTES = 128 * 1024;
const MAX_HEADER_LIST_BYTES = 64 * 1024;
/** Unwritten bytes on the socket beyond which it is not read until it drains. */
const OUTBOUND_BYTES_HIGH = 16 * 1024 * 1024;

export interface ResetBudget {
  /** Stream resets a client may send at once, refilled at `perSecond`; beyond, the connection ends. */
  readonly burst: number;
  readonly perSecond: number;
}

export interface ConnectionHandlers {
  /** A stream opened: its request headers, flat (name, value, …). `endStream`: no body follows. */
  onStream(stream: H2ServerStream, fields: readonly string[], endStream: boolean): void;
  /** The connection ended (cleanly or not); every open stream was closed first. */
  onClose?(): void;
}

/** One stream, the handler's side: its body as it arrives, and the answer. */
export class H2ServerStream {
  readonly id: number;
  /** A chunk of the request body (a copy). */
  onData: ((chunk: Buffer) => void) | undefined = undefined;
  /** The request body ended. */
  onEnd: (() => void) | undefined = undefined;
  /** The stream closed before the answer ended: reset by the client, or the connection lost. */
  onAbort: (() => void) | undefined = undefined;
  /** Gone from the connection: answered in full, reset by either side, or the connection lost. */
  closed = false;
  /** Who onClosed() asked to be told (made on first use: most streams have none). */
  private closeListeners: (() => void)[] | undefined = undefined;
  /** The request body ended (half-closed remote). */
  remoteEnded = false;
  /** Our side ended (trailers sent or queued) or the stream was reset: nothing more is sent. */
  localEnded = false;
  /** Headers sent. */
  responded = false;
  /** Flow control: bytes the client still lets us send on this stream. */
  sendWindow: number;
  /** Data (and the trailers after it) waiting for the window, in order. */
  queued: Buffer[] = [];
  queuedBytes = 0;
  trailersQueued: Buffer | undefined = undefined;
  /** Request body bytes received since this stream's window was last reopened. */
  unacked = 0;
  private readonly conn: H2ServerConnection;

  constructor(conn: H2ServerConnection, id: number, sendWindow: number) {
    this.conn = conn;
    this.id = id;
    this.sendWindow = sendWindow;
  }

  /** Runs `fn` once when the stream closes for any reason (at once, in a microtask, if it has). */
  onClosed(fn: () => void): void {
    if (this.closed) queueMicrotask(fn);
    else if (this.closeListeners === undefined) this.closeListeners = [fn];
    else this.closeListeners.push(fn);
  }

  /** @internal The connection's, when it lets go of this stream. */
  markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    const fns = this.closeListeners;
    this.closeListeners = undefined;
    // Later, never from inside the call that closed it (an answer's end, say): the contract above.
    if (fns !== undefined) queueMicrotask(() => runAll(fns));
  }

  /** Whether the answer can still be written. */
  get writable(): boolean {
    return !this.localEnded && !this.conn.destroyed;
  }

  /**
   * A whole unary answer: `headerBlock`, the length-prefixed `message`, then `trailerBlock`
   * (HPACK blocks, e.g. built once by the listener).
   */
  respondUnary(headerBlock: Buffer, message: Uint8Array, trailerBlock: Buffer): void {
    if (!this.writable || this.responded) return;
    if (this.conn.writeUnary(this, headerBlock, message, trailerBlock)) return;
    this.sendHeaders(headerBlock);
    this.sendData(message);
    this.end(trailerBlock);
  }

  /** The response headers (once). */
  sendHeaders(block: Buffer): void {
    if (!this.writable || this.responded) return;
    this.responded = true;
    this.conn.writeHeaders(this.id, block, false);
  }

  /** Body bytes; returns false if they wait for the client's window (queuedBytes says how many wait). */
  sendData(data: Uint8Array): boolean {
    if (!this.writable) return false;
    return this.conn.writeData(this, data);
  }

  /** Trailers, ending the stream (after any data still queued). */
  end(trailerBlock: Buffer): void {
    if (!this.writable) return;
    this.localEnded = true;
    if (this.queuedBytes > 0) {
      this.trailersQueued = trailerBlock;
      return;
    }
    this.conn.writeHeaders(this.id, trailerBlock, true);
    this.conn.localEnd(this);
  }

  /** A trailers-only answer: one HEADERS frame that ends the stream. */
  endTrailersOnly(block: Buffer): void {
    if (!this.writable || this.responded) return;
    this.responded = true;
    this.localEnded = true;
    this.conn.writeHeaders(this.id, block, true);
    this.conn.localEnd(this);
  }
}

type Phase = 'preface' | 'settings' | 'frames' | 'closed';

export class H2ServerConnection {
  private readonly socket: Duplex;
  private readonly h: ConnectionHandlers;
  private readonly hpack = new HpackDecoder(4096, MAX_HEADER_LIST_BYTES);
  private readonly streams = new Map<number, H2ServerStream>();
  /** Streams with data waiting for a window, in the order they blocked. */
  private readonly blocked = new Set<H2ServerStream>();
  private phase: Phase = 'preface';
  private pending: Buffer | undefined;
  private lastStreamId = 0;
  /** GOAWAY sent: no stream above `lastStreamId` is accepted; the socket ends when none is open. */
  private goingAway = false;
  destroyed = false;
  // The client's settings as they bear on what we send.
  private peerInitialWindow = DEFAULT_WINDOW_BYTES;
  private peerMaxFrame = DEFAULT_MAX_FRAME_BYTES;
  private sendWindow = DEFAULT_WINDOW_BYTES;
  /** Request body bytes received on the connection since its window was last reopened. */
  private connUnacked = 0;
  // A header block being assembled from HEADERS and CONTINUATION frames.
  private blockStream = 0;
  private blockEndStream = false;
  private blockParts: Buffer[] = [];
  private blockBytes = 0;
  private corked = false;
  private closeReported = false;
  private readonly fields: string[] = [];
  private resetTokens: number;
  private resetRefilledAt = Date.now();
  private readonly resets: ResetBudget;

  constructor(socket: Duplex, handlers: ConnectionHandlers, resets: ResetBudget) {
    this.socket = socket;
    this.h = handlers;
    this.resets = resets;
    this.resetTokens = resets.burst;
    const settings = new Map<Setting, number>([
      [Setting.MaxConcurrentStreams, MAX_STREAMS],
      [Setting.InitialWindowSize, STREAM_WINDOW_BYTES],
      [Setting.MaxHeaderListSize, MAX_HEADER_LIST_BYTES],
      [Setting.EnablePush, 0],
    ]);
    this.write(settingsFrame(settings));
    this.write(windowUpdateFrame(0, CONNECTION_WINDOW_BYTES - DEFAULT_WINDOW_BYTES));
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('drain', () => {
      if (!this.destroyed) this.socket.resume();
    });
    socket.on('error', () => {}); // 'close' follows
    socket.on('close', () => this.onSocketClose());
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  isOpen(s: H2ServerStream): boolean {
    return this.streams.get(s.id) === s;
  }

  /** Stops accepting streams (GOAWAY); the connection ends once the open ones have. */
  close(): void {
    if (this.destroyed || this.goingAway) return;
    this.goingAway = true;
    this.write(goAwayFrame(this.lastStreamId, ErrorCode.NoError));
    this.endIfIdle();
  }

  /** Ends the connection at once; open streams are aborted. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.socket.destroy();
  }

  // ---- receiving ----

  private onSocketData(chunk: Buffer): void {
    if (this.destroyed) return;
    const b = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    let at = 0;
    if (this.phase === 'preface') {
      const n = Math.min(b.length, PREFACE.length);
      if (b.compare(PREFACE, 0, n, 0, n) !== 0) {
        this.destroy(); // not HTTP/2 (garbage, or HTTP/1): costs only this connection
        return;
      }
      if (b.length < PREFACE.length) {
        this.pending = b;
        return;
      }
      at = PREFACE.length;
      this.phase = 'settings';
    }
    while (b.length - at >= FRAME_HEADER_BYTES && !this.destroyed) {
      const length = (b[at] as number) * 65536 + (b[at + 1] as number) * 256 + (b[at + 2] as number);
      if (length > DEFAULT_MAX_FRAME_BYTES) {
        this.fail(ErrorCode.FrameSizeError, `frame of ${length} bytes`);
        return;
      }
      if (b.length - at < FRAME_HEADER_BYTES + length) break;
      const type = b[at + 3] as number;
      const flags = b[at + 4] as number;
      const stream = b.readUInt32BE(at + 5) & 0x7fffffff;
      const start = at + FRAME_HEADER_BYTES;
      at = start + length;
      this.onFrame(type, flags, stream, b, start, at);
    }
    if (this.destroyed) return;
    // A frame cut by the chunk's end waits for the next, copied (at most one frame: the socket's
    // chunk is not kept for it).
    if (at < b.length) this.pending = Buffer.from(b.subarray(at));
    this.reopenConnectionWindow();
  }

  private onFrame(type: number, flags: number, stream: number, b: Buffer, start: number, end: number): void {
    if (this.phase === 'settings') {
      if (type !== FrameType.Settings || (flags & Flag.Ack) !== 0) {
        this.fail(ErrorCode.ProtocolError, 'the client preface must start with SETTINGS');
        return;
      }
      this.phase = 'frames';
    }
    if (this.blockStream !== 0 && type !== FrameType.Continuation) {
      this.fail(ErrorCode.ProtocolError, 'a header block interrupted');
      return;
    }
    switch (type) {
      case FrameType.Data:
        this.onData(flags, stream, b, start, end);
        return;
      case FrameType.Headers:
        this.onHeaders(flags, stream, b, start, end);
        return;
      case FrameType.Continuation:
        this.onContinuation(flags, stream, b, start, end);
        return;
      case FrameType.RstStream:
        this.onRstStream(stream, end - start);
        return;
      case FrameType.Settings:
        this.onSettings(flags, stream, b, start, end);
        return;
      case FrameType.Ping:
        if (stream !== 0 || end - start !== 8) {
          this.fail(ErrorCode.ProtocolError, 'a malformed PING');
          return;
        }
        if ((flags & Flag.Ack) === 0) this.write(frame(FrameType.Ping, Flag.Ack, 0, b.subarray(start, end)));
        return;
      case FrameType.GoAway:
        // The client ends the connection: the streams it opened still get their answers.
        this.goingAway = true;
        this.endIfIdle();
        return;
      case FrameType.WindowUpdate:
        this.onWindowUpdate(stream, b, start, end);
        return;
      case FrameType.PushPromise:
        this.fail(ErrorCode.ProtocolError, 'PUSH_PROMISE from a client');
        return;
      default:
        return; // PRIORITY, and types unknown to us: ignored (RFC 9113, 4.1 and 5.3.2)
    }
  }

  private onHeaders(flags: number, stream: number, b: Buffer, start: number, end: number): void {
    if (stream === 0 || stream % 2 === 0) {
      this.fail(ErrorCode.ProtocolError, `HEADERS on stream ${stream}`);
      return;
    }
    let from = start;
    let to = end;
    if ((flags & Flag.Padded) !== 0) {
      const pad = b[from] as number;
      from += 1;
      to -= pad;
    }
    if ((flags & Flag.Priority) !== 0) from += 5;
    if (from > to) {
      this.fail(ErrorCode.ProtocolError, 'HEADERS padding beyond the frame');
      return;
    }
    this.blockStream = stream;
    this.blockEndStream = (flags & Flag.EndStream) !== 0;
    this.blockParts = [b.subarray(from, to)];
    this.blockBytes = to - from;
    if ((flags & Flag.EndHeaders) !== 0) this.onHeaderBlock();
    else this.blockParts = [Buffer.from(b.subarray(from, to))]; // the socket chunk is not kept
  }

  private onContinuation(flags: number, stream: number, b: Buffer, start: number, end: number): void {
    if (this.blockStream === 0 || stream !== this.blockStream) {
      this.fail(ErrorCode.ProtocolError, 'CONTINUATION without a header block');
      return;
    }
    this.blockBytes += end - start;
    if (this.blockBytes > MAX_HEADER_BLOCK_BYTES) {
      this.fail(ErrorCode.EnhanceYourCalm, `header block above ${MAX_HEADER_BLOCK_BYTES} bytes`);
      return;
    }
    this.blockParts.push(Buffer.from(b.subarray(start, end)));
    if ((flags & Flag.EndHeaders) !== 0) this.onHeaderBlock();
  }

  private onHeaderBlock(): void {
    const id = this.blockStream;
    const endStream = this.blockEndStream;
    const block =
      this.blockParts.length === 1 ? (this.blockParts[0] as Buffer) : Buffer.concat(this.blockParts);
    this.blockStream = 0;
    this.blockParts = [];
    const fields = this.fields;
    fields.length = 0;
    let fits: boolean;
    try {
      fits = this.hpack.decode(block, 0, block.length, fields);
    } catch (e) {
      if (!(e instanceof HpackError)) throw e;
      this.fail(ErrorCode.CompressionError, e.message);
      return;
    }
    const open = this.streams.get(id);
    if (open !== undefined) {
      // Trailers of the request: gRPC clients send none; they end the body all the same.
      if (!endStream) {
        this.resetStream(open, ErrorCode.ProtocolError);
        return;
      }
      this.remoteEnd(open);
      return;
    }
    // A stream already answered and forgotten (its trailers, say), or refused: the block was
    // decoded for the table's sake; nothing else to do.
    if (id <= this.lastStreamId) return;
    this.lastStreamIdSeen(id);
    if (this.goingAway || this.streams.size >= MAX_STREAMS || !fits) {
      this.write(rstStreamFrame(id, ErrorCode.RefusedStream));
      return;
    }
    const s = new H2ServerStream(this, id, this.peerInitialWindow);
    this.streams.set(id, s);
    s.remoteEnded = endStream;
    this.h.onStream(s, fields.slice(), endStream);
    if (endStream && this.isOpen(s)) s.onEnd?.();
  }

  private lastStreamIdSeen(id: number): void {
    if (!this.goingAway) this.lastStreamId = id;
  }

  private onData(flags: number, stream: number, b: Buffer, start: number, end: number): void {
    const length = end - start;
    this.connUnacked += length; // the whole frame counts against the windows, padding included
    if (this.connUnacked > CONNECTION_WINDOW_BYTES) {
      this.fail(ErrorCode.FlowControlError, 'the connection window overrun');
      return;
    }
    const s = this.streams.get(stream);
    if (s === undefined || s.remoteEnded) {
      if (stream === 0 || stream > this.lastStreamId)
        this.fail(ErrorCode.ProtocolError, `DATA on idle stream ${stream}`);
      return; // a stream we closed: its data still counted for the connection
    }
    s.unacked += length;
    if (s.unacked > STREAM_WINDOW_BYTES) {
      this.resetStream(s, ErrorCode.FlowControlError);
      return;
    }
    let from = start;
    let to = end;
    if ((flags & Flag.Padded) !== 0) {
      from += 1;
      to -= length > 0 ? (b[start] as number) : 1;
      if (from > to) {
        this.fail(ErrorCode.ProtocolError, 'DATA padding beyond the frame');
        return;
      }
    }
    if (to > from) s.onData?.(Buffer.from(b.subarray(from, to)));
    if (!this.isOpen(s)) return;
    if ((flags & Flag.EndStream) !== 0) this.remoteEnd(s);
    else if (s.unacked >= STREAM_WINDOW_BYTES / 2) {
      // A large request body: its stream's window reopened (a small one ends well before).
      this.write(windowUpdateFrame(s.id, s.unacked));
      s.unacked = 0;
    }
  }

  private remoteEnd(s: H2ServerStream): void {
    s.remoteEnded = true;
    s.onEnd?.();
  }

  private onRstStream(stream: number, length: number): void {
    if (length !== 4 || stream === 0) {
      this.fail(ErrorCode.ProtocolError, 'a malformed RST_STREAM');
      return;
    }
    const now = Date.now();
    this.resetTokens = Math.min(
      this.resets.burst,
      this.resetTokens + ((now - this.resetRefilledAt) / 1000) * this.resets.perSecond,
    );
    this.resetRefilledAt = now;
    if (--this.resetTokens < 0) {
      this.fail(ErrorCode.EnhanceYourCalm, 'too many stream resets');
      return;
    }
    const s = this.streams.get(stream);
    if (s === undefined) return;
    s.localEnded = true;
    s.onAbort?.();
    this.forget(s);
  }

  private onSettings(flags: number, stream: number, b: Buffer, start: number, end: number): void {
    if (stream !== 0 || (end - start) % 6 !== 0) {
      this.fail(ErrorCode.ProtocolError, 'a malformed SETTINGS');
      return;
    }
    if ((flags & Flag.Ack) !== 0) return;
    for (let at = start; at < end; at += 6) {
      const id = b.readUInt16BE(at);
      const value = b.readUInt32BE(at + 2);
      if (id === Setting.InitialWindowSize) {
        if (value > MAX_WINDOW_BYTES) {
          this.fail(ErrorCode.FlowControlError, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          return;
        }
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.values()) s.sendWindow += delta;
      } else if (id === Setting.MaxFrameSize) {
        if (value < DEFAULT_MAX_FRAME_BYTES || value > 16_777_215) {
          this.fail(ErrorCode.ProtocolError, `SETTINGS_MAX_FRAME_SIZE ${value}`);
          return;
        }
        this.peerMaxFrame = value;
      }
      // Header table size: we never index what we send. Push, concurrency, list size: not ours to use.
    }
    this.write(SETTINGS_ACK);
    this.drainBlocked();
  }

  private onWindowUpdate(stream: number, b: Buffer, start: number, end: number): void {
    if (end - start !== 4) {
      this.fail(ErrorCode.FrameSizeError, 'a malformed WINDOW_UPDATE');
      return;
    }
    const increment = b.readUInt32BE(start) & 0x7fffffff;
    if (stream === 0) {
      if (increment === 0 || this.sendWindow + increment > MAX_WINDOW_BYTES) {
        this.fail(ErrorCode.FlowControlError, 'a bad connection WINDOW_UPDATE');
        return;
      }
      this.sendWindow += increment;
    } else {
      const s = this.streams.get(stream);
      if (s === undefined) return;
      if (increment === 0 || s.sendWindow + increment > MAX_WINDOW_BYTES) {
        this.resetStream(s, ErrorCode.FlowControlError);
        return;
      }
      s.sendWindow += increment;
    }
    this.drainBlocked();
  }

  /** Reopens the connection's window for what was received, once half of it is used. */
  private reopenConnectionWindow(): void {
    if (this.connUnacked >= CONNECTION_WINDOW_BYTES / 2) {
      this.write(windowUpdateFrame(0, this.connUnacked));
      this.connUnacked = 0;
    }
  }

  // ---- sending ----

  /** @internal H2ServerStream's. */
  writeHeaders(id: number, block: Buffer, endStream: boolean): void {
    const max = this.peerMaxFrame;
    let flags = endStream ? Flag.EndStream : 0;
    if (block.length <= max) {
      const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + block.length);
      writeFrameHeader(b, 0, block.length, FrameType.Headers, flags | Flag.EndHeaders, id);
      block.copy(b, FRAME_HEADER_BYTES);
      this.write(b);
      return;
    }
    for (let at = 0; at < block.length; at += max) {
      const part = block.subarray(at, at + max);
      const last = at + max >= block.length;
      const type = at === 0 ? FrameType.Headers : FrameType.Continuation;
      this.write(frame(type, flags | (last ? Flag.EndHeaders : 0), id, part));
      flags = 0;
    }
  }

  /**
   * @internal H2ServerStream's: a whole answer in one buffer, if its message fits one frame and
   * the windows; false (nothing written) otherwise.
   */
  writeUnary(s: H2ServerStream, headers: Buffer, message: Uint8Array, trailers: Buffer): boolean {
    const n = message.byteLength;
    const max = this.peerMaxFrame;
    if (n > max || n > this.sendWindow || n > s.sendWindow || headers.length > max || trailers.length > max)
      return false;
    const b = Buffer.allocUnsafe(3 * FRAME_HEADER_BYTES + headers.length + n + trailers.length);
    let at = 0;
    writeFrameHeader(b, at, headers.length, FrameType.Headers, Flag.EndHeaders, s.id);
    at += FRAME_HEADER_BYTES;
    headers.copy(b, at);
    at += headers.length;
    writeFrameHeader(b, at, n, FrameType.Data, 0, s.id);
    at += FRAME_HEADER_BYTES;
    b.set(message, at);
    at += n;
    writeFrameHeader(b, at, trailers.length, FrameType.Headers, Flag.EndHeaders | Flag.EndStream, s.id);
    trailers.copy(b, at + FRAME_HEADER_BYTES);
    this.sendWindow -= n;
    s.sendWindow -= n;
    s.responded = true;
    s.localEnded = true;
    this.write(b);
    this.localEnd(s);
    return true;
  }

  /** @internal H2ServerStream's: data within the windows now, the rest queued. */
  writeData(s: H2ServerStream, data: Uint8Array): boolean {
    if (s.queuedBytes > 0) {
      s.queued.push(Buffer.from(data));
      s.queuedBytes += data.byteLength;
      return false;
    }
    const sent = this.sendWithinWindows(s, data);
    if (sent === data.byteLength) return true;
    const rest = Buffer.from(data.subarray(sent));
    s.queued.push(rest);
    s.queuedBytes += rest.length;
    this.blocked.add(s);
    return false;
  }

  /** Sends what the windows allow of `data` as DATA frames; returns the bytes sent. */
  private sendWithinWindows(s: H2ServerStream, data: Uint8Array): number {
    let sent = 0;
    while (sent < data.byteLength) {
      const n = Math.min(data.byteLength - sent, this.peerMaxFrame, this.sendWindow, s.sendWindow);
      if (n <= 0) break;
      const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + n);
      writeFrameHeader(b, 0, n, FrameType.Data, 0, s.id);
      b.set(data.subarray(sent, sent + n), FRAME_HEADER_BYTES);
      this.write(b);
      sent += n;
      this.sendWindow -= n;
      s.sendWindow -= n;
    }
    return sent;
  }

  private drainBlocked(): void {
    for (const s of this.blocked) {
      if (this.sendWindow <= 0) return;
      while (s.queued.length > 0) {
        const head = s.queued[0] as Buffer;
        const sent = this.sendWithinWindows(s, head);
        s.queuedBytes -= sent;
        if (sent < head.length) {
          s.queued[0] = head.subarray(sent);
          break;
        }
        s.queued.shift();
      }
      if (s.queued.length > 0) continue;
      this.blocked.delete(s);
      if (s.trailersQueued !== undefined) {
        const t = s.trailersQueued;
        s.trailersQueued = undefined;
        this.writeHeaders(s.id, t, true);
        this.localEnd(s);
      }
    }
  }

  /** @internal Our side of `s` ended: once the client's has too, the stream is gone. */
  localEnd(s: H2ServerStream): void {
    if (!s.remoteEnded) {
      // The answer is complete before the request: the client need not send the rest.
      this.write(rstStreamFrame(s.id, ErrorCode.NoError));
    }
    this.forget(s);
  }

  /** @internal */
  resetStream(s: H2ServerStream, code: ErrorCode): void {
    this.write(rstStreamFrame(s.id, code));
    s.localEnded = true;
    s.onAbort?.();
    this.forget(s);
  }

  private forget(s: H2ServerStream): void {
    this.streams.delete(s.id);
    this.blocked.delete(s);
    s.queued = [];
    s.queuedBytes = 0;
    s.markClosed();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goingAway && this.streams.size === 0 && !this.destroyed) {
      this.destroyed = true;
      this.socket.end();
    }
  }

  private write(b: Buffer): void {
    if (this.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(uncork, this);
    }
    if (!this.socket.write(b) && this.socket.writableLength > OUTBOUND_BYTES_HIGH) this.socket.pause();
  }

  /** @internal */
  uncorkNow(): void {
    this.corked = false;
    this.socket.uncork();
  }

  private fail(code: ErrorCode, why: string): void {
    if (this.destroyed) return;
    this.write(goAwayFrame(this.lastStreamId, code, why));
    this.destroyed = true;
    this.socket.end();
    this.onSocketClose();
  }

  private onSocketClose(): void {
    this.destroyed = true;
    this.phase = 'closed';
    const open = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const s of open) {
      s.localEnded = true;
      s.onAbort?.();
      s.markClosed();
    }
    if (this.closeReported) return;
    this.closeReported = true;
    this.h.onClose?.();
  }
}

function runAll(fns: readonly (() => void)[]): void {
  for (const fn of fns) fn();
}

function uncork(c: H2ServerConnection): void {
  c.uncorkNow();
}
