// A leader cut off from the rest of its group by a partition is deposed without knowing it: the
// other voters elect a new leader and accept writes. A linearizable read sent to the old leader must
// therefore not be answered from its own state machine: requests.ts's read() first confirms the
// leadership with a ReadIndex round (heartbeats acknowledged by a quorum), which a cut-off node
// cannot complete, so the read fails with UNAVAILABLE at its deadline instead of returning the value
// the new leader has already overwritten. A serializable read there does return the old value: it
// shows that the test reaches the old leader's state, and that only the ReadIndex round stands
// between the client and a stale answer.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MemoryNetwork } from '../transport/memory-transport.ts';
import { UnavailableError } from './errors.ts';
import { getValue, read, write } from './requests.ts';
import { TestCluster } from './testing/test-cluster.ts';

const SHARD = 1;
const TICK_MS = 20;
/** 200–400 ms without a leader before a follower campaigns. */
const ELECTION_TICK = 10;
const ELECT_TIMEOUT_MS = 3000;
const NEW_LEADER_TIMEOUT_MS = 5000;
const WRITE_DEADLINE_MS = 3000;
/** Many heartbeat intervals: a read that could be confirmed would be within a few of them. */
const READ_DEADLINE_MS = 500;

const enc = new TextEncoder();
const dec = new TextDecoder();
const KEY = enc.encode('k');

it('a deposed leader cut off by a partition does not answer a linearizable read with the overwritten value', async () => {
  await deposedLeaderRead(false);
});

it('with the planted bug (serve --unsafe_no_read_index) the same read returns the overwritten value', async () => {
  await assert.rejects(deposedLeaderRead(true), /returned 'v1'/);
});

async function deposedLeaderRead(unsafeNoReadIndex: boolean): Promise<void> {
  const network = new MemoryNetwork();
  const cluster = await TestCluster.start(network, {
    nodeIds: ['a', 'b', 'c'],
    tickMs: TICK_MS,
    electionTick: ELECTION_TICK,
    unsafeNoReadIndex,
  });
  try {
    const old = await cluster.elect('a', SHARD, ELECT_TIMEOUT_MS);
    const w1 = await write(
      old.kv,
      SHARD,
      { op: 'put', key: KEY, value: enc.encode('v1') },
      Date.now() + WRITE_DEADLINE_MS,
    );

    network.partition([old.id], [cluster.node('b').id, cluster.node('c').id]);
    const fresh = await cluster.leaderAmong(['b', 'c'], SHARD, NEW_LEADER_TIMEOUT_MS);
    const w2 = await write(
      fresh.kv,
      SHARD,
      { op: 'put', key: KEY, value: enc.encode('v2') },
      Date.now() + WRITE_DEADLINE_MS,
    );
    assert.ok(
      w2.index > w1.index && w2.term > w1.term,
      `v2 (index ${w2.index}, term ${w2.term}) comes after v1 (index ${w1.index}, term ${w1.term}) under a new leader`,
    );

    const local = await read(old.kv, SHARD, true, Date.now() + READ_DEADLINE_MS, (m) => getValue(m, KEY));
    const localText = local.value === undefined ? '(absent)' : dec.decode(local.value.value);
    assert.equal(localText, 'v1', `a serializable read on the cut-off ${old.id} sees its own state`);

    const roleAtRead = old.group(SHARD).role;
    const startedMs = Date.now();
    const outcome = await read(old.kv, SHARD, false, startedMs + READ_DEADLINE_MS, (m) =>
      getValue(m, KEY),
    ).then(
      (r) => ({ value: r.value === undefined ? '(absent)' : dec.decode(r.value.value), index: r.index }),
      (e: unknown) => ({ error: e }),
    );
    const tookMs = Date.now() - startedMs;
    if ('error' in outcome) {
      assert.ok(
        outcome.error instanceof UnavailableError,
        `the linearizable read on ${old.id} failed after ${tookMs} ms with ${String(outcome.error)}, expected an UnavailableError`,
      );
    } else {
      assert.notEqual(
        outcome.value,
        'v1',
        `a linearizable read on the cut-off old leader ${old.id} (role ${roleAtRead} when asked) returned 'v1' ` +
          `at index ${outcome.index} after ${tookMs} ms, though ${fresh.id} had already acknowledged 'v2' at index ${w2.index} in term ${w2.term}`,
      );
    }
    for (const n of cluster.nodes) assert.deepEqual(n.fatalErrors, [], `${n.id} reported no fatal error`);
  } finally {
    await cluster.close();
  }
}
