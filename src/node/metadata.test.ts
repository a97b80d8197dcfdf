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

const n2 = { nodeId: 'n2', clientAddr: 'h:3', raftAddr: 'h:4', zone: 'z2' };

test('the shard table: init with R, a member joining then up, its shards recorded; the member list read from it', () => {
  const m = applied([
    { ...init, replicationFactor: 2 },
    { requestId: 'r1', op: 'addMember', member: n2 },
  ]);
  assert.equal(m.replicationFactor, 2);
  assert.equal(m.shardCount, 4);
  assert.equal(m.memberState('n2'), 'joining');
  assert.deepEqual(m.members(), [member, n2]);
  assert.deepEqual(
    m.table.shards.map((s) => s.voters),
    [['n1'], ['n1'], ['n1'], ['n1']],
  );
  m.apply(
    index(3),
    encodeMetadataCommand({
      requestId: 'r2',
      op: 'table',
      change: { kind: 'setMemberState', nodeId: 'n2', state: 'up' },
    }),
  );
  m.apply(
    index(4),
    encodeMetadataCommand({
      requestId: 'r3',
      op: 'table',
      change: { kind: 'setShardVoters', shard: 1, voters: ['n1', 'n2'] },
    }),
  );
  assert.equal(m.memberState('n2'), 'up');
  assert.deepEqual(m.table.shards[0]?.voters, ['n1', 'n2']);
  assert.equal(m.table.shards[0]?.epoch, 2);
  assert.equal(m.table.lastOp, 4, 'each operation numbered by its log index');
  // A replayed entry (its index not above the last applied) changes nothing.
  m.apply(
    index(4),
    encodeMetadataCommand({
      requestId: 'r3',
      op: 'table',
      change: { kind: 'setShardVoters', shard: 1, voters: ['n2'] },
    }),
  );
  assert.deepEqual(m.table.shards[0]?.voters, ['n1', 'n2']);
});

test('a refused table change is a result on every node; a member holding replicas is not removed', () => {
  const m = applied([init, { requestId: 'r1', op: 'addMember', member: n2 }]);
  const up = m.apply(index(3), encodeMetadataCommand({ requestId: 'r2', op: 'removeMember', nodeId: 'n1' }));
  assert.equal(up.result.ok, false);
  assert.match((up.result as { reason: string }).reason, /badTransition/);
  const gone = m.apply(
    index(4),
    encodeMetadataCommand({ requestId: 'r3', op: 'removeMember', nodeId: 'n2' }),
  );
  assert.deepEqual(gone.result, { ok: true });
  assert.deepEqual(m.members(), [member]);
  assert.equal(m.memberState('n2'), 'removed');
  const again = m.apply(index(5), encodeMetadataCommand({ requestId: 'r4', op: 'addMember', member: n2 }));
  assert.equal(again.result.ok, false, 'a removed id is never reused');
});

test('the snapshot carries the table; one written before the table has every member on every shard', () => {
  const m = applied([
    { ...init, replicationFactor: 5 },
    { requestId: 'r1', op: 'addMember', member: n2 },
  ]);
  const copy = new MetadataState();
  copy.restore(m.snapshot());
  assert.deepEqual(copy.table, m.table);
  assert.deepEqual(copy.members(), [member, n2]);
  const old = new TextEncoder().encode(
    JSON.stringify({ clusterId: 'c1', shardCount: 2, members: [member, { ...n2, zone: undefined }] }),
  );
  copy.restore(old);
  assert.equal(copy.table.lastOp, 0);
  assert.deepEqual(
    copy.table.shards.map((s) => s.voters),
    [
      ['n1', 'n2'],
      ['n1', 'n2'],
    ],
  );
  assert.deepEqual(
    copy.table.members.map((x) => x.state),
    ['up', 'up'],
  );
});

test('hash tags: on when init says so (a cluster this build creates), off for an older init or snapshot, kept by snapshots', () => {
  assert.equal(applied([init]).table.settings.hashTags, undefined, 'an init without the field: whole keys');
  const tagged = applied([{ ...init, hashTags: true }]);
  assert.equal(tagged.table.settings.hashTags, true);
  const copy = new MetadataState();
  copy.restore(tagged.snapshot());
  assert.equal(copy.table.settings.hashTags, true, 'the snapshot carries it');
  const change = { kind: 'setSettings' as const, change: { replicationFactor: 1 } };
  tagged.apply(index(2), encodeMetadataCommand({ requestId: 'r1', op: 'table', change }));
  assert.equal(tagged.table.settings.replicationFactor, 1, JSON.stringify(tagged.table.settings));
  assert.equal(tagged.table.settings.hashTags, true, 'a settings change keeps it');
  const old = new TextEncoder().encode(JSON.stringify({ clusterId: 'c1', shardCount: 4, members: [member] }));
  copy.restore(old);
  assert.equal(copy.table.settings.hashTags === true, false, 'a snapshot from before the field: whole keys');
});
