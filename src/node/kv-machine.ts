// A data shard's state machine: KV commands (src/storage/command.ts) applied to the ordered KV state
// (src/storage/kv-state.ts). The request id of a command is its (clientId, seq) pair; the state
// applies each at most once (its proposer sessions), and says which it skipped.
import type { Index } from '../raft/types.ts';
import { decodeCommand } from '../storage/command.ts';
import { type ApplyResult, KvState, type KvStateOptions } from '../storage/kv-state.ts';
import type { ApplyOutcome, StateMachine, StateSize } from './state-machine.ts';
import { parseRequestKey, requestKey } from './state-machine.ts';

export class KvMachine implements StateMachine<ApplyResult> {
  state: KvState;
  private readonly options: KvStateOptions;

  /** `options`: the state's (the planted bug applyDuplicates, from the node's options). */
  constructor(options: KvStateOptions = {}) {
    this.options = options;
    this.state = new KvState(options);
  }

  apply(index: Index, data: Uint8Array): ApplyOutcome<ApplyResult> {
    const cmd = decodeCommand(data);
    const result = this.state.apply(index, cmd);
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

  restore(data: Uint8Array): void {
    this.state = data.byteLength === 0 ? new KvState(this.options) : KvState.restore(data, this.options);
  }

  size(): StateSize {
    return { keys: this.state.count, bytes: this.state.sizeBytes };
  }
}
