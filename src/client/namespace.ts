// A namespace: the key methods of a store (a RingkvClient, or another namespace) with every key
// under one prefix. Keys given are prefixed; keys scanned come back without it; and a scan is
// confined to the prefix's range, so it never sees a key outside the namespace (a key one byte past
// the prefix, "app0" beside "app/", is outside).
import { type BytesLike, bytesToHex, toBytes } from './bytes.ts';
import { ServerError } from './errors.ts';
import type {
  CallOptions,
  CasExpected,
  CasResult,
  DeleteRangeResult,
  DeleteRangeSpec,
  DeleteResult,
  GetResult,
  KeyValueStore,
  PutOptions,
  PutResult,
  ReadOptions,
  ScanAllOptions,
  ScanItem,
  ScanOptions,
  ScanResult,
} from './kv-types.ts';
import { scanAll } from './scan-all.ts';
import { withDecoding } from './stored-value.ts';
import type { TxnCompare, TxnOperation, TxnOpResult, TxnResult, TxnSpec } from './txn.ts';

export class RingkvNamespace implements KeyValueStore {
  /** The prefix of every key of this namespace, in the store below (never empty). */
  readonly prefix: Uint8Array;
  private readonly store: KeyValueStore;

  constructor(store: KeyValueStore, prefix: BytesLike) {
    const p = toBytes(prefix);
    if (p.length === 0) throw new RangeError('a namespace prefix must not be empty');
    this.store = store;
    this.prefix = p;
  }

  put(key: BytesLike, value: BytesLike, opts?: PutOptions): Promise<PutResult> {
    return this.store.put(this.full(key), value, opts);
  }

  get(key: BytesLike, opts?: ReadOptions): Promise<GetResult> {
    return this.store.get(this.full(key), opts);
  }

  delete(key: BytesLike, opts?: CallOptions): Promise<DeleteResult> {
    return this.store.delete(this.full(key), opts);
  }

  compareAndSwap(
    key: BytesLike,
    expected: CasExpected,
    value: BytesLike | null,
    opts?: CallOptions,
  ): Promise<CasResult> {
    return this.store.compareAndSwap(this.full(key), expected, value, opts);
  }

  /** A transaction on this namespace's keys; the results name them without the prefix. */
  async txn(spec: TxnSpec, opts?: CallOptions): Promise<TxnResult> {
    const scoped: TxnSpec = {
      compares: (spec.compares ?? []).map((c): TxnCompare => ({ ...c, key: this.full(c.key) })),
      success: (spec.success ?? []).map((o) => this.fullOp(o)),
      failure: (spec.failure ?? []).map((o) => this.fullOp(o)),
    };
    const r = await this.store.txn(scoped, opts);
    return { ...r, results: r.results.map((x): TxnOpResult => ({ ...x, key: this.stripKey(x.key) })) };
  }

  /**
   * Deletes a prefix or a range of this namespace's keys (an empty prefix: all of them), shard by
   * shard (see RingkvClient.deleteRange).
   */
  deleteRange(range: DeleteRangeSpec, opts?: CallOptions): Promise<DeleteRangeResult> {
    if ('prefix' in range) return this.store.deleteRange({ prefix: this.full(range.prefix) }, opts);
    const scoped = scopedScan(this.prefix, { start: range.start, end: range.end ?? '' });
    return this.store.deleteRange({ start: scoped.start ?? '', end: scoped.end ?? '' }, opts);
  }

  /** One page of this namespace's keys (prefix, start and end are within it), the prefix removed. */
  async scan(opts: ScanOptions = {}): Promise<ScanResult> {
    const res = await this.store.scan(scopedScan(this.prefix, opts));
    return { items: res.items.map((i) => this.strip(i)), continuation: res.continuation };
  }

  /** Every key of the range within this namespace (see RingkvClient.scanAll), the prefix removed. */
  scanAll(opts: ScanAllOptions = {}): AsyncIterable<ScanItem> {
    return scanAll((o) => this.scan(o), opts);
  }

  /** A namespace within this one: its keys are under this prefix, then `prefix`. */
  namespace(prefix: BytesLike): RingkvNamespace {
    return new RingkvNamespace(this, prefix);
  }

  private full(key: BytesLike): Uint8Array {
    return concat(this.prefix, toBytes(key));
  }

  private fullOp(o: TxnOperation): TxnOperation {
    if ('put' in o) return { put: this.full(o.put), value: o.value };
    if ('delete' in o) return { delete: this.full(o.delete) };
    return { get: this.full(o.get) };
  }

  private stripKey(key: Uint8Array): Uint8Array {
    const p = this.prefix;
    if (!(key.length >= p.length && Buffer.from(key.subarray(0, p.length)).equals(p)))
      throw new ServerError(
        `txn in namespace 0x${bytesToHex(p)} returned key 0x${bytesToHex(key)}, outside it`,
      );
    return key.subarray(p.length);
  }

  /** The item as the namespace shows it; the helpers' messages still name the full key. */
  private strip(item: ScanItem): ScanItem {
    const p = this.prefix;
    if (!(item.key.length >= p.length && Buffer.from(item.key.subarray(0, p.length)).equals(p))) {
      throw new ServerError(
        `scan of namespace 0x${bytesToHex(p)} returned key 0x${bytesToHex(item.key)}, outside it`,
      );
    }
    const key = item.key.subarray(p.length);
    return withDecoding(
      { key, value: item.value, version: item.version },
      { key: item.key, value: item.value },
    );
  }
}

/**
 * The scan of the store below for a scan of the namespace `ns`: the prefix goes under `ns`; a range
 * [start, end) goes under `ns` too, an open end stopping at the end of `ns`'s keys. (The server reads
 * a range when start or end is given and ignores the prefix then, so the range must carry `ns`.)
 */
export function scopedScan(ns: Uint8Array, opts: ScanOptions): ScanOptions {
  const { prefix, start, end, ...rest } = opts;
  const s = toBytes(start ?? '');
  const e = toBytes(end ?? '');
  if (s.length === 0 && e.length === 0) return { ...rest, prefix: concat(ns, toBytes(prefix ?? '')) };
  return { ...rest, start: concat(ns, s), end: e.length > 0 ? concat(ns, e) : prefixEnd(ns) };
}

/**
 * The first key after every key that starts with `prefix` (the last byte below 0xff incremented,
 * what follows it dropped); empty (the end of the key space) when every byte is 0xff, since then
 * every key from `prefix` on starts with it.
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const b = prefix[i]!;
    if (b < 0xff) {
      const end = prefix.slice(0, i + 1);
      end[i] = b + 1;
      return end;
    }
  }
  return new Uint8Array();
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
