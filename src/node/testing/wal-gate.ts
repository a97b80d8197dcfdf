// A FileSystem (storage/file-system.ts) that a test can close in front of the WAL's records: while
// held, every write and sync to a file opened for update (the segments the WAL appends records to)
// waits at the gate, so nothing the WAL is asked to sync becomes durable until the test releases it.
// Everything else (creating and zero-filling segments, snapshots, the identity file) passes, and all
// calls go on to the file system behind it (the disk by default) once let go.
import { createsFile, type FileHandle, type FileSystem, type OpenMode } from '../../storage/file-system.ts';
import { hookedHandle, PassThroughFileSystem } from '../../storage/pass-through-file-system.ts';
import { REAL_FILE_SYSTEM } from '../../storage/real-file-system.ts';

/**
 * The WAL runs its file I/O on one lane (one call at a time), so one WAL parks at most one call
 * here; the bound only catches a gate shared by more WALs than a test would ever start.
 */
const WAITING_CALLS_MAX = 64;

export class WalGate extends PassThroughFileSystem {
  private holding = false;
  /** Calls parked while held, released in arrival order. Invariant: empty while not holding. */
  private parked: (() => void)[] = [];
  /** Calls that had to wait at the gate since it was created (whether or not released since). */
  callsHeldTotal = 0;

  constructor(inner: FileSystem = REAL_FILE_SYSTEM) {
    super(inner);
  }

  /** From now on, writes and syncs wait until release(). Calls already past the gate are not stopped. */
  hold(): void {
    this.holding = true;
  }

  /** Lets every parked call go on (in arrival order) and stops holding new ones. */
  release(): void {
    this.holding = false;
    const parked = this.parked;
    this.parked = [];
    for (const go of parked) go();
  }

  get isHolding(): boolean {
    return this.holding;
  }

  /** Calls waiting at the gate now. */
  get callsWaiting(): number {
    return this.parked.length;
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const file = await this.inner.open(path, mode);
    return createsFile(mode) ? file : hookedHandle(file, () => this.pass());
  }

  private pass(): Promise<void> {
    if (!this.holding) return Promise.resolve();
    if (this.parked.length >= WAITING_CALLS_MAX) {
      throw new Error(`WalGate: ${this.parked.length} calls already waiting (bound ${WAITING_CALLS_MAX})`);
    }
    this.callsHeldTotal++;
    return new Promise<void>((go) => this.parked.push(go));
  }
}
