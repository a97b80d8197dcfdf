// A data shard's state machine: KV commands (src/storage/command.ts) applied to the ordered KV state
// (src/storage/kv-state.ts). The request id of a command is its (clientId, seq) pair; the state
// applies each at most once (its proposer sessions), and says which it skipped. Each applied
// command's changes go to the shard's watchers (watch/shard-watchers.ts), with their previous values,
// while they record them (the shard is watched); otherwise none are collected.
import type { Index } from '../raft/types.ts';
import { decodeCommand } from '../storage/command.ts';
import type { KvChange } from '../storage/kv-change.ts';
import { type ApplyResult, KvState, type KvStateOptions } from '../storage/kv-state.ts';
import type { SnapshotSource } from '../storage/snapshot-source.ts';
import type { ApplyOutcome, StateMachine, StateSize } from './state-machine.ts';
import { parseRequestKey, requestKey } from './state-machine.ts';
import { ShardWatchers } from './watch/shard-watchers.ts';

const NO_CHANGES: readonly KvChange[] = [];

export class KvMachine implements StateMachine<ApplyResult> {
  state: KvState;
  private readonly options: KvStateOptions;
  /** The shard's watchers on this replica and its recent changes. */
  readonly watchers = new ShardWatchers(0);
  /** The changes of the command being applied (state.onChange). Invariant: empty between applies. */
  private changes: KvChange[] = [];
  private readonly record = (c: KvChange): void => {
    this.changes.push(c);
  };

  /** `options`: the state's (the planted bug applyDuplicates, from the node's options). */
  constructor(options: KvStateOptions = {}) {
    this.options = options;
    this.state = new KvState(options);
  }

  apply(index: Index, data: Uint8Array): ApplyOutcome<ApplyResult> {
    const cmd = decodeCommand(data);
    this.state.onChange = this.watchers.recording ? this.record : undefined;
    const result = this.state.apply(index, cmd);
    const changes = this.changes.length === 0 ? NO_CHANGES : this.changes;
    if (changes !== NO_CHANGES) this.changes = [];
    this.watchers.applied(index, changes);
    const requestId = requestKey(cmd.clientId, cmd.seq);
    return result === undefined ? { requestId, skipped: true } : { requestId, result };
  }

  settled(requestId: string): boolean {
    const id = parseRequestKey(requestId);
    return id !== undefined && id.seq <= this.state.appliedSeq(id.clientId);
  }

  snapshot(): Uint8Array {
    return this.state.serialize();
  }

  snapshotSource(): SnapshotSource {
    return this.state.capture().source();
  }

  restore(data: Uint8Array): void {
    this.state = data.byteLength === 0 ? new KvState(this.options) : KvState.restore(data, this.options);
    this.watchers.reset(
      this.state.appliedIndex,
      `the replica's state was replaced by a snapshot at position ${this.state.appliedIndex}; resume the watch`,
    );
  }

  size(): StateSize {
    return { keys: this.state.count, bytes: this.state.sizeBytes };
  }
}
