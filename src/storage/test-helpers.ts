// Shared by the storage tests only: temporary directories that are always removed, and entry builders.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../raft/types.ts';
import { index, term } from '../raft/types.ts';

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
