// gRPC message framing on an HTTP/2 stream: each message is a 5-byte prefix (1 byte compressed
// flag, always 0 here; 4 bytes big-endian length) followed by the protobuf bytes. Sending: one
// PeerBatch is encoded once, straight into one Buffer that already holds its prefix. Receiving: a
// DATA chunk may hold part of a message or several; FrameParser cuts them incrementally, handing
// out views of the chunk when a message lies whole inside it and copying only a message that spans
// chunks (into one buffer of its announced size, which is checked against the bound first).
import type { BinaryWriter } from '@bufbuild/protobuf/wire';
import type { Message } from '../raft/types.ts';
import { PeerFrameError } from './errors.ts';
import { writeRaftMessage } from './wire-message.ts';

export const FRAME_PREFIX_BYTES = 5;
const PREFIX_PLACEHOLDER = new Uint8Array(FRAME_PREFIX_BYTES);
const EMPTY = Buffer.alloc(0);

/** What a batch write carries per message (a PeerLink's Outgoing satisfies it). */
export interface FrameItem {
  readonly groupId: number;
  readonly msg: Message;
}

/**
 * Encodes `PeerServiceStreamRequest { batch: PeerBatch { fromNodeId, clusterId, messages } }` with
 * its gRPC prefix into one Buffer, without building the request objects: the same bytes as the
 * generated encoder (tested), field tags from peer.proto.
 */
export function encodeBatchFrame(
  writer: BinaryWriter,
  fromNodeId: string,
  clusterId: string,
  items: readonly FrameItem[],
): Buffer {
  return encodeFrame(writer, (w) => {
    w.uint32(10).fork(); // PeerServiceStreamRequest.batch = 1
    if (fromNodeId !== '') w.uint32(10).string(fromNodeId); // PeerBatch.from_node_id = 1
    if (clusterId !== '') w.uint32(18).string(clusterId); // PeerBatch.cluster_id = 2
    for (const item of items) {
      w.uint32(26).fork(); // PeerBatch.messages = 3
      if (item.groupId !== 0) w.uint32(8).uint32(item.groupId); // GroupMessage.group_id = 1
      writeRaftMessage(w.uint32(18).fork(), item.msg); // GroupMessage.message = 2
      w.join(); // GroupMessage.message
      w.join(); // PeerBatch.messages
    }
    w.join();
  });
}

/**
 * One message behind its gRPC prefix, encoded with `writer` (which the caller may reuse): the
 * prefix is written first and its length filled in after, so the frame costs one exact-size copy
 * (the writer's finish) instead of encoding, then copying behind a prefix.
 */
export function encodeFrame(writer: BinaryWriter, encodeMessage: (w: BinaryWriter) => void): Buffer {
  writer.raw(PREFIX_PLACEHOLDER);
  encodeMessage(writer);
  const bytes = writer.finish();
  const frame = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  frame.writeUInt32BE(frame.byteLength - FRAME_PREFIX_BYTES, 1);
  return frame;
}

/** Wraps already-encoded protobuf bytes in a gRPC frame (for the rare, small messages). */
export function frameOf(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_PREFIX_BYTES + body.byteLength);
  frame[0] = 0;
  frame.writeUInt32BE(body.byteLength, 1);
  frame.set(body, FRAME_PREFIX_BYTES);
  return frame;
}

/**
 * Called with each complete message, in order; the Buffer may be a view of the received chunk,
 * valid until the call returns unless the receiver copies what it keeps (the codec does). Returns
 * false to stop parsing (the stream is being refused).
 */
export type MessageSink = (message: Buffer) => boolean;

/** Incremental gRPC frame parser for one stream; buffers at most one message of the bound. */
export class FrameParser {
  private readonly messageBytesMax: number;
  private readonly sink: MessageSink;
  private readonly prefix = Buffer.alloc(FRAME_PREFIX_BYTES);
  // Invariant: prefixFill > 0 only while body === undefined (a prefix split across chunks).
  private prefixFill = 0;
  /** The message being assembled from several chunks, allocated at its announced length. */
  private body: Buffer | undefined;
  private bodyFill = 0;
  /** Set once the sink returned false: everything after is ignored. */
  private stopped = false;

  constructor(messageBytesMax: number, sink: MessageSink) {
    if (!(Number.isSafeInteger(messageBytesMax) && messageBytesMax >= 0 && messageBytesMax <= 0xffff_ffff))
      throw new Error(`FrameParser: messageBytesMax must be a uint32, got ${messageBytesMax}`);
    this.messageBytesMax = messageBytesMax;
    this.sink = sink;
  }

  /** Bytes of an incomplete message held between chunks (at most prefix + messageBytesMax). */
  get bufferedBytes(): number {
    return this.body === undefined ? this.prefixFill : FRAME_PREFIX_BYTES + this.bodyFill;
  }

  /** Feeds one received chunk. Throws PeerFrameError for a length above the bound or a compressed message. */
  push(chunk: Buffer): void {
    const n = chunk.byteLength;
    let off = 0;
    // Bounded: every pass consumes at least one byte of the chunk, or the parser stops.
    while (off < n && !this.stopped) {
      if (this.body !== undefined) {
        off = this.fillBody(chunk, off);
        continue;
      }
      if (this.prefixFill === 0 && n - off >= FRAME_PREFIX_BYTES) {
        const length = this.checkPrefix(chunk[off] as number, chunk.readUInt32BE(off + 1));
        off += FRAME_PREFIX_BYTES;
        if (n - off >= length) {
          // The common case: the whole message lies in this chunk, hand out a view.
          const message = chunk.subarray(off, off + length);
          off += length;
          this.stopped = !this.sink(message);
        } else {
          this.startBody(length);
        }
        continue;
      }
      const take = Math.min(FRAME_PREFIX_BYTES - this.prefixFill, n - off);
      chunk.copy(this.prefix, this.prefixFill, off, off + take);
      this.prefixFill += take;
      off += take;
      if (this.prefixFill < FRAME_PREFIX_BYTES) continue;
      this.prefixFill = 0;
      const length = this.checkPrefix(this.prefix[0] as number, this.prefix.readUInt32BE(1));
      if (length === 0) {
        this.stopped = !this.sink(EMPTY);
      } else {
        this.startBody(length);
      }
    }
  }

  /** At the end of the stream: throws PeerFrameError when it stopped inside a message. */
  end(): void {
    if (this.stopped || this.bufferedBytes === 0) return;
    const detail =
      this.body === undefined
        ? `stream ended inside a message prefix (${this.prefixFill} of ${FRAME_PREFIX_BYTES} bytes)`
        : `stream ended inside a message (${this.bodyFill} of ${this.body.byteLength} bytes)`;
    throw new PeerFrameError('truncated', detail);
  }

  private startBody(length: number): void {
    this.body = Buffer.allocUnsafe(length);
    this.bodyFill = 0;
  }

  private fillBody(chunk: Buffer, off: number): number {
    const body = this.body as Buffer;
    const take = Math.min(body.byteLength - this.bodyFill, chunk.byteLength - off);
    chunk.copy(body, this.bodyFill, off, off + take);
    this.bodyFill += take;
    if (this.bodyFill === body.byteLength) {
      this.body = undefined;
      this.bodyFill = 0;
      this.stopped = !this.sink(body);
    }
    return off + take;
  }

  private checkPrefix(flag: number, length: number): number {
    if (flag !== 0 || length > this.messageBytesMax) this.stopped = true; // the stream is unusable
    if (flag !== 0) {
      throw new PeerFrameError('compressed', `compressed flag ${flag}: peer messages are never compressed`);
    }
    if (length > this.messageBytesMax) {
      throw new PeerFrameError(
        'tooLarge',
        `message of ${length} bytes announced, more than the bound of ${this.messageBytesMax}`,
      );
    }
    return length;
  }
}
