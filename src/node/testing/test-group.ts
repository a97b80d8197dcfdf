// A Group as the node's unit tests build one: this node n1, 10 ticks to an election, a heartbeat
// every tick, the system's randomness; its machine, log storage and applied index the test's.
import type { MemoryStorage } from '../../raft/index.ts';
import type { Index } from '../../raft/types.ts';
import { nodeId } from '../../raft/types.ts';
import { Group } from '../group.ts';
import { groupId } from '../ids.ts';
import type { StateMachine } from '../state-machine.ts';
import { SYSTEM_RANDOM } from '../system.ts';

export function testGroup<R, M extends StateMachine<R>>(
  id: number,
  machine: M,
  storage: MemoryStorage,
  applied: Index,
): Group<R, M> {
  return new Group<R, M>({
    groupId: groupId(id),
    nodeId: nodeId('n1'),
    electionTick: 10,
    heartbeatTick: 1,
    random: SYSTEM_RANDOM,
    machine,
    storage,
    applied,
  });
}
