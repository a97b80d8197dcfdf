// Histories and sequential models: the contract between whoever records a history (the simulator,
// the process tests, the history-file parsers) and the checker.

/**
 * One client operation as observed from outside the system.
 * Invariant: callTime <= returnTime. An indeterminate operation (timed out, connection lost)
 * has `output === undefined` and `returnTime === Infinity`: it may have taken effect at any
 * point after its call, or never.
 */
export interface Operation<I, O> {
  readonly clientId: number;
  readonly input: I;
  readonly output: O | undefined;
  readonly callTime: number;
  readonly returnTime: number;
}

/**
 * A sequential specification. `step` must be pure: given a state and an operation with its
 * observed output, say whether the output is legal and what the next state is.
 */
export interface Model<S, I, O> {
  readonly name: string;
  init(): S;
  /** `output` is undefined for an indeterminate operation: any output is accepted. */
  step(state: S, input: I, output: O | undefined): { readonly legal: boolean; readonly next: S };
  /** A string that is equal for equal states (used to memoise the search). */
  key(state: S): string;
  /** Split a history into independent sub-histories (for example per key); identity by default. */
  partition?(ops: readonly Operation<I, O>[]): Operation<I, O>[][];
  describeOperation?(input: I, output: O | undefined): string;
}

/** The KV map: the operations the simulator's clients and the node's tests record. */
export type KvInput =
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'append'; readonly key: string; readonly value: string }
  | { readonly kind: 'delete'; readonly key: string }
  | {
      readonly kind: 'cas';
      readonly key: string;
      /** null: succeed only if the key is absent. */
      readonly expected: string | null;
      readonly value: string;
    };

export type KvOutput =
  | { readonly kind: 'get'; readonly found: boolean; readonly value: string }
  | { readonly kind: 'put' }
  | { readonly kind: 'append' }
  | { readonly kind: 'delete'; readonly deleted: boolean }
  | { readonly kind: 'cas'; readonly succeeded: boolean };

export type KvOperation = Operation<KvInput, KvOutput>;

export type Verdict = 'linearizable' | 'not linearizable' | 'unknown';

/** The single register of the Jepsen etcd logs (etcd-log format). NIL is `null`. */
export type RegisterInput =
  | { readonly kind: 'read' }
  | { readonly kind: 'write'; readonly value: number }
  | { readonly kind: 'cas'; readonly from: number; readonly to: number };

export type RegisterOutput =
  | { readonly kind: 'read'; readonly exists: boolean; readonly value: number }
  | { readonly kind: 'write' }
  | { readonly kind: 'cas'; readonly ok: boolean };

export type RegisterOperation = Operation<RegisterInput, RegisterOutput>;

/**
 * A transaction over several keys, one atomic operation (ringkv's Txn): the compares hold against
 * the state before it, then the success operations run, else the failure ones, in order. Version
 * compares are not modelled: a version is the log index of a write, which a history does not name.
 */
export type TxnCompare =
  | { readonly kind: 'value'; readonly key: string; readonly value: string }
  | { readonly kind: 'exists'; readonly key: string }
  | { readonly kind: 'absent'; readonly key: string };

export type TxnOp =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string };

export interface TxnInput {
  readonly compares: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}

export type TxnOpOutput =
  | { readonly op: 'get'; readonly found: boolean; readonly value: string }
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly deleted: boolean };

export interface TxnOutput {
  readonly succeeded: boolean;
  /** One per operation of the branch that ran. */
  readonly results: readonly TxnOpOutput[];
}

export type TxnOperation = Operation<TxnInput, TxnOutput>;
