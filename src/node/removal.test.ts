// How a node learns that the cluster removed it (removal.ts), against a fake cluster: the metadata
// leader found among the members this node knows, or named by them when it joined after this node's
// table stopped advancing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberState } from '../ring/shard-table.ts';
import { METADATA_GROUP } from './ids.ts';
import type { GroupStatus } from './intents.ts';
import { ManualClock } from './manual-clock.ts';
import type { MemberInfo } from './metadata.ts';
import type { ClusterRpc, PeerStatus } from './options.ts';
import { type RemovalHost, RemovalWatch } from './removal.ts';

const member = (id: string): MemberInfo => ({ nodeId: id, clientAddr: `${id}:7000`, raftAddr: `${id}:7001` });

/** What `id` answers: its member list and its view of the metadata group led by `leader`. */
function answer(id: string, members: readonly string[], leader: string): PeerStatus {
  return {
    nodeId: id,
    clusterId: 'c1',
    members: members.map(member),
    applied: new Map(),
    metadataGroup: { leader, voters: members, learners: [], votersOutgoing: [], commit: 55, applied: 55 },
  };
}

/** n4, cut off (no metadata leader heard), knowing n1–n4; the cluster since removed it and admitted n5. */
function host(
  statusAt: (addr: string) => PeerStatus | undefined,
  ownLeader: { leader: string; leaderHeard: boolean } = { leader: '', leaderHeard: false },
  ownView: { voters: readonly string[]; state: MemberState | undefined } = {
    voters: ['n1', 'n2', 'n3', 'n4'],
    state: 'up',
  },
): RemovalHost & { asked: string[] } {
  const asked: string[] = [];
  const cluster: Pick<ClusterRpc, 'status'> = {
    status: async (addr) => {
      asked.push(addr);
      const a = statusAt(addr);
      if (a === undefined) throw new Error(`${addr} does not answer`);
      return a;
    },
  };
  const own = {
    ...ownLeader,
    applied: 26,
    confState: { voters: ownView.voters, learners: [], votersOutgoing: [] },
  } as unknown as GroupStatus;
  return {
    id: 'n4',
    isClosing: false,
    cluster: cluster as ClusterRpc,
    clock: new ManualClock(),
    logger: { debug: () => {} },
    metadata: {
      clusterId: 'c1',
      members: () => ['n1', 'n2', 'n3', 'n4'].map(member),
      memberState: (id) => (id === 'n4' ? ownView.state : 'up'),
    },
    status: (g) => (g === METADATA_GROUP ? own : undefined),
    asked,
  };
}

const now = ['n1', 'n2', 'n3', 'n5'];

test('the metadata leader, a member this node never knew, is found through the others and says it was removed', async () => {
  const h = host((addr) => {
    const id = addr.split(':')[0] as string;
    return now.includes(id) ? answer(id, now, 'n5') : undefined;
  });
  const w = new RemovalWatch(h);
  assert.equal(await w.check(), undefined);
  assert.ok(h.asked.includes('n5:7000'), `asked ${h.asked.join(', ')}`);
  assert.equal(await w.check(), undefined);
  assert.match((await w.check()) ?? '', /n5, the metadata leader, no longer lists it/);
});

test('a leader that still lists this node, or no leader at all, is no removal', async () => {
  const listing = host((addr) => {
    const id = addr.split(':')[0] as string;
    return [...now, 'n4'].includes(id) ? answer(id, [...now, 'n4'], 'n5') : undefined;
  });
  const w = new RemovalWatch(listing);
  for (let i = 0; i < 5; i++) assert.equal(await w.check(), undefined);

  const leaderless = host((addr) => {
    const id = addr.split(':')[0] as string;
    return now.includes(id) ? answer(id, now, '') : undefined;
  });
  const v = new RemovalWatch(leaderless);
  for (let i = 0; i < 5; i++) assert.equal(await v.check(), undefined);
  assert.ok(!leaderless.asked.includes('n5:7000'), 'nobody named n5');
});

test('a learner still naming the leader it last heard, long silent, asks and finds it was removed', async () => {
  // A learner never campaigns, so its view keeps naming the old leader: only leaderHeard tells.
  const removedLearner = (leaderHeard: boolean) =>
    host(
      (addr) => {
        const id = addr.split(':')[0] as string;
        return now.includes(id) ? answer(id, now, 'n2') : undefined;
      },
      { leader: 'n2', leaderHeard },
    );
  const silent = removedLearner(false);
  const w = new RemovalWatch(silent);
  assert.equal(await w.check(), undefined);
  assert.equal(await w.check(), undefined);
  assert.match((await w.check()) ?? '', /n2, the metadata leader, no longer lists it/);

  const heard = removedLearner(true);
  const v = new RemovalWatch(heard);
  for (let i = 0; i < 5; i++) assert.equal(await v.check(), undefined);
  assert.deepEqual(heard.asked, [], 'a node that hears its leader asks nobody');
});

test('an applied configuration without this node is its removal only once its own table marks it removed', async () => {
  // A joiner that installed a snapshot of the metadata group taken before it was added: the
  // configuration lists n1–n3 and its table has no entry for it yet, while a leader replicates to it.
  const everyone = (addr: string) => {
    const id = addr.split(':')[0] as string;
    return answer(id, ['n1', 'n2', 'n3', 'n4'], 'n1');
  };
  const heard = { leader: 'n1', leaderHeard: true };
  const joiner = host(everyone, heard, { voters: ['n1', 'n2', 'n3'], state: undefined });
  const w = new RemovalWatch(joiner);
  for (let i = 0; i < 5; i++) assert.equal(await w.check(), undefined);
  assert.deepEqual(joiner.asked, [], 'a node that hears its leader asks nobody');

  // The leave marks the member removed in the table before it takes it out of the configuration.
  const removed = host(everyone, heard, { voters: ['n1', 'n2', 'n3'], state: 'removed' });
  assert.equal(await new RemovalWatch(removed).check(), 'it applied its own removal from the metadata group');
});
