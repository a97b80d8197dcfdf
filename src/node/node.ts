// The node: one process's multi-Raft host. It owns the shared WAL, the snapshot store, the groups
// (the metadata group and data shards 1..S), the driver that runs their Ready loop, the tick timer,
// and the node identity. To the modules built on it (requests.ts, membership.ts, balancer.ts,
// status.ts, src/server) it offers its interface of intent (NodeIntents in intents.ts: propose,
// read, transfer leadership, change membership, status), whose methods schedule the driver
// themselves; the groups, their RawNodes and the driver stay inside.

import { join } from 'node:path';
import type { Logger } from 'pino';
import { MemoryStorage, ProposalDroppedError } from '../raft/index.ts';
import type { ConfBasis, ConfChangeSingle, Entry, Index, Message, NodeId, Snapshot } from '../raft/types.ts';
import { index, NO_NODE } from '../raft/types.ts';
import { type ShardEntry, servingVoters } from '../ring/shard-table.ts';
import { HASH_TAG_HASHING, type KeyHashing, WHOLE_KEY_HASHING } from '../ring/slots.ts';
import { decodeCommand, encodeCommand } from '../storage/command.ts';
import { whyUnwritable } from '../storage/fs-util.ts';
import type { ApplyResult } from '../storage/kv-state.ts';
import { SnapshotStore } from '../storage/snapshots.ts';
import type { RecoveredGroup } from '../storage/wal.ts';
import { Wal } from '../storage/wal.ts';
import { Balancer } from './balancer.ts';
import { type Clock, sleep, type Timer } from './clock.ts';
import { CoarseTimers } from './coarse-timers.ts';
import { DiskAlarm } from './disk-alarm.ts';
import { Driver } from './driver.ts';
import { FailedPreconditionError, StartupError, UnavailableError, UsageError } from './errors.ts';
import { Group } from './group.ts';
import { hosting, isStaleReplica, replicaDropped } from './hosting.ts';
import type { NodeIdentity } from './identity.ts';
import { readIdentity, writeIdentity } from './identity.ts';
import { type GroupId, isGroupId, isShardId, METADATA_GROUP, type ShardId, shardId } from './ids.ts';
import type {
  Applied,
  GroupStatus,
  GroupView,
  NodeIntents,
  PlannedConfChange,
  Proposal,
  ReadOutcome,
  ReadRequest,
} from './intents.ts';
import { KvMachine } from './kv-machine.ts';
import { type LedShard, Lessor } from './lease/lessor.ts';
import { joinCluster } from './membership.ts';
import type { MemberInfo, MetadataResult } from './metadata.ts';
import { describe, MetadataState, sameAddresses } from './metadata.ts';
import { OneAtATime } from './one-at-a-time.ts';
import type { ClusterRpc, NodeOptions, ResolvedNodeOptions } from './options.ts';
import { corePlantedBugs, resolveOptions } from './options.ts';
import { PeerLookup } from './peer-lookup.ts';
import { Pending, PendingBudget } from './pending.ts';
import { randomHex } from './random.ts';
import { Rebalancer } from './rebalancer.ts';
import { recoverGroup, SnapshotPrefetch, writeBootstrap } from './recovery.ts';
import { RemovalWatch } from './removal.ts';
import { write } from './requests.ts';
import { StaleReplicas } from './stale-replicas.ts';
import { RequestIds, requestKey, type StateMachine } from './state-machine.ts';
import { writeTombstone } from './tombstone.ts';
import { mayVote } from './vote-guard.ts';
import { type WatchedShard, Watches } from './watch/watches.ts';

type MetadataGroup = Group<MetadataResult, MetadataState>;
type ShardGroup = Group<ApplyResult, KvMachine>;

/** What a removed node says, at the removal and on every start after it. */
function removedMessage(raftDir: string, clusterId: string): string {
  return (
    `this node was removed from cluster ${clusterId}: its data in ${raftDir} is stale and it does not serve it. ` +
    'To add it again, move that directory aside (or delete it) and start the node with --join_addr, as a new member'
  );
}

/** How long a restarted node waits for its member record to replay before comparing addresses. */
const ADDRESS_CHECK_WAIT_MS = 60_000;
const ADDRESS_UPDATE_ATTEMPTS = 30;
const ADDRESS_UPDATE_DEADLINE_MS = 15_000;
const ADDRESS_UPDATE_RETRY_MS = 2_000;
/** A leader the transport reported unreachable counts as unreachable this long (leaderUnreachable). */
const LEADER_UNREACHABLE_MS = 1000;
/** How long the lessor's revoke of an expired lease may take before it is proposed again. */
const LEASE_REVOKE_DEADLINE_MS = 5_000;
/** The planted bug forwardedWriteTwice proposes a forwarded write again, as a new command, this many ticks later. */
const FORWARD_RETRY_TICKS = 2;
/** Bound on the metadata ReadIndex round before stale replicas are deleted, and the pause before another. */
const STALE_CONFIRM_TIMEOUT_MS = 10_000;
const STALE_CONFIRM_RETRY_MS = 5_000;

export class KvNode implements NodeIntents {
  readonly opts: ResolvedNodeOptions;
  readonly id: NodeId;
  readonly logger: Logger;
  readonly metadata = new MetadataState();
  /** The node's time and timers (opts.clock): every deadlineMs it is handed is on this clock. */
  readonly clock: Clock;
  private readonly budget: PendingBudget;
  /** The deadlines of waiting requests (on `clock`, one timer per 10 ms slot: coarse-timers.ts). */
  private readonly deadlines: CoarseTimers;
  readonly requestIds: RequestIds;
  /** Admissions of joining members, one at a time (membership.ts admitMember). */
  readonly admissions = new OneAtATime();
  private identity!: NodeIdentity;
  private driver!: Driver;
  /** The metadata group, once hosted (a joiner hosts it on the leader's first message). */
  private metadataGroup: MetadataGroup | undefined;
  /** The data shards hosted here, by ShardId. */
  private readonly shardGroups = new Map<number, ShardGroup>();
  /** The watches served by this node's shard replicas (watch/watches.ts). */
  readonly watches: Watches;
  private wal!: Wal;
  private snapshots!: SnapshotStore;
  private tickTimer: Timer | undefined;
  private readonly balancer: Balancer;
  private readonly rebalancer: Rebalancer;
  /** The expiry of the leases of the shards this node leads (lease/lessor.ts). */
  private readonly lessor: Lessor;
  private closing = false;
  /** start() has recovered every group of the WAL (until then, the shard table is not acted on). */
  private groupsRecovered = false;
  private closed: Promise<void> | undefined;
  private fatalHandler: (err: unknown) => void = () => {};
  private readonly removalWatch = new RemovalWatch(this);
  private readonly peerLookup = new PeerLookup(this);
  /** Created once the WAL is open. */
  private diskAlarm: DiskAlarm | undefined;
  /**
   * When the transport last reported each peer unreachable (this node's clock). Bounded by the
   * members this node has known: a removed member's entry goes with it (removePeer).
   */
  private readonly unreachableAtMs = new Map<NodeId, number>();
  /**
   * Shards whose replica this node deleted (a tombstone snapshot in the WAL, see `dropShard`), found
   * at start or deleted since: a message for one does not host it again (the tombstone's marker would
   * hide a new replica's first entries on the next start); only the table does (`rehostShard`).
   */
  private readonly deletedShards = new Set<number>();
  /**
   * Hosted shards whose applied configuration has listed this node (a voter of either half, or a
   * learner) at a reconcile. Only these may be dropped: a replica being added replays its log from
   * the start, through configurations without it, and the table records it only afterwards.
   */
  private readonly listedIn = new Set<number>();
  /** Shards being hosted again after a deletion (rehostShard: their log restarting is under way). */
  private readonly rehosting = new Set<number>();
  /** Shards being dropped now (their deletion is under way). */
  private readonly dropping = new Set<number>();
  /** Hosted shards the table gives no role here, deleted once the table is confirmed current. */
  private readonly staleReplicas = new StaleReplicas({
    confirmTable: () => this.confirmMetadata(this.clock.nowMs() + STALE_CONFIRM_TIMEOUT_MS),
    dropIfStale: (id) => this.dropIfStale(id),
    roundFailed: (err) => {
      this.logger.debug({ err }, 'stale replicas kept for now: the table could not be confirmed');
      // Noted again at the next metadata change, or after a pause.
      this.clock.after(STALE_CONFIRM_RETRY_MS, () => this.reconcileShards());
    },
    isClosing: () => this.closing,
  });
  /** Callbacks run after every driver turn (waiters on leadership or membership). */
  private readonly turnListeners = new Set<() => void>();
  /** Pending's failure callback for proposals: made once, so a proposal allocates nothing for it. */
  private readonly onProposalFailed: () => void;

  constructor(options: NodeOptions) {
    this.opts = resolveOptions(options);
    this.id = this.opts.nodeId as NodeId;
    this.logger = this.opts.logger;
    this.clock = this.opts.clock;
    this.watches = new Watches(this.clock, (shard) => this.watchedShard(shard));
    this.requestIds = new RequestIds(this.opts.random);
    this.budget = new PendingBudget(this.opts.pendingMax);
    this.deadlines = new CoarseTimers(this.clock);
    const metrics = this.opts.metrics;
    this.onProposalFailed = () => metrics.proposalFailed();
    this.balancer = new Balancer(this, this.opts.balanceIntervalMs);
    this.rebalancer = new Rebalancer(this, this.opts.rebalanceIntervalMs);
    this.lessor = new Lessor({
      clock: this.clock,
      logger: this.logger,
      shardIds: () => this.shardGroups.keys(),
      led: (shard) => this.ledShard(shard),
      revoke: (shard, lease) =>
        write(this, shard, { op: 'leaseRevoke', lease }, this.clock.nowMs() + LEASE_REVOKE_DEADLINE_MS),
    });
    this.metadata.onChange = () => this.onMembersChanged();
  }

  get shardCount(): number {
    return this.metadata.shardCount > 0 ? this.metadata.shardCount : this.identity.shardCount;
  }

  /**
   * How the cluster hashes keys to slots, from the shard table; undefined until this node applied
   * the table (the identity knows the shard count, not this): a key is routed only once it is known.
   */
  get keyHashing(): KeyHashing | undefined {
    if (this.metadata.shardCount === 0) return undefined;
    return this.metadata.table.settings.hashTags === true ? HASH_TAG_HASHING : WHOLE_KEY_HASHING;
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** The cluster's id: from the metadata once applied here, else from the identity file ('' while joining). */
  get clusterId(): string {
    return this.metadata.clusterId !== '' ? this.metadata.clusterId : (this.identity?.clusterId ?? '');
  }

  /** This node as a member: its id and advertised addresses. */
  get self(): MemberInfo {
    const { nodeId, clientAddr, raftAddr, zone } = this.opts;
    return zone === '' ? { nodeId, clientAddr, raftAddr } : { nodeId, clientAddr, raftAddr, zone };
  }

  /** Calls to other nodes' client ports (Join, Status). */
  get cluster(): ClusterRpc {
    return this.opts.cluster;
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
    try {
      await this.open();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC') {
        const mib = this.opts.walSegmentBytes / (1024 * 1024);
        throw new StartupError(
          `not enough free space in --raft_dir ${this.opts.raftDir} to start: the node needs ${mib} MiB for the first ` +
            `segment of its write-ahead log (--wal_segment_mib ${mib}), and about ${3.5 * mib} MiB in all to take writes ` +
            '(a segment in use, the next one prepared, and room for one and a half more). Free space there, or give a smaller --wal_segment_mib',
          { cause: e },
        );
      }
      const why =
        code === undefined ? undefined : await whyUnwritable(this.opts.fileSystem, this.opts.raftDir);
      if (why !== undefined) {
        throw new StartupError(
          `cannot use --raft_dir ${this.opts.raftDir}: ${why} (${(e as Error).message})`,
          {
            cause: e,
          },
        );
      }
      throw e;
    }
  }

  private async open(): Promise<void> {
    const o = this.opts;
    const identity = await readIdentity(o.fileSystem, o.raftDir);
    if (identity !== undefined && identity.nodeId !== o.nodeId) {
      throw new StartupError(
        `${o.raftDir} belongs to node '${identity.nodeId}', not '${o.nodeId}': use the node id it was created with, or another --raft_dir`,
      );
    }
    if (identity?.state === 'removed') throw new StartupError(removedMessage(o.raftDir, identity.clusterId));
    if (identity !== undefined && o.joinAddr !== undefined && identity.state !== 'joining') {
      // A restart with the first command line is normal; joining another cluster with this data is not.
      const own = identity.state === 'bootstrapped' ? 'bootstrapped its own cluster' : 'belongs to cluster';
      (identity.state === 'bootstrapped' ? this.logger.warn : this.logger.info).call(
        this.logger,
        { clusterId: identity.clusterId, joinAddr: o.joinAddr },
        `${o.raftDir} ${own} ${identity.clusterId}: the node resumes it and ignores --join_addr (used only on a first start; to join another cluster, start with an empty --raft_dir)`,
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
    const opened = await Wal.open({
      dir: join(o.raftDir, 'wal'),
      segmentBytes: o.walSegmentBytes,
      fs: o.fileSystem,
      onSegmentProblem: () => this.diskAlarm?.checkSoon(),
      sleep: (ms) => sleep(this.clock, ms),
      // PLANTED BUG (the simulator's teeth): replay trusts records whose checksums do not match.
      ...(o.plantedBugs.includes('skipCrcOnReplay') ? { unsafeSkipChecksums: true } : {}),
    });
    this.wal = opened.wal;
    this.diskAlarm = new DiskAlarm({
      nodeId: o.nodeId,
      raftDir: o.raftDir,
      segmentBytes: o.walSegmentBytes,
      logger: this.logger,
      clock: this.clock,
      wal: opened.wal,
      freeBytes: (path) => o.fileSystem.freeBytes(path),
    });
    this.snapshots = await SnapshotStore.open(join(o.raftDir, 'snap'), o.fileSystem);
    let recovered = opened.recovered;
    this.identity = identity ?? (await this.firstIdentity());
    if (this.identity.state === 'bootstrapping') recovered = await this.bootstrap(recovered);
    this.driver = this.makeDriver();
    await this.createGroups(recovered);
    this.groupsRecovered = true;
    this.opts.transport.onMessage((groupId, msg) => this.onPeerMessage(groupId, msg));
    this.opts.transport.onUnreachable((peer) => {
      this.unreachableAtMs.set(peer, this.clock.nowMs());
      for (const g of this.groups()) g.reportUnreachable(peer);
    });
    this.onMembersChanged();
    await this.opts.transport.start();
    this.tickTimer = this.clock.every(o.tickMs, () => this.tick());
    this.balancer.start();
    this.rebalancer.start();
    this.lessor.start();
    this.diskAlarm.start();
    this.logRecovery(recovered);
    this.driver.schedule();
  }

  private async firstIdentity(): Promise<NodeIdentity> {
    const o = this.opts;
    const identity: NodeIdentity = o.bootstrap
      ? {
          version: 1,
          nodeId: o.nodeId,
          clusterId: randomHex(o.random, 8),
          shardCount: o.shardCount,
          state: 'bootstrapping',
        }
      : { version: 1, nodeId: o.nodeId, clusterId: '', shardCount: 0, state: 'joining' };
    await writeIdentity(o.fileSystem, o.raftDir, identity);
    return identity;
  }

  /**
   * Writes the first log entries of every group, all or nothing: the identity's 'bootstrapped' state,
   * written only after the WAL sync, is the completion record. A crash before it may have left any
   * prefix of the bootstrap records (a torn write), so they are all written again: the same entries
   * at the same indexes, with the same hard states (nothing else was ever written before it).
   */
  private async bootstrap(recovered: Map<number, RecoveredGroup>): Promise<Map<number, RecoveredGroup>> {
    const out = await writeBootstrap(this.wal, {
      clusterId: this.identity.clusterId,
      shardCount: this.identity.shardCount,
      leaderPlacement: this.opts.leaderPlacement,
      replicationFactor: this.opts.replicationFactor,
      deadNodeTimeoutMs: this.opts.deadNodeTimeoutMs,
      // A cluster created by this build hashes keys by their {tag}; the setting is fixed from now on.
      hashTags: true,
      self: this.self,
    });
    this.logger.info(
      {
        clusterId: this.identity.clusterId,
        shards: this.identity.shardCount,
        leaderPlacement: this.opts.leaderPlacement,
        replicationFactor: this.opts.replicationFactor,
        zone: this.opts.zone,
        rewritten: recovered.size > 0,
      },
      recovered.size > 0
        ? 'bootstrap completed after an interrupted first start'
        : 'bootstrapped a new cluster',
    );
    this.identity = { ...this.identity, state: 'bootstrapped' };
    await writeIdentity(this.opts.fileSystem, this.opts.raftDir, this.identity);
    return out;
  }

  private makeDriver(): Driver {
    return new Driver({
      wal: this.wal,
      snapshots: this.snapshots,
      transport: this.opts.transport,
      logger: this.logger,
      clock: this.clock,
      snapshotEveryEntries: this.opts.snapshotEveryEntries,
      retainEntries: this.opts.retainEntries,
      entriesInMemory: this.opts.entriesInMemory,
      walSegmentsKept: this.opts.walSegmentsKept,
      lowOnDisk: () => this.diskAlarm?.state !== undefined,
      // A snapshot must leave the WAL room for its next segment: the log is what must not fail.
      roomFor: async (bytes) =>
        (await this.opts.fileSystem.freeBytes(this.opts.raftDir)) >= bytes + this.opts.walSegmentBytes,
      onFatal: (e) => this.fatal(e),
      plantedBugs: new Set(this.opts.plantedBugs),
      metrics: this.opts.metrics,
      afterTurn: () => {
        for (const l of this.turnListeners) l();
      },
    });
  }

  private async createGroups(recovered: Map<number, RecoveredGroup>): Promise<void> {
    // The metadata group and every group the WAL holds records of. Not every shard 1..S: with more
    // members than R a node holds only some, and an empty replica of another, hosted here at every
    // restart, would never be dropped (its configuration never lists this node). reconcileShards
    // hosts the shards the table gives this node, and a leader's first message any other it adds.
    const ids = [...new Set<number>([METADATA_GROUP, ...recovered.keys()])].sort((a, b) => a - b);
    const hosted: GroupId[] = [];
    for (const id of ids) {
      if (!isGroupId(id)) throw new StartupError(`the WAL holds records of group ${id}, not a group id`);
      if (isTombstone(recovered.get(id))) this.deletedShards.add(id);
      else hosted.push(id);
    }
    const prefetch = new SnapshotPrefetch(this.snapshots, hosted, recovered);
    for (const [position, id] of hosted.entries())
      await this.addGroup(id, recovered.get(id), prefetch.take(position));
  }

  /**
   * Recovers a group from its snapshot and WAL records (none: empty) and hosts it; `loading`: its
   * snapshot already being read.
   */
  private async addGroup(
    id: GroupId,
    recovered: RecoveredGroup | undefined,
    loading?: Promise<Snapshot>,
  ): Promise<void> {
    let rec = recovered;
    if (rec?.hardState !== undefined && this.opts.plantedBugs.includes('forgetVoteOnRestart')) {
      // PLANTED BUG (the simulator's teeth): the vote of the recovered hard state is forgotten.
      rec = { ...rec, hardState: { ...rec.hardState, vote: NO_NODE } };
    }
    if (isShardId(id)) {
      const machine = this.newKvMachine();
      const { storage, applied } = await recoverGroup(id, rec, this.snapshots, machine, loading);
      this.hostShard(id, storage, applied, machine);
    } else {
      const { storage, applied } = await recoverGroup(id, rec, this.snapshots, this.metadata, loading);
      this.hostMetadata(storage, applied);
    }
  }

  /** A data shard's empty state machine (with the planted bug applyDuplicates when the simulator plants it). */
  private newKvMachine(): KvMachine {
    // PLANTED BUG (the simulator's teeth): the state applies copies of commands it applied before.
    const applyDuplicates = this.opts.plantedBugs.includes('applyDuplicates');
    return new KvMachine(applyDuplicates ? { unsafeApplyDuplicates: true } : {});
  }

  private hostShard(id: ShardId, storage: MemoryStorage, applied: Index, machine: KvMachine): ShardGroup {
    const g = this.newGroup<ApplyResult, KvMachine>(id, storage, applied, machine);
    this.shardGroups.set(id, g);
    return g;
  }

  private hostMetadata(storage: MemoryStorage, applied: Index): MetadataGroup {
    const g = this.newGroup<MetadataResult, MetadataState>(METADATA_GROUP, storage, applied, this.metadata);
    this.metadataGroup = g;
    return g;
  }

  /** A group over `storage` (durable up to its last index) with `machine` at `applied`, in the driver's turns. */
  private newGroup<R, M extends StateMachine<R>>(
    id: GroupId,
    storage: MemoryStorage,
    applied: Index,
    machine: M,
  ): Group<R, M> {
    const g = new Group<R, M>({
      groupId: id,
      nodeId: this.id,
      electionTick: this.opts.electionTick,
      heartbeatTick: this.opts.heartbeatTick,
      appendBytesMax: this.opts.appendBytesMax,
      random: this.opts.random,
      machine,
      storage,
      applied,
      plantedBugs: corePlantedBugs(this.opts.plantedBugs),
    });
    this.driver.register(g);
    return g;
  }

  /** Every hosted group: the metadata group first, then the shards. */
  private *groups(): Generator<Group> {
    if (this.metadataGroup !== undefined) yield this.metadataGroup;
    yield* this.shardGroups.values();
  }

  private hosted(id: number): Group | undefined {
    return id === METADATA_GROUP ? this.metadataGroup : this.shardGroups.get(id);
  }

  private logRecovery(recovered: Map<number, RecoveredGroup>): void {
    let entries = 0;
    for (const r of recovered.values()) entries += r.entries.length;
    this.logger.info(
      {
        nodeId: this.opts.nodeId,
        clusterId: this.identity.clusterId,
        state: this.identity.state,
        groups: this.shardGroups.size + (this.metadataGroup === undefined ? 0 : 1),
        walEntries: entries,
        members: this.metadata.members().length,
      },
      'recovered',
    );
  }

  /** For a node started with --join_addr: asks the cluster to add it, until it is a voter everywhere. */
  async completeJoin(): Promise<void> {
    if (this.identity.state !== 'joining') {
      // In the background: the member list must replay first, and a cluster without a quorum now
      // must not keep the node from serving what it can.
      this.updateOwnAddresses().catch((e: unknown) => this.fatal(e));
      this.watchRemoval();
      return;
    }
    const joinAddr = this.opts.joinAddr;
    if (joinAddr === undefined)
      throw new UsageError(`${this.opts.raftDir} was joining a cluster: give --join_addr again`);
    const reply = await joinCluster(this, joinAddr, this.opts.joinTimeoutMs);
    if (this.identity.clusterId !== '' && reply.clusterId !== this.identity.clusterId) {
      throw new StartupError(
        `${joinAddr} belongs to cluster ${reply.clusterId}, this node's data to ${this.identity.clusterId}`,
      );
    }
    await this.waitFor(
      () => this.metadata.shardCount > 0,
      this.clock.nowMs() + 30_000,
      'the cluster metadata to replicate',
    );
    this.identity = {
      ...this.identity,
      clusterId: reply.clusterId,
      shardCount: this.metadata.shardCount,
      state: 'joined',
    };
    await writeIdentity(this.opts.fileSystem, this.opts.raftDir, this.identity);
    if (this.hosted(METADATA_GROUP) === undefined) this.ensureGroup(METADATA_GROUP);
    this.reconcileShards();
    this.logger.info({ clusterId: reply.clusterId, members: reply.members.length }, 'joined the cluster');
    this.watchRemoval();
  }

  /** Why a client write is refused on this node now (the NOSPACE alarm), or undefined. */
  writeRefusal(): string | undefined {
    return this.diskAlarm?.refusal();
  }

  /** Alarms raised on this node, by name (Status). */
  alarms(): string[] {
    return this.diskAlarm?.state !== undefined ? ['NOSPACE'] : [];
  }

  /** From now on, a removal by the cluster stops the node (removal.ts). */
  private watchRemoval(): void {
    this.removalWatch.start((why) => {
      this.logger.error({ why }, 'this node was removed from the cluster');
      writeIdentity(this.opts.fileSystem, this.opts.raftDir, { ...this.identity, state: 'removed' })
        .catch((e: unknown) => this.logger.error({ err: e }, 'could not record the removal'))
        .finally(() =>
          this.fatal(
            new StartupError(`${removedMessage(this.opts.raftDir, this.identity.clusterId)} (${why})`),
          ),
        );
    });
  }

  /**
   * A member restarted with other advertised addresses (--host, --port, --raft_port): its record in
   * the member list is updated through Join (asked of this node's own client port, which forwards
   * to the metadata leader), so that clients and peers reach it at the new ones. A refusal stops the
   * node, naming both (a different node may hold the old ones).
   */
  private async updateOwnAddresses(): Promise<void> {
    const id = this.opts.nodeId;
    try {
      await this.waitFor(
        () => this.metadata.member(id) !== undefined,
        this.clock.nowMs() + ADDRESS_CHECK_WAIT_MS,
        'the member list to replay',
      );
    } catch {
      return; // not known yet (the cluster is down, or this node was removed): nothing to compare
    }
    const held = this.metadata.member(id);
    if (held === undefined || sameAddresses(held, this.self)) return;
    const change = { from: describe(held), to: describe(this.self) };
    this.logger.warn(change, "this node's advertised addresses changed: updating its member record");
    for (let attempt = 1; !this.closing && attempt <= ADDRESS_UPDATE_ATTEMPTS; attempt++) {
      try {
        await this.opts.cluster.join(
          this.self.clientAddr,
          this.self,
          this.clock.nowMs() + ADDRESS_UPDATE_DEADLINE_MS,
        );
        this.logger.info(change, 'member record updated');
        return;
      } catch (e) {
        if (e instanceof FailedPreconditionError) {
          throw new StartupError(
            `the cluster refused this node's new addresses (${change.to}; it knows '${id}' at ${change.from}): ${e.message}. ` +
              'Start it with its original --host, --port and --raft_port, or remove the member first (ringkv cluster leave) and join with an empty --raft_dir.',
          );
        }
        this.logger.warn(
          { ...change, attempt, err: (e as Error).message },
          'member record not updated yet; retrying',
        );
        await sleep(this.clock, ADDRESS_UPDATE_RETRY_MS);
      }
    }
  }

  // ---- inputs --------------------------------------------------------------------------------------

  private tick(): void {
    for (const g of this.groups()) g.tick();
    if (this.cleanupPending()) this.reconcileShards();
    this.driver.schedule();
  }

  private onPeerMessage(groupId: number, msg: Message): void {
    if (this.closing) return;
    this.peerLookup.heardFrom(msg.from);
    const g = this.hosted(groupId) ?? this.ensureGroup(groupId);
    if (g === undefined) return;
    if (msg.to !== this.id) {
      this.logger.warn(
        { group: groupId, to: msg.to, from: msg.from },
        'dropped a message addressed to another node',
      );
      return;
    }
    if (
      (msg.type === 'vote' || msg.type === 'preVote') &&
      isShardId(groupId) &&
      !mayVote(
        this.id,
        g.confState,
        this.metadata.table.shards.find((e) => e.shardId === groupId),
      )
    ) {
      // A voter neither by its configuration nor by the table's (emptied here and brought back by a
      // move, or a stale copy): its vote is not Raft's to give, dropped as if lost (vote-guard.ts).
      return;
    }
    if (msg.type === 'heartbeat' && msg.commit > g.logLastIndex()) {
      // Sent to an earlier incarnation of this replica (deleted and hosted again: vote-guard.ts):
      // its commit is capped by what that one acknowledged, entries this log does not hold.
      // Dropped as if lost; the core, for which an id never loses its log, would stop on it.
      return;
    }
    if (msg.type === 'prop' && isShardId(groupId) && this.writeRefusal() !== undefined) {
      // The NOSPACE alarm refuses client writes on this node, those another node proposed and its
      // core forwarded here included: dropped as if lost (that node proposes copies again, and if
      // the alarm outlasts the write's deadline tells its client it may have taken effect). Letting
      // them in would grow this node's log until it has no room left, and stall every group here.
      return;
    }
    g.step(msg);
    this.driver.schedule();
  }

  /** A group this node has not seen yet (it joined, and the leader reached out): start it empty. */
  private ensureGroup(id: number): Group | undefined {
    if (!isGroupId(id) || this.deletedShards.has(id) || this.dropping.has(id)) return undefined;
    if (isShardId(id)) return this.hostShard(id, new MemoryStorage(), index(0), this.newKvMachine());
    return this.hostMetadata(new MemoryStorage(), index(0));
  }

  private onMembersChanged(): void {
    const clusterId = this.clusterId;
    if (clusterId !== '') this.opts.transport.setClusterId(clusterId);
    for (const m of this.metadata.members()) {
      if (m.nodeId !== this.opts.nodeId) {
        this.opts.transport.setPeerAddress(m.nodeId as NodeId, m.raftAddr);
        this.peerLookup.knows(m.nodeId);
      }
    }
    this.reconcileShards();
    // A move's next step may be possible now (or a new one may be planned).
    this.rebalancer.nudge();
  }

  // ---- hosting what the shard table says ---------------------------------------------------------

  /**
   * Hosts the shards the table gives this node (a voter, a learner, or either end of a move) and
   * drops those it no longer holds. A shard is dropped only when the table and the shard's own
   * applied configuration agree that this node is out of it (neither an incoming voter nor a
   * learner): a table behind the shards (a join recording its voters after the fact, a log written
   * before the table) never costs a replica its data; or when the node is the source of the shard's
   * move at cleanup (the shard's leader applied its removal, which it may never learn). hosting.ts.
   */
  private reconcileShards(): void {
    const t = this.metadata.table;
    // Not while start() recovers the groups: the metadata group, restored first, may name shards the
    // WAL is still to give back (hosting one empty here, recovery would register it a second time).
    // start() reconciles once they are all recovered.
    if (t.shards.length === 0 || this.closing || !this.groupsRecovered) return;
    // Only asked when it matters (a status is a copy): a move at cleanup from this node.
    const tableCurrent =
      t.shards.some((e) => e.move?.step === 'cleanup' && e.move.source === this.id) && this.metadataCurrent();
    for (const entry of t.shards) {
      const g = this.shardGroups.get(entry.shardId);
      const cs = g?.confState;
      const listed =
        cs !== undefined && [cs.voters, cs.votersOutgoing, cs.learners].some((l) => l.includes(this.id));
      if (listed) this.listedIn.add(entry.shardId);
      if (this.dropping.has(entry.shardId) || this.rehosting.has(entry.shardId)) continue;
      const decision = hosting({
        self: this.id,
        entry,
        confState: cs,
        listedBefore: this.listedIn.has(entry.shardId),
        tableCurrent,
      });
      if (decision === 'host' && g === undefined && this.deletedShards.has(entry.shardId)) {
        // Only for a move adding it back: a table that names it otherwise is one replayed at a
        // restart, from before the replica was deleted.
        const m = entry.move;
        if (m?.target === this.id && (m.step === 'addLearner' || m.step === 'catchUp'))
          this.rehostShard(entry.shardId as ShardId).catch((e: unknown) => this.fatal(e));
      } else if (decision === 'host' && g === undefined) this.ensureGroup(entry.shardId);
      if (decision === 'drop' && g !== undefined)
        this.dropShard(g, entry).catch((e: unknown) => this.fatal(e));
      if (decision === 'leave' && g !== undefined) this.noteStale(entry);
    }
  }

  /**
   * A replica kept here that the table gives no role at all (no voter, learner or move end), while
   * this member is up or down: the cluster re-created it on other members while this node could not
   * be reached (or rolled back a move that was adding it), and the copy is stale. Joining members
   * are left alone: their shards' configurations take them in before the table records them. The
   * replica is deleted once a ReadIndex round on the metadata group shows the table current
   * (stale-replicas.ts): a table replayed at a restart may be older than the shard's own
   * configuration here, which a move recorded in a newer table put this node in.
   */
  private noteStale(entry: ShardEntry): void {
    if (!isStaleReplica(this.id, entry, this.metadata.memberState(this.id))) return;
    this.staleReplicas.note(entry.shardId);
  }

  /** Deletes the replica of `id` if the table, confirmed current (stale-replicas.ts), still makes it stale. */
  private async dropIfStale(id: number): Promise<void> {
    const g = this.shardGroups.get(id);
    const entry = this.metadata.table.shards[id - 1];
    if (g === undefined || entry === undefined || this.closing) return;
    if (!isStaleReplica(this.id, entry, this.metadata.memberState(this.id))) return;
    if (this.dropping.has(id) || this.rehosting.has(id)) return;
    this.logger.warn(
      { shard: id, voters: entry.voters, epoch: entry.epoch, applied: g.applied },
      `shard ${id}: the cluster re-created this replica on ${entry.voters.join(', ')} while this node could not be reached; the stale copy here is deleted`,
    );
    await this.dropShard(g, entry);
  }

  /**
   * A ReadIndex round on the metadata group: resolves once this node has applied every metadata
   * entry committed when it began (its table is at least that new), or rejects at the deadline.
   */
  private async confirmMetadata(deadlineMs: number): Promise<void> {
    const g = this.metadataGroup;
    if (g === undefined) throw new UnavailableError('no metadata group here yet', { retrySafe: true });
    const pending = new Pending<void>(
      this.budget,
      this.deadlines,
      deadlineMs,
      () => new UnavailableError('timed out confirming the shard table', { retrySafe: true }),
    );
    g.queueRead({ pending, serve: () => pending.resolve() });
    this.driver.schedule();
    await pending.promise;
  }

  /**
   * Whether the metadata group has applied every entry this node knows committed (not while an entry
   * applies: `applied` is then the index before it), so its table is the newest this node knows.
   */
  private metadataCurrent(): boolean {
    const st = this.metadataGroup?.status();
    return st !== undefined && st.applied >= st.commit;
  }

  /**
   * A shard this node still hosts is at the cleanup of a move from it: reconcile again once the table
   * is current (the metadata changes reconcile while an entry applies, when it never is; and the
   * last committed entry may be a leader's empty one, which changes nothing).
   */
  private cleanupPending(): boolean {
    return this.metadata.table.shards.some(
      (e) =>
        e.move?.step === 'cleanup' &&
        e.move.source === this.id &&
        this.shardGroups.has(e.shardId) &&
        !this.dropping.has(e.shardId),
    );
  }

  /**
   * Hosts again a shard whose replica this data directory deleted, now that a move brings it back:
   * the shard's log starts over in the WAL, empty, keeping the term and vote it had (wal.resetGroup),
   * durably before the tombstone's snapshot file goes; then the shard is hosted empty and its leader
   * sends it a snapshot or the log, as to any new replica. Messages for it wait (are dropped) until then.
   */
  private async rehostShard(id: ShardId): Promise<void> {
    if (this.rehosting.has(id)) return;
    this.rehosting.add(id);
    try {
      const hardState = this.wal.resetGroup(id);
      await this.wal.sync();
      await this.snapshots.removeGroup(id);
      this.deletedShards.delete(id);
      if (this.closing || this.shardGroups.has(id)) return;
      const storage = new MemoryStorage();
      storage.setHardState(hardState);
      this.hostShard(id, storage, index(0), this.newKvMachine());
      this.logger.info(
        { shard: id, term: hardState.term },
        'shard hosted again: a move brings back a replica this node had deleted',
      );
    } finally {
      this.rehosting.delete(id);
    }
    // The table may have moved on while the files went (a restart replays the move that brought the
    // replica back, then its rollback, in a few milliseconds): the decision is taken again against
    // the table as it is now, or an empty replica the table no longer places here would be kept
    // until the next metadata change, which an idle cluster does not make.
    if (!this.closing) this.reconcileShards();
  }

  /**
   * Stops hosting a shard and deletes its data: the group leaves the driver's turns, and a tombstone
   * (tombstone.ts: an empty snapshot past its last index, of term 0, which no leader's log matches)
   * with its WAL marker replaces its log and then its snapshot files, so that the WAL's segments are
   * no longer retained for it and a restart does not host it again. A group that never held an entry
   * just goes.
   */
  private async dropShard(g: ShardGroup, entry: ShardEntry): Promise<void> {
    const id = g.id;
    this.dropping.add(id);
    const started = this.clock.nowMs();
    try {
      await this.driver.unregister(id);
      this.shardGroups.delete(id);
      this.listedIn.delete(id);
      g.failAll(replicaDropped(id));
      g.machine.watchers.endAll(
        new UnavailableError(
          `this node stopped holding shard ${id}; resume the watch on one of its replicas`,
          {
            retrySafe: true,
          },
        ),
      );
      const last = g.lastIndex();
      if (last > 0 || g.snapshotIndex > 0) {
        this.deletedShards.add(id);
        await writeTombstone(
          { wal: this.wal, snapshots: this.snapshots },
          id,
          Math.max(last, g.snapshotIndex),
        );
      }
      this.logger.info(
        { shard: id, epoch: entry.epoch, lastIndex: last, tookMs: this.clock.nowMs() - started },
        'shard replica deleted: this node no longer holds it',
      );
    } finally {
      this.dropping.delete(id);
    }
    // As after a rehost: the table may have moved on while the data went (a move bringing the shard
    // back, begun meanwhile), and the decisions taken meanwhile skipped the shard.
    if (!this.closing) this.reconcileShards();
  }

  /** Tells the transport where a member's raft port is (before the metadata log says so, when joining). */
  addPeerAddress(m: MemberInfo): void {
    if (m.nodeId === this.opts.nodeId) return;
    this.opts.transport.setPeerAddress(m.nodeId as NodeId, m.raftAddr);
    this.peerLookup.knows(m.nodeId);
  }

  /** Forgets a member's raft address (it left the cluster). */
  removePeer(id: NodeId): void {
    this.unreachableAtMs.delete(id);
    this.opts.transport.removePeer(id);
    this.peerLookup.forget(id);
  }

  /** Where to look up a peer's address (peer-lookup.ts): the members' client ports, and the join address. */
  lookupAddrs(): string[] {
    const addrs = this.metadata
      .members()
      .filter((m) => m.nodeId !== this.opts.nodeId)
      .map((m) => m.clientAddr);
    const via = this.opts.joinAddr;
    if (via !== undefined && !addrs.includes(via)) addrs.push(via);
    return addrs;
  }

  // ---- the interface of intent (NodeIntents) --------------------------------------------------------

  // propose, proposeMetadata and read return the request's own promise (no async wrapper: each
  // would add a promise and microtask hops to every request); a refusal is a rejected promise.

  propose(shard: ShardId, p: Proposal): Promise<Applied<ApplyResult>> {
    try {
      this.checkOpen();
      const g = this.shardGroup(shard);
      const applied = this.proposeTo(g, p);
      if (this.opts.plantedBugs.includes('forwardedWriteTwice') && g.role !== 'leader')
        this.proposeAsNewLater(g, p);
      return applied;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  proposeMetadata(p: Proposal): Promise<Applied<MetadataResult>> {
    try {
      this.checkOpen();
      const g = this.metadataGroup;
      if (g === undefined) throw notHosted(METADATA_GROUP);
      return this.proposeTo(g, p);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Queued: the driver proposes it with the turn's other commands, and fails it if refused. */
  private proposeTo<R>(g: Group<R>, p: Proposal): Promise<Applied<R>> {
    const pending = new Pending<Applied<R>>(
      this.budget,
      this.deadlines,
      p.deadlineMs,
      p.onTimeout,
      this.onProposalFailed,
    );
    g.propose(p.requestId, p.command, pending);
    this.driver.schedule();
    return pending.promise;
  }

  /**
   * PLANTED BUG (the simulator's teeth): a write may be proposed again only as a copy of itself (the
   * same request id: the group does so when a copy may have been lost, and the shard's proposer
   * sessions apply one copy at most). Here a write the core forwarded to the leader is proposed
   * again a retry interval later as a NEW command (a new request id), without asking whether the
   * first took effect: nothing can tell the two apart, and the write is applied twice.
   */
  private proposeAsNewLater(g: ShardGroup, p: Proposal): void {
    this.clock.after(FORWARD_RETRY_TICKS * this.opts.tickMs, () => {
      if (this.closing) return;
      const { clientId, seq } = this.requestIds.next();
      const command = encodeCommand({ ...decodeCommand(p.command), clientId, seq });
      const again = new Pending<Applied<ApplyResult>>(this.budget, this.deadlines, p.deadlineMs, p.onTimeout);
      again.promise.catch(() => {});
      g.propose(requestKey(clientId, seq), command, again);
      this.driver.schedule();
    });
  }

  read<T>(shard: ShardId, r: ReadRequest<T>): Promise<ReadOutcome<T>> {
    try {
      this.checkOpen();
      const g = this.shardGroup(shard);
      const machine = g.machine;
      // PLANTED BUG (tests of the checkers only, `serve --unsafe_no_read_index`): every read local.
      const local = r.consistency === 'serializable' || this.opts.unsafeNoReadIndex;
      if (local) return Promise.resolve({ value: r.run(machine), index: g.applied, term: g.term });
      const pending = new Pending<ReadOutcome<T>>(this.budget, this.deadlines, r.deadlineMs, r.onTimeout);
      g.queueRead({
        pending,
        serve: () => pending.resolve({ value: r.run(machine), index: g.applied, term: g.term }),
      });
      this.driver.schedule();
      return pending.promise;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  transferLeadership(group: GroupId, to: NodeId): void {
    this.groupOrThrow(group).transferLeadership(to);
    this.driver.schedule();
  }

  changeMembership(group: GroupId, change: ConfChangeSingle, basis: ConfBasis): void {
    this.reconfigure(group, { changes: [change], transition: 'auto', basis });
  }

  /**
   * Proposes a change of several voters at once (joint consensus), or, empty, leaving a joint
   * configuration; planned against its basis, as changeMembership.
   */
  reconfigure(group: GroupId, cc: PlannedConfChange): void {
    const g = this.groupOrThrow(group);
    try {
      g.proposeConfChange(cc);
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      throw new UnavailableError(`group ${group} did not accept the membership change now: ${e.reason}`, {
        retrySafe: true,
      });
    } finally {
      this.driver.schedule();
    }
  }

  /** The index of the newest snapshot a hosted group holds (0 when none or not hosted). */
  snapshotIndex(group: GroupId): number {
    return this.hosted(group)?.snapshotIndex ?? 0;
  }

  status(group: GroupId): GroupStatus | undefined {
    return this.hosted(group)?.status();
  }

  statuses(): GroupStatus[] {
    return [...this.groups()].sort((a, b) => a.id - b.id).map((g) => g.status());
  }

  /** Requests (proposals and linearizable reads) waiting on Raft here, against the bound pendingMax. */
  requestsWaiting(): number {
    return this.budget.waiting;
  }

  /** Proposals waiting in every hosted group (queued, or proposed and not yet applied). */
  /** Watch streams served here now (the admin port's ringkv_watches_open). */
  watchesOpen(): number {
    return this.watches.size;
  }

  proposalsPending(): number {
    let n = 0;
    for (const g of this.groups()) n += g.proposalsWaiting();
    return n;
  }

  /** Starts an election in `group` now, without waiting for the election timeout (tests). */
  campaign(group: GroupId): void {
    this.groupOrThrow(group).campaign();
    this.driver.schedule();
  }

  private checkOpen(): void {
    if (this.closing)
      throw new UnavailableError('the node is shutting down; retry on another node', { retrySafe: true });
  }

  // ---- leases (lease/lessor.ts: only the shard's leader keeps their deadlines) ----------------------

  /** The shard as its leader's lessor sees it; undefined unless this replica leads it now. */
  private ledShard(shard: number): LedShard | undefined {
    const g = this.shardGroups.get(shard);
    if (g === undefined || g.role !== 'leader' || this.dropping.has(shard)) return undefined;
    return { term: g.term, ttls: () => g.machine.state.leases.ttls() };
  }

  private leaseLeader(shard: number): LedShard {
    const led = this.ledShard(shard);
    if (led !== undefined) return led;
    throw new UnavailableError(
      `this node does not lead shard ${shard}, whose leader alone keeps its leases' deadlines; nothing was done, retry at the leader`,
      { leaderAddr: this.leaderAddr(shard), retrySafe: true },
    );
  }

  /** Renews lease `index` of `shard` (this node must lead it): its TTL (ms), or undefined when there is no such lease. */
  leaseKeepAlive(shard: number, index: number): number | undefined {
    return this.lessor.keepAlive(shard, this.leaseLeader(shard), index);
  }

  /** Lease `index` of `shard` as its leader (this node) sees it, or undefined when there is no such lease. */
  leaseTimeToLive(
    shard: number,
    index: number,
  ): { ttlMs: number; remainingMs: number; keys: string[] } | undefined {
    const led = this.leaseLeader(shard);
    const remainingMs = this.lessor.remainingMs(shard, led, index);
    const state = this.shardGroup(shardId(shard)).machine.state;
    const ttlMs = state.leases.ttlMs(index);
    if (remainingMs === undefined || ttlMs === undefined) return undefined;
    return { ttlMs, remainingMs, keys: state.leases.keysOf(index) };
  }

  /**
   * Resolves once the shard's snapshot and log entries, asked for while their bytes were on disk (a
   * watch replaying from them), are read back into its log storage (or the read failed).
   */
  readBack(shard: number): Promise<void> {
    const g = this.shardGroups.get(shard);
    return g === undefined ? Promise.resolve() : this.driver.readBack(g.id);
  }

  /** A hosted shard replica as a watch sees it (watch/watches.ts); undefined when not hosted or going. */
  private watchedShard(shard: number): WatchedShard | undefined {
    const g = this.shardGroups.get(shard);
    if (g === undefined || this.dropping.has(shard)) return undefined;
    return {
      watchers: g.machine.watchers,
      applied: () => g.applied,
      snapshotIndex: () => g.storage.snapshotMetadata().index,
      snapshot: () => g.storage.snapshot(),
      entries: (lo, hi) => entriesBetween(g.storage, lo, hi),
    };
  }

  private shardGroup(shard: ShardId): ShardGroup {
    const g = this.shardGroups.get(shard);
    if (g === undefined) throw notHosted(shard);
    return g;
  }

  private groupOrThrow(id: GroupId): Group {
    const g = this.hosted(id);
    if (g === undefined) throw notHosted(id);
    return g;
  }

  // ---- views for the server (routing, waiting for a leader) ---------------------------------------

  /** A live read-only view of a hosted group; UnavailableError (retry-safe) when it is not hosted (yet). */
  group(groupId: number): GroupView {
    const g = this.hosted(groupId);
    if (g === undefined) throw notHosted(groupId);
    return g;
  }

  /** The client address of a group's leader as this node knows it ('' if none). */
  leaderAddr(groupId: number): string {
    const g = this.hosted(groupId);
    if (g === undefined || g.leader === '') return '';
    if (g.leader === this.id) return this.opts.clientAddr;
    return this.metadata.member(g.leader)?.clientAddr ?? '';
  }

  /**
   * Whether the transport reported the group's leader unreachable (a failed connection, a broken
   * stream, its queue full: messages to it were lost) within the last LEADER_UNREACHABLE_MS. A
   * proposal handed to the core now would be forwarded into that loss.
   */
  leaderUnreachable(groupId: number): boolean {
    const g = this.hosted(groupId);
    if (g === undefined || g.leader === NO_NODE || g.leader === this.id) return false;
    const at = this.unreachableAtMs.get(g.leader);
    return at !== undefined && this.clock.nowMs() - at < LEADER_UNREACHABLE_MS;
  }

  /**
   * Whether the shard table this node applied makes this node one of the shard's serving voters
   * (servingVoters), so that its replica may serve requests; true for the metadata group and while no
   * table is known. A learner catching up, a move's source (from the move's start, while another
   * voter stays), a replica the cluster re-created elsewhere while this node could not be reached
   * (stale), and a joiner's replica the table does not record yet all serve nothing: requests go to
   * the serving voters.
   */
  placedHere(groupId: number): boolean {
    const entry = groupId === METADATA_GROUP ? undefined : this.metadata.table.shards[groupId - 1];
    return entry === undefined || servingVoters(entry).includes(this.id);
  }

  /** The shard's epoch in the table this node applied (bumped on every replica change); 0 without one. */
  shardEpoch(groupId: number): number {
    return groupId === METADATA_GROUP ? 0 : (this.metadata.table.shards[groupId - 1]?.epoch ?? 0);
  }

  /**
   * The client addresses of the shard's serving voters (servingVoters), this node excluded (a
   * request for a shard not served here goes to one of them).
   */
  replicaAddrs(groupId: number): string[] {
    const entry = this.metadata.table.shards[groupId - 1];
    if (entry === undefined || groupId === METADATA_GROUP) return [];
    const out: string[] = [];
    for (const v of servingVoters(entry)) {
      const addr = v === this.opts.nodeId ? undefined : this.metadata.member(v)?.clientAddr;
      if (addr !== undefined && addr !== '') out.push(addr);
    }
    return out;
  }

  /** Resolves once `cond()` holds (checked after every driver turn and every 50 ms) or rejects at the deadline. */
  waitFor(cond: () => boolean, deadlineMs: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (cond()) finish(undefined);
        else if (this.closing) finish(new UnavailableError('the node is shutting down', { retrySafe: true }));
        else if (this.clock.nowMs() >= deadlineMs)
          finish(new UnavailableError(`timed out waiting for ${what}`, { retrySafe: true }));
      };
      const timer = this.clock.every(50, check);
      const finish = (err: Error | undefined): void => {
        this.clock.cancel(timer);
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
    if (this.tickTimer !== undefined) this.clock.cancel(this.tickTimer);
    this.balancer.stop();
    this.rebalancer.stop();
    this.lessor.stop();
    this.removalWatch.stop();
    this.diskAlarm?.stop();
    const err = new UnavailableError('the node is shutting down; retry on another node');
    this.watches.close();
    if (this.driver !== undefined) {
      for (const g of this.groups()) g.failAll(err);
      await this.driver.stop();
    }
    await this.opts.transport.close();
    if (this.wal !== undefined) await this.wal.close();
    this.logger.info({ nodeId: this.opts.nodeId }, 'stopped');
  }
}

/** A group's recovered state is a tombstone: an empty snapshot of term 0 (dropShard wrote it), no entries after. */
function isTombstone(rec: RecoveredGroup | undefined): boolean {
  const snap = rec?.snapshot;
  return snap !== undefined && snap.index > 0 && snap.term === 0 && rec?.entries.length === 0;
}

/**
 * Every entry of [lo, hi) from the log storage, in as many reads as its size limits take. Throws as
 * MemoryStorage.entries does (EntriesTemporarilyUnavailableError while released ones are read back).
 */
function entriesBetween(storage: MemoryStorage, lo: number, hi: number): Entry[] {
  const out: Entry[] = [];
  // Bounded: each read returns at least one entry of the range.
  for (let at = lo; at < hi; ) {
    const got = storage.entries(index(at), index(hi), Number.POSITIVE_INFINITY);
    for (const e of got) out.push(e);
    at += got.length;
  }
  return out;
}

function notHosted(groupId: number): UnavailableError {
  return new UnavailableError(`this node does not host group ${groupId} yet (it may still be joining)`, {
    retrySafe: true,
  });
}
