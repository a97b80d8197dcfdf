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
