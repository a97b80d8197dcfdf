// A data shard's state machine: KV commands (src/storage/command.ts) applied to the ordered KV state
// (src/storage/kv-state.ts). The request id of a command is its (clientId, seq) pair.
import type { Index } from '../raft/types.ts';
import { decodeCommand } from '../storage/command.ts';
import { type ApplyResult, KvState } from '../storage/kv-state.ts';
import type { ApplyOutcome, StateMachine, StateSize } from './state-machine.ts';
import { requestKey } from './state-machine.ts';

export class KvMachine implements StateMachine<ApplyResult> {
  state = new KvState();

  apply(index: Index, data: Uint8Array): ApplyOutcome<ApplyResult> {
    const cmd = decodeCommand(data);
    const result = this.state.apply(index, cmd);
    return { requestId: requestKey(cmd.clientId, cmd.seq), result };
  }

  snapshot(): Uint8Array {
    return this.state.serialize();
  }

  restore(data: Uint8Array): void {
    this.state = data.byteLength === 0 ? new KvState() : KvState.restore(data);
  }

  size(): StateSize {
    return { keys: this.state.count, bytes: this.state.sizeBytes };
  }
}
