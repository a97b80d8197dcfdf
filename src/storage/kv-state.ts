// The KV state machine of one shard: an in-memory ordered map from byte keys to values, each with a
// version (the Raft index of the entry that last wrote it). Keys are held as latin1 strings (one char
// per byte): JS string comparison is then bytewise order, and a Map gives O(1) point lookups, while a
// SortedKeys index serves ordered scans. Each command is applied at most once: the proposer sessions
// (proposer-sessions.ts) skip a copy, or a command superseded by a later one of its proposer.
// Serialisation is deterministic (key order, then sessions by proposer), so equal states give equal
// snapshot bytes.
//
// Snapshot layout (little-endian):
//   [u32 magic 'RKVM'][u16 version][u16 reserved=0][u64 appliedIndex][u64 count]
//   count × [u32 keyBytes][key][u64 version][u32 valueBytes][value]      keys strictly increasing
//   versions 2 and 3: the proposer sessions (proposer-sessions.ts); version 1 (without) is still read
//   version 3 only: the leases (leases.ts); versions 1 and 2 (without) are read as holding none
// Leases: a put may attach its key to a lease of this shard (a put without one, or a delete of any
// kind, detaches it); revoking a lease deletes its keys through the same path as every delete, so
// watchers see them go.
import type { CasExpect, Command, DeleteRangeCommand, PutCommand, TxnCommand } from './command.ts';
import type { KvChangeSink } from './kv-change.ts';
import { LeaseTable } from './leases.ts';
import { ProposerSessions } from './proposer-sessions.ts';
import type { SnapshotSource } from './snapshot-source.ts';
import { SortedKeys } from './sorted-keys.ts';
import { compareHolds, type TxnOp, type TxnOpResult } from './txn.ts';
import { type StoredValue, ValueSlabs, type ValueSlabsOptions } from './value-slabs.ts';

const MAGIC = 0x4d56_4b52; // 'RKVM' little-endian
const FORMAT_VERSION = 3;
/** The format with proposer sessions and without leases: read, never written. */
const FORMAT_VERSION_NO_LEASES = 2;
/** The format before proposer sessions: read, never written. */
const FORMAT_VERSION_NO_SESSIONS = 1;
/** Bound on items returned by one scan call; callers page with `resume`. */
export const SCAN_LIMIT_MAX = 10_000;

export interface KvValue {
  /** Owned by the state machine: callers must not modify it. */
  readonly value: Uint8Array;
  readonly version: number;
}
export interface KvItem extends KvValue {
  readonly key: Uint8Array;
}
/** Keys k with start <= k < end (end undefined: no upper bound), in bytewise order. */
export interface KeyRange {
  readonly start: Uint8Array;
  readonly end?: Uint8Array | undefined;
}
export interface ScanResult {
  readonly items: KvItem[];
  /** Present when more keys are in range: pass it as the next call's range start. */
  readonly resume?: Uint8Array;
}

/** Why a put with a lease was not applied: no such lease in the shard, or it holds its most keys. */
export type LeaseRefusal = 'leaseNotFound' | 'leaseFull';

export type ApplyResult =
  /** `refused`: the put named a lease and nothing was written (prevVersion is then 0). */
  | { readonly op: 'put'; readonly prevVersion: number; readonly refused?: LeaseRefusal }
  | { readonly op: 'delete'; readonly deleted: boolean }
  | { readonly op: 'cas'; readonly ok: boolean; readonly current: KvValue | undefined }
  /** Which branch ran (every compare held: then), and each of its operations' result, in order. */
  /**
   * `refused`: a put of the branch that would run named a lease the shard does not have, or one
   * these puts would fill past its bound; nothing was written (succeeded is then false, results empty).
   */
  | {
      readonly op: 'txn';
      readonly succeeded: boolean;
      readonly results: readonly TxnOpResult[];
      readonly refused?: LeaseRefusal;
    }
  /** How many keys of this shard the range delete removed. */
  | { readonly op: 'deleteRange'; readonly deleted: number }
  /** The lease is named by `lease` (the grant's index); `refused` when the shard holds its most leases. */
  | { readonly op: 'leaseGrant'; readonly lease: number; readonly ttlMs: number; readonly refused?: string }
  /** Whether the lease existed, and how many keys its revoke deleted. */
  | { readonly op: 'leaseRevoke'; readonly found: boolean; readonly deleted: number };

const EMPTY = new Uint8Array(0);

/**
 * A key's value as callers see it: a copy of its bytes (the slot they are in takes another value
 * once the key is written again: value-slabs.ts), and its version. A copy is also what a watch's
 * change report keeps: bounded by its bytes, where a view would keep its whole slab alive.
 */
function kvValue(v: StoredValue | undefined): KvValue | undefined {
  return v === undefined ? undefined : { value: Buffer.from(v.value), version: v.version };
}

function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}
function keyBytes(k: string): Buffer {
  return Buffer.from(k, 'latin1');
}

/** The range of keys that start with `prefix`. */
export function prefixRange(prefix: Uint8Array): KeyRange {
  const end = Buffer.from(prefix);
  let n = end.length;
  while (n > 0 && end[n - 1] === 0xff) n--;
  if (n === 0) return { start: prefix }; // empty or all-0xff prefix: no upper bound
  end[n - 1] = end[n - 1]! + 1;
  return { start: prefix, end: end.subarray(0, n) };
}

export interface KvStateOptions {
  /** Tuning of the sorted index (tests use tiny leaves to exercise splits). */
  readonly leafKeysMax?: number;
  /** Tuning of the value slabs (tests use tiny slabs to exercise moves: value-slabs.ts). */
  readonly slabs?: ValueSlabsOptions;
  /**
   * UNSAFE, the simulator's planted bug `applyDuplicates` only (src/node): every command is applied,
   * copies and superseded ones included (the sessions are kept, but not obeyed).
   */
  readonly unsafeApplyDuplicates?: boolean;
}

export class KvState {
  /**
   * Invariant: a key's object is replaced on every write (and when its value moves to another
   * slab), never modified, so a capture (KvSnapshotView) keeps the values of its moment without
   * copying them.
   */
  private readonly map = new Map<string, StoredValue>();
  /**
   * One map per capture not yet closed: the keys written or deleted since it was taken, each with
   * its object of that moment (the first change wins). A value moved to another slab is not a change
   * (same bytes, same version). Invariant: empty set, or the sorted index has frozen leaves.
   */
  private readonly captures = new Set<Map<string, StoredValue>>();
  /** Where the values' bytes are (value-slabs.ts). Invariant: holds exactly the values in `map`. */
  private readonly slabs: ValueSlabs;
  /** The buffer this state was restored from (its values are read in place), for snapshotBufferLiveBytes. */
  private restoredFrom: Buffer | undefined;
  private keys: SortedKeys;
  private readonly leafKeysMax: number | undefined;
  private readonly applyDuplicates: boolean;
  /** Each proposer's highest command applied (the at-most-once rule of apply). */
  private sessions = new ProposerSessions();
  /** The shard's leases and their keys. Invariant: every attached key is in `map`. */
  private leaseTable = new LeaseTable();
  /** Index of the last entry applied. Invariant: never decreases; every version <= appliedIndex. */
  appliedIndex = 0;
  /** Sum of key and value bytes, for metrics and snapshot sizing. */
  sizeBytes = 0;
  /**
   * Told every key a command changes, with its previous value (a watch's events: src/node/watch).
   * Undefined: nothing is reported, and applying costs one comparison more per key.
   */
  onChange: KvChangeSink | undefined;

  constructor(options: KvStateOptions = {}) {
    this.leafKeysMax = options.leafKeysMax;
    this.applyDuplicates = options.unsafeApplyDuplicates === true;
    this.keys = new SortedKeys(this.leafKeysMax);
    this.slabs = new ValueSlabs(options.slabs);
  }

  get count(): number {
    return this.map.size;
  }

  /**
   * Applies a decoded command from the entry at `index`; or skips it (undefined: the entry is applied,
   * the data untouched) when its proposer's session already holds its seq or a later one: a copy of a
   * command applied before, or one its proposer sent after a later one. A skipped command never takes
   * effect, nor will any copy of it.
   */
  apply(index: number, cmd: Command): ApplyResult | undefined {
    if (!this.sessions.admit(cmd.clientId, cmd.seq, index) && !this.applyDuplicates) {
      this.advanceApplied(index);
      return undefined;
    }
    switch (cmd.op) {
      case 'put':
        return cmd.lease === undefined || cmd.lease === 0
          ? { op: 'put', prevVersion: this.put(cmd.key, cmd.value, index) }
          : this.putWithLease(cmd, cmd.lease, index);
      case 'delete':
        return { op: 'delete', deleted: this.delete(cmd.key, index) };
      case 'cas':
        return { op: 'cas', ...this.cas(cmd.key, cmd.expect, cmd.value, index) };
      case 'txn':
        return { op: 'txn', ...this.txn(cmd, index) };
      case 'deleteRange':
        return { op: 'deleteRange', deleted: this.deleteRange(cmd, index) };
      case 'leaseGrant':
        return this.leaseGrant(cmd.ttlMs, index);
      case 'leaseRevoke':
        return { op: 'leaseRevoke', ...this.leaseRevoke(cmd.lease, index) };
    }
  }

  /** The shard's leases (read-only use: the leader's deadlines, TimeToLive). */
  get leases(): Pick<LeaseTable, 'size' | 'ttlMs' | 'ttls' | 'keysOf'> {
    return this.leaseTable;
  }

  /** The lease `key` is attached to (0: none). */
  leaseOf(key: Uint8Array): number {
    return this.leaseTable.leaseOf(keyString(key));
  }

  private putWithLease(cmd: PutCommand, lease: number, index: number): ApplyResult {
    this.advanceApplied(index);
    const k = keyString(cmd.key);
    const refused = this.leaseTable.addRefusal(lease, this.leaseTable.leaseOf(k) === lease ? 0 : 1);
    if (refused !== undefined) return { op: 'put', prevVersion: 0, refused };
    const prevVersion = this.set(k, cmd.value, index, lease);
    return { op: 'put', prevVersion };
  }

  /** Grants a lease named `index` (the entry's), unless the shard holds its most leases. */
  leaseGrant(ttlMs: number, index: number): ApplyResult {
    this.advanceApplied(index);
    const refused = this.leaseTable.grantRefusal();
    if (refused !== undefined) return { op: 'leaseGrant', lease: 0, ttlMs, refused };
    this.leaseTable.grant(index, ttlMs);
    return { op: 'leaseGrant', lease: index, ttlMs };
  }

  /** Deletes the keys of lease `lease` (in key order, each reported as a delete), then the lease. */
  leaseRevoke(lease: number, index: number): { found: boolean; deleted: number } {
    this.advanceApplied(index);
    const keys = this.leaseTable.keysOf(lease);
    for (const k of keys) {
      if (!this.remove(k)) throw new Error(`kv-state: lease ${lease}'s key not in the state`);
    }
    return { found: this.leaseTable.drop(lease), deleted: keys.length };
  }

  /**
   * Runs a transaction at `index` (txn.ts): the compares against the state before it, then one
   * branch's operations in order, every write at version `index`. One entry, so all or nothing.
   */
  txn(
    cmd: Pick<TxnCommand, 'compares' | 'success' | 'failure'>,
    index: number,
  ): {
    succeeded: boolean;
    results: TxnOpResult[];
    refused?: LeaseRefusal;
  } {
    this.advanceApplied(index);
    const succeeded = cmd.compares.every((c) => compareHolds(c, this.map.get(keyString(c.key))));
    const ops = succeeded ? cmd.success : cmd.failure;
    const refused = this.leaseRefusal(ops);
    if (refused !== undefined) return { succeeded: false, results: [], refused };
    const results = ops.map((o) => this.txnOp(o, index));
    if (results.length !== ops.length)
      throw new Error(`kv-state: txn ran ${results.length} of ${ops.length} ops`);
    return { succeeded, results };
  }

  /**
   * Why the puts among `ops` cannot attach their keys to their leases (a lease absent, or filled past
   * its bound by the keys these puts add to it), or undefined. Checked before any op runs.
   */
  private leaseRefusal(ops: readonly TxnOp[]): LeaseRefusal | undefined {
    let adding: Map<number, Set<string>> | undefined;
    for (const o of ops) {
      if (o.op !== 'put' || o.lease === undefined || o.lease === 0) continue;
      const k = keyString(o.key);
      adding ??= new Map();
      let keys = adding.get(o.lease);
      if (keys === undefined) {
        keys = new Set();
        adding.set(o.lease, keys);
      }
      if (this.leaseTable.leaseOf(k) !== o.lease) keys.add(k);
    }
    if (adding === undefined) return undefined;
    for (const [lease, keys] of adding) {
      const refused = this.leaseTable.addRefusal(lease, keys.size);
      if (refused !== undefined) return refused;
    }
    return undefined;
  }

  private txnOp(o: TxnOp, index: number): TxnOpResult {
    const k = keyString(o.key);
    if (o.op === 'put') return { op: 'put', prevVersion: this.set(k, o.value, index, o.lease ?? 0) };
    if (o.op === 'delete') return { op: 'delete', deleted: this.remove(k) };
    const v = this.map.get(k);
    return v === undefined
      ? { op: 'get', found: false, value: new Uint8Array(0), version: 0 }
      : { op: 'get', found: true, value: Buffer.from(v.value), version: v.version };
  }

  /** Removes every key in [start, end) at `index` (one entry); returns how many. */
  deleteRange(cmd: Pick<DeleteRangeCommand, 'start' | 'end'>, index: number): number {
    this.advanceApplied(index);
    const end = cmd.end === null ? undefined : keyString(cmd.end);
    // Collected first: the sorted index is not changed under its cursor.
    const doomed: string[] = [];
    const cursor = this.keys.seek(keyString(cmd.start));
    for (let k = this.keys.at(cursor); k !== undefined; k = this.keys.at(cursor)) {
      if (end !== undefined && k >= end) break;
      doomed.push(k);
      this.keys.next(cursor);
    }
    const countBefore = this.map.size;
    for (const k of doomed) this.remove(k);
    if (this.map.size !== countBefore - doomed.length) {
      throw new Error(
        `kv-state: range delete of ${doomed.length} keys left ${this.map.size} of ${countBefore}`,
      );
    }
    return doomed.length;
  }

  /** Records that the entry at `index` was applied without changing data (no-op, membership change). */
  advanceApplied(index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.appliedIndex) {
      throw new Error(`kv-state: applying index ${index} after ${this.appliedIndex}`);
    }
    this.appliedIndex = index;
  }

  /** Writes key=value at version `index`; returns the previous version (0 if the key was absent). */
  put(key: Uint8Array, value: Uint8Array, index: number): number {
    this.advanceApplied(index);
    return this.set(keyString(key), value, index);
  }

  /** Writes `key` (attached to lease `lease`, 0: none, detached from any other). */
  private set(key: string, value: Uint8Array, index: number, lease = 0): number {
    const prev = this.map.get(key);
    const k = prev?.key ?? key; // the string every structure already holds for this key (StoredValue.key)
    this.leaseTable.attach(k, lease);
    // Copied: the caller's bytes are a view into a Raft entry or a network buffer.
    const stored = this.slabs.store(k, value, index);
    if (prev === undefined) {
      this.keys.insert(k);
      this.sizeBytes += k.length + stored.length;
    } else {
      this.sizeBytes += stored.length - prev.length;
      this.slabs.release(prev);
      if (this.captures.size > 0) this.keepForCaptures(k, prev);
    }
    this.map.set(k, stored);
    if (this.onChange !== undefined)
      this.onChange({
        type: 'put',
        key: keyBytes(k),
        value: Buffer.from(stored.value),
        prev: kvValue(prev),
      });
    this.slabs.compactSome(this.map);
    return prev?.version ?? 0;
  }

  /** k's object `prev` is about to be replaced or deleted: each open capture keeps it if first. */
  private keepForCaptures(k: string, prev: StoredValue): void {
    for (const before of this.captures) if (!before.has(k)) before.set(k, prev);
  }

  /** Captures not yet closed (tests). */
  get capturesOpen(): number {
    return this.captures.size;
  }

  /** Bytes of the values still read from the buffer restore() read the state from (tests); 0: let go. */
  get snapshotBufferLiveBytes(): number {
    return this.restoredFrom === undefined ? 0 : this.slabs.liveIn(this.restoredFrom);
  }

  /** Bytes of the values held, and bytes written into the slabs kept for them (value-slabs.ts). */
  get valueBytes(): { readonly liveBytes: number; readonly usedBytes: number; readonly slabs: number } {
    return this.slabs.stats;
  }

  /** Removes key (the entry at `index` is applied either way); returns whether it existed. */
  delete(key: Uint8Array, index: number): boolean {
    this.advanceApplied(index);
    return this.remove(keyString(key));
  }

  private remove(k: string): boolean {
    const prev = this.map.get(k);
    if (prev === undefined) return false;
    this.leaseTable.detach(k);
    if (this.captures.size > 0) this.keepForCaptures(k, prev);
    this.map.delete(k);
    this.keys.delete(k);
    this.sizeBytes -= k.length + prev.length;
    this.slabs.release(prev);
    if (this.onChange !== undefined)
      this.onChange({ type: 'delete', key: keyBytes(k), value: EMPTY, prev: kvValue(prev) });
    this.slabs.compactSome(this.map);
    return true;
  }

  /** When `expect` holds, writes value (or deletes when null). Returns the state before the write. */
  cas(
    key: Uint8Array,
    expect: CasExpect,
    value: Uint8Array | null,
    index: number,
  ): { ok: boolean; current: KvValue | undefined } {
    const k = keyString(key);
    const current = kvValue(this.map.get(k));
    const ok =
      expect.kind === 'absent'
        ? current === undefined
        : expect.kind === 'version'
          ? current?.version === expect.version
          : current !== undefined && Buffer.compare(current.value, expect.value) === 0;
    if (!ok) {
      this.advanceApplied(index);
      return { ok, current };
    }
    if (value === null) this.delete(key, index);
    else this.put(key, value, index);
    return { ok, current };
  }

  get(key: Uint8Array): KvValue | undefined {
    return kvValue(this.map.get(keyString(key)));
  }

  /** The highest seq of proposer `clientId` applied here (0: none remembered): its commands up to it never take effect again. */
  appliedSeq(clientId: number): number {
    return this.sessions.seqOf(clientId);
  }

  /** Up to `limit` items of `range` in key order, and where to resume if more remain. */
  scan(range: KeyRange, limit: number): ScanResult {
    if (!Number.isInteger(limit) || limit < 1 || limit > SCAN_LIMIT_MAX) {
      throw new Error(`kv-state: scan limit ${limit} outside [1, ${SCAN_LIMIT_MAX}]`);
    }
    const end = range.end === undefined ? undefined : keyString(range.end);
    const cursor = this.keys.seek(keyString(range.start));
    const items: KvItem[] = [];
    // Bounded by limit (+1 look-ahead).
    for (let k = this.keys.at(cursor); k !== undefined; k = this.keys.at(cursor)) {
      if (end !== undefined && k >= end) return { items };
      if (items.length === limit) return { items, resume: keyBytes(k) };
      const v = this.map.get(k)!;
      items.push({ key: keyBytes(k), value: Buffer.from(v.value), version: v.version });
      this.keys.next(cursor);
    }
    return { items };
  }

  /** Deterministic bytes of the whole state (key order), for snapshots. */
  serialize(): Uint8Array {
    const view = this.capture();
    try {
      return view.serialize();
    } finally {
      view.close();
    }
  }

  /**
   * The state as it is now, to be serialised later (KvSnapshotView), while entries go on being
   * applied: the sorted index's leaves, frozen (a change copies a leaf first), and from then on the
   * object of every key changed before its first change (a write replaces a key's object, never
   * changes it); the sessions and leases are serialised now (they change in place, and are small).
   * Costs a reference per leaf of the index, whatever the number of keys; each key's value is looked
   * up when the view serialises it. The view must be closed once no longer read (changes stop
   * keeping old objects for it).
   */
  capture(): KvSnapshotView {
    const tail = Buffer.allocUnsafe(this.sessions.serializedBytes() + this.leaseTable.serializedBytes());
    const end = this.leaseTable.serializeInto(tail, this.sessions.serializeInto(tail, 0));
    if (end !== tail.length)
      throw new Error(`kv-state: sessions and leases took ${end} bytes, sized ${tail.length}`);
    const before = new Map<string, StoredValue>();
    this.captures.add(before);
    const unhold = this.slabs.hold(); // the slots of `before`'s objects are not taken again meanwhile
    return new KvSnapshotView({
      appliedIndex: this.appliedIndex,
      leaves: this.keys.freeze(),
      count: this.map.size,
      keyValueBytes: this.sizeBytes,
      tail,
      valueOf: (k) => before.get(k) ?? this.map.get(k),
      close: () => {
        if (!this.captures.delete(before)) return;
        if (this.captures.size === 0) this.keys.thaw();
        unhold();
      },
    });
  }

  /**
   * Rebuilds a state from serialize() bytes; throws on malformed input. The values are read in place
   * (`data` becomes a slab, emptied like any other: value-slabs.ts): its bytes must never change after.
   */
  static restore(data: Uint8Array, options: KvStateOptions = {}): KvState {
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const fail = (why: string): never => {
      throw new Error(`kv-state: malformed snapshot (${data.byteLength} bytes): ${why}`);
    };
    if (buf.length < 24 || buf.readUInt32LE(0) !== MAGIC) fail('bad magic');
    const format = buf.readUInt16LE(4);
    if (
      format !== FORMAT_VERSION &&
      format !== FORMAT_VERSION_NO_LEASES &&
      format !== FORMAT_VERSION_NO_SESSIONS
    )
      fail(`unsupported version ${format}`);
    const state = new KvState(options);
    state.appliedIndex = readU64(buf, 8);
    const count = readU64(buf, 16);
    const keys: string[] = [];
    const adoption = state.slabs.adopt(buf, keys);
    let p = 24;
    for (let i = 0; i < count; i++) {
      if (p + 4 > buf.length) fail(`cut short at item ${i}`);
      const keyLen = buf.readUInt32LE(p);
      if (p + 4 + keyLen + 12 > buf.length) fail(`cut short in key ${i}`);
      const k = buf.toString('latin1', p + 4, p + 4 + keyLen);
      p += 4 + keyLen;
      const version = readU64(buf, p);
      const valueLen = buf.readUInt32LE(p + 8);
      if (p + 12 + valueLen > buf.length) fail(`cut short in value ${i}`);
      const prev = keys[keys.length - 1];
      if (prev !== undefined && !(prev < k)) fail(`keys out of order at item ${i}`);
      if (version > state.appliedIndex) fail(`version ${version} above applied index ${state.appliedIndex}`);
      keys.push(k);
      state.map.set(k, adoption.value(k, p + 12, valueLen, version));
      state.sizeBytes += k.length + valueLen;
      p += 12 + valueLen;
    }
    if (format !== FORMAT_VERSION_NO_SESSIONS) {
      const read = ProposerSessions.readFrom(buf, p, state.appliedIndex, fail);
      state.sessions = read.sessions;
      p = read.end;
    }
    if (format === FORMAT_VERSION) {
      const read = LeaseTable.readFrom(buf, p, state.appliedIndex, (k) => state.map.has(k), fail);
      state.leaseTable = read.table;
      p = read.end;
    }
    if (p !== buf.length) fail(`${buf.length - p} trailing bytes`);
    adoption.end();
    state.keys = SortedKeys.fromSorted(keys, state.leafKeysMax);
    state.restoredFrom = buf;
    return state;
  }
}

function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4);
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * 0x1_0000_0000 + buf.readUInt32LE(off);
}

/**
 * Bytes a view serialises per slice of its source (its buffer's size): about 0.5 ms of this
 * machine's time alone, a few ms on a loaded node, between which the event loop serves requests.
 */
export const SNAPSHOT_SLICE_BYTES = 512 * 1024;

/** What a view reads of the state it was captured from (KvState.capture). */
export interface CapturedState {
  readonly appliedIndex: number;
  /** The keys at the capture, in order; never changed. */
  readonly leaves: readonly (readonly string[])[];
  /** How many keys the leaves hold, and the sum of their and their values' lengths then. */
  readonly count: number;
  readonly keyValueBytes: number;
  /** The sessions then the leases, serialised at capture. */
  readonly tail: Buffer;
  /** The object key k had at the capture (defined for every key of the leaves until close). */
  valueOf(k: string): StoredValue | undefined;
  /** The view is no longer read (idempotent). */
  close(): void;
}

/**
 * A KvState captured by KvState.capture(), serialised in the format above, at once or in slices, as
 * many times as wanted until closed.
 */
export class KvSnapshotView {
  private readonly c: CapturedState;
  private closed = false;

  constructor(c: CapturedState) {
    this.c = c;
  }

  /** The state stops keeping values for this view; serialising it afterwards throws. */
  close(): void {
    this.closed = true;
    this.c.close();
  }

  /** The snapshot bytes in one go. */
  serialize(): Uint8Array {
    const total = this.totalBytes();
    const slices = this.slices(total, total);
    const only = slices.next();
    if (only.done || only.value.byteLength !== total || !slices.next().done)
      throw new Error(`kv-state: a snapshot of ${total} bytes did not come out in one slice`);
    return only.value;
  }

  /**
   * The same bytes a slice of about `sliceBytes` at a time, serialised into one reused buffer (a
   * slice is overwritten by the next): a large state is never copied whole, and never holds the
   * caller's event loop for long. An entry larger than the buffer gets a buffer of its size.
   * Closing the source closes the view.
   */
  source(sliceBytes = SNAPSHOT_SLICE_BYTES): SnapshotSource {
    if (!(sliceBytes > 0)) throw new Error(`kv-state: slice of ${sliceBytes} bytes`);
    const totalBytes = this.totalBytes();
    const slices = this.slices(sliceBytes, totalBytes);
    return {
      totalBytes,
      next: async () => {
        const r = slices.next();
        return r.done ? undefined : r.value;
      },
      close: () => this.close(),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('kv-state: a closed snapshot view was read');
  }

  /** Per key: its and its value's lengths and 16 bytes of lengths and version. */
  private totalBytes(): number {
    return 24 + 16 * this.c.count + this.c.keyValueBytes + this.c.tail.length;
  }

  /** The bytes (totalBytes in all) in slices of up to sliceBytes, each a view of one reused buffer. */
  private *slices(sliceBytes: number, totalBytes: number): Generator<Uint8Array, void, undefined> {
    const { leaves, tail, count } = this.c;
    let buf = Buffer.allocUnsafe(Math.max(24, Math.min(sliceBytes, totalBytes)));
    buf.writeUInt32LE(MAGIC, 0);
    buf.writeUInt16LE(FORMAT_VERSION, 4);
    buf.writeUInt16LE(0, 6);
    writeU64(buf, 8, this.c.appliedIndex);
    writeU64(buf, 16, count);
    let p = 24;
    let given = 0;
    let keys = 0;
    this.assertOpen();
    for (const leaf of leaves) {
      for (const k of leaf) {
        const v = this.c.valueOf(k);
        if (v === undefined) throw new Error(`kv-state: captured key ${JSON.stringify(k)} has no value`);
        const need = 16 + k.length + v.length;
        if (p + need > buf.length) {
          if (p > 0) yield buf.subarray(0, p);
          this.assertOpen(); // closed while the slice was out: the values may have changed since
          given += p;
          p = 0;
          if (need > buf.length) buf = Buffer.allocUnsafe(need);
        }
        buf.writeUInt32LE(k.length, p);
        p += 4 + buf.write(k, p + 4, 'latin1');
        writeU64(buf, p, v.version);
        buf.writeUInt32LE(v.length, p + 8);
        v.copyTo(buf, p + 12);
        p += 12 + v.length;
        keys++;
      }
    }
    if (p + tail.length > buf.length) {
      if (p > 0) yield buf.subarray(0, p);
      given += p;
      p = 0;
      if (tail.length > buf.length) buf = Buffer.allocUnsafe(tail.length);
    }
    p += tail.copy(buf, p);
    if (keys !== count || given + p !== totalBytes)
      throw new Error(
        `kv-state: a view of ${count} keys and ${totalBytes} bytes gave ${keys} keys and ${given + p} bytes`,
      );
    if (p > 0) yield buf.subarray(0, p);
  }
}
