// What a lock's (or an election's) key holds: who took it, under which lease, and the election's
// value. `ringkv-lock 1 OWNER LEASE\n` then the value's bytes. The owner id is random per
// acquisition, so a holder tells its own writes from anyone else's; the lease id lets a contender
// ask how long the holder's lease may still run (lock.ts: a contender waits at most that long).
import { bytesToUtf8 } from './bytes.ts';

/** The prefix of every lock and election key. */
export const LOCK_KEY_PREFIX = '__ringkv/lock/';

const MAGIC = 'ringkv-lock 1';
/** Bounds the header scan: a header is at most this many bytes (owner ids are 32 hex digits). */
const HEADER_BYTES_MAX = 128;

export interface LockRecord {
  readonly owner: string;
  readonly lease: bigint;
  readonly value: Uint8Array;
}

/** The key of lock or election `name`; InvalidArgumentError-worthy names are refused by the caller. */
export function lockKey(name: string): string {
  return `${LOCK_KEY_PREFIX}${name}`;
}

export function encodeLockRecord(r: LockRecord): Uint8Array {
  if (!/^[0-9a-f]{1,64}$/.test(r.owner)) throw new Error(`lock owner '${r.owner}' is not hex`);
  const header = new TextEncoder().encode(`${MAGIC} ${r.owner} ${r.lease}\n`);
  const out = new Uint8Array(header.byteLength + r.value.byteLength);
  out.set(header, 0);
  out.set(r.value, header.byteLength);
  return out;
}

/** The record in `bytes`, or undefined when they are not one (a key written by something else). */
export function decodeLockRecord(bytes: Uint8Array): LockRecord | undefined {
  const nl = bytes.subarray(0, HEADER_BYTES_MAX).indexOf(10);
  if (nl < 0) return undefined;
  const m = /^ringkv-lock 1 ([0-9a-f]{1,64}) (\d{1,20})$/.exec(bytesToUtf8(bytes.subarray(0, nl)));
  if (m === null || m[1] === undefined || m[2] === undefined) return undefined;
  return { owner: m[1], lease: BigInt(m[2]), value: bytes.slice(nl + 1) };
}
