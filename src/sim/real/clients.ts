// Clients of the real-node world. They enter through src/server's KVService handlers (Put, Get,
// CompareAndSwap of src/server/kv-handlers.ts, run by kv-port.ts on the node's client port with real
// request objects), each slot one operation at a time: put, get (linearizable) or compare-and-swap on
// a few keys, at the node it believes leads the key's shard, or at any node. There the handlers run
// as in a real server: a node that does not lead the shard forwards the request to its leader over
// the network (routeTo), one that holds no replica passes it to a voter (replicaElsewhere), a
// request routed by an older shard table than the node's is refused (refuseStaleRoute: the client
// sends the epoch of the last header it saw), and what fails retry-safe is tried again within the
// deadline (retrySafely). Every operation is recorded for src/lincheck; one that fails retry-safe
// (the answer's `ringkv-retry-safe` mark: nothing was written) is left out; a write not answered by
// its deadline, or whose node (or the node it was forwarded to) dies, or that fails otherwise, is
// indeterminate and moves the slot to a fresh client id. Acknowledged writes are kept for the check
// that none is lost. An INTERNAL answer (the server's "request failed unexpectedly") is the node's
// failure.
import type { KvInput, KvOperation, KvOutput } from '../../lincheck/types.ts';
import { shardId } from '../../node/ids.ts';
import { shardOf } from '../../ring/slots.ts';
import type { KvForwardable, KvMethod } from '../../server/kv-peers.ts';
import type { Prng } from '../prng.ts';
import { failureOf, SimKvPorts } from './kv-port.ts';
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
  readonly stats = { completed: 0, indeterminate: 0, refused: 0, staleRoutes: 0 };
  private readonly world: World;
  private readonly rng: Prng;
  private readonly s: ClientSettings;
  /** The nodes' client ports (KVService's handlers). */
  private readonly ports: SimKvPorts;
  private readonly clientIds: number[] = [];
  private nextClientId = 1;
  private values = 0;
  private running = false;
  /** Where each shard's leader was last seen, by shard. */
  private readonly leaderHint = new Map<number, Machine>();
  /** The newest shard epoch seen in an answer's header (or a stale route's refusal), by shard. */
  private readonly epochSeen = new Map<number, bigint>();

  constructor(world: World, rng: Prng, settings: ClientSettings) {
    this.world = world;
    this.rng = rng;
    this.s = settings;
    this.ports = new SimKvPorts(world);
    for (let i = 0; i < settings.clients; i++) this.clientIds.push(this.nextClientId++);
  }

  get keys(): string[] {
    return Array.from({ length: this.s.keys }, (_, i) => `k${i}`);
  }

  /** Requests one node's handler forwarded to another so far; passedOn: by a node holding no replica the table places there. */
  get forwarded(): { readonly all: number; readonly passedOn: number } {
    return { all: this.ports.forwarded, passedOn: this.ports.passedOn };
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
    await this.writeOp(slot, key, { kind: 'put', key, value }, 'put', (shardEpoch) => ({
      key: bytes(key),
      value: bytes(value),
      shardEpoch,
      lease: 0n,
    }));
  }

  private async cas(slot: number, key: string): Promise<void> {
    const value = this.newValue(slot);
    const current = this.lastSeen.get(key);
    const expected = current === undefined || this.rng.chance(0.2) ? null : current;
    await this.writeOp(slot, key, { kind: 'cas', key, expected, value }, 'compareAndSwap', (shardEpoch) => ({
      key: bytes(key),
      expected:
        expected === null
          ? { $case: 'expectedAbsent', value: true }
          : { $case: 'expectedValue', value: bytes(expected) },
      value: bytes(value),
      delete: false,
      shardEpoch,
    }));
  }

  /** The value each key was last read or written with by any slot (to make compare-and-swaps succeed often). */
  private readonly lastSeen = new Map<string, string>();

  private async writeOp<M extends 'put' | 'compareAndSwap'>(
    slot: number,
    key: string,
    input: Extract<KvInput, { kind: 'put' | 'cas' }>,
    method: M,
    request: (shardEpoch: bigint) => KvForwardable[M][0],
  ): Promise<void> {
    const callMs = this.world.nowMs();
    const target = this.pickNode(key);
    if (target === undefined) return;
    const { machine, shard } = target;
    const inc = machine.running;
    if (inc === undefined) return;
    this.mayHaveWritten.set(input.value, { key, callMs, returnMs: Number.POSITIVE_INFINITY });
    const o = await this.within(this.callAt(inc, method, request(this.epochSeen.get(shard) ?? 0n)));
    const clientId = this.clientIds[slot] as number;
    if ('ok' in o) {
      this.sawHeader(shard, o.ok.header);
      const out: KvOutput =
        input.kind === 'put'
          ? { kind: 'put' }
          : { kind: 'cas', succeeded: (o.ok as KvForwardable['compareAndSwap'][1]).succeeded };
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
    const failure = 'err' in o ? this.failed(shard, o.err) : undefined;
    if (failure?.retrySafe === true) {
      // Nothing was written: the operation did not happen.
      this.mayHaveWritten.delete(input.value);
      this.stats.refused++;
      this.world.note(`client ${clientId} ${describe(input)} -> refused (${failure.status})`);
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
    const o = await this.within(this.readAt(inc, key, this.epochSeen.get(shard) ?? 0n));
    const clientId = this.clientIds[slot] as number;
    if (!('ok' in o)) {
      // A read never takes effect: one that failed constrains nothing.
      this.leaderHint.delete(shard);
      if ('err' in o) this.failed(shard, o.err);
      this.world.note(`client ${clientId} get ${key} -> failed`);
      return;
    }
    this.sawHeader(shard, o.ok.header);
    const value = o.ok.found ? decoder.decode(o.ok.value) : '';
    if (o.ok.found) this.lastSeen.set(key, value);
    this.leaderHint.set(shard, machine);
    this.history.push({
      clientId,
      input: { kind: 'get', key },
      output: { kind: 'get', found: o.ok.found, value },
      callTime: callMs,
      returnTime: this.world.nowMs(),
    });
    this.stats.completed++;
    this.world.note(`client ${clientId} get ${key} -> ${o.ok.found ? value : 'absent'}`);
  }

  /**
   * A linearizable read of `key` for the final check, entering at `via` (passed on to a replica when
   * it holds none of the key's shard), or else at the node that leads the key's shard; undefined when
   * it fails (the caller retries). Without a shard epoch (a client with no table): no node refuses it.
   */
  async finalRead(key: string, via?: Machine): Promise<{ found: boolean; value: string } | undefined> {
    const callMs = this.world.nowMs();
    const target = this.pickNode(key, true);
    if (target === undefined) return undefined;
    const inc = (via ?? target.machine).running;
    if (inc === undefined) return undefined;
    const o = await this.within(this.readAt(inc, key, 0n));
    if (!('ok' in o)) {
      if ('err' in o) this.failed(target.shard, o.err);
      return undefined;
    }
    const out = { found: o.ok.found, value: o.ok.found ? decoder.decode(o.ok.value) : '' };
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

  /** A linearizable Get of `key` at `inc`'s client port. */
  private readAt(inc: Incarnation, key: string, shardEpoch: bigint) {
    return this.callAt(inc, 'get', { key: bytes(key), serializable: false, shardEpoch });
  }

  /** KVService `method` arriving at `inc`'s client port (once it is not paused), with the clients' timeout. */
  private callAt<M extends KvMethod>(
    inc: Incarnation,
    method: M,
    req: KvForwardable[M][0],
  ): Promise<KvForwardable[M][1]> {
    return this.world.enter(inc, () => this.ports.call(inc.kv, method, req, this.s.opTimeoutMs));
  }

  private sawHeader(shard: number, header: { shardEpoch: bigint } | undefined): void {
    const epoch = header?.shardEpoch ?? 0n;
    if (epoch > (this.epochSeen.get(shard) ?? 0n)) this.epochSeen.set(shard, epoch);
  }

  /**
   * What a client learns of a failed call: whether it is retry-safe, its status; a stale route's
   * refusal gives the shard's epoch and a leader (or voter) to go to next. An INTERNAL answer is the
   * node's failure (a real server logs it as a request that failed unexpectedly).
   */
  private failed(shard: number, err: unknown): { retrySafe: boolean; status: string } {
    const f = failureOf(err);
    if (f.status === 'INTERNAL')
      this.world.fail(new RealViolation('nodeFailed', `a request was answered INTERNAL: ${f.details}`));
    if (f.staleRoute !== undefined) {
      this.stats.staleRoutes++;
      if (f.staleRoute.epoch > (this.epochSeen.get(shard) ?? 0n))
        this.epochSeen.set(shard, f.staleRoute.epoch);
      const to = this.world.machines.find((m) => m.clientAddr === f.staleRoute?.leaderAddr);
      if (to !== undefined) this.leaderHint.set(shard, to);
    }
    return f;
  }

  /** The node to ask about `key`: its shard's leader as last seen (or as a node knows it), else any running node. */
  private pickNode(key: string, leaderOnly = false): { machine: Machine; shard: number } | undefined {
    const up = this.world.machines.filter((m) => m.running !== undefined);
    if (up.length === 0) return undefined;
    // A joiner that has not received the metadata yet knows no shard count (0).
    const known = up.map((m) => m.running?.kv).find((kv) => kv !== undefined && kv.keyHashing !== undefined);
    const hashing = known?.keyHashing;
    if (known === undefined || hashing === undefined) return undefined;
    const shard = shardOf(bytes(key), known.shardCount, hashing);
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
