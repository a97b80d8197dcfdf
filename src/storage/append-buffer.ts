// Bytes appended to the log but not yet written: a list of blocks that records are encoded into in
// place. A flush hands all blocks to one writev (a single pwritev system call), so no concatenation copy.
// Once the write is done, the blocks go back to a small pool for the next rounds (BlockPool).

/** Largest block size; a record larger than this gets a block of its own size. */
const BLOCK_BYTES_DEFAULT = 256 * 1024;
/**
 * First block size; each further block doubles, up to the largest. A buffer lives for one sync
 * round, and most rounds hold a few small records: a fixed 256 KiB block per round was ~60 MB/s of
 * external (ArrayBuffer) allocation at a few hundred syncs per second, which made V8 run a full
 * Mark-Compact every 200–300 ms (4–12 ms pauses, much of the node's CPU at low load).
 */
const FIRST_BLOCK_BYTES = 16 * 1024;

/** Blocks kept for reuse at most (each at most the largest block size). */
const POOLED_BLOCKS_MAX = 8;

/**
 * Blocks of finished rounds, reused by the next ones. Why: every new block is an ArrayBuffer outside
 * V8's heap, and V8 answers a growing external allocation rate with full Mark-Compacts. With a fresh
 * 16 KiB block per round, a node at a few hundred rounds a second allocated ~10 MB/s of them and ran
 * a 3–10 ms Mark-Compact one to three times a second (measured with v8.getHeapSpaceStatistics and
 * PerformanceObserver 'gc'), most of the p99 of a lone put.
 */
export class BlockPool {
  private readonly free: Buffer[] = [];
  private readonly blockBytesMax: number;

  constructor(blockBytesMax: number = BLOCK_BYTES_DEFAULT) {
    this.blockBytesMax = blockBytesMax;
  }

  /** A block of at least `bytes`: a pooled one if one is large enough, else a new one. */
  take(bytes: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const b = this.free[i]!;
      if (b.length >= bytes) {
        this.free.splice(i, 1);
        return b;
      }
    }
    return Buffer.allocUnsafe(bytes);
  }

  /** Keeps `b` for reuse (the caller no longer reads or writes it); oversize blocks are dropped. */
  give(b: Buffer): void {
    if (this.free.length < POOLED_BLOCKS_MAX && b.length <= this.blockBytesMax) this.free.push(b);
  }

  get size(): number {
    return this.free.length;
  }
}

export class AppendBuffer {
  private readonly blocks: Buffer[] = [];
  /** Bytes written in each block. Invariant: used[i] <= blocks[i].length, same length as blocks. */
  private readonly used: number[] = [];
  /** Invariant: usedInLast <= last block's length. */
  private usedInLast = 0;
  /** Total bytes committed across blocks. */
  sizeBytes = 0;
  private readonly blockBytes: number;
  private nextBlockBytes: number;
  private readonly pool: BlockPool | undefined;

  constructor(blockBytes: number = BLOCK_BYTES_DEFAULT, pool?: BlockPool) {
    this.blockBytes = blockBytes;
    this.nextBlockBytes = Math.min(FIRST_BLOCK_BYTES, blockBytes);
    this.pool = pool;
  }

  /** Returns a block with at least `bytes` free from `offset`; the caller encodes, then calls commit(). */
  reserve(bytes: number): { buf: Buffer; offset: number } {
    const last = this.blocks[this.blocks.length - 1];
    if (last !== undefined && last.length - this.usedInLast >= bytes)
      return { buf: last, offset: this.usedInLast };
    const want = Math.max(this.nextBlockBytes, bytes);
    const block = this.pool?.take(want) ?? Buffer.allocUnsafe(want);
    this.nextBlockBytes = Math.min(this.nextBlockBytes * 2, this.blockBytes);
    if (last !== undefined) this.used[this.used.length - 1] = this.usedInLast;
    this.blocks.push(block);
    this.used.push(0);
    this.usedInLast = 0;
    return { buf: block, offset: 0 };
  }

  /** Marks the bytes up to `end` of the block last returned by reserve() as written. */
  commit(end: number): void {
    const last = this.blocks[this.blocks.length - 1];
    if (last === undefined || end < this.usedInLast || end > last.length) {
      throw new Error(`append-buffer: commit(${end}) outside [${this.usedInLast}, ${last?.length ?? 0}]`);
    }
    this.sizeBytes += end - this.usedInLast;
    this.usedInLast = end;
  }

  /** Hands every block back to the pool: the buffer must not be used afterwards (its write is done). */
  release(): void {
    if (this.pool !== undefined) for (const b of this.blocks) this.pool.give(b);
    this.blocks.length = 0;
    this.used.length = 0;
    this.usedInLast = 0;
    this.sizeBytes = 0;
  }

  /** The written bytes, as views (no copy). */
  views(): Buffer[] {
    const out: Buffer[] = [];
    for (let i = 0; i < this.blocks.length; i++) {
      const b = this.blocks[i]!;
      const used = i === this.blocks.length - 1 ? this.usedInLast : this.used[i]!;
      if (used > 0) out.push(b.subarray(0, used));
    }
    return out;
  }
}
