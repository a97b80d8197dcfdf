// A replica that catches up from the leader's snapshot never sees the entries the snapshot covers
// applied one by one, so a write proposed here and carried in them settles unseen. Its waiter must
// then be told "maybe" (the snapshot may hold it), never retry-safe: a copy of it applied later is
// skipped (the snapshot's proposer sessions hold its seq), which would otherwise read as "never
// applied". A write the snapshot does not settle keeps waiting.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { initialSnapshot, MemoryStorage } from '../raft/index.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { encodeCommand } from '../storage/command.ts';
import { KvState } from '../storage/kv-state.ts';
import { UnavailableError } from './errors.ts';
import { Group } from './group.ts';
import { groupId } from './ids.ts';
import type { Applied } from './intents.ts';
import { KvMachine } from './kv-machine.ts';
import { ManualClock } from './manual-clock.ts';
import { Pending, PendingBudget } from './pending.ts';
import { requestKey } from './state-machine.ts';
import { SYSTEM_RANDOM } from './system.ts';

const enc = new TextEncoder();
const CLIENT = 77;

function putCommand(seq: number, key: string): Uint8Array {
  return encodeCommand({ op: 'put', clientId: CLIENT, seq, key: enc.encode(key), value: enc.encode('v') });
}

it('a snapshot installed over waiting writes fails those it settles as maybe applied, and keeps the others', async () => {
  const storage = new MemoryStorage();
  storage.applySnapshot(initialSnapshot([nodeId('n1')]));
  const g = new Group({
    groupId: groupId(1),
    nodeId: nodeId('n1'),
    electionTick: 10,
    heartbeatTick: 1,
    random: SYSTEM_RANDOM,
    machine: new KvMachine(),
    storage,
    applied: index(1),
  });
  g.campaign();
  for (let i = 0; i < 20 && g.hasReady(); i++) {
    const rd = g.ready();
    if (rd.softState !== undefined) g.role = rd.softState.role;
    storage.append(rd.entries);
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
    for (const e of rd.committedEntries) if (e.index > g.applied) g.applyEntry(e);
    g.advance(rd);
  }
  assert.ok(g.isLeader());
  const clock = new ManualClock();
  const budget = new PendingBudget(10);
  const waiter = (seq: number, key: string) => {
    const p = new Pending<Applied<unknown>>(
      budget,
      clock,
      clock.nowMs() + 10_000,
      () => new UnavailableError('deadline'),
    );
    g.propose(requestKey(CLIENT, seq), putCommand(seq, key), p);
    return p;
  };
  const inSnapshot = waiter(1, 'a');
  const after = waiter(2, 'b');
  g.flushProposals();
  assert.equal(g.proposalsWaiting(), 2, 'both proposed (appended, not yet applied)');

  // The leader's snapshot: seq 1 of this node applied there (at index 3), seq 2 not yet.
  const state = new KvState();
  state.advanceApplied(2);
  state.apply(3, { op: 'put', clientId: CLIENT, seq: 1, key: enc.encode('a'), value: enc.encode('v') });
  g.installSnapshot({
    metadata: { index: index(3), term: term(2), confState: g.confState },
    data: state.serialize(),
  });

  assert.equal(inSnapshot.done, true, 'the write the snapshot settles is answered at once');
  await assert.rejects(inSnapshot.promise, (e: unknown) => {
    assert.ok(e instanceof UnavailableError, String(e));
    assert.equal(e.retrySafe, false, e.message);
    assert.match(e.message, /may have taken effect/);
    return true;
  });
  assert.equal(after.done, false, 'a write the snapshot does not settle keeps waiting');
  assert.equal(g.proposalsWaiting(), 1);
});
