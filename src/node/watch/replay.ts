// Changes older than a shard's event ring, rebuilt: the snapshot restored into a scratch machine and
// the log since it applied again to the same KvState as the live apply path (the machine's own
// recording is for live watchers: the scratch state reports to this replay instead), so that
// previous values are exact and a repeated command (same proposer and seq) is skipped exactly
// as it was when first applied (it then changed nothing, and gives no event).
import type { Entry } from '../../raft/types.ts';
import { decodeCommand } from '../../storage/command.ts';
import type { KvChange } from '../../storage/kv-change.ts';
import { KvMachine } from '../kv-machine.ts';
import type { EntryChanges } from './event-ring.ts';
import { type WatchKeys, watches } from './match.ts';

export interface Replayed {
  /** Matching changes of the entries at `from` or after, oldest first. */
  readonly entries: EntryChanges[];
  /** False when `bytesMax` stopped the replay early: the caller serves these, then asks to resume. */
  readonly complete: boolean;
}

/**
 * Applies `log` (the entries after the snapshot, in order) over `snapshotData`, keeping the changes
 * of the watched keys from position `from` on, at most about `bytesMax` of them.
 */
export function replayChanges(
  snapshotData: Uint8Array,
  log: readonly Entry[],
  from: number,
  keys: WatchKeys,
  bytesMax: number,
): Replayed {
  const machine = new KvMachine();
  machine.restore(snapshotData);
  const state = machine.state;
  let pending: KvChange[] = [];
  state.onChange = (c) => {
    if (watches(keys, c.key)) pending.push(c);
  };
  const entries: EntryChanges[] = [];
  let bytes = 0;
  for (const e of log) {
    if (e.type !== 'normal' || e.data.byteLength === 0) continue;
    state.apply(e.index, decodeCommand(e.data));
    if (pending.length === 0 || e.index < from) {
      pending = [];
      continue;
    }
    let b = 0;
    for (const c of pending) b += c.key.byteLength + c.value.byteLength + (c.prev?.value.byteLength ?? 0);
    entries.push({ index: e.index, changes: pending, bytes: b });
    pending = [];
    bytes += b;
    if (bytes > bytesMax) return { entries, complete: false };
  }
  return { entries, complete: true };
}
