// Reading a backup file (backup-file.ts): `verifyBackup` reads it all once, in bounded pieces, and
// checks every part — header, each shard's section (order, checksum), the manifest, the end marker,
// and the shard sections against the manifest — before anything is restored from it; `readShard`
// then reads one shard's snapshot bytes and checks them again (the file may change in between).
import { open } from 'node:fs/promises';
import {
  BackupFileError,
  checkEnd,
  checkFileHeader,
  decodeManifest,
  decodeSectionHeader,
  END_BYTES,
  FILE_HEADER_BYTES,
  MANIFEST_BYTES_MAX,
  type Manifest,
  SECTION_HEADER_BYTES,
  SECTION_MANIFEST,
  SECTION_SHARD,
  SECTION_TRAILER_BYTES,
  SectionChecksum,
  SHARD_BYTES_MAX,
} from './backup-file.ts';

/** Bytes read at once while checking a section: memory stays bounded whatever the shard's size. */
const READ_PIECE_BYTES = 1024 * 1024;

/** Where a shard's snapshot bytes lie in the file. */
export interface ShardSection {
  readonly shard: number;
  /** Offset of the payload (after the section header). */
  readonly payloadOffset: number;
  readonly length: number;
  readonly crc32: number;
}

export interface VerifiedBackup {
  readonly manifest: Manifest;
  readonly sections: readonly ShardSection[];
  readonly fileBytes: number;
}

type Handle = Awaited<ReturnType<typeof open>>;

async function readAt(fh: Handle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let got = 0;
  // Bounded: each read returns at least one byte or the file ended (the caller checked its size).
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) throw new BackupFileError('the file', offset + got, 'it ended while being read');
    got += bytesRead;
  }
  return buf;
}

/** Reads and checks the whole file; throws BackupFileError naming the bad part. */
export async function verifyBackup(path: string): Promise<VerifiedBackup> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const headerProblem = checkFileHeader(await readAt(fh, 0, Math.min(size, FILE_HEADER_BYTES)));
    if (headerProblem !== undefined) throw new BackupFileError('the file header', 0, headerProblem);
    const sections: ShardSection[] = [];
    let pos = FILE_HEADER_BYTES;
    // Bounded: every pass consumes at least one section header, and the file's size is fixed.
    for (;;) {
      const after = sections.length === 0 ? 'the header' : `shard ${sections.length}'s section`;
      if (size - pos < SECTION_HEADER_BYTES) {
        throw new BackupFileError(
          `the part after ${after}`,
          pos,
          `the file is cut short: ${size - pos} bytes where the next section (or the manifest) begins`,
        );
      }
      const h = decodeSectionHeader(await readAt(fh, pos, SECTION_HEADER_BYTES));
      const expected = sections.length + 1;
      const part = h.kind === SECTION_MANIFEST ? 'the manifest' : `shard ${h.shard}'s section`;
      if (h.kind === SECTION_SHARD && h.shard !== expected)
        throw new BackupFileError(part, pos, `shard ${expected} was expected here (damaged header?)`);
      if (h.kind !== SECTION_SHARD && (h.kind !== SECTION_MANIFEST || h.shard !== 0))
        throw new BackupFileError(
          `the section after ${after}`,
          pos,
          `unknown kind ${h.kind} (damaged header?)`,
        );
      const bound = h.kind === SECTION_MANIFEST ? MANIFEST_BYTES_MAX : SHARD_BYTES_MAX;
      if (h.length > bound)
        throw new BackupFileError(part, pos, `claims ${h.length} bytes, more than ${bound}`);
      const remaining = size - pos - SECTION_HEADER_BYTES;
      if (remaining < h.length + SECTION_TRAILER_BYTES) {
        throw new BackupFileError(
          part,
          pos,
          `claims ${h.length} bytes and a checksum, but only ${remaining} bytes follow: the file is cut short (or this length is damaged)`,
        );
      }
      const payloadOffset = pos + SECTION_HEADER_BYTES;
      const crc = await checkSection(fh, pos, h.length, part);
      pos = payloadOffset + h.length + SECTION_TRAILER_BYTES;
      if (h.kind === SECTION_SHARD) {
        sections.push({ shard: h.shard, payloadOffset, length: h.length, crc32: crc });
        continue;
      }
      const manifest = decodeManifest(await readAt(fh, payloadOffset, h.length));
      if (typeof manifest === 'string') throw new BackupFileError(part, payloadOffset, manifest);
      await checkEndMarker(fh, pos, size);
      checkAgainstManifest(manifest, sections);
      return { manifest, sections, fileBytes: size };
    }
  } finally {
    await fh.close();
  }
}

/** Reads a section's payload in bounded pieces; returns its CRC-32 (of the payload alone) once it matches. */
async function checkSection(fh: Handle, pos: number, length: number, part: string): Promise<number> {
  const header = await readAt(fh, pos, SECTION_HEADER_BYTES);
  const section = new SectionChecksum(header);
  const payload = new SectionChecksum(new Uint8Array(0));
  for (let off = 0; off < length; off += READ_PIECE_BYTES) {
    const piece = await readAt(
      fh,
      pos + SECTION_HEADER_BYTES + off,
      Math.min(READ_PIECE_BYTES, length - off),
    );
    section.update(piece);
    payload.update(piece);
  }
  const stored = (await readAt(fh, pos + SECTION_HEADER_BYTES + length, 4)).readUInt32LE(0);
  if (stored !== section.value) {
    throw new BackupFileError(
      part,
      pos,
      `checksum mismatch (stored ${stored}, computed ${section.value}): the file is damaged`,
    );
  }
  return payload.value;
}

async function checkEndMarker(fh: Handle, pos: number, size: number): Promise<void> {
  if (size - pos < END_BYTES)
    throw new BackupFileError(
      'the end marker',
      pos,
      `the file is cut short: ${size - pos} of its ${END_BYTES} bytes`,
    );
  if (size - pos > END_BYTES)
    throw new BackupFileError('the end marker', pos, `${size - pos - END_BYTES} stray bytes follow it`);
  const problem = checkEnd(await readAt(fh, pos, END_BYTES), pos);
  if (problem !== undefined) throw new BackupFileError('the end marker', pos, problem);
}

function checkAgainstManifest(m: Manifest, sections: readonly ShardSection[]): void {
  if (sections.length !== m.shardCount) {
    throw new BackupFileError(
      'the manifest',
      0,
      `it lists ${m.shardCount} shards, the file holds ${sections.length} shard sections`,
    );
  }
  for (const s of sections) {
    const r = m.shards[s.shard - 1];
    if (r === undefined || r.bytes !== s.length || r.crc32 !== s.crc32) {
      throw new BackupFileError(
        `shard ${s.shard}'s section`,
        s.payloadOffset,
        `its ${s.length} bytes (CRC-32 ${s.crc32}) are not what the manifest records (${r?.bytes} bytes, CRC-32 ${r?.crc32})`,
      );
    }
  }
}

/** One shard's snapshot bytes, checked against the verified section again. */
export async function readShard(path: string, s: ShardSection): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const data = await readAt(fh, s.payloadOffset, s.length);
    const crc = new SectionChecksum(new Uint8Array(0));
    crc.update(data);
    if (crc.value !== s.crc32)
      throw new BackupFileError(
        `shard ${s.shard}'s section`,
        s.payloadOffset,
        'changed since it was verified',
      );
    return data;
  } finally {
    await fh.close();
  }
}
