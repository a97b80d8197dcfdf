// A transaction as the client library takes it and gives it back: compares, then the success or
// the failure operations, run by the cluster as one entry of one shard's log. The request and
// result shapes, their conversion to and from the wire, and the client side of the one-shard rule
// (keys of several shards are refused before anything is sent, naming the shards, as the server
// would: FailedPreconditionError).
import type {
  TxnCompare as PbCompare,
  TxnOp as PbOp,
  TxnOpResult as PbResult,
  ResponseHeader,
  TxnRequest,
} from '../gen/ringkv/v1/kv.ts';
import { VersionCompare_Op } from '../gen/ringkv/v1/kv.ts';
import { keysByShard, spansShardsMessage } from '../ring/key-shards.ts';
import { type BytesLike, toBytes } from './bytes.ts';
import { FailedPreconditionError } from './errors.ts';

/** How a key's version is compared (a key that does not exist has version 0). */
export type VersionCmp = '=' | '!=' | '<' | '>';

/** One condition on the current state; a transaction's `success` runs when all of them hold. */
export type TxnCompare =
  /** The key exists with exactly this value. */
  | { readonly key: BytesLike; readonly value: BytesLike }
  /** The key exists (true) or does not (false). */
  | { readonly key: BytesLike; readonly exists: boolean }
  /** The key's version compares so with `version`: `{ key, version: 3n, cmp: '>' }`. */
  | { readonly key: BytesLike; readonly version: bigint; readonly cmp: VersionCmp };

/** One operation of a branch; each sees the ones before it. */
export type TxnOperation =
  /** `lease`: attach the key to this lease of the transaction's shard (as put's `lease` option). */
  | { readonly put: BytesLike; readonly value: BytesLike; readonly lease?: bigint }
  | { readonly delete: BytesLike }
  | { readonly get: BytesLike };

export interface TxnSpec {
  readonly compares?: readonly TxnCompare[];
  /** Run when every compare holds (or there is none). */
  readonly success?: readonly TxnOperation[];
  /** Run otherwise. */
  readonly failure?: readonly TxnOperation[];
}

/** What one operation of the branch that ran returned. */
export type TxnOpResult =
  | {
      readonly op: 'get';
      readonly key: Uint8Array;
      readonly found: boolean;
      /** Empty when not found. */
      readonly value: Uint8Array;
      /** 0n when not found. */
      readonly version: bigint;
    }
  /** The version the key had before the put; 0n when it did not exist. Its new version is the header's index. */
  | { readonly op: 'put'; readonly key: Uint8Array; readonly prevVersion: bigint }
  | { readonly op: 'delete'; readonly key: Uint8Array; readonly deleted: boolean };

export interface TxnResult {
  /** Whether every compare held: the success operations ran; else the failure ones did. */
  readonly succeeded: boolean;
  /** One per operation of the branch that ran, in order. */
  readonly results: readonly TxnOpResult[];
  /** Where it ran: the shard, and the entry's index (every write's new version). */
  readonly header: ResponseHeader | undefined;
}

const VERSION_OPS: { readonly [C in VersionCmp]: VersionCompare_Op } = {
  '=': VersionCompare_Op.EQUAL,
  '!=': VersionCompare_Op.NOT_EQUAL,
  '<': VersionCompare_Op.LESS,
  '>': VersionCompare_Op.GREATER,
};

/** The request on the wire (without the shard epoch, which each attempt sets). */
export function toTxnRequest(spec: TxnSpec): Omit<TxnRequest, 'shardEpoch'> {
  return {
    compares: (spec.compares ?? []).map(toCompare),
    success: (spec.success ?? []).map(toOp),
    failure: (spec.failure ?? []).map(toOp),
  };
}

function toCompare(c: TxnCompare): PbCompare {
  const key = toBytes(c.key);
  if ('value' in c) return { key, target: { $case: 'value', value: toBytes(c.value) } };
  if ('exists' in c) return { key, target: { $case: 'exists', value: c.exists } };
  const op = VERSION_OPS[c.cmp];
  if (op === undefined) throw new RangeError(`version compare '${String(c.cmp)}' is not one of = != < >`);
  return { key, target: { $case: 'version', value: { op, version: c.version } } };
}

function toOp(o: TxnOperation): PbOp {
  if ('put' in o)
    return {
      op: { $case: 'put', value: { key: toBytes(o.put), value: toBytes(o.value), version: 0n } },
      lease: o.lease ?? 0n,
    };
  if ('delete' in o) return { op: { $case: 'delete', value: toBytes(o.delete) }, lease: 0n };
  return { op: { $case: 'get', value: toBytes(o.get) }, lease: 0n };
}

/** Every key the request names, compares first, then success, then failure. */
export function txnRequestKeys(req: Omit<TxnRequest, 'shardEpoch'>): Uint8Array[] {
  const ops = [...req.success, ...req.failure].flatMap((o) =>
    o.op === undefined ? [] : [o.op.$case === 'put' ? o.op.value.key : o.op.value],
  );
  return [...req.compares.map((c) => c.key), ...ops];
}

/**
 * The one shard of `keys` by `shardOf` (undefined when no key is placed: the cluster's rule is not
 * known yet, and the server checks); FailedPreconditionError naming the shards when they are several.
 */
export function oneShard(
  keys: readonly Uint8Array[],
  shardOf: (key: Uint8Array) => number | undefined,
): number | undefined {
  const byShard = keysByShard(keys, shardOf);
  if (byShard === undefined || byShard.size <= 1) return byShard?.keys().next().value;
  throw new FailedPreconditionError(`txn: ${spansShardsMessage(byShard)}; nothing was sent`);
}

/** The results of the branch that ran, each with the key of its operation. */
export function fromTxnResults(
  req: Omit<TxnRequest, 'shardEpoch'>,
  succeeded: boolean,
  results: readonly PbResult[],
): TxnOpResult[] {
  const ops = succeeded ? req.success : req.failure;
  if (results.length !== ops.length)
    throw new Error(`txn: the server answered ${results.length} results for ${ops.length} operations`);
  return results.map((r, i) => {
    const op = ops[i]?.op;
    const key = op === undefined ? new Uint8Array() : op.$case === 'put' ? op.value.key : op.value;
    const x = r.result;
    if (x !== undefined && x.$case !== op?.$case)
      throw new Error(`txn: operation ${i} is a ${op?.$case} but the server answered a ${x.$case} result`);
    if (x?.$case === 'get')
      return { op: 'get', key, found: x.value.found, value: x.value.value, version: x.value.version };
    if (x?.$case === 'put') return { op: 'put', key, prevVersion: x.value.prevVersion };
    if (x?.$case === 'delete') return { op: 'delete', key, deleted: x.value.deleted };
    throw new Error(`txn: the server answered an empty result for operation ${i}`);
  });
}
