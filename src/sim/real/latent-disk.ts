// A disk that takes time: the FileSystem of one node incarnation over its SimFileSystem mount, where
// writes and syncs complete a few virtual milliseconds after they are issued (each in its own world
// event), in the order they were issued. The operation itself is done on the in-memory disk when it
// completes, so a crash in between loses it (as the contract of file-system.ts allows for anything
// not yet returned), and the node's work that overlaps a sync (a leader's early appends, applying
// what is already durable) really overlaps it. A dead incarnation's operations never complete; a
// paused one's complete on the disk, and its code learns so when it resumes (`hold`).
// Reads, opens, renames and unlinks take effect at once (the page cache).
import type { FileHandle, FileSystem, OpenMode } from '../../storage/file-system.ts';
import type { Prng } from '../prng.ts';
import type { Hold } from './sim-clock.ts';

export interface DiskLatency {
  /** Each write or sync takes a time drawn uniformly from [minMs, maxMs]. */
  readonly minMs: number;
  readonly maxMs: number;
}

/** The world as the disk needs it: when it is, and an event some time from now. */
export interface DiskWorld {
  nowMs(): number;
  schedule(delayMs: number, fn: () => void): void;
}

export class LatentDisk implements FileSystem {
  readonly supportsDsync: boolean;
  private readonly inner: FileSystem;
  private readonly world: DiskWorld;
  private readonly rng: Prng;
  private readonly latency: DiskLatency;
  private readonly isAlive: () => boolean;
  private readonly hold: Hold;
  /** When the last operation issued completes: operations complete in issue order. */
  private lastDoneMs = 0;
  /** Writes and syncs issued and not completed. */
  inFlight = 0;

  constructor(
    inner: FileSystem,
    world: DiskWorld,
    rng: Prng,
    latency: DiskLatency,
    isAlive: () => boolean,
    hold: Hold,
  ) {
    if (!(latency.minMs >= 0 && latency.maxMs >= latency.minMs))
      throw new Error(`latent disk: bad latency [${latency.minMs}, ${latency.maxMs}] ms`);
    this.inner = inner;
    this.world = world;
    this.rng = rng;
    this.latency = latency;
    this.isAlive = isAlive;
    this.hold = hold;
    this.supportsDsync = inner.supportsDsync;
  }

  /** Runs `op` on the disk when this operation completes; never settles if the incarnation dies first. */
  slow<T>(op: () => Promise<T>): Promise<T> {
    const { minMs, maxMs } = this.latency;
    const nowMs = this.world.nowMs();
    const doneMs = Math.max(nowMs + minMs + this.rng.nextInt(maxMs - minMs + 1), this.lastDoneMs);
    this.lastDoneMs = doneMs;
    this.inFlight++;
    return new Promise<T>((resolve, reject) => {
      this.world.schedule(doneMs - nowMs, () => {
        this.inFlight--;
        if (!this.isAlive()) return;
        // The disk does it now; the process sees the result when it runs (the SimFileSystem
        // settles at once: the continuation is held, not the operation).
        op().then(
          (v) => this.hold(() => resolve(v)),
          (e: unknown) => this.hold(() => reject(e)),
        );
      });
    });
  }

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return new LatentHandle(this, await this.inner.open(path, mode));
  }

  readFile(path: string): Promise<Buffer> {
    return this.inner.readFile(path);
  }

  readdir(path: string): Promise<string[]> {
    return this.inner.readdir(path);
  }

  mkdir(path: string): Promise<void> {
    return this.inner.mkdir(path);
  }

  rename(from: string, to: string): Promise<void> {
    return this.inner.rename(from, to);
  }

  unlink(path: string): Promise<void> {
    return this.inner.unlink(path);
  }

  syncPath(path: string): Promise<void> {
    return this.slow(() => this.inner.syncPath(path));
  }

  access(path: string, want: 'exists' | 'writable'): Promise<void> {
    return this.inner.access(path, want);
  }

  freeBytes(path: string): Promise<number> {
    return this.inner.freeBytes(path);
  }
}

class LatentHandle implements FileHandle {
  private readonly disk: LatentDisk;
  private readonly inner: FileHandle;

  constructor(disk: LatentDisk, inner: FileHandle) {
    this.disk = disk;
    this.inner = inner;
  }

  writev(views: readonly Uint8Array[], positionBytes: number): Promise<number> {
    // Not copied: as with node:fs, the caller must leave the buffers alone until the write settles,
    // and one that did not would see its later bytes written here.
    return this.disk.slow(() => this.inner.writev(views, positionBytes));
  }

  write(data: Uint8Array, positionBytes: number): Promise<number> {
    return this.disk.slow(() => this.inner.write(data, positionBytes));
  }

  datasync(): Promise<void> {
    return this.disk.slow(() => this.inner.datasync());
  }

  sync(): Promise<void> {
    return this.disk.slow(() => this.inner.sync());
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
