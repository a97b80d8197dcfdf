// The KV commands carried in Raft entries, as compact binary, shared by the node and the simulator.
// Every command carries its request id (clientId, seq) so the node can route the reply and drop
// duplicates. Layout (little-endian):
//   [u8 format=1][u8 op][u64 clientId][u64 seq][u32 keyBytes][key] then, by op:
//   put:    [u32 valueBytes][value]
//   put with a lease (op 6): [u32 valueBytes][value][u64 lease]   (leases.ts: a grant entry's index)
//   delete: (nothing)
//   cas:    [u8 expect: 0 absent | 1 value | 2 version][value: u32 len + bytes | version: u64]
//           [u8 then: 0 delete | 1 put][put: u32 len + bytes]
// A transaction and a range delete name no single key, so after the seq they carry instead:
//   txn:         [u16 compares] compare… [u16 success] op… [u16 failure] op…   (txn.ts: the semantics)
//                compare = [u8 0 exists | 1 absent | 2 value | 3 version][u32 keyBytes][key]
//                          then value: [u32 len][bytes]; version: [u8 0 = | 1 != | 2 < | 3 >][u64]
//                op      = [u8 1 put | 2 delete | 3 get | 4 put with a lease][u32 keyBytes][key]
//                          then put: [u32 len][value]; put with a lease: [u32 len][value][u64 lease]
//   deleteRange: [u32 startBytes][start] [u8 hasEnd][end: u32 len + bytes]   keys start <= k < end
//   leaseGrant:  [u64 ttlMs]          the lease is named by this entry's index
//   leaseRevoke: [u64 lease]          deletes the lease's keys, then the lease
// Decoding returns views into the entry's bytes (no copy); the state machine copies what it keeps.

import { LEASE_TTL_MS_MAX, LEASE_TTL_MS_MIN, validTtl } from './leases.ts';
import {
  TXN_COMPARES_MAX,
  TXN_OPS_MAX,
  type TxnCompare,
  type TxnOp,
  VERSION_CMPS,
  type VersionCmp,
} from './txn.ts';

export const KEY_BYTES_MAX = 4096;
/** Hard cap of the format; the configurable, usually smaller limit is enforced at the server edge. */
export const VALUE_BYTES_MAX = 64 * 1024 * 1024;

const FORMAT = 1;
const OP_PUT = 1;
const OP_DELETE = 2;
const OP_CAS = 3;
const OP_TXN = 4;
const OP_DELETE_RANGE = 5;
const OP_PUT_LEASE = 6;
const OP_LEASE_GRANT = 7;
const OP_LEASE_REVOKE = 8;

export type CasExpect =
  | { readonly kind: 'absent' }
  | { readonly kind: 'value'; readonly value: Uint8Array }
  | { readonly kind: 'version'; readonly version: number };

interface CommandBase {
  readonly clientId: number;
  readonly seq: number;
}
interface KeyCommandBase extends CommandBase {
  readonly key: Uint8Array;
}
export interface PutCommand extends KeyCommandBase {
  readonly op: 'put';
  readonly value: Uint8Array;
  /** The lease to attach the key to (its grant entry's index in this shard); absent or 0: none. */
  readonly lease?: number;
}
export interface DeleteCommand extends KeyCommandBase {
  readonly op: 'delete';
}
/** Compare-and-swap: when `expect` holds, write `value` (or delete the key when value is null). */
export interface CasCommand extends KeyCommandBase {
  readonly op: 'cas';
  readonly expect: CasExpect;
  readonly value: Uint8Array | null;
}
/** A transaction (txn.ts): every compare holds → `success`, else `failure`; all at one index. */
export interface TxnCommand extends CommandBase {
  readonly op: 'txn';
  readonly compares: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
}
/** Deletes every key k of the shard with start <= k < end (end null: no upper bound). */
export interface DeleteRangeCommand extends CommandBase {
  readonly op: 'deleteRange';
  readonly start: Uint8Array;
  readonly end: Uint8Array | null;
}
/** Grants a lease of `ttlMs` (leases.ts), named by the index of this command's entry. */
export interface LeaseGrantCommand extends CommandBase {
  readonly op: 'leaseGrant';
  readonly ttlMs: number;
}
/** Deletes the keys attached to lease `lease`, then forgets it (nothing when there is no such lease). */
export interface LeaseRevokeCommand extends CommandBase {
  readonly op: 'leaseRevoke';
  readonly lease: number;
}
export type Command =
  | PutCommand
  | DeleteCommand
  | CasCommand
  | TxnCommand
  | DeleteRangeCommand
  | LeaseGrantCommand
  | LeaseRevokeCommand;

/** Bad command bytes or fields: INVALID_ARGUMENT at the edge, a bug if it comes out of the log. */
export class CommandInvalidError extends Error {
  override readonly name = 'CommandInvalidError';
  readonly code = 'INVALID_COMMAND';
}

function checkFields(cmd: Command): void {
  // Runs for every command encoded and decoded: no arrays built for the checks.
  checkCount('clientId', cmd.clientId);
  checkCount('seq', cmd.seq);
  if (cmd.op === 'txn') {
    checkTxn(cmd);
    return;
  }
  if (cmd.op === 'leaseGrant') {
    if (!validTtl(cmd.ttlMs))
      throw new CommandInvalidError(
        `lease TTL of ${cmd.ttlMs} ms outside [${LEASE_TTL_MS_MIN}, ${LEASE_TTL_MS_MAX}] ms`,
      );
    return;
  }
  if (cmd.op === 'leaseRevoke') {
    checkCount('lease', cmd.lease);
    return;
  }
  if (cmd.op === 'put' && cmd.lease !== undefined) checkCount('lease', cmd.lease);
  if (cmd.op === 'deleteRange') {
    if (cmd.start.length > KEY_BYTES_MAX)
      throw new CommandInvalidError(
        `range start of ${cmd.start.length} bytes exceeds ${KEY_BYTES_MAX} bytes`,
      );
    if (cmd.end !== null) checkKey(cmd.end);
    return;
  }
  checkKey(cmd.key);
  if (cmd.op !== 'delete') checkValue(cmd.value);
  if (cmd.op === 'cas' && cmd.expect.kind === 'value') checkValue(cmd.expect.value);
  if (
    cmd.op === 'cas' &&
    cmd.expect.kind === 'version' &&
    !(Number.isSafeInteger(cmd.expect.version) && cmd.expect.version >= 0)
  ) {
    throw new CommandInvalidError(`expected version ${cmd.expect.version} is not a safe integer >= 0`);
  }
}

function checkKey(key: Uint8Array): void {
  if (key.length < 1 || key.length > KEY_BYTES_MAX) {
    throw new CommandInvalidError(`key of ${key.length} bytes: keys must have 1 to ${KEY_BYTES_MAX} bytes`);
  }
}

function checkTxn(cmd: TxnCommand): void {
  if (cmd.compares.length > TXN_COMPARES_MAX) {
    throw new CommandInvalidError(
      `transaction has ${cmd.compares.length} compares, at most ${TXN_COMPARES_MAX}`,
    );
  }
  for (const c of cmd.compares) {
    checkKey(c.key);
    if (c.kind === 'value') checkValue(c.value);
    if (c.kind === 'version') {
      checkCount('compared version', c.version);
      if (!VERSION_CMPS.includes(c.cmp)) throw new CommandInvalidError(`unknown version compare '${c.cmp}'`);
    }
  }
  checkOps('success', cmd.success);
  checkOps('failure', cmd.failure);
}

function checkOps(branch: string, ops: readonly TxnOp[]): void {
  if (ops.length > TXN_OPS_MAX) {
    throw new CommandInvalidError(
      `transaction's ${branch} has ${ops.length} operations, at most ${TXN_OPS_MAX}`,
    );
  }
  for (const o of ops) {
    checkKey(o.key);
    if (o.op === 'put') {
      checkValue(o.value);
      if (o.lease !== undefined) checkCount('lease', o.lease);
    }
  }
}

function checkCount(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new CommandInvalidError(`command ${name} ${n} is not a safe integer >= 0`);
}

function checkValue(v: Uint8Array | null): void {
  if (v !== null && v.length > VALUE_BYTES_MAX) {
    throw new CommandInvalidError(`value of ${v.length} bytes exceeds ${VALUE_BYTES_MAX} bytes`);
  }
}

function encodedBytes(cmd: Command): number {
  if (cmd.op === 'txn') {
    let n = 2 + 16 + 6;
    for (const c of cmd.compares) {
      n += 1 + 4 + c.key.length;
      if (c.kind === 'value') n += 4 + c.value.length;
      if (c.kind === 'version') n += 1 + 8;
    }
    for (const o of [...cmd.success, ...cmd.failure])
      n += 1 + 4 + o.key.length + (o.op === 'put' ? 4 + o.value.length + (txnPutLease(o) !== 0 ? 8 : 0) : 0);
    return n;
  }
  if (cmd.op === 'leaseGrant' || cmd.op === 'leaseRevoke') return 2 + 16 + 8;
  if (cmd.op === 'deleteRange')
    return 2 + 16 + 4 + cmd.start.length + 1 + (cmd.end === null ? 0 : 4 + cmd.end.length);
  let n = 2 + 16 + 4 + cmd.key.length;
  if (cmd.op === 'put') n += 4 + cmd.value.length + (hasLease(cmd) ? 8 : 0);
  if (cmd.op === 'cas') {
    n +=
      1 + (cmd.expect.kind === 'value' ? 4 + cmd.expect.value.length : cmd.expect.kind === 'version' ? 8 : 0);
    n += 1 + (cmd.value === null ? 0 : 4 + cmd.value.length);
  }
  return n;
}

export function encodeCommand(cmd: Command): Uint8Array {
  checkFields(cmd);
  const buf = Buffer.allocUnsafe(encodedBytes(cmd));
  buf.writeUInt8(FORMAT, 0);
  buf.writeUInt8(cmd.op === 'put' && hasLease(cmd) ? OP_PUT_LEASE : OP_CODES[cmd.op], 1);
  writeU64(buf, 2, cmd.clientId);
  writeU64(buf, 10, cmd.seq);
  if (cmd.op === 'leaseGrant' || cmd.op === 'leaseRevoke') {
    writeU64(buf, 18, cmd.op === 'leaseGrant' ? cmd.ttlMs : cmd.lease);
    return buf;
  }
  if (cmd.op === 'txn' || cmd.op === 'deleteRange') {
    const end = cmd.op === 'txn' ? encodeTxn(buf, 18, cmd) : encodeDeleteRange(buf, 18, cmd);
    if (end !== buf.length) throw new Error(`command: encoded ${end} bytes, sized ${buf.length}`);
    return buf;
  }
  let p = writeBytes(buf, 18, cmd.key);
  if (cmd.op === 'put') p = writeBytes(buf, p, cmd.value);
  if (cmd.op === 'put' && hasLease(cmd)) {
    writeU64(buf, p, cmd.lease);
    p += 8;
  }
  if (cmd.op === 'cas') {
    const e = cmd.expect;
    buf.writeUInt8(e.kind === 'absent' ? 0 : e.kind === 'value' ? 1 : 2, p++);
    if (e.kind === 'value') p = writeBytes(buf, p, e.value);
    if (e.kind === 'version') {
      writeU64(buf, p, e.version);
      p += 8;
    }
    buf.writeUInt8(cmd.value === null ? 0 : 1, p++);
    if (cmd.value !== null) p = writeBytes(buf, p, cmd.value);
  }
  if (p !== buf.length) throw new Error(`command: encoded ${p} bytes, sized ${buf.length}`);
  return buf;
}

const OP_CODES: { readonly [K in Command['op']]: number } = {
  put: OP_PUT,
  delete: OP_DELETE,
  cas: OP_CAS,
  txn: OP_TXN,
  deleteRange: OP_DELETE_RANGE,
  leaseGrant: OP_LEASE_GRANT,
  leaseRevoke: OP_LEASE_REVOKE,
};

function hasLease(cmd: PutCommand): cmd is PutCommand & { readonly lease: number } {
  return cmd.lease !== undefined && cmd.lease !== 0;
}
const COMPARE_CODES = { exists: 0, absent: 1, value: 2, version: 3 } as const;
const TXN_OP_CODES = { put: 1, delete: 2, get: 3, putLease: 4 } as const;

/** The lease a transaction's put attaches its key to (0: none). */
function txnPutLease(o: TxnOp): number {
  return o.op === 'put' ? (o.lease ?? 0) : 0;
}

function encodeTxn(buf: Buffer, at: number, cmd: TxnCommand): number {
  let p = at;
  buf.writeUInt16LE(cmd.compares.length, p);
  p += 2;
  for (const c of cmd.compares) {
    buf.writeUInt8(COMPARE_CODES[c.kind], p++);
    p = writeBytes(buf, p, c.key);
    if (c.kind === 'value') p = writeBytes(buf, p, c.value);
    if (c.kind === 'version') {
      buf.writeUInt8(VERSION_CMPS.indexOf(c.cmp), p++);
      writeU64(buf, p, c.version);
      p += 8;
    }
  }
  for (const ops of [cmd.success, cmd.failure]) {
    buf.writeUInt16LE(ops.length, p);
    p += 2;
    for (const o of ops) {
      const lease = txnPutLease(o);
      buf.writeUInt8(lease !== 0 ? TXN_OP_CODES.putLease : TXN_OP_CODES[o.op], p++);
      p = writeBytes(buf, p, o.key);
      if (o.op === 'put') p = writeBytes(buf, p, o.value);
      if (lease !== 0) {
        writeU64(buf, p, lease);
        p += 8;
      }
    }
  }
  return p;
}

function encodeDeleteRange(buf: Buffer, at: number, cmd: DeleteRangeCommand): number {
  let p = writeBytes(buf, at, cmd.start);
  buf.writeUInt8(cmd.end === null ? 0 : 1, p++);
  if (cmd.end !== null) p = writeBytes(buf, p, cmd.end);
  return p;
}

function writeBytes(buf: Buffer, p: number, bytes: Uint8Array): number {
  buf.writeUInt32LE(bytes.length, p);
  buf.set(bytes, p + 4);
  return p + 4 + bytes.length;
}

function writeU64(buf: Buffer, off: number, n: number): void {
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4);
}

/** A bounds-checked reader over command bytes; every failure is a CommandInvalidError. */
class Reader {
  private p = 0;
  private readonly buf: Buffer;
  constructor(data: Uint8Array) {
    this.buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  }
  need(n: number): void {
    if (this.p + n > this.buf.length) throw new CommandInvalidError(`command cut short at byte ${this.p}`);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.p++);
  }
  u16(): number {
    this.need(2);
    const n = this.buf.readUInt16LE(this.p);
    this.p += 2;
    return n;
  }
  u64(): number {
    this.need(8);
    const hi = this.buf.readUInt32LE(this.p + 4);
    if (hi >= 0x20_0000)
      throw new CommandInvalidError(`command integer at byte ${this.p} is not a safe integer`);
    const n = hi * 0x1_0000_0000 + this.buf.readUInt32LE(this.p);
    this.p += 8;
    return n;
  }
  bytes(): Uint8Array {
    this.need(4);
    const n = this.buf.readUInt32LE(this.p);
    this.p += 4;
    this.need(n);
    const out = this.buf.subarray(this.p, this.p + n);
    this.p += n;
    return out;
  }
  end(): void {
    if (this.p !== this.buf.length)
      throw new CommandInvalidError(`command has ${this.buf.length - this.p} trailing bytes`);
  }
}

export function decodeCommand(data: Uint8Array): Command {
  const r = new Reader(data);
  const format = r.u8();
  if (format !== FORMAT) throw new CommandInvalidError(`unknown command format ${format}`);
  const op = r.u8();
  const clientId = r.u64();
  const seq = r.u64();
  let cmd: Command;
  if (op === OP_TXN) cmd = { op: 'txn', clientId, seq, ...decodeTxn(r) };
  else if (op === OP_LEASE_GRANT) cmd = { op: 'leaseGrant', clientId, seq, ttlMs: r.u64() };
  else if (op === OP_LEASE_REVOKE) cmd = { op: 'leaseRevoke', clientId, seq, lease: r.u64() };
  else if (op === OP_DELETE_RANGE) {
    const start = r.bytes();
    const hasEnd = r.u8();
    if (hasEnd > 1) throw new CommandInvalidError(`range end flag ${hasEnd} is not 0 or 1`);
    cmd = { op: 'deleteRange', clientId, seq, start, end: hasEnd === 1 ? r.bytes() : null };
  } else cmd = decodeKeyCommand(r, op, clientId, seq);
  r.end();
  checkFields(cmd);
  return cmd;
}

function decodeKeyCommand(r: Reader, op: number, clientId: number, seq: number): Command {
  const key = r.bytes();
  let cmd: Command;
  if (op === OP_PUT) cmd = { op: 'put', clientId, seq, key, value: r.bytes() };
  else if (op === OP_PUT_LEASE) {
    const value = r.bytes();
    const lease = r.u64();
    if (lease === 0) throw new CommandInvalidError('a put with a lease names lease 0');
    cmd = { op: 'put', clientId, seq, key, value, lease };
  } else if (op === OP_DELETE) cmd = { op: 'delete', clientId, seq, key };
  else if (op === OP_CAS) cmd = { op: 'cas', clientId, seq, key, ...decodeCas(r) };
  else throw new CommandInvalidError(`unknown command op ${op}`);
  return cmd;
}

function decodeTxn(r: Reader): { compares: TxnCompare[]; success: TxnOp[]; failure: TxnOp[] } {
  const compareCount = r.u16();
  if (compareCount > TXN_COMPARES_MAX)
    throw new CommandInvalidError(`transaction has ${compareCount} compares, at most ${TXN_COMPARES_MAX}`);
  const compares: TxnCompare[] = [];
  for (let i = 0; i < compareCount; i++) compares.push(decodeCompare(r));
  return { compares, success: decodeOps(r), failure: decodeOps(r) };
}

function decodeCompare(r: Reader): TxnCompare {
  const kind = r.u8();
  const key = r.bytes();
  if (kind === COMPARE_CODES.exists) return { kind: 'exists', key };
  if (kind === COMPARE_CODES.absent) return { kind: 'absent', key };
  if (kind === COMPARE_CODES.value) return { kind: 'value', key, value: r.bytes() };
  if (kind !== COMPARE_CODES.version)
    throw new CommandInvalidError(`unknown transaction compare kind ${kind}`);
  const code = r.u8();
  const cmp: VersionCmp | undefined = VERSION_CMPS[code];
  if (cmp === undefined) throw new CommandInvalidError(`unknown version compare ${code}`);
  return { kind: 'version', key, cmp, version: r.u64() };
}

function decodeOps(r: Reader): TxnOp[] {
  const count = r.u16();
  if (count > TXN_OPS_MAX)
    throw new CommandInvalidError(`transaction branch has ${count} operations, at most ${TXN_OPS_MAX}`);
  const ops: TxnOp[] = [];
  for (let i = 0; i < count; i++) {
    const code = r.u8();
    const key = r.bytes();
    if (code === TXN_OP_CODES.put) ops.push({ op: 'put', key, value: r.bytes() });
    else if (code === TXN_OP_CODES.putLease) ops.push({ op: 'put', key, value: r.bytes(), lease: r.u64() });
    else if (code === TXN_OP_CODES.delete) ops.push({ op: 'delete', key });
    else if (code === TXN_OP_CODES.get) ops.push({ op: 'get', key });
    else throw new CommandInvalidError(`unknown transaction operation ${code}`);
  }
  return ops;
}

function decodeCas(r: Reader): { expect: CasExpect; value: Uint8Array | null } {
  const kind = r.u8();
  let expect: CasExpect;
  if (kind === 0) expect = { kind: 'absent' };
  else if (kind === 1) expect = { kind: 'value', value: r.bytes() };
  else if (kind === 2) expect = { kind: 'version', version: r.u64() };
  else throw new CommandInvalidError(`unknown compare kind ${kind}`);
  const then = r.u8();
  if (then > 1) throw new CommandInvalidError(`unknown compare-and-swap action ${then}`);
  return { expect, value: then === 1 ? r.bytes() : null };
}
