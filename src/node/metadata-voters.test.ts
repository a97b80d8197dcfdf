// The metadata group's voters (metadata-voters.ts), rule by rule, and a walk of every rule to a
// fixed point: applying the changes one by one always ends with at most 5 voters, all up.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { MemberState } from '../ring/shard-table.ts';
import { METADATA_VOTERS_MAX, type MetadataVotersInput, metadataVoterChange } from './metadata-voters.ts';

type M = { nodeId: string; state: MemberState; zone: string; clientAddr: string; raftAddr: string };
const up = (nodeId: string, zone = ''): M => ({ nodeId, state: 'up', zone, clientAddr: '', raftAddr: '' });
const ids = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`);

function input(o: Partial<MetadataVotersInput> & Pick<MetadataVotersInput, 'voters' | 'learners'>) {
  const all = [...o.voters, ...o.learners];
  return {
    self: 'n1',
    members: all.map((id) => up(id)),
    caughtUp: () => true,
    ...o,
  };
}

test('up to 5 members, every one a voter: nothing to change', () => {
  for (const n of [1, 3, 5])
    assert.equal(metadataVoterChange(input({ voters: ids(n), learners: [] })), undefined);
  assert.equal(metadataVoterChange(input({ voters: ids(5), learners: ['n6', 'n7'] })), undefined);
});

test('fewer than 5 voters: an up learner that caught up is promoted; one behind, joining or down is not', () => {
  const r = metadataVoterChange(input({ voters: ids(4), learners: ['n6'] }));
  assert.deepEqual(r?.change, { type: 'addVoter', nodeId: 'n6' });
  assert.match(r?.why ?? '', /wanted are n1,n2,n3,n4,n6; n6 is a learner/);
  assert.equal(
    metadataVoterChange(input({ voters: ids(4), learners: ['n6'], caughtUp: () => false })),
    undefined,
  );
  for (const state of ['joining', 'down', 'draining'] as const) {
    const members = [...ids(4).map((id) => up(id)), { ...up('n6'), state }];
    assert.equal(metadataVoterChange(input({ voters: ids(4), learners: ['n6'], members })), undefined, state);
  }
});

test('a voter down: a learner is promoted first, then the down voter is demoted (never the leader)', () => {
  const members = [...ids(7).map((id) => up(id)), { ...up('n3'), state: 'down' as const }].filter(
    (m, i, all) => all.findLastIndex((x) => x.nodeId === m.nodeId) === i,
  );
  const first = metadataVoterChange(input({ voters: ids(5), learners: ['n6', 'n7'], members }));
  assert.deepEqual(first?.change, { type: 'addVoter', nodeId: 'n6' });
  assert.match(first?.why ?? '', /wanted are n1,n2,n4,n5,n6; n6 is a learner/);
  const second = metadataVoterChange(input({ voters: [...ids(5), 'n6'], learners: ['n7'], members }));
  assert.deepEqual(second?.change, { type: 'addLearner', nodeId: 'n3' });
  // A joiner made a voter by its join, not up yet: kept.
  const joiner = [...ids(2).map((id) => up(id)), { ...up('n3'), state: 'joining' as const }];
  assert.equal(metadataVoterChange(input({ voters: ids(3), learners: [], members: joiner })), undefined);
  // Six up voters (a cluster from before the limit): one goes, never self.
  const six = metadataVoterChange(input({ self: 'n6', voters: ids(6), learners: [] }));
  assert.deepEqual(six?.change, { type: 'addLearner', nodeId: 'n5' });
  const sixLedByN1 = metadataVoterChange(input({ self: 'n1', voters: ids(6), learners: [] }));
  assert.deepEqual(sixLedByN1?.change, { type: 'addLearner', nodeId: 'n6' });
});

test('a voter down with nobody up to replace it stays, though the leader is still joining in the table', () => {
  // `ringkv sim --nodes 4` seed 810142: n4 led the metadata group while the table still had it
  // joining; it marked n3 down (n3's WAL damaged: down for good) and demoted it, though no member up
  // could take its place, where the set keeps such a voter.
  const members = [
    up('n1'),
    up('n2'),
    { ...up('n3'), state: 'down' as const },
    { ...up('n4'), state: 'joining' as const },
  ];
  assert.equal(metadataVoterChange(input({ self: 'n4', voters: ids(4), learners: [], members })), undefined);
  // With five members up to take the places, the down voter goes (the joining leader stays).
  const more = [...members, up('n5'), up('n6'), up('n7')];
  const r = metadataVoterChange(input({ self: 'n4', voters: ids(7), learners: [], members: more }));
  assert.deepEqual(r?.change, { type: 'addLearner', nodeId: 'n3' });
});

test('zones: the voters come to span as many zones as the up members do', () => {
  const zones: Record<string, string> = { n1: 'a', n2: 'a', n3: 'a', n4: 'b', n5: 'b', n6: 'c', n7: 'a' };
  const members = Object.entries(zones).map(([id, z]) => up(id, z));
  const p = metadataVoterChange(input({ voters: ids(5), learners: ['n6', 'n7'], members }));
  assert.deepEqual(p?.change, { type: 'addVoter', nodeId: 'n6' }, 'the learner of the missing zone');
  const d = metadataVoterChange(input({ voters: ids(6), learners: ['n7'], members }));
  assert.deepEqual(d?.change, { type: 'addLearner', nodeId: 'n3' }, 'one of zone a, which has three');
  assert.equal(
    metadataVoterChange(input({ voters: ['n1', 'n2', 'n4', 'n5', 'n6'], learners: ['n3', 'n7'], members })),
    undefined,
    'three zones, all covered',
  );
});

test('applied one at a time, the changes reach at most 5 voters, none down while an up learner waits, the leader kept', () => {
  const states: MemberState[] = ['up', 'up', 'up', 'down', 'draining', 'joining'];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }),
      fc.array(fc.constantFrom(...states), { minLength: 9, maxLength: 9 }),
      fc.array(fc.constantFrom('', 'a', 'b', 'c'), { minLength: 9, maxLength: 9 }),
      fc.integer({ min: 1, max: 9 }),
      fc.constantFrom<MemberState>('up', 'joining'),
      (n, st, zs, firstVoters, leaderState) => {
        const all = ids(n);
        // The leader is n1, up, or still joining in the table (a joiner can win a metadata election).
        const members: M[] = all.map((id, k) => ({
          ...up(id),
          nodeId: id,
          state: k === 0 ? leaderState : st[k]!,
          zone: zs[k]!,
        }));
        let voters = all.slice(0, Math.min(firstVoters, n));
        const upCount = members.filter((m) => m.state === 'up').length;
        const awayVoters = voters.filter((id) =>
          ['down', 'draining'].includes(members[Number(id.slice(1)) - 1]!.state),
        );
        let learners = all.filter((id) => !voters.includes(id));
        for (let step = 0; step < 4 * n + 4; step++) {
          const r = metadataVoterChange({ self: 'n1', voters, learners, members, caughtUp: () => true });
          if (r === undefined) break;
          const id = r.change.nodeId as string;
          if (r.change.type === 'addVoter') {
            assert.ok(learners.includes(id), `promotes a learner: ${id}`);
            voters = [...voters, id];
            learners = learners.filter((x) => x !== id);
          } else {
            assert.ok(id !== 'n1', 'never demotes the leader');
            voters = voters.filter((x) => x !== id);
            learners = [...learners, id];
          }
        }
        assert.equal(
          metadataVoterChange({ self: 'n1', voters, learners, members, caughtUp: () => true }),
          undefined,
        );
        const stateOf = (id: string) => members.find((m) => m.nodeId === id)?.state;
        const upLearners = learners.filter((id) => stateOf(id) === 'up');
        // A joining voter (its join made it one) is demoted only once up, if the set then has no room.
        const settledVoters = voters.filter((id) => stateOf(id) !== 'joining');
        assert.ok(settledVoters.length <= METADATA_VOTERS_MAX, `${voters} are more than 5`);
        assert.ok(voters.includes('n1'), 'the leader stays a voter');
        // Voters down or draining stay while the members up cannot fill the set without them.
        if (upCount + awayVoters.length <= METADATA_VOTERS_MAX)
          for (const id of awayVoters) assert.ok(voters.includes(id), `${id} demoted with ${upCount} up`);
        if (voters.length < METADATA_VOTERS_MAX)
          assert.deepEqual(upLearners, [], `${voters.length} voters while ${upLearners} could vote`);
        // A joining voter is on its way up (its join made it a voter); down and draining ones are not.
        if (voters.some((id) => stateOf(id) === 'down' || stateOf(id) === 'draining'))
          assert.deepEqual(upLearners, [], `a voter is down or draining while ${upLearners} could vote`);
      },
    ),
    { numRuns: 500 },
  );
});

test('a learner that is no member of the table (removed, or never added) is removed first', () => {
  const members = [...ids(4).map((id) => up(id)), { ...up('n5'), state: 'removed' as const }];
  const r = metadataVoterChange(input({ voters: ids(4), learners: ['n5'], members }));
  assert.deepEqual(r?.change, { type: 'removeNode', nodeId: 'n5' });
  assert.match(r?.why ?? '', /n5 is a learner of the metadata group but no member of the cluster/);
  const absent = metadataVoterChange(
    input({ voters: ids(4), learners: ['n9'], members: ids(4).map((id) => up(id)) }),
  );
  assert.deepEqual(absent?.change, { type: 'removeNode', nodeId: 'n9' });
  // A member still joining is a learner on its way to a vote: kept.
  const joining = [...ids(4).map((id) => up(id)), { ...up('n5'), state: 'joining' as const }];
  assert.equal(
    metadataVoterChange(input({ voters: ids(4), learners: ['n5'], members: joining, caughtUp: () => false })),
    undefined,
  );
});
