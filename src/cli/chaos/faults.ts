// Carries out one planned fault against the running cluster: resolves its victim among the members
// of the moment, breaks something, holds, and always undoes what it did before returning (also when
// interrupted or when a step fails), so that faults never overlap.

import { sleep } from '../../client/backoff.ts';
import type { ChaosCluster, ChaosNode } from './cluster.ts';
import type { ChaosNetwork } from './network.ts';
import { type PartitionShape, type PlannedFault, pickIndex, type TargetRule } from './schedule.ts';
import type { Timeline } from './timeline.ts';

/** Bound on a restarted node answering Status again. */
const RESTART_ANSWER_MS = 30_000;
/** Bound on the cluster settling after a join (the new node holds its share of the shards), and on a leave. */
const MEMBERSHIP_STEP_MS = 90_000;

export interface FaultResult {
  /** False when the fault could not be carried out as planned (say why in `problem`). */
  readonly done: boolean;
  /** Something that went wrong and that a correct cluster should not do (a node that did not come back). */
  readonly problem?: string;
}

export class FaultRunner {
  private readonly cluster: ChaosCluster;
  private readonly network: ChaosNetwork;
  private readonly timeline: Timeline;
  private readonly signal: AbortSignal;

  constructor(cluster: ChaosCluster, network: ChaosNetwork, timeline: Timeline, signal: AbortSignal) {
    this.cluster = cluster;
    this.network = network;
    this.timeline = timeline;
    this.signal = signal;
  }

  async run(f: PlannedFault): Promise<FaultResult> {
    switch (f.kind) {
      case 'kill':
        return this.kill(f.seq, f.target, f.holdMs);
      case 'pause':
        return this.pause(f.seq, f.target, f.holdMs);
      case 'partition':
        return this.partition(f.seq, f.shape, f.target, f.pick2, f.holdMs);
      case 'membership':
        return this.membership(f.seq, f.leavePick);
    }
  }

  /** The node a rule names now, and why (for the timeline). */
  async resolve(rule: TargetRule): Promise<{ node: ChaosNode; why: string }> {
    const members = this.cluster.members;
    if (members.length === 0) throw new Error('no members left');
    if (rule.rule === 'shard-leader') {
      const shards = await this.cluster.shardCount();
      if (shards > 0) {
        const shard = pickIndex(rule.pick, shards) + 1;
        const leader = await this.cluster.leaderOf(shard);
        if (leader !== undefined) return { node: leader, why: `leader of shard ${shard}` };
      }
    }
    return { node: members[pickIndex(rule.pick, members.length)]!, why: 'chosen at random' };
  }

  private log(seq: number, text: string): void {
    this.timeline.log(`fault ${seq}: ${text}`);
  }

  private async kill(seq: number, rule: TargetRule, holdMs: number): Promise<FaultResult> {
    const { node, why } = await this.resolve(rule);
    const pid = node.proc.pid;
    this.log(seq, `kill -9 ${node.name} (pid ${pid}, ${why}); restart in ${holdMs} ms`);
    try {
      await node.proc.kill('SIGKILL');
      await sleep(holdMs, this.signal);
    } finally {
      if (!node.proc.running) node.proc.start();
    }
    this.log(seq, `restarted ${node.name} with its original command line (pid ${node.proc.pid})`);
    try {
      const ms = await this.cluster.waitAnswers(node, RESTART_ANSWER_MS);
      this.log(seq, `${node.name} answers again after ${ms} ms`);
      return { done: true };
    } catch (e) {
      const problem = `${node.name} did not come back after kill -9: ${(e as Error).message}`;
      this.log(seq, problem);
      return { done: true, problem };
    }
  }

  private async pause(seq: number, rule: TargetRule, holdMs: number): Promise<FaultResult> {
    const { node, why } = await this.resolve(rule);
    this.log(seq, `SIGSTOP ${node.name} (pid ${node.proc.pid}, ${why}) for ${holdMs} ms`);
    node.proc.pause();
    try {
      await sleep(holdMs, this.signal);
    } finally {
      if (node.proc.running) node.proc.resume();
    }
    this.log(seq, `SIGCONT ${node.name}`);
    return { done: true };
  }

  private async partition(
    seq: number,
    shape: PartitionShape,
    rule: TargetRule,
    pick2: number,
    holdMs: number,
  ): Promise<FaultResult> {
    if (!this.network.canPartition) throw new Error('partition planned on a network that cannot cut');
    const { node, why } = await this.resolve(rule);
    const others = this.cluster.members.filter((n) => n !== node);
    let text: string;
    try {
      switch (shape) {
        case 'isolate':
          for (const o of others) await this.cutBoth(node, o);
          text = `isolate ${node.name} (${why}) from ${others.map((o) => o.name).join(', ')}`;
          break;
        case 'split': {
          const size = (this.cluster.members.length - 1) >> 1;
          const start = pickIndex(pick2, others.length);
          const minority = [node];
          for (let i = 0; minority.length < size; i++) minority.push(others[(start + i) % others.length]!);
          const majority = others.filter((o) => !minority.includes(o));
          for (const a of minority) for (const b of majority) await this.cutBoth(a, b);
          text = `split {${minority.map((n) => n.name).join(', ')}} (${node.name}: ${why}) | {${majority.map((n) => n.name).join(', ')}}`;
          break;
        }
        case 'one-way-out':
          for (const o of others) await this.network.cut(node.name, o.name);
          text = `one-way: packets from ${node.name} (${why}) to the others are dropped`;
          break;
        case 'one-way-in':
          for (const o of others) await this.network.cut(o.name, node.name);
          text = `one-way: packets from the others to ${node.name} (${why}) are dropped`;
          break;
      }
      this.log(seq, `partition: ${text} for ${holdMs} ms`);
      await sleep(holdMs, this.signal);
    } finally {
      await this.network.heal();
    }
    this.log(seq, 'partition healed');
    return { done: true };
  }

  private async cutBoth(a: ChaosNode, b: ChaosNode): Promise<void> {
    await this.network.cut(a.name, b.name);
    await this.network.cut(b.name, a.name);
  }

  private async membership(seq: number, leavePick: number): Promise<FaultResult> {
    const old = this.cluster.members;
    this.log(seq, `membership: a new node joins (${old.length} members)`);
    const t0 = Date.now();
    let joined: ChaosNode;
    try {
      joined = await this.cluster.joinNew(MEMBERSHIP_STEP_MS);
    } catch (e) {
      const problem = `membership: the join did not complete: ${(e as Error).message}`;
      this.log(seq, problem);
      return { done: false, problem };
    }
    this.log(seq, `${joined.name} joined: the cluster settled over it after ${Date.now() - t0} ms`);
    const leaving = old[pickIndex(leavePick, old.length)]!;
    this.log(seq, `membership: ${leaving.name} leaves`);
    const t1 = Date.now();
    try {
      await this.cluster.leave(leaving, MEMBERSHIP_STEP_MS);
    } catch (e) {
      const problem = `membership: ${leaving.name} could not leave: ${(e as Error).message}`;
      this.log(seq, problem);
      return { done: false, problem };
    }
    this.log(seq, `${leaving.name} left after ${Date.now() - t1} ms; its process is stopped`);
    return { done: true };
  }
}
