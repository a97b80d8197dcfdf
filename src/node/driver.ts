// The Ready loop for every group of the node, in one event-loop turn:
//   0. propose every command queued since the last turn, one batch per group,
//   1. collect the Ready of every group with work (starting one ReadIndex round per group first),
//   2. append all hard states, entries and snapshot markers to the ONE shared WAL (snapshot files
//      received from a leader are written and fsynced before their marker),
//   3. ONE `await wal.sync()` (group commit: one fdatasync covers every group; it runs in libuv's
//      thread pool, off the event loop),
//   4. make the same data visible in each group's MemoryStorage,
//   5. send the messages (persist before send: a vote or an append acknowledgement never leaves
//      before the state it depends on is durable),
//   6. apply committed entries (resolving waiting proposals), install snapshots, serve reads whose
//      index is applied, advance,
//   7. take local snapshots where due and compact the logs.
// Only one turn runs at a time; inputs arriving during the sync (messages, ticks, proposals) are
// stepped into the cores at once and picked up by the next turn.
import type { Logger } from 'pino';
import type { Entry, Message, Ready } from '../raft/types.ts';
import { index } from '../raft/types.ts';
import type { SnapshotStore } from '../storage/snapshots.ts';
import type { Wal } from '../storage/wal.ts';
import type { Group } from './group.ts';
import type { PeerTransport } from './peer-transport.ts';

export interface DriverConfig {
  readonly wal: Wal;
  readonly snapshots: SnapshotStore;
  readonly transport: PeerTransport;
  readonly logger: Logger;
  /** Take a snapshot of a group once this many entries were applied since its last one. */
  readonly snapshotEveryEntries: number;
  /** Entries kept in memory behind a snapshot, so slightly slow followers catch up from the log. */
  readonly retainEntries: number;
  /** The turn failed (the WAL failed or an invariant broke): the node must stop. */
  readonly onFatal: (err: unknown) => void;
  /** After each turn (applied state advanced): the node wakes waiters on leadership and membership. */
  readonly afterTurn: () => void;
}

export class Driver {
  readonly groups = new Map<number, Group>();
  private readonly c: DriverConfig;
  private running = false;
  private scheduled = false;
  private stopped = false;
  /** Resolves when the running turn ends (for a clean shutdown). */
  private idle: Promise<void> = Promise.resolve();

  constructor(c: DriverConfig) {
    this.c = c;
  }

  /** Asks for a turn soon (coalesced: many calls in one event-loop turn give one Ready round). */
  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
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

  /** Stops scheduling turns and waits for the running one. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle;
  }

  private hasWork(): boolean {
    for (const g of this.groups.values())
      if (g.raw.hasReady() || g.hasQueuedReads() || g.hasQueuedProposals()) return true;
    return false;
  }

  private async turn(): Promise<void> {
    const work: [Group, Ready][] = [];
    for (const g of this.groups.values()) {
      g.flushProposals();
      g.startReadRound();
      if (g.raw.hasReady()) work.push([g, g.raw.ready()]);
    }
    if (work.length === 0) return;
    const sentEarly = this.appendAndOverlap(work);
    this.c.transport.flush();
    await this.persist(work);
    for (const [g, rd] of work) {
      if (rd.snapshot !== undefined) g.storage.applySnapshot(rd.snapshot);
      g.storage.append(rd.entries);
      if (rd.hardState !== undefined) g.storage.setHardState(rd.hardState);
    }
    for (const [g, rd] of work) {
      for (const m of rd.messages) if (!sentEarly.has(m)) this.c.transport.send(g.id, m);
    }
    this.c.transport.flush();
    for (const [g, rd] of work) this.apply(g, rd);
    this.c.afterTurn();
    for (const [g] of work) await this.maybeSnapshot(g);
  }

  /**
   * Work that does not depend on this turn's fdatasync, done while it runs (etcd does the same):
   * - a leader's appends and heartbeats go out at once, so followers write in parallel with the
   *   leader. Safe: they carry a commit index computed before this turn, i.e. over entries made
   *   durable by earlier turns; an acknowledgement that arrives during the sync can only advance
   *   the commit index seen by the NEXT turn, which starts after this sync. Nothing is answered
   *   and no commit index leaves this node before the entries it covers are durable here.
   *   Not when the Ready changes the term or vote, or holds a snapshot (those must be durable first).
   * - committed entries already durable here (below this Ready's first new entry) are applied and
   *   their clients answered; configuration changes wait for the usual order (they touch the core).
   * - ReadIndex results are handed to the group (served once the state machine reaches them).
   * Returns the messages already sent.
   */
  private appendAndOverlap(work: readonly [Group, Ready][]): Set<Message> {
    const sent = new Set<Message>();
    for (const [g, rd] of work) {
      if (rd.snapshot !== undefined) continue;
      const leader = (rd.softState?.role ?? g.role) === 'leader';
      const sameTerm = rd.hardState === undefined || rd.hardState.term === g.term;
      if (leader && sameTerm) {
        for (const m of rd.messages) {
          if (m.type !== 'app' && m.type !== 'heartbeat') continue;
          this.c.transport.send(g.id, m);
          sent.add(m);
        }
      }
      const firstNew = rd.entries.length > 0 ? (rd.entries[0] as Entry).index : Number.POSITIVE_INFINITY;
      for (const e of rd.committedEntries) {
        if (e.index >= firstNew || e.type === 'confChange') break;
        if (e.index > g.applied) g.applyEntry(e);
      }
    }
    return sent;
  }

  /** Steps 2–3: everything of this turn into the WAL, then one sync. */
  private async persist(work: readonly [Group, Ready][]): Promise<void> {
    const { wal, snapshots } = this.c;
    let mustSync = false;
    for (const [g, rd] of work) {
      if (rd.snapshot !== undefined) {
        // The file first: the marker tells recovery the log before it is released.
        await snapshots.save(g.id, rd.snapshot);
        wal.appendSnapshotMarker(g.id, rd.snapshot.metadata.index, rd.snapshot.metadata.term, true);
        mustSync = true;
      }
      wal.appendEntries(g.id, rd.entries);
      if (rd.hardState !== undefined) wal.appendHardState(g.id, rd.hardState);
      mustSync ||= rd.mustSync;
    }
    if (mustSync) await wal.sync();
  }

  private apply(g: Group, rd: Ready): void {
    if (rd.softState !== undefined) {
      const prev = g.leader;
      g.leader = rd.softState.leader;
      g.role = rd.softState.role;
      if (prev !== g.leader)
        this.c.logger.info({ group: g.id, leader: g.leader, role: g.role }, 'leader changed');
    }
    if (rd.hardState !== undefined) g.term = rd.hardState.term;
    if (rd.snapshot !== undefined) {
      g.installSnapshot(rd.snapshot);
      this.c.logger.info(
        { group: g.id, index: rd.snapshot.metadata.index },
        'snapshot installed from leader',
      );
    }
    for (const e of rd.committedEntries) if (e.index > g.applied) g.applyEntry(e);
    g.onReadStates(rd.readStates);
    g.raw.advance(rd);
  }

  /** Step 7: a snapshot file at the applied index, its WAL marker, then compaction of the memory log. */
  private async maybeSnapshot(g: Group): Promise<void> {
    if (g.applied - g.snapshotIndex < this.c.snapshotEveryEntries) return;
    const at = g.applied;
    const snap = g.storage.createSnapshot(at, g.confState, g.machine.snapshot());
    await this.c.snapshots.save(g.id, snap);
    this.c.wal.appendSnapshotMarker(g.id, at, snap.metadata.term, false);
    g.snapshotIndex = at;
    const compactTo = at - this.c.retainEntries;
    if (compactTo >= g.storage.firstIndex()) g.storage.compact(index(compactTo));
    this.c.logger.info({ group: g.id, index: at, sizeBytes: snap.data.byteLength }, 'snapshot taken');
  }
}
