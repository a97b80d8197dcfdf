// A write proposed on a follower: its core hands the proposal to the leader inside the Raft stream,
// and the follower answers once it has applied the entry itself. The proposal may be lost on the
// way (a dropped message, a leader deposed before it committed it): the follower then proposes the
// same command again, and the shard's state applies one copy at most (src/storage/proposer-sessions.ts).
// What the waiter is told stays truthful: retry-safe only when the write never took effect and never
// will (a later write of the same node was applied first, so every copy is skipped), otherwise
// "maybe" at the deadline.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Message } from '../raft/types.ts';
import { MemoryNetwork } from '../transport/memory-transport.ts';
import { UnavailableError } from './errors.ts';
import { getValue, read, write } from './requests.ts';
import { sleep, TestCluster, type TestNode, waitUntil } from './testing/test-cluster.ts';

const SHARD = 1;
const TICK_MS = 20;
/** 200–400 ms without a leader before a follower campaigns. */
const ELECTION_TICK = 10;
const ELECT_TIMEOUT_MS = 3000;
const DEADLINE_MS = 4000;

const enc = new TextEncoder();
const dec = new TextDecoder();

type Verdict = 'pass' | 'drop' | 'twice';

/** Watches (and may drop or duplicate) the messages `n` sends for the shard; returns those sent. */
function tap(n: TestNode, verdict: (m: Message) => Verdict = () => 'pass'): Message[] {
  const sent: Message[] = [];
  const send = n.transport.send.bind(n.transport);
  n.transport.send = (groupId, m) => {
    if (groupId !== SHARD) return send(groupId, m);
    sent.push(m);
    const v = verdict(m);
    if (v === 'drop') return;
    send(groupId, m);
    if (v === 'twice') send(groupId, m);
  };
  return sent;
}

function props(sent: readonly Message[]): Message[] {
  return sent.filter((m) => m.type === 'prop');
}

async function startCluster(): Promise<{ cluster: TestCluster; network: MemoryNetwork }> {
  const network = new MemoryNetwork();
  const cluster = await TestCluster.start(network, {
    nodeIds: ['a', 'b', 'c'],
    tickMs: TICK_MS,
    electionTick: ELECTION_TICK,
  });
  return { cluster, network };
}

function put(n: TestNode, key: string, value: string, deadlineMs = Date.now() + DEADLINE_MS) {
  return write(n.kv, SHARD, { op: 'put', key: enc.encode(key), value: enc.encode(value) }, deadlineMs);
}

/** The value and version of `key` on `n`'s replica as applied (serializable: no round trip). */
async function local(n: TestNode, key: string): Promise<{ value: string; version: number } | undefined> {
  const r = await read(n.kv, SHARD, true, Date.now() + 1000, (m) => getValue(m, enc.encode(key)));
  return r.value === undefined ? undefined : { value: dec.decode(r.value.value), version: r.value.version };
}

async function appliedEverywhere(cluster: TestCluster, index: number): Promise<void> {
  await waitUntil(
    () => cluster.nodes.every((n) => n.group(SHARD).applied >= index),
    3000,
    `every replica applied index ${index}`,
  );
}

it('a write at a follower reaches the leader inside the Raft stream and is answered once applied there', async () => {
  const { cluster } = await startCluster();
  try {
    await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const b = cluster.node('b');
    const sent = tap(b);
    const w = await put(b, 'k', 'v');
    assert.equal(props(sent).length, 1, 'one proposal message to the leader');
    assert.equal(props(sent)[0]?.to, 'a');
    assert.ok(b.group(SHARD).applied >= w.index, 'answered after the follower applied the entry');
    assert.deepEqual(await local(b, 'k'), { value: 'v', version: w.index });
    await appliedEverywhere(cluster, w.index);
    assert.deepEqual(await local(cluster.node('a'), 'k'), { value: 'v', version: w.index });
    for (const n of cluster.nodes) assert.deepEqual(n.fatalErrors, []);
  } finally {
    await cluster.close();
  }
});

it('a proposal lost on its way to the leader is proposed again, and a copy delivered twice takes effect once', async () => {
  const { cluster } = await startCluster();
  try {
    await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const b = cluster.node('b');
    let seen = 0;
    // The first proposal is lost; every later one arrives twice (both copies appended by the leader).
    const sent = tap(b, (m) => (m.type !== 'prop' ? 'pass' : seen++ === 0 ? 'drop' : 'twice'));
    const w = await put(b, 'k', 'v1');
    assert.ok(props(sent).length >= 2, `proposed again after the loss (${props(sent).length} proposals)`);
    // Both delivered copies are in the leader's log; only the first applied took effect.
    const a = cluster.node('a');
    await waitUntil(
      () => a.group(SHARD).storage.lastIndex() >= w.index + 1,
      2000,
      'the second copy appended',
    );
    const w2 = await put(a, 'other', 'x');
    await appliedEverywhere(cluster, w2.index);
    for (const n of cluster.nodes) assert.deepEqual(await local(n, 'k'), { value: 'v1', version: w.index });
  } finally {
    await cluster.close();
  }
});

it('a lost write overtaken by a later write of the same node fails retry-safe, and never takes effect', async () => {
  const { cluster } = await startCluster();
  try {
    await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const b = cluster.node('b');
    let dropped = false;
    tap(b, (m) => {
      if (m.type !== 'prop' || dropped) return 'pass';
      dropped = true;
      return 'drop';
    });
    const lost = put(b, 'k1', 'lost').then(
      () => undefined,
      (e: unknown) => e,
    );
    await waitUntil(() => dropped, 1000, 'the first proposal sent (and lost)');
    const later = await put(b, 'k2', 'later');
    const err = await lost;
    assert.ok(err instanceof UnavailableError, `the lost write failed with ${String(err)}`);
    assert.equal(err.retrySafe, true, `retry-safe: ${err.message}`);
    // Its copy was appended after the later write, and skipped on every replica.
    await sleep(10 * TICK_MS);
    const last = await put(cluster.node('a'), 'k3', 'x');
    await appliedEverywhere(cluster, Math.max(last.index, later.index));
    for (const n of cluster.nodes) assert.equal(await local(n, 'k1'), undefined, `${n.id} never applied it`);
  } finally {
    await cluster.close();
  }
});

it('a proposal the deposed leader took but never committed is proposed again to the new one, and applied once', async () => {
  const { cluster, network } = await startCluster();
  try {
    const a = await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const b = cluster.node('b');
    const termBefore = a.group(SHARD).term;
    // a hears b, but nothing of a reaches anyone: it appends b's proposal and cannot commit it.
    network.block(a.id, b.id);
    network.block(a.id, cluster.node('c').id);
    const sent = tap(b);
    const w = put(b, 'k', 'v');
    await waitUntil(() => props(sent).length >= 1, 1000, 'the proposal sent to a');
    const fresh = await cluster.leaderAmong(['b', 'c'], SHARD, 3000);
    const done = await w;
    assert.ok(done.term > termBefore, `applied in a later term (${done.term}) than a led (${termBefore})`);
    network.heal();
    await waitUntil(() => a.group(SHARD).leader === fresh.id, 3000, 'a follows the new leader');
    const last = await put(fresh, 'other', 'x');
    await appliedEverywhere(cluster, last.index);
    for (const n of cluster.nodes) assert.deepEqual(await local(n, 'k'), { value: 'v', version: done.index });
  } finally {
    await cluster.close();
  }
});

it('a follower cut off from the leader answers a write "maybe" at its deadline, and a read retry-safe', async () => {
  const { cluster, network } = await startCluster();
  try {
    await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const b = cluster.node('b');
    network.partition([b.id], [cluster.node('a').id, cluster.node('c').id]);
    // Past its election timeout: it stands (no leader then), and its copies are refused by its core.
    const err = await put(b, 'k', 'v', Date.now() + 800).then(
      () => assert.fail('a cut-off follower acknowledged a write'),
      (e: unknown) => e,
    );
    // Its first copy went towards the leader before anything told it the link was cut: it cannot
    // know whether that one was appended, so neither the deadline nor a refused copy is retry-safe.
    assert.ok(err instanceof UnavailableError, String(err));
    assert.equal(err.retrySafe, false, `not retry-safe: ${err.message}`);
    const rerr = await read(b.kv, SHARD, false, Date.now() + 300, (m) => getValue(m, enc.encode('k'))).then(
      () => assert.fail('a cut-off follower answered a linearizable read'),
      (e: unknown) => e,
    );
    assert.ok(rerr instanceof UnavailableError, String(rerr));
    assert.equal(rerr.retrySafe, true, `a read takes no effect: ${rerr.message}`);
  } finally {
    await cluster.close();
  }
});

it("the leader's NOSPACE alarm keeps out the writes followers forward, as it refuses its own", async () => {
  const { cluster } = await startCluster();
  try {
    const a = await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const b = cluster.node('b');
    // a's disk is full: its alarm goes on at its next poll (every second).
    a.walGate.freeBytes = async () => 0;
    await waitUntil(() => a.kv.writeRefusal() !== undefined, 3000, "a's NOSPACE alarm");
    const lastBefore = a.group(SHARD).storage.lastIndex();
    const err = await put(b, 'k', 'v', Date.now() + 600).then(
      () => assert.fail('a write went in through a follower while the leader refuses writes'),
      (e: unknown) => e,
    );
    // b cannot tell a lost proposal from a dropped one: "maybe" at the deadline.
    assert.ok(err instanceof UnavailableError, String(err));
    assert.equal(err.retrySafe, false);
    assert.equal(a.group(SHARD).storage.lastIndex(), lastBefore, "nothing appended to the leader's log");
    for (const n of cluster.nodes) assert.equal(await local(n, 'k'), undefined);
  } finally {
    await cluster.close();
  }
});
