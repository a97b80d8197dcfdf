import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberState } from '../ring/shard-table.ts';
import { type LivenessInput, MemberLiveness } from './liveness.ts';

const TIMEOUT = 10_000;

function input(
  nowMs: number,
  heard: Record<string, boolean> | undefined,
  states: Record<string, MemberState> = { a: 'up', b: 'up', c: 'up' },
): LivenessInput {
  return {
    nowMs,
    self: 'a',
    progress:
      heard === undefined
        ? undefined
        : new Map(Object.entries(heard).map(([k, v]) => [k, { recentActive: v }])),
    members: Object.entries(states).map(([nodeId, state]) => ({ nodeId, state })),
    deadNodeTimeoutMs: TIMEOUT,
  };
}

test('a member silent for longer than the timeout is marked down, not before; the leader never itself', () => {
  const l = new MemberLiveness();
  const all = { a: true, b: true, c: true };
  assert.deepEqual(l.observe(input(0, all)), []);
  // c falls silent at 0; b keeps answering.
  for (let t = 500; t <= TIMEOUT; t += 500)
    assert.deepEqual(l.observe(input(t, { a: false, b: true, c: false })), [], `at ${t}`);
  assert.deepEqual(l.observe(input(TIMEOUT + 500, { a: false, b: true, c: false })), [
    { nodeId: 'c', state: 'down', silentMs: TIMEOUT + 500 },
  ]);
});

test('a quorum check clearing recentActive now and then does not make a live member look dead', () => {
  const l = new MemberLiveness();
  // b answers in most looks, not all (the core clears the flag every election timeout).
  for (let t = 0; t <= 5 * TIMEOUT; t += 500) {
    const heard = t % 1500 !== 0;
    assert.deepEqual(l.observe(input(t, { a: true, b: heard, c: true })), [], `at ${t}`);
  }
});

test('a down member heard from again is marked up', () => {
  const l = new MemberLiveness();
  const down = { a: 'up', b: 'up', c: 'down' } as const;
  assert.deepEqual(l.observe(input(0, { a: true, b: true, c: false }, down)), []);
  assert.deepEqual(l.observe(input(500, { a: true, b: true, c: true }, down)), [
    { nodeId: 'c', state: 'up', silentMs: 0 },
  ]);
});

test('a leader that an earlier leader marked down marks itself up', () => {
  const l = new MemberLiveness();
  const selfDown = { a: 'down', b: 'up', c: 'up' } as const;
  assert.deepEqual(l.observe(input(0, { a: true, b: true, c: true }, selfDown)), [
    { nodeId: 'a', state: 'up', silentMs: 0 },
  ]);
  // Not leading, it judges nobody, itself included.
  assert.deepEqual(l.observe(input(500, undefined, selfDown)), []);
});

test('a new leader starts every clock afresh; a member that is no metadata replica is not judged', () => {
  const l = new MemberLiveness();
  l.observe(input(0, { a: true, b: true, c: false }));
  // This node stops leading, then leads again much later: c's silence before does not count.
  assert.deepEqual(l.observe(input(5_000, undefined)), []);
  assert.deepEqual(l.observe(input(60_000, { a: true, b: true, c: false })), []);
  assert.deepEqual(l.observe(input(60_000 + TIMEOUT, { a: true, b: true, c: false })), []);
  assert.equal(l.observe(input(60_000 + TIMEOUT + 1, { a: true, b: true, c: false })).length, 1);
  // d joined the table but is not in the metadata group's progress yet: never judged.
  const withD = { a: 'up', b: 'up', c: 'down', d: 'up' } as const;
  const l2 = new MemberLiveness();
  for (let t = 0; t <= 3 * TIMEOUT; t += 1000)
    assert.deepEqual(l2.observe(input(t, { a: true, b: true, c: false }, withD)), [], `at ${t}`);
});

test('draining, joining and removed members are not marked down', () => {
  const l = new MemberLiveness();
  const states = { a: 'up', b: 'draining', c: 'joining', e: 'removed' } as const;
  for (let t = 0; t <= 3 * TIMEOUT; t += 1000)
    assert.deepEqual(l.observe(input(t, { a: true, b: false, c: false, e: false }, states)), [], `at ${t}`);
});
