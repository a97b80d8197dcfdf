// One fault aimed at one step of a replica move, instead of the random nemesis: after every event
// it reads the newest shard table on the machines (the highest table operation any running node
// applied), and the first time the nth move to reach the aimed step (the first, by default) is seen
// there with a running machine holding the aimed role for it (the move's source or target, the
// shard's leader, the metadata group's leader), it strikes that machine once: a crash (kill -9: the disk keeps what was synced), restarted after a
// delay, or cut off from every other machine (both ways: the minority side of the network), healed
// after a delay. The delay is drawn from the seed, short (the others may not even elect a new
// leader) or longer than an election. The hit is traced, with every role the machine held for the
// move then, and kept (`hit`) so that a test can tell that the aimed step was reached.
//
// And while a long fault lasts, one machine down or cut off must not stop any group: a move keeps
// a quorum of each half of every configuration it passes through on the others (DESIGN.md: at no
// point is a shard without a quorum of up-to-date replicas), so every group (each shard of the
// table, the metadata group) must show, before the repair, a leader on another machine that has
// committed an entry of its own term (`liveness` otherwise).
import { type GroupId, METADATA_GROUP } from '../../node/ids.ts';
import type { Move, MoveStep, ShardTable } from '../../ring/shard-table.ts';
import type { Network } from '../network.ts';
import type { Prng } from '../prng.ts';
import type { Incarnation, Machine } from './node-slot.ts';
import { RealViolation } from './violation.ts';

/** Who a machine is to a move; several may fall on one machine. */
export const MOVE_ROLES = ['source', 'target', 'shardLeader', 'metadataLeader'] as const;
export type MoveRole = (typeof MOVE_ROLES)[number];

/** The steps a move goes through when it succeeds (a rollback is not aimed at). */
export const MOVE_STEPS = [
  'addLearner',
  'catchUp',
  'reconfigure',
  'leaveJoint',
  'cleanup',
] as const satisfies readonly MoveStep[];
export type AimedStep = (typeof MOVE_STEPS)[number];

/** A crash and restart, or the machine cut off from all others and healed. */
export type AimedFaultKind = 'crash' | 'isolate';

export interface TargetedFault {
  readonly step: AimedStep;
  readonly role: MoveRole;
  readonly fault: AimedFaultKind;
  /**
   * Which move to aim at, by the order in which moves reach the step: 1 for the first (default), 2
   * for the next… (with 4 machines the rebalancer moves 3 replicas to n4, one at a time: each has
   * other machines as its source and shard leader).
   */
  readonly nth?: number;
  /**
   * How long the machine stays down or cut off: `short`, under an election timeout, or `long`, past
   * any; the length within it drawn from the seed, and the kind too when undefined.
   */
  readonly repair?: RepairKind;
}

export type RepairKind = 'short' | 'long';

/** What was hit, when and for how long. */
export interface AimedHit {
  readonly atMs: number;
  readonly shard: number;
  readonly moveId: number;
  /** The move's place among those that reached the step (1: the first). */
  readonly nth: number;
  readonly step: AimedStep;
  readonly machine: string;
  /** Every role the machine held for the move when it was hit (the aimed one among them). */
  readonly roles: readonly MoveRole[];
  readonly fault: AimedFaultKind;
  /** How long the machine stays down or cut off. */
  readonly repairAfterMs: number;
  readonly repair: RepairKind;
}

/** What the aimed fault needs of the world. */
export interface AimWorld {
  readonly machines: readonly Machine[];
  readonly network: Pick<Network, 'cutBoth' | 'heal'>;
  /** Run after every event and its checks; a watcher removes itself. */
  readonly watchers: Set<() => void>;
  nowMs(): number;
  schedule(delayMs: number, fn: () => void): void;
  note(line: string): void;
  /** kill -9 and power loss of the machine's incarnation. */
  crash(m: Machine): void;
  /** Records a violation; the run stops at it. */
  fail(v: RealViolation): void;
}

/**
 * A short repair: the others may not notice (an election timeout in run.ts's settings is 10 ticks of
 * 100 ms, drawn up to twice that).
 */
const SHORT_MIN_MS = 200;
const SHORT_MAX_MS = 900;
/**
 * A long one: past any election timeout (2 s), so the others elect without the machine, with room
 * for a split vote; within it every group must be served on the others.
 */
const LONG_MIN_MS = 4_000;
const LONG_MAX_MS = 8_000;

export class AimedFault {
  private readonly world: AimWorld;
  /** Told of the incarnation a crash ended (its successor is checked against it). */
  private readonly crashed: (inc: Incarnation) => void;
  private readonly rng: Prng;
  readonly aim: TargetedFault;
  /** The strike, once it happened. */
  hit: AimedHit | undefined;
  /** The machine restarted or the network healed after the strike. */
  repaired = false;
  private readonly watch = (): void => this.look();
  /** During a long fault: the groups not yet served on the other machines. */
  private unserved: Set<number> | undefined;
  /** The moves seen at the aimed step so far, in order (bounded by the moves of a run, until the strike). */
  private readonly seenAtStep: number[] = [];

  constructor(world: AimWorld, crashed: (inc: Incarnation) => void, rng: Prng, aim: TargetedFault) {
    if (!(Number.isInteger(aim.nth ?? 1) && (aim.nth ?? 1) >= 1))
      throw new Error(`sim: aimed at move number ${aim.nth} to reach ${aim.step}`);
    this.world = world;
    this.crashed = crashed;
    this.rng = rng;
    this.aim = aim;
  }

  begin(): void {
    this.world.note(
      `aimed: ${this.aim.fault} of the ${this.aim.role} at move number ${this.aim.nth ?? 1}'s ${this.aim.step}`,
    );
    this.world.watchers.add(this.watch);
  }

  /** Struck, and repaired since. */
  get over(): boolean {
    return this.hit !== undefined && this.repaired;
  }

  private look(): void {
    if (this.hit !== undefined) {
      this.world.watchers.delete(this.watch);
      return;
    }
    const table = newestTable(this.world.machines);
    if (table === undefined) return;
    for (const entry of table.shards) {
      const move = entry.move;
      if (move === null || move.step !== this.aim.step) continue;
      if (!this.seenAtStep.includes(move.id)) this.seenAtStep.push(move.id);
      const nth = this.seenAtStep.indexOf(move.id) + 1;
      if (nth < (this.aim.nth ?? 1)) continue;
      const holders = this.holders(entry.shardId, move);
      const m = holders.get(this.aim.role);
      if (m?.running === undefined) continue;
      this.strike(m, table, entry.shardId, move, nth, holders);
      this.world.watchers.delete(this.watch);
      return;
    }
  }

  /** Which machine holds each role of `move` now (a role nobody holds now is missing). */
  private holders(shard: number, move: Move): Map<MoveRole, Machine> {
    const byId = (id: string | null): Machine | undefined => this.world.machines.find((m) => m.id === id);
    const found = new Map<MoveRole, Machine>();
    const set = (role: MoveRole, m: Machine | undefined): void => {
      if (m !== undefined) found.set(role, m);
    };
    set('source', byId(move.source));
    set('target', byId(move.target));
    set('shardLeader', leaderOf(this.world.machines, shard as GroupId));
    set('metadataLeader', leaderOf(this.world.machines, METADATA_GROUP));
    return found;
  }

  private strike(
    m: Machine,
    table: ShardTable,
    shard: number,
    move: Move,
    nth: number,
    holders: ReadonlyMap<MoveRole, Machine>,
  ): void {
    const repair = this.aim.repair ?? (this.rng.chance(0.5) ? 'long' : 'short');
    const repairAfterMs =
      repair === 'long'
        ? this.rng.intBetween(LONG_MIN_MS, LONG_MAX_MS)
        : this.rng.intBetween(SHORT_MIN_MS, SHORT_MAX_MS);
    const roles = MOVE_ROLES.filter((r) => holders.get(r) === m);
    this.hit = {
      atMs: this.world.nowMs(),
      shard,
      moveId: move.id,
      nth,
      step: this.aim.step,
      machine: m.id,
      roles,
      fault: this.aim.fault,
      repairAfterMs,
      repair,
    };
    this.world.note(
      `aimed: move ${move.id} (number ${nth} at the step) of shard ${shard} (${move.source ?? '-'}>${move.target ?? '-'}) at ${move.step}: ${this.aim.fault} ${m.id} (${roles.join(', ')}) for ${repairAfterMs} ms`,
    );
    if (repair === 'long') this.watchServed(m, table);
    if (this.aim.fault === 'crash') this.crash(m, repairAfterMs);
    else this.isolate(m, repairAfterMs);
  }

  /**
   * Until the repair: which groups (the table's shards and the metadata group) had a leader on a
   * machine other than `struck` that committed an entry of its term; at the repair (served()), all.
   */
  private watchServed(struck: Machine, table: ShardTable): void {
    const waiting = new Set<number>([METADATA_GROUP, ...table.shards.map((e) => e.shardId)]);
    this.unserved = waiting;
    const watch = (): void => {
      if (this.repaired || waiting.size === 0) {
        this.world.watchers.delete(watch);
        return;
      }
      for (const m of this.world.machines) {
        const inc = m.running;
        if (m === struck || inc === undefined) continue;
        for (const group of waiting) if (leadsInItsTerm(inc, group as GroupId)) waiting.delete(group);
      }
    };
    this.world.watchers.add(watch);
  }

  /** At the repair of a long fault: every group was served on the other machines meanwhile. */
  private served(m: Machine): void {
    const unserved = this.unserved;
    if (unserved === undefined || unserved.size === 0) return;
    this.world.fail(
      new RealViolation(
        'liveness',
        `while ${m.id} was ${this.aim.fault === 'crash' ? 'down' : 'cut off'} (${this.hit?.repairAfterMs} ms, from the ${this.aim.step} of move ${this.hit?.moveId}), group(s) ${[...unserved].join(', ')} had no leader on the other machines that committed an entry of its term`,
      ),
    );
  }

  private crash(m: Machine, downMs: number): void {
    const inc = m.current;
    if (inc === undefined) throw new Error(`sim: aimed crash of ${m.id}, which is down`);
    this.world.crash(m);
    this.crashed(inc);
    this.world.schedule(downMs, () => {
      this.served(m);
      this.repaired = true;
      if (m.current !== undefined) return;
      const next = m.start();
      this.world.note(`aimed: ${m.id}#${next.number} restarting`);
    });
  }

  private isolate(m: Machine, cutMs: number): void {
    for (const other of this.world.machines) if (other !== m) this.world.network.cutBoth(m.id, other.id);
    this.world.schedule(cutMs, () => {
      this.served(m);
      this.repaired = true;
      this.world.network.heal();
      this.world.note(`aimed: ${m.id} reaches the others again`);
    });
  }
}

/** The newest shard table on the running machines: the one with the highest table operation. */
function newestTable(machines: readonly Machine[]): ShardTable | undefined {
  let newest: ShardTable | undefined;
  for (const m of machines) {
    const table = m.running?.kv.metadata.table;
    if (table !== undefined && (newest === undefined || table.lastOp > newest.lastOp)) newest = table;
  }
  return newest;
}

/** The running machine that leads `group` in the highest term, if any does. */
function leaderOf(machines: readonly Machine[], group: GroupId): Machine | undefined {
  let leader: { m: Machine; term: number } | undefined;
  for (const m of machines) {
    const st = m.running?.kv.status(group);
    if (st?.role === 'leader' && (leader === undefined || st.term > leader.term))
      leader = { m, term: st.term };
  }
  return leader?.m;
}

/** `inc` leads `group` and has committed an entry of its own term (its first, at least). */
function leadsInItsTerm(inc: Incarnation, group: GroupId): boolean {
  const st = inc.kv.status(group);
  if (st?.role !== 'leader') return false;
  const log = inc.kv.group(group).storage;
  const c = st.commit;
  return c >= log.firstIndex() - 1 && c <= log.lastIndex() && log.term(c) === st.term;
}
