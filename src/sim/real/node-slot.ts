// One simulated machine: its disk (a SimFileSystem that outlives every process on it), the options
// its node is started with (the same on every start, as a restart with the original command line),
// and the node incarnation running on it, if any. A crash is a kill -9 followed by a power loss:
// the KvNode is dropped without close(), its clock, transport and disk handles die with it, and the
// disk keeps only what is durable (SimFileSystem.crash). A restart is a new KvNode on the same disk.
import type { Logger } from 'pino';
import { KvNode } from '../../node/node.ts';
import type { NodeOptions } from '../../node/options.ts';
import type { NodeId } from '../../raft/types.ts';
import type { SimFileSystem } from '../../storage/sim-file-system.ts';
import type { Prng } from '../prng.ts';
import { type RpcNetwork, SimClusterRpc } from './cluster-rpc.ts';
import { type DiskLatency, LatentDisk } from './latent-disk.ts';
import { nodeRandom } from './node-random.ts';
import { type Hold, SimClock, type WorldTime } from './sim-clock.ts';
import { SimTransport, type Wire } from './sim-transport.ts';

/** The node's options that stay the same on every start (the command line). */
export type MachineOptions = Omit<
  NodeOptions,
  'transport' | 'cluster' | 'clock' | 'random' | 'fileSystem' | 'logger'
>;

/** What a machine needs of the world. */
export interface MachineWorld extends WorldTime, Wire, RpcNetwork {
  readonly logger: Logger;
  /** The randomness of one incarnation (election timeouts, request ids) or of a disk's latencies. */
  stream(name: string): Prng;
  /** A running incarnation failed: its start, its join, or the node itself (onFatal). */
  failed(inc: Incarnation, err: unknown): void;
  /** An incarnation finished its start (recovered its state), before any event reaches it. */
  started(inc: Incarnation): void;
}

/** One process life of a node. */
export interface Incarnation {
  readonly machine: Machine;
  /** 1 for the first start, then one more per restart. */
  readonly number: number;
  readonly kv: KvNode;
  readonly clock: SimClock;
  readonly transport: SimTransport;
  readonly disk: LatentDisk;
  alive: boolean;
  /** start() resolved: the node recovered its state and runs. */
  started: boolean;
  /** completeJoin() resolved: a joiner is a voter of every group (a restart: at once). */
  joined: boolean;
  /** Highest term of a message it sent, per group (PreVote and its answers aside: they announce no term). */
  readonly sentTerm: Map<number, number>;
  /** The vote it granted last, per group: in which term, to whom. */
  readonly granted: Map<number, { term: number; to: NodeId }>;
  /** Stopped (SIGSTOP, a long GC pause): what would run in it waits in `backlog` until it resumes. */
  paused: boolean;
  readonly backlog: (() => void)[];
  /** Runs `fn` in this incarnation now, or when it resumes if it is paused. */
  readonly hold: Hold;
}

/** Bound on what waits for a paused incarnation (timers, messages, disk completions, calls). */
const BACKLOG_MAX = 200_000;

export class Machine {
  readonly id: NodeId;
  readonly disk: SimFileSystem;
  readonly options: MachineOptions;
  private readonly world: MachineWorld;
  private readonly latency: DiskLatency;
  private incarnations = 0;
  current: Incarnation | undefined;

  constructor(world: MachineWorld, disk: SimFileSystem, options: MachineOptions, latency: DiskLatency) {
    this.world = world;
    this.id = options.nodeId as NodeId;
    this.disk = disk;
    this.options = options;
    this.latency = latency;
  }

  get clientAddr(): string {
    return this.options.clientAddr;
  }

  /** An operator asked the cluster to remove this member (`ringkv cluster leave`). */
  leaving = false;
  /** Removed, its node stopped on learning it (as `ringkv serve` exits): never started again. */
  left = false;
  /** An incarnation of it has completed its join (a joiner is a member; its join address no longer matters). */
  joinedOnce = false;
  /** The nemesis filled the disk: a node that stops (or cannot start) for want of space does as it may. */
  diskFull = false;
  /**
   * The nemesis flipped a bit of a synced WAL record while the machine was down (file and byte): its
   * node must refuse to start, and the machine stays down.
   */
  corruptedWal: { readonly file: string; readonly offsetBytes: number } | undefined;
  /** What the node said when it refused to start on the corrupted WAL. */
  refusal: string | undefined;

  /**
   * Never started again: it left the cluster, or its WAL was damaged (its node refuses to start, and
   * the operator has not acted yet).
   */
  get staysDown(): boolean {
    return this.left || this.corruptedWal !== undefined;
  }

  /** The machine has been started at least once (a joiner is not, until its time comes). */
  get launched(): boolean {
    return this.incarnations > 0;
  }

  /** A running incarnation that has recovered its state (requests and messages may reach it). */
  get running(): Incarnation | undefined {
    const inc = this.current;
    return inc?.alive === true && inc.started ? inc : undefined;
  }

  /** Starts a new incarnation on this machine's disk (it must be down). */
  start(): Incarnation {
    if (this.current !== undefined) throw new Error(`sim: ${this.id} started while running`);
    const world = this.world;
    const number = ++this.incarnations;
    let inc: Incarnation | undefined;
    const backlog: (() => void)[] = [];
    const hold: Hold = (fn) => {
      if (inc?.paused !== true) {
        fn();
        return;
      }
      if (backlog.length >= BACKLOG_MAX)
        throw new Error(`sim: more than ${BACKLOG_MAX} things wait for paused ${this.id}`);
      backlog.push(fn);
    };
    const clock = new SimClock(world, hold);
    const transport = new SimTransport(this.id, world);
    const disk = new LatentDisk(
      this.disk.mount(),
      world,
      world.stream(`disk-${this.id}-${number}`),
      this.latency,
      () => inc?.alive === true,
      hold,
    );
    const kv = new KvNode({
      ...this.options,
      transport,
      cluster: new SimClusterRpc(this.id, world),
      clock,
      random: nodeRandom(world.stream(`node-${this.id}-${number}`)),
      fileSystem: disk,
      logger: world.logger.child({ node: this.id, incarnation: number }),
    });
    const started: Incarnation = {
      machine: this,
      number,
      kv,
      clock,
      transport,
      disk,
      alive: true,
      started: false,
      joined: false,
      sentTerm: new Map(),
      granted: new Map(),
      paused: false,
      backlog,
      hold,
    };
    inc = started;
    this.current = started;
    kv.onFatal((e) => {
      if (started.alive) world.failed(started, e);
    });
    void this.boot(started);
    return started;
  }

  /** start(), then completeJoin(), as `ringkv serve` does; a failure of either is the node's failure. */
  private async boot(inc: Incarnation): Promise<void> {
    try {
      await inc.kv.start();
      if (!inc.alive) return;
      inc.started = true;
      this.world.started(inc);
      await inc.kv.completeJoin();
      inc.joined = true;
      this.joinedOnce = true;
    } catch (e) {
      if (inc.alive) this.world.failed(inc, e);
    }
  }

  /** SIGSTOP: nothing runs in the incarnation until resume(); time goes on around it. */
  pause(): void {
    const inc = this.current;
    if (inc === undefined || inc.paused) throw new Error(`sim: ${this.id} paused while down or paused`);
    inc.paused = true;
  }

  /** SIGCONT: what waited runs, in order, each as its own event (late timers, stale messages). */
  resume(): void {
    const inc = this.current;
    if (inc === undefined || !inc.paused) throw new Error(`sim: ${this.id} resumed while not paused`);
    inc.paused = false;
    for (const fn of inc.backlog.splice(0)) this.world.schedule(0, () => inc.hold(fn));
  }

  /** kill -9 and power loss: the incarnation dies, the disk keeps what is durable (as `rng` tears the rest). */
  crash(rng: Prng): Incarnation {
    const inc = this.current;
    if (inc === undefined) throw new Error(`sim: ${this.id} crashed while down`);
    inc.alive = false;
    inc.backlog.length = 0;
    inc.clock.stop();
    inc.transport.kill();
    this.current = undefined;
    this.disk.crash(rng);
    return inc;
  }
}
