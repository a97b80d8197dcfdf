// A corrupted record in the middle of a WAL, during the faults (in a third of the seeds: nemesis.ts)
// or else after the end checks: one machine that runs is crashed, one bit of a record its WAL had
// synced flips on its disk (bit rot, a misdirected write), and it is started again. Its node must
// refuse to start, with a message that names the damaged file and tells the operator what to do
// (move the data directory aside and re-add the node); the machine then stays down, as an operator
// would leave it until they act, while the others keep a quorum. A node that starts on the damaged
// record instead (its replay did not verify it) is a `walCorruption` violation.
//
// The record is one of a data shard's entries with a verified record after it (in the middle of the
// log: a damaged last record followed only by zeroes is a torn tail, which recovery must cut), and
// the bit is the lowest one of its last byte: the last byte of a command's value, so that a replay
// that skipped the checksum decodes the record and starts on a value no client wrote.
import { join } from 'node:path';
import { decodeFrame } from '../../storage/record.ts';
import type { Prng } from '../prng.ts';
import type { NodeChecks } from './checks.ts';
import type { Incarnation, Machine } from './node-slot.ts';
import { RealViolation } from './violation.ts';
import type { World } from './world.ts';

/** How long the damaged node has to refuse (or to start). */
const START_BOUND_MS = 10_000;
/** A WAL segment's file name (src/storage/wal.ts). */
const SEGMENT_NAME = /^\d{16}\.wal$/;
/** What the refusal must say: that the log is corrupt, and the operator's way out. */
const CLEAR_REFUSAL = [/corrupt/i, /move its data directory aside/];

export interface CorruptionTarget {
  readonly file: string;
  readonly offsetBytes: number;
  readonly group: number;
  readonly index: number;
}

/** Candidates in one segment's bytes: last bytes of data-shard entry records followed by a verified record. */
function candidatesIn(file: string, buf: Buffer): CorruptionTarget[] {
  const out: CorruptionTarget[] = [];
  const header = decodeFrame(buf, 0);
  if (header.kind !== 'record') return out;
  // Bounded: each pass moves to the next frame, forward within buf.
  for (let frame = decodeFrame(buf, header.nextOffset); frame.kind === 'record'; ) {
    const next = decodeFrame(buf, frame.nextOffset);
    const r = frame.record;
    const last = r.type === 'entries' ? r.entries[r.entries.length - 1] : undefined;
    if (
      next.kind === 'record' &&
      r.type === 'entries' &&
      r.group > 0 &&
      last?.type === 'normal' &&
      last.data.length > 0
    ) {
      out.push({ file, offsetBytes: frame.nextOffset - 1, group: r.group, index: last.index });
    }
    frame = next;
  }
  return out;
}

/** A synced record to damage on `m`'s disk (the machine is down: everything on it is durable), or undefined. */
async function pickTarget(m: Machine, rng: Prng): Promise<CorruptionTarget | undefined> {
  const fs = m.disk.mount();
  const dir = join(m.options.raftDir, 'wal');
  const names = (await fs.readdir(dir)).filter((n) => SEGMENT_NAME.test(n));
  const all: CorruptionTarget[] = [];
  for (const name of names) all.push(...candidatesIn(join(dir, name), await fs.readFile(join(dir, name))));
  return all.length === 0 ? undefined : rng.pick(all);
}

/** A machine whose WAL was damaged, and its incarnation started on it (which must refuse). */
export interface Damaged {
  readonly machine: Machine;
  readonly target: CorruptionTarget;
  readonly restarted: Incarnation;
}

/**
 * Crashes running `m`, flips one bit of a synced WAL record on its disk and starts it again (its node
 * must refuse). Undefined when it had no record to damage: it is then started again undamaged.
 */
export async function damageWal(
  world: World,
  checks: NodeChecks,
  m: Machine,
  rng: Prng,
): Promise<Damaged | undefined> {
  const inc = m.current;
  if (inc === undefined) throw new Error(`sim: ${m.id} damaged while down`);
  world.crash(m);
  checks.crashed(inc);
  const target = await pickTarget(m, rng);
  if (target === undefined) {
    world.note(`corruption: no record of ${m.id} to damage; restarting it`);
    m.start();
    return undefined;
  }
  m.disk.flipBit(target.file, target.offsetBytes, 0);
  m.corruptedWal = { file: target.file, offsetBytes: target.offsetBytes };
  world.note(
    `corruption: ${m.id}'s ${target.file} byte ${target.offsetBytes} (group ${target.group} index ${target.index}) flipped; restarting it`,
  );
  return { machine: m, target, restarted: m.start() };
}

/**
 * What is wrong with how the damaged node met its WAL so far: it started on it, or refused without
 * naming the file and the way out ('pending': it has done neither yet; undefined: it refused as it must).
 */
export function refusalProblem(d: Damaged): string | 'pending' | undefined {
  const { machine: m, target, restarted } = d;
  if (restarted.started)
    return `${m.id} started on a WAL whose record at ${target.file} byte ${target.offsetBytes} (group ${target.group}, index ${target.index}) was damaged on its disk`;
  const refusal = m.refusal;
  if (refusal === undefined) return 'pending';
  if (!CLEAR_REFUSAL.every((re) => re.test(refusal)) || !refusal.includes(target.file))
    return `${m.id} refused to start on its damaged WAL, but its message does not name ${target.file} and the way out: ${refusal}`;
  return undefined;
}

/**
 * Watches the damaged node from now on, after every event: a start on the damaged record, a refusal
 * that does not say what and where, or neither within START_BOUND_MS is a `walCorruption` violation.
 * For a damage during the faults, where the world runs on while the node starts.
 */
export function watchRefusal(world: World, d: Damaged): void {
  const boundMs = world.nowMs() + START_BOUND_MS;
  const watch = (): void => {
    const problem = refusalProblem(d);
    if (problem === 'pending' && world.nowMs() <= boundMs) return;
    world.watchers.delete(watch);
    if (problem === undefined) return;
    world.fail(
      new RealViolation(
        'walCorruption',
        problem === 'pending'
          ? `${d.machine.id} neither started nor refused within ${START_BOUND_MS} ms`
          : problem,
      ),
    );
  };
  world.watchers.add(watch);
}

/**
 * After the end checks: damages one WAL record of a running machine while it is down and starts it
 * again: it must refuse. Returns where the bit flipped, or undefined when no machine had a record to
 * damage or one was damaged during the faults already (a seed damages one WAL: with 3 machines a
 * second one down would leave no quorum). Throws the violation when the node starts anyway or
 * refuses without saying why.
 */
export async function corruptOneWal(
  world: World,
  checks: NodeChecks,
  rng: Prng,
): Promise<CorruptionTarget | undefined> {
  const damagedBefore = world.machines.find((m) => m.corruptedWal !== undefined);
  if (damagedBefore !== undefined) {
    world.note(`corruption: ${damagedBefore.id}'s WAL was damaged during the faults; no other`);
    return undefined;
  }
  const up = world.machines.filter((m) => m.running?.joined === true && !m.leaving);
  if (up.length === 0) return undefined;
  const d = await damageWal(world, checks, rng.pick(up), rng);
  if (d === undefined) return undefined;
  await world.runUntil(() => refusalProblem(d) !== 'pending', world.nowMs() + START_BOUND_MS);
  const problem = refusalProblem(d);
  if (problem === 'pending')
    throw new RealViolation(
      'walCorruption',
      `${d.machine.id} neither started nor refused within ${START_BOUND_MS} ms`,
    );
  if (problem !== undefined) throw new RealViolation('walCorruption', problem);
  return d.target;
}
