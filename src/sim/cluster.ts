// The simulated world: nodes, their disks, the network between them, the clients, and the event
// queue that orders everything in virtual time. It routes messages, fires ticks, crashes and
// restarts nodes, creates nodes that a committed configuration names, and retires removed ones.
import type { ConfState, Message, NodeId, Snapshot } from '../raft/types.ts';
import { index, NO_NODE, nodeId, term } from '../raft/types.ts';
import type { SafetyChecker } from './checker.ts';
import { type ClientEnv, type ClientEvent, ClientPool } from './clients.ts';
import { EMPTY_HARD_STATE, SimDisk } from './disk.ts';
import { EventQueue, TICK_MS } from './event-queue.ts';
import type { FaultEnv } from './faults.ts';
import type { MembershipEnv } from './membership.ts';
import { membersOf } from './membership.ts';
import { Network } from './network.ts';
import { type NodeEnv, SimNode } from './node.ts';
import type { Prng } from './prng.ts';
import type { SimSettings } from './settings.ts';
import type { Trace } from './trace.ts';

export type SimEvent =
  | { readonly kind: 'tick'; readonly node: SimNode; readonly incarnation: number }
  | {
      readonly kind: 'deliver';
      readonly message: Message;
      readonly sender: SimNode;
      readonly incarnation: number;
    }
  | { readonly kind: 'client'; readonly ev: ClientEvent }
  | { readonly kind: 'fault' }
  | { readonly kind: 'membership' }
  | { readonly kind: 'restart'; readonly node: SimNode }
  /** The operator reacts to an applied membership change (not inside the applying node's Ready). */
  | { readonly kind: 'operator'; readonly before: ConfState; readonly after: ConfState; readonly by: NodeId }
  | { readonly kind: 'lazySync'; readonly node: SimNode; readonly incarnation: number }
  | { readonly kind: 'resume'; readonly node: SimNode; readonly incarnation: number }
  /** A fault aimed at a new leader: crash it before it has replicated much (Figure 8 material). */
  | { readonly kind: 'crashLeader'; readonly node: SimNode; readonly incarnation: number };

/** Bound on nodes ever created in one run (initial members plus membership changes). */
export const NODES_MAX = 1_000;

export class Cluster implements NodeEnv, ClientEnv, FaultEnv, MembershipEnv {
  readonly queue = new EventQueue<SimEvent>();
  readonly network: Network;
  readonly checker: SafetyChecker;
  readonly clients: ClientPool;
  readonly settings: SimSettings;
  private readonly traceLog: Trace;
  private readonly rngs: { raft: Prng; driver: Prng; disk: Prng };
  /** Every node ever created, in creation order (deterministic iteration). */
  readonly nodes: SimNode[] = [];
  private readonly byId = new Map<NodeId, SimNode>();
  stats = { delivered: 0, droppedDown: 0, ticks: 0, restarts: 0, retired: 0 };
  /** Virtual time at which each command (clientId:seq) was first applied by any node. */
  readonly firstAppliedMs = new Map<string, number>();
  /** Set by the run: reacts to elections during the fault phase (undefined afterwards). */
  leaderHook: ((node: SimNode) => void) | undefined;

  constructor(settings: SimSettings, root: Prng, checker: SafetyChecker, trace: Trace) {
    this.settings = settings;
    this.checker = checker;
    this.traceLog = trace;
    this.network = new Network(root.derive('network'));
    this.rngs = { raft: root.derive('raft'), driver: root.derive('driver'), disk: root.derive('disk') };
    this.clients = new ClientPool(this, root.derive('clients'), settings.clients);
  }

  trace(line: string): void {
    this.traceLog.add(this.queue.now(), line);
  }

  nowMs(): number {
    return this.queue.now();
  }

  /** Creates the initial voters from a bootstrap snapshot (index 1, term 1) and starts them. */
  bootstrap(): void {
    const voters = Array.from({ length: this.initialVoters() }, (_, i) => nodeId(`n${i + 1}`));
    const confState: ConfState = {
      voters,
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    };
    const snapshot: Snapshot = {
      metadata: { index: index(1), term: term(1), confState },
      data: new Uint8Array(0),
    };
    for (const id of voters) {
      this.createNode(id, new SimDisk(id, { hardState: EMPTY_HARD_STATE, snapshot, entries: [] }));
    }
  }

  /** How many voters the cluster starts with: one when it grows from one (see SimSettings). */
  initialVoters(): number {
    return this.settings.growFromOne ? 1 : this.settings.nodes;
  }

  private createNode(id: NodeId, disk: SimDisk): SimNode {
    if (this.byId.has(id)) throw new Error(`Cluster: node ${id} exists`);
    if (this.nodes.length >= NODES_MAX) throw new Error(`Cluster: more than ${NODES_MAX} nodes`);
    const n = this.nodes.length;
    const node = new SimNode(id, disk, this, this.settings.node, this.checker, {
      raft: this.rngs.raft.derive(id),
      driver: this.rngs.driver.derive(id),
    });
    // Clock skew: with ReadIndex reads nothing depends on clocks agreeing, so nodes may tick at
    // different rates (lease reads assume bounded drift, so they get a common clock).
    node.tickMs = this.settings.clockSkew ? this.rngs.driver.intBetween(TICK_MS - 2, TICK_MS + 3) : TICK_MS;
    this.nodes.push(node);
    this.byId.set(id, node);
    this.startNode(node, 1 + (n % TICK_MS));
    return node;
  }

  private startNode(node: SimNode, firstTickDelayMs: number): void {
    node.start();
    this.trace(`${node.id} started term=${node.term} commit=${node.commit} applied=${node.applied}`);
    this.queue.after(firstTickDelayMs, { kind: 'tick', node, incarnation: node.incarnation });
    if (this.settings.node.simBugs.has('ackBeforeSync')) {
      this.queue.after(this.settings.lazySyncEveryMs, {
        kind: 'lazySync',
        node,
        incarnation: node.incarnation,
      });
    }
  }

  node(id: NodeId): SimNode | undefined {
    return this.byId.get(id);
  }

  /** Nodes named by the most advanced configuration known, not retired. */
  members(): readonly SimNode[] {
    const cs = this.latestConfState();
    const ids = new Set(membersOf(cs));
    return this.nodes.filter((n) => ids.has(n.id) && !n.retired);
  }

  contactable(): readonly NodeId[] {
    return this.members().map((n) => n.id);
  }

  /** The configuration of the node that has applied the most (ties: creation order). */
  latestConfState(): ConfState {
    let best: SimNode | undefined;
    for (const n of this.nodes) if (!n.retired && (best === undefined || n.applied > best.applied)) best = n;
    if (best === undefined) throw new Error('Cluster: no nodes');
    return best.confState;
  }

  /** The running leader of the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      if (n.up && n.role === 'leader' && (best === undefined || n.term > best.term)) best = n;
    }
    return best;
  }

  // --- NodeEnv -------------------------------------------------------------------------------------

  send(from: SimNode, m: Message): void {
    if (m.to === from.id)
      throw new Error(`Cluster: ${from.id} sent a message to itself: ${describeMessage(m)}`);
    const deliveries = this.network.send(from.id, m, this.queue.now());
    if (deliveries.length === 0) {
      this.trace(`drop ${describeMessage(m)}`);
      if (this.network.isCut(from.id, m.to)) from.reportUnreachable(m.to);
      if (m.type === 'snap') from.queueSnapshotReport(m.to, false);
      return;
    }
    const incarnation = from.incarnation;
    for (const d of deliveries)
      this.queue.at(d.atMs, { kind: 'deliver', message: d.message, sender: from, incarnation });
  }

  onConfChangeApplied(node: SimNode, before: ConfState, after: ConfState): void {
    this.queue.after(0, { kind: 'operator', before, after, by: node.id });
  }

  /** Retires nodes a configuration removed and starts nodes it added. */
  operate(by: NodeId, before: ConfState, after: ConfState): void {
    const now = new Set(membersOf(after));
    for (const id of membersOf(before)) {
      const gone = this.byId.get(id);
      if (!now.has(id) && gone !== undefined && !gone.retired) {
        this.trace(`${by} applied removal of ${id}: the operator shuts ${id} down`);
        gone.retire();
        this.stats.retired++;
      }
    }
    for (const id of now) {
      if (!this.byId.has(id)) {
        this.trace(`${by} applied addition of ${id}: the operator starts ${id} with an empty disk`);
        this.createNode(id, new SimDisk(id));
      }
    }
  }

  onCommandApplied(clientId: number, seq: number): void {
    const key = `${clientId}:${seq}`;
    if (!this.firstAppliedMs.has(key)) this.firstAppliedMs.set(key, this.queue.now());
  }

  onLeaderElected(node: SimNode): void {
    this.leaderHook?.(node);
  }

  /** Handles the world's own events; the run handles the fault phase's (fault, membership, crashLeader). */
  handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick':
        this.tick(ev.node, ev.incarnation);
        return;
      case 'deliver':
        this.deliver(ev.message, ev.sender, ev.incarnation);
        return;
      case 'client':
        this.clients.handle(ev.ev);
        return;
      case 'restart':
        if (!ev.node.up && !ev.node.retired) this.trace(`fault: restart ${ev.node.id}`);
        this.restart(ev.node);
        return;
      case 'operator':
        this.operate(ev.by, ev.before, ev.after);
        return;
      case 'lazySync':
        this.lazySync(ev.node, ev.incarnation);
        return;
      case 'resume':
        if (ev.node.incarnation === ev.incarnation && ev.node.paused) {
          ev.node.paused = false;
          this.trace(`${ev.node.id} resumes`);
        }
        return;
      default:
        return; // run-level events have no meaning outside a run
    }
  }

  /** Processes events until `until()` holds or the next event is past `deadlineMs`; false on timeout. */
  runUntil(
    until: () => boolean,
    deadlineMs: number,
    dispatch: (ev: SimEvent) => void,
    eventsMax: number,
  ): boolean {
    for (let n = 0; !until(); n++) {
      if (n >= eventsMax) throw new Error(`Cluster: more than ${eventsMax} events without reaching the goal`);
      if (this.queue.peekTimeMs() > deadlineMs) return false;
      const ev = this.queue.pop();
      if (ev === undefined) return false;
      dispatch(ev);
    }
    return true;
  }

  // --- events --------------------------------------------------------------------------------------

  schedule(delayMs: number, ev: ClientEvent): void {
    this.queue.after(delayMs, { kind: 'client', ev });
  }

  deliver(m: Message, sender: SimNode, incarnation: number): void {
    // A power loss also loses what was still queued on the machine: half of what the crashed
    // incarnation sent and had not yet delivered never arrives.
    if ((!sender.up || sender.incarnation !== incarnation) && this.network.loseWithSender()) {
      this.trace(`lost ${describeMessage(m)} (its sender crashed)`);
      return;
    }
    const to = this.byId.get(m.to);
    if (to?.paused === true && to.up) {
      // A frozen process reads its socket when it wakes up: the message waits (in order).
      this.queue.at(to.pausedUntilMs, { kind: 'deliver', message: m, sender, incarnation });
      return;
    }
    if (to === undefined || !to.up) {
      this.stats.droppedDown++;
      this.trace(`lost ${describeMessage(m)} (${m.to} is down)`);
      if (m.type === 'snap') this.byId.get(m.from)?.queueSnapshotReport(m.to, false);
      return;
    }
    this.stats.delivered++;
    this.trace(`recv ${describeMessage(m)}`);
    to.receive(m);
    if (m.type === 'snap' && m.snapshot?.done === true) {
      const sender = this.byId.get(m.from);
      if (sender?.up === true) sender.reportSnapshot(m.to, true);
    }
  }

  tick(node: SimNode, incarnation: number): void {
    if (!node.up || node.incarnation !== incarnation) return; // a crashed incarnation's timer
    if (node.paused) {
      this.queue.after(node.tickMs, { kind: 'tick', node, incarnation }); // a frozen clock misses ticks
      return;
    }
    this.stats.ticks++;
    this.trace(`tick ${node.id}`);
    node.tick();
    this.queue.after(node.tickMs, { kind: 'tick', node, incarnation });
  }

  pause(node: SimNode, durationMs: number): void {
    node.paused = true;
    node.pausedUntilMs = this.queue.now() + durationMs;
    this.trace(`fault: pause ${node.id} for ${durationMs} ms`);
    this.queue.after(durationMs, { kind: 'resume', node, incarnation: node.incarnation });
  }

  crash(node: SimNode): void {
    node.paused = false;
    const lost = node.crash(this.settings.tornWrites);
    this.trace(`fault: crash ${node.id} (${lost})`);
  }

  restartAfter(node: SimNode, delayMs: number): void {
    this.queue.after(delayMs, { kind: 'restart', node });
  }

  restart(node: SimNode): void {
    if (node.up || node.retired) return;
    this.stats.restarts++;
    this.startNode(node, 1 + this.rngs.driver.nextInt(TICK_MS));
  }

  lazySync(node: SimNode, incarnation: number): void {
    if (!node.up || node.incarnation !== incarnation) return;
    node.backgroundSync();
    this.queue.after(this.settings.lazySyncEveryMs, { kind: 'lazySync', node, incarnation });
  }

  /** True when the node is down or gone (it cannot be contacted). */
  isDown(id: NodeId): boolean {
    return !(this.byId.get(id)?.up ?? false);
  }

  leaderId(): NodeId {
    return this.leader()?.id ?? NO_NODE;
  }
}

/** A compact, stable rendering of a message for the trace. */
export function describeMessage(m: Message): string {
  let s = `${m.from}>${m.to} ${m.type} t${m.term}`;
  if (m.type === 'app' || m.type === 'vote' || m.type === 'preVote') s += ` i${m.logTerm}/${m.index}`;
  else if (m.type === 'appResp') s += ` i${m.index}`;
  if (m.entries.length > 0) s += ` e${m.entries.length}`;
  if (m.commit > 0) s += ` c${m.commit}`;
  if (m.reject) s += ` reject(${m.rejectHint}/${m.hintTerm})`;
  if (m.snapshot !== undefined) {
    s += ` snap@${m.snapshot.metadata.index} ${m.snapshot.offset}+${m.snapshot.data.length}/${m.snapshot.totalBytes}`;
  }
  return s;
}
