import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Message, NodeId } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { MemoryNetwork, type MemoryTransport } from './memory-transport.ts';
import { appMessage, message, seqOf } from './testing.ts';

const A = nodeId('a');
const B = nodeId('b');
const C = nodeId('c');

interface Node {
  readonly t: MemoryTransport;
  readonly got: { groupId: number; msg: Message }[];
  readonly unreachable: NodeId[];
}

/** Started transports for `ids` on `net`, each knowing every other's address. */
async function cluster(
  net: MemoryNetwork,
  ids: readonly NodeId[],
  clusterId = '',
): Promise<Map<NodeId, Node>> {
  const nodes = new Map<NodeId, Node>();
  for (const id of ids) {
    const t = net.createTransport(id, { clusterId, limits: { queueMessagesMax: 50 } });
    const node: Node = { t, got: [], unreachable: [] };
    t.onMessage((groupId, msg) => node.got.push({ groupId, msg }));
    t.onUnreachable((peer) => node.unreachable.push(peer));
    await t.start();
    nodes.set(id, node);
  }
  for (const n of nodes.values()) {
    for (const m of nodes.values()) if (n !== m) n.t.setPeerAddress(m.t.localId, m.t.address);
  }
  return nodes;
}

function get(nodes: Map<NodeId, Node>, id: NodeId): Node {
  const n = nodes.get(id);
  if (n === undefined) throw new Error(`no node ${id}`);
  return n;
}

/** Two turns: the senders' flush, then anything it scheduled. */
async function settle(): Promise<void> {
  await nextTurn();
  await nextTurn();
}

describe('MemoryTransport', () => {
  it('delivers on a later turn, in order, one batch per peer per turn, through the protobuf bytes', async () => {
    const nodes = await cluster(new MemoryNetwork(), [A, B, C]);
    const a = get(nodes, A);
    const b = get(nodes, B);
    const hb = message({ from: A, to: C, term: term(2), commit: index(7), context: Uint8Array.of(9) });
    for (let seq = 0; seq < 10; seq++) a.t.send(seq % 3, appMessage(A, B, seq));
    a.t.send(0, hb);
    assert.equal(b.got.length, 0, 'nothing is delivered from inside send');
    await settle();
    assert.deepEqual(
      b.got.map((r) => seqOf(r.msg)),
      [...Array(10).keys()],
    );
    assert.deepEqual(
      b.got.map((r) => r.groupId),
      [...Array(10).keys()].map((s) => s % 3),
    );
    assert.deepEqual(get(nodes, C).got, [{ groupId: 0, msg: hb }]);
    assert.notEqual(get(nodes, C).got[0]?.msg, hb, 'a copy, as over the wire');
    assert.equal(a.t.stats().batchesSent, 2, 'one batch for b, one for c');
    assert.equal(b.t.stats().batchesReceived, 1);
  });

  it('loses messages across a partition until healed, silently', async () => {
    const net = new MemoryNetwork();
    const nodes = await cluster(net, [A, B, C]);
    const [a, b, c] = [get(nodes, A), get(nodes, B), get(nodes, C)];
    net.partition([A], [B, C]);
    a.t.send(1, message({ from: A, to: B }));
    b.t.send(1, message({ from: B, to: A }));
    b.t.send(1, message({ from: B, to: C }));
    await settle();
    assert.equal(a.got.length, 0);
    assert.equal(b.got.length, 0);
    assert.equal(c.got.length, 1, 'b and c are on the same side');
    assert.equal(net.droppedByNetwork, 2);
    assert.deepEqual(a.unreachable, [], 'a black hole is not reported');
    net.heal();
    a.t.send(1, message({ from: A, to: B }));
    await settle();
    assert.equal(b.got.length, 1);
  });

  it('blocks one direction only, and isolates a node', async () => {
    const net = new MemoryNetwork();
    const nodes = await cluster(net, [A, B, C]);
    net.block(A, B);
    get(nodes, A).t.send(1, message({ from: A, to: B }));
    get(nodes, B).t.send(1, message({ from: B, to: A }));
    await settle();
    assert.equal(get(nodes, B).got.length, 0);
    assert.equal(get(nodes, A).got.length, 1);
    net.heal();
    net.isolate(C);
    get(nodes, A).t.send(1, message({ from: A, to: C }));
    get(nodes, C).t.send(1, message({ from: C, to: B }));
    get(nodes, A).t.send(1, message({ from: A, to: B }));
    await settle();
    assert.equal(get(nodes, C).got.length, 0);
    assert.equal(get(nodes, B).got.length, 1, 'only a→b got through');
  });

  it('drops at random with a seeded source, reproducibly', async () => {
    const run = async (): Promise<number[]> => {
      let state = 42;
      const random = (): number => {
        state = (state * 1103515245 + 12345) % 2 ** 31;
        return state / 2 ** 31;
      };
      const net = new MemoryNetwork({ random });
      net.setDropProbability(0.5);
      const nodes = await cluster(net, [A, B]);
      for (let seq = 0; seq < 40; seq++) get(nodes, A).t.send(1, appMessage(A, B, seq));
      await settle();
      return get(nodes, B).got.map((r) => seqOf(r.msg));
    };
    const first = await run();
    assert.ok(first.length > 5 && first.length < 35, `kept ${first.length} of 40`);
    assert.deepEqual(await run(), first);
  });

  it('reports a closed or unknown peer as unreachable, and bounds queues like the real one', async () => {
    const nodes = await cluster(new MemoryNetwork(), [A, B]);
    const [a, b] = [get(nodes, A), get(nodes, B)];
    a.t.send(1, message({ from: A, to: C })); // no address for c
    await b.t.close();
    a.t.send(1, message({ from: A, to: B }));
    await settle();
    assert.deepEqual(a.unreachable.sort(), [B, C]);
    assert.equal(a.t.stats().droppedUnreachable, 2);
    const nodes2 = await cluster(new MemoryNetwork(), [A, B]);
    for (let seq = 0; seq < 80; seq++) get(nodes2, A).t.send(1, appMessage(A, B, seq));
    await settle();
    assert.equal(get(nodes2, A).t.stats().droppedQueueFull, 30);
    assert.equal(get(nodes2, B).got.length, 50);
    assert.equal(seqOf((get(nodes2, B).got[0] as { msg: Message }).msg), 30);
  });

  it('refuses batches from another cluster', async () => {
    const net = new MemoryNetwork();
    const a = net.createTransport(A, { clusterId: 'x' });
    const b = net.createTransport(B, { clusterId: 'y' });
    const got: Message[] = [];
    const unreachable: NodeId[] = [];
    b.onMessage((_g, msg) => got.push(msg));
    a.onUnreachable((peer) => unreachable.push(peer));
    await a.start();
    await b.start();
    a.setPeerAddress(B, b.address);
    a.send(1, message({ from: A, to: B }));
    await settle();
    assert.equal(got.length, 0);
    assert.equal(b.stats().streamsRejected, 1);
    assert.deepEqual(unreachable, [B]);
    b.setClusterId('');
    a.send(1, message({ from: A, to: B }));
    await settle();
    assert.equal(got.length, 1, 'an empty cluster id (joining node) is accepted');
  });
});
