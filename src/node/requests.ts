// Client requests against the local replicas: writes are proposals answered after commit and apply;
// linearizable reads wait for a ReadIndex round (batched per group per driver turn) and for the
// state machine to reach the read index; serializable reads are served from the local state.
// Forwarding to the leader happens at the server edge (src/server/forward.ts); a request served here
// on a follower still works: the core forwards proposals and ReadIndex requests to its leader.
import type { Term } from '../raft/types.ts';
import type { Command } from '../storage/command.ts';
import { encodeCommand } from '../storage/command.ts';
import type { ApplyResult, KvItem, KvValue } from '../storage/kv-state.ts';
import { SCAN_LIMIT_MAX } from '../storage/kv-state.ts';
import { InvalidArgumentError, UnavailableError } from './errors.ts';
import type { Applied } from './group.ts';
import { KvMachine } from './kv-machine.ts';
import type { KvNode } from './node.ts';
import { Pending } from './pending.ts';
import { requestKey } from './state-machine.ts';

type CommandBody = Command extends infer C
  ? C extends Command
    ? Omit<C, 'clientId' | 'seq'>
    : never
  : never;

export interface WriteOutcome {
  readonly result: ApplyResult;
  readonly index: number;
  readonly term: Term;
}

export interface ReadOutcome<T> {
  readonly value: T;
  readonly index: number;
  readonly term: Term;
}

/** Checks a key (and value) against the node's limits; throws InvalidArgumentError naming the problem. */
export function checkKeyValue(node: KvNode, key: Uint8Array, value?: Uint8Array): void {
  const { maxKeyBytes, maxValueBytes } = node.opts;
  if (key.byteLength === 0)
    throw new InvalidArgumentError('the key is empty: keys must have 1 or more bytes');
  if (key.byteLength > maxKeyBytes) {
    throw new InvalidArgumentError(
      `the key has ${key.byteLength} bytes, more than the limit of ${maxKeyBytes} bytes (--max_key_bytes)`,
    );
  }
  if (value !== undefined && value.byteLength > maxValueBytes) {
    throw new InvalidArgumentError(
      `the value has ${value.byteLength} bytes, more than the limit of ${maxValueBytes} bytes (--max_value_bytes)`,
    );
  }
}

/** Proposes a KV command to a shard; resolves with its result once committed and applied here. */
export async function write(
  node: KvNode,
  shard: number,
  body: CommandBody,
  deadlineMs: number,
): Promise<WriteOutcome> {
  if (node.isClosing)
    throw new UnavailableError('the node is shutting down; retry on another node', { retrySafe: true });
  const g = node.group(shard);
  const { clientId, seq } = node.requestIds.next();
  const command = encodeCommand({ ...body, clientId, seq } as Command);
  const pending = new Pending<Applied>(
    node.budget,
    deadlineMs,
    () =>
      new UnavailableError(
        `shard ${shard}: the write was not committed before the deadline (no leader or no quorum reachable); it may still take effect`,
        { leaderAddr: node.leaderAddr(shard) },
      ),
  );
  // Queued: the driver proposes it with the turn's other commands and fails it if refused.
  g.propose(requestKey(clientId, seq), command, pending);
  node.driver.schedule();
  const applied = await pending.promise;
  return { result: applied.result as ApplyResult, index: applied.index, term: applied.term };
}

/** Runs `run` against the shard's state: after a ReadIndex round unless serializable. */
export async function read<T>(
  node: KvNode,
  shard: number,
  serializable: boolean,
  deadlineMs: number,
  run: (m: KvMachine) => T,
): Promise<ReadOutcome<T>> {
  if (node.isClosing)
    throw new UnavailableError('the node is shutting down; retry on another node', { retrySafe: true });
  const g = node.group(shard);
  const machine = g.machine;
  if (!(machine instanceof KvMachine)) throw new Error(`group ${shard} is not a data shard`);
  if (serializable) return { value: run(machine), index: g.applied, term: g.term };
  const pending = new Pending<unknown>(
    node.budget,
    deadlineMs,
    () =>
      new UnavailableError(
        `shard ${shard}: the read could not be confirmed by a quorum before the deadline (no leader or no quorum)`,
        {
          leaderAddr: node.leaderAddr(shard),
          retrySafe: true,
        },
      ),
  );
  let readIndex = 0;
  g.queueRead({
    pending,
    run: () => {
      readIndex = g.applied;
      return run(machine);
    },
  });
  node.driver.schedule();
  const value = (await pending.promise) as T;
  return { value, index: readIndex, term: g.term };
}

export function getValue(m: KvMachine, key: Uint8Array): KvValue | undefined {
  return m.state.get(key);
}

/** Keys of one shard in [start, end) (end undefined: unbounded), at most `limit`, plus whether more remain. */
export function scanShard(
  m: KvMachine,
  start: Uint8Array,
  end: Uint8Array | undefined,
  limit: number,
): { items: KvItem[]; more: boolean } {
  const bounded = Math.max(1, Math.min(limit, SCAN_LIMIT_MAX));
  const r = m.state.scan({ start, end }, bounded);
  return { items: r.items, more: r.resume !== undefined };
}
