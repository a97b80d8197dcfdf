// Per-group snapshot files. A snapshot is written to a temporary name, fdatasynced, renamed into place,
// and the directory is fsynced, so a crash leaves either the old set of files or the new one, never a
// half-written file under a real name.
//
// Which files may go is decided by the caller, never by a count: the durable log names the snapshot it
// depends on with a marker that is written (and synced) only after the new file is durable, so until
// that marker is synced the file it replaces is still the one recovery will ask for. The driver calls
// release(group, index) once the marker for `index` is durable; files below it are then deleted. A file
// newer than the durable marker (a crash came before its marker was synced) is never named by the log:
// recovery deletes it (discardNewerThan).
//
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { ConfState, Index, NodeId, Snapshot, SnapshotMetadata, Term } from '../raft/types.ts';
import type { FileSystem } from './file-system.ts';
import { writeFully } from './fs-util.ts';
import { bytesSource, type SnapshotSource } from './snapshot-source.ts';

const MAGIC = 0x5356_4b52; // 'RKVS' little-endian
const FORMAT_VERSION = 1;
const FIXED_HEADER_BYTES = 4 + 2 + 2 + 4 + 8 + 8 + 4 + 8;
const FILE_NAME = /^snap-(\d{10})-(\d{16})\.snap$/;

/**
 * A snapshot file is fdatasynced every time this many bytes more are written, not only at the end.
 * Otherwise the kernel keeps the whole file dirty and writes it out in one go at the final sync (tens
 * of MB), and the WAL's synchronous writes wait behind it on the same disk: at 600,000 keys of 1 KiB
 * (75 MB per shard's file) WAL writes of 100-200 ms came with the snapshots.
 */
export const SNAPSHOT_SYNC_EVERY_BYTES = 4 * 1024 * 1024;

export class SnapshotCorruptionError extends Error {
  override readonly name = 'SnapshotCorruptionError';
  readonly code = 'SNAPSHOT_CORRUPT';
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string) {
    super(
      `snapshot file ${file} is corrupt: ${reason}. No older valid snapshot of this group is kept; ` +
        'move the data directory aside and re-add the node so that it receives a snapshot from the leader.',
    );
    this.file = file;
    this.reason = reason;
  }
}

export class SnapshotMissingError extends Error {
  override readonly name = 'SnapshotMissingError';
  readonly code = 'SNAPSHOT_MISSING';

  constructor(dir: string, group: number, index: number) {
    super(
      `no snapshot of group ${group} at index ${index} in ${dir}, yet the write-ahead log says the log before it ` +
        'was released: the data directory is incomplete; move it aside and re-add the node.',
    );
  }
}

export function snapshotFileName(group: number, index: number): string {
  return `snap-${group.toString().padStart(10, '0')}-${index.toString().padStart(16, '0')}.snap`;
}

export class SnapshotStore {
  readonly dir: string;
  private readonly fs: FileSystem;
  /**
   * group -> indexes of its snapshot files, ascending. Invariant: every index at or above the group's
   * durable marker; at most one below it between a save and the release that follows its marker.
   */
  private readonly byGroup: Map<number, number[]>;

  private constructor(dir: string, fs: FileSystem, byGroup: Map<number, number[]>) {
    this.dir = dir;
    this.fs = fs;
    this.byGroup = byGroup;
  }

  /**
   * Opens (creating) the snapshot directory; removes temporary files left by a crash, and fsyncs every
   * snapshot file before it is trusted: after a failed sync (or a crash before one) the kernel's cache
   * may hold pages the disk does not, and a file read from the cache must be made durable first.
   */
  static async open(dir: string, fs: FileSystem): Promise<SnapshotStore> {
    await fs.mkdir(dir);
    const byGroup = new Map<number, number[]>();
    for (const name of await fs.readdir(dir)) {
      if (name.endsWith('.tmp')) {
        await fs.unlink(join(dir, name));
        continue;
      }
      const m = FILE_NAME.exec(name);
      if (m === null) continue;
      await fs.syncPath(join(dir, name));
      const group = Number(m[1]);
      const list = byGroup.get(group) ?? [];
      list.push(Number(m[2]));
      byGroup.set(group, list);
    }
    for (const list of byGroup.values()) list.sort((a, b) => a - b);
    await fs.syncPath(dir);
    return new SnapshotStore(dir, fs, byGroup);
  }

  /** Indexes of the group's kept snapshots, ascending. */
  indexes(group: number): number[] {
    return [...(this.byGroup.get(group) ?? [])];
  }

  /** Whether the group's snapshot file at `index` is written (saved, and not yet deleted). */
  has(group: number, index: number): boolean {
    return this.byGroup.get(group)?.includes(index) ?? false;
  }

  /** Groups that have at least one snapshot file. */
  groups(): number[] {
    return [...this.byGroup.keys()].sort((a, b) => a - b);
  }

  /**
   * Durably writes the group's snapshot. Older files stay until release(): the durable log still names
   * one of them until the new snapshot's marker is synced. Saves of one group must not overlap, and the
   * snapshot index must not be below the newest kept one.
   */
  async save(group: number, snapshot: Snapshot): Promise<void> {
    await this.saveFrom(group, snapshot.metadata, bytesSource(snapshot.data));
  }

  /**
   * As save, with the bytes read from `source` a slice at a time, each written before the next is
   * asked for (so they are never all in memory), and `pause()` awaited between slices.
   */
  async saveFrom(
    group: number,
    metadata: SnapshotMetadata,
    source: SnapshotSource,
    pause: () => Promise<void> = async () => {},
  ): Promise<void> {
    const list = this.byGroup.get(group) ?? [];
    const newest = list[list.length - 1];
    if (newest !== undefined && metadata.index < newest) {
      throw new Error(`snapshots: group ${group} snapshot at ${metadata.index} is older than kept ${newest}`);
    }
    const name = snapshotFileName(group, metadata.index);
    const tmp = join(this.dir, `${name}.tmp`);
    const header = encodeHeader(group, metadata, source.totalBytes);
    const fh = await this.fs.open(tmp, 'create');
    try {
      await writeFully(fh, header, 0);
      let at = header.length;
      let crc = crc32(header);
      let unsynced = header.length;
      for (let slice = await source.next(); slice !== undefined; slice = await source.next()) {
        crc = crc32(slice, crc);
        // A slice (a received snapshot is one) is written in parts, each synced once it completes
        // SNAPSHOT_SYNC_EVERY_BYTES since the last sync.
        for (let done = 0; done < slice.byteLength; ) {
          const n = Math.min(slice.byteLength - done, SNAPSHOT_SYNC_EVERY_BYTES - unsynced);
          await writeFully(fh, slice.subarray(done, done + n), at);
          at += n;
          done += n;
          unsynced += n;
          if (unsynced >= SNAPSHOT_SYNC_EVERY_BYTES) {
            await fh.datasync();
            unsynced = 0;
          }
        }
        await pause();
      }
      const dataBytes = at - header.length;
      if (dataBytes !== source.totalBytes) {
        throw new Error(
          `snapshots: group ${group} snapshot of ${dataBytes} bytes, announced ${source.totalBytes}`,
        );
      }
      const tail = Buffer.alloc(4);
      tail.writeUInt32LE(crc);
      await writeFully(fh, tail, at);
      await fh.datasync();
    } catch (e) {
      // Nothing half-written stays (it would hold the space a full disk lacks).
      await fh.close().catch(() => {});
      await this.fs.unlink(tmp).catch(() => {});
      throw e;
    } finally {
      await fh.close().catch(() => {});
    }
    await this.fs.rename(tmp, join(this.dir, name));
    if (newest !== metadata.index) list.push(metadata.index);
    this.byGroup.set(group, list);
    await this.fs.syncPath(this.dir);
  }

  /**
   * The WAL marker naming the group's snapshot at `durableIndex` is durable: files below it are no
   * longer named by the log and are deleted. Call only after that marker's sync completed.
   */
  async release(group: number, durableIndex: number): Promise<void> {
    const list = this.byGroup.get(group) ?? [];
    if (!list.includes(durableIndex)) {
      throw new Error(`snapshots: releasing below ${durableIndex} of group ${group}, which has [${list}]`);
    }
    await this.unlinkWhere(group, list, (i) => i < durableIndex);
  }

  /**
   * Recovery: deletes the group's files above its durable marker's index (saved, but the crash came
   * before their marker was synced; the log never names them, and a later save may be below them).
   */
  async discardNewerThan(group: number, durableIndex: number): Promise<void> {
    const list = this.byGroup.get(group) ?? [];
    await this.unlinkWhere(group, list, (i) => i > durableIndex);
  }

  private async unlinkWhere(group: number, list: number[], drop: (index: number) => boolean): Promise<void> {
    const gone = list.filter(drop);
    if (gone.length === 0) return;
    for (const i of gone) await this.fs.unlink(join(this.dir, snapshotFileName(group, i)));
    this.byGroup.set(
      group,
      list.filter((i) => !drop(i)),
    );
    await this.fs.syncPath(this.dir);
  }

  /** The group's snapshot at exactly `index`. Throws SnapshotMissingError or SnapshotCorruptionError. */
  async load(group: number, index: number): Promise<Snapshot> {
    if (!(this.byGroup.get(group) ?? []).includes(index))
      throw new SnapshotMissingError(this.dir, group, index);
    const file = join(this.dir, snapshotFileName(group, index));
    const parsed = decodeSnapshotFile(await this.fs.readFile(file), group, index);
    if (typeof parsed === 'string') throw new SnapshotCorruptionError(file, parsed);
    return parsed;
  }

  /**
   * The newest valid snapshot of the group, falling back to the older kept one when the newest is
   * corrupt; undefined when there is none; SnapshotCorruptionError when none of the kept ones is valid.
   */
  async loadLatest(group: number): Promise<Snapshot | undefined> {
    const list = this.byGroup.get(group) ?? [];
    let firstError: SnapshotCorruptionError | undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      try {
        return await this.load(group, list[i]!);
      } catch (e) {
        if (!(e instanceof SnapshotCorruptionError)) throw e;
        firstError ??= e;
      }
    }
    if (firstError !== undefined) throw firstError;
    return undefined;
  }

  /** Deletes every snapshot of a group (its replica left this node). */
  async removeGroup(group: number): Promise<void> {
    for (const i of this.byGroup.get(group) ?? [])
      await this.fs.unlink(join(this.dir, snapshotFileName(group, i)));
    this.byGroup.delete(group);
    await this.fs.syncPath(this.dir);
  }
}

// ---- encoding ---------------------------------------------------------------------------------------

const LISTS = ['voters', 'votersOutgoing', 'learners', 'learnersNext'] as const;

function encodeHeader(group: number, metadata: SnapshotMetadata, dataBytes: number): Buffer {
  const cs = metadata.confState;
  let csBytes = 1;
  for (const key of LISTS) {
    csBytes += 2;
    for (const id of cs[key]) csBytes += 2 + Buffer.byteLength(id, 'utf8');
  }
  const buf = Buffer.alloc(FIXED_HEADER_BYTES + csBytes);
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt16LE(FORMAT_VERSION, 4);
  buf.writeUInt32LE(group, 8);
  writeU64(buf, 12, metadata.index);
  writeU64(buf, 20, metadata.term);
  buf.writeUInt32LE(csBytes, 28);
  writeU64(buf, 32, dataBytes);
  let p = FIXED_HEADER_BYTES;
  for (const key of LISTS) {
    const ids = cs[key];
    if (ids.length > 0xffff) throw new Error(`snapshots: ${ids.length} ${key} do not fit`);
    buf.writeUInt16LE(ids.length, p);
    p += 2;
    for (const id of ids) {
      const n = buf.write(id, p + 2, 'utf8');
      buf.writeUInt16LE(n, p);
      p += 2 + n;
    }
  }
  buf.writeUInt8(cs.autoLeave ? 1 : 0, p);
  return buf;
}

function writeU64(buf: Buffer, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`snapshots: ${n} is not a non-negative safe integer`);
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / 0x1_0000_0000), off + 4);
}

function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off + 4) * 0x1_0000_0000 + buf.readUInt32LE(off);
}

/** Parses and verifies a snapshot file; returns a reason string when it is not valid. */
export function decodeSnapshotFile(buf: Buffer, group: number, index: number): Snapshot | string {
  if (buf.length < FIXED_HEADER_BYTES + 4) return `file of ${buf.length} bytes is too short`;
  const stored = buf.readUInt32LE(buf.length - 4);
  const actual = crc32(buf.subarray(0, buf.length - 4));
  if (stored !== actual) return `checksum mismatch (stored ${stored}, computed ${actual})`;
  if (buf.readUInt32LE(0) !== MAGIC || buf.readUInt16LE(4) !== FORMAT_VERSION) return 'bad magic or version';
  if (buf.readUInt32LE(8) !== group || readU64(buf, 12) !== index)
    return 'group or index differs from the file name';
  const csBytes = buf.readUInt32LE(28);
  const dataBytes = readU64(buf, 32);
  if (FIXED_HEADER_BYTES + csBytes + dataBytes + 4 !== buf.length) return 'section lengths do not add up';
  const lists: NodeId[][] = [];
  let p = FIXED_HEADER_BYTES;
  for (let l = 0; l < LISTS.length; l++) {
    const count = buf.readUInt16LE(p);
    p += 2;
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) {
      const n = buf.readUInt16LE(p);
      ids.push(buf.toString('utf8', p + 2, p + 2 + n) as NodeId);
      p += 2 + n;
    }
    lists.push(ids);
  }
  const confState: ConfState = {
    voters: lists[0]!,
    votersOutgoing: lists[1]!,
    learners: lists[2]!,
    learnersNext: lists[3]!,
    autoLeave: buf.readUInt8(p) === 1,
  };
  if (p + 1 !== FIXED_HEADER_BYTES + csBytes) return 'membership section is malformed';
  const start = FIXED_HEADER_BYTES + csBytes;
  return {
    metadata: { index: index as Index, term: readU64(buf, 20) as Term, confState },
    data: buf.subarray(start, start + dataBytes),
  };
}
