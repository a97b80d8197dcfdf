// Reading one segment file on recovery and deciding where its valid data ends, and whether what
// follows is a torn tail (never acknowledged: cut it off) or corruption (acknowledged data damaged:
// stop). The rules, in README.md terms:
// - every segment starts with a segment header whose sequence number matches the file name;
// - records follow back to back; valid data ends at the first frame that is not a verified record;
// - if only zero bytes follow that point, it is the clean end (the preallocated part of the file);
// - in the LAST segment, non-zero bytes after the end are a torn tail when no verified record starts
//   anywhere after it (a write cut short by a crash, which was never fsynced, hence never acknowledged);
//   if a verified record does start after it, a record in the middle was damaged: corruption;
// - in any other segment, anything but zeroes after the end is corruption: a segment is fdatasynced
//   completely before its successor receives its first record, so a crash cannot tear it.
import type { WalRecord } from './record.ts';
import { decodeFrame, FRAME_HEADER_BYTES, PAYLOAD_PREFIX_BYTES, RECORD_SNAPSHOT_MARKER } from './record.ts';
import { WalCorruptionError } from './wal-errors.ts';

export interface SegmentScan {
  /** Where valid data ends: appending continues here (last segment only). */
  readonly endOffset: number;
  /** End of the torn bytes after endOffset that must be zeroed before appending (== endOffset if none). */
  readonly tornEndOffset: number;
}

/**
 * Calls onRecord(record, offset) for every verified record after the header, in order. With
 * `verifyChecksums` false (UNSAFE: WalOptions.unsafeSkipChecksums) a record whose checksum does not
 * match is read as if it did.
 */
export function scanSegment(
  buf: Buffer,
  file: string,
  seq: number,
  isLast: boolean,
  onRecord: (record: WalRecord, offsetBytes: number) => void,
  verifyChecksums = true,
): SegmentScan {
  const header = decodeFrame(buf, 0);
  if (header.kind !== 'record' || header.record.type !== 'segmentHeader') {
    const why = header.kind === 'invalid' ? header.reason : header.kind;
    throw new WalCorruptionError(file, 0, `missing or damaged segment header (${why})`);
  }
  if (header.record.seq !== seq) {
    throw new WalCorruptionError(
      file,
      0,
      `segment header says sequence ${header.record.seq}, file name says ${seq}`,
    );
  }
  let off = header.nextOffset;
  let stop = decodeFrame(buf, off, buf.length, verifyChecksums);
  // Bounded: every iteration moves `off` strictly forward within buf.
  while (stop.kind === 'record') {
    if (stop.record.type === 'segmentHeader') {
      throw new WalCorruptionError(file, off, 'a segment header in the middle of a segment');
    }
    onRecord(stop.record, off);
    off = stop.nextOffset;
    stop = decodeFrame(buf, off, buf.length, verifyChecksums);
  }
  const nonZeroEnd = endOfNonZero(buf);
  if (off >= nonZeroEnd) return { endOffset: off, tornEndOffset: off };
  const why =
    stop.kind === 'invalid'
      ? stop.reason
      : stop.kind === 'end'
        ? 'unexpected bytes after a zero gap'
        : 'record cut short';
  if (!isLast) {
    throw new WalCorruptionError(file, off, `${why} in a segment that is not the last one`);
  }
  const next = findVerifiedFrame(buf, off + 1, nonZeroEnd);
  if (next >= 0) {
    throw new WalCorruptionError(file, off, `${why}, yet a valid record follows at byte offset ${next}`);
  }
  return { endOffset: off, tornEndOffset: nonZeroEnd };
}

const ZERO_BLOCK = Buffer.alloc(64 * 1024);

/** One past the last non-zero byte of buf (0 if all zero). Compares whole blocks natively first. */
export function endOfNonZero(buf: Buffer): number {
  let end = buf.length;
  while (end > 0) {
    const start = Math.max(0, end - ZERO_BLOCK.length);
    if (buf.compare(ZERO_BLOCK, 0, end - start, start, end) !== 0) break;
    end = start;
  }
  const blockStart = Math.max(0, end - ZERO_BLOCK.length);
  while (end > blockStart && buf[end - 1] === 0) end--;
  return end;
}

/** First offset in [from, before) where a checksum-verified record starts, or -1. */
function findVerifiedFrame(buf: Buffer, from: number, before: number): number {
  const lastStart = Math.min(before, buf.length - FRAME_HEADER_BYTES - PAYLOAD_PREFIX_BYTES);
  for (let o = from; o < lastStart; o++) {
    const payloadBytes = buf.readUInt32LE(o);
    // Cheap filters first; only plausible frames pay for a checksum.
    if (payloadBytes < PAYLOAD_PREFIX_BYTES || o + FRAME_HEADER_BYTES + payloadBytes > buf.length) continue;
    const type = buf[o + FRAME_HEADER_BYTES] ?? 0;
    if (type < 1 || type > RECORD_SNAPSHOT_MARKER) continue;
    if (decodeFrame(buf, o).kind === 'record') return o;
  }
  return -1;
}
