// The node: one process's multi-Raft host. It owns the shared WAL, the snapshot store, the groups
// (metadata group 0 and data shards 1..S), the driver that runs their Ready loop, the tick timer,
// and the node identity. Requests (requests.ts), membership (membership.ts), leadership spread
// (balancer.ts) and status (status.ts) are written against it.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MemoryStorage } from '../raft/index.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { index } from '../raft/types.ts';
import { SnapshotStore } from '../storage/snapshots.ts';
import type { RecoveredGroup } from '../storage/wal.ts';
import { Wal } from '../storage/wal.ts';
import { Balancer } from './balancer.ts';
import { Driver } from './driver.ts';
import { StartupError, UnavailableError, UsageError } from './errors.ts';
import { Group } from './group.ts';
import type { NodeIdentity } from './identity.ts';
import { readIdentity, writeIdentity } from './identity.ts';
import { KvMachine } from './kv-machine.ts';
import { joinCluster } from './membership.ts';
import type { MemberInfo } from './metadata.ts';
import { MetadataState } from './metadata.ts';
import type { NodeOptions, ResolvedNodeOptions } from './options.ts';
import { resolveOptions } from './options.ts';
import { PendingBudget } from './pending.ts';
import { recoverGroup, writeBootstrap } from './recovery.ts';
import { RequestIds } from './state-machine.ts';

/** Highest group id a message may create a group for (a joiner creates its groups on first contact). */
const GROUP_ID_MAX = 1024;
/** A ReadIndex round unanswered for this many ticks is started again. */
const READ_RETRY_TICKS = 5;

export class KvNode {
  readonly opts: ResolvedNodeOptions;
  readonly id: NodeId;
  readonly logger: Logger;
  readonly metadata = new MetadataState();
  readonly budget: PendingBudget;
  readonly requestIds = new RequestIds();
  identity!: NodeIdentity;
  driver!: Driver;
  private wal!: Wal;
  private snapshots!: SnapshotStore;
  private tickTimer: NodeJS.Timeout | undefined;
  private readonly balancer: Balancer;
  private closing = false;
  private closed: Promise<void> | undefined;
  private fatalHandler: (err: unknown) => void = () => {};
  /** Callbacks run after every driver turn (waiters on leadership or membership). */
  private readonly turnListeners = new Set<() => void>();

  constructor(options: NodeOptions) {
    this.opts = resolveOptions(options);
    this.id = this.opts.nodeId as NodeId;
    this.logger = this.opts.logger;
    this.budget = new PendingBudget(this.opts.pendingMax);
    this.balancer = new Balancer(this);
    this.metadata.onChange = () => this.onMembersChanged();
  }

  get shardCount(): number {
    return this.metadata.shardCount > 0 ? this.metadata.shardCount : this.identity.shardCount;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Called when the node cannot go on (WAL failure, broken invariant); the CLI exits 1. */
  onFatal(handler: (err: unknown) => void): void {
    this.fatalHandler = handler;
  }

  // ---- start -------------------------------------------------------------------------------------

  /**
   * Recovers (or bootstraps) the node's state and starts ticking. Throws UsageError when the command
   * line does not fit the data directory, StartupError / WalCorruptionError when the data is unusable.
   * A joining node is not yet a member when this returns: call `completeJoin()`.
   */
  async start(): Promise<void> {
    const o = this.opts;
    const identity = await readIdentity(o.raftDir);
    if (identity !== undefined && identity.nodeId !== o.nodeId) {
      throw new StartupError(
        `${o.raftDir} belongs to node '${identity.nodeId}', not '${o.nodeId}': use the node id it was created with, or another --raft_dir`,
      );
    }
    if (identity === undefined) {
      if (o.bootstrap && o.joinAddr !== undefined) {
        throw new UsageError(
          'give either --bootstrap=true (first node of a new cluster) or --join_addr (join an existing one), not both',
        );
      }
      if (!o.bootstrap && o.joinAddr === undefined) {
        throw new UsageError(
          `${o.raftDir} holds no node yet: give --bootstrap=true to start a new cluster or --join_addr=host:port to join one`,
        );
      }
    }
    const opened = await Wal.open({ dir: join(o.raftDir, 'wal'), segmentBytes: o.walSegmentBytes });
    this.wal = opened.wal;
    this.snapshots = await SnapshotStore.open(join(o.raftDir, 'snap'));
    let recovered = opened.recovered;
    this.identity = identity ?? (await this.firstIdentity());
    if (this.identity.state === 'bootstrapping') recovered = await this.bootstrap(recovered);
    this.driver = this.makeDriver();
    await this.createGroups(recovered);
    this.opts.transport.onMessage((groupId, msg) => this.onPeerMessage(groupId, msg));
    this.opts.transport.onUnreachable((peer) => {
      for (const g of this.driver.groups.values()) g.raw.reportUnreachable(peer);
    });
    this.onMembersChanged();
    await this.opts.transport.start();
    this.tickTimer = setInterval(() => this.tick(), o.tickMs);
    this.balancer.start();
    this.logRecovery(recovered);
    this.driver.schedule();
  }

  private async firstIdentity(): Promise<NodeIdentity> {
    const o = this.opts;
    const identity: NodeIdentity = o.bootstrap
      ? {
          version: 1,
          nodeId: o.nodeId,
          clusterId: randomClusterId(),
          shardCount: o.shardCount,
          state: 'bootstrapping',
        }
      : { version: 1, nodeId: o.nodeId, clusterId: '', shardCount: 0, state: 'joining' };
    await writeIdentity(o.raftDir, identity);
    return identity;
  }

  /**
   * Writes the first log entries of every group, all or nothing: the identity's 'bootstrapped' state,
   * written only after the WAL sync, is the completion record. A crash before it may have left any
   * prefix of the bootstrap records (a torn write), so they are all written again: the same entries
   * at the same indexes, with the same hard states (nothing else was ever written before it).
   */
  private async bootstrap(recovered: Map<number, RecoveredGroup>): Promise<Map<number, RecoveredGroup>> {
    const self: MemberInfo = {
      nodeId: this.opts.nodeId,
      clientAddr: this.opts.clientAddr,
      raftAddr: this.opts.raftAddr,
    };
    const out = await writeBootstrap(this.wal, {
      clusterId: this.identity.clusterId,
      shardCount: this.identity.shardCount,
      leaderPlacement: this.opts.leaderPlacement,
      self,
    });
    this.logger.info(
      {
        clusterId: this.identity.clusterId,
        shards: this.identity.shardCount,
        leaderPlacement: this.opts.leaderPlacement,
        rewritten: recovered.size > 0,
      },
      recovered.size > 0
        ? 'bootstrap completed after an interrupted first start'
        : 'bootstrapped a new cluster',
    );
    this.identity = { ...this.identity, state: 'bootstrapped' };
    await writeIdentity(this.opts.raftDir, this.identity);
    return out;
  }

  private makeDriver(): Driver {
    return new Driver({
      wal: this.wal,
      snapshots: this.snapshots,
      transport: this.opts.transport,
      logger: this.logger,
      snapshotEveryEntries: this.opts.snapshotEveryEntries,
      retainEntries: this.opts.retainEntries,
      walSegmentsKept: this.opts.walSegmentsKept,
      onFatal: (e) => this.fatal(e),
      afterTurn: () => {
        for (const l of this.turnListeners) l();
      },
    });
  }

  private async createGroups(recovered: Map<number, RecoveredGroup>): Promise<void> {
    const ids = new Set<number>(recovered.keys());
    for (let g = 0; g <= this.identity.shardCount; g++) ids.add(g);
    for (const g of [...ids].sort((a, b) => a - b)) await this.addGroup(g, recovered.get(g));
  }

  private async addGroup(groupId: number, rec: RecoveredGroup | undefined): Promise<Group> {
    const machine = groupId === 0 ? this.metadata : new KvMachine();
    const { storage, applied } = await recoverGroup(groupId, rec, this.snapshots, machine);
    return this.registerGroup(groupId, storage, applied, machine);
  }

  private registerGroup(
    groupId: number,
    storage: MemoryStorage,
    applied: number,
    machine: MetadataState | KvMachine,
  ): Group {
    const g = new Group({
      groupId,
      nodeId: this.id,
      electionTick: this.opts.electionTick,
      heartbeatTick: this.opts.heartbeatTick,
      machine,
      storage,
      applied: index(applied),
    });
    this.driver.groups.set(groupId, g);
    return g;
  }

  private logRecovery(recovered: Map<number, RecoveredGroup>): void {
    let entries = 0;
    for (const r of recovered.values()) entries += r.entries.length;
    this.logger.info(
      {
        nodeId: this.opts.nodeId,
        clusterId: this.identity.clusterId,
        state: this.identity.state,
        groups: this.driver.groups.size,
        walEntries: entries,
        members: this.metadata.members().length,
      },
      'recovered',
    );
  }

  /** For a node started with --join_addr: asks the cluster to add it, until it is a voter everywhere. */
  async completeJoin(): Promise<void> {
    if (this.identity.state !== 'joining') return;
    const joinAddr = this.opts.joinAddr;
    if (joinAddr === undefined)
      throw new UsageError(`${this.opts.raftDir} was joining a cluster: give --join_addr again`);
    const reply = await joinCluster(this, joinAddr);
    if (this.identity.clusterId !== '' && reply.clusterId !== this.identity.clusterId) {
      throw new StartupError(
        `${joinAddr} belongs to cluster ${reply.clusterId}, this node's data to ${this.identity.clusterId}`,
      );
    }
    await this.waitFor(
      () => this.metadata.shardCount > 0,
      Date.now() + 30_000,
      'the cluster metadata to replicate',
    );
    this.identity = {
      ...this.identity,
      clusterId: reply.clusterId,
      shardCount: this.metadata.shardCount,
      state: 'joined',
    };
    await writeIdentity(this.opts.raftDir, this.identity);
    for (let g = 0; g <= this.metadata.shardCount; g++) if (!this.driver.groups.has(g)) this.ensureGroup(g);
    this.logger.info({ clusterId: reply.clusterId, members: reply.members.length }, 'joined the cluster');
  }

  // ---- inputs --------------------------------------------------------------------------------------

  private tick(): void {
    for (const g of this.driver.groups.values()) {
      g.raw.tick();
      g.dropSettled();
      g.retryStaleReads(READ_RETRY_TICKS);
    }
    this.driver.schedule();
  }

  private onPeerMessage(groupId: number, msg: Message): void {
    if (this.closing) return;
    const g = this.driver.groups.get(groupId) ?? this.ensureGroup(groupId);
    if (g === undefined) return;
    if (msg.to !== this.id) {
      this.logger.warn(
        { group: groupId, to: msg.to, from: msg.from },
        'dropped a message addressed to another node',
      );
      return;
    }
    g.raw.step(msg);
    this.driver.schedule();
  }

  /** A group this node has not seen yet (it joined, and the leader reached out): start it empty. */
  private ensureGroup(groupId: number): Group | undefined {
    if (!Number.isInteger(groupId) || groupId < 0 || groupId > GROUP_ID_MAX) return undefined;
    const machine = groupId === 0 ? this.metadata : new KvMachine();
    return this.registerGroup(groupId, new MemoryStorage(), 0, machine);
  }

  private onMembersChanged(): void {
    const clusterId =
      this.metadata.clusterId !== '' ? this.metadata.clusterId : (this.identity?.clusterId ?? '');
    if (clusterId !== '') this.opts.transport.setClusterId(clusterId);
    for (const m of this.metadata.members()) {
      if (m.nodeId !== this.opts.nodeId) this.opts.transport.setPeerAddress(m.nodeId as NodeId, m.raftAddr);
    }
  }

  /** Tells the transport where a member's raft port is (before the metadata log says so, when joining). */
  addPeerAddress(m: MemberInfo): void {
    if (m.nodeId !== this.opts.nodeId) this.opts.transport.setPeerAddress(m.nodeId as NodeId, m.raftAddr);
  }

  // ---- helpers for requests, membership and status ------------------------------------------------

  group(groupId: number): Group {
    const g = this.driver.groups.get(groupId);
    if (g === undefined) {
      throw new UnavailableError(`this node does not host group ${groupId} yet (it may still be joining)`, {
        retrySafe: true,
      });
    }
    return g;
  }

  /** The client address of a group's leader as this node knows it ('' if none). */
  leaderAddr(groupId: number): string {
    const g = this.driver.groups.get(groupId);
    if (g === undefined || g.leader === '') return '';
    if (g.leader === this.id) return this.opts.clientAddr;
    return this.metadata.member(g.leader)?.clientAddr ?? '';
  }

  /** Resolves once `cond()` holds (checked after every driver turn and every 50 ms) or rejects at the deadline. */
  waitFor(cond: () => boolean, deadlineMs: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (cond()) finish(undefined);
        else if (this.closing) finish(new UnavailableError('the node is shutting down', { retrySafe: true }));
        else if (Date.now() >= deadlineMs)
          finish(new UnavailableError(`timed out waiting for ${what}`, { retrySafe: true }));
      };
      const timer = setInterval(check, 50);
      const finish = (err: Error | undefined): void => {
        clearInterval(timer);
        this.turnListeners.delete(check);
        if (err === undefined) resolve();
        else reject(err);
      };
      this.turnListeners.add(check);
    });
  }

  // ---- shutdown ------------------------------------------------------------------------------------

  private fatal(err: unknown): void {
    this.logger.fatal({ err }, 'the node cannot continue');
    this.fatalHandler(err);
  }

  /** Stops ticking, fails waiting requests with UNAVAILABLE, lets the last turn finish, syncs the WAL, closes the transport. */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    this.balancer.stop();
    const err = new UnavailableError('the node is shutting down; retry on another node');
    if (this.driver !== undefined) {
      for (const g of this.driver.groups.values()) g.failAll(err);
      await this.driver.stop();
    }
    await this.opts.transport.close();
    if (this.wal !== undefined) await this.wal.close();
    this.logger.info({ nodeId: this.opts.nodeId }, 'stopped');
  }
}

function randomClusterId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('hex');
}
