import assert from 'node:assert/strict';
import { test } from 'node:test';
import { index } from '../types.ts';
import { Inflights } from './inflights.ts';
import { Progress } from './progress.ts';

const progress = (next: number, match = 0): Progress => {
  const p = new Progress(index(next), new Inflights(4, 0), false);
  p.match = index(match);
  return p;
};

test('progress: probe sends one append at a time; an ack switches to replicate', () => {
  const p = progress(5, 0);
  assert.equal(p.state, 'probe');
  p.sentEntries(2, index(6), 100);
  assert.equal(p.isPaused(), true, 'one probe outstanding');
  assert.equal(p.next, 5, 'probe does not advance next optimistically');
  assert.equal(p.maybeUpdate(index(6)), true);
  assert.equal(p.isPaused(), false);
  p.becomeReplicate();
  assert.equal(p.next, 7);
});

test('progress: replicate streams until the inflights are full', () => {
  const p = progress(1, 0);
  p.becomeReplicate();
  for (let i = 1; i <= 4; i++) {
    assert.equal(p.isPaused(), false);
    p.sentEntries(1, index(i), 10);
  }
  assert.equal(p.next, 5);
  assert.equal(p.isPaused(), true);
  p.inflights.freeLE(2);
  p.maybeUpdate(index(2));
  assert.equal(p.isPaused(), false);
});

test('progress: rejections in replicate fall back to match+1; stale ones are ignored; one that shows a lost log forgets the match', () => {
  const p = progress(1, 0);
  p.match = index(5);
  p.becomeReplicate();
  p.sentEntries(3, index(8), 30);
  assert.equal(p.maybeDecrTo(index(4), index(4)), false, 'rejected <= match is stale');
  assert.equal(p.maybeDecrTo(index(7), index(6)), true);
  assert.equal(p.next, 6);
  // A rejection at the match itself is old too, unless it hints below the match: then the
  // follower lost its log (a new replica under a reused id) and the match is forgotten.
  p.becomeReplicate();
  p.sentEntries(3, index(8), 30);
  assert.equal(p.maybeDecrTo(index(5), index(5)), false, 'a hint at the match: an old rejection');
  assert.equal(p.maybeDecrTo(index(5), index(2)), true);
  assert.deepEqual([p.next, p.match], [1, 0]);
});

test('progress: in probe, a rejection uses the hint, down to match+1', () => {
  const p = progress(10, 3);
  assert.equal(p.maybeDecrTo(index(8), index(5)), false, 'not the probe we sent (next-1 = 9)');
  assert.equal(p.maybeDecrTo(index(9), index(5)), true);
  assert.equal(p.next, 6);
  const q = progress(10, 3);
  q.maybeDecrTo(index(9), index(3));
  assert.deepEqual([q.next, q.match], [4, 3], 'a hint at the match probes just after it');
  const r = progress(10, 0);
  r.maybeDecrTo(index(9), index(6));
  assert.equal(r.next, 7);
});

test('progress: in probe, a hint below match (a new replica under a reused id) forgets the match', () => {
  const p = progress(10, 3);
  p.sentCommit = index(3);
  assert.equal(p.maybeDecrTo(index(9), index(1)), true);
  assert.deepEqual([p.next, p.match, p.sentCommit], [2, 0, 0]);
  const q = progress(10, 7);
  assert.equal(q.maybeDecrTo(index(9), index(0)), true);
  assert.deepEqual([q.next, q.match], [1, 0]);
});

test('progress: snapshot state pauses until acknowledged, then probes after the snapshot', () => {
  const p = progress(3, 2);
  p.becomeSnapshot(index(20));
  assert.equal(p.isPaused(), true);
  assert.equal(p.next, 21);
  p.becomeProbe();
  assert.equal(p.next, 21, 'after a snapshot, probe just past it');
  const q = progress(3, 2);
  q.becomeSnapshot(index(20));
  q.pendingSnapshot = index(0); // failed transfer
  q.becomeProbe();
  assert.equal(q.next, 3);
});

test('progress: canBumpCommit only when a sent commit could still move the follower', () => {
  const p = progress(1, 0);
  p.match = index(5);
  p.becomeReplicate(); // next 6
  p.sentCommit = index(3);
  assert.equal(p.canBumpCommit(index(5)), true);
  p.sentCommit = index(5);
  assert.equal(p.canBumpCommit(index(6)), false, 'already sent a commit reaching next-1');
});

test('progress: clone copies every field (a conf change must not lose replication state)', () => {
  const p = progress(9, 4);
  p.becomeReplicate();
  p.sentEntries(1, index(5), 10);
  p.recentActive = true;
  p.sentCommit = index(3);
  p.leaseAckTick = 7;
  p.snapshotTicks = 2;
  p.snapshotSentBytes = 5;
  const c = p.clone();
  for (const key of Object.keys(p) as (keyof Progress)[]) {
    assert.equal(c[key], p[key], `field ${String(key)}`);
  }
});
