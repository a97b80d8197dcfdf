// The file system under the node's durable state: the WAL, the snapshot store and the identity file
// reach the disk only through this interface (scripts/check-layers.ts: nothing else in src/storage or
// src/node imports node:fs). Two implementations keep the same contract: real-file-system.ts (the
// disk, through node:fs/promises) and sim-file-system.ts (in memory; crashes, full disks and failed
// syncs on demand, deterministically), so that a simulator can run the real node against a disk that
// crashes and fails.
//
// Contract (what the callers may rely on, and all they may rely on):
//
// Durability. A crash (power loss, kernel panic) keeps exactly what is durable, and may keep or lose
// anything else:
//   - File data is durable once `datasync()` or `sync()` on a handle of that file has returned, or,
//     for a file opened 'update-dsync' or 'create-dsync' (O_DSYNC), once the `write`/`writev` that
//     wrote it has returned (with the size change it needed). Nothing else makes data durable: not
//     `close()`, not a rename.
//   - A name (created by open 'create' or 'create-dsync', or `rename`, or removed by `unlink`) is
//     durable once its directory was fsynced (`syncPath(dir)`) after the change. `mkdir` is the exception: every
//     directory it creates is durably linked (its parent fsynced) before it returns.
//   - `syncPath(file)` makes that file's data durable as `sync()` would (used on data left by an
//     earlier process before trusting it).
//
// What a crash may do with what was not durable, per file and per directory, independently (this is
// what ext4 and xfs give: a journal that commits metadata in order, and writeback of dirty pages):
//   - A directory keeps its durable entries plus a prefix, in order, of the changes made since its last
//     fsync. A rename is atomic: the file is under its old name or its new one, never both or neither.
//     (So two unsynced unlinks in one directory never come back out of order.)
//   - A file keeps its durable content plus a prefix, in order, of the writes made since its last sync,
//     the last one of which may be cut at any byte; bytes between the old end of the file and a kept
//     write read as zeroes. Linux promises less (dirty pages reach the disk in any order, a page may be
//     torn at a sector); the WAL's recovery reports a record after an unwritten gap as corruption, the
//     safe direction (SimFileSystem's 'sectors' tearing produces exactly that).
//   - A file no durable name reaches is gone.
// Reads (`readFile`, `readRange`, `readdir`) see every completed change, durable or not, as the page cache does;
// after a crash they see what survived.
//
// Failures are errors with a `code` (Node's errno names), never a silent short result:
//   - ENOSPC: a write that needs more space than is free writes what fits and returns that count (a
//     short write) when some fits, and throws when nothing does; callers finish with writeFully
//     (fs-util.ts), which turns the rest into the error. Overwriting bytes inside the file needs no
//     space (why WAL segments are zero-filled in advance).
//   - EIO (or ENOSPC) from `datasync`/`sync`/`syncPath`: the data written since the last successful
//     sync may never reach the disk, and a later sync may still succeed without writing it (Linux
//     marks the failed pages clean); reads may go on showing it until the cache is dropped. A caller
//     must treat every write since its last successful sync as lost (the WAL poisons itself).
//   - EIO from a write: nothing of it may be assumed written.
//   - ENOENT, EEXIST, EISDIR, ENOTDIR, EACCES, EROFS as the real calls give them.
//
// Concurrency: calls may overlap; each one takes effect at some point between its call and its
// settling. Callers never issue overlapping writes to one region of a file (the WAL has one I/O lane).
// Paths are absolute or relative to the process's working directory, joined with node:path.

export type OpenMode =
  /** Create the file, or truncate an existing one, for writing ('w'). Its name is durable only after syncPath(dir). */
  | 'create'
  /** An existing file, for positioned writes ('r+'); ENOENT when it does not exist. */
  | 'update'
  /** As 'update', with O_DSYNC: each write is durable when it returns. */
  | 'update-dsync'
  /** As 'create', with O_DSYNC: each write is durable when it returns (the name, once its directory is synced). */
  | 'create-dsync';

/** Whether `mode` creates the file (or truncates an existing one). */
export function createsFile(mode: OpenMode): boolean {
  return mode === 'create' || mode === 'create-dsync';
}

/** Whether writes through a handle opened with `mode` are durable when they return (O_DSYNC). */
export function writesDurably(mode: OpenMode): boolean {
  return mode === 'update-dsync' || mode === 'create-dsync';
}

/** One open file. Positions are byte offsets from the start of the file. */
export interface FileHandle {
  /** Writes the views back to back at positionBytes; returns the bytes written (short only for ENOSPC). */
  writev(views: readonly Uint8Array[], positionBytes: number): Promise<number>;
  /** Writes data at positionBytes; returns the bytes written (short only for ENOSPC). */
  write(data: Uint8Array, positionBytes: number): Promise<number>;
  /** fdatasync: the data written so far (and the size) is durable when it resolves. */
  datasync(): Promise<void>;
  /** fsync: as datasync, and the file's other metadata. */
  sync(): Promise<void>;
  /** Idempotent. Makes nothing durable. */
  close(): Promise<void>;
}

export interface FileSystem {
  /** Whether the -dsync modes really open with O_DSYNC here (not on Windows); callers fall back to datasync. */
  readonly supportsDsync: boolean;
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  readFile(path: string): Promise<Buffer>;
  /** Up to lengthBytes bytes of the file from positionBytes (fewer only where the file ends). */
  readRange(path: string, positionBytes: number, lengthBytes: number): Promise<Buffer>;
  /** Names in a directory (no '.' or '..'), in no particular order. */
  readdir(path: string): Promise<string[]>;
  /** mkdir -p; every directory it creates is durably linked in its parent when it resolves. */
  mkdir(path: string): Promise<void>;
  /** Atomically gives `from` the name `to` (replacing it); durable after syncPath(dirname(to)). */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file's name; durable after syncPath(dirname(path)). */
  unlink(path: string): Promise<void>;
  /** fsync by name: of a directory, its entries become durable; of a file, its data. */
  syncPath(path: string): Promise<void>;
  /** Resolves when `path` exists ('exists') or this process may create files in it ('writable'); else throws with a code. */
  access(path: string, want: 'exists' | 'writable'): Promise<void>;
  /** Bytes an unprivileged process can still write on the file system holding `path` (statfs). */
  freeBytes(path: string): Promise<number>;
}

/** An error as node:fs makes them: `code` (errno name), `syscall`, `path`, and the same message shape. */
export class FileSystemError extends Error {
  override readonly name = 'FileSystemError';
  readonly code: FileSystemErrorCode;
  readonly syscall: string;
  readonly path: string;

  constructor(code: FileSystemErrorCode, syscall: string, path: string, detail?: string) {
    super(`${code}: ${detail ?? ERROR_TEXT[code]}, ${syscall} '${path}'`);
    this.code = code;
    this.syscall = syscall;
    this.path = path;
  }
}

export type FileSystemErrorCode = keyof typeof ERROR_TEXT;

const ERROR_TEXT = {
  ENOENT: 'no such file or directory',
  EEXIST: 'file already exists',
  EISDIR: 'illegal operation on a directory',
  ENOTDIR: 'not a directory',
  ENOSPC: 'no space left on device',
  EIO: 'i/o error',
  EBADF: 'bad file descriptor',
  EROFS: 'read-only file system',
} as const;
