// The KV commands carried in Raft entries, as compact binary, shared by the node and the simulator.
// Every command carries its request id (clientId, seq) so the node can route the reply and drop
// duplicates. Layout (little-endian):
//   [u8 format=1][u8 op][u64 clientId][u64 seq][u32 keyBytes][key] then, by op:
//   put:    [u32 valueBytes][value]
//   delete: (nothing)
//   cas:    [u8 expect: 0 absent | 1 value | 2 version][value: u32 len + bytes | version: u64]
//           [u8 then: 0 delete | 1 put][put: u32 len + bytes]
// Decoding returns views into the entry's bytes (no copy); the state machine copies what it keeps.

export const KEY_BYTES_MAX = 4096;
/** Hard cap of the format; the configurable, usually smaller limit is enforced at the server edge. */
export const VALUE_BYTES_MAX = 64 * 1024 * 1024;

const FORMAT = 1;
const OP_PUT = 1;
const OP_DELETE = 2;
const OP_CAS = 3;

export type CasExpect =
  | { readonly kind: 'absent' }
  | { readonly kind: 'value'; readonly value: Uint8Array }
  | { readonly kind: 'version'; readonly version: number };

interface CommandBase {
  readonly clientId: number;
  readonly seq: number;
  readonly key: Uint8Array;
}
export interface PutCommand extends CommandBase {
  readonly op: 'put';
  readonly value: Uint8Array;
}
export interface DeleteCommand extends CommandBase {
  readonly op: 'delete';
}
/** Compare-and-swap: when `expect` holds, write `value` (or delete the key when value is null). */
export interface CasCommand extends CommandBase {
  readonly op: 'cas';
  readonly expect: CasExpect;
  readonly value: Uint8Array | null;
}
export type Command = PutCommand | DeleteCommand | CasCommand;

/** Bad command bytes or fields: INVALID_ARGUMENT at the edge, a bug if it comes out of the log. */
export class CommandInvalidError extends Error {
  override readonly name = 'CommandInvalidError';
  readonly code = 'INVALID_COMMAND';
}

function checkFields(cmd: Command): void {
  // Runs for every command encoded and decoded: no arrays built for the checks.
  checkCount('clientId', cmd.clientId);
  checkCount('seq', cmd.seq);
  if (cmd.key.length < 1 || cmd.key.length > KEY_BYTES_MAX) {
    throw new CommandInvalidError(
      `key of ${cmd.key.length} bytes: keys must have 1 to ${KEY_BYTES_MAX} bytes`,
    );
  }
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
  let n = 2 + 16 + 4 + cmd.key.length;
  if (cmd.op === 'put') n += 4 + cmd.value.length;
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
  buf.writeUInt8(cmd.op === 'put' ? OP_PUT : cmd.op === 'delete' ? OP_DELETE : OP_CAS, 1);
  writeU64(buf, 2, cmd.clientId);
  writeU64(buf, 10, cmd.seq);
  let p = writeBytes(buf, 18, cmd.key);
  if (cmd.op === 'put') p = writeBytes(buf, p, cmd.value);
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
  const key = r.bytes();
  let cmd: Command;
  if (op === OP_PUT) cmd = { op: 'put', clientId, seq, key, value: r.bytes() };
  else if (op === OP_DELETE) cmd = { op: 'delete', clientId, seq, key };
  else if (op === OP_CAS) cmd = { op: 'cas', clientId, seq, key, ...decodeCas(r) };
  else throw new CommandInvalidError(`unknown command op ${op}`);
  r.end();
  checkFields(cmd);
  return cmd;
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
