// The faults of the real-node world, one at a time at random intervals: crash a node (often a
// shard's leader) and restart it a little later on the same disk, pause one (SIGSTOP: its timers
// fire late and its messages arrive stale when it resumes), partition the network (halves, an
// isolated leader, one-way links, a node that reaches only some peers), heal it, change its
// conditions (loss, duplication, delay, reordering), fail a WAL write with EIO (the node must stop;
// it is restarted on the same disk), and the other disk faults: latency spikes, ENOSPC on a WAL
// write or sync and EIO on a WAL sync (the node must stop), EIO on a snapshot write (it must stop)
// or ENOSPC (it may go on without the snapshot), a full disk for a few seconds (it must refuse
// writes, or stop, and take writes again once there is room); and, in some seeds, once: a damaged
// WAL record (the node must refuse to start on it, and the machine then stays down for the rest of
// the run, as an operator who has not acted yet would leave it); and, on a schedule of their own,
// leadership transfers: a leader hands a group it leads to another of its voters, as the balancer,
// a move or an operator may at any moment (the proposals in flight must neither be lost nor applied
// twice). Mostly one machine is down at a time, sometimes more: a crash loses only what was not
// synced, so nothing acknowledged may be lost either way.
import type { GroupId } from '../../node/ids.ts';
import type { NodeId } from '../../raft/types.ts';
import { CALM_NETWORK, type NetworkConditions, type PartitionKind } from '../network.ts';
import type { Prng } from '../prng.ts';
import type { NodeChecks } from './checks.ts';
import { damageWal, watchRefusal } from './corruption.ts';
import type { Incarnation, Machine } from './node-slot.ts';
import { RealViolation } from './violation.ts';
import type { World } from './world.ts';

/** How long a crash waits for a disk operation in flight before it strikes anyway. */
const MID_WRITE_WAIT_MS = 2_000;

/** A WAL segment file (src/storage/wal.ts names them by a 16-digit sequence number). */
const WAL_SEGMENT = /\/wal\/\d{16}\.wal$/;
/** A snapshot file being written (src/storage/snapshots.ts: `snap-<group>-<index>.snap.tmp`). */
const SNAPSHOT_TMP = /\/snap\/snap-\d+-\d+\.snap\.tmp$/;
/** A latency spike: the next disk operation takes this much longer (uniform). */
const STALL_MIN_MS = 50;
const STALL_MAX_MS = 500;
/** A full disk keeps at most this much room (less than a WAL segment of the simulator's 64 KiB, often). */
const FULL_FREE_BYTES_MAX = 96 * 1024;
const FULL_MIN_MS = 1_000;
const FULL_MAX_MS = 6_000;

/** The disk faults beyond EIO on a WAL write, each drawn with the same chance. */
export const DISK_FAULT_KINDS = [
  'stall',
  'walWriteNoSpace',
  'walSyncNoSpace',
  'walSyncEio',
  'snapshotWriteEio',
  'snapshotWriteNoSpace',
  'diskFull',
] as const;
export type DiskFaultKind = (typeof DISK_FAULT_KINDS)[number];

const PARTITION_KINDS: readonly PartitionKind[] = ['halves', 'isolateLeader', 'oneWay', 'partialReach'];

/** Of the network's condition windows, the share that reorders messages. */
const REORDER_WINDOW_CHANCE = 1 / 3;
/** In such a window, the share of messages that skip their link's order: uniform, in percent. */
const REORDER_PCT_MIN = 5;
const REORDER_PCT_MAX = 30;
/**
 * The longest delay of a message that skips its link's order: data of a broken stream still arriving
 * after the next stream's (the real transport reconnects after 50 ms or more, then a round trip).
 */
const REORDER_DELAY_MAX_MS = 250;

/** Faults on a schedule and a random stream of their own: one every [min, max] ms, drawn from `rng`. */
export interface OwnSchedule {
  readonly rng: Prng;
  readonly everyMinMs: number;
  readonly everyMaxMs: number;
}

export interface NemesisSettings {
  /** Between two faults: uniform in [min, max] ms. */
  readonly everyMinMs: number;
  readonly everyMaxMs: number;
  /** A crashed machine restarts after a time uniform in [min, max] ms. */
  readonly downMinMs: number;
  readonly downMaxMs: number;
  readonly crashes: boolean;
  /** The chance that a crash waits for the machine's next disk operation in flight (to tear it). */
  readonly crashMidWriteChance: number;
  /** When a machine is already down, the chance that a crash takes another one too. */
  readonly moreDownChance: number;
  readonly partitions: boolean;
  readonly pauses: boolean;
  /** Inject EIO into WAL writes. */
  readonly diskFaults: boolean;
  /**
   * The other disk faults (DISK_FAULT_KINDS), on a schedule and a random stream of their own, every
   * [min, max] ms: latency spikes, ENOSPC on a WAL write or sync, EIO on a WAL sync, EIO or ENOSPC on
   * a snapshot write, a full disk for a few seconds. Off: the runs of the seeds are those from before
   * they existed.
   */
  readonly moreDiskFaults: OwnSchedule | undefined;
  /**
   * Leadership transfers, on a schedule and a random stream of their own, every [min, max] ms. Off:
   * the runs of the seeds are those from before they existed.
   */
  readonly leaderTransfers: OwnSchedule | undefined;
  /** A paused machine resumes after a time uniform in [min, max] ms. */
  readonly pauseMinMs: number;
  readonly pauseMaxMs: number;
  /** A lossy window drops up to this share of messages (a multiple of 0.01, at most LOSS_RATE_MAX). */
  readonly lossRateMax: number;
  /**
   * Reordering: in some of the network's condition windows a share of the messages skip their link's
   * order, drawn from this stream of their own. Off: the runs of the seeds are those from before it.
   */
  readonly reordering: Prng | undefined;
  /**
   * A damaged WAL record during the faults: at `atMs` into them (or, while no machine runs, as soon
   * after as one does), on a running machine but the `spared` ones, drawn from `rng` as the record is.
   */
  readonly walDamage:
    | { readonly rng: Prng; readonly atMs: number; readonly spared: readonly string[] }
    | undefined;
}

/** While no machine can be damaged (none runs joined and awake), look again this often. */
const WAL_DAMAGE_RETRY_MS = 500;

export class Nemesis {
  private readonly world: World;
  private readonly checks: NodeChecks;
  private readonly rng: Prng;
  private readonly s: NemesisSettings;
  private active = false;
  readonly stats = {
    crashes: 0,
    restarts: 0,
    partitions: 0,
    pauses: 0,
    diskFaults: 0,
    heals: 0,
    conditions: 0,
    /** The highest loss rate of a window, and the windows that reordered messages. */
    lossRateMax: 0,
    reorderWindows: 0,
    /** WAL records damaged during the faults. */
    walDamages: 0,
    /** Leadership transfers asked of a leader. */
    leaderTransfers: 0,
    /** Of the other disk faults, how many of each kind were injected. */
    moreDiskFaults: Object.fromEntries(DISK_FAULT_KINDS.map((k) => [k, 0])) as Record<DiskFaultKind, number>,
  };

  constructor(world: World, checks: NodeChecks, rng: Prng, settings: NemesisSettings) {
    this.world = world;
    this.checks = checks;
    this.rng = rng;
    this.s = settings;
    world.onDiskFaultStop = (inc) => this.stoppedOnDiskFault(inc);
  }

  begin(): void {
    this.active = true;
    this.next();
    this.onOwnSchedule(this.s.moreDiskFaults, (rng) => this.moreDiskFault(rng));
    this.onOwnSchedule(this.s.leaderTransfers, (rng) => this.transferOneLeadership(rng));
    const damage = this.s.walDamage;
    if (damage !== undefined)
      this.world.schedule(damage.atMs, () => this.damageOneWal(damage.rng, damage.spared));
  }

  /** No more faults; the network heals, conditions calm down, and every machine that is down restarts. */
  end(): void {
    this.active = false;
    this.world.network.heal();
    this.world.network.setConditions(CALM_NETWORK);
    this.world.note('nemesis: healed, calm network');
    for (const m of this.world.machines) {
      if (this.s.moreDiskFaults !== undefined) this.mend(m);
      if (!m.launched || m.staysDown) continue;
      if (m.current === undefined) this.restart(m);
      else if (m.current.paused) this.world.resume(m);
    }
  }

  private next(): void {
    this.world.schedule(this.rng.intBetween(this.s.everyMinMs, this.s.everyMaxMs), () => {
      if (!this.active) return;
      this.act();
      this.next();
    });
  }

  private act(): void {
    const r = this.rng.nextInt(100);
    if (r < 30 && this.s.crashes) this.crashOne();
    else if (r < 50 && this.s.partitions) this.partition();
    else if (r < 62 && this.s.pauses) this.pauseOne();
    else if (r < 68 && this.s.diskFaults) this.diskFault();
    else if (r < 80) {
      this.world.network.heal();
      this.stats.heals++;
      this.world.note('nemesis: heal');
    } else this.conditions();
  }

  private crashOne(): void {
    // A machine whose WAL was damaged is not a victim: its incarnation started on the damaged WAL
    // must be left to refuse (or start) while corruption.ts watches it.
    const machines = this.world.machines.filter((m) => m.current !== undefined && !m.staysDown);
    // Mostly one machine down at a time; sometimes more, even all: the disks keep what was synced,
    // so no acknowledged write may be lost however many crash. A joiner not started yet is not down.
    // A machine that stays down (it left, or refused its damaged WAL) is not down for this count.
    const down = this.world.machines.filter((m) => m.launched && !m.staysDown).length - machines.length;
    if (machines.length === 0 || (down > 0 && !this.rng.chance(this.s.moreDownChance))) return;
    const leaders = machines.filter((m) => m.running?.kv.statuses().some((s) => s.role === 'leader'));
    const victim =
      leaders.length > 0 && this.rng.chance(0.6) ? this.rng.pick(leaders) : this.rng.pick(machines);
    if (victim.current === undefined) return;
    if (this.rng.chance(this.s.crashMidWriteChance)) this.crashMidWrite(victim);
    else this.crash(victim);
  }

  /**
   * Crashes `m` at the first moment it has a disk write or sync in flight (within a bound), so that
   * the crash tears what the disk had not finished: the torn tails the WAL's recovery must cut.
   */
  private crashMidWrite(m: Machine): void {
    const inc = m.current;
    const giveUpMs = this.world.nowMs() + MID_WRITE_WAIT_MS;
    const watch = (): void => {
      if (m.current !== inc || inc === undefined || !this.active) {
        this.world.watchers.delete(watch);
        return;
      }
      if (inc.disk.inFlight === 0 && this.world.nowMs() < giveUpMs) return;
      this.world.watchers.delete(watch);
      this.crash(m);
    };
    this.world.watchers.add(watch);
  }

  private crash(m: Machine): void {
    const inc = m.current;
    if (inc === undefined) return;
    this.world.crash(m);
    this.checks.crashed(inc);
    this.stats.crashes++;
    this.world.schedule(this.rng.intBetween(this.s.downMinMs, this.s.downMaxMs), () => {
      if (m.current === undefined) this.restart(m);
    });
  }

  /** SIGSTOP a running machine (often a leader) for longer than an election timeout, then SIGCONT. */
  private pauseOne(): void {
    const up = this.world.machines.filter((m) => m.running !== undefined && m.current?.paused === false);
    if (up.length === 0) return;
    const leaders = up.filter((m) => m.running?.kv.statuses().some((s) => s.role === 'leader'));
    const victim = leaders.length > 0 && this.rng.chance(0.7) ? this.rng.pick(leaders) : this.rng.pick(up);
    const inc = victim.current;
    if (inc === undefined) return;
    this.world.pause(victim);
    this.stats.pauses++;
    this.world.schedule(this.rng.intBetween(this.s.pauseMinMs, this.s.pauseMaxMs), () => {
      if (victim.current === inc && inc.paused) this.world.resume(victim);
    });
  }

  /** The next write to a WAL segment of a running machine fails with EIO: its node must stop, acknowledging nothing it did not make durable. */
  private diskFault(): void {
    const up = this.world.machines.filter((m) => m.running !== undefined);
    if (up.length === 0) return;
    const victim = this.rng.pick(up);
    victim.disk.failNext({ op: 'write', path: WAL_SEGMENT, code: 'EIO' });
    this.stats.diskFaults++;
    this.world.note(`nemesis: ${victim.id}'s next WAL write fails (EIO)`);
  }

  /** Runs `fault` on `schedule` (none when it is off) while the faults last. */
  private onOwnSchedule(schedule: OwnSchedule | undefined, fault: (rng: Prng) => void): void {
    if (schedule === undefined) return;
    const next = (): void => {
      this.world.schedule(schedule.rng.intBetween(schedule.everyMinMs, schedule.everyMaxMs), () => {
        if (!this.active) return;
        fault(schedule.rng);
        next();
      });
    };
    next();
  }

  /** One of DISK_FAULT_KINDS on a running machine. */
  private moreDiskFault(rng: Prng): void {
    const up = this.world.machines.filter((m) => m.running !== undefined);
    if (up.length === 0) return;
    const m = rng.pick(up);
    const kind = rng.pick(DISK_FAULT_KINDS);
    this.stats.moreDiskFaults[kind]++;
    const next = (op: 'write' | 'sync', path: RegExp, code: 'EIO' | 'ENOSPC', what: string): void => {
      m.disk.failNext({ op, path, code });
      this.world.note(`nemesis: ${m.id}'s next ${what} fails (${code})`);
    };
    switch (kind) {
      case 'stall': {
        const ms = rng.intBetween(STALL_MIN_MS, STALL_MAX_MS);
        m.current?.disk.stallNext(ms);
        this.world.note(`nemesis: ${m.id}'s next disk operation takes ${ms} ms more`);
        break;
      }
      case 'walWriteNoSpace':
        next('write', WAL_SEGMENT, 'ENOSPC', 'WAL write');
        break;
      case 'walSyncNoSpace':
        next('sync', WAL_SEGMENT, 'ENOSPC', 'WAL sync');
        break;
      case 'walSyncEio':
        next('sync', WAL_SEGMENT, 'EIO', 'WAL sync');
        break;
      case 'snapshotWriteEio':
        next('write', SNAPSHOT_TMP, 'EIO', 'snapshot write');
        break;
      case 'snapshotWriteNoSpace':
        next('write', SNAPSHOT_TMP, 'ENOSPC', 'snapshot write');
        break;
      case 'diskFull':
        this.fillUp(m, rng);
        break;
    }
  }

  /** A running, awake leader hands one group it leads to another voter of it (caught up or not). */
  private transferOneLeadership(rng: Prng): void {
    const led: { m: Machine; group: number; to: NodeId }[] = [];
    for (const m of this.world.machines) {
      if (m.running === undefined || m.current?.paused !== false) continue;
      for (const g of m.running.kv.statuses()) {
        if (g.role !== 'leader') continue;
        for (const v of g.confState.voters) if (v !== g.self) led.push({ m, group: g.id, to: v });
      }
    }
    if (led.length === 0) return;
    const { m, group, to } = rng.pick(led);
    try {
      m.running?.kv.transferLeadership(group as GroupId, to);
    } catch {
      // The group left the node between the look and the ask: nothing to hand over.
      return;
    }
    this.stats.leaderTransfers++;
    this.world.note(`nemesis: ${m.id} hands the leadership of group ${group} to ${to}`);
  }

  /** Fills `m`'s disk (other files took the space), and gives the room back a few seconds later. */
  private fillUp(m: Machine, rng: Prng): void {
    if (m.diskFull) return;
    const free = rng.nextInt(FULL_FREE_BYTES_MAX + 1);
    m.disk.fillUp(free);
    m.diskFull = true;
    this.world.note(`nemesis: ${m.id}'s disk is full (${free} bytes free)`);
    this.world.schedule(rng.intBetween(FULL_MIN_MS, FULL_MAX_MS), () => this.roomAgain(m));
  }

  private roomAgain(m: Machine): void {
    if (!m.diskFull) return;
    m.disk.setCapacity(m.disk.capacityBytes);
    m.diskFull = false;
    this.world.note(`nemesis: ${m.id}'s disk has room again`);
  }

  /** The disk is whole again: its room back, the faults not yet hit taken back. */
  private mend(m: Machine): void {
    m.disk.clearFaults();
    this.roomAgain(m);
  }

  /** A node stopped on its disk fault, as it must: the process is gone; it starts again a little later. */
  private stoppedOnDiskFault(inc: Incarnation): void {
    const m = inc.machine;
    this.world.crash(m);
    this.checks.crashed(inc);
    this.world.schedule(this.rng.intBetween(this.s.downMinMs, this.s.downMaxMs), () => {
      if (m.current === undefined) this.restart(m);
    });
  }

  private restart(m: Machine): void {
    if (m.staysDown) return;
    const inc = m.start();
    this.stats.restarts++;
    this.world.note(`${m.id}#${inc.number} restarting`);
  }

  /**
   * Damages a synced WAL record of one running machine (its disk mended first, so that its refusal
   * is about the record alone) and watches its node refuse to start; the machine then stays down.
   */
  private damageOneWal(rng: Prng, spared: readonly string[]): void {
    if (!this.active) return;
    // Not one a joiner still joins through (its operator would point it elsewhere), nor one to be
    // asked to leave (its node could not learn that it was removed).
    const joinsVia = new Set(this.world.machines.filter((j) => !j.joinedOnce).map((j) => j.options.joinAddr));
    const up = this.world.machines.filter(
      (m) =>
        m.running?.joined === true &&
        m.current?.paused === false &&
        !m.leaving &&
        !spared.includes(m.id) &&
        !joinsVia.has(m.clientAddr),
    );
    if (up.length === 0) {
      this.world.schedule(WAL_DAMAGE_RETRY_MS, () => this.damageOneWal(rng, spared));
      return;
    }
    const m = rng.pick(up);
    this.mend(m);
    this.stats.walDamages++;
    void damageWal(this.world, this.checks, m, rng).then(
      (d) => {
        if (d !== undefined) watchRefusal(this.world, d);
      },
      (e: unknown) =>
        this.world.fail(
          new RealViolation('simulatorError', e instanceof Error ? (e.stack ?? e.message) : String(e)),
        ),
    );
  }

  private partition(): void {
    const ids = this.world.machines.map((m) => m.id as NodeId);
    const leader = this.world.machines.find((m) => m.running?.kv.statuses().some((s) => s.role === 'leader'));
    const what = this.world.network.partition(this.rng.pick(PARTITION_KINDS), ids, leader?.id);
    this.stats.partitions++;
    this.world.note(`nemesis: ${what}`);
  }

  /** New network conditions until the next: half of them without loss, most without reordering. */
  private conditions(): void {
    const lossPctMax = Math.round(this.s.lossRateMax * 100);
    const lossRate = this.rng.chance(0.5) ? 0 : this.rng.nextInt(lossPctMax + 1) / 100;
    const duplicateRate = this.rng.chance(0.7) ? 0 : this.rng.nextInt(6) / 100;
    const delayMaxMs = this.rng.intBetween(2, 30);
    const r = this.s.reordering;
    const reorders = r?.chance(REORDER_WINDOW_CHANCE) === true;
    const c: NetworkConditions = {
      lossRate,
      duplicateRate,
      delayMinMs: 1,
      delayMaxMs,
      reorderRate: reorders ? r.intBetween(REORDER_PCT_MIN, REORDER_PCT_MAX) / 100 : 0,
      reorderDelayMaxMs: reorders ? r.intBetween(delayMaxMs, REORDER_DELAY_MAX_MS) : delayMaxMs,
    };
    this.world.network.setConditions(c);
    this.stats.conditions++;
    if (c.lossRate > this.stats.lossRateMax) this.stats.lossRateMax = c.lossRate;
    if (reorders) this.stats.reorderWindows++;
    const reordering =
      c.reorderRate > 0 ? `, reorder ${c.reorderRate} (up to ${c.reorderDelayMaxMs} ms)` : '';
    this.world.note(
      `nemesis: loss ${c.lossRate}, dup ${c.duplicateRate}, delay 1-${c.delayMaxMs} ms${reordering}`,
    );
  }
}
