// A replica deleted and later created again under the same node id (a shard moved off a node and
// back) starts with an empty log, while its leader may still receive an acknowledgement that the
// deleted replica sent: the transport does not keep order across reconnects, and the leader has no
// way to tell the two apart. That acknowledgement raises the leader's match for the new replica;
// the new replica's rejections then hint below that match, which only a replica that lost its log
// can do, and the leader forgets the match (tracker/progress.ts maybeDecrTo) instead of probing
// just past it for ever (the replica never caught up, and a move adding it rolled back).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msg, Network } from './testing/network.ts';
import { bytes } from './testing/node.ts';
import type { ConfChange } from './types.ts';
import { index, nodeId, term } from './types.ts';

const change = (type: 'addLearner' | 'removeNode'): ConfChange => ({
  changes: [{ type, nodeId: nodeId('4') }],
  transition: 'auto',
});

for (const snapshotOnDemand of [true, false]) {
  test(`a learner re-added under its old id catches up despite a stale acknowledgement from before (snapshots ${snapshotOnDemand ? 'on demand' : 'only compacted'})`, () => {
    const net = new Network({ voters: ['1', '2', '3'], snapshotOnDemand });
    net.campaign('1');
    const leader = net.node('1');
    for (const d of ['a', 'b', 'c']) leader.rn.propose(bytes(d));
    net.stabilize();
    net.addEmptyNode('4', {}, snapshotOnDemand);
    leader.rn.proposeConfChange(change('addLearner'));
    net.tickAll(3);
    assert.deepEqual(net.node('4').appliedData(), ['a', 'b', 'c']);
    const staleAt = net.node('4').rn.status().lastIndex;
    leader.rn.proposeConfChange(change('removeNode'));
    net.stabilize();

    // The replica's data is deleted; the same id comes back empty and cut off for now.
    net.addEmptyNode('4', {}, snapshotOnDemand);
    net.isolate('4');
    leader.rn.propose(bytes('d'));
    net.stabilize();
    leader.rn.proposeConfChange(change('addLearner'));
    net.stabilize();
    assert.ok(leader.rn.status().confState.learners.includes(nodeId('4')), 'learner 4 is back');
    // An acknowledgement the deleted replica sent arrives now.
    const t = leader.rn.status().hardState.term;
    leader.rn.step(msg('appResp', '4', '1', { term: term(t), index: index(staleAt) }));
    assert.equal(leader.rn.status().progress?.get(nodeId('4'))?.match, staleAt, 'the stale match is taken');

    // As the node layer does (src/node/node.ts onPeerMessage), 4 drops a heartbeat whose commit
    // runs past its log: the leader caps a heartbeat's commit by the match, here the stale one.
    net.drop = (m) =>
      m.type === 'heartbeat' && m.to === '4' && m.commit > net.node('4').rn.status().lastIndex;
    net.tickAll(20);
    assert.deepEqual(net.node('4').appliedData(), ['a', 'b', 'c', 'd']);
    const pr = leader.rn.status().progress?.get(nodeId('4'));
    assert.equal(pr?.match, leader.rn.status().lastIndex);
    assert.equal(pr?.state, 'replicate');
  });
}
