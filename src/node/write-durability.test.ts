// A write is answered only once its entry is durable on a quorum. driver.ts's turn awaits the WAL's
// sync before it makes the entries visible in MemoryStorage, sends acknowledgements, applies and
// answers; a turn that went on without waiting would acknowledge (on a follower) or count (on the
// leader) entries still only in memory, and tell the client "done" about a write that a crash of
// those nodes loses.
//
// Here the WAL writes of some voters are held at their WalGate, so nothing they append becomes
// durable. With a quorum of voters held, a write must stay unanswered however long the hold lasts
// (ticks go on, the election timeout is longer than the hold so the leader stays), and it must be
// answered once the gates open. Each held node's gate must have stopped at least one WAL call, or
// the hold proves nothing (the entry never reached that node's WAL).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { MemoryNetwork } from '../transport/memory-transport.ts';
import { write } from './requests.ts';
import { sleep, TestCluster } from './testing/test-cluster.ts';

const SHARD = 1;
const TICK_MS = 10;
/** 500–1000 ms without a leader before a follower campaigns: longer than HOLD_MS. */
const ELECTION_TICK = 50;
const ELECT_TIMEOUT_MS = 3000;
/** Fifty ticks: a write that did not wait for its sync is answered within a few of them. */
const HOLD_MS = 300;
const WRITE_DEADLINE_MS = 5000;

const enc = new TextEncoder();

type Answer<T> =
  | { readonly state: 'waiting' }
  | { readonly state: 'answered'; readonly value: T }
  | { readonly state: 'failed'; readonly error: unknown };

/** Records how (and whether yet) a promise settled, without awaiting it. */
function track<T>(p: Promise<T>): { readonly now: () => Answer<T>; readonly promise: Promise<T> } {
  let answer: Answer<T> = { state: 'waiting' };
  p.then(
    (value) => {
      answer = { state: 'answered', value };
    },
    (error: unknown) => {
      answer = { state: 'failed', error };
    },
  );
  return { now: () => answer, promise: p };
}

function describeAnswer<T>(a: Answer<T>): string {
  if (a.state === 'waiting') return 'still waiting';
  if (a.state === 'failed') return `failed with ${String(a.error)}`;
  return `answered ${JSON.stringify(a.value)}`;
}

/**
 * `leaderId` leads a group of `nodeIds`; the WALs of `heldIds` are held while a write is proposed
 * through the leader: it must not be answered within HOLD_MS, and must be once they are released.
 */
async function checkHeldQuorum(nodeIds: string[], leaderId: string, heldIds: string[]): Promise<void> {
  const cluster = await TestCluster.start(new MemoryNetwork(), {
    nodeIds,
    tickMs: TICK_MS,
    electionTick: ELECTION_TICK,
  });
  try {
    const leader = await cluster.elect(leaderId, SHARD, ELECT_TIMEOUT_MS);
    // Unheld first: every node has a WAL that works and has seen the group's traffic.
    await write(
      leader.kv,
      SHARD,
      { op: 'put', key: enc.encode('warm'), value: enc.encode('up') },
      Date.now() + WRITE_DEADLINE_MS,
    );
    const held = heldIds.map((id) => cluster.node(id));
    for (const n of held) n.walGate.hold();
    const termBefore = leader.group(SHARD).term;

    const answer = track(
      write(
        leader.kv,
        SHARD,
        { op: 'put', key: enc.encode('k'), value: enc.encode('v') },
        Date.now() + WRITE_DEADLINE_MS,
      ),
    );
    await sleep(HOLD_MS);
    assert.equal(
      answer.now().state,
      'waiting',
      `with the WALs of ${heldIds.join(', ')} held (of ${nodeIds.join(', ')}), the write was ${describeAnswer(answer.now())} within ${HOLD_MS} ms`,
    );
    for (const n of held) {
      assert.ok(
        n.walGate.callsHeldTotal > 0,
        `${n.id}'s WAL gate stopped no call in ${HOLD_MS} ms: the entry never reached its WAL, so the hold proves nothing`,
      );
    }

    const releasedMs = Date.now();
    for (const n of held) n.walGate.release();
    const applied = await answer.promise;
    const afterReleaseMs = Date.now() - releasedMs;
    assert.equal(applied.result.op, 'put', `the write was answered ${afterReleaseMs} ms after the release`);
    assert.equal(
      applied.term,
      termBefore,
      `the write committed in the leader's term ${termBefore} (got ${applied.term}): the hold did not cost the leadership`,
    );
    for (const n of cluster.nodes) assert.deepEqual(n.fatalErrors, [], `${n.id} reported no fatal error`);
  } finally {
    await cluster.close();
  }
}

it('three voters, all WALs held: the write is answered only after they are released', async () => {
  await checkHeldQuorum(['a', 'b', 'c'], 'a', ['a', 'b', 'c']);
});

it("three voters, both followers' WALs held: the leader's own durable copy is not a quorum", async () => {
  await checkHeldQuorum(['a', 'b', 'c'], 'a', ['b', 'c']);
});

it("three voters, the leader's and one follower's WALs held: one durable follower is not a quorum", async () => {
  await checkHeldQuorum(['a', 'b', 'c'], 'a', ['a', 'b']);
});

it("one voter, its WAL held: the write is answered only after the leader's own sync", async () => {
  await checkHeldQuorum(['a'], 'a', ['a']);
});
