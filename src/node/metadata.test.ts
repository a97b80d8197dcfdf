// The metadata state machine's leader placement: set by init and by its own command, carried by
// snapshots, 'spread' for logs and snapshots written before placements existed, and a bad value in
// the log refused as a result (every node applies the same refusal) rather than thrown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { index } from '../raft/types.ts';
import {
  decodeMetadataCommand,
  encodeMetadataCommand,
  type MetadataCommand,
  MetadataState,
} from './metadata.ts';

const member = { nodeId: 'n1', clientAddr: 'h:1', raftAddr: 'h:2' };
const init: MetadataCommand = { requestId: 'r0', op: 'init', clusterId: 'c1', shardCount: 4, member };

function applied(cmds: readonly MetadataCommand[]): MetadataState {
  const m = new MetadataState();
  for (const [i, c] of cmds.entries()) m.apply(index(i + 1), encodeMetadataCommand(c));
  return m;
}

test('init without a placement (an older log) means spread; init with pack packs', () => {
  assert.equal(applied([init]).leaderPlacement, 'spread');
  assert.equal(applied([{ ...init, leaderPlacement: 'pack' }]).leaderPlacement, 'pack');
});

test('setLeaderPlacement changes the placement and the snapshot carries it', () => {
  const m = applied([init, { requestId: 'r1', op: 'setLeaderPlacement', placement: 'pack' }]);
  assert.equal(m.leaderPlacement, 'pack');
  const copy = new MetadataState();
  copy.restore(m.snapshot());
  assert.equal(copy.leaderPlacement, 'pack');
  assert.equal(copy.shardCount, 4);
  assert.deepEqual(copy.members(), [member]);
});

test('a snapshot written before placements existed restores as spread', () => {
  const old = new TextEncoder().encode(JSON.stringify({ clusterId: 'c1', shardCount: 4, members: [member] }));
  const m = applied([{ ...init, leaderPlacement: 'pack' }]);
  m.restore(old);
  assert.equal(m.leaderPlacement, 'spread');
});

test('an unknown placement in the log is a refusal, not a crash, and changes nothing', () => {
  const m = applied([{ ...init, leaderPlacement: 'pack' }]);
  const bad = {
    requestId: 'r2',
    op: 'setLeaderPlacement',
    placement: 'random',
  } as unknown as MetadataCommand;
  const out = m.apply(index(2), encodeMetadataCommand(bad));
  assert.deepEqual(out.result, { ok: false, reason: "unknown leader placement 'random'" });
  assert.equal(m.leaderPlacement, 'pack');
});

test('the new command decodes; an unknown op does not', () => {
  const c: MetadataCommand = { requestId: 'r3', op: 'setLeaderPlacement', placement: 'spread' };
  assert.deepEqual(decodeMetadataCommand(encodeMetadataCommand(c)), c);
  assert.throws(
    () => decodeMetadataCommand(new TextEncoder().encode('{"requestId":"x","op":"explode"}')),
    /cannot decode command/,
  );
});
