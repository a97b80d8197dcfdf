// Shared by the storage tests only: temporary directories that are always removed, and entry builders.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, Rng } from '../raft/types.ts';
import { index, term } from '../raft/types.ts';
import type { FileHandle, FileSystem, OpenMode } from './file-system.ts';
import { hookedHandle, PassThroughFileSystem } from './pass-through-file-system.ts';

/** Runs fn with a fresh directory under os.tmpdir() and removes it afterwards, pass or fail. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-storage-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Entries first..first+count-1 of term t, each with a small payload that names it. */
export function makeEntries(first: number, count: number, t: number, payloadBytes = 8): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const data = Buffer.alloc(payloadBytes, (first + i) & 0xff);
    out.push({ index: index(first + i), term: term(t), type: 'normal', data });
  }
  return out;
}

/** Entries as plain comparable values (Uint8Array vs Buffer differences removed). */
export function plainEntries(
  entries: readonly Entry[],
): { index: number; term: number; type: string; data: string }[] {
  return entries.map((e) => ({
    index: e.index,
    term: e.term,
    type: e.type,
    data: Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength).toString('hex'),
  }));
}

/** A call a hooked file system is about to make: a write or a sync of a file opened by `path` in `mode`. */
export interface FileCall {
  readonly op: 'write' | 'sync';
  readonly path: string;
  readonly mode: OpenMode;
}

/**
 * `inner` with `hook` run before every write and sync of a file (throw from it to fail the call, as
 * the disk would): fault injection on the real disk, where SimFileSystem.failNext cannot reach.
 */
export function hookedFileSystem(inner: FileSystem, hook: (call: FileCall) => void): FileSystem {
  return new HookedFileSystem(inner, hook);
}

class HookedFileSystem extends PassThroughFileSystem {
  private readonly hook: (call: FileCall) => void;

  constructor(inner: FileSystem, hook: (call: FileCall) => void) {
    super(inner);
    this.hook = hook;
  }

  override async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return hookedHandle(await this.inner.open(path, mode), (op) => this.hook({ op, path, mode }));
  }
}

/** A seeded generator for SimFileSystem.crash (mulberry32): the same seed, the same crash. */
export function seededRng(seed: number): Rng {
  let state = seed >>> 0;
  return {
    nextInt: (n) => {
      if (!Number.isInteger(n) || n < 1) throw new Error(`nextInt(${n}): n must be a positive integer`);
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000) * n);
    },
  };
}

/** Crashes that keep every unsynced change (KEEP_ALL) or none (KEEP_NONE): the two ends of what may survive. */
export const KEEP_ALL: Rng = { nextInt: (n) => n - 1 };
export const KEEP_NONE: Rng = { nextInt: () => 0 };
