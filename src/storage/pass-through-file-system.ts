// The base of the FileSystem wrappers that change how some calls behave (a hook that fails writes
// and syncs, a gate held in front of the WAL, a disk that takes time) and hand every other call to
// the file system behind them unchanged. A wrapper overrides what it changes; names, reads and the
// contract of file-system.ts stay those of `inner`.
import type { FileHandle, FileSystem, OpenMode } from './file-system.ts';

export class PassThroughFileSystem implements FileSystem {
  protected readonly inner: FileSystem;

  constructor(inner: FileSystem) {
    this.inner = inner;
  }

  get supportsDsync(): boolean {
    return this.inner.supportsDsync;
  }

  open(path: string, mode: OpenMode): Promise<FileHandle> {
    return this.inner.open(path, mode);
  }

  readFile(path: string): Promise<Buffer> {
    return this.inner.readFile(path);
  }

  readRange(path: string, positionBytes: number, lengthBytes: number): Promise<Buffer> {
    return this.inner.readRange(path, positionBytes, lengthBytes);
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
    return this.inner.syncPath(path);
  }

  access(path: string, want: 'exists' | 'writable'): Promise<void> {
    return this.inner.access(path, want);
  }

  freeBytes(path: string): Promise<number> {
    return this.inner.freeBytes(path);
  }
}

/**
 * `file` with `before` run ahead of every write and sync (throwing or rejecting from it fails the
 * call, as the disk would; waiting in it delays the call). Closing passes straight through.
 */
export function hookedHandle(
  file: FileHandle,
  before: (op: 'write' | 'sync') => void | Promise<void>,
): FileHandle {
  return {
    writev: async (views, positionBytes) => {
      await before('write');
      return file.writev(views, positionBytes);
    },
    write: async (data, positionBytes) => {
      await before('write');
      return file.write(data, positionBytes);
    },
    datasync: async () => {
      await before('sync');
      return file.datasync();
    },
    sync: async () => {
      await before('sync');
      return file.sync();
    },
    close: () => file.close(),
  };
}
