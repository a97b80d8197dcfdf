// Client requests against the local replicas: writes are proposals answered after commit and apply
// here; linearizable reads wait for a ReadIndex round (batched per group per driver turn) and for
// the state machine to reach the read index; serializable reads are served from the local state.
// On a follower the same calls work unchanged: the core forwards the turn's proposals and its
// ReadIndex request to the leader inside the Raft stream (src/server/routing.ts serves requests
// here whenever this node holds a voter's replica). Written against RequestHost, the part of the
// node's interface of intent it uses.
import type { Command } from '../storage/command.ts';
import { encodeCommand } from '../storage/command.ts';
import type { ApplyResult, KvItem, KvValue } from '../storage/kv-state.ts';
import { SCAN_LIMIT_MAX } from '../storage/kv-state.ts';
import { assert } from './assert.ts';
import { InvalidArgumentError, ResourceExhaustedError, UnavailableError } from './errors.ts';
import { shardId } from './ids.ts';
import type { Applied, NodeIntents, ReadOutcome } from './intents.ts';
import type { KvMachine } from './kv-machine.ts';
import type { ResolvedNodeOptions } from './options.ts';
import type { RequestIds } from './state-machine.ts';
import { requestKey } from './state-machine.ts';

export type { ReadOutcome } from './intents.ts';

/** What requests need of the node (KvNode implements it). */
export interface RequestHost extends Pick<NodeIntents, 'propose' | 'read'> {
  readonly requestIds: RequestIds;
  /** The client address of a group's leader as this node knows it ('' if none), for error hints. */
  leaderAddr(groupId: number): string;
  /** Why this node refuses client writes now (its NOSPACE alarm), or undefined. */
  writeRefusal(): string | undefined;
}

/** The node's limits on keys and values. */
export interface LimitsHost {
  readonly opts: Pick<ResolvedNodeOptions, 'maxKeyBytes' | 'maxValueBytes'>;
}

type CommandBody = Command extends infer C
  ? C extends Command
    ? Omit<C, 'clientId' | 'seq'>
    : never
  : never;

/** What applying a command of kind `Op` returns. */
export type ResultOf<Op extends ApplyResult['op']> = Extract<ApplyResult, { readonly op: Op }>;

export type WriteOutcome<R extends ApplyResult = ApplyResult> = Applied<R>;

/** Checks a key (and value) against the node's limits; throws InvalidArgumentError naming the problem. */
export function checkKeyValue(node: LimitsHost, key: Uint8Array, value?: Uint8Array): void {
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

/**
 * Proposes a KV command to a data shard (1..S); resolves with its result once committed and applied
 * here. The result is that of the command's kind (a delete's for a delete, …).
 */
export async function write<B extends CommandBody>(
  node: RequestHost,
  shard: number,
  body: B,
  deadlineMs: number,
): Promise<WriteOutcome<ResultOf<B['op']>>> {
  const id = shardId(shard);
  const refusal = node.writeRefusal();
  if (refusal !== undefined) throw new ResourceExhaustedError(refusal);
  const { clientId, seq } = node.requestIds.next();
  const plain: CommandBody = body;
  const full: Command = { ...plain, clientId, seq };
  const applied = await node.propose(id, {
    requestId: requestKey(clientId, seq),
    command: encodeCommand(full),
    deadlineMs,
    onTimeout: () =>
      new UnavailableError(
        `shard ${shard}: the write was not committed and applied on this node before the deadline (no leader or no quorum reachable, or the leader not reachable from here); it may still take effect`,
        { leaderAddr: node.leaderAddr(shard) },
      ),
  });
  const result = applied.result;
  assert(
    isResultOf<B['op']>(result, body.op),
    () => `shard ${shard}: a ${body.op} command was applied with a ${result.op} result`,
  );
  return { result, index: applied.index, term: applied.term };
}

function isResultOf<Op extends ApplyResult['op']>(r: ApplyResult, op: Op): r is ResultOf<Op> {
  return r.op === op;
}

/** Runs `run` against the shard's state: after a ReadIndex round unless serializable. */
export function read<T>(
  node: RequestHost,
  shard: number,
  serializable: boolean,
  deadlineMs: number,
  run: (m: KvMachine) => T,
): Promise<ReadOutcome<T>> {
  return node.read(shardId(shard), {
    consistency: serializable ? 'serializable' : 'linearizable',
    deadlineMs,
    run,
    onTimeout: () =>
      new UnavailableError(
        `shard ${shard}: the read could not be confirmed by a quorum before the deadline (no leader or no quorum)`,
        {
          leaderAddr: node.leaderAddr(shard),
          retrySafe: true,
        },
      ),
  });
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
