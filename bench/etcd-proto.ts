// The few etcd v3 protobuf messages the benchmark needs, encoded and decoded by hand (etcd's
// .proto files are not in this repository and no codegen is wanted for a peer we only measure):
//   etcdserverpb.PutRequest    key=1 bytes, value=2 bytes
//   etcdserverpb.RangeRequest  key=1 bytes, serializable=7 bool
//   etcdserverpb.RangeResponse header=1, kvs=2 repeated mvccpb.KeyValue, count=4
//   mvccpb.KeyValue            key=1 bytes, value=5 bytes (others skipped)
//   etcdserverpb.StatusResponse header=1 (ResponseHeader member_id=2), leader=4 uint64

export const ETCD_PUT = '/etcdserverpb.KV/Put';
export const ETCD_RANGE = '/etcdserverpb.KV/Range';
export const ETCD_STATUS = '/etcdserverpb.Maintenance/Status';

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(buf: Uint8Array, at: number, n: number): number {
  let pos = at;
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

function bytesFieldSize(b: Uint8Array): number {
  return 1 + varintSize(b.byteLength) + b.byteLength;
}

function writeBytesField(buf: Uint8Array, at: number, field: number, b: Uint8Array): number {
  buf[at] = (field << 3) | 2;
  const pos = writeVarint(buf, at + 1, b.byteLength);
  buf.set(b, pos);
  return pos + b.byteLength;
}

export function encodePut(key: Uint8Array, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytesFieldSize(key) + bytesFieldSize(value));
  const pos = writeBytesField(out, 0, 1, key);
  writeBytesField(out, pos, 2, value);
  return out;
}

export function encodeRange(key: Uint8Array, serializable: boolean): Uint8Array {
  const out = new Uint8Array(bytesFieldSize(key) + (serializable ? 2 : 0));
  const pos = writeBytesField(out, 0, 1, key);
  if (serializable) {
    out[pos] = (7 << 3) | 0;
    out[pos + 1] = 1;
  }
  return out;
}

/** A protobuf reader over one message: fields in order, skipping what we do not need. */
class Reader {
  private pos = 0;
  private readonly buf: Uint8Array;
  private readonly end: number;
  constructor(buf: Uint8Array, start = 0, end = buf.byteLength) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }
  done(): boolean {
    return this.pos >= this.end;
  }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new Error('protobuf: varint runs past the end');
      const b = this.buf[this.pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return result;
      shift += 7n;
    }
    throw new Error('protobuf: varint longer than 10 bytes');
  }
  tag(): { field: number; wire: number } {
    const t = Number(this.varint());
    return { field: t >>> 3, wire: t & 7 };
  }
  /** A length-delimited field's [start, end) in the buffer. */
  span(): [number, number] {
    const len = Number(this.varint());
    const start = this.pos;
    this.pos += len;
    if (this.pos > this.end) throw new Error('protobuf: field runs past the end');
    return [start, this.pos];
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 2) this.span();
    else if (wire === 1) this.pos += 8;
    else if (wire === 5) this.pos += 4;
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
  sub(span: [number, number]): Reader {
    return new Reader(this.buf, span[0], span[1]);
  }
  bytes(span: [number, number]): Uint8Array {
    return this.buf.subarray(span[0], span[1]);
  }
}

/** The values of the kvs of a RangeResponse (one for a point read, none when the key is absent). */
export function decodeRangeValues(buf: Uint8Array): Uint8Array[] {
  const r = new Reader(buf);
  const values: Uint8Array[] = [];
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 2 && wire === 2) {
      const kv = r.sub(r.span());
      while (!kv.done()) {
        const t = kv.tag();
        if (t.field === 5 && t.wire === 2) values.push(kv.bytes(kv.span()));
        else kv.skip(t.wire);
      }
    } else {
      r.skip(wire);
    }
  }
  return values;
}

/** member_id (from the header) and leader of a Maintenance StatusResponse. */
export function decodeStatus(buf: Uint8Array): { memberId: bigint; leader: bigint } {
  const r = new Reader(buf);
  let memberId = 0n;
  let leader = 0n;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === 2) {
      const h = r.sub(r.span());
      while (!h.done()) {
        const t = h.tag();
        if (t.field === 2 && t.wire === 0) memberId = h.varint();
        else h.skip(t.wire);
      }
    } else if (field === 4 && wire === 0) {
      leader = r.varint();
    } else {
      r.skip(wire);
    }
  }
  return { memberId, leader };
}
