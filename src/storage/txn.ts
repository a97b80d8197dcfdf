// A transaction of one shard: compares over the current state, then one list of operations or the
// other, all applied at one log index (one Raft entry), so that no reader sees part of it. The pure
// part lives here (what a compare means, the bounds); kv-state.ts applies it and command.ts carries
// it in the log.
//
// Semantics, as etcd's Txn: every compare is evaluated against the state before the transaction;
// when all hold (none given: they hold), the `success` operations run, else the `failure` operations, in
// order, each seeing the ones before it (a get after a put of the same key reads the new value).
// Every write of the transaction gets the entry's index as its version.

/** Bound on compares, and on the operations of each branch (etcd's --max-txn-ops default is 128). */
export const TXN_COMPARES_MAX = 64;
export const TXN_OPS_MAX = 128;

/** A version compare's operator; a key that does not exist has version 0. */
export type VersionCmp = '=' | '!=' | '<' | '>';
export const VERSION_CMPS: readonly VersionCmp[] = ['=', '!=', '<', '>'];

export type TxnCompare =
  | { readonly kind: 'exists'; readonly key: Uint8Array }
  | { readonly kind: 'absent'; readonly key: Uint8Array }
  /** Holds when the key exists and its value is exactly these bytes. */
  | { readonly kind: 'value'; readonly key: Uint8Array; readonly value: Uint8Array }
  | {
      readonly kind: 'version';
      readonly key: Uint8Array;
      readonly cmp: VersionCmp;
      readonly version: number;
    };

export type TxnOp =
  /** `lease`: attach the key to this lease of the shard (its grant entry's index); absent or 0: none. */
  | { readonly op: 'put'; readonly key: Uint8Array; readonly value: Uint8Array; readonly lease?: number }
  | { readonly op: 'delete'; readonly key: Uint8Array }
  | { readonly op: 'get'; readonly key: Uint8Array };

/** What one operation of the branch that ran returned. */
export type TxnOpResult =
  /** `found` false: value empty and version 0. */
  | { readonly op: 'get'; readonly found: boolean; readonly value: Uint8Array; readonly version: number }
  /** The version the key had before this put (0: absent). */
  | { readonly op: 'put'; readonly prevVersion: number }
  | { readonly op: 'delete'; readonly deleted: boolean };

/** Whether `c` holds for the key's current value (undefined: the key does not exist). */
export function compareHolds(
  c: TxnCompare,
  current: { readonly value: Uint8Array; readonly version: number } | undefined,
): boolean {
  switch (c.kind) {
    case 'exists':
      return current !== undefined;
    case 'absent':
      return current === undefined;
    case 'value':
      return current !== undefined && Buffer.compare(current.value, c.value) === 0;
    case 'version': {
      const v = current?.version ?? 0;
      if (c.cmp === '=') return v === c.version;
      if (c.cmp === '!=') return v !== c.version;
      if (c.cmp === '<') return v < c.version;
      return v > c.version;
    }
  }
}

/** Every key a transaction names, compares and both branches: all must live in one shard. */
export function txnKeys(t: {
  readonly compares: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}): Uint8Array[] {
  return [...t.compares.map((c) => c.key), ...t.success.map((o) => o.key), ...t.failure.map((o) => o.key)];
}
