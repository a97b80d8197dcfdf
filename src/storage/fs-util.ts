// File-system helpers shared by the log and the snapshot store.
import { open } from 'node:fs/promises';

/** fsync of a directory makes creations, renames and deletions in it durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * fsync of a file that is about to be trusted: data a crashed (or failed) process wrote may be only in
 * the kernel's cache; reading it back would treat it as durable before it is.
 */
export async function syncFile(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
