// The safety properties of Raft, checked incrementally as events happen (so a violation is caught at
// the step that causes it, with the trace right there):
// - Election Safety: at most one leader per term, over every (term, leader) ever seen.
// - Log Matching: an (index, term) pair always names the same entry with the same predecessor term,
//   so by induction two logs sharing an (index, term) agree on everything before it.
// - Leader Completeness: a new leader's log holds every entry known committed (of an older term).
// - State Machine Safety: one canonical committed log (index -> term, data hash); every commit and
//   every apply on every node must agree with it, and so must snapshots (term and state hash).
// - Commit monotonic: a node's commit never decreases while it runs, and restarts at >= its durable commit.
import type { MemoryStorage, RawNode } from '../raft/index.ts';
import type { Entry, NodeId, Snapshot } from '../raft/types.ts';
import { index } from '../raft/types.ts';
import { hashBytes } from './hash.ts';
import { SimViolation } from './violation.ts';

/** The view of a node the checker needs (SimNode implements it). */
export interface CheckedNode {
  readonly id: NodeId;
  /** The node's current term (as of its last persisted hard state). */
  readonly term: number;
  readonly storage: MemoryStorage | undefined;
  readonly rn: RawNode | undefined;
}

interface CanonEntry {
  readonly term: number;
  readonly hash: string;
  /**
   * The term in which the entry was first seen committed (the observer's current term). Usually the
   * committing leader's own observation, so the exact commit term; never lower than it.
   */
  readonly commitTerm: number;
  /** Who established it, for messages. */
  readonly by: NodeId;
}

interface LogFact {
  readonly hash: string;
  readonly prevTerm: number;
  readonly by: NodeId;
}

export class SafetyChecker {
  private readonly leaders = new Map<number, NodeId>();
  /** canon[i]: the committed entry at index i as first observed. */
  private readonly canon: (CanonEntry | undefined)[] = [];
  private committedMax = 0;
  private readonly logFacts = new Map<string, LogFact>();
  private readonly stateHashes = new Map<number, { hash: string; by: NodeId }>();
  private readonly hashCache = new WeakMap<Uint8Array, string>();
  stats = { leadersElected: 0, maxTerm: 0, committedMax: 0, applied: 0 };

  private hashOf(e: Entry): string {
    let h = this.hashCache.get(e.data);
    if (h === undefined) {
      h = `${e.type === 'confChange' ? 'c' : 'n'}${hashBytes(e.data)}`;
      this.hashCache.set(e.data, h);
    }
    return h;
  }

  /** Every (term, leader) ever seen must be unique per term. */
  onLeader(node: CheckedNode, t: number): void {
    const previous = this.leaders.get(t);
    if (previous !== undefined && previous !== node.id) {
      throw new SimViolation('electionSafety', `term ${t} has two leaders: ${previous} and ${node.id}`);
    }
    this.leaders.set(t, node.id);
    this.stats.leadersElected++;
    this.stats.maxTerm = Math.max(this.stats.maxTerm, t);
    this.checkLeaderCompleteness(node, t);
  }

  private checkLeaderCompleteness(node: CheckedNode, t: number): void {
    const storage = node.storage;
    if (storage === undefined) throw new Error(`checker: leader ${node.id} has no storage`);
    const snap = storage.snapshot().metadata;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    for (let i = Math.max(1, snap.index); i <= this.committedMax; i++) {
      const c = this.canon[i];
      // Only entries committed in an earlier term bind this leader. A candidate can legitimately win
      // an older term late (its vote replies were delayed, e.g. while it was paused) after a newer
      // term committed more: such a stale leader cannot commit anything, and owes nothing newer.
      if (c === undefined || c.commitTerm >= t) continue;
      const have =
        i === snap.index ? snap.term : i >= first && i <= last ? storage.term(index(i)) : undefined;
      if (have !== c.term) {
        throw new SimViolation(
          'leaderCompleteness',
          `${node.id} became leader of term ${t} without committed entry ${i} (term ${c.term}, committed via ` +
            `${c.by}); its log has ${have === undefined ? 'nothing' : `term ${have}`} there (last index ${last})`,
        );
      }
    }
  }

  /** An (index, term) names one entry, with one predecessor term: Log Matching by induction. */
  onPersistEntries(node: CheckedNode, entries: readonly Entry[]): void {
    const storage = node.storage;
    if (storage === undefined) return;
    const first = entries[0];
    // -1: the predecessor was compacted away, so this batch cannot vouch for it.
    let prevTerm = first === undefined ? -1 : safeTerm(storage, first.index - 1);
    for (const e of entries) {
      const key = `${e.index}/${e.term}`;
      const fact = this.logFacts.get(key);
      const hash = this.hashOf(e);
      if (fact === undefined) {
        if (prevTerm >= 0) this.logFacts.set(key, { hash, prevTerm, by: node.id });
      } else if (fact.hash !== hash || (prevTerm >= 0 && fact.prevTerm !== prevTerm)) {
        throw new SimViolation(
          'logMatching',
          `entry ${e.index} of term ${e.term} differs between ${fact.by} and ${node.id}: ` +
            `data ${fact.hash}/${hash}, previous term ${fact.prevTerm}/${prevTerm}`,
        );
      }
      prevTerm = e.term;
    }
  }

  /** A node's commit index moved from `from` to `to`: its entries there join (or match) the canonical log. */
  onCommit(node: CheckedNode, from: number, to: number): void {
    const storage = node.storage;
    if (storage === undefined) return;
    const lo = Math.max(from + 1, storage.firstIndex());
    const hi = Math.min(to, storage.lastIndex());
    if (to > storage.lastIndex()) {
      throw new SimViolation(
        'commitMonotonic',
        `${node.id}: commit ${to} beyond its last index ${storage.lastIndex()}`,
      );
    }
    if (lo <= hi) {
      const entries = storage.entries(index(lo), index(hi + 1), Number.MAX_SAFE_INTEGER);
      for (const e of entries) this.observeCommitted(node, e, 'logMatching');
    }
    this.committedMax = Math.max(this.committedMax, to);
    this.stats.committedMax = this.committedMax;
  }

  /** Applied entries must be exactly the canonical committed ones. */
  onApply(node: CheckedNode, e: Entry): void {
    this.stats.applied++;
    this.observeCommitted(node, e, 'stateMachineSafety');
    this.committedMax = Math.max(this.committedMax, e.index);
  }

  private observeCommitted(
    node: CheckedNode,
    e: Entry,
    property: 'logMatching' | 'stateMachineSafety',
  ): void {
    const hash = this.hashOf(e);
    const c = this.canon[e.index];
    if (c === undefined) {
      while (this.canon.length < e.index) this.canon.push(undefined);
      this.canon[e.index] = { term: e.term, hash, commitTerm: node.term, by: node.id };
      return;
    }
    if (c.term !== e.term || c.hash !== hash) {
      throw new SimViolation(
        property,
        `${node.id} has committed entry ${e.index} as term ${e.term} (${hash}) but ${c.by} committed ` +
          `term ${c.term} (${c.hash}) there`,
      );
    }
  }

  onCreateSnapshot(node: CheckedNode, snap: Snapshot): void {
    this.observeSnapshot(node, snap, 'created');
  }

  onRestoreSnapshot(node: CheckedNode, snap: Snapshot): void {
    this.observeSnapshot(node, snap, 'restored');
  }

  /** Equal indexes must mean equal terms and byte-identical state (serialisation is deterministic). */
  private observeSnapshot(node: CheckedNode, snap: Snapshot, how: string): void {
    const at = snap.metadata.index;
    const c = this.canon[at];
    if (c !== undefined && c.term !== snap.metadata.term) {
      throw new SimViolation(
        'stateMachineSafety',
        `${node.id} ${how} a snapshot at ${at} of term ${snap.metadata.term}, but entry ${at} is term ${c.term}`,
      );
    }
    const hash = hashBytes(snap.data);
    const seen = this.stateHashes.get(at);
    if (seen === undefined) this.stateHashes.set(at, { hash, by: node.id });
    else if (seen.hash !== hash) {
      throw new SimViolation(
        'stateMachineSafety',
        `${node.id} ${how} a snapshot at ${at} whose state differs from ${seen.by}'s at the same index`,
      );
    }
    this.committedMax = Math.max(this.committedMax, at);
  }

  /** On (re)start the core must not come back with a commit index below what was made durable. */
  onStart(node: CheckedNode, durableCommit: number): void {
    const rn = node.rn;
    if (rn === undefined) throw new Error(`checker: ${node.id} started without a core`);
    const commit = rn.status().hardState.commit;
    if (commit < durableCommit) {
      throw new SimViolation(
        'commitMonotonic',
        `${node.id} restarted with commit ${commit} < durable ${durableCommit}`,
      );
    }
  }

  /** The highest index known committed anywhere. */
  get committedIndexMax(): number {
    return this.committedMax;
  }

  /** The leader seen for term t, if any. */
  leaderOf(t: number): NodeId | undefined {
    return this.leaders.get(t);
  }
}

function safeTerm(storage: MemoryStorage, i: number): number {
  try {
    return storage.term(index(i));
  } catch {
    return -1;
  }
}
