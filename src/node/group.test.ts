// Proposals queued on a group and proposed once per turn as one batch (Group.flushProposals).
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { initialSnapshot, MemoryStorage } from '../raft/index.ts';
import type { Index } from '../raft/types.ts';
import { index, nodeId } from '../raft/types.ts';
import { UnavailableError } from './errors.ts';
import type { Group } from './group.ts';
import type { Applied } from './intents.ts';
import { ManualClock } from './manual-clock.ts';
import { Pending, PendingBudget } from './pending.ts';
import type { ApplyOutcome, StateMachine } from './state-machine.ts';
import { testGroup } from './testing/test-group.ts';

/** Applies "id" commands: the command's bytes are the request id. */
class EchoMachine implements StateMachine<string> {
  readonly applied: string[] = [];
  apply(_index: Index, command: Uint8Array): ApplyOutcome<string> {
    const requestId = new TextDecoder().decode(command);
    this.applied.push(requestId);
    return { requestId, result: requestId };
  }
  snapshot(): Uint8Array {
    return new Uint8Array();
  }
  restore(): void {}
}

type EchoGroup = Group<string, EchoMachine>;

function singleNodeGroup(voters = ['n1']): { g: EchoGroup; machine: EchoMachine; storage: MemoryStorage } {
  const storage = new MemoryStorage();
  storage.applySnapshot(initialSnapshot(voters.map(nodeId)));
  const machine = new EchoMachine();
  const g = testGroup<string, EchoMachine>(1, machine, storage, index(1));
  return { g, machine, storage };
}

/** A Ready loop without a disk: persist to MemoryStorage, apply, advance. */
function drain(g: EchoGroup, storage: MemoryStorage): { appends: number } {
  let appends = 0;
  for (let i = 0; i < 20 && g.hasReady(); i++) {
    const rd = g.ready();
    storage.append(rd.entries);
    if (rd.hardState !== undefined) storage.setHardState(rd.hardState);
    appends += rd.messages.filter((m) => m.type === 'app' && m.entries.length > 0).length;
    for (const e of rd.committedEntries) if (e.index > g.applied) g.applyEntry(e);
    g.advance(rd);
  }
  return { appends };
}

const enc = new TextEncoder();
const budget = new PendingBudget(100);
/** The waiters' deadlines never pass: this clock does not move. */
const clock = new ManualClock();
const unavailable = () => new UnavailableError('deadline');

it('commands queued in one turn are proposed together and each waiter gets its own result', async () => {
  const { g, machine, storage } = singleNodeGroup();
  g.campaign();
  drain(g, storage);
  const waiters = ['a', 'b', 'c'].map((id) => {
    const p = new Pending<Applied<string>>(budget, clock, clock.nowMs() + 10_000, unavailable);
    g.propose(id, enc.encode(id), p);
    return p;
  });
  assert.equal(machine.applied.length, 0, 'nothing is proposed before the turn');
  assert.ok(g.hasQueuedProposals());
  const before = storage.lastIndex();
  g.flushProposals();
  assert.ok(!g.hasQueuedProposals());
  drain(g, storage);
  assert.equal(storage.lastIndex() - before, 3);
  assert.deepEqual(machine.applied, ['a', 'b', 'c'], 'in queue order');
  assert.deepEqual(
    (await Promise.all(waiters.map((w) => w.promise))).map((r) => r.result),
    ['a', 'b', 'c'],
  );
});

it('a refused batch fails its commands retry-safe; a command whose deadline passed is not proposed', async () => {
  // Two voters, no election: no leader, so the core refuses the proposal.
  const { g, machine, storage } = singleNodeGroup(['n1', 'n2']);
  const refused = new Pending<Applied<string>>(budget, clock, clock.nowMs() + 10_000, unavailable);
  g.propose('x', enc.encode('x'), refused);
  g.flushProposals();
  await assert.rejects(
    refused.promise,
    (e: unknown) => e instanceof UnavailableError && e.retrySafe && /did not accept/.test(e.message),
  );
  // A leader skips a command whose request already settled (its deadline passed while queued).
  const leader = singleNodeGroup();
  leader.g.campaign();
  drain(leader.g, leader.storage);
  const expired = new Pending<Applied<string>>(budget, clock, clock.nowMs() + 10_000, unavailable);
  expired.fail(new UnavailableError('deadline passed'));
  await assert.rejects(expired.promise, /deadline passed/);
  leader.g.propose('y', enc.encode('y'), expired);
  const live = new Pending<Applied<string>>(budget, clock, clock.nowMs() + 10_000, unavailable);
  leader.g.propose('z', enc.encode('z'), live);
  const lastBefore = leader.storage.lastIndex();
  leader.g.flushProposals();
  drain(leader.g, leader.storage);
  assert.equal(leader.storage.lastIndex() - lastBefore, 1, 'only the live command is appended');
  assert.deepEqual(leader.machine.applied, ['z']);
  assert.equal((await live.promise).result, 'z');
  assert.equal(machine.applied.length, 0);
  assert.equal(storage.lastIndex(), 1, 'the leaderless group appended nothing');
});
