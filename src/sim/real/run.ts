// One seed of the real-node simulator, start to finish: form a cluster the way users do (n1
// bootstraps, n2 and n3 join it), run clients against it under faults with the safety checks after
// every event (with more machines than R = 3, the others join during the faults, through any member,
// and the rebalancer moves their share of the replicas to them), heal and restart everything, then
// check liveness (a leader everywhere, the shard table settled: no move in flight or wanted, every
// member hosting exactly the shards the table places on it, every key readable), convergence (every
// replica of a shard at the same applied index with the same state), that no acknowledged write was
// lost, and that the client history is linearizable.
import { checkOperations, formatViolation, kvModel } from '../../lincheck/index.ts';
import { METADATA_GROUP, shardId } from '../../node/ids.ts';
import { plan } from '../../ring/rebalance.ts';
import { hashBytes } from '../hash.ts';
import { Prng } from '../prng.ts';
import { type RealBugName, realBug } from './bugs.ts';
import { NodeChecks } from './checks.ts';
import { type AckedWrite, SimClients } from './clients.ts';
import { corruptOneWal } from './corruption.ts';
import { type DiskFaultKind, Nemesis } from './nemesis.ts';
import type { Incarnation, Machine } from './node-slot.ts';
import { Operator } from './operator.ts';
import { AimedFault, type AimedHit, type TargetedFault } from './targeted.ts';
import { REAL_PROPERTY_EXPLANATIONS, type RealProperty, RealViolation } from './violation.ts';
import { World } from './world.ts';

/** entriesInMemory beyond any log of a run: applied entries stay in memory until a snapshot covers them. */
const ENTRIES_NEVER_LET_GO = 1_000_000_000;

export interface RealRunOptions {
  /** With 5 nodes, whether a member leaves during the faults (default true; false replays runs from before the leave existed). */
  readonly leave?: boolean;
  /**
   * Whether the nodes send one entry per append (appendBytesMax 1): drawn per seed when undefined (a
   * third of the seeds); false replays the runs from before appends were ever cut so.
   */
  readonly oneEntryAppends?: boolean;
  /**
   * Whether the nodes let go of applied entries a few behind the last index (entriesInMemory 2 or 20)
   * and read them back from the WAL for a lagging follower: drawn per seed when undefined (half the
   * seeds); false replays the runs from before entries were ever let go (they stay until a snapshot).
   */
  readonly entriesReadBack?: boolean;
  /** Machines: 3 (every machine holds every shard), or 4 or 5 (R = 3 of N: the rebalancer moves replicas). */
  readonly nodes?: number;
  /** Keep every trace line. */
  readonly trace?: boolean;
  /** Virtual ms of the fault phase (default 20 s). */
  readonly faultMs?: number;
  readonly bug?: RealBugName;
  /**
   * Half the seeds tear unsynced writes by sectors, in any order, as a disk may (beyond the prefix the
   * FileSystem contract promises), instead of as a prefix. Off by default: the WAL then reports a torn
   * last write as corruption and the node does not start (a known limitation, src/storage/README.md).
   */
  readonly sectorTearing?: boolean;
  /**
   * The disk faults beyond EIO on a WAL write (latency spikes, ENOSPC, EIO on syncs and snapshots, a
   * full disk) and, after the end checks, a damaged WAL record the node must refuse to start on
   * (default true; false replays runs from before they existed).
   */
  readonly moreDiskFaults?: boolean;
  /**
   * The network faults beyond the first ones: loss up to 30 % (not 15 %) and windows in which a share
   * of the messages skip their link's order (default true; false replays runs from before them).
   */
  readonly moreNetworkFaults?: boolean;
  /**
   * Leadership transfers during the faults: a leader hands a group to another voter, every 1–4 s
   * (default true; false replays runs from before them).
   */
  readonly leaderTransfers?: boolean;
  /**
   * In a third of the seeds, a WAL record damaged during the faults: the node must refuse to start,
   * and the machine stays down to the end (default true; false replays runs from before it).
   */
  readonly walDamageUnderFaults?: boolean;
  /**
   * With more machines than FORMED: every machine starts at once at formation, as `ringkv chaos`
   * starts them (the joiners race each other's admissions), instead of the joiners starting one by
   * one during the faults. Undefined: drawn per seed (a third of them); false replays the runs from
   * before the draw.
   */
  readonly joinTogether?: boolean;
  /**
   * Instead of the random nemesis (its crashes, partitions, network conditions, disk faults and
   * damaged WAL): one fault aimed at one step of a replica move (targeted.ts), for machine counts
   * above R. The fault phase lasts at least `faultMs` and until the fault has struck and been
   * repaired (at most AIMED_WAIT_MS_MAX more).
   */
  readonly targeted?: TargetedFault;
}

export interface RealViolationReport {
  readonly property: RealProperty;
  readonly explanation: string;
  readonly detail: string;
  readonly atMs: number;
  readonly phase: Phase;
  readonly excerpt: readonly string[];
  readonly report: readonly string[];
}

export interface RealRunStats {
  readonly virtualMs: number;
  readonly events: number;
  readonly traceLines: number;
  readonly leadersElected: number;
  readonly maxTerm: number;
  readonly opsCompleted: number;
  readonly opsIndeterminate: number;
  readonly crashes: number;
  readonly crashesMidWrite: number;
  readonly partitions: number;
  readonly pauses: number;
  readonly diskFaults: number;
  /** The other disk faults injected, by kind. */
  readonly moreDiskFaults: Readonly<Record<DiskFaultKind, number>>;
  /** A WAL record damaged (during the faults or after the end checks) and the node refused to start on it. */
  readonly walCorrupted: boolean;
  /** WAL records damaged during the faults. */
  readonly walDamagesUnderFaults: number;
  /** Leadership transfers the nemesis asked of a leader. */
  readonly leaderTransfers: number;
  /** The highest loss rate of the network's windows, and how many of them reordered messages. */
  readonly lossRateMax: number;
  readonly reorderWindows: number;
  /** Messages that skipped their link's order. */
  readonly messagesReordered: number;
  readonly restartsChecked: number;
  readonly messagesSent: number;
  /** Replica moves begun (the table's move ids seen), and those of them rolled back. */
  readonly moves: number;
  /** Of them, begun before the faults ended. */
  readonly movesUnderFaults: number;
  readonly movesRolledBack: number;
  /**
   * Client requests a node's KVService handler forwarded to another node by a call, always to a
   * voter of the shard: by a node holding no replica the table places there (opsPassedOn), or by one
   * the table places a replica on that does not host it (yet, or any more).
   */
  readonly opsForwarded: number;
  /** Of those, requests at a node holding no replica of the shard the table places there, passed on to a voter. */
  readonly opsPassedOn: number;
  /** Proposal messages of data shards a follower's core sent its leader (writes served by followers, and their copies). */
  readonly propsInRaft: number;
  /** ReadIndex requests of data shards a follower's core sent its leader (linearizable reads served by followers). */
  readonly readIndexInRaft: number;
  /** Members that left (asked to by the operator, drained, removed, stopped). */
  readonly leaves: number;
  readonly lincheck: string;
}

export interface RealSeedResult {
  readonly seed: number;
  readonly nodes: number;
  readonly bug: RealBugName | undefined;
  readonly violations: readonly RealViolationReport[];
  readonly traceHash: string;
  readonly traceLines: readonly string[] | undefined;
  readonly stats: RealRunStats;
  /** With `targeted`: what the aimed fault hit, or undefined when the aimed step was never reached. */
  readonly aimedHit: AimedHit | undefined;
}

type Phase = 'formation' | 'fault' | 'liveness' | 'history';

/** The machine counts a run may have; the first FORMED form the cluster, the others join during the faults. */
export const REAL_NODE_COUNTS: readonly number[] = [3, 4, 5];
const FORMED = 3;

/**
 * The machine count a seed draws when none is asked for (`ringkv sim` without --nodes): each count in
 * a third of the seeds, from a stream of its own, so that a seed run with the count it draws is the
 * run of that seed with that count asked for.
 */
export function nodesOfSeed(seed: number): number {
  return new Prng(seed).derive('real-nodes').pick(REAL_NODE_COUNTS);
}
/** Data shards: 2 where every machine holds every shard; more with R of N, so each joiner gets a share. */
const shardsFor = (nodes: number): number => (nodes === FORMED ? 2 : 4);
const FAULT_MS_DEFAULT = 20_000;
const FORMATION_BOUND_MS = 60_000;
const JOIN_TIMEOUT_MS = 180_000;
const LIVENESS_BOUND_MS = 30_000;
/**
 * After healing, how long the shard table may take to settle: the moves in flight finish (or one
 * stalled by the faults rolls back after its 60 s step timeout, waits out its backoff and is tried
 * again).
 */
const SETTLE_BOUND_MS = 150_000;
const OP_TIMEOUT_MS = 2_000;
/** Of the seeds, the share whose faults damage a WAL record. */
const WAL_DAMAGE_SEEDS_SHARE = 1 / 3;
/**
 * The dead-node timeout of a seed of more than 3 machines whose faults damage a WAL: the dead member
 * is marked down during the run. (Longer than most of the nemesis's outages of a machine that runs,
 * though a partition may outlast it: that member is marked down too, then up again.)
 */
const DAMAGED_DEAD_NODE_TIMEOUT_MS = 10_000;
/** Loss rate windows reach with moreNetworkFaults, and without (the runs from before). */
const LOSS_RATE_MAX = 0.3;
const LOSS_RATE_MAX_BEFORE = 0.15;
/** How long past `faultMs` the fault phase waits for an aimed fault to strike and be repaired. */
const AIMED_WAIT_MS_MAX = 60_000;
/** Lincheck budget per key, in calls of its injected clock (a counter: deterministic). */
const LINCHECK_CLOCK_CALLS_MAX = 3_000;

class RealRun {
  readonly nodes: number;
  readonly faultMs: number;
  /** Replica moves begun by the end of the fault phase. */
  movesUnderFaults = 0;
  readonly shards: number;
  /** When each machine past the first FORMED starts (ms into the fault phase), in order. */
  private readonly joinAtMs: readonly number[];
  /** Every machine starts at formation (RealRunOptions.joinTogether). */
  readonly joinTogether: boolean;
  /** With 5 machines: when (ms into the fault phase) the operator may ask one member to leave, and which. */
  private readonly leaveAtMs: number | undefined;
  private readonly leaver: number;
  readonly operator: Operator;
  readonly world: World;
  readonly checks: NodeChecks;
  readonly clients: SimClients;
  readonly nemesis: Nemesis;
  /** The aimed fault that replaces the nemesis, if one is asked for. */
  readonly aimed: AimedFault | undefined;
  phase: Phase = 'formation';

  constructor(seed: number, o: RealRunOptions) {
    const nodes = o.nodes ?? FORMED;
    if (!REAL_NODE_COUNTS.includes(nodes))
      throw new Error(`sim: ${nodes} nodes; the real node runs 3, 4 or 5`);
    this.nodes = nodes;
    this.shards = shardsFor(nodes);
    const faultMs = faultMsOf(o);
    this.faultMs = faultMs;
    const settings = new Prng(seed).derive('real-settings');
    // One entry per append: a new leader sends the old entries a follower lacks one by one, ahead of
    // its no-op, so that quorums of old entries form without one of its term (what a leader must not
    // count: Raft §5.4.2). Drawn apart, so that every other draw of the seed stays what it was.
    const oneEntryAppends = o.oneEntryAppends ?? new Prng(seed).derive('real-appends').chance(1 / 3);
    // Drawn apart too, both draws in every seed (so that the option changes nothing else).
    const readBack = new Prng(seed).derive('real-entries-read-back');
    const readBackDrawn = readBack.chance(1 / 2);
    const fewInMemory = readBack.pick([2, 20]);
    const entriesInMemory = (o.entriesReadBack ?? readBackDrawn) ? fewInMemory : ENTRIES_NEVER_LET_GO;
    // Drawn apart from the settings, so that a 3-node seed is the run it was before joiners existed.
    const joiners = new Prng(seed).derive('real-joiners');
    // The first joiner in the first third of the faults (its share moves under them), the next one
    // in the middle third. (Changing these windows changes every seed of 4 and 5 nodes: the seeds in
    // regressions.test.ts would no longer replay the runs that found their bugs.)
    this.joinAtMs = Array.from({ length: nodes - FORMED }, (_, i) =>
      joiners.intBetween(Math.floor((i * faultMs) / 3), Math.floor(((i + 1) * faultMs) / 3)),
    );
    // Drawn apart, so that every other draw of the seed stays what it was.
    this.joinTogether =
      nodes > FORMED && (o.joinTogether ?? new Prng(seed).derive('real-join-together').chance(1 / 3));
    const joinVia = Array.from({ length: nodes - 1 }, (_, i) =>
      i + 2 <= FORMED ? 1 : joiners.intBetween(1, FORMED),
    );
    // With 5 machines one member leaves once every machine has joined, from the middle of the faults
    // (drawn after everything else, so that the runs before the leave are those of the seed without it).
    const leaves = nodes === 5 && o.leave !== false;
    this.leaveAtMs = leaves
      ? joiners.intBetween(Math.floor(faultMs / 2), Math.floor((3 * faultMs) / 4))
      : undefined;
    this.leaver = leaves ? joiners.intBetween(1, nodes) : 0;
    const walDamage = walDamageOf(seed, faultMs, o);
    this.world = new World({
      seed,
      nodes,
      joinVia,
      node: {
        shardCount: this.shards,
        tickMs: 100,
        electionTick: 10,
        heartbeatTick: 1,
        requestTimeoutMs: OP_TIMEOUT_MS,
        snapshotEveryEntries: settings.pick([20, 100, 1000]),
        retainEntries: settings.pick([5, 50]),
        entriesInMemory,
        walSegmentBytes: 64 * 1024,
        walSegmentsKept: settings.intBetween(2, 4),
        balanceIntervalMs: settings.pick([0, 3000]),
        // Past one Join attempt's own deadline (60 s), so that an attempt whose answer the faults
        // lost is followed by another, as `ringkv serve`'s default (5 min) allows.
        joinTimeoutMs: JOIN_TIMEOUT_MS,
        // With more machines than R, a member whose WAL was damaged is marked down within the run
        // (not after the default 5 min), and its replicas are re-created on the others.
        ...(walDamage !== undefined && nodes > FORMED
          ? { deadNodeTimeoutMs: DAMAGED_DEAD_NODE_TIMEOUT_MS }
          : {}),
        ...(oneEntryAppends ? { appendBytesMax: 1 } : {}),
        ...(o.bug === undefined ? {} : realBug(o.bug).options),
      },
      diskLatency: { minMs: 0, maxMs: settings.intBetween(1, 5) },
      diskCapacityBytes: 256 * 1024 * 1024,
      // Drawn in every seed, so that the option changes nothing else of the run.
      diskTearing: settings.chance(0.5) && o.sectorTearing === true ? 'sectors' : 'prefix',
      keepTrace: o.trace ?? false,
    });
    this.checks = new NodeChecks(this.world);
    this.clients = new SimClients(this.world, this.world.stream('clients'), {
      clients: 3,
      keys: nodes === FORMED ? 3 : 6,
      opTimeoutMs: OP_TIMEOUT_MS,
      thinkMaxMs: 200,
      opsMax: 2_000,
    });
    if (o.targeted !== undefined && nodes === FORMED)
      throw new Error(`sim: a fault aimed at a move needs more than ${FORMED} nodes (moves)`);
    this.aimed =
      o.targeted === undefined
        ? undefined
        : new AimedFault(
            this.world,
            (inc) => this.checks.crashed(inc),
            this.world.stream('targeted'),
            o.targeted,
          );
    this.operator = new Operator(this.world, this.world.stream('operator'));
    this.nemesis = new Nemesis(this.world, this.checks, this.world.stream('nemesis'), {
      everyMinMs: 500,
      everyMaxMs: 3_000,
      downMinMs: 300,
      downMaxMs: 4_000,
      crashes: true,
      moreDownChance: 0.3,
      crashMidWriteChance: 0.5,
      partitions: true,
      pauses: true,
      diskFaults: true,
      moreDiskFaults:
        o.moreDiskFaults === false
          ? undefined
          : { rng: this.world.stream('disk-nemesis'), everyMinMs: 1_500, everyMaxMs: 5_000 },
      pauseMinMs: 500,
      pauseMaxMs: 5_000,
      lossRateMax: o.moreNetworkFaults === false ? LOSS_RATE_MAX_BEFORE : LOSS_RATE_MAX,
      reordering: o.moreNetworkFaults === false ? undefined : this.world.stream('reordering'),
      leaderTransfers:
        o.leaderTransfers === false
          ? undefined
          : { rng: this.world.stream('transfer-nemesis'), everyMinMs: 1_000, everyMaxMs: 4_000 },
      walDamage:
        walDamage === undefined
          ? undefined
          : { ...walDamage, spared: this.leaver > 0 ? [`n${this.leaver}`] : [] },
    });
  }

  /** The first FORMED machines. */
  private get founders(): readonly Machine[] {
    return this.world.machines.slice(0, FORMED);
  }

  /**
   * The founders joined, and each of them sees each group with every founder as a voter. Joining
   * together, every machine joined (the later ones need not be voters of every shard: the rebalancer
   * places them).
   */
  formed(): boolean {
    if (this.joinTogether) return this.world.machines.every((m) => m.running?.joined === true);
    const ids = this.founders.map((m) => m.id);
    return this.founders.every((m) => {
      const inc = m.running;
      if (inc === undefined || !inc.joined) return false;
      const sts = inc.kv.statuses();
      return (
        sts.length === this.shards + 1 && sts.every((s) => ids.every((id) => s.confState.voters.includes(id)))
      );
    });
  }

  /** Every machine runs and knows a leader of every group. */
  led(): boolean {
    return this.leaderless() === undefined;
  }

  /**
   * A machine that does not run, or a group it is a voter of without knowing a leader; undefined when
   * none. (A replica still to be added, or one moved away and not yet deleted, knows none; and a
   * joiner may still be joining: one Join attempt waits up to 60 s when the metadata leader admitting
   * it is cut off. The settling of the table waits for those.)
   */
  private leaderless(): string | undefined {
    for (const m of this.serving) {
      const inc = m.running;
      if (inc === undefined) return `${m.id} is not running`;
      const st = inc.kv.statuses().find((s) => s.leader === '' && s.confState.voters.includes(m.id));
      if (st !== undefined)
        return `${m.id} knows no leader of group ${st.id} (voters ${st.confState.voters.join(',')}, learners ${st.confState.learners.join(',')}, applied ${st.applied})`;
    }
    return undefined;
  }

  /**
   * Why the shard table has not settled, or undefined when it has: every machine that serves runs, has
   * joined and applied the same table; in it every machine that stays is an up member (but one whose
   * WAL was damaged: with more machines than R it is down and in no shard, else up, as its dead-node
   * timeout has not passed), every shard has min(R, N) voters,
   * no learner, no joint half and no move in flight, and the planner wants no move (`plan`, as the
   * metadata leader runs it); every machine hosts exactly the shards the table places on it, each
   * with a leader and with the table's voters as its applied configuration (the metadata group:
   * every member). The simulator's form of src/cli/chaos/settled.ts, from the nodes' state.
   */
  unsettled(): string | undefined {
    const gone = this.operator.leaving;
    if (gone !== undefined && !gone.left)
      return `${gone.id} was asked to leave and has not stopped (the leave ${this.operator.done ? 'succeeded' : 'goes on'})`;
    const incs: Incarnation[] = [];
    for (const m of this.serving) {
      const inc = m.running;
      if (inc?.joined !== true) return `${m.id} is not running and joined`;
      incs.push(inc);
    }
    const ids = this.staying.map((m) => m.id as string);
    const metaApplied = incs.map((inc) => inc.kv.status(METADATA_GROUP));
    if (new Set(metaApplied.map((st) => st?.applied)).size > 1) {
      const each = metaApplied.map(
        (st, i) =>
          `${incs[i]?.machine.id} ${st?.applied}/${st?.commit} (voters ${st?.confState.voters.join(',')}, leader ${st?.leader})`,
      );
      return `the machines applied the metadata group to different indexes: ${each.join('; ')}`;
    }
    const table = incs[0]?.kv.metadata.table;
    if (table === undefined || table.shards.length === 0) return 'no shard table yet';
    const members = table.members.filter((m) => m.state !== 'removed');
    const R = table.settings.replicationFactor;
    // A dead member (its WAL damaged) is replaced where the others are enough to hold R replicas of
    // every shard: marked down, in no shard. Otherwise it stays, up, a voter of every shard.
    const dead = this.staying.filter((m) => m.corruptedWal !== undefined).map((m) => m.id as string);
    const replaced = dead.length > 0 && ids.length - dead.length >= R;
    const stateWanted = (id: string): string => (replaced && dead.includes(id) ? 'down' : 'up');
    if (
      members.length !== ids.length ||
      members.some((m) => !ids.includes(m.nodeId) || m.state !== stateWanted(m.nodeId))
    )
      return `members ${members.map((m) => `${m.nodeId} ${m.state}`).join(', ')}`;
    const want = Math.min(R, ids.length);
    for (const e of table.shards) {
      if (e.move !== null) return `shard ${e.shardId} has move ${e.move.id} in flight (${e.move.step})`;
      if (e.voters.length !== want || e.learners.length > 0 || e.votersOutgoing.length > 0)
        return `shard ${e.shardId} has voters ${e.voters.join(',')} and learners ${e.learners.join(',')} in the table`;
      if (replaced && e.voters.some((v) => dead.includes(v)))
        return `shard ${e.shardId} has voters ${e.voters.join(',')}: the dead member's replica not re-created`;
    }
    const p = plan(table, { nowMs: this.world.nowMs(), leaders: new Map() });
    if (p.start.length + p.deferred.length + p.abandon.length > 0)
      return `the planner wants ${p.start.length + p.deferred.length} move(s) and to abandon ${p.abandon.length}`;
    for (const inc of incs) {
      const id = inc.machine.id;
      for (const e of table.shards) {
        const placed = e.voters.includes(id);
        if (placed !== (inc.kv.status(shardId(e.shardId)) !== undefined))
          return `${id} ${placed ? 'does not host' : 'still hosts'} shard ${e.shardId}`;
      }
      for (const st of inc.kv.statuses()) {
        const cs = st.confState;
        const voters = st.id === METADATA_GROUP ? ids : (table.shards[st.id - 1]?.voters ?? []);
        if (st.leader === '') return `${id}: group ${st.id} has no leader`;
        if (cs.learners.length > 0 || cs.votersOutgoing.length > 0 || !sameSet(cs.voters, voters))
          return `${id}: group ${st.id} applied voters ${cs.voters.join(',')} (learners ${cs.learners.join(',')}), the table ${voters.join(',')}`;
      }
    }
    return undefined;
  }

  /** Every group: the same commit and applied index on every machine that hosts it. */
  converged(): boolean {
    const applied = new Map<number, number>();
    for (const m of this.serving) {
      const sts = m.running?.kv.statuses();
      if (sts === undefined) return false;
      for (const s of sts) {
        if (s.applied !== s.commit || (applied.get(s.id) ?? s.applied) !== s.applied) return false;
        applied.set(s.id, s.applied);
      }
    }
    return true;
  }

  async form(): Promise<void> {
    for (const m of this.founders) this.world.schedule(0, () => m.start());
    if (this.joinTogether) {
      this.world.note('every machine starts at once');
      for (const m of this.world.machines.slice(FORMED)) this.world.schedule(0, () => this.launch(m));
    }
    const ok = await this.world.runUntil(() => this.formed(), FORMATION_BOUND_MS);
    if (!ok) throw new RealViolation('liveness', `the cluster did not form within ${FORMATION_BOUND_MS} ms`);
    this.world.note('formed');
  }

  async faults(faultMs: number): Promise<void> {
    this.phase = 'fault';
    this.checks.tableQuorum = true;
    this.clients.begin();
    if (this.aimed === undefined) this.nemesis.begin();
    else this.aimed.begin();
    this.world.machines.slice(FORMED).forEach((m, i) => {
      this.world.schedule(this.joinAtMs[i] ?? 0, () => this.launch(m));
    });
    if (this.leaveAtMs !== undefined) this.world.schedule(this.leaveAtMs, () => this.leaveWhenJoined());
    const endMs = this.world.nowMs() + faultMs;
    await this.world.runUntil(() => false, endMs);
    const aimed = this.aimed;
    if (aimed !== undefined) await this.world.runUntil(() => aimed.over, endMs + AIMED_WAIT_MS_MAX);
    this.movesUnderFaults = this.checks.stats.moves;
  }

  /**
   * The operator's leave, once every machine has joined (its join address might be the one leaving);
   * some may be down meanwhile (with the disk faults one often is, and the leave would rarely come).
   */
  private leaveWhenJoined(): void {
    if (this.phase !== 'fault') return;
    if (!this.world.machines.every((m) => m.joinedOnce)) {
      this.world.schedule(500, () => this.leaveWhenJoined());
      return;
    }
    const m = this.world.machines[this.leaver - 1];
    if (m !== undefined) this.operator.leave(m);
  }

  /** The machines that stay members: all but one asked to leave. */
  private get staying(): readonly Machine[] {
    return this.world.machines.filter((m) => !m.leaving);
  }

  /**
   * The members that serve: all that stay but one whose WAL was damaged (its node refuses to start;
   * the table still lists it, up, and every shard still counts it as a voter).
   */
  private get serving(): readonly Machine[] {
    return this.staying.filter((m) => m.corruptedWal === undefined);
  }

  /** A joiner's first start (`ringkv serve --join_addr`); a crash before it is left to the nemesis. */
  private launch(m: Machine): void {
    if (m.launched) return;
    const inc = m.start();
    this.world.note(`${m.id}#${inc.number} starting: joins through ${m.options.joinAddr ?? ''}`);
  }

  async heal(): Promise<void> {
    this.phase = 'liveness';
    this.clients.stop();
    this.nemesis.end();
    for (const m of this.world.machines) this.launch(m);
    const bound = this.world.nowMs() + LIVENESS_BOUND_MS;
    if (!(await this.world.runUntil(() => this.led(), bound)))
      throw new RealViolation(
        'liveness',
        `after healing, not every node runs and knows a leader of every group: ${this.leaderless() ?? ''}`,
      );
    const settleBound = this.world.nowMs() + SETTLE_BOUND_MS;
    if (!(await this.world.runUntil(() => this.unsettled() === undefined, settleBound)))
      throw new RealViolation(
        'liveness',
        `after healing, the shard table did not settle within ${SETTLE_BOUND_MS} ms: ${this.unsettled() ?? ''}`,
      );
    this.world.note('settled');
    // Operations still in flight end by their deadline.
    await this.world.runUntil(() => false, this.world.nowMs() + OP_TIMEOUT_MS + 2);
    const readBound = this.world.nowMs() + LIVENESS_BOUND_MS;
    const finals = new Map<string, { found: boolean; value: string }>();
    for (const key of this.clients.keys) {
      // Through every node: one that holds no replica of the key's shard passes the read on.
      for (const via of this.serving) {
        const answer = await this.finalRead(key, via, readBound);
        if (!finals.has(key)) finals.set(key, answer);
      }
    }
    checkNothingLost(finals, this.clients.acked, this.clients.mayHaveWritten);
    if (!(await this.world.runUntil(() => this.converged(), readBound)))
      throw new RealViolation(
        'replicaConvergence',
        `after healing, the replicas did not reach the same applied index: ${this.appliedSummary()}`,
      );
    await this.compareStates();
  }

  /** A linearizable read of `key` entering at `via`, tried until one succeeds or `boundMs` passes. */
  private async finalRead(
    key: string,
    via: Machine,
    boundMs: number,
  ): Promise<{ found: boolean; value: string }> {
    // Bounded by boundMs: each failed attempt waits 100 ms.
    for (;;) {
      let answer: { found: boolean; value: string } | undefined;
      let done = false;
      void this.clients.finalRead(key, via).then((a) => {
        answer = a;
        done = true;
      });
      if (!(await this.world.runUntil(() => done, boundMs)))
        throw new RealViolation(
          'liveness',
          `after healing, no linearizable read of ${key} through ${via.id} succeeded`,
        );
      if (answer !== undefined) return answer;
      await this.world.runUntil(() => false, this.world.nowMs() + 100);
    }
  }

  private appliedSummary(): string {
    return this.serving
      .map(
        (m) =>
          `${m.id}: ${
            m.running?.kv
              .statuses()
              .map((s) => `g${s.id} ${s.applied}/${s.commit}`)
              .join(' ') ?? 'down'
          }`,
      )
      .join('; ');
  }

  /** Every shard's state, hashed on every machine that hosts it: the replicas at one applied index hold the same bytes. */
  private async compareStates(): Promise<void> {
    for (let s = 1; s <= this.shards; s++) {
      const hashes = new Map<string, string>();
      for (const m of this.serving) {
        const kv = m.running?.kv;
        if (kv?.status(shardId(s)) === undefined) continue;
        const r = await kv.read(shardId(s), {
          consistency: 'serializable',
          deadlineMs: this.world.nowMs() + 1,
          onTimeout: () => {
            throw new Error('a serializable read does not wait');
          },
          run: (machine) => hashBytes(machine.snapshot()),
        });
        hashes.set(m.id, `${r.index}:${r.value}`);
      }
      if (new Set(hashes.values()).size > 1) {
        throw new RealViolation(
          'replicaConvergence',
          `shard ${s}: ${[...hashes].map(([id, h]) => `${id} ${h}`).join(', ')}`,
        );
      }
    }
  }

  checkHistory(): { verdict: string; report?: string[] } {
    let clockCalls = 0;
    const result = checkOperations(kvModel, this.clients.history, {
      budgetMsPerPartition: LINCHECK_CLOCK_CALLS_MAX,
      now: () => clockCalls++,
    });
    if (result.violation === undefined) return { verdict: result.verdict };
    return { verdict: result.verdict, report: formatViolation(result.violation) };
  }
}

/**
 * Every key's final value must be that of a write that may be the last one: not one that returned
 * before an acknowledged write of the key was called (that one was then overwritten), and never a
 * value no write could have written; a key with an acknowledged write is never absent (the clients
 * do not delete).
 */
export function checkNothingLost(
  finals: ReadonlyMap<string, { found: boolean; value: string }>,
  acked: readonly AckedWrite[],
  mayHaveWritten: ReadonlyMap<string, { key: string; callMs: number; returnMs: number }>,
): void {
  for (const [key, final] of finals) {
    const ackedHere = acked.filter((a) => a.key === key);
    if (!final.found) {
      const a = ackedHere[ackedHere.length - 1];
      if (a !== undefined)
        throw new RealViolation(
          'lostWrite',
          `${key} is absent after healing, but ${a.value} was acknowledged at ${a.returnMs} ms`,
        );
      continue;
    }
    const w = mayHaveWritten.get(final.value);
    if (w === undefined || w.key !== key) {
      throw new RealViolation(
        'lostWrite',
        `${key} holds ${final.value}, which no write that may have taken effect wrote`,
      );
    }
    const later = ackedHere.find((a) => a.callMs > w.returnMs);
    if (later !== undefined) {
      throw new RealViolation(
        'lostWrite',
        `${key} holds ${final.value} (written by ${w.returnMs} ms), but ${later.value}, called at ${later.callMs} ms, was acknowledged at ${later.returnMs} ms`,
      );
    }
  }
}

export async function runRealSeed(seed: number, o: RealRunOptions = {}): Promise<RealSeedResult> {
  const run = new RealRun(seed, o);
  const violations: RealViolationReport[] = [];
  let lincheck = 'not run';
  let walCorrupted = false;
  try {
    await run.form();
    await run.faults(run.faultMs);
    await run.heal();
    if (o.moreDiskFaults !== false)
      walCorrupted =
        (await corruptOneWal(run.world, run.checks, run.world.stream('corruption'))) !== undefined;
    run.phase = 'history';
    const h = run.checkHistory();
    lincheck = h.verdict;
    if (h.report !== undefined) {
      violations.push(
        report(run, new RealViolation('linearizability', 'the client history is not linearizable'), h.report),
      );
    }
  } catch (err) {
    violations.push(report(run, err, []));
  }
  const w = run.world;
  return {
    seed,
    nodes: run.nodes,
    bug: o.bug,
    violations,
    traceHash: w.trace.hashHex(),
    traceLines: w.trace.lines,
    aimedHit: run.aimed?.hit,
    stats: {
      virtualMs: w.nowMs(),
      events: w.events,
      traceLines: w.trace.lineCount,
      leadersElected: run.checks.stats.leadersElected,
      maxTerm: run.checks.stats.maxTerm,
      opsCompleted: run.clients.stats.completed,
      opsIndeterminate: run.clients.stats.indeterminate,
      crashes: run.nemesis.stats.crashes,
      crashesMidWrite: w.crashesMidWrite,
      partitions: run.nemesis.stats.partitions,
      pauses: run.nemesis.stats.pauses,
      diskFaults: run.nemesis.stats.diskFaults,
      moreDiskFaults: run.nemesis.stats.moreDiskFaults,
      walCorrupted: walCorrupted || w.machines.some((m) => m.refusal !== undefined),
      walDamagesUnderFaults: run.nemesis.stats.walDamages,
      leaderTransfers: run.nemesis.stats.leaderTransfers,
      lossRateMax: run.nemesis.stats.lossRateMax,
      reorderWindows: run.nemesis.stats.reorderWindows,
      messagesReordered: w.network.stats.reordered,
      restartsChecked: run.checks.stats.restartsChecked,
      messagesSent: w.network.stats.sent,
      moves: run.checks.stats.moves,
      movesUnderFaults: run.movesUnderFaults,
      movesRolledBack: run.checks.stats.movesRolledBack,
      opsForwarded: run.clients.forwarded.all,
      opsPassedOn: run.clients.forwarded.passedOn,
      propsInRaft: w.raftForwarded.props,
      readIndexInRaft: w.raftForwarded.readIndex,
      leaves: run.operator.leaving?.left === true ? 1 : 0,
      lincheck,
    },
  };
}

function report(run: RealRun, err: unknown, lines: string[]): RealViolationReport {
  const v =
    err instanceof RealViolation
      ? err
      : new RealViolation(
          'simulatorError',
          err instanceof Error
            ? `${err.message}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`
            : String(err),
        );
  run.world.note(`VIOLATION ${v.property}: ${v.detail}`);
  return {
    property: v.property,
    explanation: REAL_PROPERTY_EXPLANATIONS[v.property],
    detail: v.detail,
    atMs: run.world.nowMs(),
    phase: run.phase,
    excerpt: run.world.trace.recent(25),
    report: lines,
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * Whether (a third of the seeds) and when (in the first 60 % of the faults, after their first tenth)
 * a WAL record is damaged during the faults, from a stream of its own. With 3 machines every machine
 * holds every shard: the two others keep a quorum of each, and the table settles with the dead member
 * still in it, up (its dead-node timeout, 5 min, does not pass). With more, the seed's dead-node
 * timeout is DAMAGED_DEAD_NODE_TIMEOUT_MS: the dead member is marked down and its replicas are
 * re-created on the others, which the settling of the table then demands. Never with `targeted`:
 * the damage is the nemesis's, and an aimed fault runs instead of it.
 */
function walDamageOf(
  seed: number,
  faultMs: number,
  o: RealRunOptions,
): { readonly rng: Prng; readonly atMs: number } | undefined {
  if (o.walDamageUnderFaults === false || o.targeted !== undefined) return undefined;
  const rng = new Prng(seed).derive('wal-damage');
  if (!rng.chance(WAL_DAMAGE_SEEDS_SHARE)) return undefined;
  return { rng, atMs: rng.intBetween(Math.floor(faultMs / 10), Math.floor((6 * faultMs) / 10)) };
}

function faultMsOf(o: RealRunOptions): number {
  return o.faultMs ?? FAULT_MS_DEFAULT;
}
