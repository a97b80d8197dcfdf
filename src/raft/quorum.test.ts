// Property tests of the quorum math (quorum/majority.ts, quorum/joint.ts) against brute-force
// definitions written independently of the implementation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { jointCommittedIndex, jointVoteResult } from './quorum/joint.ts';
import {
  COMMIT_INDEX_UNBOUNDED,
  majorityCommittedIndex,
  majorityVoteResult,
  type VoteResult,
} from './quorum/majority.ts';
import type { Index, NodeId } from './types.ts';
import { index, nodeId } from './types.ts';

const ALL_IDS = ['1', '2', '3', '4', '5', '6', '7'].map(nodeId);
const RUNS = 300;

const voterSet = fc.subarray(ALL_IDS).map((ids) => new Set<NodeId>(ids));
/** Acknowledged indexes for some nodes (others missing, which counts as 0). */
const acks = fc.dictionary(fc.constantFrom(...ALL_IDS), fc.nat(20)).map((d) => {
  const m = new Map<NodeId, Index>();
  for (const [k, v] of Object.entries(d)) m.set(nodeId(k), index(v));
  return m;
});
const votes = fc.dictionary(fc.constantFrom(...ALL_IDS), fc.boolean()).map((d) => {
  const m = new Map<NodeId, boolean>();
  for (const [k, v] of Object.entries(d)) m.set(nodeId(k), v);
  return m;
});

/** The (n/2+1)-th largest acknowledged index: what sorting gives. */
function sortedDefinition(voters: ReadonlySet<NodeId>, acked: ReadonlyMap<NodeId, Index>): number {
  if (voters.size === 0) return COMMIT_INDEX_UNBOUNDED;
  const xs = [...voters].map((v) => acked.get(v) ?? 0).sort((a, b) => a - b);
  return xs[xs.length - (Math.floor(xs.length / 2) + 1)] ?? -1;
}

/** The largest i such that a majority acknowledged at least i: what "committed" means. */
function countingDefinition(voters: ReadonlySet<NodeId>, acked: ReadonlyMap<NodeId, Index>): number {
  if (voters.size === 0) return COMMIT_INDEX_UNBOUNDED;
  let best = 0;
  for (let i = 0; i <= 20; i++) {
    const holders = [...voters].filter((v) => (acked.get(v) ?? 0) >= i).length;
    if (holders > voters.size / 2) best = i;
  }
  return best;
}

/** Outcome by enumerating every way the missing voters could still vote. */
function bruteForceVote(
  halves: readonly ReadonlySet<NodeId>[],
  cast: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const union = [...new Set(halves.flatMap((h) => [...h]))];
  const missing = union.filter((v) => !cast.has(v));
  let canWin = false;
  let canLose = false;
  for (let mask = 0; mask < 1 << missing.length; mask++) {
    const all = new Map(cast);
    missing.forEach((v, k) => {
      all.set(v, (mask & (1 << k)) !== 0);
    });
    const wins = halves.every(
      (h) => h.size === 0 || [...h].filter((v) => all.get(v) === true).length > h.size / 2,
    );
    if (wins) canWin = true;
    else canLose = true;
  }
  if (canWin && !canLose) return 'won';
  if (canLose && !canWin) return 'lost';
  return 'pending';
}

test('majorityCommittedIndex equals the (n/2+1)-th largest acknowledged index', () => {
  fc.assert(
    fc.property(voterSet, acks, (voters, acked) => {
      const got = majorityCommittedIndex(voters, (id) => acked.get(id));
      assert.equal(got, sortedDefinition(voters, acked));
      assert.equal(got, countingDefinition(voters, acked));
    }),
    { numRuns: RUNS },
  );
});

test('majorityCommittedIndex: examples (3 voters, one slow; 4 voters need 3; empty config unbounded)', () => {
  const acked = new Map([
    [nodeId('1'), index(7)],
    [nodeId('2'), index(5)],
    [nodeId('3'), index(1)],
    [nodeId('4'), index(4)],
  ]);
  const get = (id: NodeId): Index | undefined => acked.get(id);
  assert.equal(majorityCommittedIndex(new Set(['1', '2', '3'].map(nodeId)), get), 5);
  assert.equal(majorityCommittedIndex(new Set(['1', '2', '3', '4'].map(nodeId)), get), 4);
  assert.equal(majorityCommittedIndex(new Set(['3'].map(nodeId)), get), 1);
  assert.equal(majorityCommittedIndex(new Set(['9'].map(nodeId)), get), 0);
  assert.equal(majorityCommittedIndex(new Set(), get), COMMIT_INDEX_UNBOUNDED);
});

test('jointCommittedIndex is the minimum of both halves (an empty half does not constrain)', () => {
  fc.assert(
    fc.property(voterSet, voterSet, acks, (incoming, outgoing, acked) => {
      const get = (id: NodeId): Index | undefined => acked.get(id);
      const got = jointCommittedIndex({ incoming, outgoing }, get);
      const want = Math.min(countingDefinition(incoming, acked), countingDefinition(outgoing, acked));
      assert.equal(got, want);
      if (outgoing.size === 0) assert.equal(got, majorityCommittedIndex(incoming, get));
    }),
    { numRuns: RUNS },
  );
});

test('majorityVoteResult matches enumeration of every way the missing votes could go', () => {
  fc.assert(
    fc.property(voterSet, votes, (voters, cast) => {
      assert.equal(majorityVoteResult(voters, cast), bruteForceVote([voters], cast));
    }),
    { numRuns: RUNS },
  );
});

test('jointVoteResult matches enumeration over both halves', () => {
  fc.assert(
    fc.property(voterSet, voterSet, votes, (incoming, outgoing, cast) => {
      assert.equal(jointVoteResult({ incoming, outgoing }, cast), bruteForceVote([incoming, outgoing], cast));
    }),
    { numRuns: RUNS },
  );
});

test('vote examples: 2 of 3 wins, 2 no of 3 loses, joint needs both halves', () => {
  const s = (...ids: string[]): Set<NodeId> => new Set(ids.map(nodeId));
  const v = (entries: [string, boolean][]): Map<NodeId, boolean> =>
    new Map(entries.map(([k, b]) => [nodeId(k), b]));
  assert.equal(
    majorityVoteResult(
      s('1', '2', '3'),
      v([
        ['1', true],
        ['2', true],
      ]),
    ),
    'won',
  );
  assert.equal(majorityVoteResult(s('1', '2', '3'), v([['1', true]])), 'pending');
  assert.equal(
    majorityVoteResult(
      s('1', '2', '3'),
      v([
        ['2', false],
        ['3', false],
      ]),
    ),
    'lost',
  );
  assert.equal(
    majorityVoteResult(
      s('1', '2', '3', '4'),
      v([
        ['1', true],
        ['2', true],
      ]),
    ),
    'pending',
  );
  const joint = { incoming: s('1', '2', '3'), outgoing: s('3', '4', '5') };
  assert.equal(
    jointVoteResult(
      joint,
      v([
        ['1', true],
        ['2', true],
      ]),
    ),
    'pending',
  );
  assert.equal(
    jointVoteResult(
      joint,
      v([
        ['1', true],
        ['3', true],
      ]),
    ),
    'pending',
  );
  assert.equal(
    jointVoteResult(
      joint,
      v([
        ['1', true],
        ['3', true],
        ['4', true],
      ]),
    ),
    'won',
  );
  assert.equal(
    jointVoteResult(
      joint,
      v([
        ['1', true],
        ['2', true],
        ['4', false],
        ['5', false],
      ]),
    ),
    'lost',
  );
});
