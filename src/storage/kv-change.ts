// One change a command made to one key of the KV state, as the state reports it while applying
// (KvState.onChange): what a watch (src/node/watch) turns into an event. A skipped command (a copy,
// or one superseded by its proposer: proposer-sessions.ts) changes nothing and reports nothing; a
// delete of an absent key reports nothing either (as etcd's watch).

/** A key's value and version before the change, as the state held them. */
export interface KvPrev {
  readonly value: Uint8Array;
  readonly version: number;
}

export interface KvChange {
  readonly type: 'put' | 'delete';
  /** The key's bytes (a copy the state owns; never modified). */
  readonly key: Uint8Array;
  /** The value written (the state's own copy); empty for a delete. */
  readonly value: Uint8Array;
  /** The key's previous value and version; undefined when it did not exist. */
  readonly prev: KvPrev | undefined;
}

/** Receives every change of one applied command, in the order it made them. Must not throw. */
export type KvChangeSink = (change: KvChange) => void;
