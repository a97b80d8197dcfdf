// The Ready loop for every group of the node, in one event-loop turn:
//   0. propose every command queued since the last turn, one batch per group,
//   1. collect the Ready of every group with work (starting one ReadIndex round per group first),
//   2. append all hard states, entries and snapshot markers to the ONE shared WAL (snapshot files
//      received from a leader are written and fsynced before their marker),
//   3. ONE `await wal.sync()` (group commit: one fdatasync covers every group; it runs in libuv's
//      thread pool, off the event loop),
//   4. make the same data visible in each group's MemoryStorage,
//   5. send the messages (persist before send: a vote or an append acknowledgement never leaves
//      before the state it depends on is durable; what depends on no sync went out before step 3:
//      appendAndOverlap),
//   6. apply committed entries (resolving waiting proposals), install snapshots, serve reads whose
//      index is applied, advance; then let go of the bytes of applied entries more than
//      entriesInMemory behind the last index (they stay in the WAL, read back on demand),
//   7. begin local snapshots where due (every snapshotEveryEntries, and of the groups whose entries
//      pin the oldest WAL segment once the WAL holds more than walSegmentsKept): the state is
//      captured now and serialised, written and fsynced beside the turns (the event loop served
//      between slices); a later turn appends their markers, syncs, releases the older files and
//      compacts the logs.
// Only one turn runs at a time; inputs arriving during the sync (messages, ticks, proposals) are
// stepped into the cores at once and picked up by the next turn.
//
// Durability, enforced here (assertDurable): no commit index leaves this node, and no entry is
// applied here, beyond what this node's storage holds; storage only ever holds what a WAL sync
// made durable (step 4). A commit index alone needs no sync (a restart that forgets it learns it
// again from the leader), except where the turn applies a configuration change
// (appliesConfChange): a configuration applied here is never forgotten by a restart. The core
// counts a leader's own entries towards the quorum only once advance() reports them durable, so a
// commit index never covers an entry that is not durable on a quorum, even in a group of one voter
// and learners.
import type { Logger } from 'pino';
import type { Entry, HardState, Index, Message, Ready, SnapshotMetadata, Term } from '../raft/types.ts';
import { index, NO_NODE } from '../raft/types.ts';
import { bytesSource, type SnapshotSource } from '../storage/snapshot-source.ts';
import type { SnapshotStore } from '../storage/snapshots.ts';
import type { Wal } from '../storage/wal.ts';
import { WalBackpressureError } from '../storage/wal-errors.ts';
import { assert } from './assert.ts';
import type { Clock } from './clock.ts';
import { EntryReloader } from './entry-reload.ts';
import type { Group } from './group.ts';
import { NO_METRICS, type NodeMetrics } from './metrics.ts';
import type { NodePlantedBug } from './options.ts';
import type { PeerTransport } from './peer-transport.ts';
import { SnapshotReloader } from './snapshot-reload.ts';

/** A group whose snapshot failed for want of space is tried again this many applied entries later. */
const SNAPSHOT_RETRY_AFTER_ENTRIES = 100;

export interface DriverConfig {
  readonly wal: Wal;
  readonly snapshots: SnapshotStore;
  readonly transport: PeerTransport;
  readonly logger: Logger;
  /** Where turns are scheduled (after the calls under way, as setImmediate), and snapshot bytes let go. */
  readonly clock: Pick<Clock, 'defer' | 'after' | 'cancel'>;
  /** Take a snapshot of a group once this many entries were applied since its last one. */
  readonly snapshotEveryEntries: number;
  /** Entries kept in memory behind a snapshot, so slightly slow followers catch up from the log. */
  readonly retainEntries: number;
  /**
   * Applied entries whose bytes stay in memory behind each group's last index; older ones are let go
   * (they stay in the WAL until a snapshot covers them) and read back for a follower that needs them.
   */
  readonly entriesInMemory: number;
  /**
   * WAL segments kept before the groups pinning the oldest one are snapshotted (so that it can be
   * released): a cold group never reaches snapshotEveryEntries, and would otherwise pin every
   * segment for ever. The WAL then holds about walSegmentsKept + 1 segments.
   */
  readonly walSegmentsKept: number;
  /** The disk is short of space (the NOSPACE alarm): release every segment that can go, kept or not. */
  readonly lowOnDisk?: () => boolean;
  /** Whether the disk has room to write `bytes` more (a snapshot) and still grow the WAL. */
  readonly roomFor?: (bytes: number) => Promise<boolean>;
  /** The turn failed (the WAL failed or an invariant broke): the node must stop. */
  readonly onFatal: (err: unknown) => void;
  /** After each turn (applied state advanced): the node wakes waiters on leadership and membership. */
  readonly afterTurn: () => void;
  /** UNSAFE, the simulator's only (NodeOptions.plantedBugs). */
  readonly plantedBugs?: ReadonlySet<NodePlantedBug>;
  /** Where WAL syncs, snapshot saves, applies and leader changes are reported (default: nowhere). */
  readonly metrics?: NodeMetrics;
}

/** A group with work in this turn, and its Ready. */
interface GroupReady {
  readonly g: Group;
  readonly rd: Ready;
}

/**
 * One WAL append of a group's record. The appends are these module-level functions, handed their
 * arguments, so that appendWithRoom's common path makes no closure per group and turn.
 */
type WalAppend<T> = (wal: Wal, group: number, what: T) => void;
const appendEntries: WalAppend<readonly Entry[]> = (wal, group, entries) => wal.appendEntries(group, entries);
const appendHardState: WalAppend<HardState> = (wal, group, hs) => wal.appendHardState(group, hs);
interface Marker {
  readonly at: Index;
  readonly term: Term;
  /** The snapshot was installed from a leader and replaces the whole log (Wal.appendSnapshotMarker). */
  readonly discardLog: boolean;
}
const appendMarker: WalAppend<Marker> = (wal, group, m) =>
  wal.appendSnapshotMarker(group, m.at, m.term, m.discardLog);

/** A local snapshot whose file is written and synced; its WAL marker is the next turn's to write. */
interface SavedSnapshot {
  readonly g: Group;
  readonly at: Index;
  readonly term: Term;
  readonly sizeBytes: number;
}

export class Driver {
  /** Every group the node hosts, by id (registered by the node; removed by `unregister`). */
  private readonly groups = new Map<number, Group>();
  private readonly c: DriverConfig;
  private readonly metrics: NodeMetrics;
  private running = false;
  /** Groups already warned about for pinning a WAL segment with unapplied entries (warned once). */
  private readonly warnedPins = new Set<number>();
  /** After a snapshot failed for want of space: the applied index at which to try that group again. */
  private readonly snapshotRetryAt = new Map<number, number>();
  private scheduled = false;
  private stopped = false;
  /** Resolves when the running turn ends (for a clean shutdown). */
  private idle: Promise<void> = Promise.resolve();
  /** Local snapshots being built and saved in the background, by group (at most one each). */
  private readonly snapshotting = new Map<number, Promise<void>>();
  /** Local snapshots whose files are durable, their markers not yet in the WAL (the next turn's). */
  private saved: SavedSnapshot[] = [];
  /** Keeps each group's latest snapshot in its file, not in memory, and reads it back on demand. */
  private readonly reloader: SnapshotReloader;
  /** Reads applied entries back from the WAL for a follower (or a watch) that needs them. */
  private readonly entryReloader: EntryReloader;

  constructor(c: DriverConfig) {
    this.c = c;
    this.metrics = c.metrics ?? NO_METRICS;
    this.reloader = new SnapshotReloader({
      load: async (group, at) => (await c.snapshots.load(group, at)).data,
      filed: (group, at) => c.snapshots.has(group, at),
      clock: c.clock,
      onLoadFailed: (group, at, err) =>
        c.logger.warn({ group, index: at, err }, 'snapshot not read back (it is asked for again later)'),
    });
    this.entryReloader = new EntryReloader({
      read: (group, lo, hi, maxBytes) => c.wal.readEntries(group, lo, hi, maxBytes),
      clock: c.clock,
      onReadFailed: (group, lo, err) =>
        c.logger.warn(
          { group, index: lo, err },
          'entries not read back from the WAL (asked for again later)',
        ),
    });
  }

  /**
   * Asks for a turn soon (coalesced: many calls in one event-loop turn give one Ready round). While a
   * turn runs nothing is deferred: when it ends it schedules the next if any group has work.
   */
  schedule(): void {
    if (this.scheduled || this.stopped || this.running) return;
    this.scheduled = true;
    this.c.clock.defer(() => {
      this.scheduled = false;
      if (this.running || this.stopped) return;
      this.running = true;
      this.idle = this.turn()
        .catch((e: unknown) => {
          this.stopped = true;
          this.c.onFatal(e);
        })
        .finally(() => {
          this.running = false;
          if (this.hasWork()) this.schedule();
        });
    });
  }

  /** Adds a group to the turns (from the next one on). A group is registered once. */
  register(g: Group): void {
    assert(!this.groups.has(g.id), `group ${g.id} is registered twice`);
    this.groups.set(g.id, g);
    this.reloader.attach(g.id, g.storage);
    this.entryReloader.attach(g.id, g.storage);
  }

  /**
   * Resolves once the group's snapshot and entries, if asked for while their bytes were on disk, are
   * read back.
   */
  async readBack(id: number): Promise<void> {
    await this.reloader.settled(id);
    await this.entryReloader.settled(id);
  }

  /**
   * Takes a group out of the turns (its replica left this node) and resolves once the running turn,
   * which may still persist or apply for it, has ended: from then on the driver never touches it.
   */
  async unregister(id: number): Promise<void> {
    this.groups.delete(id);
    this.reloader.detach(id);
    this.entryReloader.detach(id);
    this.snapshotRetryAt.delete(id);
    this.warnedPins.delete(id);
    await this.idle;
    await this.snapshotting.get(id);
  }

  /** Stops scheduling turns and waits for the running one and the snapshots under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle;
    await Promise.all(this.snapshotting.values());
    for (const id of this.groups.keys()) {
      this.reloader.detach(id); // their timers with them
      this.entryReloader.detach(id);
    }
  }

  private hasWork(): boolean {
    if (this.saved.length > 0) return true;
    for (const g of this.groups.values())
      if (g.hasReady() || g.hasQueuedReads() || g.hasQueuedProposals()) return true;
    return false;
  }

  // A turn runs several times per request at low load, so what it allocates whatever its size is
  // paid per request: its loops over the work index the array (no iterator objects in any tier of
  // the compiler) and the common path creates no closure, and no promise but those of persisting.
  private async turn(): Promise<void> {
    const work: GroupReady[] = [];
    for (const g of this.groups.values()) {
      g.flushProposals();
      g.startReadRound();
      if (g.hasReady()) work.push({ g, rd: g.ready() });
    }
    if (work.length === 0) {
      if (this.saved.length > 0) await this.finishSnapshots();
      return;
    }
    const sentEarly = this.appendAndOverlap(work);
    this.c.transport.flush();
    await this.persist(work);
    for (let i = 0; i < work.length; i++) {
      const { g, rd } = work[i] as GroupReady;
      if (rd.snapshot !== undefined) {
        g.storage.applySnapshot(rd.snapshot);
        this.reloader.release(g.id); // its file was written by persist (the Ready keeps the bytes to apply)
      }
      g.storage.append(rd.entries);
      if (rd.hardState !== undefined) g.storage.setHardState(rd.hardState);
    }
    for (let i = 0; i < work.length; i++) {
      const { g, rd } = work[i] as GroupReady;
      for (let j = 0; j < rd.messages.length; j++) {
        const m = rd.messages[j] as Message;
        if (!sentEarly.has(m)) this.send(g, m);
      }
    }
    this.c.transport.flush();
    for (let i = 0; i < work.length; i++) {
      const { g, rd } = work[i] as GroupReady;
      this.apply(g, rd);
    }
    for (let i = 0; i < work.length; i++) this.releaseEntries((work[i] as GroupReady).g);
    this.c.afterTurn();
    for (let i = 0; i < work.length; i++) {
      const { g } = work[i] as GroupReady;
      if (g.applied - g.snapshotIndex >= this.c.snapshotEveryEntries) this.startSnapshot(g);
    }
    this.releaseOldestSegment();
    if (this.saved.length > 0) await this.finishSnapshots();
  }

  /**
   * Lets go of the bytes of the group's applied entries more than entriesInMemory behind its last
   * index, a batch at a time (each release copies the part of the log held whole). Only applied
   * entries: the core reads unapplied ones to apply them, and they may not be durable on a quorum.
   */
  private releaseEntries(g: Group): void {
    const keep = this.c.entriesInMemory;
    const upTo = Math.min(g.applied, g.storage.lastIndex() - keep);
    if (upTo - g.storage.releasedThrough() >= Math.max(1, keep >> 2)) g.storage.releaseEntryData(index(upTo));
  }

  /** One WAL sync, timed for the metrics. */
  private async syncWal(): Promise<void> {
    const startedAt = this.metrics.startedAt();
    await this.c.wal.sync();
    this.metrics.walSynced(startedAt);
  }

  /** One snapshot file written and synced, timed for the metrics. */
  private async saveSnapshot(group: number, meta: SnapshotMetadata, source: SnapshotSource): Promise<void> {
    const startedAt = this.metrics.startedAt();
    // Between slices the event loop serves other work (turns included, as a deferred turn would).
    const pause = (): Promise<void> => new Promise<void>((resolve) => this.c.clock.defer(resolve));
    await this.c.snapshots.saveFrom(group, meta, source, pause);
    this.metrics.snapshotSaved(startedAt);
  }

  /** Hands a message to the transport; commit indexes never run ahead of this node's durable log. */
  private send(g: Group, m: Message): void {
    if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'voteResp' || m.type === 'preVoteResp')
      assertDurable(g, m.commit, m.type, m.to);
    this.c.transport.send(g.id, m);
  }

  /** Applies one committed entry; only what is durable here is ever applied. */
  private applyEntry(g: Group, e: Entry): void {
    assertDurable(g, e.index, 'applying');
    g.applyEntry(e);
  }

  /**
   * Work that does not depend on this turn's fdatasync, done while it runs (etcd does the same):
   * - a leader's appends and heartbeats go out at once, so followers write in parallel with the
   *   leader. Safe: they carry a commit index computed before this turn, i.e. over entries made
   *   durable by earlier turns; an acknowledgement that arrives during the sync can only advance
   *   the commit index seen by the NEXT turn, which starts after this sync. Nothing is answered
   *   and no commit index leaves this node before the entries it covers are durable here.
   *   Not when the Ready changes the term or vote, or holds a snapshot (those must be durable first).
   * - proposals and ReadIndex requests a follower forwards to its leader go out at once too: they
   *   are term-less and vouch for nothing in this node's log or state, so the leader may append them
   *   (or start the read's round) while this node is still syncing what the leader sent it.
   * - committed entries already durable here (below this Ready's first new entry) are applied and
   *   their clients answered; configuration changes wait for the usual order (they touch the core).
   * - ReadIndex results are handed to the group (served once the state machine reaches them).
   * Returns the messages already sent.
   */
  private appendAndOverlap(work: readonly GroupReady[]): Set<Message> {
    const sent = new Set<Message>();
    for (let i = 0; i < work.length; i++) {
      const { g, rd } = work[i] as GroupReady;
      if (rd.snapshot !== undefined) continue;
      const leader = (rd.softState?.role ?? g.role) === 'leader';
      const sameTerm = rd.hardState === undefined || rd.hardState.term === g.term;
      const replicateEarly = leader && sameTerm;
      for (let j = 0; j < rd.messages.length; j++) {
        const m = rd.messages[j] as Message;
        const forward = m.type === 'prop' || m.type === 'readIndex';
        if (!forward && !(replicateEarly && (m.type === 'app' || m.type === 'heartbeat'))) continue;
        assertSendableEarly(g, m);
        this.send(g, m);
        sent.add(m);
      }
      if (this.c.plantedBugs?.has('ackBeforeSync') === true) {
        // PLANTED BUG (the simulator's teeth): acknowledgements and votes leave before the sync too.
        for (const m of rd.messages) {
          if (sent.has(m)) continue;
          this.c.transport.send(g.id, m);
          sent.add(m);
        }
      }
      const firstNew = rd.entries.length > 0 ? (rd.entries[0] as Entry).index : Number.POSITIVE_INFINITY;
      // PLANTED BUG (the simulator's teeth): entries this turn is still making durable are applied too.
      const applyUndurable = this.c.plantedBugs?.has('applyBeforeDurable') === true;
      let startedAt: number | undefined;
      for (const e of rd.committedEntries) {
        if (e.type === 'confChange' || (e.index >= firstNew && !applyUndurable)) break;
        if (e.index <= g.applied) continue;
        startedAt ??= this.metrics.startedAt();
        if (e.index >= firstNew) g.applyEntry(e);
        else this.applyEntry(g, e);
      }
      if (startedAt !== undefined) this.metrics.applied(startedAt);
    }
    return sent;
  }

  /**
   * Steps 2–3: everything of this turn into the WAL, then one sync. When a turn's records outgrow the
   * WAL's bound on unsynced bytes (large values across many groups), what is appended so far is
   * synced first and appending goes on: nothing is sent or answered before the final sync, so an
   * extra sync only costs time, never safety.
   */
  private async persist(work: readonly GroupReady[]): Promise<void> {
    const { snapshots } = this.c;
    let mustSync = false;
    const released: [Group, number][] = [];
    for (let i = 0; i < work.length; i++) {
      const { g, rd } = work[i] as GroupReady;
      if (rd.snapshot !== undefined) {
        // One snapshot file of a group at a time: this one is newer than any being saved here.
        await this.snapshotting.get(g.id);
        // The file first: the marker tells recovery the log before it is released.
        await this.saveSnapshot(g.id, rd.snapshot.metadata, bytesSource(rd.snapshot.data));
        const { index: at, term } = rd.snapshot.metadata;
        await this.appendWithRoom(appendMarker, g.id, { at, term, discardLog: true });
        released.push([g, at]);
        mustSync = true;
      }
      // The common case appends at once: no closure, no promise, no microtask per group.
      const entriesWait = this.appendWithRoom(appendEntries, g.id, rd.entries);
      if (entriesWait !== undefined) await entriesWait;
      if (rd.hardState !== undefined) {
        const hardStateWait = this.appendWithRoom(appendHardState, g.id, rd.hardState);
        if (hardStateWait !== undefined) await hardStateWait;
      }
      mustSync ||= rd.mustSync || appliesConfChange(rd);
    }
    if (mustSync) await this.syncWal();
    // Only now that their markers are durable may the snapshots they replace go.
    for (const [g, at] of released) await snapshots.release(g.id, at);
  }

  /**
   * Runs one WAL append. At the WAL's bound on unsynced bytes (the append was refused whole), returns
   * a promise that syncs and runs it again, which then fits: an append into an empty round is always
   * admitted. Otherwise returns undefined (done).
   */
  private appendWithRoom<T>(append: WalAppend<T>, group: number, what: T): Promise<void> | undefined {
    const { wal } = this.c;
    try {
      append(wal, group, what);
      return undefined;
    } catch (e) {
      if (!(e instanceof WalBackpressureError)) throw e;
      this.c.logger.debug(
        { pendingBytes: e.pendingBytes },
        'WAL bound on unsynced bytes reached: syncing early',
      );
      return this.syncWal().then(() => append(wal, group, what));
    }
  }

  private apply(g: Group, rd: Ready): void {
    if (rd.softState !== undefined) {
      const prev = g.leader;
      g.leader = rd.softState.leader;
      g.role = rd.softState.role;
      if (prev !== g.leader) {
        this.c.logger.info({ group: g.id, leader: g.leader, role: g.role }, 'leader changed');
        if (g.leader !== NO_NODE) this.metrics.leaderChanged(g.id);
      }
    }
    if (rd.hardState !== undefined) g.term = rd.hardState.term;
    if (rd.snapshot !== undefined) {
      g.installSnapshot(rd.snapshot);
      this.c.logger.info(
        { group: g.id, index: rd.snapshot.metadata.index },
        'snapshot installed from leader',
      );
    }
    let startedAt: number | undefined;
    for (const e of rd.committedEntries) {
      if (e.index <= g.applied) continue; // applied while the sync ran (appendAndOverlap)
      startedAt ??= this.metrics.startedAt();
      this.applyEntry(g, e);
    }
    if (startedAt !== undefined) this.metrics.applied(startedAt);
    g.onReadStates(rd.readStates);
    g.advance(rd);
  }

  /**
   * Step 7, begun: the state machine's state at the applied index is captured now, then serialised
   * a slice at a time straight into a snapshot file (the event loop served between slices) and synced,
   * in the background while turns go on; finishSnapshots, in a later turn, does the rest. Only then
   * does the log storage take the new snapshot, its bytes left in the file (read back from it when a
   * follower needs them: snapshot-reload.ts): the file only matters to this node's recovery, which
   * uses the older snapshot and the log until the marker names the new one. At most one per group
   * at a time.
   */
  private startSnapshot(g: Group): void {
    if (this.stopped || this.snapshotting.has(g.id)) return;
    const at = g.applied;
    if (at <= g.snapshotIndex) return;
    const retryAt = this.snapshotRetryAt.get(g.id);
    if (retryAt !== undefined && at < retryAt) return;
    const meta: SnapshotMetadata = { index: at, term: g.storage.term(at), confState: g.confState };
    const source = g.machine.snapshotSource?.() ?? bytesSource(g.machine.snapshot());
    const task = this.saveSnapshotLater(g, meta, source)
      .finally(() => source.close()) // the state stops keeping values for the capture
      .catch((e: unknown) => {
        this.stopped = true;
        this.c.onFatal(e);
      })
      .finally(() => {
        // A saved snapshot stays in flight until its turn finishes it: the snapshot store is never
        // saving a group's file while releasing its older ones.
        if (this.saved.some((x) => x.g === g)) this.schedule();
        else this.snapshotting.delete(g.id);
      });
    this.snapshotting.set(g.id, task);
  }

  /** The background part of a local snapshot: the synced file, then the log storage's snapshot. */
  private async saveSnapshotLater(g: Group, meta: SnapshotMetadata, source: SnapshotSource): Promise<void> {
    const at = meta.index;
    // Gone (the replica left this node, or the node stops), or overtaken by a leader's snapshot.
    const current = (): boolean =>
      !this.stopped &&
      this.groups.get(g.id) === g &&
      at > g.snapshotIndex &&
      at > g.storage.snapshotMetadata().index;
    // A local snapshot is optional (the log still holds everything): a full disk only delays it.
    const noSpace = (err: string): void => {
      this.c.logger.warn({ group: g.id, index: at, err }, 'snapshot not taken: no space');
      this.snapshotRetryAt.set(g.id, at + SNAPSHOT_RETRY_AFTER_ENTRIES);
    };
    const bytes = source.totalBytes;
    if (this.c.roomFor !== undefined && !(await this.c.roomFor(bytes))) {
      noSpace(`${bytes} bytes would leave the WAL no room for its next segment`);
      return;
    }
    if (!current()) return;
    try {
      await this.saveSnapshot(g.id, meta, source);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
      noSpace((e as Error).message);
      return;
    }
    this.snapshotRetryAt.delete(g.id);
    // Overtaken while it was written: the file goes when the newer snapshot's marker is durable.
    if (!current()) return;
    g.storage.createSnapshot(at, meta.confState); // its bytes are in the file only
    this.saved.push({ g, at, term: meta.term, sizeBytes: bytes });
  }

  /**
   * Step 7, ended (in a turn, the WAL's one writer): the markers of the snapshots saved since the
   * last turn, one sync (so that each marker names its new file durably before the older file goes),
   * then each group's older files released and its memory log compacted. A snapshot overtaken
   * meanwhile (a newer one installed from the leader) or of a group gone gets no marker.
   */
  private async finishSnapshots(): Promise<void> {
    if (this.saved.length === 0) return;
    const { snapshots } = this.c;
    const done = this.saved;
    this.saved = [];
    const marked: SavedSnapshot[] = [];
    for (const s of done) {
      if (this.groups.get(s.g.id) !== s.g || s.at <= s.g.snapshotIndex) {
        this.snapshotting.delete(s.g.id);
        continue;
      }
      await this.appendWithRoom(appendMarker, s.g.id, { at: s.at, term: s.term, discardLog: false });
      marked.push(s);
    }
    if (marked.length === 0) return;
    await this.syncWal();
    for (const { g, at, sizeBytes } of marked) {
      await snapshots.release(g.id, at);
      this.snapshotting.delete(g.id);
      g.snapshotIndex = at;
      const compactTo = at - this.c.retainEntries;
      if (compactTo >= g.storage.firstIndex()) g.storage.compact(index(compactTo));
      this.c.logger.info({ group: g.id, index: at, sizeBytes }, 'snapshot taken');
    }
    // What became due while these were under way (no turn may come for a while to begin them).
    for (const { g } of marked) {
      if (g.applied - g.snapshotIndex >= this.c.snapshotEveryEntries) this.startSnapshot(g);
    }
    this.releaseOldestSegment();
  }

  /**
   * Once the WAL holds more than walSegmentsKept segments, snapshots the groups whose entries keep the
   * oldest one alive, so that the next sync releases it. A group can only snapshot what it applied:
   * one pinning with entries it has not applied (no quorum for a long time) is logged, and waits.
   */
  private releaseOldestSegment(): void {
    const { wal } = this.c;
    const segments = wal.segmentCount();
    if (segments <= this.c.walSegmentsKept && !(segments > 1 && this.c.lowOnDisk?.() === true)) return;
    for (const pin of wal.pinningGroups()) {
      const g = this.groups.get(pin.group);
      if (g !== undefined && g.applied >= pin.index) {
        this.startSnapshot(g);
      } else if (!this.warnedPins.has(pin.group)) {
        this.warnedPins.add(pin.group);
        this.c.logger.warn(
          { group: pin.group, index: pin.index, applied: g?.applied, segments: wal.segmentCount() },
          'a group with unapplied entries pins the oldest WAL segment; it is released once they are applied',
        );
      }
    }
  }
}

/**
 * The rule of the early send (appendAndOverlap): only a leader's appends and heartbeats of the term
 * already durable here, and a follower's term-less forwards (proposals, ReadIndex requests), leave
 * before this turn's sync. `g.term` is the term of the last hard state
 * the driver persisted (or the one recovered): a message of a newer term would announce a term (and
 * a leadership) this node could forget in a crash. (The role is not checked against `g.role`: a
 * candidate that wins in its own, durable term sends its first appends in the Ready that makes it
 * leader.)
 */
function assertSendableEarly(g: Group, m: Message): void {
  if ((m.type === 'app' || m.type === 'heartbeat') && m.term === g.term) return;
  if ((m.type === 'prop' || m.type === 'readIndex') && m.term === 0) return;
  assert(
    false,
    `group ${g.id}: ${m.type} to ${m.to} in term ${m.term} sent before the sync (durable term ${g.term})`,
  );
}

/**
 * The durability rule of the header: `i` (a commit index about to leave, or an entry about to be
 * applied) is within what this node's storage holds, i.e. what a WAL sync made durable here. Per
 * message and per entry: the passing case allocates nothing.
 */
function assertDurable(g: Group, i: number, what: string, to?: string): void {
  const durable = g.storage.lastIndex();
  if (i <= durable) return;
  const whatText = to === undefined ? what : `${what} to ${to}`;
  assert(false, `group ${g.id}: ${whatText} at index ${i} beyond the durable log (last ${durable})`);
}

/**
 * Whether the Ready applies a configuration change: then its commit index is synced first, even
 * when nothing else of the turn needs it. A voter campaigns under the configuration it applied, and
 * the shard's moves delete a source's data once every voter reports applying the configuration
 * without it (src/ring/move.ts); a voter that applied it, crashed before the commit index was
 * durable and came back under the configuration before would need that deleted replica's vote.
 * Configuration changes are rare: the extra sync costs nothing measurable.
 */
function appliesConfChange(rd: Ready): boolean {
  for (const e of rd.committedEntries) if (e.type === 'confChange') return true;
  return false;
}
