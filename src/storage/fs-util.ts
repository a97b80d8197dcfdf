// File-system helpers shared by the log and the snapshot store.
import { open } from 'node:fs/promises';

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
