// The backup file of `ringkv snapshot save` and `restore`: every data shard's state-machine snapshot,
// then a manifest, each in a section of its own with its length and checksum, then an end marker.
// All integers little-endian (u64 values are safe integers < 2^53):
//
//   header    [u32 magic 'RKVB'][u16 version = 1][u16 0]                                     8 bytes
//   section   [u8 kind][u32 shard][u64 length][payload][u32 crc32(kind ‖ shard ‖ length ‖ payload)]
//               kind 1: a data shard's snapshot (src/storage/kv-state.ts's bytes), shards 1..S in order
//               kind 2: the manifest (JSON, UTF-8), shard 0, after the last shard
//   end       [u32 magic 'RKVE'][u64 bytes before the end marker][u32 crc32 of those 12 bytes]  16 bytes
//
// The manifest comes last because what it records (each shard's applied index, length, checksum) is
// known only once the shard has been read; a reader checks every section against its own checksum,
// the shard sections against the manifest, and the end marker against the file's length, so that a
// file cut short anywhere, or with any byte changed, is refused with the part that is bad. CRC-32
// (zlib's, as the WAL and the snapshot files use) catches every burst of up to 32 bits.
import { crc32 } from 'node:zlib';

export const FILE_MAGIC = 0x4256_4b52; // 'RKVB' little-endian
export const END_MAGIC = 0x4556_4b52; // 'RKVE' little-endian
export const FORMAT_VERSION = 1;
export const FILE_HEADER_BYTES = 8;
export const SECTION_HEADER_BYTES = 1 + 4 + 8;
export const SECTION_TRAILER_BYTES = 4;
export const END_BYTES = 16;
export const SECTION_SHARD = 1;
export const SECTION_MANIFEST = 2;
/** Bound on the manifest section: one small record per shard (at most 4096 shards). */
export const MANIFEST_BYTES_MAX = 4 * 1024 * 1024;
/** Bound on one shard's section: a shard's snapshot is one buffer on the node and at restore. */
export const SHARD_BYTES_MAX = 2 ** 31;

export type SectionKind = typeof SECTION_SHARD | typeof SECTION_MANIFEST;

/** What a restore needs to know about the cluster the backup came from, and each shard's part. */
export interface Manifest {
  readonly format: 'ringkv-backup';
  readonly version: 1;
  readonly clusterId: string;
  readonly shardCount: number;
  /** Keys hash to one of slotCount slots; shard i owns the contiguous range given per shard. */
  readonly slotCount: number;
  /**
   * Keys hash by their `{tag}` (src/ring/slots.ts), as the backed-up cluster's settings say: the
   * restored cluster must place them the same way. Absent in backups written before hash tags: false.
   */
  readonly hashTags?: boolean;
  readonly createdAt: string;
  readonly shards: readonly ManifestShard[];
}

export interface ManifestShard {
  readonly shard: number;
  readonly slotFirst: number;
  readonly slotLast: number;
  /** The shard's applied index the snapshot was taken at (a linearizable point of the shard). */
  readonly appliedIndex: number;
  readonly keys: number;
  /** Length and CRC-32 of the shard's snapshot bytes (the section's payload). */
  readonly bytes: number;
  readonly crc32: number;
}

/** A backup file that cannot be used: `part` names what is bad, `offsetBytes` where. */
export class BackupFileError extends Error {
  override readonly name = 'BackupFileError';
  readonly code = 'BACKUP_INVALID';
  readonly part: string;
  readonly offsetBytes: number;

  constructor(part: string, offsetBytes: number, reason: string) {
    super(`${part} (at byte ${offsetBytes}): ${reason}`);
    this.part = part;
    this.offsetBytes = offsetBytes;
  }
}

export function encodeFileHeader(): Buffer {
  const b = Buffer.alloc(FILE_HEADER_BYTES);
  b.writeUInt32LE(FILE_MAGIC, 0);
  b.writeUInt16LE(FORMAT_VERSION, 4);
  return b;
}

/** Why the first 8 bytes are not this format's header, or undefined. */
export function checkFileHeader(b: Uint8Array): string | undefined {
  if (b.byteLength < FILE_HEADER_BYTES) return `the file is ${b.byteLength} bytes, shorter than a header`;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.readUInt32LE(0) !== FILE_MAGIC) return 'not a ringkv backup file (bad magic number)';
  const version = buf.readUInt16LE(4);
  if (version !== FORMAT_VERSION)
    return `format version ${version}; this ringkv reads version ${FORMAT_VERSION}`;
  if (buf.readUInt16LE(6) !== 0) return 'reserved header bytes are not zero';
  return undefined;
}

export function encodeSectionHeader(kind: SectionKind, shard: number, length: number): Buffer {
  assertU32(shard, 'section shard');
  const b = Buffer.alloc(SECTION_HEADER_BYTES);
  b.writeUInt8(kind, 0);
  b.writeUInt32LE(shard, 1);
  writeU64(b, 5, length);
  return b;
}

export interface SectionHeader {
  readonly kind: number;
  readonly shard: number;
  readonly length: number;
}

export function decodeSectionHeader(b: Uint8Array): SectionHeader {
  if (b.byteLength !== SECTION_HEADER_BYTES)
    throw new RangeError(`a section header is ${SECTION_HEADER_BYTES} bytes, got ${b.byteLength}`);
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { kind: buf.readUInt8(0), shard: buf.readUInt32LE(1), length: readU64(buf, 5) };
}

/** A section's checksum as it goes: over its header, then its payload in any number of pieces. */
export class SectionChecksum {
  private crc: number;
  /** Payload bytes seen. Invariant: never above the header's length (the writer asserts it). */
  bytes = 0;

  constructor(header: Uint8Array) {
    this.crc = crc32(header);
  }

  update(piece: Uint8Array): void {
    this.crc = crc32(piece, this.crc);
    this.bytes += piece.byteLength;
  }

  get value(): number {
    return this.crc;
  }
}

export function encodeU32(n: number): Buffer {
  assertU32(n, 'u32');
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

export function encodeEnd(bytesBefore: number): Buffer {
  const b = Buffer.alloc(END_BYTES);
  b.writeUInt32LE(END_MAGIC, 0);
  writeU64(b, 4, bytesBefore);
  b.writeUInt32LE(crc32(b.subarray(0, 12)), 12);
  return b;
}

/** Why `b` is not the end marker of a file with `bytesBefore` bytes before it, or undefined. */
export function checkEnd(b: Uint8Array, bytesBefore: number): string | undefined {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length !== END_BYTES) return `the end marker is ${buf.length} bytes, not ${END_BYTES}`;
  if (buf.readUInt32LE(0) !== END_MAGIC) return 'bad end marker magic number';
  if (buf.readUInt32LE(12) !== crc32(buf.subarray(0, 12))) return 'end marker checksum mismatch';
  const said = readU64(buf, 4);
  if (said !== bytesBefore) return `the end marker says ${said} bytes precede it, ${bytesBefore} do`;
  return undefined;
}

// ---- the manifest -------------------------------------------------------------------------------

export function encodeManifest(m: Manifest): Buffer {
  const errors = manifestErrors(m);
  if (errors !== undefined) throw new Error(`backup manifest is not valid: ${errors}`);
  return Buffer.from(JSON.stringify(m), 'utf8');
}

/** Parses and checks the manifest's payload; a string says why it is not valid. */
export function decodeManifest(payload: Uint8Array): Manifest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'));
  } catch (e) {
    return `not JSON: ${(e as Error).message}`;
  }
  return manifestErrors(parsed) ?? (parsed as Manifest);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Why `v` is not a valid manifest, or undefined. */
function manifestErrors(v: unknown): string | undefined {
  const m = v as Partial<Manifest> | null;
  if (m === null || typeof m !== 'object') return 'not an object';
  if (m.format !== 'ringkv-backup' || m.version !== 1) return `format ${m.format} version ${m.version}`;
  if (typeof m.clusterId !== 'string' || typeof m.createdAt !== 'string') return 'no cluster id or date';
  if (!isCount(m.shardCount) || m.shardCount < 1) return `shard count ${m.shardCount}`;
  if (!isCount(m.slotCount) || m.slotCount < m.shardCount) return `slot count ${m.slotCount}`;
  if (m.hashTags !== undefined && typeof m.hashTags !== 'boolean') return `hash tags ${String(m.hashTags)}`;
  if (!Array.isArray(m.shards) || m.shards.length !== m.shardCount)
    return `${m.shards?.length} shard records for ${m.shardCount} shards`;
  for (let i = 0; i < m.shards.length; i++) {
    const s = m.shards[i] as Partial<ManifestShard> | undefined;
    const fields = [s?.slotFirst, s?.slotLast, s?.appliedIndex, s?.keys, s?.bytes, s?.crc32];
    if (s === undefined || s.shard !== i + 1 || !fields.every(isCount))
      return `shard record ${i + 1} is malformed: ${JSON.stringify(s)}`;
    if ((s.crc32 as number) > 0xffff_ffff || (s.bytes as number) > SHARD_BYTES_MAX)
      return `shard record ${i + 1} is out of range`;
  }
  return undefined;
}

// ---- integers -------------------------------------------------------------------------------------

function assertU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new RangeError(`${what} ${n} is not a u32`);
}

function writeU64(buf: Buffer, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a non-negative safe integer`);
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4);
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * 0x1_0000_0000 + buf.readUInt32LE(off);
}
