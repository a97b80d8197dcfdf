// Writing a backup file (backup-file.ts) as its shards arrive: into `<file>.part`, each shard's
// section streamed chunk by chunk with its checksum, then the manifest and the end marker; then the
// file is fsynced, renamed to its name and the directory fsynced. A save that fails removes the
// `.part` file, so a file under the real name is always complete.
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  encodeEnd,
  encodeFileHeader,
  encodeManifest,
  encodeSectionHeader,
  encodeU32,
  type Manifest,
  SECTION_MANIFEST,
  SECTION_SHARD,
  SectionChecksum,
  SHARD_BYTES_MAX,
} from './backup-file.ts';

type Handle = Awaited<ReturnType<typeof open>>;

interface OpenSection {
  readonly shard: number;
  readonly length: number;
  readonly section: SectionChecksum;
  readonly payload: SectionChecksum;
}

export class BackupWriter {
  readonly path: string;
  private readonly partPath: string;
  private readonly fh: Handle;
  /** Bytes written so far. Invariant: the file's length (writes are sequential and awaited). */
  private bytes = 0;
  /** Invariant: shards are written 1, 2, … in order; nextShard - 1 of them are complete. */
  private nextShard = 1;
  private current: OpenSection | undefined;
  /** Where the open section's header begins (rewindShard goes back there). */
  private sectionStart = 0;

  private constructor(path: string, partPath: string, fh: Handle) {
    this.path = path;
    this.partPath = partPath;
    this.fh = fh;
  }

  /** Starts `<path>.part` (an existing one is replaced: a save that did not finish). */
  static async create(path: string): Promise<BackupWriter> {
    const partPath = `${path}.part`;
    const fh = await open(partPath, 'w');
    const w = new BackupWriter(path, partPath, fh);
    await w.write(encodeFileHeader());
    return w;
  }

  private async write(b: Uint8Array): Promise<void> {
    // Bounded: each write makes progress or throws.
    for (let off = 0; off < b.byteLength; ) {
      const { bytesWritten } = await this.fh.write(b, off, b.byteLength - off, this.bytes);
      off += bytesWritten;
      this.bytes += bytesWritten;
    }
  }

  /** Opens the next shard's section, of exactly `length` bytes. */
  async beginShard(shard: number, length: number): Promise<void> {
    if (this.current !== undefined || shard !== this.nextShard)
      throw new Error(`backup writer: shard ${shard} begun, expected ${this.nextShard} with no section open`);
    if (!Number.isSafeInteger(length) || length < 0 || length > SHARD_BYTES_MAX)
      throw new RangeError(`shard ${shard}: ${length} bytes is outside [0, ${SHARD_BYTES_MAX}]`);
    const header = encodeSectionHeader(SECTION_SHARD, shard, length);
    this.sectionStart = this.bytes;
    this.current = {
      shard,
      length,
      section: new SectionChecksum(header),
      payload: new SectionChecksum(new Uint8Array(0)),
    };
    await this.write(header);
  }

  async append(chunk: Uint8Array): Promise<void> {
    const c = this.current;
    if (c === undefined || c.payload.bytes + chunk.byteLength > c.length)
      throw new Error(`backup writer: ${chunk.byteLength} bytes beyond shard ${c?.shard}'s ${c?.length}`);
    c.section.update(chunk);
    c.payload.update(chunk);
    await this.write(chunk);
  }

  /** Drops the open section (its source failed part way): the shard is begun again from its header. */
  rewindShard(): void {
    if (this.current === undefined) return;
    this.bytes = this.sectionStart;
    this.current = undefined;
  }

  /** Closes the shard's section; returns its payload's CRC-32 (for the manifest). */
  async endShard(): Promise<number> {
    const c = this.current;
    if (c === undefined || c.payload.bytes !== c.length)
      throw new Error(`backup writer: shard ${c?.shard} ended at ${c?.payload.bytes} of ${c?.length} bytes`);
    await this.write(encodeU32(c.section.value));
    this.current = undefined;
    this.nextShard++;
    return c.payload.value;
  }

  /** Writes the manifest and the end marker, makes the file durable under its name. */
  async finish(manifest: Manifest): Promise<number> {
    if (this.current !== undefined || manifest.shardCount !== this.nextShard - 1)
      throw new Error(`backup writer: manifest of ${manifest.shardCount} shards after ${this.nextShard - 1}`);
    const payload = encodeManifest(manifest);
    const header = encodeSectionHeader(SECTION_MANIFEST, 0, payload.byteLength);
    const crc = new SectionChecksum(header);
    crc.update(payload);
    await this.write(header);
    await this.write(payload);
    await this.write(encodeU32(crc.value));
    await this.write(encodeEnd(this.bytes));
    // A rewound section may have left bytes beyond what the file now holds.
    await this.fh.truncate(this.bytes);
    await this.fh.sync();
    await this.fh.close();
    await rename(this.partPath, this.path);
    await syncDir(dirname(this.path));
    return this.bytes;
  }

  /** Gives up: the `.part` file goes. */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => {});
    await unlink(this.partPath).catch(() => {});
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
