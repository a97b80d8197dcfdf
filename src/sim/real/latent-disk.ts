// A disk that takes time: the FileSystem of one node incarnation over its SimFileSystem mount,
// where writes and syncs complete a few virtual milliseconds after they are issued (each completion
// its own world event, in issue order). A write reaches the disk (the page cache) when it is
// issued, and is durable only once a sync completes; a sync is done on the disk when it completes.
// A write to a file opened O_DSYNC ('update-dsync', 'create-dsync') is issued as a plain write and
// made durable by a datasync when it completes, which is what O_DSYNC promises; so a crash while it
// is in flight tears it (as the SimFileSystem's tearing decides), as a power loss during a real
// write may. Meanwhile the node's work that overlaps a sync (a leader's early appends, applying
// what is already durable) really overlaps it. A dead incarnation's operations never complete; a
// paused one's complete on the disk, and its code learns so when it resumes (`hold`). Reads, opens,
// renames and unlinks take effect at once.
import { type FileHandle, type FileSystem, type OpenMode, writesDurably } from '../../storage/file-system.ts';
import { PassThroughFileSystem } from '../../storage/pass-through-file-system.ts';
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

type Outcome<T> = { readonly ok: T } | { readonly err: unknown };

async function outcomeOf<T>(op: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: await op() };
  } catch (err) {
    return { err };
  }
}

export class LatentDisk extends PassThroughFileSystem {
  private readonly world: DiskWorld;
  private readonly rng: Prng;
  private readonly latency: DiskLatency;
  private readonly isAlive: () => boolean;
  private readonly hold: Hold;
  /** When the last operation issued completes: operations complete in issue order. */
  private lastDoneMs = 0;
  /** Operations issued and not completed (a crash now may tear the writes among them). */
  inFlight = 0;
  /** Added to the next operation's time (a latency spike: the disk stalls; those behind it wait too). */
  private stallMs = 0;

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
    super(inner);
    this.world = world;
    this.rng = rng;
    this.latency = latency;
    this.isAlive = isAlive;
    this.hold = hold;
  }

  /**
   * An operation that takes time: `now` is done on the disk at once (a write into the page cache),
   * `atCompletion` when it completes (a sync), and the caller sees the outcome of both then. Never
   * settles if the incarnation dies first.
   */
  slow<T, U>(now: () => Promise<T>, atCompletion: (t: T) => Promise<U>): Promise<U> {
    const { minMs, maxMs } = this.latency;
    const nowMs = this.world.nowMs();
    const doneMs = Math.max(
      nowMs + minMs + this.rng.nextInt(maxMs - minMs + 1) + this.stallMs,
      this.lastDoneMs,
    );
    this.stallMs = 0;
    this.lastDoneMs = doneMs;
    const issued = outcomeOf(now);
    this.inFlight++;
    return new Promise<U>((resolve, reject) => {
      this.world.schedule(doneMs - nowMs, () => {
        this.inFlight--;
        if (!this.isAlive()) return;
        void issued
          .then((o) => ('ok' in o ? outcomeOf(() => atCompletion(o.ok)) : o))
          .then((o) => this.hold(() => ('ok' in o ? resolve(o.ok) : reject(o.err))));
      });
    });
  }

  /** The next write or sync takes `ms` longer (and every one issued after it waits for it). */
  stallNext(ms: number): void {
    if (!(Number.isInteger(ms) && ms >= 0)) throw new Error(`latent disk: stall of ${ms} ms`);
    this.stallMs = ms;
  }

  override get supportsDsync(): boolean {
    return true;
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    // O_DSYNC is kept here: the disk sees a plain file, synced as each write completes.
    const dsync = writesDurably(mode);
    const plain = mode === 'create-dsync' ? 'create' : mode === 'update-dsync' ? 'update' : mode;
    return new LatentHandle(this, await this.inner.open(path, plain), dsync);
  }

  override syncPath(path: string): Promise<void> {
    return this.slow(
      async () => undefined,
      () => this.inner.syncPath(path),
    );
  }
}

class LatentHandle implements FileHandle {
  private readonly disk: LatentDisk;
  private readonly inner: FileHandle;
  private readonly dsync: boolean;

  constructor(disk: LatentDisk, inner: FileHandle, dsync: boolean) {
    this.disk = disk;
    this.inner = inner;
    this.dsync = dsync;
  }

  writev(views: readonly Uint8Array[], positionBytes: number): Promise<number> {
    return this.written(() => this.inner.writev(views, positionBytes));
  }

  write(data: Uint8Array, positionBytes: number): Promise<number> {
    return this.written(() => this.inner.write(data, positionBytes));
  }

  /** The write reaches the disk now; with O_DSYNC, it is durable when it completes. */
  private written(write: () => Promise<number>): Promise<number> {
    return this.disk.slow(write, async (n) => {
      if (this.dsync) await this.inner.datasync();
      return n;
    });
  }

  datasync(): Promise<void> {
    return this.disk.slow(
      async () => undefined,
      () => this.inner.datasync(),
    );
  }

  sync(): Promise<void> {
    return this.disk.slow(
      async () => undefined,
      () => this.inner.sync(),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
