// A snapshot's bytes handed over a slice at a time, so that a large state is never copied whole:
// a state machine serialises itself into one reused buffer, and each slice goes to the snapshot
// file (snapshots.ts) before the next is made. The slices' lengths add up to totalBytes, known
// before the first one.

export interface SnapshotSource {
  readonly totalBytes: number;
  /**
   * The next slice, or undefined once all totalBytes were given. A slice may be a view of a buffer
   * that the following call overwrites: the caller is done with it before asking again.
   */
  next(): Promise<Uint8Array | undefined>;
  /**
   * Done with it, every slice read or not: whoever asked the state machine for the source calls it
   * (a capture of the state then stops keeping values for it).
   */
  close(): void;
}

/** The bytes already in memory, as one slice. */
export function bytesSource(data: Uint8Array): SnapshotSource {
  let given = false;
  return {
    totalBytes: data.byteLength,
    next: async () => {
      if (given) return undefined;
      given = true;
      return data;
    },
    close: () => {},
  };
}
