// Clients of the real-node world. They enter through the node's request API (src/node/requests.ts:
// `write` and `read`, what src/server's KVService runs once it has decoded a call and chosen to
// serve it on this node), each slot one operation at a time: put, get (linearizable) or
// compare-and-swap on a few keys, at the node it believes leads the key's shard, or at any node
// (whose core forwards the proposal or the ReadIndex to its leader; a node that holds no replica of
// the shard passes the request to one that does, as src/server does). Every operation is recorded
// for src/lincheck; a write that fails retry-safe (nothing was written) is left out; one that is
// not answered by its deadline, or whose node dies, is indeterminate and moves the slot to a fresh
// client id. Acknowledged writes are kept for the check that none is lost.
import type { KvInput, KvOperation, KvOutput } from '../../lincheck/types.ts';
import { NodeError, UnavailableError } from '../../node/errors.ts';
import { shardId } from '../../node/ids.ts';
import type { KvNode } from '../../node/node.ts';
import { getValue, read, write } from '../../node/requests.ts';
import { shardOf } from '../../ring/slots.ts';
import type { CasExpect } from '../../storage/command.ts';
import type { Prng } from '../prng.ts';
import type { Incarnation, Machine } from './node-slot.ts';
import { RealViolation } from './violation.ts';
import type { World } from './world.ts';

export interface ClientSettings {
  readonly clients: number;
  readonly keys: number;
  /** The deadline handed to the node, from the call. */
  readonly opTimeoutMs: number;
  readonly thinkMaxMs: number;
  /** Bound on operations in the history. */
  readonly opsMax: number;
}

/** A write that was acknowledged: its value must not be lost. */
export interface AckedWrite {
  readonly key: string;
  readonly value: string;
  readonly callMs: number;
  readonly returnMs: number;
}

type Outcome<T> = { readonly ok: T } | { readonly err: unknown } | { readonly timedOut: true };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class SimClients {
  readonly history: KvOperation[] = [];
  readonly acked: AckedWrite[] = [];
  /** Every write that may have taken effect (acknowledged or indeterminate), by value. */
  readonly mayHaveWritten = new Map<string, { key: string; callMs: number; returnMs: number }>();
  readonly stats = { completed: 0, indeterminate: 0, refused: 0, forwarded: 0 };
  private readonly world: World;
  private readonly rng: Prng;
  private readonly s: ClientSettings;
  private readonly clientIds: number[] = [];
  private nextClientId = 1;
  private values = 0;
  private running = false;
  /** Where each shard's leader was last seen, by shard. */
  private readonly leaderHint = new Map<number, Machine>();

  constructor(world: World, rng: Prng, settings: ClientSettings) {
    this.world = world;
    this.rng = rng;
    this.s = settings;
    for (let i = 0; i < settings.clients; i++) this.clientIds.push(this.nextClientId++);
  }

  get keys(): string[] {
    return Array.from({ length: this.s.keys }, (_, i) => `k${i}`);
  }

  /** Every slot starts issuing operations. */
  begin(): void {
    this.running = true;
    for (let slot = 0; slot < this.s.clients; slot++) {
      this.world.schedule(this.rng.nextInt(this.s.thinkMaxMs + 1), () => this.stepSafely(slot));
    }
  }

  /** No slot issues another operation (those in flight finish). */
  stop(): void {
    this.running = false;
  }

  /** A client's step; a throw of the simulator's own code ends the seed as its error, not the process. */
  private stepSafely(slot: number): void {
    this.step(slot).catch((e: unknown) =>
      this.world.fail(
        new RealViolation(
          'simulatorError',
          `client step: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        ),
      ),
    );
  }

  private async step(slot: number): Promise<void> {
    if (!this.running || this.history.length >= this.s.opsMax) return;
    const key = this.rng.pick(this.keys);
    const r = this.rng.nextInt(100);
    if (r < 35) await this.put(slot, key);
    else if (r < 70) await this.get(slot, key);
    else await this.cas(slot, key);
    this.world.schedule(this.rng.nextInt(this.s.thinkMaxMs + 1), () => this.stepSafely(slot));
  }

  private newValue(slot: number): string {
    return `c${this.clientIds[slot]}.${++this.values}`;
  }

  private async put(slot: number, key: string): Promise<void> {
    const value = this.newValue(slot);
    await this.writeOp(
      slot,
      key,
      { kind: 'put', key, value },
      { op: 'put', key: bytes(key), value: bytes(value) },
      () => ({
        kind: 'put',
      }),
    );
  }

  private async cas(slot: number, key: string): Promise<void> {
    const value = this.newValue(slot);
    const current = this.lastSeen.get(key);
    const expected = current === undefined || this.rng.chance(0.2) ? null : current;
    const expect: CasExpect =
      expected === null ? { kind: 'absent' } : { kind: 'value', value: bytes(expected) };
    await this.writeOp(
      slot,
      key,
      { kind: 'cas', key, expected, value },
      { op: 'cas', key: bytes(key), expect, value: bytes(value) },
      (result) => ({ kind: 'cas', succeeded: result.op === 'cas' && result.ok === true }),
    );
  }

  /** The value each key was last read or written with by any slot (to make compare-and-swaps succeed often). */
  private readonly lastSeen = new Map<string, string>();

  private async writeOp(
    slot: number,
    key: string,
    input: Extract<KvInput, { kind: 'put' | 'cas' }>,
    body: Parameters<typeof write>[2],
    output: (result: { op: string; ok?: boolean }) => KvOutput,
  ): Promise<void> {
    const callMs = this.world.nowMs();
    const target = this.pickNode(key);
    if (target === undefined) return;
    const { machine, shard } = target;
    const inc = machine.running;
    if (inc === undefined) return;
    const deadlineMs = callMs + this.s.opTimeoutMs;
    this.mayHaveWritten.set(input.value, { key, callMs, returnMs: Number.POSITIVE_INFINITY });
    const o = await this.within(
      this.serveAt(inc, shard, deadlineMs, (kv) => write(kv, shard, body, deadlineMs)),
    );
    const clientId = this.clientIds[slot] as number;
    if ('ok' in o) {
      const out = output(o.ok.result as { op: string; ok?: boolean });
      const returnMs = this.world.nowMs();
      this.history.push({ clientId, input, output: out, callTime: callMs, returnTime: returnMs });
      this.stats.completed++;
      this.leaderHint.set(shard, machine);
      const wrote = input.kind === 'put' || (out.kind === 'cas' && out.succeeded);
      if (wrote) {
        this.acked.push({ key, value: input.value, callMs, returnMs });
        this.mayHaveWritten.set(input.value, { key, callMs, returnMs });
        this.lastSeen.set(key, input.value);
      } else this.mayHaveWritten.delete(input.value);
      this.world.note(
        `client ${clientId} ${describe(input)} -> ok ${out.kind === 'cas' ? out.succeeded : ''}`,
      );
      return;
    }
    this.leaderHint.delete(shard);
    if ('err' in o && o.err instanceof NodeError && o.err.retrySafe) {
      // Nothing was written: the operation did not happen.
      this.mayHaveWritten.delete(input.value);
      this.stats.refused++;
      this.world.note(`client ${clientId} ${describe(input)} -> refused (${o.err.code})`);
      return;
    }
    this.history.push({
      clientId,
      input,
      output: undefined,
      callTime: callMs,
      returnTime: Number.POSITIVE_INFINITY,
    });
    this.stats.indeterminate++;
    this.clientIds[slot] = this.nextClientId++;
    this.world.note(`client ${clientId} ${describe(input)} -> indeterminate`);
  }

  private async get(slot: number, key: string): Promise<void> {
    const callMs = this.world.nowMs();
    const target = this.pickNode(key);
    if (target === undefined) return;
    const { machine, shard } = target;
    const inc = machine.running;
    if (inc === undefined) return;
    const o = await this.within(this.readAt(inc, shard, key, callMs + this.s.opTimeoutMs));
    const clientId = this.clientIds[slot] as number;
    if (!('ok' in o)) {
      // A read never takes effect: one that failed constrains nothing.
      this.leaderHint.delete(shard);
      this.world.note(`client ${clientId} get ${key} -> failed`);
      return;
    }
    const v = o.ok.value;
    const value = v === undefined ? '' : decoder.decode(v);
    if (v !== undefined) this.lastSeen.set(key, value);
    this.leaderHint.set(shard, machine);
    this.history.push({
      clientId,
      input: { kind: 'get', key },
      output: { kind: 'get', found: v !== undefined, value },
      callTime: callMs,
      returnTime: this.world.nowMs(),
    });
    this.stats.completed++;
    this.world.note(`client ${clientId} get ${key} -> ${v === undefined ? 'absent' : value}`);
  }

  /**
   * A linearizable read of `key` for the final check, entering at `via` (passed on to a replica when
   * it holds none of the key's shard), or else at the node that leads the key's shard; undefined when
   * it fails (the caller retries).
   */
  async finalRead(key: string, via?: Machine): Promise<{ found: boolean; value: string } | undefined> {
    const callMs = this.world.nowMs();
    const target = this.pickNode(key, true);
    if (target === undefined) return undefined;
    const inc = (via ?? target.machine).running;
    if (inc === undefined) return undefined;
    const o = await this.within(this.readAt(inc, target.shard, key, callMs + this.s.opTimeoutMs));
    if (!('ok' in o)) return undefined;
    const v = o.ok.value;
    const out = { found: v !== undefined, value: v === undefined ? '' : decoder.decode(v) };
    this.history.push({
      clientId: this.nextClientId++,
      input: { kind: 'get', key },
      output: { kind: 'get', ...out },
      callTime: callMs,
      returnTime: this.world.nowMs(),
    });
    this.world.note(`final get ${key} at ${inc.machine.id} -> ${out.found ? out.value : 'absent'}`);
    return out;
  }

  /** A linearizable read of `key` at `inc`'s client API (once it is not paused): the value's bytes, if any. */
  private readAt(inc: Incarnation, shard: number, key: string, deadlineMs: number) {
    return this.serveAt(inc, shard, deadlineMs, (kv) =>
      read(kv, shard, false, deadlineMs, (m) => getValue(m, bytes(key))?.value),
    );
  }

  /**
   * A request for `shard` arriving at `inc`'s client port: served there when it hosts the shard,
   * else passed on, as src/server does (`replicaElsewhere`), to one of the voters the shard table
   * gives it, over the network (retry-safe UNAVAILABLE when the table names none).
   */
  private serveAt<T>(
    inc: Incarnation,
    shard: number,
    deadlineMs: number,
    serve: (kv: KvNode) => Promise<T>,
  ): Promise<T> {
    return this.world.enter(inc, () => {
      if (inc.kv.status(shardId(shard)) !== undefined) return serve(inc.kv);
      const addrs = inc.kv.replicaAddrs(shard);
      if (addrs.length === 0) {
        return Promise.reject(
          new UnavailableError(`no replica of shard ${shard} is known at ${inc.machine.id}`, {
            retrySafe: true,
          }),
        );
      }
      this.stats.forwarded++;
      return this.world.call(inc.machine.id, this.rng.pick(addrs), deadlineMs, serve);
    });
  }

  /** The node to ask about `key`: its shard's leader as last seen (or as a node knows it), else any running node. */
  private pickNode(key: string, leaderOnly = false): { machine: Machine; shard: number } | undefined {
    const up = this.world.machines.filter((m) => m.running !== undefined);
    if (up.length === 0) return undefined;
    // A joiner that has not received the metadata yet knows no shard count (0).
    const shardCount = up.map((m) => m.running?.kv.shardCount ?? 0).find((n) => n > 0);
    if (shardCount === undefined) return undefined;
    const shard = shardOf(bytes(key), shardCount);
    const hinted = this.leaderHint.get(shard);
    if (hinted?.running !== undefined && (leaderOnly || this.rng.chance(0.7)))
      return { machine: hinted, shard };
    for (const m of up) {
      const st = m.running?.kv.status(shardId(shard));
      if (st?.role === 'leader' && (leaderOnly || this.rng.chance(0.5))) return { machine: m, shard };
    }
    if (leaderOnly) return undefined;
    return { machine: this.rng.pick(up), shard };
  }

  /** `p`'s outcome, or timedOut once its deadline (and a little more) has passed: a dead node never answers. */
  private within<T>(p: Promise<T>): Promise<Outcome<T>> {
    return new Promise((resolve) => {
      let done = false;
      p.then(
        (ok) => {
          if (done) return;
          done = true;
          resolve({ ok });
        },
        (err: unknown) => {
          if (done) return;
          done = true;
          resolve({ err });
        },
      );
      this.world.schedule(this.s.opTimeoutMs + 1, () => {
        if (done) return;
        done = true;
        resolve({ timedOut: true });
      });
    });
  }
}

function bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

function describe(input: KvInput): string {
  switch (input.kind) {
    case 'put':
      return `put ${input.key}=${input.value}`;
    case 'cas':
      return `cas ${input.key} ${input.expected ?? 'absent'}->${input.value}`;
    default:
      return `${input.kind} ${input.key}`;
  }
}
