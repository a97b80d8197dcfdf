// The FileSystem of file-system.ts on the real disk, through node:fs/promises. The only file of
// src/storage and src/node that imports node:fs (scripts/check-layers.ts): everything durable the node
// does goes through here, so a simulator can put its own disk in its place.
import { constants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FileHandle, FileSystem, OpenMode } from './file-system.ts';

const HAS_DSYNC = typeof constants.O_DSYNC === 'number';

function flagsOf(mode: OpenMode): string | number {
  if (mode === 'create') return 'w';
  if (mode === 'update') return constants.O_RDWR;
  const dsync = HAS_DSYNC ? constants.O_DSYNC : 0;
  if (mode === 'create-dsync') return constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | dsync;
  return constants.O_RDWR | dsync;
}

class RealFileHandle implements FileHandle {
  private readonly fh: fsp.FileHandle;

  constructor(fh: fsp.FileHandle) {
    this.fh = fh;
  }

  async writev(views: readonly Uint8Array[], positionBytes: number): Promise<number> {
    return (await this.fh.writev(views as Uint8Array[], positionBytes)).bytesWritten;
  }

  async write(data: Uint8Array, positionBytes: number): Promise<number> {
    return (await this.fh.write(data, 0, data.length, positionBytes)).bytesWritten;
  }

  datasync(): Promise<void> {
    return this.fh.datasync();
  }

  sync(): Promise<void> {
    return this.fh.sync();
  }

  close(): Promise<void> {
    // A second close of a FileHandle is a no-op in Node as well; callers close in both catch and finally.
    return this.fh.close();
  }
}

export const REAL_FILE_SYSTEM: FileSystem = {
  supportsDsync: HAS_DSYNC,

  async open(path, mode) {
    return new RealFileHandle(await fsp.open(path, flagsOf(mode)));
  },

  readFile: (path) => fsp.readFile(path),

  async readRange(path, positionBytes, lengthBytes) {
    const fh = await fsp.open(path, 'r');
    try {
      const buf = Buffer.allocUnsafe(lengthBytes);
      let got = 0;
      // Bounded: each pass reads at least one byte or stops at the end of the file.
      while (got < lengthBytes) {
        const { bytesRead } = await fh.read(buf, got, lengthBytes - got, positionBytes + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return got === lengthBytes ? buf : buf.subarray(0, got);
    } finally {
      await fh.close();
    }
  },

  readdir: (path) => fsp.readdir(path),

  async mkdir(path) {
    const first = await fsp.mkdir(path, { recursive: true });
    if (first === undefined) return;
    const target = resolve(path);
    // Link every created level durably, from the top one down: each one's name lives in its parent.
    const created: string[] = [];
    // Bounded by the depth of `path` below `first`.
    for (let at = target; ; at = dirname(at)) {
      created.push(at);
      if (at === resolve(first) || dirname(at) === at) break;
    }
    for (const dir of created.reverse()) await syncPath(dirname(dir));
  },

  rename: (from, to) => fsp.rename(from, to),

  unlink: (path) => fsp.unlink(path),

  syncPath,

  access: (path, want) => fsp.access(path, want === 'exists' ? constants.F_OK : constants.W_OK),

  async freeBytes(path) {
    const s = await fsp.statfs(path);
    return s.bavail * s.bsize;
  },
};

/** fsync by name: opened read-only (which Linux allows for both files and directories), synced, closed. */
async function syncPath(path: string): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
