// Sequential specifications the checker judges histories against. Each `step` is pure, and an
// output of `undefined` (indeterminate operation) is always legal: only the state change counts.
import type {
  KvInput,
  KvOutput,
  Model,
  Operation,
  RegisterInput,
  RegisterOutput,
  TxnInput,
  TxnOpOutput,
  TxnOutput,
} from './types.ts';

/** The register of the Jepsen etcd logs: an int, or null for NIL (the key does not exist). */
export type RegisterState = number | null;

/** porcupine's "etcd" model, exactly as src/lincheck/testdata/porcupine/README.md states it. */
export const registerModel: Model<RegisterState, RegisterInput, RegisterOutput> = {
  name: 'register',
  init: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case 'read': {
        const legal =
          output === undefined ||
          (output.kind === 'read' && (output.exists ? output.value === state : state === null));
        return { legal, next: state };
      }
      case 'write':
        return { legal: output === undefined || output.kind === 'write', next: input.value };
      case 'cas': {
        // An unknown CAS still changes the state when `from` matches: if it took effect, it did so.
        const matches = input.from === state;
        const legal = output === undefined || (output.kind === 'cas' && output.ok === matches);
        return { legal, next: matches ? input.to : state };
      }
    }
  },
  key: (state) => (state === null ? 'nil' : String(state)),
  describeOperation: describeRegisterOperation,
};

function describeRegisterOperation(input: RegisterInput, output: RegisterOutput | undefined): string {
  const call =
    input.kind === 'read'
      ? 'read()'
      : input.kind === 'write'
        ? `write(${input.value})`
        : `cas(${input.from}, ${input.to})`;
  if (output === undefined) return `${call} -> ? (indeterminate)`;
  switch (output.kind) {
    case 'read':
      return `${call} -> ${output.exists ? output.value : 'nil'}`;
    case 'write':
      return `${call} -> ok`;
    case 'cas':
      return `${call} -> ${output.ok ? 'ok' : 'fail'}`;
  }
}

/** A key's value in the KV map, or null when the key is absent. */
export type KvState = string | null;

/** Splits a KV history per key: keys are independent, so each is checked on its own. */
export function partitionByKey<O>(ops: readonly Operation<KvInput, O>[]): Operation<KvInput, O>[][] {
  const byKey = new Map<string, Operation<KvInput, O>[]>();
  for (const op of ops) {
    let part = byKey.get(op.input.key);
    if (part === undefined) {
      part = [];
      byKey.set(op.input.key, part);
    }
    part.push(op);
  }
  return [...byKey.values()];
}

/**
 * The ringkv KV map, one key per partition. A key is absent until put, append or a successful cas
 * creates it, and absent again after delete. get on an absent key must report found=false.
 * append on an absent key creates it with the appended value. cas with expected null succeeds
 * only if the key is absent.
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  name: 'kv',
  init: () => null,
  step(state, input, output) {
    switch (input.kind) {
      case 'get': {
        const legal =
          output === undefined ||
          (output.kind === 'get' &&
            (state === null ? !output.found : output.found && output.value === state));
        return { legal, next: state };
      }
      case 'put':
        return { legal: output === undefined || output.kind === 'put', next: input.value };
      case 'append':
        return { legal: output === undefined || output.kind === 'append', next: (state ?? '') + input.value };
      case 'delete': {
        const legal =
          output === undefined || (output.kind === 'delete' && output.deleted === (state !== null));
        return { legal, next: null };
      }
      case 'cas': {
        const matches = input.expected === null ? state === null : state === input.expected;
        const legal = output === undefined || (output.kind === 'cas' && output.succeeded === matches);
        return { legal, next: matches ? input.value : state };
      }
    }
  },
  // '-' and '+…' cannot collide: absent and the empty string are different states here.
  key: (state) => (state === null ? '-' : `+${state}`),
  partition: partitionByKey,
  describeOperation: describeKvOperation,
};

/**
 * The Jepsen string KV model of porcupine's c*.txt tests: per key, the state is a string, initially
 * "". get is legal iff its value equals the state (the `found` flag is ignored: an absent key and
 * the empty string are the same state). put replaces, append concatenates. To be total over
 * KvInput, delete resets to "" and cas treats expected null as "".
 */
export const stringKvModel: Model<string, KvInput, KvOutput> = {
  name: 'jepsen-kv',
  init: () => '',
  step(state, input, output) {
    switch (input.kind) {
      case 'get':
        return {
          legal: output === undefined || (output.kind === 'get' && output.value === state),
          next: state,
        };
      case 'put':
        return { legal: output === undefined || output.kind === 'put', next: input.value };
      case 'append':
        return { legal: output === undefined || output.kind === 'append', next: state + input.value };
      case 'delete':
        return { legal: output === undefined || output.kind === 'delete', next: '' };
      case 'cas': {
        const matches = state === (input.expected ?? '');
        const legal = output === undefined || (output.kind === 'cas' && output.succeeded === matches);
        return { legal, next: matches ? input.value : state };
      }
    }
  },
  key: (state) => state,
  partition: partitionByKey,
  describeOperation: describeKvOperation,
};

function describeKvOperation(input: KvInput, output: KvOutput | undefined): string {
  const q = JSON.stringify;
  const call =
    input.kind === 'get' || input.kind === 'delete'
      ? `${input.kind}(${q(input.key)})`
      : input.kind === 'cas'
        ? `cas(${q(input.key)}, ${input.expected === null ? 'absent' : q(input.expected)}, ${q(input.value)})`
        : `${input.kind}(${q(input.key)}, ${q(input.value)})`;
  if (output === undefined) return `${call} -> ? (indeterminate)`;
  switch (output.kind) {
    case 'get':
      return `${call} -> ${output.found ? q(output.value) : 'absent'}`;
    case 'put':
    case 'append':
      return `${call} -> ok`;
    case 'delete':
      return `${call} -> ${output.deleted ? 'deleted' : 'absent'}`;
    case 'cas':
      return `${call} -> ${output.succeeded ? 'ok' : 'fail'}`;
  }
}

/** The keys' values of a multi-key map; a key that is absent has no entry. Never mutated. */
export type TxnState = ReadonlyMap<string, string>;

/**
 * A multi-key register map where a transaction (compares, then one branch of gets, puts and
 * deletes) is ONE atomic operation: no other operation sees part of it. Checked per group of keys
 * that transactions tie together (partitionByKeyGroup): keys never named by one transaction are
 * independent objects, and linearizability is local.
 */
export const txnModel: Model<TxnState, TxnInput, TxnOutput> = {
  name: 'txn',
  init: () => new Map(),
  step(state, input, output) {
    const { next, expected } = runTxn(state, input);
    const legal =
      output === undefined ||
      (output.succeeded === expected.succeeded &&
        output.results.length === expected.results.length &&
        output.results.every((r, i) => sameOutput(r, expected.results[i])));
    return { legal, next };
  },
  key: (state) => JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  partition: partitionByKeyGroup,
  describeOperation: describeTxnOperation,
};

/** The transaction run sequentially on `state`: the next state and the output it must report. */
export function runTxn(state: TxnState, input: TxnInput): { next: TxnState; expected: TxnOutput } {
  const succeeded = input.compares.every((c) => {
    const v = state.get(c.key);
    return c.kind === 'exists' ? v !== undefined : c.kind === 'absent' ? v === undefined : v === c.value;
  });
  const next = new Map(state);
  const results = (succeeded ? input.success : input.failure).map((o): TxnOpOutput => {
    if (o.op === 'put') {
      next.set(o.key, o.value);
      return { op: 'put' };
    }
    if (o.op === 'delete') return { op: 'delete', deleted: next.delete(o.key) };
    const v = next.get(o.key);
    return { op: 'get', found: v !== undefined, value: v ?? '' };
  });
  return { next, expected: { succeeded, results } };
}

function sameOutput(a: TxnOpOutput, b: TxnOpOutput | undefined): boolean {
  if (b === undefined || a.op !== b.op) return false;
  if (a.op === 'get' && b.op === 'get') return a.found === b.found && (!a.found || a.value === b.value);
  if (a.op === 'delete' && b.op === 'delete') return a.deleted === b.deleted;
  return true;
}

function txnKeysOf(input: TxnInput): string[] {
  return [
    ...input.compares.map((c) => c.key),
    ...input.success.map((o) => o.key),
    ...input.failure.map((o) => o.key),
  ];
}

/** Splits a transaction history into groups of keys that some transaction names together (union-find). */
export function partitionByKeyGroup<O>(ops: readonly Operation<TxnInput, O>[]): Operation<TxnInput, O>[][] {
  const parent = new Map<string, string>();
  const root = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r) ?? r;
    parent.set(k, r); // path halving is enough: groups stay shallow
    return r;
  };
  for (const op of ops) {
    const keys = txnKeysOf(op.input);
    for (const k of keys) if (!parent.has(k)) parent.set(k, k);
    for (const k of keys.slice(1)) parent.set(root(k), root(keys[0] as string));
  }
  const byGroup = new Map<string, Operation<TxnInput, O>[]>();
  const keyless: Operation<TxnInput, O>[] = [];
  for (const op of ops) {
    const first = txnKeysOf(op.input)[0];
    if (first === undefined) {
      keyless.push(op);
      continue;
    }
    const g = root(first);
    const part = byGroup.get(g) ?? [];
    part.push(op);
    byGroup.set(g, part);
  }
  const parts = [...byGroup.values()];
  // A transaction with no key touches no object: any group may take it.
  if (keyless.length > 0) parts.push(keyless);
  return parts;
}

function describeTxnOperation(input: TxnInput, output: TxnOutput | undefined): string {
  const q = JSON.stringify;
  const cmp = input.compares.map((c) =>
    c.kind === 'value' ? `${q(c.key)} = ${q(c.value)}` : `${c.kind}(${q(c.key)})`,
  );
  const op = (o: TxnInput['success'][number]): string =>
    o.op === 'put' ? `put(${q(o.key)}, ${q(o.value)})` : `${o.op}(${q(o.key)})`;
  const call = `txn(if [${cmp.join(', ')}] then [${input.success.map(op).join(', ')}] else [${input.failure.map(op).join(', ')}])`;
  if (output === undefined) return `${call} -> ? (indeterminate)`;
  const res = output.results.map((r) =>
    r.op === 'get'
      ? r.found
        ? q(r.value)
        : 'absent'
      : r.op === 'delete'
        ? r.deleted
          ? 'deleted'
          : 'absent'
        : 'ok',
  );
  return `${call} -> ${output.succeeded ? 'then' : 'else'} [${res.join(', ')}]`;
}
