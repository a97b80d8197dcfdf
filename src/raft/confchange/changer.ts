// Computes the next membership configuration from the current one and a list of changes,
// without touching the live tracker: it returns a fresh config and progress map, or throws
// ConfChangeError. Three transitions exist (etcd's confchange.Changer):
//   simple:     at most one voter changes; takes effect directly;
//   enterJoint: the incoming voters become C_old,new's outgoing half; changes apply to incoming;
//   leaveJoint: drop the outgoing half, turning demoted voters (learnersNext) into learners.

import { ConfChangeError } from '../errors.ts';
import { Inflights } from '../tracker/inflights.ts';
import { Progress } from '../tracker/progress.ts';
import { isJoint, type ProgressMap, type ProgressTracker, type TrackerConfig } from '../tracker/tracker.ts';
import type { ConfChangeSingle, Index, NodeId } from '../types.ts';
import { index, NO_NODE } from '../types.ts';

interface MutableConfig {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
}

export interface ChangeResult {
  readonly config: TrackerConfig;
  readonly progress: ProgressMap;
}

export class Changer {
  private readonly tracker: ProgressTracker;
  /** New members start probing at this index. */
  private readonly lastIndex: Index;

  constructor(tracker: ProgressTracker, lastIndex: Index) {
    this.tracker = tracker;
    this.lastIndex = lastIndex;
  }

  /** Enters a joint configuration: the current voters stay as the outgoing half. */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ChangeResult {
    const { cfg, prs } = this.copy();
    if (isJoint(cfg)) fail('configuration is already joint');
    if (cfg.incoming.size === 0) fail('cannot make a zero-voter configuration joint');
    cfg.outgoing = new Set(cfg.incoming);
    this.apply(cfg, prs, changes);
    cfg.autoLeave = autoLeave;
    return check(cfg, prs);
  }

  /** Leaves the joint configuration: only the incoming voters remain. */
  leaveJoint(): ChangeResult {
    const { cfg, prs } = this.copy();
    if (!isJoint(cfg)) fail('cannot leave a non-joint configuration');
    for (const id of cfg.learnersNext) {
      cfg.learners.add(id);
      prs.get(id)!.isLearner = true;
    }
    cfg.learnersNext = new Set();
    for (const id of cfg.outgoing) {
      if (!cfg.incoming.has(id) && !cfg.learners.has(id)) prs.delete(id);
    }
    cfg.outgoing = new Set();
    cfg.autoLeave = false;
    return check(cfg, prs);
  }

  /** Applies changes directly; at most one voter may be added or removed. */
  simple(changes: readonly ConfChangeSingle[]): ChangeResult {
    const { cfg, prs } = this.copy();
    if (isJoint(cfg)) fail('cannot apply a simple change in a joint configuration');
    const before = cfg.incoming;
    this.apply(cfg, prs, changes);
    if (symmetricDifference(before, cfg.incoming) > 1) {
      fail('more than one voter changed without entering a joint configuration');
    }
    return check(cfg, prs);
  }

  private apply(cfg: MutableConfig, prs: ProgressMap, changes: readonly ConfChangeSingle[]): void {
    cfg.incoming = new Set(cfg.incoming); // never mutate a set shared with `outgoing` or the old config
    for (const c of changes) {
      if (c.nodeId === NO_NODE) fail('a change names the empty node id');
      if (c.type === 'addVoter') this.makeVoter(cfg, prs, c.nodeId);
      else if (c.type === 'addLearner') this.makeLearner(cfg, prs, c.nodeId);
      else remove(cfg, prs, c.nodeId);
    }
    if (cfg.incoming.size === 0) fail('removed all voters');
  }

  private makeVoter(cfg: MutableConfig, prs: ProgressMap, id: NodeId): void {
    const pr = prs.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, prs, id, false);
      return;
    }
    pr.isLearner = false;
    cfg.learners.delete(id);
    cfg.learnersNext.delete(id);
    cfg.incoming.add(id);
  }

  private makeLearner(cfg: MutableConfig, prs: ProgressMap, id: NodeId): void {
    const pr = prs.get(id);
    if (pr === undefined) {
      this.initProgress(cfg, prs, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Demote: drop it as a voter of the incoming config but keep its Progress.
    remove(cfg, prs, id);
    prs.set(id, pr);
    // A voter of the outgoing half only becomes a learner once the joint config is left.
    if (cfg.outgoing.has(id)) {
      cfg.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      cfg.learners.add(id);
    }
  }

  private initProgress(cfg: MutableConfig, prs: ProgressMap, id: NodeId, isLearner: boolean): void {
    const t = this.tracker;
    const next = index(Math.max(this.lastIndex, 1));
    const pr = new Progress(next, new Inflights(t.maxInflightMsgs, t.maxInflightBytes), isLearner);
    // A new member counts as active, so that checkQuorum does not depose the leader at once.
    pr.recentActive = true;
    prs.set(id, pr);
    if (isLearner) cfg.learners.add(id);
    else cfg.incoming.add(id);
  }

  /** Copies the tracker's config and progress map (Progress objects are cloned, shallowly). */
  private copy(): { cfg: MutableConfig; prs: ProgressMap } {
    const c = this.tracker.config;
    const cfg: MutableConfig = {
      incoming: new Set(c.incoming),
      outgoing: new Set(c.outgoing),
      learners: new Set(c.learners),
      learnersNext: new Set(c.learnersNext),
      autoLeave: c.autoLeave,
    };
    const prs: ProgressMap = new Map();
    for (const [id, pr] of this.tracker.progress) prs.set(id, pr.clone());
    return { cfg, prs };
  }
}

function remove(cfg: MutableConfig, prs: ProgressMap, id: NodeId): void {
  if (!prs.has(id)) return;
  cfg.incoming.delete(id);
  cfg.learners.delete(id);
  cfg.learnersNext.delete(id);
  // Still a voter of the outgoing half: keep tracking it until the joint config is left.
  if (!cfg.outgoing.has(id)) prs.delete(id);
}

function symmetricDifference(a: ReadonlySet<NodeId>, b: ReadonlySet<NodeId>): number {
  let n = 0;
  for (const id of a) if (!b.has(id)) n++;
  for (const id of b) if (!a.has(id)) n++;
  return n;
}

function fail(reason: string): never {
  throw new ConfChangeError(reason);
}

/** Checks the invariants of a configuration against its progress map. */
function check(cfg: MutableConfig, prs: ProgressMap): ChangeResult {
  const must = (ok: boolean, what: string): void => {
    if (!ok) throw new Error(`raft invariant violated: conf change produced ${what}`);
  };
  for (const set of [cfg.incoming, cfg.outgoing, cfg.learners, cfg.learnersNext]) {
    for (const id of set) must(prs.has(id), `no progress for member ${id}`);
  }
  for (const id of cfg.learnersNext) {
    must(cfg.outgoing.has(id), `learnersNext ${id} not an outgoing voter`);
    must(!prs.get(id)!.isLearner, `learnersNext ${id} already marked learner`);
  }
  for (const id of cfg.learners) {
    must(!cfg.incoming.has(id) && !cfg.outgoing.has(id), `learner ${id} is also a voter`);
    must(prs.get(id)!.isLearner, `learner ${id} not marked learner`);
  }
  if (!isJoint(cfg)) {
    must(cfg.learnersNext.size === 0, 'learnersNext outside a joint config');
    must(!cfg.autoLeave, 'autoLeave outside a joint config');
  }
  return { config: cfg, progress: prs };
}
