import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EMPTY_CONF_STATE } from '../raft/index.ts';
import { type ConfState, nodeId } from '../raft/types.ts';
import type { MoveStep, ShardEntry } from '../ring/shard-table.ts';
import { mayVote } from './vote-guard.ts';

const SELF = nodeId('n3');

function entry(
  voters: string[],
  move?: { target: string; step: MoveStep },
  votersOutgoing: string[] = [],
): ShardEntry {
  return {
    shardId: 3,
    slotFirst: 0,
    slotLast: 99,
    voters,
    votersOutgoing,
    learners: move !== undefined && move.step !== 'addLearner' ? [move.target] : [],
    move:
      move === undefined
        ? null
        : {
            id: 46,
            source: 'n5',
            target: move.target,
            step: move.step,
            votersBefore: voters,
            rollBack: null,
          },
    epoch: 9,
    moveFailures: 0,
    lastFailureAtMs: 0,
  };
}

const own = (voters: string[], votersOutgoing: string[] = []): ConfState => ({
  ...EMPTY_CONF_STATE,
  voters: voters.map(nodeId),
  votersOutgoing: votersOutgoing.map(nodeId),
});

test('a replica hosted again, empty, while a move brings it back answers no vote until caught up', () => {
  // The shard's voters are n1, n4, n5; n3 is the target of a move still adding or catching it up.
  for (const step of ['addLearner', 'catchUp', 'rollBack'] as const)
    assert.equal(
      mayVote(SELF, EMPTY_CONF_STATE, entry(['n1', 'n4', 'n5'], { target: 'n3', step })),
      false,
      step,
    );
  // Past catch-up its log holds what was committed: Raft's own check is enough again.
  for (const step of ['reconfigure', 'leaveJoint', 'cleanup'] as const)
    assert.equal(
      mayVote(SELF, EMPTY_CONF_STATE, entry(['n1', 'n4', 'n5'], { target: 'n3', step })),
      true,
      step,
    );
  // A replica the table gives no role at all (a stale copy) answers none either.
  assert.equal(mayVote(SELF, own(['n1', 'n4', 'n5']), entry(['n1', 'n4', 'n5'])), false);
});

test('a voter by its own configuration or by the table votes; with no table entry Raft alone decides', () => {
  assert.equal(mayVote(SELF, own(['n1', 'n3', 'n4']), entry(['n1', 'n4', 'n5'])), true);
  assert.equal(mayVote(SELF, own(['n1', 'n4', 'n5'], ['n1', 'n3', 'n4']), entry(['n1', 'n4', 'n5'])), true);
  assert.equal(
    mayVote(SELF, EMPTY_CONF_STATE, entry(['n1', 'n3'])),
    true,
    'a voter the table records (a join)',
  );
  assert.equal(mayVote(SELF, EMPTY_CONF_STATE, entry(['n1', 'n4'], undefined, ['n1', 'n3'])), true);
  assert.equal(mayVote(SELF, EMPTY_CONF_STATE, undefined), true);
});
