// The balancer's decisions on a fake node: which shard leaderships it hands to whom, per placement.
// (The moves themselves, over real gRPC, are in src/server/placement.test.ts.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeId } from '../raft/types.ts';
import { Balancer } from './balancer.ts';
import type { KvNode } from './node.ts';

const IDS = ['n1', 'n2', 'n3'];

interface FakeGroup {
  id: number;
  leader: string;
  transfers: string[];
}

/** A node `self` hosting group 0 (unless `noMetadata`) and shards 1..leaders.length, all caught up. */
function fakeNode(self: string, placement: 'spread' | 'pack', leaders: string[], metadataLeader?: string) {
  const groups = new Map<number, FakeGroup & Record<string, unknown>>();
  const add = (id: number, leader: string) => {
    const g: FakeGroup & Record<string, unknown> = {
      id,
      leader,
      transfers: [],
      confState: { voters: IDS, learners: [] },
      isLeader: () => g.leader === self,
    };
    g.raw = {
      status: () => ({
        lastIndex: 10,
        progress: new Map(IDS.map((i) => [i, { match: 10, state: 'replicate' }])),
      }),
      transferLeadership: (to: string) => g.transfers.push(to),
    };
    groups.set(id, g);
  };
  if (metadataLeader !== undefined) add(0, metadataLeader);
  leaders.forEach((l, i) => {
    add(i + 1, l);
  });
  const node = {
    id: self as NodeId,
    isClosing: false,
    metadata: { leaderPlacement: placement, members: () => IDS.map((nodeId) => ({ nodeId })) },
    driver: { groups, schedule: () => {} },
    group: (id: number) => groups.get(id),
    logger: { info: () => {}, error: () => {} },
  };
  return { node: node as unknown as KvNode, groups };
}

test('pack: a node hands at most two of the shards it leads to the metadata leader per round', () => {
  const { node, groups } = fakeNode('n2', 'pack', ['n2', 'n2', 'n2', 'n1', 'n3'], 'n1');
  const moves = new Balancer(node).round();
  assert.deepEqual(moves, [
    { group: 1, from: 'n2', to: 'n1' },
    { group: 2, from: 'n2', to: 'n1' },
  ]);
  assert.deepEqual(groups.get(1)?.transfers, ['n1']);
  assert.deepEqual(groups.get(3)?.transfers, []);
});

test('pack: the metadata leader keeps its shards; a node without the metadata group moves nothing', () => {
  assert.deepEqual(new Balancer(fakeNode('n1', 'pack', ['n1', 'n1', 'n2'], 'n1').node).round(), []);
  assert.deepEqual(new Balancer(fakeNode('n2', 'pack', ['n2', 'n2'], undefined).node).round(), []);
  assert.deepEqual(new Balancer(fakeNode('n2', 'pack', ['n2', 'n2'], '').node).round(), []);
});

test('spread: only the most loaded node gives, to the least loaded, until within one', () => {
  const busy = fakeNode('n1', 'spread', ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'], 'n1');
  assert.deepEqual(new Balancer(busy.node).round(), [
    { group: 1, from: 'n1', to: 'n3' },
    { group: 2, from: 'n1', to: 'n3' },
  ]);
  const other = fakeNode('n2', 'spread', ['n1', 'n1', 'n1', 'n1', 'n2', 'n2'], 'n1');
  assert.deepEqual(new Balancer(other.node).round(), []);
  const even = fakeNode('n1', 'spread', ['n1', 'n1', 'n2', 'n2', 'n3'], 'n1');
  assert.deepEqual(new Balancer(even.node).round(), []);
});

test('no moves while a shard has no leader', () => {
  assert.deepEqual(new Balancer(fakeNode('n2', 'pack', ['n2', ''], 'n1').node).round(), []);
});
