// WAL record framing. Every record is
//   [u32 payloadLength][u32 checksum][payload]          (little-endian)
//   payload = [u8 recordType][u32 groupId][body…]
// checksum = CRC-32/IEEE (zlib.crc32) over the 4 length bytes followed by the payload, so a flipped
// length is caught as surely as a flipped payload byte. DESIGN.md asks for CRC32C; Node has no native
// CRC32C and a JS one is several times slower than the native zlib.crc32, whose error detection for
// our record sizes is equivalent for random corruption (see README.md).
//
// Encoding writes straight into a caller-provided Buffer (one Buffer per batch, no intermediate copies).
// Decoding copies entry payloads out of the read buffer so that recovered entries do not pin a whole
// 64 MiB segment in memory.
import { crc32 } from 'node:zlib';
import type { Entry, EntryType, HardState, Index, NodeId, Term } from '../raft/types.ts';

export const FRAME_HEADER_BYTES = 8;
/** u8 type + u32 group. */
export const PAYLOAD_PREFIX_BYTES = 5;
/** Bound on one record's payload: a record must fit in a segment, and segments are at most 1 GiB. */
export const RECORD_PAYLOAD_BYTES_MAX = 1 << 30;
export const GROUP_ID_MAX = 0xffff_ffff;

export const RECORD_SEGMENT_HEADER = 1;
export const RECORD_ENTRIES = 2;
export const RECORD_HARD_STATE = 3;
export const RECORD_SNAPSHOT_MARKER = 4;

const SEGMENT_MAGIC = 0x574b_5252; // 'RRKW' little-endian
const SEGMENT_FORMAT_VERSION = 1;

/** Start of a segment file; `seq` must equal the number in the file name. */
export interface SegmentHeaderRecord {
  readonly type: 'segmentHeader';
  readonly seq: number;
}
/** A contiguous run of one group's entries (index, index+1, …). May overwrite a suffix written earlier. */
export interface EntriesRecord {
  readonly type: 'entries';
  readonly group: number;
  readonly entries: readonly Entry[];
}
export interface HardStateRecord {
  readonly type: 'hardState';
  readonly group: number;
  readonly hardState: HardState;
}
/**
 * "The log of this group up to and including `index` is released": a snapshot at (index, term) is
 * durable elsewhere. `discardLog` is true when the snapshot was installed from a leader: it replaces the
 * whole log, so entries written before the marker with a higher index are discarded too (as
 * MemoryStorage.applySnapshot does); false for a local compaction, which keeps the suffix.
 */
export interface SnapshotMarkerRecord {
  readonly type: 'snapshotMarker';
  readonly group: number;
  readonly index: Index;
  readonly term: Term;
  readonly discardLog: boolean;
}
export type WalRecord = SegmentHeaderRecord | EntriesRecord | HardStateRecord | SnapshotMarkerRecord;

// ---- sizes -------------------------------------------------------------------------------------

/** Bytes of one entry inside an entries record: u64 term, u8 type, u32 data length, data. */
export function entryBytes(e: Entry): number {
  return 13 + e.data.length;
}
/** Bytes of an entries record holding no entries yet: frame + prefix + u64 first index + u32 count. */
export const ENTRIES_RECORD_OVERHEAD_BYTES = FRAME_HEADER_BYTES + PAYLOAD_PREFIX_BYTES + 12;
export const SEGMENT_HEADER_RECORD_BYTES = FRAME_HEADER_BYTES + PAYLOAD_PREFIX_BYTES + 14;
export const SNAPSHOT_MARKER_RECORD_BYTES = FRAME_HEADER_BYTES + PAYLOAD_PREFIX_BYTES + 17;

export function hardStateRecordBytes(hs: HardState): number {
  return FRAME_HEADER_BYTES + PAYLOAD_PREFIX_BYTES + 18 + Buffer.byteLength(hs.vote, 'utf8');
}

/** Total framed size of `record`. */
export function recordBytes(record: WalRecord): number {
  switch (record.type) {
    case 'segmentHeader':
      return SEGMENT_HEADER_RECORD_BYTES;
    case 'entries': {
      let n = ENTRIES_RECORD_OVERHEAD_BYTES;
      for (const e of record.entries) n += entryBytes(e);
      return n;
    }
    case 'hardState':
      return hardStateRecordBytes(record.hardState);
    case 'snapshotMarker':
      return SNAPSHOT_MARKER_RECORD_BYTES;
  }
}

// ---- little helpers ----------------------------------------------------------------------------

const TWO_32 = 0x1_0000_0000;

function writeU64(buf: Buffer, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`record: ${n} is not a non-negative safe integer`);
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
}

/** Reads a u64 written by writeU64; returns -1 when it is not a safe integer (corrupt payload). */
function readU64(buf: Buffer, off: number): number {
  const hi = buf.readUInt32LE(off + 4);
  if (hi >= 0x20_0000) return -1;
  return hi * TWO_32 + buf.readUInt32LE(off);
}

function checkGroup(group: number): void {
  if (!Number.isInteger(group) || group < 0 || group > GROUP_ID_MAX) {
    throw new Error(`record: group id ${group} is not a u32`);
  }
}

/** Fills in length and checksum for a payload already written at off+8 .. off+8+payloadBytes. */
function sealFrame(buf: Buffer, off: number, payloadBytes: number): number {
  buf.writeUInt32LE(payloadBytes, off);
  const end = off + FRAME_HEADER_BYTES + payloadBytes;
  buf.writeUInt32LE(frameChecksum(buf, off, end), off + 4);
  return end;
}

function frameChecksum(buf: Buffer, off: number, end: number): number {
  const lengthCrc = crc32(buf.subarray(off, off + 4));
  return crc32(buf.subarray(off + FRAME_HEADER_BYTES, end), lengthCrc);
}

function writePrefix(buf: Buffer, off: number, type: number, group: number): number {
  checkGroup(group);
  buf.writeUInt8(type, off + FRAME_HEADER_BYTES);
  buf.writeUInt32LE(group, off + FRAME_HEADER_BYTES + 1);
  return off + FRAME_HEADER_BYTES + PAYLOAD_PREFIX_BYTES;
}

// ---- encoding ----------------------------------------------------------------------------------

/**
 * Encodes entries[from, to) of one group as one record at buf[off…]; returns the end offset.
 * The entries must be contiguous; the caller sized buf with entryBytes()/ENTRIES_RECORD_OVERHEAD_BYTES.
 */
export function encodeEntriesInto(
  buf: Buffer,
  off: number,
  group: number,
  entries: readonly Entry[],
  from: number,
  to: number,
): number {
  const first = entries[from];
  if (first === undefined || to <= from || to > entries.length) {
    throw new Error(`record: bad entries range [${from}, ${to}) of ${entries.length}`);
  }
  let p = writePrefix(buf, off, RECORD_ENTRIES, group);
  writeU64(buf, p, first.index);
  buf.writeUInt32LE(to - from, p + 8);
  p += 12;
  for (let i = from; i < to; i++) {
    const e = entries[i]!;
    if (e.index !== first.index + (i - from)) {
      throw new Error(
        `record: entries not contiguous: ${e.index} at position ${i - from} after ${first.index}`,
      );
    }
    writeU64(buf, p, e.term);
    buf.writeUInt8(e.type === 'normal' ? 0 : 1, p + 8);
    buf.writeUInt32LE(e.data.length, p + 9);
    buf.set(e.data, p + 13);
    p += 13 + e.data.length;
  }
  return sealFrame(buf, off, p - off - FRAME_HEADER_BYTES);
}

/** Encodes any record at buf[off…] (buf must have recordBytes(record) bytes free); returns the end. */
export function encodeRecordInto(buf: Buffer, off: number, record: WalRecord): number {
  switch (record.type) {
    case 'entries':
      return encodeEntriesInto(buf, off, record.group, record.entries, 0, record.entries.length);
    case 'segmentHeader': {
      const p = writePrefix(buf, off, RECORD_SEGMENT_HEADER, 0);
      buf.writeUInt32LE(SEGMENT_MAGIC, p);
      buf.writeUInt16LE(SEGMENT_FORMAT_VERSION, p + 4);
      writeU64(buf, p + 6, record.seq);
      return sealFrame(buf, off, PAYLOAD_PREFIX_BYTES + 14);
    }
    case 'hardState': {
      const p = writePrefix(buf, off, RECORD_HARD_STATE, record.group);
      const hs = record.hardState;
      writeU64(buf, p, hs.term);
      writeU64(buf, p + 8, hs.commit);
      const voteBytes = buf.write(hs.vote, p + 18, 'utf8');
      if (voteBytes !== Buffer.byteLength(hs.vote, 'utf8') || voteBytes > 0xffff) {
        throw new Error(`record: vote ${JSON.stringify(hs.vote)} does not fit`);
      }
      buf.writeUInt16LE(voteBytes, p + 16);
      return sealFrame(buf, off, PAYLOAD_PREFIX_BYTES + 18 + voteBytes);
    }
    case 'snapshotMarker': {
      const p = writePrefix(buf, off, RECORD_SNAPSHOT_MARKER, record.group);
      writeU64(buf, p, record.index);
      writeU64(buf, p + 8, record.term);
      buf.writeUInt8(record.discardLog ? 1 : 0, p + 16);
      return sealFrame(buf, off, PAYLOAD_PREFIX_BYTES + 17);
    }
  }
}

/** Convenience for tests and one-off use: one record in a fresh Buffer. */
export function encodeRecord(record: WalRecord): Buffer {
  const buf = Buffer.allocUnsafe(recordBytes(record));
  const end = encodeRecordInto(buf, 0, record);
  if (end !== buf.length) throw new Error(`record: encoded ${end} bytes, expected ${buf.length}`);
  return buf;
}

// ---- decoding ----------------------------------------------------------------------------------

export type FrameResult =
  /** A verified record and where the next frame starts. */
  | { readonly kind: 'record'; readonly record: WalRecord; readonly nextOffset: number }
  /** An all-zero frame header: the preallocated, never-written part of a segment. */
  | { readonly kind: 'end' }
  /** The frame runs past `limit`: fewer than 8 header bytes, or the payload is cut off. */
  | { readonly kind: 'truncated' }
  /** Checksum mismatch or a malformed payload. */
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Reads the frame at buf[off…limit). Never throws for bad bytes: the caller decides torn vs corrupt.
 * `verifyChecksum` false is UNSAFE (the simulator plants it: a corrupted record then replays as data).
 */
export function decodeFrame(
  buf: Buffer,
  off: number,
  limit: number = buf.length,
  verifyChecksum = true,
): FrameResult {
  if (limit - off < FRAME_HEADER_BYTES) {
    return isZero(buf, off, limit) ? { kind: 'end' } : { kind: 'truncated' };
  }
  const payloadBytes = buf.readUInt32LE(off);
  const checksum = buf.readUInt32LE(off + 4);
  if (payloadBytes === 0 && checksum === 0) return { kind: 'end' };
  if (payloadBytes < PAYLOAD_PREFIX_BYTES || payloadBytes > RECORD_PAYLOAD_BYTES_MAX) {
    return { kind: 'invalid', reason: `implausible payload length ${payloadBytes}` };
  }
  const end = off + FRAME_HEADER_BYTES + payloadBytes;
  if (end > limit) return { kind: 'truncated' };
  const actual = verifyChecksum ? frameChecksum(buf, off, end) : checksum;
  if (actual !== checksum) {
    return {
      kind: 'invalid',
      reason: `checksum mismatch (stored ${hex(checksum)}, computed ${hex(actual)})`,
    };
  }
  const record = decodePayload(buf, off + FRAME_HEADER_BYTES, end);
  if (typeof record === 'string') return { kind: 'invalid', reason: record };
  return { kind: 'record', record, nextOffset: end };
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function isZero(buf: Buffer, off: number, limit: number): boolean {
  for (let i = off; i < limit; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Decodes a checksummed payload; returns a reason string when it is malformed. */
function decodePayload(buf: Buffer, p: number, end: number): WalRecord | string {
  const type = buf.readUInt8(p);
  const group = buf.readUInt32LE(p + 1);
  const body = p + PAYLOAD_PREFIX_BYTES;
  const bodyBytes = end - body;
  switch (type) {
    case RECORD_SEGMENT_HEADER: {
      if (bodyBytes !== 14 || buf.readUInt32LE(body) !== SEGMENT_MAGIC) return 'bad segment header';
      const version = buf.readUInt16LE(body + 4);
      if (version !== SEGMENT_FORMAT_VERSION) return `unsupported segment format version ${version}`;
      const seq = readU64(buf, body + 6);
      return seq < 0 ? 'bad segment sequence number' : { type: 'segmentHeader', seq };
    }
    case RECORD_ENTRIES:
      return decodeEntries(buf, group, body, end);
    case RECORD_HARD_STATE: {
      if (bodyBytes < 18) return 'short hard state record';
      const t = readU64(buf, body);
      const commit = readU64(buf, body + 8);
      const voteBytes = buf.readUInt16LE(body + 16);
      if (t < 0 || commit < 0 || bodyBytes !== 18 + voteBytes) return 'malformed hard state record';
      const vote = buf.toString('utf8', body + 18, end) as NodeId;
      return { type: 'hardState', group, hardState: { term: t as Term, vote, commit: commit as Index } };
    }
    case RECORD_SNAPSHOT_MARKER: {
      const i = bodyBytes === 17 ? readU64(buf, body) : -1;
      const t = bodyBytes === 17 ? readU64(buf, body + 8) : -1;
      const flag = bodyBytes === 17 ? buf.readUInt8(body + 16) : 2;
      if (i < 0 || t < 0 || flag > 1) return 'malformed snapshot marker';
      return { type: 'snapshotMarker', group, index: i as Index, term: t as Term, discardLog: flag === 1 };
    }
    default:
      return `unknown record type ${type}`;
  }
}

function decodeEntries(buf: Buffer, group: number, body: number, end: number): EntriesRecord | string {
  if (end - body < 12) return 'short entries record';
  const first = readU64(buf, body);
  const count = buf.readUInt32LE(body + 8);
  if (first < 1 || count === 0 || count > (end - body - 12) / 13) return 'malformed entries record header';
  const entries: Entry[] = new Array<Entry>(count);
  // One copy of the whole record body: the read buffer is a whole segment and must not be kept alive
  // by surviving entries, while per-entry copies would cost one allocation each.
  const copy = new Uint8Array(end - body);
  copy.set(buf.subarray(body, end));
  let p = body + 12;
  for (let i = 0; i < count; i++) {
    if (end - p < 13) return `entries record cut short at entry ${i} of ${count}`;
    const t = readU64(buf, p);
    const typeByte = buf.readUInt8(p + 8);
    const dataBytes = buf.readUInt32LE(p + 9);
    if (t < 0 || typeByte > 1 || dataBytes > end - p - 13) return `malformed entry ${i} of ${count}`;
    const type: EntryType = typeByte === 0 ? 'normal' : 'confChange';
    const data = copy.subarray(p + 13 - body, p + 13 - body + dataBytes);
    entries[i] = { term: t as Term, index: (first + i) as Index, type, data };
    p += 13 + dataBytes;
  }
  if (p !== end) return `entries record has ${end - p} trailing bytes`;
  return { type: 'entries', group, entries };
}
