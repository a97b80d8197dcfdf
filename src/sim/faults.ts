// The fault injector ("nemesis") of the fault phase: at random moments it crashes a node (often the
// leader) and schedules its restart, cuts the network in one of several shapes, heals it, changes
// loss / delay / duplication, or asks the leader to hand over leadership.
import type { NodeId } from '../raft/types.ts';
import type { NetworkConditions, PartitionKind } from './network.ts';
import { LOSS_RATE_MAX, type Network } from './network.ts';
import type { SimNode } from './node.ts';
import type { Prng } from './prng.ts';

export interface FaultEnv {
  /** Current members that are not retired, in a deterministic order. */
  members(): readonly SimNode[];
  leader(): SimNode | undefined;
  crash(node: SimNode): void;
  /** Freezes a running node (a GC pause or SIGSTOP): no ticks, messages wait until it resumes. */
  pause(node: SimNode, durationMs: number): void;
  restartAfter(node: SimNode, delayMs: number): void;
  readonly network: Network;
  trace(line: string): void;
}

export interface FaultSettings {
  /** Mean virtual time between fault actions. */
  readonly faultEveryMs: number;
  /** Relative weights of the actions. */
  readonly weights: Readonly<Record<FaultAction, number>>;
  /** A crashed node stays down for this long (uniform). */
  readonly downMinMs: number;
  readonly downMaxMs: number;
  readonly transfers: boolean;
  /** Whether nodes may be paused (never together with lease reads, see pauseOne). */
  readonly pauses: boolean;
  /** Partition shapes to draw from. */
  readonly partitionKinds: readonly PartitionKind[];
  /** Probability that a crash picks the leader (when there is one). */
  readonly leaderCrashRate: number;
  /** Probability that a newly elected leader is crashed within `newLeaderCrashMaxMs`. */
  readonly newLeaderCrashRate: number;
  readonly newLeaderCrashMaxMs: number;
}

export type FaultAction =
  | 'crash'
  | 'restart'
  | 'partition'
  | 'heal'
  | 'conditions'
  | 'transfer'
  | 'pause'
  | 'none';

export const ALL_PARTITIONS: readonly PartitionKind[] = ['halves', 'isolateLeader', 'oneWay', 'partialReach'];

export const DEFAULT_FAULT_WEIGHTS: Readonly<Record<FaultAction, number>> = {
  crash: 25,
  restart: 8,
  partition: 18,
  heal: 15,
  conditions: 15,
  transfer: 6,
  pause: 6,
  none: 13,
};

export class FaultInjector {
  private readonly env: FaultEnv;
  private readonly rng: Prng;
  private readonly settings: FaultSettings;
  stats = { crashes: 0, partitions: 0, heals: 0, conditionChanges: 0, transfers: 0, pauses: 0 };

  constructor(env: FaultEnv, rng: Prng, settings: FaultSettings) {
    this.env = env;
    this.rng = rng;
    this.settings = settings;
  }

  /** Virtual time until the next fault action. */
  nextDelayMs(): number {
    return this.rng.intBetween(1, 2 * this.settings.faultEveryMs);
  }

  act(): void {
    const action = this.chooseAction();
    switch (action) {
      case 'crash':
        this.crashOne();
        return;
      case 'restart':
        this.restartOne();
        return;
      case 'partition':
        this.partition();
        return;
      case 'heal':
        this.stats.heals++;
        this.env.network.heal();
        this.env.trace('fault: heal network');
        return;
      case 'conditions':
        this.changeConditions();
        return;
      case 'transfer':
        this.transfer();
        return;
      case 'pause':
        this.pauseOne();
        return;
      case 'none':
        return;
    }
  }

  /** Called when a leader is elected: how soon to crash it, or undefined to leave it be. */
  newLeaderCrashDelayMs(): number | undefined {
    if (!this.rng.chance(this.settings.newLeaderCrashRate)) return undefined;
    return this.rng.intBetween(0, this.settings.newLeaderCrashMaxMs);
  }

  /** The scheduled crash of a new leader (if it is still the same incarnation). */
  crashNewLeader(node: SimNode, incarnation: number): void {
    if (!node.up || node.incarnation !== incarnation) return;
    this.stats.crashes++;
    this.env.crash(node);
    this.env.restartAfter(node, this.rng.intBetween(this.settings.downMinMs, this.settings.downMaxMs));
  }

  private chooseAction(): FaultAction {
    const w = this.settings.weights;
    const actions = Object.keys(w).sort() as FaultAction[];
    let total = 0;
    for (const a of actions) total += w[a];
    let roll = this.rng.nextInt(total);
    for (const a of actions) {
      roll -= w[a];
      if (roll < 0) return a;
    }
    return 'none';
  }

  private crashOne(): void {
    const members = this.env.members();
    const up = members.filter((n) => n.up);
    const down = members.length - up.length;
    // Usually keep a quorum up; sometimes take down more, to test recovery without a quorum.
    const quorum = Math.floor(members.length / 2) + 1;
    const allowedDown = this.rng.chance(0.15) ? members.length - 1 : members.length - quorum;
    if (up.length === 0 || down >= allowedDown) return;
    const leader = this.env.leader();
    const victim = leader?.up && this.rng.chance(this.settings.leaderCrashRate) ? leader : this.rng.pick(up);
    this.stats.crashes++;
    this.env.crash(victim);
    this.env.restartAfter(victim, this.rng.intBetween(this.settings.downMinMs, this.settings.downMaxMs));
  }

  /**
   * Pauses a node, often the leader. Only with safe (ReadIndex) reads: a paused leader's tick clock
   * stops, so a lease it holds would outlive its real validity — lease reads assume bounded pauses.
   */
  private pauseOne(): void {
    if (!this.settings.pauses) return;
    const up = this.env.members().filter((n) => n.up && !n.paused);
    if (up.length === 0) return;
    const leader = this.env.leader();
    const victim = leader !== undefined && this.rng.chance(0.5) ? leader : this.rng.pick(up);
    this.stats.pauses++;
    this.env.pause(victim, this.rng.intBetween(20, 1_500));
  }

  private restartOne(): void {
    const down = this.env.members().filter((n) => !n.up);
    if (down.length === 0) return;
    this.env.restartAfter(this.rng.pick(down), 0);
  }

  private partition(): void {
    const ids: NodeId[] = this.env.members().map((n) => n.id);
    if (ids.length < 2) return;
    this.stats.partitions++;
    const kind = this.rng.pick(this.settings.partitionKinds);
    const what = this.env.network.partition(kind, ids, this.env.leader()?.id);
    this.env.trace(`fault: partition ${what}`);
  }

  private changeConditions(): void {
    this.stats.conditionChanges++;
    const delayMaxMs = this.rng.pick([2, 10, 30, 80, 150]);
    const c: NetworkConditions = {
      lossRate: this.rng.chance(0.3) ? 0 : this.rng.nextInt(Math.round(LOSS_RATE_MAX * 100) + 1) / 100,
      duplicateRate: this.rng.chance(0.5) ? 0 : this.rng.nextInt(11) / 100,
      delayMinMs: this.rng.intBetween(0, Math.min(5, delayMaxMs)),
      delayMaxMs,
      reorder: this.rng.chance(0.3),
    };
    this.env.network.setConditions(c);
    this.env.trace(
      `fault: network loss=${c.lossRate} dup=${c.duplicateRate} delay=${c.delayMinMs}..${c.delayMaxMs}ms` +
        `${c.reorder ? ' reordering' : ''}`,
    );
  }

  private transfer(): void {
    if (!this.settings.transfers) return;
    const leader = this.env.leader();
    if (leader === undefined || leader.paused) return;
    const others = leader.confState.voters.filter((v) => v !== leader.id);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    this.stats.transfers++;
    this.env.trace(`fault: ask ${leader.id} to transfer leadership to ${to}`);
    leader.transferLeadership(to);
  }
}
