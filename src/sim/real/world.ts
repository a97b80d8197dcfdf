// The simulated world of real nodes: one event queue (virtual time), one network model, N machines
// each with its own disk and its node's incarnations, and the trace. Everything that happens is an
// event of the queue: a node's timer (its SimClock), a message delivery, a disk operation
// completing (LatentDisk), a client's step, a fault. The loop runs one event, then lets every
// promise continuation it caused settle (the node's async code over the in-memory disk runs on
// microtasks only) before the next, so a run is a function of its seed alone.
import pino, { type Logger } from 'pino';
import { UnavailableError } from '../../node/errors.ts';
import type { KvNode } from '../../node/node.ts';
import type { Message, NodeId } from '../../raft/types.ts';
import { SimFileSystem, type Tearing } from '../../storage/sim-file-system.ts';
import { throughTheWire } from '../../transport/index.ts';
import { EventQueue } from '../event-queue.ts';
import { Network } from '../network.ts';
import { Prng } from '../prng.ts';
import { Trace } from '../trace.ts';
import type { RpcNetwork } from './cluster-rpc.ts';
import type { DiskLatency } from './latent-disk.ts';
import { type Incarnation, Machine, type MachineOptions, type MachineWorld } from './node-slot.ts';
import { RealViolation } from './violation.ts';

export interface WorldOptions {
  readonly seed: number;
  /** Machines n1..nN. */
  readonly nodes: number;
  /** Every machine's node options but its identity and addresses (world.ts adds those). */
  readonly node: Omit<
    MachineOptions,
    'nodeId' | 'raftDir' | 'clientAddr' | 'raftAddr' | 'bootstrap' | 'joinAddr'
  >;
  readonly diskLatency: DiskLatency;
  /** Bytes each machine's disk holds. */
  readonly diskCapacityBytes: number;
  /** What a crash keeps of the writes not synced: a prefix, or any of their sectors. */
  readonly diskTearing: Tearing;
  /** Keep every trace line (for --trace), not only the hash and the tail. */
  readonly keepTrace: boolean;
  /** The member each joiner (n2..nN, in order) gives as --join_addr, by machine number (default: 1). */
  readonly joinVia?: readonly number[];
}

/** Bound on events in one run, so a livelocked node cannot hang the simulator. */
const EVENTS_MAX = 3_000_000;
/** What a node says when it finds it was removed from the cluster (node.ts removedMessage). */
const REMOVED = /this node was removed from cluster/;
/** A client-port call to a machine that is down is refused this fast. */
const REFUSED_MS = 1;
/** A call's leg over a cut link waits for it to heal, looking this often (TCP's retransmissions). */
const LINK_RETRY_MS = 200;

/** Whether `err`, or an error it was caused by, is a fault the simulator injected into a disk. */
export function causedByInjectedFault(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e instanceof Error; depth++) {
    if (e.message.includes('(injected)')) return true;
    e = e.cause;
  }
  return false;
}

/** Whether `err`, or an error it was caused by, is a file system's ENOSPC (or EDQUOT). */
export function causedByNoSpace(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && e instanceof Error; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return true;
    e = e.cause;
  }
  return false;
}

/**
 * An exception out of an event: thrown by the node's own code (an assertion of the core or the
 * driver in a message handler or a timer), it would end a real process (an uncaught exception), so it
 * is the node's failure; thrown by the simulator's, it is the simulator's.
 */
function thrownByEvent(e: unknown): RealViolation {
  if (e instanceof RealViolation) return e;
  const stack = e instanceof Error ? (e.stack ?? '') : '';
  const first = stack.split('\n').find((l) => l.includes(' at ')) ?? '';
  const detail = e instanceof Error ? `${e.message}\n${stack.split('\n').slice(1, 8).join('\n')}` : String(e);
  const nodes = /\/src\/(raft|node|storage|transport|ring)\//.test(first);
  return new RealViolation(
    nodes ? 'nodeFailed' : 'simulatorError',
    nodes ? `uncaught in the node: ${detail}` : detail,
  );
}

/** Lets every promise continuation queued so far (and those they queue) run: Node drains microtasks before an immediate. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class World implements MachineWorld, RpcNetwork {
  readonly queue = new EventQueue<() => void>();
  readonly trace: Trace;
  readonly network: Network;
  readonly machines: readonly Machine[];
  readonly logger: Logger;
  private readonly root: Prng;
  private readonly crashRng: Prng;
  /** The first violation found; the loop stops at it. */
  violation: RealViolation | undefined;
  events = 0;
  /** Crashes that struck with disk operations in flight (what they wrote may be torn). */
  crashesMidWrite = 0;
  /**
   * Proposals and ReadIndex requests of data shards a node's core handed to its leader in the Raft
   * stream (a client request served by a follower, or a copy of a proposal that may have been lost).
   */
  readonly raftForwarded = { props: 0, readIndex: 0 };
  /** Called after every event (the safety checks), and when an incarnation has recovered. */
  afterEvent: () => void = () => {};
  onStarted: (inc: Incarnation) => void = () => {};
  onSend: (from: Incarnation, groupId: number, msg: Message) => void = () => {};
  /** An incarnation stopped because of an injected disk fault (as it should): the nemesis ends it and restarts it. */
  onDiskFaultStop: (inc: Incarnation) => void = () => {};
  /** Run after every event and its checks (a fault waiting for its moment); each removes itself. */
  readonly watchers = new Set<() => void>();
  /** Last time a sender was told a peer is unreachable, by `from>to`: once per virtual ms. */
  private readonly unreachableToldMs = new Map<string, number>();

  constructor(o: WorldOptions) {
    this.root = new Prng(o.seed);
    this.trace = new Trace(o.keepTrace);
    this.network = new Network(this.root.derive('network'));
    this.crashRng = this.root.derive('crash');
    // The nodes' logs (RINGKV_SIM_LOG=info|debug) carry the virtual time, to be read beside the trace.
    this.logger = pino({
      level: process.env['RINGKV_SIM_LOG'] ?? 'silent',
      timestamp: () => `,"virtualMs":${this.nowMs()}`,
    });
    const machines: Machine[] = [];
    for (let i = 1; i <= o.nodes; i++) {
      const id = `n${i}`;
      const options: MachineOptions = {
        ...o.node,
        nodeId: id,
        raftDir: `/${id}`,
        clientAddr: `${id}.client:7000`,
        raftAddr: `${id}.raft:7001`,
        bootstrap: i === 1,
        joinAddr: i === 1 ? undefined : `n${o.joinVia?.[i - 2] ?? 1}.client:7000`,
      };
      const disk = new SimFileSystem({ capacityBytes: o.diskCapacityBytes, tearing: o.diskTearing });
      machines.push(new Machine(this, disk, options, o.diskLatency));
    }
    this.machines = machines;
  }

  // ---- time ----------------------------------------------------------------------------------------

  nowMs(): number {
    return this.queue.now();
  }

  schedule(delayMs: number, fn: () => void): void {
    this.queue.after(delayMs, fn);
  }

  stream(name: string): Prng {
    return this.root.derive(name);
  }

  note(line: string): void {
    this.trace.add(this.nowMs(), line);
  }

  /**
   * Runs events, one at a time, each followed by the continuations it caused and the checks, until
   * `done()` holds (true) or the next event is later than `untilMs` (false). Throws the first
   * violation.
   */
  async runUntil(done: () => boolean, untilMs: number): Promise<boolean> {
    // What the caller started before calling (a node's start on the disk) runs first.
    await settle();
    for (;;) {
      if (this.violation !== undefined) throw this.violation;
      if (done()) return true;
      if (this.queue.peekTimeMs() > untilMs) return false;
      if (this.events >= EVENTS_MAX)
        throw new RealViolation('simulatorError', `more than ${EVENTS_MAX} events in one run`);
      const event = this.queue.pop() as () => void;
      this.events++;
      try {
        event();
      } catch (e) {
        throw thrownByEvent(e);
      }
      await settle();
      if (this.violation === undefined) this.afterEvent();
      for (const watch of this.watchers) watch();
    }
  }

  fail(v: RealViolation): void {
    this.violation ??= v;
  }

  // ---- machines ------------------------------------------------------------------------------------

  machine(id: string): Machine {
    const m = this.machines.find((x) => x.id === id);
    if (m === undefined) throw new Error(`sim: no machine '${id}'`);
    return m;
  }

  failed(inc: Incarnation, err: unknown): void {
    const m = inc.machine;
    if (m.corruptedWal !== undefined && !inc.started) {
      // What a node must do on a WAL record that does not verify: refuse to start, saying what and where.
      m.refusal = err instanceof Error ? err.message : String(err);
      this.note(`${m.id}#${inc.number} refused to start: ${m.refusal}`);
      this.schedule(0, () => {
        if (inc.alive) this.crash(m);
      });
      return;
    }
    if (causedByInjectedFault(err) || (m.diskFull && causedByNoSpace(err))) {
      // What a node must do when its disk fails: stop (`ringkv serve` exits 1), acknowledging nothing more.
      this.note(
        `${inc.machine.id}#${inc.number} stopped on a disk fault: ${err instanceof Error ? err.message : String(err)}`,
      );
      this.schedule(0, () => {
        if (inc.alive) this.onDiskFaultStop(inc);
      });
      return;
    }
    if (m.leaving && err instanceof Error && REMOVED.test(err.message)) {
      // What a removed member must do: stop, serving none of its stale data, and refuse to start again.
      this.note(`${m.id}#${inc.number} stopped: it was removed from the cluster`);
      m.left = true;
      this.schedule(0, () => {
        if (inc.alive) this.crash(m);
      });
      return;
    }
    const why =
      err instanceof Error
        ? `${err.message}\n${(err.stack ?? '').split('\n').slice(1, 6).join('\n')}`
        : String(err);
    this.note(`${inc.machine.id}#${inc.number} failed: ${err instanceof Error ? err.message : String(err)}`);
    this.fail(new RealViolation('nodeFailed', `${inc.machine.id} (incarnation ${inc.number}): ${why}`));
  }

  started(inc: Incarnation): void {
    this.note(`${inc.machine.id}#${inc.number} started`);
    this.onStarted(inc);
  }

  /** Runs `call` in `inc` (a request arriving at its client port), once it is not paused. */
  enter<T>(inc: Incarnation, call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => inc.hold(() => call().then(resolve, reject)));
  }

  pause(m: Machine): void {
    m.pause();
    this.note(`${m.id} paused`);
  }

  resume(m: Machine): void {
    m.resume();
    this.note(`${m.id} resumed`);
  }

  crash(m: Machine): void {
    const inFlight = m.current?.disk.inFlight ?? 0;
    if (inFlight > 0) this.crashesMidWrite++;
    const inc = m.crash(this.crashRng);
    this.note(`${m.id}#${inc.number} crashed (${inFlight} disk operations in flight)`);
    const resets = this.resets.get(inc);
    if (resets !== undefined) for (const reset of resets) this.schedule(REFUSED_MS, reset);
  }

  // ---- the network (Wire) --------------------------------------------------------------------------

  carry(from: NodeId, groupId: number, msg: Message): void {
    const sender = this.machine(from).current;
    if (sender === undefined) return;
    this.onSend(sender, groupId, msg);
    if (groupId !== 0 && msg.type === 'prop') this.raftForwarded.props++;
    if (groupId !== 0 && msg.type === 'readIndex') this.raftForwarded.readIndex++;
    for (const d of this.network.send(from, msg, this.nowMs())) {
      this.queue.at(d.atMs, () => this.deliver(from, groupId, d.message, d.reordered));
    }
  }

  private deliver(from: NodeId, groupId: number, msg: Message, reordered: boolean): void {
    const to = this.machine(msg.to);
    const inc = to.running;
    if (inc === undefined || !inc.transport.receiving) {
      this.tellUnreachable(from, msg.to);
      return;
    }
    // A paused receiver's socket holds the message until it resumes.
    inc.hold(() => {
      this.note(
        `${from}>${msg.to} g${groupId} ${msg.type} t${msg.term} i${msg.index} c${msg.commit} e${msg.entries.length}${msg.reject ? ' rej' : ''}${reordered ? ' (out of order)' : ''}`,
      );
      // Through the wire encoding, as the real transport does: the receiver shares nothing with the sender.
      inc.transport.deliver(groupId, throughTheWire(msg));
    });
  }

  /** The sender learns that a peer does not answer (its connection is refused), once per virtual ms. */
  private tellUnreachable(from: NodeId, to: NodeId): void {
    const key = `${from}>${to}`;
    if (this.unreachableToldMs.get(key) === this.nowMs()) return;
    this.unreachableToldMs.set(key, this.nowMs());
    this.schedule(REFUSED_MS, () => {
      const inc = this.machine(from).running;
      inc?.hold(() => inc.transport.unreachable(to));
    });
  }

  // ---- client-port calls between nodes (RpcNetwork) ------------------------------------------------

  call<T>(from: NodeId, toAddr: string, deadlineMs: number, serve: (node: KvNode) => Promise<T>): Promise<T> {
    const caller = this.machine(from).current;
    const target = this.machines.find((m) => m.clientAddr === toAddr);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (f: () => void): void => {
        if (settled || caller?.alive !== true) return;
        settled = true;
        f();
      };
      this.schedule(Math.max(0, deadlineMs - this.nowMs()), () =>
        finish(() => reject(new UnavailableError(`the call to ${toAddr} passed its deadline`))),
      );
      const running = target?.running;
      if (target === undefined || running === undefined) {
        this.schedule(REFUSED_MS, () =>
          finish(() => reject(new UnavailableError(`could not connect to ${toAddr}`, { retrySafe: true }))),
        );
        return;
      }
      // Over TCP: a cut link holds the call (and its answer) until it heals, then it arrives (the
      // caller's deadline may pass first); a callee that dies with the call unanswered resets the
      // connection (the caller cannot know whether the call took effect).
      this.overLink(from, target.id, deadlineMs, () => {
        const inc = target.running;
        if (inc === undefined) {
          finish(() => reject(new UnavailableError(`${toAddr} went away`)));
          return;
        }
        let answered = false;
        const reset = (): void => {
          if (!answered) finish(() => reject(new UnavailableError(`the connection to ${toAddr} was reset`)));
        };
        this.addReset(inc, reset);
        const back = (f: () => void): void => {
          answered = true;
          this.resets.get(inc)?.delete(reset);
          this.overLink(target.id, from, deadlineMs, () => finish(f));
        };
        inc.hold(() => {
          serve(inc.kv).then(
            (v) => back(() => resolve(v)),
            (e: unknown) => back(() => reject(e)),
          );
        });
      });
    });
  }

  /** What a callee's death resets: the calls it has not answered, by incarnation. */
  private readonly resets = new WeakMap<Incarnation, Set<() => void>>();

  private addReset(inc: Incarnation, reset: () => void): void {
    let set = this.resets.get(inc);
    if (set === undefined) {
      set = new Set();
      this.resets.set(inc, set);
    }
    set.add(reset);
  }

  /**
   * Carries one leg of a client-port call from `from` to `to` (a TCP stream): after the link's delay,
   * or, while the link is cut, once it heals (checked every LINK_RETRY_MS, until `deadlineMs`).
   */
  private overLink(from: NodeId, to: NodeId, deadlineMs: number, arrive: () => void): void {
    if (this.network.isCut(from, to)) {
      if (this.nowMs() + LINK_RETRY_MS <= deadlineMs)
        this.schedule(LINK_RETRY_MS, () => this.overLink(from, to, deadlineMs, arrive));
      return;
    }
    this.schedule(this.network.getConditions().delayMaxMs, arrive);
  }
}
