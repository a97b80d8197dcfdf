// A simulation of the rebalancer against a model of the shards, for the property tests
// (rebalance-sim.test.ts): the shard table, the planner and the move state machine are the real
// ones; the shards, the nodes and the metadata leader are a model. Seeded and deterministic.
//
// The model, one tick a second:
//   - every shard takes writes (its leader's applied index grows) and compacts its log (a replica
//     behind the snapshot index needs the snapshot before it can follow the log);
//   - every replica on a live node catches up at a bounded rate (a learner may stall: it never does);
//   - leaders fail over at random and when they die; a pending configuration change is committed
//     a tick or two after it is proposed, or lost when the leader changes;
//   - actions the rebalancer asks of a shard fail at random (dropped);
//   - members join, drain, crash (marked down after the dead-node timeout), come back, and the
//     metadata leader changes (the new one plans from the table alone, its step clocks start over).
// The safety checks, at every tick, throw at the first violation (the seed is in the message):
//   - every shard's configuration (both halves while joint) keeps a majority of live voters that
//     hold the shard's data;
//   - a configuration change leads to a configuration with a majority of up-to-date voters (live,
//     and within the catch-up bound of the leader's applied index) in each half, and a learner is
//     promoted only when caught up. Both are checked when the change is proposed: that is what the
//     rebalancer sees and promises. Afterwards the world may move on (the leader takes writes, a
//     voter that came back waits for a snapshot, another crashes): a voter that lags is slow, not
//     lost, so at every tick only liveness and data are required;
//   - no live node receives a replica of a shard it still holds data of (a dead one keeps what it
//     held when it was removed, and catches up from there if it is added back before it returns);
//   - no more than K moves in flight.
import { type MoveAction, type MoveLimits, nextAction, type ShardObservation } from '../move.ts';
import { plan } from '../rebalance.ts';
import {
  apply,
  type ClusterSettings,
  EMPTY_TABLE,
  type Move,
  type MoveStep,
  movesInFlight,
  replicasOf,
  type ShardTable,
  type TableOp,
} from '../shard-table.ts';

export const TICK_MS = 1000;
const CATCH_UP_ENTRIES_MAX = 20;
export const SIM_LIMITS: MoveLimits = {
  catchUpEntriesMax: CATCH_UP_ENTRIES_MAX,
  stepTimeoutMs: 30 * TICK_MS,
};
const DEAD_AFTER_TICKS = 5;

export interface SimOptions {
  readonly seed: number;
  /** Members at the start (all up). */
  readonly nodes: number;
  readonly nodesMax: number;
  readonly nodesMin: number;
  readonly shards: number;
  readonly replicationFactor: number;
  readonly movesInFlightMax: number;
  /** Ticks of membership churn before the cluster is left to settle. */
  readonly churnTicks: number;
  /** Probability per tick of a membership event during churn. */
  readonly churnRate: number;
  /** Probability that a learner stalls for a whole move attempt. */
  readonly stallRate: number;
  /** Probability that an action asked of a shard is dropped. */
  readonly dropRate: number;
  /** Probability per tick that the metadata leader changes. */
  readonly metaLeaderChangeRate: number;
  /** Members that join at the first tick (before any random event). */
  readonly joinsAtStart?: number;
  /** Replication factor changes during churn: [tick, R] pairs. */
  readonly replicationChanges?: readonly (readonly [number, number])[];
  /** Ticks allowed to settle after the churn. */
  readonly settleTicksMax: number;
}

export interface SimResult {
  readonly table: ShardTable;
  readonly finished: readonly { shard: number; source: string | null; target: string | null }[];
  readonly rolledBack: number;
  readonly maxInFlight: number;
  readonly ticks: number;
  readonly metaLeaderChanges: number;
  /** Shards whose data each live node holds (to check that sources deleted theirs). */
  readonly held: ReadonlyMap<string, readonly number[]>;
  readonly shardModels: readonly ShardModel[];
  readonly membersJoined: readonly string[];
  readonly alive: ReadonlySet<string>;
}

export interface ShardModel {
  readonly id: number;
  voters: string[];
  outgoing: string[];
  learners: string[];
  leader: string | null;
  leaderApplied: number;
  snapshotIndex: number;
  /** node → applied index, for every node holding the shard's data. */
  readonly data: Map<string, number>;
  pending: { readonly commitAt: number; readonly effect: () => void; readonly what: string } | null;
}

/** xorshift32 from a seed: small, fast, deterministic. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  }
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 0x100000000;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T | undefined {
    return xs.length === 0 ? undefined : xs[this.int(xs.length)];
  }
}

export function runSim(o: SimOptions): SimResult {
  return new Sim(o).run();
}

class Sim {
  private readonly rng: Rng;
  private table: ShardTable = EMPTY_TABLE;
  private opN = 0;
  private tick = 0;
  private readonly alive = new Set<string>();
  private readonly diedAt = new Map<string, number>();
  private readonly shards: ShardModel[] = [];
  /** Learners that will not progress during their current attempt (per move id). */
  private readonly stalled = new Set<string>();
  /** The metadata leader's clocks per move: step, since, learner's applied then. Lost on a change. */
  private driver = new Map<number, { step: MoveStep; since: number; applied: number }>();
  private nextNodeId = 0;
  private readonly finished: { shard: number; source: string | null; target: string | null }[] = [];
  private rolledBack = 0;
  private maxInFlight = 0;
  private metaLeaderChanges = 0;
  private readonly joined: string[] = [];
  private lastPlannedOp = -1;

  private readonly o: SimOptions;

  constructor(o: SimOptions) {
    this.o = o;
    this.rng = new Rng(o.seed);
  }

  run(): SimResult {
    const ids = Array.from({ length: this.o.nodes }, () => this.newNodeId());
    const settings: ClusterSettings = {
      shardCount: this.o.shards,
      replicationFactor: this.o.replicationFactor,
      deadNodeTimeoutMs: DEAD_AFTER_TICKS * TICK_MS,
      movesInFlightMax: this.o.movesInFlightMax,
    };
    this.op({ kind: 'init', settings, members: ids.map((nodeId) => address(nodeId)) });
    for (const id of ids) this.alive.add(id);
    for (const s of this.table.shards) {
      this.shards.push({
        id: s.shardId,
        voters: [...s.voters],
        outgoing: [],
        learners: [],
        leader: s.voters[0] ?? null,
        leaderApplied: 0,
        snapshotIndex: 0,
        data: new Map(s.voters.map((v) => [v, 0])),
        pending: null,
      });
    }
    // Bounded: churn, then at most settleTicksMax ticks to settle.
    for (; this.tick < this.o.churnTicks; this.tick++) {
      this.churn();
      this.step();
    }
    const end = this.tick + this.o.settleTicksMax;
    for (; this.tick < end; this.tick++) {
      this.bringUp();
      this.markDead();
      this.removeEmpty();
      this.step();
      if (this.settled()) break;
    }
    this.check(this.settled(), () => `not settled after ${this.o.settleTicksMax} ticks: ${this.summary()}`);
    return {
      table: this.table,
      finished: this.finished,
      rolledBack: this.rolledBack,
      maxInFlight: this.maxInFlight,
      ticks: this.tick,
      metaLeaderChanges: this.metaLeaderChanges,
      held: this.held(),
      shardModels: this.shards,
      membersJoined: this.joined,
      alive: this.alive,
    };
  }

  /** One tick of the shards, the metadata leader's driver and the planner, then the checks. */
  private step(): void {
    for (const s of this.shards) {
      this.write(s);
      this.replicate(s);
      this.elect(s);
      this.commitPending(s);
    }
    if (this.rng.chance(this.o.metaLeaderChangeRate)) {
      this.driver = new Map();
      this.metaLeaderChanges++;
    }
    for (const s of this.shards) this.drive(s);
    // Planning costs a place() over the whole table: only when a move could start, or now and then
    // (moves to abandon).
    const changed = this.table.lastOp !== this.lastPlannedOp;
    const room = movesInFlight(this.table) < this.o.movesInFlightMax;
    if ((changed && room) || this.tick % 10 === 0) this.planMoves();
    for (const s of this.shards) this.checkShard(s);
    const inFlight = movesInFlight(this.table);
    this.maxInFlight = Math.max(this.maxInFlight, inFlight);
    this.check(
      inFlight <= this.o.movesInFlightMax,
      () => `${inFlight} moves in flight, K = ${this.o.movesInFlightMax}`,
    );
  }

  // ---- the shards -----------------------------------------------------------------------------------

  private write(s: ShardModel): void {
    if (s.leader === null || !this.quorumUpToDate(s)) return;
    s.leaderApplied += this.rng.int(3);
    s.data.set(s.leader, s.leaderApplied);
    if (s.leaderApplied - s.snapshotIndex > 40) s.snapshotIndex = s.leaderApplied - 10;
  }

  private replicate(s: ShardModel): void {
    if (s.leader === null) return;
    for (const n of [...s.voters, ...s.outgoing, ...s.learners]) {
      const applied = s.data.get(n);
      if (applied === undefined || !this.alive.has(n) || this.stalled.has(`${s.id}/${n}`)) continue;
      if (applied < s.snapshotIndex) {
        // The snapshot takes a tick or two.
        if (this.rng.chance(0.5)) s.data.set(n, s.snapshotIndex);
      } else {
        s.data.set(n, Math.min(s.leaderApplied, applied + 15));
      }
    }
  }

  private elect(s: ShardModel): void {
    const voters = [...new Set([...s.voters, ...s.outgoing])];
    const keep = s.leader !== null && this.alive.has(s.leader) && voters.includes(s.leader);
    if (keep && !this.rng.chance(0.01)) return;
    const halvesAlive = [s.voters, s.outgoing].every(
      (h) => h.length === 0 || h.filter((v) => this.alive.has(v)).length > h.length / 2,
    );
    const candidates = voters.filter((v) => this.upToDate(s, v));
    const leader = halvesAlive ? (this.rng.pick(candidates) ?? null) : null;
    if (leader !== s.leader) {
      // A new leader may not have the pending change in its log.
      if (s.pending !== null && this.rng.chance(0.5)) s.pending = null;
      s.leader = leader;
    }
  }

  private commitPending(s: ShardModel): void {
    const p = s.pending;
    if (p === null || this.tick < p.commitAt || s.leader === null) return;
    const halvesAlive = [s.voters, s.outgoing].every(
      (h) => h.length === 0 || h.filter((v) => this.alive.has(v)).length > h.length / 2,
    );
    if (!halvesAlive) return;
    s.pending = null;
    p.effect();
    if (s.leader !== null && !s.voters.includes(s.leader) && s.outgoing.length === 0) s.leader = null;
  }

  private propose(s: ShardModel, what: string, effect: () => void): void {
    if (s.pending !== null || s.leader === null) return;
    s.pending = { commitAt: this.tick + 1 + this.rng.int(2), effect, what };
  }

  // ---- the metadata leader's driver ------------------------------------------------------------------

  private drive(s: ShardModel): void {
    // Bounded: stepDone, rollBack and done are recorded and the move asked again, a few times a tick.
    for (let round = 0; round < 4; round++) {
      const move = this.table.shards[s.id - 1]?.move ?? null;
      if (move === null) return;
      const action = nextAction(move, this.observe(s, move), SIM_LIMITS);
      if (!this.perform(s, move, action)) return;
    }
  }

  private observe(s: ShardModel, move: Move): ShardObservation {
    const clock = this.driver.get(move.id);
    const learnerApplied =
      move.target !== null && this.alive.has(move.target) ? (s.data.get(move.target) ?? 0) : 0;
    let since = this.tick;
    if (clock !== undefined && clock.step === move.step && clock.applied >= learnerApplied)
      since = clock.since;
    this.driver.set(move.id, { step: move.step, since, applied: learnerApplied });
    const caughtUp = [...new Set([...s.voters, ...s.outgoing, ...s.learners])].filter((v) =>
      this.upToDate(s, v),
    );
    const source = move.source;
    return {
      voters: [...s.voters].sort(),
      votersOutgoing: [...s.outgoing].sort(),
      learners: [...s.learners].sort(),
      leader: s.leader,
      leaderApplied: s.leaderApplied,
      leaderSnapshotIndex: s.snapshotIndex,
      learnerApplied,
      caughtUp: caughtUp.sort(),
      confChangePending: s.pending !== null,
      sourceDataGone: source === null || !s.data.has(source) || !this.alive.has(source),
      // The model applies a configuration on every replica at once: only a voter that cannot answer
      // (dead, not yet marked down) is behind it.
      votersBehind:
        source !== null && s.outgoing.length === 0 && !s.voters.includes(source)
          ? s.voters.filter((v) => v !== s.leader && !this.alive.has(v) && !this.markedDown(v))
          : [],
      sinceProgressMs: (this.tick - since) * TICK_MS,
    };
  }

  /** Performs an action; true when it was a table operation (so the move may be asked again). */
  private perform(s: ShardModel, move: Move, a: MoveAction): boolean {
    const base = { shard: s.id, moveId: move.id };
    switch (a.kind) {
      case 'stepDone':
        this.op({ kind: 'moveStepDone', ...base, step: a.step });
        return true;
      case 'rollBack':
        this.op({ kind: 'abortMove', ...base, reason: a.reason, atMs: this.tick * TICK_MS });
        return true;
      case 'done':
        this.op({ kind: 'finishMove', ...base });
        if (move.step === 'rollBack') this.rolledBack++;
        else this.finished.push({ shard: s.id, source: move.source, target: move.target });
        if (move.target !== null) this.stalled.delete(`${s.id}/${move.target}`);
        return true;
      case 'wait':
        return false;
    }
    if (this.rng.chance(this.o.dropRate)) return false;
    switch (a.kind) {
      case 'transferLeadership':
        if (this.alive.has(a.to) && s.voters.includes(a.to)) s.leader = a.to;
        return false;
      case 'addLearner': {
        const node = a.node;
        this.propose(s, `addLearner ${node}`, () => {
          if (s.learners.includes(node) || s.voters.includes(node)) return;
          this.check(
            !s.data.has(node) || !this.alive.has(node),
            () => `shard ${s.id}: ${node} gets a second replica (${this.showShard(s)})`,
          );
          s.learners = [...s.learners, node];
          s.data.set(node, s.data.get(node) ?? 0);
          if (this.rng.chance(this.o.stallRate)) this.stalled.add(`${s.id}/${node}`);
        });
        return false;
      }
      case 'reconfigure': {
        const { addVoter, removeVoter, joint } = a;
        // The promise: a learner is promoted only once caught up (the change commits a tick or two
        // later, while the leader takes writes: the bound is checked when the change is proposed).
        if (addVoter !== null) {
          this.check(
            this.caughtUp(s, addVoter),
            () => `shard ${s.id}: ${addVoter} promoted while not caught up (${this.showShard(s)})`,
          );
        }
        if (s.pending === null && s.leader !== null) {
          let next = s.voters.filter((v) => v !== removeVoter);
          if (addVoter !== null) next = [...next, addVoter];
          const halves = joint ? [next, s.voters] : [next];
          this.check(
            halves.every((h) => h.filter((v) => this.upToDate(s, v)).length > h.length / 2),
            () =>
              `shard ${s.id}: reconfigure +${addVoter} -${removeVoter} leads to a configuration without a quorum of up-to-date voters (${this.showShard(s)})`,
          );
        }
        this.propose(s, `reconfigure +${addVoter} -${removeVoter}`, () => {
          const old = [...s.voters];
          let next = s.voters.filter((v) => v !== removeVoter);
          if (addVoter !== null) next = [...next, addVoter];
          s.learners = s.learners.filter((l) => l !== addVoter);
          s.voters = next;
          this.stalled.delete(`${s.id}/${addVoter}`); // a stall models a catch-up that fails
          if (joint) s.outgoing = old;
        });
        return false;
      }
      case 'leaveJoint':
        this.propose(s, 'leaveJoint', () => {
          s.outgoing = [];
        });
        return false;
      case 'removeLearner': {
        const node = a.node;
        this.propose(s, `removeLearner ${node}`, () => {
          if (!s.learners.includes(node)) return;
          s.learners = s.learners.filter((l) => l !== node);
          s.data.delete(node);
          this.stalled.delete(`${s.id}/${node}`);
        });
        return false;
      }
      case 'deleteReplica':
        if (this.alive.has(a.node) && !this.inConfig(s, a.node)) s.data.delete(a.node);
        return false;
    }
  }

  private planMoves(): void {
    this.lastPlannedOp = this.table.lastOp;
    const leaders = new Map<number, string>();
    for (const s of this.shards) if (s.leader !== null) leaders.set(s.id, s.leader);
    const p = plan(this.table, { nowMs: this.tick * TICK_MS, leaders });
    for (const a of p.abandon) {
      const at = this.tick * TICK_MS;
      this.op({ kind: 'abortMove', shard: a.shard, moveId: a.moveId, reason: a.reason, atMs: at });
    }
    for (const m of p.start)
      this.op({ kind: 'beginMove', shard: m.shard, source: m.source, target: m.target });
  }

  // ---- membership churn ------------------------------------------------------------------------------

  private churn(): void {
    this.bringUp();
    this.markDead();
    this.removeEmpty();
    for (const [tick, r] of this.o.replicationChanges ?? []) {
      if (tick === this.tick) this.op({ kind: 'setSettings', change: { replicationFactor: r } });
    }
    if (this.tick === 0) for (let i = 0; i < (this.o.joinsAtStart ?? 0); i++) this.join();
    if (!this.rng.chance(this.o.churnRate)) return;
    const present = this.table.members.filter((m) => m.state !== 'removed');
    const serving = this.table.members.filter((m) => m.state === 'up' && this.alive.has(m.nodeId));
    const R = this.table.settings.replicationFactor;
    switch (this.rng.int(4)) {
      case 0: {
        if (present.length < this.o.nodesMax) this.join();
        return;
      }
      case 1: {
        if (serving.length <= Math.max(R, this.o.nodesMin)) return;
        const m = this.rng.pick(serving);
        if (m !== undefined) this.op({ kind: 'setMemberState', nodeId: m.nodeId, state: 'draining' });
        return;
      }
      case 2: {
        if (serving.length <= Math.max(R, this.o.nodesMin)) return;
        const victims = serving.filter((m) => this.mayDie(m.nodeId));
        const m = this.rng.pick(victims);
        if (m === undefined) return;
        this.alive.delete(m.nodeId);
        this.diedAt.set(m.nodeId, this.tick);
        return;
      }
      default: {
        const dead = [...this.diedAt.keys()].filter(
          (id) => this.table.members.find((m) => m.nodeId === id)?.state !== 'removed',
        );
        const id = this.rng.pick(dead);
        if (id === undefined) return;
        this.comeBack(id);
      }
    }
  }

  private join(): void {
    const id = this.newNodeId();
    this.alive.add(id);
    this.joined.push(id);
    this.op({ kind: 'addMember', member: address(id) });
  }

  /**
   * A node may die when every shard keeps a majority of up-to-date voters in each half without it,
   * and no shard it holds data of has a change pending (the configuration it leads to is checked
   * by the rebalancer when it proposes it; a crash after that is a second failure it cannot see).
   */
  private mayDie(id: string): boolean {
    return this.shards.every(
      (s) =>
        (s.pending === null || !s.data.has(id)) &&
        [s.voters, s.outgoing].every((h) => {
          if (h.length === 0) return true;
          const ok = h.filter((v) => v !== id && this.upToDate(s, v)).length;
          return ok > h.length / 2;
        }),
    );
  }

  private comeBack(id: string): void {
    this.alive.add(id);
    this.diedAt.delete(id);
    // What it held of shards it is no member of any more, it deletes (it learns it was removed).
    for (const s of this.shards) if (s.data.has(id) && !this.inConfig(s, id)) s.data.delete(id);
    const m = this.table.members.find((x) => x.nodeId === id);
    if (m?.state === 'down') this.op({ kind: 'setMemberState', nodeId: id, state: 'up' });
  }

  private markedDown(id: string): boolean {
    const state = this.table.members.find((x) => x.nodeId === id)?.state;
    return state === undefined || state === 'down' || state === 'removed';
  }

  /** A member that joined last tick is up. */
  private bringUp(): void {
    for (const m of this.table.members) {
      if (m.state === 'joining') this.op({ kind: 'setMemberState', nodeId: m.nodeId, state: 'up' });
    }
  }

  private markDead(): void {
    for (const [id, at] of this.diedAt) {
      const m = this.table.members.find((x) => x.nodeId === id);
      if (this.tick - at >= DEAD_AFTER_TICKS && (m?.state === 'up' || m?.state === 'draining')) {
        this.op({ kind: 'setMemberState', nodeId: id, state: 'down' });
      }
    }
  }

  /** Draining and down members that hold nothing any more are removed. */
  private removeEmpty(): void {
    for (const m of this.table.members) {
      if (m.state !== 'draining' && m.state !== 'down') continue;
      if (this.table.shards.some((s) => replicasOf(s).includes(m.nodeId))) continue;
      this.op({ kind: 'setMemberState', nodeId: m.nodeId, state: 'removed' });
      this.diedAt.delete(m.nodeId);
    }
  }

  // ---- checks ----------------------------------------------------------------------------------------

  private checkShard(s: ShardModel): void {
    this.check(
      [s.voters, s.outgoing].every(
        (h) => h.length === 0 || h.filter((v) => this.alive.has(v) && s.data.has(v)).length > h.length / 2,
      ),
      () => `shard ${s.id} lost its quorum of live voters: ${this.showShard(s)}`,
    );
    const all = [...s.voters, ...s.learners];
    this.check(
      new Set(all).size === all.length,
      () => `shard ${s.id} has a node twice: ${this.showShard(s)}`,
    );
    for (const n of [...s.voters, ...s.outgoing, ...s.learners]) {
      this.check(s.data.has(n), () => `shard ${s.id}: ${n} is in the configuration without the data`);
    }
  }

  private quorumUpToDate(s: ShardModel): boolean {
    return [s.voters, s.outgoing].every(
      (h) => h.length === 0 || h.filter((v) => this.upToDate(s, v)).length > h.length / 2,
    );
  }

  /** Live, and holding the data within the catch-up bound. */
  private upToDate(s: ShardModel, n: string): boolean {
    return this.alive.has(n) && this.caughtUp(s, n);
  }

  /** Holding the data within the catch-up bound (live or not: a node may crash the moment it is promoted). */
  private caughtUp(s: ShardModel, n: string): boolean {
    const applied = s.data.get(n);
    return applied !== undefined && applied >= s.leaderApplied - CATCH_UP_ENTRIES_MAX;
  }

  private inConfig(s: ShardModel, n: string): boolean {
    return s.voters.includes(n) || s.outgoing.includes(n) || s.learners.includes(n);
  }

  private settled(): boolean {
    if (movesInFlight(this.table) > 0) return false;
    if (this.shards.some((s) => s.pending !== null)) return false;
    if (this.table.members.some((m) => m.state === 'draining' || m.state === 'joining')) return false;
    if (
      [...this.diedAt.keys()].some((id) => this.table.members.find((m) => m.nodeId === id)?.state === 'up')
    ) {
      return false;
    }
    const p = plan(this.table, { nowMs: this.tick * TICK_MS });
    return p.start.length === 0 && p.deferred.length === 0;
  }

  /** `message` is a function: the checks run on every tick, their messages only on failure. */
  private check(ok: boolean, message: () => string): asserts ok {
    if (!ok) throw new Error(`sim seed ${this.o.seed}, tick ${this.tick}: ${message()}`);
  }

  // ---- helpers ---------------------------------------------------------------------------------------

  private op(body: DistributiveOmit<TableOp, 'n'>): void {
    this.opN++;
    this.table = apply(this.table, { ...body, n: this.opN } as TableOp);
  }

  private newNodeId(): string {
    return `n${String(this.nextNodeId++).padStart(2, '0')}`;
  }

  private held(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const s of this.shards) {
      for (const n of s.data.keys()) {
        if (!this.alive.has(n)) continue;
        out.set(n, [...(out.get(n) ?? []), s.id]);
      }
    }
    return out;
  }

  private showShard(s: ShardModel): string {
    const data = [...s.data].map(([n, a]) => `${n}${this.alive.has(n) ? '' : '†'}:${a}`).join(' ');
    return `voters [${s.voters}] outgoing [${s.outgoing}] learners [${s.learners}] leader ${s.leader} applied ${s.leaderApplied} data {${data}} pending ${s.pending?.what ?? '-'}`;
  }

  private summary(): string {
    const moves = this.table.shards
      .filter((s) => s.move !== null)
      .map((s) => `${s.shardId}:${JSON.stringify(s.move)}`);
    const members = this.table.members.map(
      (m) => `${m.nodeId}:${m.state}${this.alive.has(m.nodeId) ? '' : '†'}`,
    );
    const p = plan(this.table, { nowMs: this.tick * TICK_MS });
    return `members ${members.join(' ')}; moves ${moves.join(' ')}; plan start ${JSON.stringify(p.start)} deferred ${JSON.stringify(p.deferred.slice(0, 3))}`;
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

function address(nodeId: string): { nodeId: string; zone: string; clientAddr: string; raftAddr: string } {
  return { nodeId, zone: '', clientAddr: `${nodeId}:7000`, raftAddr: `${nodeId}:7001` };
}
