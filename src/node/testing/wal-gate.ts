// A WAL I/O seam (storage/wal.ts `WalIo`) that a test can close: while held, every write and
// fdatasync the WAL starts waits at the gate, so nothing the WAL is asked to sync becomes durable
// until the test releases it. Calls pass through to the real disk (NODE_IO) once let go.
import type { FileHandle } from 'node:fs/promises';
import { NODE_IO, type WalIo } from '../../storage/wal.ts';

/**
 * The WAL runs its file I/O on one lane (one call at a time), so one WAL parks at most one call
 * here; the bound only catches a gate shared by more WALs than a test would ever start.
 */
const WAITING_CALLS_MAX = 64;

export class WalGate implements WalIo {
  private holding = false;
  /** Calls parked while held, released in arrival order. Invariant: empty while not holding. */
  private parked: (() => void)[] = [];
  /** Calls that had to wait at the gate since it was created (whether or not released since). */
  callsHeldTotal = 0;

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

  async writev(fh: FileHandle, views: readonly Uint8Array[], offsetBytes: number): Promise<number> {
    await this.pass();
    return NODE_IO.writev(fh, views, offsetBytes);
  }

  async datasync(fh: FileHandle): Promise<void> {
    await this.pass();
    return NODE_IO.datasync(fh);
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
