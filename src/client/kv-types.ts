// The shapes of the key-value calls: their options and results, shared by RingkvClient, its
// namespaces (namespace.ts) and the scan iterator (scan-all.ts); and KeyValueStore, the key methods
// both the client and a namespace offer.
import type { ResponseHeader } from '../gen/ringkv/v1/kv.ts';
import type { BytesLike } from './bytes.ts';
import type { ValueDecoding } from './stored-value.ts';
import type { TxnResult, TxnSpec } from './txn.ts';

export interface CallOptions {
  /** This call's deadline, from now. Default: the client's defaultTimeoutMs. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ReadOptions extends CallOptions {
  /** Serve from the contacted replica without consensus: faster, possibly stale. */
  readonly serializable?: boolean;
}

export interface PutOptions extends CallOptions {
  /**
   * Attach the key to this lease (leaseGrant's id, as a bigint or its decimal string): the key is
   * deleted when the lease expires or is revoked. Without it, a put detaches the key from any lease.
   */
  readonly lease?: bigint | string;
}

/** A lease (lease.ts): its id names its shard; keys of that shard only can be attached to it. */
export interface LeaseGrantOptions extends CallOptions {
  /** The lease lives in this key's shard (with a `{tag}`: every key sharing the tag can use it). */
  readonly key?: BytesLike;
  /** ...or in this data shard (1-based) when no key is given; default shard 1. */
  readonly shard?: number;
}

export interface LeaseGrantResult {
  /** The lease's id: shard << 48 | the index of its grant in the shard's log. */
  readonly id: bigint;
  readonly ttlSeconds: number;
}

export interface LeaseTimeToLiveResult {
  /** False when the lease does not exist (expired, revoked, never granted). */
  readonly found: boolean;
  readonly ttlSeconds: number;
  /** Milliseconds before it expires unless renewed, as its shard's leader sees it. */
  readonly remainingMs: number;
  /** The attached keys, when asked (`keys: true`). */
  readonly keys: Uint8Array[];
}

export interface PutResult {
  /** The key's version after the write (the Raft index of the write). */
  readonly version: bigint;
  readonly header: ResponseHeader | undefined;
}

/** A found key carries text() and json() to decode its value (see ValueDecoding). */
export type GetResult =
  | ({ readonly found: true; readonly value: Uint8Array; readonly version: bigint } & ValueDecoding)
  | { readonly found: false };

export interface DeleteResult {
  readonly deleted: boolean;
}

/** What the key must currently be for a compare-and-swap to happen. */
export type CasExpected =
  | { readonly value: BytesLike }
  | { readonly absent: true }
  | { readonly version: bigint };

/** text() and json() decode `value`; they throw ValueFormatError when the key is absent (`found` false). */
export interface CasResult extends ValueDecoding {
  readonly succeeded: boolean;
  /** The key's state after the operation (the unchanged current value when it did not succeed). */
  readonly found: boolean;
  readonly value: Uint8Array;
  readonly version: bigint;
}

/** Which keys a range delete removes: those with a prefix, or those in [start, end). */
export type DeleteRangeSpec =
  | { readonly prefix: BytesLike }
  /** An absent or empty end: to the end of the key space. */
  | { readonly start: BytesLike; readonly end?: BytesLike };

export interface DeleteRangeResult {
  /** Keys deleted, over every shard. */
  readonly deleted: bigint;
  /** Per shard asked (each atomic on its own). */
  readonly shards: readonly { readonly shard: number; readonly deleted: bigint }[];
  /**
   * True when the range lies in one shard (a prefix holding a whole `{tag}`), so the delete was one
   * atomic step; false when it went to every shard (atomic per shard, not across).
   */
  readonly atomic: boolean;
}

export interface ScanOptions extends ReadOptions {
  /** Keys starting with prefix (ignored when start or end is set). */
  readonly prefix?: BytesLike;
  /** Range [start, end); an empty or absent end means to the end of the key space. */
  readonly start?: BytesLike;
  readonly end?: BytesLike;
  /** Most items in this page (0 or absent: the server's default, 1000). */
  readonly limit?: number;
  /** From the previous page's result. */
  readonly continuation?: Uint8Array;
  readonly keysOnly?: boolean;
  /**
   * Only this data shard (1-based), from the contacted node's own replica (UNAVAILABLE where it
   * holds none); with `serializable`, that replica's state as it is. Absent: every shard.
   */
  readonly shard?: number;
}

/** text() and json() decode `value` (empty with keysOnly). */
export interface ScanItem extends ValueDecoding {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly version: bigint;
}

export interface ScanResult {
  readonly items: readonly ScanItem[];
  /** Pass back as `continuation` for the next page; undefined when the scan is complete. */
  readonly continuation: Uint8Array | undefined;
}

/** Options of RingkvClient.scanAll: a scan followed over every page (see scan-all.ts). */
export interface ScanAllOptions extends Omit<ScanOptions, 'limit' | 'continuation'> {
  /** Most items in all, over every page (absent: every key in the range). */
  readonly limit?: number;
  /** Items asked for per page (default 1000; the server allows up to 10 000). */
  readonly pageSize?: number;
}

/**
 * The key methods: what a RingkvClient and a namespace of it both offer (a namespace is handed
 * this, not the client).
 */
export interface KeyValueStore {
  put(key: BytesLike, value: BytesLike, opts?: PutOptions): Promise<PutResult>;
  get(key: BytesLike, opts?: ReadOptions): Promise<GetResult>;
  delete(key: BytesLike, opts?: CallOptions): Promise<DeleteResult>;
  /** Sets `key` to `value` (or deletes it when `value` is null) only if it matches `expected`. */
  compareAndSwap(
    key: BytesLike,
    expected: CasExpected,
    value: BytesLike | null,
    opts?: CallOptions,
  ): Promise<CasResult>;
  /** Compares, then one branch of operations, as one atomic step of one shard (see txn.ts). */
  txn(spec: TxnSpec, opts?: CallOptions): Promise<TxnResult>;
  /** Deletes a prefix or a range, shard by shard: atomic per shard, not across shards. */
  deleteRange(range: DeleteRangeSpec, opts?: CallOptions): Promise<DeleteRangeResult>;
  /** One page of keys in order; pass its `continuation` back for the next. */
  scan(opts?: ScanOptions): Promise<ScanResult>;
  /** Every key of the range in order, one page in memory at a time (`for await … of`). */
  scanAll(opts?: ScanAllOptions): AsyncIterable<ScanItem>;
  /** The same methods with every key under `prefix` (see namespace.ts). */
  namespace(prefix: BytesLike): KeyValueStore;
}
