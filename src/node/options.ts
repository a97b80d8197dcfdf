// Everything a node is configured with. Defaults live here so that the CLI, the tests and the
// README agree on them.

import type { Logger } from 'pino';
import type { PlantedBug } from '../raft/index.ts';
import {
  DEAD_NODE_TIMEOUT_MS_DEFAULT,
  DEAD_NODE_TIMEOUT_MS_MAX,
  DEAD_NODE_TIMEOUT_MS_MIN,
} from '../ring/shard-table.ts';
import type { FileSystem } from '../storage/file-system.ts';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import type { Clock } from './clock.ts';
import {
  DEFAULT_LEADER_PLACEMENT,
  DEFAULT_REPLICATION_FACTOR,
  type LeaderPlacement,
  type MemberInfo,
} from './metadata.ts';
import { NO_METRICS, type NodeMetrics } from './metrics.ts';
import type { PeerTransport } from './peer-transport.ts';
import type { Random } from './random.ts';
import { SYSTEM_CLOCK, SYSTEM_RANDOM } from './system.ts';

/** The bounds of a dead-node timeout (the shard table's), for the CLI's check of `--dead_node_timeout`. */
export { DEAD_NODE_TIMEOUT_MS_MAX, DEAD_NODE_TIMEOUT_MS_MIN };

/** Calls the node makes to other nodes' client ports (implemented with gRPC by src/server). */
export interface ClusterRpc {
  /** ClusterService.Join on `addr`. */
  join(
    addr: string,
    member: MemberInfo,
    deadlineMs: number,
  ): Promise<{ clusterId: string; members: MemberInfo[] }>;
  /**
   * ClusterService.Status on `addr`: who answers (node id, and cluster id: '' while it knows none),
   * its members and the applied index of each of its groups.
   */
  status(addr: string, deadlineMs: number): Promise<PeerStatus>;
}

export interface PeerStatus {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly members: MemberInfo[];
  readonly applied: Map<number, number>;
  /** The metadata group as that node sees it (its configuration, leader, commit and applied index). */
  readonly metadataGroup: {
    readonly leader: string;
    readonly voters: readonly string[];
    readonly learners: readonly string[];
    readonly votersOutgoing: readonly string[];
    readonly commit: number;
    readonly applied: number;
  };
}

export interface NodeOptions {
  readonly nodeId: string;
  readonly raftDir: string;
  /** Advertised host:port of the client (gRPC) port. */
  readonly clientAddr: string;
  /** Advertised host:port of the peer (Raft) port. */
  readonly raftAddr: string;
  readonly bootstrap: boolean;
  readonly joinAddr: string | undefined;
  /**
   * UNSAFE, for proving that the checkers catch it (`ringkv chaos --planted-bug`): linearizable reads
   * are served from the local state without a ReadIndex round, so a deposed leader answers stale.
   */
  readonly unsafeNoReadIndex?: boolean;
  /** With joinAddr: how long joining may take (unreachable cluster, refusals that may pass) before it gives up. */
  readonly joinTimeoutMs?: number;
  readonly transport: PeerTransport;
  readonly cluster: ClusterRpc;
  readonly logger: Logger;
  /** Time and timers (default: the system clock). Every deadlineMs handed to the node is on its scale. */
  readonly clock?: Clock;
  /** Randomness: election timeouts, request ids, a new cluster's id (default: Math.random). */
  readonly random?: Random;
  /** Where the driver reports WAL syncs, snapshots, applies, leader changes, failed proposals (default: nowhere). */
  readonly metrics?: NodeMetrics;
  readonly shardCount?: number;
  readonly maxKeyBytes?: number;
  readonly maxValueBytes?: number;
  readonly requestTimeoutMs?: number;
  readonly pendingMax?: number;
  readonly tickMs?: number;
  readonly electionTick?: number;
  readonly heartbeatTick?: number;
  /**
   * Bytes of entries one append to a peer carries at most (each group core's maxSizePerMsgBytes); one
   * entry always goes, however large. The simulator draws 1 (one entry per append) in some seeds.
   */
  readonly appendBytesMax?: number;
  readonly snapshotEveryEntries?: number;
  readonly retainEntries?: number;
  /**
   * Applied entries whose bytes each group keeps in memory behind its last index; older ones stay in
   * the WAL only (until a snapshot covers them) and are read back for a follower that lags further.
   */
  readonly entriesInMemory?: number;
  readonly walSegmentBytes?: number;
  /**
   * Every file the node keeps (WAL, snapshots, identity) goes through it (default: the disk). Tests pass
   * a gate that can hold WAL writes (testing/wal-gate.ts), a simulator its own disk.
   */
  readonly fileSystem?: FileSystem;
  /** WAL segments kept before the groups pinning the oldest one are snapshotted to release it. */
  readonly walSegmentsKept?: number;
  /** How often each node moves shard leaderships it holds towards the placement's goal (0: never). */
  readonly balanceIntervalMs?: number;
  /** The placement of a new cluster (only with bootstrap; later: ClusterService.SetLeaderPlacement). */
  readonly leaderPlacement?: LeaderPlacement;
  /** Voters per data shard of a new cluster (only with bootstrap): R. */
  readonly replicationFactor?: number;
  /**
   * A new cluster's dead-node timeout (only with bootstrap): a member the metadata leader has not
   * heard from for this long is marked down and its replicas are re-created on the others.
   */
  readonly deadNodeTimeoutMs?: number;
  /** This node's failure domain, recorded when it bootstraps or joins ('' for none). */
  readonly zone?: string;
  /** How often the metadata leader's rebalancer looks at the shard table and the shards (0: never). */
  readonly rebalanceIntervalMs?: number;
  /**
   * UNSAFE, for the simulator only (src/sim/real): mistakes planted in the node to prove its checks
   * find them. scripts/check-layers.ts allows the name only here, in node.ts and driver.ts (and in
   * src/raft and src/sim), so no server or CLI code can switch one on.
   */
  readonly plantedBugs?: readonly NodePlantedBug[];
}

/**
 * - `ackBeforeSync`: the driver sends every message of a turn before the WAL sync (append
 *   acknowledgements and votes included), so a crash loses what the node vouched for.
 * - `forgetVoteOnRestart`: a restart recovers each group's term and commit but not its vote, so the
 *   node may vote twice in one term.
 * - `applyBeforeDurable`: the driver applies committed entries of a turn's Ready while the WAL sync
 *   that makes them durable here is still running, so a follower applies past its durable log.
 * - `skipCrcOnReplay`: the WAL replays its records without verifying their checksums, so the node
 *   starts on a record the disk damaged instead of refusing to.
 * - `forwardedWriteTwice`: a write proposed on a node that does not lead the shard (the core forwards
 *   it to the leader) is proposed again a retry interval later as a new command (a new request id),
 *   without asking whether the first proposal took effect: the write is applied twice.
 * - `applyDuplicates`: a data shard's state applies every command, also a copy of one it applied
 *   before (its proposer sessions are not obeyed), so a write proposed again as a copy (the group
 *   does so when a forwarded copy may have been lost) or delivered twice is applied twice.
 * - the core's own (src/raft/config.ts `PlantedBug`): handed to every group's core (`Config.plantedBugs`).
 */
export type NodePlantedBug =
  | 'ackBeforeSync'
  | 'forgetVoteOnRestart'
  | 'applyBeforeDurable'
  | 'skipCrcOnReplay'
  | 'forwardedWriteTwice'
  | 'applyDuplicates'
  | PlantedBug;

/** Every bug of the core (a Record, so that the compiler names one added there and missing here). */
const CORE_PLANTED_BUGS: Readonly<Record<PlantedBug, true>> = {
  commitPreviousTermByCount: true,
  voteTwiceInTerm: true,
  skipLogUpToDateCheck: true,
  countOwnAppendEarly: true,
};

/** The planted bugs that live in the core, not in the node: what each group's core is configured with. */
export function corePlantedBugs(bugs: readonly NodePlantedBug[]): ReadonlySet<PlantedBug> {
  return new Set(bugs.filter((b): b is PlantedBug => Object.hasOwn(CORE_PLANTED_BUGS, b)));
}

export const DEFAULTS = {
  shardCount: 8,
  maxKeyBytes: 4096,
  maxValueBytes: 1024 * 1024,
  requestTimeoutMs: 5000,
  pendingMax: 10_000,
  // 100 ms ticks, elections after 1–2 s of silence, heartbeats every tick: a new leader
  // within about 2.5 s of a leader's death (election timeout + one pre-vote and vote round).
  tickMs: 100,
  electionTick: 10,
  heartbeatTick: 1,
  appendBytesMax: 1024 * 1024,
  snapshotEveryEntries: 10_000,
  retainEntries: 1000,
  entriesInMemory: 1000,
  walSegmentBytes: 64 * 1024 * 1024,
  joinTimeoutMs: 300_000,
  unsafeNoReadIndex: false,
  // With 64 MiB segments the WAL stays near 4 + 1 segments (the one being written, and the next one
  // prepared in advance): about 320 MiB on disk.
  walSegmentsKept: 4,
  balanceIntervalMs: 3000,
  leaderPlacement: DEFAULT_LEADER_PLACEMENT,
  replicationFactor: DEFAULT_REPLICATION_FACTOR,
  deadNodeTimeoutMs: DEAD_NODE_TIMEOUT_MS_DEFAULT,
  zone: '',
  rebalanceIntervalMs: 500,
} as const;

export type ResolvedNodeOptions = Required<Omit<NodeOptions, 'joinAddr'>> & {
  readonly joinAddr: string | undefined;
};

export function resolveOptions(o: NodeOptions): ResolvedNodeOptions {
  const r: ResolvedNodeOptions = {
    ...o,
    shardCount: o.shardCount ?? DEFAULTS.shardCount,
    maxKeyBytes: o.maxKeyBytes ?? DEFAULTS.maxKeyBytes,
    maxValueBytes: o.maxValueBytes ?? DEFAULTS.maxValueBytes,
    requestTimeoutMs: o.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    pendingMax: o.pendingMax ?? DEFAULTS.pendingMax,
    tickMs: o.tickMs ?? DEFAULTS.tickMs,
    electionTick: o.electionTick ?? DEFAULTS.electionTick,
    heartbeatTick: o.heartbeatTick ?? DEFAULTS.heartbeatTick,
    appendBytesMax: o.appendBytesMax ?? DEFAULTS.appendBytesMax,
    snapshotEveryEntries: o.snapshotEveryEntries ?? DEFAULTS.snapshotEveryEntries,
    retainEntries: o.retainEntries ?? DEFAULTS.retainEntries,
    entriesInMemory: o.entriesInMemory ?? DEFAULTS.entriesInMemory,
    walSegmentBytes: o.walSegmentBytes ?? DEFAULTS.walSegmentBytes,
    joinTimeoutMs: o.joinTimeoutMs ?? DEFAULTS.joinTimeoutMs,
    unsafeNoReadIndex: o.unsafeNoReadIndex ?? DEFAULTS.unsafeNoReadIndex,
    fileSystem: o.fileSystem ?? REAL_FILE_SYSTEM,
    clock: o.clock ?? SYSTEM_CLOCK,
    random: o.random ?? SYSTEM_RANDOM,
    metrics: o.metrics ?? NO_METRICS,
    walSegmentsKept: o.walSegmentsKept ?? DEFAULTS.walSegmentsKept,
    balanceIntervalMs: o.balanceIntervalMs ?? DEFAULTS.balanceIntervalMs,
    leaderPlacement: o.leaderPlacement ?? DEFAULTS.leaderPlacement,
    replicationFactor: o.replicationFactor ?? DEFAULTS.replicationFactor,
    deadNodeTimeoutMs: o.deadNodeTimeoutMs ?? DEFAULTS.deadNodeTimeoutMs,
    zone: o.zone ?? DEFAULTS.zone,
    rebalanceIntervalMs: o.rebalanceIntervalMs ?? DEFAULTS.rebalanceIntervalMs,
    plantedBugs: o.plantedBugs ?? [],
  };
  if (r.nodeId === '' || r.nodeId.includes('/'))
    throw new Error(`node id '${r.nodeId}' must be non-empty without '/'`);
  if (!Number.isInteger(r.walSegmentsKept) || r.walSegmentsKept < 2) {
    throw new Error(`WAL segments kept ${r.walSegmentsKept} must be an integer of at least 2`);
  }
  if (!Number.isInteger(r.replicationFactor) || r.replicationFactor < 1 || r.replicationFactor > 7) {
    throw new Error(`replication factor ${r.replicationFactor} must be an integer in [1, 7]`);
  }
  if (
    !Number.isInteger(r.deadNodeTimeoutMs) ||
    r.deadNodeTimeoutMs < DEAD_NODE_TIMEOUT_MS_MIN ||
    r.deadNodeTimeoutMs > DEAD_NODE_TIMEOUT_MS_MAX
  ) {
    throw new Error(
      `dead-node timeout ${r.deadNodeTimeoutMs} ms must be an integer in [${DEAD_NODE_TIMEOUT_MS_MIN}, ${DEAD_NODE_TIMEOUT_MS_MAX}]`,
    );
  }
  if (!Number.isInteger(r.shardCount) || r.shardCount < 1 || r.shardCount > 1024) {
    throw new Error(`shard count ${r.shardCount} must be an integer in [1, 1024]`);
  }
  return r;
}
