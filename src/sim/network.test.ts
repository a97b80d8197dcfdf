import assert from 'node:assert/strict';
import { test } from 'node:test';
import { emptyMessage } from '../raft/index.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { NO_NODE, nodeId, term } from '../raft/types.ts';
import { CALM_NETWORK, Network } from './network.ts';
import { Prng } from './prng.ts';

const ids = ['n1', 'n2', 'n3', 'n4', 'n5'].map(nodeId);

function msg(from: NodeId, to: NodeId): Message {
  return emptyMessage({ type: 'heartbeat', from, to, term: term(1) });
}

test('loss, duplication and delay follow the conditions', () => {
  const net = new Network(new Prng(3));
  net.setConditions({
    ...CALM_NETWORK,
    lossRate: 0.3,
    duplicateRate: 0.1,
    delayMinMs: 2,
    delayMaxMs: 40,
    reorderDelayMaxMs: 40,
  });
  let delivered = 0;
  const delays = new Set<number>();
  for (let i = 0; i < 10_000; i++) {
    // Sent further apart than the longest delay, so that the link's order does not hold any back.
    const sentMs = 1000 + i * 50;
    for (const d of net.send(ids[0] as NodeId, msg(ids[0] as NodeId, ids[1] as NodeId), sentMs)) {
      delivered++;
      const delayMs = d.atMs - sentMs;
      assert.ok(delayMs >= 2 && delayMs <= 40, `delivery after ${delayMs} ms`);
      delays.add(delayMs);
    }
  }
  assert.ok(net.stats.dropped > 2_700 && net.stats.dropped < 3_300, `dropped ${net.stats.dropped}`);
  assert.ok(net.stats.duplicated > 500 && net.stats.duplicated < 900, `duplicated ${net.stats.duplicated}`);
  assert.equal(delivered, 10_000 - net.stats.dropped + net.stats.duplicated);
  assert.equal(delays.size, 39, 'every delay from 2 to 40 ms occurs');
  assert.throws(() => net.setConditions({ ...CALM_NETWORK, lossRate: 0.31 }));
});

test('a link delivers in send order, whatever the delays', () => {
  const net = new Network(new Prng(5));
  net.setConditions({ ...CALM_NETWORK, delayMinMs: 1, delayMaxMs: 100, reorderDelayMaxMs: 100 });
  let last = 0;
  for (let t = 0; t < 500; t++) {
    const [d] = net.send(ids[0] as NodeId, msg(ids[0] as NodeId, ids[1] as NodeId), t);
    assert.ok(
      d !== undefined && d.atMs >= last && d.atMs >= t + 1,
      `message sent at ${t} arrives at ${d?.atMs}`,
    );
    last = d.atMs;
  }
});

test('with reordering, a share of messages skips the link order; the others keep it', () => {
  const net = new Network(new Prng(7));
  const c = { ...CALM_NETWORK, delayMinMs: 1, delayMaxMs: 10, reorderRate: 0.2, reorderDelayMaxMs: 200 };
  net.setConditions(c);
  let lastInOrder = 0;
  let latestMs = 0;
  let overtaking = 0;
  const sends = 5_000;
  for (let t = 0; t < sends; t++) {
    const [d] = net.send(ids[0] as NodeId, msg(ids[0] as NodeId, ids[1] as NodeId), t);
    assert.ok(d !== undefined);
    if (d.reordered) {
      const delayMs = d.atMs - t;
      assert.ok(delayMs >= c.delayMinMs && delayMs <= c.reorderDelayMaxMs, `reordered after ${delayMs} ms`);
      if (d.atMs < latestMs) overtaking++;
    } else {
      assert.ok(d.atMs >= lastInOrder, `message sent at ${t} arrives at ${d.atMs}, before ${lastInOrder}`);
      lastInOrder = d.atMs;
    }
    latestMs = Math.max(latestMs, d.atMs);
  }
  assert.ok(net.stats.reordered > 850 && net.stats.reordered < 1_150, `reordered ${net.stats.reordered}`);
  assert.ok(overtaking > 100, `${overtaking} messages arrive before one sent earlier`);
  assert.throws(() => net.setConditions({ ...c, reorderRate: 0.6 }));
  assert.throws(() => net.setConditions({ ...c, reorderDelayMaxMs: 9 }));
});

test('halves cut every link across the split and none inside', () => {
  const net = new Network(new Prng(9));
  net.partition('halves', ids, undefined);
  const side = new Map<NodeId, number>();
  // Reconstruct the sides from connectivity to n1.
  for (const x of ids) side.set(x, x === 'n1' || !net.isCut(nodeId('n1'), x) ? 0 : 1);
  assert.ok([...side.values()].includes(1), 'both sides are non-empty');
  for (const a of ids) {
    for (const b of ids) {
      if (a === b) continue;
      assert.equal(net.isCut(a, b), side.get(a) !== side.get(b), `${a}->${b}`);
    }
  }
  net.heal();
  for (const a of ids) for (const b of ids) if (a !== b) assert.equal(net.isCut(a, b), false);
});

test('isolating the leader cuts it off both ways; a cut link delivers nothing', () => {
  const net = new Network(new Prng(1));
  const leader = nodeId('n3');
  net.partition('isolateLeader', ids, leader);
  for (const x of ids) {
    if (x === leader) continue;
    assert.equal(net.isCut(leader, x), true);
    assert.equal(net.isCut(x, leader), true);
    assert.deepEqual(net.send(x, msg(x, leader), 0), []);
  }
  assert.equal(net.isCut(nodeId('n1'), nodeId('n2')), false);
  assert.notEqual(NO_NODE, leader);
});

test('one-way and partial-reach partitions are directed or partial', () => {
  for (let seed = 0; seed < 20; seed++) {
    const net = new Network(new Prng(seed));
    net.partition('oneWay', ids, undefined);
    let asymmetric = 0;
    for (const a of ids)
      for (const b of ids) if (a !== b && net.isCut(a, b) && !net.isCut(b, a)) asymmetric++;
    assert.ok(asymmetric > 0, `seed ${seed}: a one-way partition has an asymmetric link`);
    net.partition('partialReach', ids, undefined);
    const reachCounts = ids.map((a) => ids.filter((b) => a !== b && !net.isCut(a, b)).length);
    assert.ok(
      reachCounts.some((c) => c > 0 && c < ids.length - 1),
      `seed ${seed}: some node reaches only some peers`,
    );
  }
});
