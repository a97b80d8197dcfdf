// The wire between the client-API worker thread and the node's thread: requests and replies packed
// into one ArrayBuffer per batch, transferred (not cloned) by postMessage. Why batches: a message
// between threads costs tens of µs of wake-ups and bookkeeping, and under load dozens of requests
// arrive in one read; one message per batch keeps that cost per batch, not per request.
//
//   request: u32 id | u16 path index | u8 flags (bit 0: forwarded) | f64 deadline ms | u32 n | n bytes
//   reply:   u32 id | u32 gRPC code | u32 n | n bytes (code 0: the response message behind its
//            5-byte gRPC prefix; else UTF-8 JSON {details, trailers})
import type { UnaryReply } from './unary-dispatch.ts';

const FORWARDED = 1;
const REQUEST_HEAD_BYTES = 4 + 2 + 1 + 8 + 4;
const REPLY_HEAD_BYTES = 4 + 4 + 4;
const INITIAL_BYTES = 64 * 1024;

export interface BatchedRequest {
  readonly id: number;
  readonly pathIndex: number;
  readonly forwarded: boolean;
  readonly deadlineMs: number;
  readonly message: Uint8Array;
}

export interface BatchedReply {
  readonly id: number;
  readonly reply: UnaryReply;
}

/** Appends entries to a growing buffer; take() returns them as one exact-size ArrayBuffer. */
class BatchWriter {
  private buf = new Uint8Array(INITIAL_BYTES);
  private view = new DataView(this.buf.buffer);
  private length = 0;
  count = 0;

  protected reserve(bytes: number): DataView {
    const need = this.length + bytes;
    if (need > this.buf.byteLength) {
      let size = this.buf.byteLength * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(size);
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    return this.view;
  }

  protected at(): number {
    return this.length;
  }

  protected advance(bytes: number, payload?: Uint8Array): void {
    if (payload !== undefined) this.buf.set(payload, this.length + bytes - payload.byteLength);
    this.length += bytes;
    this.count++;
  }

  /** The entries written since the last take, copied out (the writer's buffer is reused). */
  take(): ArrayBuffer {
    const out = this.buf.buffer.slice(0, this.length);
    this.length = 0;
    this.count = 0;
    return out;
  }
}

export class RequestBatchWriter extends BatchWriter {
  add(r: BatchedRequest): void {
    const n = REQUEST_HEAD_BYTES + r.message.byteLength;
    const v = this.reserve(n);
    const o = this.at();
    v.setUint32(o, r.id);
    v.setUint16(o + 4, r.pathIndex);
    v.setUint8(o + 6, r.forwarded ? FORWARDED : 0);
    v.setFloat64(o + 7, r.deadlineMs);
    v.setUint32(o + 15, r.message.byteLength);
    this.advance(n, r.message);
  }
}

export class ReplyBatchWriter extends BatchWriter {
  private readonly encoder = new TextEncoder();

  add(id: number, reply: UnaryReply): void {
    const payload =
      'framed' in reply
        ? reply.framed
        : this.encoder.encode(JSON.stringify({ details: reply.details, trailers: reply.trailers }));
    const n = REPLY_HEAD_BYTES + payload.byteLength;
    const v = this.reserve(n);
    const o = this.at();
    v.setUint32(o, id);
    v.setUint32(o + 4, reply.code);
    v.setUint32(o + 8, payload.byteLength);
    this.advance(n, payload);
  }
}

/** The requests of a batch; their messages are views into `batch`. */
export function readRequests(batch: ArrayBuffer): BatchedRequest[] {
  const v = new DataView(batch);
  const out: BatchedRequest[] = [];
  for (let o = 0; o < batch.byteLength; ) {
    assertFits(batch, o, REQUEST_HEAD_BYTES);
    const n = v.getUint32(o + 15);
    assertFits(batch, o + REQUEST_HEAD_BYTES, n);
    out.push({
      id: v.getUint32(o),
      pathIndex: v.getUint16(o + 4),
      forwarded: (v.getUint8(o + 6) & FORWARDED) !== 0,
      deadlineMs: v.getFloat64(o + 7),
      message: new Uint8Array(batch, o + REQUEST_HEAD_BYTES, n),
    });
    o += REQUEST_HEAD_BYTES + n;
  }
  return out;
}

/** The replies of a batch; framed responses are views into `batch`. */
export function readReplies(batch: ArrayBuffer): BatchedReply[] {
  const v = new DataView(batch);
  const decoder = new TextDecoder();
  const out: BatchedReply[] = [];
  for (let o = 0; o < batch.byteLength; ) {
    assertFits(batch, o, REPLY_HEAD_BYTES);
    const id = v.getUint32(o);
    const code = v.getUint32(o + 4);
    const n = v.getUint32(o + 8);
    assertFits(batch, o + REPLY_HEAD_BYTES, n);
    const payload = new Uint8Array(batch, o + REPLY_HEAD_BYTES, n);
    if (code === 0) out.push({ id, reply: { code: 0, framed: payload } });
    else {
      const e = JSON.parse(decoder.decode(payload)) as { details: string; trailers: Record<string, string> };
      out.push({ id, reply: { code, details: e.details, trailers: e.trailers } });
    }
    o += REPLY_HEAD_BYTES + n;
  }
  return out;
}

function assertFits(batch: ArrayBuffer, offset: number, bytes: number): void {
  if (offset + bytes > batch.byteLength) {
    throw new Error(`batch of ${batch.byteLength} bytes cut short: ${bytes} bytes at offset ${offset}`);
  }
}
