// Helpers over a FileSystem (file-system.ts), shared by the log, the snapshot store and the node.
import { dirname, resolve } from 'node:path';
import type { FileHandle, FileSystem } from './file-system.ts';

/** Bound on the writes that finish one short write: each one writes at least a byte or throws. */
const SHORT_WRITES_MAX = 64;

/**
 * Writes all of `data` at positionBytes. A short write (the disk filled up) is followed by writes of
 * the rest, the first of which shows the error (ENOSPC) itself; a write that makes no progress throws.
 */
export async function writeFully(file: FileHandle, data: Uint8Array, positionBytes: number): Promise<void> {
  let written = await file.write(data, positionBytes);
  // Bounded by SHORT_WRITES_MAX.
  for (let attempt = 0; written < data.length; attempt++) {
    const n = await file.write(data.subarray(written), positionBytes + written);
    if (n <= 0 || attempt >= SHORT_WRITES_MAX) {
      throw new Error(`short writes stuck at ${written} of ${data.length} bytes at offset ${positionBytes}`);
    }
    written += n;
  }
  if (written !== data.length) throw new Error(`wrote ${written} bytes of ${data.length}`);
}

/**
 * Why `dir` cannot be created or written, in words an operator can act on, or undefined when its
 * nearest existing ancestor is writable (the failure was something else). A read-only file system
 * shows up as ENOENT from a recursive mkdir, which says nothing useful by itself.
 */
export async function whyUnwritable(fs: FileSystem, dir: string): Promise<string | undefined> {
  let at = resolve(dir);
  // Bounded: each pass moves one level up, and the root is its own parent.
  for (;;) {
    try {
      await fs.access(at, 'exists');
      break;
    } catch {
      const up = dirname(at);
      if (up === at) return undefined;
      at = up;
    }
  }
  try {
    await fs.access(at, 'writable');
    return undefined;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'EROFS') return `${at} is on a read-only file system`;
    if (code === 'EACCES' || code === 'EPERM')
      return `this process may not write in ${at} (permission denied)`;
    return undefined;
  }
}
