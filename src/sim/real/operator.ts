// The operator of the real-node world: `ringkv cluster leave` of one member during the faults. The
// request enters at a running member's client port (ClusterService.Leave, as cluster-rpc.ts's
// leaveVia runs it: forwarded to the metadata leader, which drains the member through the rebalancer
// and removes it), and is asked again, at a member drawn anew, until it succeeds: a leave answers
// UNAVAILABLE while the member still holds replicas ("retry the leave to wait longer"), and a call
// whose node dies is never answered. The member, once it learns it was removed, stops for good
// (world.ts).
import type { Prng } from '../prng.ts';
import { leaveVia } from './cluster-rpc.ts';
import type { Machine } from './node-slot.ts';
import type { World } from './world.ts';

/** One Leave call's deadline (src/server gives membership calls 120 s). */
const LEAVE_CALL_MS = 30_000;
const RETRY_MS = 1_000;

export class Operator {
  private readonly world: World;
  private readonly rng: Prng;
  /** The member asked to leave, once the operator has begun. */
  leaving: Machine | undefined;
  /** The Leave call returned success. */
  done = false;
  attempts = 0;

  constructor(world: World, rng: Prng) {
    this.world = world;
    this.rng = rng;
  }

  /** Asks the cluster to remove `m`, from now on until it succeeds. */
  leave(m: Machine): void {
    if (this.leaving !== undefined) throw new Error(`sim: a second leave (${m.id})`);
    this.leaving = m;
    m.leaving = true;
    this.world.note(`operator: cluster leave ${m.id}`);
    this.attempt(m);
  }

  private attempt(m: Machine): void {
    if (this.done) return;
    const up = this.world.machines.filter((x) => x.running !== undefined && !x.left);
    const entry = up.length > 0 ? this.rng.pick(up) : undefined;
    const inc = entry?.running;
    if (inc === undefined) {
      this.world.schedule(RETRY_MS, () => this.attempt(m));
      return;
    }
    this.attempts++;
    const deadlineMs = this.world.nowMs() + LEAVE_CALL_MS;
    let settled = false;
    const next = (what: string): void => {
      if (settled) return;
      settled = true;
      this.world.note(`operator: leave ${m.id} at ${inc.machine.id}: ${what}`);
      if (what === 'done') this.done = true;
      else this.world.schedule(RETRY_MS, () => this.attempt(m));
    };
    this.world
      .enter(inc, () => leaveVia(this.world, inc.kv, m.id, deadlineMs))
      .then(
        () => next('done'),
        (e: unknown) => next(e instanceof Error ? e.message : String(e)),
      );
    // A node that dies never answers: the operator gives up on the call at its deadline.
    this.world.schedule(LEAVE_CALL_MS + 1, () => next('no answer'));
  }
}
