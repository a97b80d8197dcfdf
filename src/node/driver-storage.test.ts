// The driver's use of the WAL and the snapshot store, on real files: what a crash leaves must start
// again (the snapshot the durable marker names is never deleted), the WAL stays bounded however cold
// some groups are, and a burst of large writes pushes back on clients instead of stopping the node.
// One node, groups of one voter (or a follower fed by hand), no network: the driver's own behaviour.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import {
  EntriesTemporarilyUnavailableError,
  emptyMessage,
  encodeConfChange,
  initialSnapshot,
  SnapshotTemporarilyUnavailableError,
} from '../raft/index.ts';
import type { Entry, Index } from '../raft/types.ts';
import { index, nodeId, term } from '../raft/types.ts';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import type { SnapshotSource } from '../storage/snapshot-source.ts';
import { SnapshotStore } from '../storage/snapshots.ts';
import { type RecoveredGroup, Wal } from '../storage/wal.ts';
import { Driver } from './driver.ts';
import { NodeError, UnavailableError } from './errors.ts';
import type { Group } from './group.ts';
import type { Applied } from './intents.ts';
import type { PeerTransport } from './peer-transport.ts';
import { Pending, PendingBudget } from './pending.ts';
import { recoverGroup } from './recovery.ts';
import type { ApplyOutcome, StateMachine } from './state-machine.ts';
import { SYSTEM_CLOCK } from './system.ts';
import { testGroup } from './testing/test-group.ts';

const SELF = nodeId('n1');
const LEADER = nodeId('n0');
const WAIT_POLL_MS = 5;
const WAIT_MS_MAX = 20_000;

/** A state machine whose command is its request id: the state is the list of ids applied. */
class EchoMachine implements StateMachine<string> {
  applied: string[] = [];
  apply(_index: Index, command: Uint8Array): ApplyOutcome<string> {
    const requestId = Buffer.from(command.subarray(0, 16)).toString('latin1').replace(/\0+$/, '');
    this.applied.push(requestId);
    return { requestId, result: requestId };
  }
  /** What a snapshot's source waits for before its first slice (a test holds it open). */
  gate: Promise<void> = Promise.resolve();
  /** Sources handed out, and those closed by the driver. */
  sourcesOpened = 0;
  sourcesClosed = 0;
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.applied));
  }
  snapshotSource(): SnapshotSource {
    const bytes = this.snapshot();
    const gate = this.gate;
    let given = false;
    this.sourcesOpened++;
    return {
      totalBytes: bytes.byteLength,
      next: async () => {
        await gate;
        if (given) return undefined;
        given = true;
        return bytes;
      },
      close: () => {
        this.sourcesClosed++;
      },
    };
  }
  restore(data: Uint8Array): void {
    this.applied = data.byteLength === 0 ? [] : JSON.parse(new TextDecoder().decode(data));
  }
}

/** A command of `bytes` bytes that starts with its request id (padded to 16 bytes). */
function command(requestId: string, bytes = 16): Uint8Array {
  const out = new Uint8Array(Math.max(16, bytes));
  out.set(new TextEncoder().encode(requestId));
  return out;
}

const NO_PEERS: PeerTransport = {
  send: () => {},
  flush: () => {},
} as unknown as PeerTransport;

interface TestDriver {
  readonly dir: string;
  readonly wal: Wal;
  readonly snapshots: SnapshotStore;
  readonly driver: Driver;
  readonly fatal: unknown[];
  readonly groups: Map<number, EchoGroup>;
}

type EchoGroup = Group<string, EchoMachine>;

interface DriverOptions {
  readonly snapshotEveryEntries?: number;
  readonly entriesInMemory?: number;
  readonly walSegmentsKept?: number;
  readonly segmentBytes?: number;
  readonly pendingBytesMax?: number;
  readonly roomFor?: (bytes: number) => Promise<boolean>;
}

/**
 * Opens (or reopens) the node's WAL and snapshot store in `dir`, recovers every group in
 * `voters` (bootstrapping an empty one with the initial snapshot) and starts a driver over them.
 */
async function openDriver(
  dir: string,
  voters: ReadonlyMap<number, readonly string[]>,
  o: DriverOptions = {},
): Promise<TestDriver> {
  const { wal, recovered } = await Wal.open({
    dir: join(dir, 'wal'),
    segmentBytes: o.segmentBytes ?? 1 << 20,
    fs: REAL_FILE_SYSTEM,
    ...(o.pendingBytesMax !== undefined ? { pendingBytesMax: o.pendingBytesMax } : {}),
  });
  const snapshots = await SnapshotStore.open(join(dir, 'snap'), REAL_FILE_SYSTEM);
  const fatal: unknown[] = [];
  const driver = new Driver({
    wal,
    snapshots,
    transport: NO_PEERS,
    logger: pino({ level: 'silent' }),
    clock: SYSTEM_CLOCK,
    snapshotEveryEntries: o.snapshotEveryEntries ?? 1_000_000_000,
    retainEntries: 0,
    entriesInMemory: o.entriesInMemory ?? 1000,
    walSegmentsKept: o.walSegmentsKept ?? 1_000,
    ...(o.roomFor !== undefined ? { roomFor: o.roomFor } : {}),
    onFatal: (e) => fatal.push(e),
    afterTurn: () => {},
  });
  const groups = new Map<number, EchoGroup>();
  for (const [groupId, ids] of voters) {
    const rec = recovered.get(groupId) ?? (await bootstrapGroup(wal, snapshots, groupId, ids));
    const machine = new EchoMachine();
    const { storage, applied } = await recoverGroup(groupId, rec, snapshots, machine);
    const g = testGroup<string, EchoMachine>(groupId, machine, storage, applied);
    driver.register(g);
    groups.set(groupId, g);
  }
  return { dir, wal, snapshots, driver, fatal, groups };
}

/** The initial configuration as a durable snapshot at index 1: the file, then its synced marker. */
async function bootstrapGroup(
  wal: Wal,
  snapshots: SnapshotStore,
  groupId: number,
  voters: readonly string[],
): Promise<RecoveredGroup> {
  const snap = initialSnapshot(voters.map(nodeId));
  await snapshots.save(groupId, snap);
  wal.appendSnapshotMarker(groupId, snap.metadata.index, snap.metadata.term, false);
  await wal.sync();
  return { hardState: undefined, snapshot: { index: index(1), term: term(1) }, entries: [] };
}

async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  for (let waitedMs = 0; !cond(); waitedMs += WAIT_POLL_MS) {
    if (waitedMs > WAIT_MS_MAX) throw new Error(`timed out after ${WAIT_MS_MAX} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

/** Makes this node the leader of every (one-voter) group. */
async function leadAll(t: TestDriver): Promise<void> {
  for (const g of t.groups.values()) g.campaign();
  t.driver.schedule();
  await waitUntil(() => [...t.groups.values()].every((g) => g.isLeader()), 'leadership of every group');
}

function write(t: TestDriver, groupId: number, requestId: string, bytes = 16): Pending<Applied<string>> {
  const p = new Pending<Applied<string>>(
    budget,
    SYSTEM_CLOCK,
    SYSTEM_CLOCK.nowMs() + WAIT_MS_MAX,
    () => new UnavailableError(`write ${requestId} timed out`),
  );
  t.groups.get(groupId)!.propose(requestId, command(requestId, bytes), p);
  t.driver.schedule();
  return p;
}

const budget = new PendingBudget(100_000);

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-driver-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The group's leader n0 (term 2), played by hand: `append` sends entries after index 1 and waits
 * until they are durable here; `commit` moves the commit index by a heartbeat and waits until it is
 * applied.
 */
function byHand(t: TestDriver, g: EchoGroup) {
  const base = { from: LEADER, to: SELF, term: term(2) };
  const step = async (m: Parameters<typeof g.step>[0], applied: number): Promise<void> => {
    g.step(m);
    t.driver.schedule();
    await waitUntil(() => g.applied >= applied, `applied ${applied}`);
  };
  return {
    append: async (entries: readonly Entry[]): Promise<void> => {
      const m = {
        ...base,
        type: 'app',
        index: index(1),
        logTerm: term(1),
        entries,
        commit: index(1),
      } as const;
      await step(emptyMessage(m), 1);
      const last = entries[entries.length - 1]?.index ?? 1;
      await waitUntil(() => g.lastIndex() === last, 'the entries to be durable');
    },
    commit: (i: number): Promise<void> =>
      step(emptyMessage({ ...base, type: 'heartbeat', commit: index(i) }), i),
  };
}

test('a follower that snapshots twice between two syncs of its WAL restarts from what a crash leaves', async () => {
  await withDir(async (dir) => {
    // Commit-only heartbeats need no sync of their own; each one here crosses snapshotEveryEntries.
    const t = await openDriver(dir, new Map([[1, ['n0', 'n1']]]), { snapshotEveryEntries: 5 });
    const g = t.groups.get(1)!;
    const entries: Entry[] = [];
    for (let i = 2; i <= 21; i++)
      entries.push({ term: term(2), index: index(i), type: 'normal', data: command(`e${i}`) });
    const leader = byHand(t, g);
    await leader.append(entries);
    await leader.commit(6);
    await leader.commit(11);
    await waitUntil(() => g.snapshotIndex === 11, 'the second snapshot');
    assert.deepEqual(t.fatal, []);

    // A crash now: the process dies with the files as they are (nothing more is synced). Restart:
    const after = await openDriverRecovery(dir);
    assert.equal(after.applied, 11, 'recovers from the snapshot at 11 its durable marker names');
    assert.deepEqual(after.machine.applied, ['e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10', 'e11']);
    const files = await readdir(join(dir, 'snap'));
    assert.ok(
      files.length <= 2,
      `older snapshot files are released once the newer marker is durable: ${files}`,
    );
    await t.driver.stop();
    await t.wal.close();
  });
});

test('a turn that applies a configuration change syncs its commit index first; one that applies only data does not', async () => {
  await withDir(async (dir) => {
    const t = await openDriver(dir, new Map([[1, ['n0', 'n1']]]));
    const g = t.groups.get(1)!;
    const addLearner = encodeConfChange({
      changes: [{ type: 'addLearner', nodeId: nodeId('n2') }],
      transition: 'auto',
    });
    const entries: Entry[] = [
      { term: term(2), index: index(2), type: 'normal', data: command('e2') },
      { term: term(2), index: index(3), type: 'confChange', data: addLearner },
      { term: term(2), index: index(4), type: 'normal', data: command('e4') },
    ];
    const leader = byHand(t, g);
    await leader.append(entries);
    let syncs = 0;
    const sync = t.wal.sync.bind(t.wal);
    t.wal.sync = () => {
      syncs++;
      return sync();
    };
    // A commit index over a data entry only: applied without a sync of its own.
    await leader.commit(2);
    assert.equal(syncs, 0, 'a commit index alone is not synced');
    // Over the configuration change: synced before it is applied.
    await leader.commit(4);
    assert.equal(syncs, 1, 'the commit index is synced before the configuration change is applied');
    assert.deepEqual(g.confState.learners, ['n2']);
    assert.deepEqual(t.fatal, []);
    await t.driver.stop();
    await t.wal.close();
  });
});

/** What a restart finds in `dir` (a second, independent open of the WAL and snapshot store). */
async function openDriverRecovery(dir: string): Promise<{ applied: number; machine: EchoMachine }> {
  const { wal, recovered } = await Wal.open({
    dir: join(dir, 'wal'),
    segmentBytes: 1 << 20,
    fs: REAL_FILE_SYSTEM,
  });
  try {
    const snapshots = await SnapshotStore.open(join(dir, 'snap'), REAL_FILE_SYSTEM);
    const machine = new EchoMachine();
    const { applied } = await recoverGroup(1, recovered.get(1), snapshots, machine);
    return { applied, machine };
  } finally {
    await wal.close();
  }
}

test('a cold group does not pin the WAL: the node snapshots what keeps the oldest segment alive', async () => {
  await withDir(async (dir) => {
    const segmentBytes = 64 * 1024;
    const walSegmentsKept = 3;
    const voters = new Map([
      [0, ['n1']], // cold: a few entries, never near snapshotEveryEntries
      [1, ['n1']], // hot
    ]);
    const t = await openDriver(dir, voters, { segmentBytes, walSegmentsKept });
    await leadAll(t);
    await write(t, 0, 'cold-1').promise;
    const valueBytes = 2048;
    const writes = 400; // about 800 KiB: a dozen segments' worth
    let segmentsMax = 0;
    for (let i = 0; i < writes; i += 10) {
      const batch: Promise<Applied<string>>[] = [];
      for (let k = i; k < i + 10; k++) batch.push(write(t, 1, `hot-${k}`, valueBytes).promise);
      await Promise.all(batch);
      segmentsMax = Math.max(segmentsMax, t.wal.segmentSeqs().length);
    }
    assert.deepEqual(t.fatal, []);
    const released = t.wal.stats().segmentsReleased;
    assert.ok(released >= 8, `segments released: ${released}`);
    assert.ok(
      segmentsMax <= walSegmentsKept + 2,
      `the WAL held up to ${segmentsMax} segments, bound ${walSegmentsKept} kept + the one written + one`,
    );
    await t.driver.stop();
    await t.wal.close();
    // Both groups come back whole from their snapshots and what the WAL kept.
    const again = await openDriver(dir, voters, { segmentBytes, walSegmentsKept });
    const cold = again.groups.get(0)!.machine;
    const hot = again.groups.get(1)!.machine;
    await leadAll(again);
    await waitUntil(() => hot.applied.length === writes, 'the hot group to re-apply its log');
    assert.deepEqual(cold.applied, ['cold-1']);
    assert.deepEqual(hot.applied.slice(0, 3), ['hot-0', 'hot-1', 'hot-2']);
    await again.driver.stop();
    await again.wal.close();
  });
});

test('a snapshot is built and saved beside the turns: writes are applied meanwhile, and it holds the state of its moment', async () => {
  await withDir(async (dir) => {
    const voters = new Map([[1, ['n1']]]);
    const t = await openDriver(dir, voters, { snapshotEveryEntries: 10 });
    await leadAll(t);
    const g = t.groups.get(1)!;
    let open = (): void => {};
    g.machine.gate = new Promise((resolve) => {
      open = resolve;
    });
    for (let i = 0; i < 15; i++) await write(t, 1, `w-${i}`).promise;
    // A snapshot was begun (its state captured) and waits at the gate; the writes after it went on.
    for (let i = 15; i < 40; i++) await write(t, 1, `w-${i}`).promise;
    assert.equal(g.snapshotIndex, 1, 'no snapshot finished while its build waits');
    assert.equal(g.machine.applied.length, 40);
    // The next snapshot (due at once: 25 writes since) waits at a gate of its own.
    let openNext = (): void => {};
    g.machine.gate = new Promise((resolve) => {
      openNext = resolve;
    });
    open();
    await waitUntil(() => g.snapshotIndex > 1, 'the snapshot to be finished once built');
    // Its bytes are in its file, not in memory; asked for, they are read back.
    assert.equal(g.storage.snapshotDataHeld(), false, 'the saved snapshot lets its bytes go');
    assert.throws(() => g.storage.snapshot(), SnapshotTemporarilyUnavailableError);
    await t.driver.readBack(1);
    const taken = JSON.parse(new TextDecoder().decode(g.storage.snapshot().data)) as string[];
    assert.ok(taken.length >= 5 && taken.length < 40, `the snapshot holds ${taken.length} writes`);
    assert.deepEqual(taken, g.machine.applied.slice(0, taken.length), 'the state of its moment');
    assert.deepEqual(t.fatal, []);
    openNext();
    await t.driver.stop();
    await t.wal.close();
    // A restart starts from that snapshot and the log after it: nothing lost, nothing twice.
    const again = await openDriver(dir, voters, { snapshotEveryEntries: 10 });
    await leadAll(again);
    const machine = again.groups.get(1)!.machine;
    await waitUntil(() => machine.applied.length >= 40, 'the log after the snapshot to be applied');
    assert.deepEqual(
      machine.applied,
      Array.from({ length: 40 }, (_, i) => `w-${i}`),
    );
    await again.driver.stop();
    await again.wal.close();
  });
});

test('a snapshot that would leave the WAL no room is not written; the node goes on, and snapshots once there is room', async () => {
  await withDir(async (dir) => {
    let room = false;
    const asked: number[] = [];
    const roomFor = async (bytes: number): Promise<boolean> => {
      asked.push(bytes);
      return room;
    };
    const t = await openDriver(dir, new Map([[1, ['n1']]]), { snapshotEveryEntries: 20, roomFor });
    await leadAll(t);
    for (let i = 0; i < 30; i++) await write(t, 1, `w-${i}`).promise;
    assert.ok(asked.length > 0, 'the driver asks for room before writing a snapshot');
    assert.ok(asked.every((b) => b > 0));
    assert.equal(t.groups.get(1)!.snapshotIndex, 1, 'no snapshot beyond the initial one');
    // A source given up on (no room) is closed all the same: a capture stops keeping values.
    const machine = t.groups.get(1)!.machine;
    assert.ok(machine.sourcesOpened > 0);
    await waitUntil(
      () => machine.sourcesClosed === machine.sourcesOpened,
      'the given-up sources to be closed',
    );
    room = true;
    for (let i = 30; i < 200; i++) await write(t, 1, `w-${i}`).promise;
    await waitUntil(() => t.groups.get(1)!.snapshotIndex > 1, 'a snapshot once there is room');
    await waitUntil(() => machine.sourcesClosed === machine.sourcesOpened, 'the saved sources to be closed');
    assert.deepEqual(t.fatal, []);
    await t.driver.stop();
    await t.wal.close();
  });
});

test('a burst of large writes over many groups pushes back on clients and never stops the node', async () => {
  await withDir(async (dir) => {
    // A small bound on unsynced WAL bytes stands for the default 256 MiB against 64 MiB per group.
    const groups = 5;
    const voters = new Map<number, string[]>();
    for (let g = 1; g <= groups; g++) voters.set(g, ['n1']);
    const t = await openDriver(dir, voters, { pendingBytesMax: 1 << 20, segmentBytes: 8 << 20 });
    await leadAll(t);
    const waiters: Pending<Applied<string>>[] = [];
    for (let g = 1; g <= groups; g++)
      for (let k = 0; k < 4; k++) waiters.push(write(t, g, `g${g}-${k}`, 256 * 1024)); // one turn
    const outcomes = await Promise.allSettled(waiters.map((w) => w.promise));
    assert.deepEqual(t.fatal, [], 'the node keeps running');
    const failed = outcomes.filter((o) => o.status === 'rejected');
    assert.deepEqual(failed, [], 'every write of the burst was applied');
    await t.driver.stop();
    await t.wal.close();
  });
});

test("a write over a group's bound on uncommitted bytes fails with RESOURCE_EXHAUSTED, retry-safe", async () => {
  await withDir(async (dir) => {
    const t = await openDriver(dir, new Map([[1, ['n1']]]), { segmentBytes: 128 << 20 });
    await leadAll(t);
    const mib = 1024 * 1024;
    const waiters: Pending<Applied<string>>[] = [];
    for (let k = 0; k < 70; k++) waiters.push(write(t, 1, `big-${k}`, mib)); // 70 MiB in one turn
    const outcomes = await Promise.allSettled(waiters.map((w) => w.promise));
    assert.deepEqual(t.fatal, []);
    const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
    assert.ok(refused.length > 0 && refused.length < 70, `refused ${refused.length} of 70`);
    for (const e of refused) {
      assert.ok(e instanceof NodeError, String(e));
      assert.equal(e.code, 'RESOURCE_EXHAUSTED', e.message);
      assert.equal(e.retrySafe, true);
    }
    await t.driver.stop();
    await t.wal.close();
  });
});

test('applied entries let go from memory are read back from the WAL on demand, and a restart replays them', async () => {
  await withDir(async (dir) => {
    const voters = new Map([[1, ['n1']]]);
    const t = await openDriver(dir, voters, { entriesInMemory: 4 });
    await leadAll(t);
    const g = t.groups.get(1)!;
    for (let i = 0; i < 40; i++) await write(t, 1, `w-${i}`, 100).promise;
    const last = g.storage.lastIndex();
    const released = g.storage.releasedThrough();
    assert.ok(released >= last - 8 && released <= last - 4, `released through ${released} of ${last}`);
    assert.equal(g.storage.firstIndex(), 2, 'let go, not compacted');
    assert.throws(
      () => g.storage.entries(index(2), index(last + 1), Number.POSITIVE_INFINITY),
      EntriesTemporarilyUnavailableError,
    );
    await t.driver.readBack(1);
    const back: Entry[] = [];
    for (let at = 2; at <= last; ) {
      const got = g.storage.entries(index(at), index(last + 1), Number.POSITIVE_INFINITY);
      back.push(...got);
      at += got.length;
    }
    const written = back.filter((e) => e.type === 'normal' && e.data.length > 0);
    assert.deepEqual(
      written.map((e) => new TextDecoder().decode(e.data).replace(/\0+$/, '')),
      Array.from({ length: 40 }, (_, i) => `w-${i}`),
      'every write, in order, as appended',
    );
    assert.deepEqual(t.fatal, []);
    await t.driver.stop();
    await t.wal.close();
    const again = await openDriver(dir, voters, { entriesInMemory: 4 });
    await leadAll(again);
    const machine = again.groups.get(1)!.machine;
    await waitUntil(() => machine.applied.length >= 40, 'the log to be re-applied');
    assert.deepEqual(
      machine.applied,
      Array.from({ length: 40 }, (_, i) => `w-${i}`),
    );
    await again.driver.stop();
    await again.wal.close();
  });
});
