// The driver's early send (driver.ts, appendAndOverlap): a leader's appends and heartbeats leave
// while the turn's WAL sync runs, but only those of a term already durable here (asserted where they
// are sent: assertSendableEarly). A one-voter group with a learner that wins its election and takes
// a command before the driver's next turn gets ONE Ready that raises its term, makes it leader and
// carries the first append to the learner: that append must wait for the sync, or a crash could
// leave the learner following a leader of a term that exists nowhere on disk. Breaking the rule
// (treating every Ready as same-term) fails this test on the assertion; without the assertion, on
// the append seen leaving while the WAL is held. A follower's forwarded proposals and ReadIndex
// requests vouch for nothing here and leave at once, while its acknowledgement of the leader's append
// waits for the sync.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import pino from 'pino';
import { emptyMessage, initialSnapshot } from '../raft/index.ts';
import type { Index, Message } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { SnapshotStore } from '../storage/snapshots.ts';
import { Wal } from '../storage/wal.ts';
import type { Clock } from './clock.ts';
import { Driver } from './driver.ts';
import type { PeerTransport } from './peer-transport.ts';
import { recoverGroup } from './recovery.ts';
import type { ApplyOutcome, StateMachine } from './state-machine.ts';
import { SYSTEM_CLOCK } from './system.ts';
import { testGroup } from './testing/test-group.ts';
import { WalGate } from './testing/wal-gate.ts';

const SELF = nodeId('n1');
const LEARNER = nodeId('n2');
const LEADER = nodeId('n0');
const WAIT_POLL_MS = 5;
const WAIT_MS_MAX = 10_000;
/** Long enough for a turn that did not wait for its sync to have sent its messages. */
const HOLD_MS = 100;

class NoMachine implements StateMachine<undefined> {
  apply(_index: Index, _command: Uint8Array): ApplyOutcome<undefined> {
    return { requestId: '', result: undefined };
  }
  snapshot(): Uint8Array {
    return new Uint8Array();
  }
  restore(): void {}
}

/** Records what the driver sends, and whether the WAL gate was holding at that moment. */
function recordingTransport(gate: WalGate, sent: { m: Message; held: boolean }[]): PeerTransport {
  const t: Pick<PeerTransport, 'send' | 'flush'> = {
    send: (_group, m) => {
      sent.push({ m, held: gate.isHolding });
    },
    flush: () => {},
  };
  return t as PeerTransport;
}

async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  for (let waitedMs = 0; !cond(); waitedMs += WAIT_POLL_MS) {
    if (waitedMs > WAIT_MS_MAX) throw new Error(`timed out after ${WAIT_MS_MAX} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

/** A driver over one group of `voters` and `learners` (this node n1 among them), its WAL behind `gate`. */
async function openGroup(
  dir: string,
  gate: WalGate,
  voters: readonly string[],
  learners: readonly string[],
  clock: Clock = SYSTEM_CLOCK,
) {
  const { wal } = await Wal.open({ dir: join(dir, 'wal'), segmentBytes: 1 << 20, fs: gate });
  const snapshots = await SnapshotStore.open(join(dir, 'snap'), gate);
  const snap = initialSnapshot(voters.map(nodeId), learners.map(nodeId));
  await snapshots.save(1, snap);
  wal.appendSnapshotMarker(1, snap.metadata.index, snap.metadata.term, false);
  await wal.sync();
  const rec = {
    hardState: undefined,
    snapshot: { index: snap.metadata.index, term: snap.metadata.term },
    entries: [],
  };
  const machine = new NoMachine();
  const { storage, applied } = await recoverGroup(1, rec, snapshots, machine);
  const g = testGroup<undefined, NoMachine>(1, machine, storage, applied);
  const sent: { m: Message; held: boolean }[] = [];
  const fatal: unknown[] = [];
  const driver = new Driver({
    wal,
    snapshots,
    transport: recordingTransport(gate, sent),
    logger: pino({ level: 'silent' }),
    clock,
    snapshotEveryEntries: 1_000_000,
    retainEntries: 0,
    entriesInMemory: 1000,
    walSegmentsKept: 1_000,
    onFatal: (e) => fatal.push(e),
    afterTurn: () => {},
  });
  driver.register(g);
  return { wal, g, driver, sent, fatal };
}

/** Leader n0's heartbeat in term 2 (the group's first term is 1): it makes this node its follower. */
function heartbeat(): Message {
  return emptyMessage({ type: 'heartbeat', from: LEADER, to: SELF, term: term(2), commit: index(1) });
}

/** Leader n0's first append of term 2: entry 2 after the initial snapshot's index 1. */
function firstAppend(): Message {
  return emptyMessage({
    type: 'app',
    from: LEADER,
    to: SELF,
    term: term(2),
    index: index(1),
    logTerm: term(1),
    entries: [{ term: term(2), index: index(2), type: 'normal', data: new Uint8Array([7]) }],
    commit: index(1),
  });
}

/** What left while the WAL was held, as `type to node in term t`. */
function sentWhileHeld(sent: readonly { m: Message; held: boolean }[]): string[] {
  return sent.filter((s) => s.held).map((s) => `${s.m.type} to ${s.m.to} in term ${s.m.term}`);
}

it("a one-voter group's first appends to its learner wait for the new term to be durable", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-early-send-'));
  const gate = new WalGate();
  const { wal, g, driver, sent, fatal } = await openGroup(dir, gate, [SELF], [LEARNER]);
  try {
    // Elected and asked to replicate a command before the driver's first turn: that turn's one Ready
    // raises the term, makes this node leader and holds the append to the learner.
    g.campaign();
    g.propose('x', new Uint8Array([1]), { done: false, resolve: () => {}, fail: () => {} });
    gate.hold();
    driver.schedule();
    await waitUntil(() => gate.callsWaiting > 0 || fatal.length > 0, 'the turn to reach its WAL write');
    await new Promise((r) => setTimeout(r, HOLD_MS));
    assert.deepEqual(fatal, [], 'the driver broke no invariant');
    assert.deepEqual(sentWhileHeld(sent), [], 'nothing left before the new term was durable');

    gate.release();
    await waitUntil(() => g.isLeader(), 'the leadership, once the term is durable');
    await waitUntil(
      () => sent.some((s) => s.m.type === 'app' && s.m.to === LEARNER),
      'an append to the learner',
    );
    assert.deepEqual(fatal, [], 'the driver broke no invariant');
    assert.equal(
      sent.find((s) => s.m.type === 'app')?.m.term,
      g.term,
      "the append carries the leader's term",
    );
    await driver.stop();
  } finally {
    gate.release();
    await wal.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it("a follower's forwarded proposal and read leave during its sync; its acknowledgement waits for it", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-early-send-'));
  const gate = new WalGate();
  const { wal, g, driver, sent, fatal } = await openGroup(dir, gate, [LEADER, SELF], []);
  try {
    // Leader n0 of term 2, played by hand: its heartbeat makes this node its follower (term 2 durable).
    g.step(heartbeat());
    driver.schedule();
    await waitUntil(() => sent.some((s) => s.m.type === 'heartbeatResp'), 'the answer to the heartbeat');

    // An append to make durable, and a client's write and linearizable read, in one turn.
    gate.hold();
    g.step(firstAppend());
    g.propose('w', new Uint8Array([1]), { done: false, resolve: () => {}, fail: () => {} });
    g.queueRead({ pending: { done: false, fail: () => {} }, serve: () => {} });
    driver.schedule();
    await waitUntil(() => gate.callsWaiting > 0 || fatal.length > 0, 'the turn to reach its WAL write');
    await new Promise((r) => setTimeout(r, HOLD_MS));
    assert.deepEqual(fatal, [], 'the driver broke no invariant');
    assert.deepEqual(
      sentWhileHeld(sent).sort(),
      ['prop to n0 in term 0', 'readIndex to n0 in term 0'],
      'the forwards left while the append was being made durable, and nothing else did',
    );

    gate.release();
    await waitUntil(
      () => sent.some((s) => s.m.type === 'appResp' && s.m.index === 2),
      'the acknowledgement of entry 2',
    );
    assert.equal(sent.find((s) => s.m.type === 'appResp')?.held, false, 'acknowledged once durable');
    assert.deepEqual(fatal, [], 'the driver broke no invariant');
    await driver.stop();
  } finally {
    gate.release();
    await wal.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it('defers no turn while one runs; the work that arrived meanwhile gets the next turn', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-early-send-'));
  const gate = new WalGate();
  let defers = 0;
  const clock: Clock = {
    ...SYSTEM_CLOCK,
    defer: (fn) => {
      defers++;
      SYSTEM_CLOCK.defer(fn);
    },
  };
  const { wal, g, driver, sent, fatal } = await openGroup(dir, gate, [LEADER, SELF], [], clock);
  try {
    g.step(heartbeat());
    driver.schedule();
    await waitUntil(() => sent.some((s) => s.m.type === 'heartbeatResp'), 'the answer to the heartbeat');

    // A turn held in its WAL write (the first append makes a write that must be synced).
    gate.hold();
    g.step(firstAppend());
    driver.schedule();
    await waitUntil(() => gate.callsWaiting > 0 || fatal.length > 0, 'the turn to reach its WAL write');
    const defersBefore = defers;
    const answersBefore = sent.filter((s) => s.m.type === 'heartbeatResp').length;
    // Work arrives while it waits: stepped at once, its turn asked for.
    g.step(heartbeat());
    for (let i = 0; i < 3; i++) driver.schedule();
    assert.equal(defers, defersBefore, 'nothing deferred while the turn runs');
    assert.equal(sent.filter((s) => s.m.type === 'heartbeatResp').length, answersBefore);

    gate.release();
    await waitUntil(
      () => sent.filter((s) => s.m.type === 'heartbeatResp').length > answersBefore,
      'the heartbeat that arrived during the sync answered by the next turn',
    );
    assert.equal(defers, defersBefore + 1, 'the turn that ended scheduled exactly one more');
    assert.deepEqual(fatal, [], 'the driver broke no invariant');
    await driver.stop();
  } finally {
    gate.release();
    await wal.close();
    await rm(dir, { recursive: true, force: true });
  }
});
