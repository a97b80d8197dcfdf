// File-system helpers shared by the log and the snapshot store.
import { constants } from 'node:fs';
import { access, open, statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * fsync of a directory or a file. A directory: its creations, renames and deletions become durable.
 * A file about to be trusted: data a crashed (or failed) process wrote may be only in the kernel's
 * cache, and reading it back would treat it as durable before it is.
 */
export async function syncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Why `dir` cannot be created or written, in words an operator can act on, or undefined when its
 * nearest existing ancestor is writable (the failure was something else). A read-only file system
 * shows up as ENOENT from a recursive mkdir, which says nothing useful by itself.
 */
export async function whyUnwritable(dir: string): Promise<string | undefined> {
  let at = resolve(dir);
  // Bounded: each pass moves one level up, and the root is its own parent.
  for (;;) {
    try {
      await access(at, constants.F_OK);
      break;
    } catch {
      const up = dirname(at);
      if (up === at) return undefined;
      at = up;
    }
  }
  try {
    await access(at, constants.W_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EROFS') return `${at} is on a read-only file system`;
    if (code === 'EACCES' || code === 'EPERM')
      return `this process may not write in ${at} (permission denied)`;
    return undefined;
  }
}

/** Bytes an unprivileged process can still write on the file system holding `path`. */
export async function freeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}
