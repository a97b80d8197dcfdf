// The leader's view of one follower: how far its log matches, what to send next, and how fast.
//   probe:     send one append per heartbeat interval until the match point is found;
//   replicate: stream appends optimistically, bounded by Inflights;
//   snapshot:  a snapshot is on its way; send nothing else until it is acknowledged.

import { assert } from '../errors.ts';
import type { Index, Snapshot } from '../types.ts';
import { index } from '../types.ts';
import type { Inflights } from './inflights.ts';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  /** Highest index known to match the leader's log. Invariant: match < next. */
  match: Index;
  /** Next index to send. */
  next: Index;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot: Index = index(0);
  /** Lease reads: the latest leader tick at which a heartbeat this follower acknowledged was sent (0 = none). */
  leaseAckTick = 0;
  /** Highest commit index sent to the follower (in an append or heartbeat). */
  sentCommit: Index = index(0);
  /** In snapshot state: the snapshot whose chunks are still being sent (undefined once all are out). */
  snapshotSending: Snapshot | undefined = undefined;
  /** Bytes of `snapshotSending` already sent. */
  snapshotSentBytes = 0;
  /** Ticks spent in snapshot state; the transfer restarts when it reaches the timeout. */
  snapshotTicks = 0;
  /** Heard from since the last quorum check. */
  recentActive = false;
  /** probe: one append is outstanding; replicate: the Inflights are full. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: Index, inflights: Inflights, isLearner: boolean) {
    this.match = index(0);
    this.next = next;
    this.inflights = inflights;
    this.isLearner = isLearner;
    assert(next > 0, `progress next ${next} must be positive`);
  }

  private resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = index(0);
    this.snapshotTicks = 0;
    this.snapshotSending = undefined;
    this.snapshotSentBytes = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Forgets everything learned about the follower (new term as leader): probe from `next`. */
  resetTo(next: Index, match: Index): void {
    this.resetState('probe');
    this.recentActive = false;
    this.sentCommit = index(0);
    this.leaseAckTick = 0;
    this.match = match;
    this.next = next;
    assert(match < next, `progress reset with match ${match} >= next ${next}`);
  }

  becomeProbe(): void {
    // After a snapshot, the follower has at least the snapshot: probe just after it.
    const after =
      this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState('probe');
    this.next = index(after);
    this.sentCommit = index(Math.min(this.sentCommit, this.next - 1));
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = index(this.match + 1);
  }

  becomeSnapshot(snapshotIndex: Index): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.next = index(snapshotIndex + 1);
    this.sentCommit = snapshotIndex;
  }

  /** Bookkeeping after an append with `count` entries (last one `lastIndex`) was sent. */
  sentEntries(count: number, lastIndex: Index, sizeBytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = index(lastIndex + 1);
        this.inflights.add(lastIndex, sizeBytes);
      }
      this.msgAppFlowPaused = this.inflights.full();
    } else {
      assert(this.state === 'probe', `sending entries in state ${this.state}`);
      if (count > 0) this.msgAppFlowPaused = true;
    }
  }

  /** An acknowledgement up to n arrived; false if it is stale. */
  maybeUpdate(n: Index): boolean {
    if (n <= this.match) return false;
    this.match = n;
    if (this.next <= n) this.next = index(n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * A rejection of the append at `rejected` arrived, with the follower's hint that its log may
   * match up to `matchHint`. Returns false if the rejection is stale.
   */
  maybeDecrTo(rejected: Index, matchHint: Index): boolean {
    if (this.state === 'replicate') {
      if (rejected < this.match || (rejected === this.match && matchHint >= this.match)) return false;
      if (rejected === this.match) this.forgetMatch();
      this.next = index(this.match + 1);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    if (matchHint < this.match) this.forgetMatch();
    this.next = index(Math.max(Math.min(rejected, matchHint + 1), this.match + 1));
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * A rejection of the append just past `match` (or, probing, one that hints below it): the
   * follower lacks entries that `match` says it holds. A follower never loses what it acknowledged
   * (it persists first), and its current rejections hint at least its match (up to the match its
   * log agrees with ours, so the search by term stops there). So either this is a new, empty
   * replica under the id of one that was deleted, and `match` came from an acknowledgement the
   * deleted one sent, or the rejection is an old one, overtaken. Either way nothing is known to
   * match any more: lowering `match` is always safe (it only holds back what this follower counts
   * for), and for an old rejection it costs one more probe.
   */
  private forgetMatch(): void {
    this.match = index(0);
    this.sentCommit = index(0);
  }

  /**
   * Whether sending `commit` could advance the follower's commit index: not if we already sent
   * one that takes it all the way to next-1 (etcd's CanBumpCommit).
   */
  canBumpCommit(commit: Index): boolean {
    return this.state !== 'snapshot' && commit > this.sentCommit && this.sentCommit < this.next - 1;
  }

  /**
   * A copy for a configuration being computed. It shares the Inflights: only one of the two is
   * ever live (the Changer's result replaces the tracker's map), and in-flight accounting must
   * survive the switch.
   */
  clone(): Progress {
    const c = new Progress(this.next, this.inflights, this.isLearner);
    c.match = this.match;
    c.state = this.state;
    c.pendingSnapshot = this.pendingSnapshot;
    c.snapshotSending = this.snapshotSending;
    c.snapshotSentBytes = this.snapshotSentBytes;
    c.snapshotTicks = this.snapshotTicks;
    c.recentActive = this.recentActive;
    c.msgAppFlowPaused = this.msgAppFlowPaused;
    c.sentCommit = this.sentCommit;
    c.leaseAckTick = this.leaseAckTick;
    return c;
  }

  isPaused(): boolean {
    return this.state === 'snapshot' || this.msgAppFlowPaused;
  }

  toString(): string {
    return `${this.state} match=${this.match} next=${this.next}${this.isLearner ? ' learner' : ''}`;
  }
}
