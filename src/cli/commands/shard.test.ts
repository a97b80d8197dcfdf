import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ShardPlacement, ShardStatus, StatusResponse } from '../../client/index.ts';
import { groupReport, placementOf, statusReport } from '../../client/testing/status-fixtures.ts';
import { formatBytes, shardRows } from './shard.ts';

const VOTERS = ['n1', 'n2', 'n3'];

function report(
  shardId: number,
  leader: string,
  o: { term: bigint; applied: bigint; keys: bigint; bytes: bigint },
) {
  return groupReport(shardId, VOTERS, leader, { ...o, commit: o.applied });
}

function placement(shardId: number, epoch: bigint): ShardPlacement {
  return placementOf(shardId, VOTERS, { slotFirst: shardId * 10, slotLast: shardId * 10 + 9, epoch });
}

function status(nodeId: string, shards: ShardStatus[], placements: ShardPlacement[]): StatusResponse {
  const members = VOTERS.map((m) => ({ nodeId: m, clientAddr: '', raftAddr: '', state: 'up' }));
  return statusReport(nodeId, { members, shards, placement: placements });
}

test('shard rows take applied, keys and bytes from the leader’s own report, not a lagging follower’s', () => {
  const table = [placement(1, 3n), placement(2, 3n)];
  const rows = shardRows([
    // n2 is behind on shard 1 and reports fewer keys; n1 leads shard 1 and says so itself.
    status('n2', [report(1, 'n1', { term: 2n, applied: 40n, keys: 7n, bytes: 70n })], table),
    status(
      'n1',
      [
        report(1, 'n1', { term: 2n, applied: 52n, keys: 9n, bytes: 4096n }),
        report(2, 'n3', { term: 2n, applied: 11n, keys: 2n, bytes: 20n }),
      ],
      table,
    ),
  ]);
  assert.deepEqual(
    rows.map((r) => [r.shardId, r.leader, r.applied, r.keys, r.bytes]),
    [
      [1, 'n1', 52, 9, 4096],
      [2, 'n3', 11, 2, 20],
    ],
  );
});

test('a shard no reachable member reports has zero applied, keys and bytes and no leader', () => {
  const rows = shardRows([status('n1', [], [placement(1, 1n)])]);
  assert.deepEqual(
    rows.map((r) => [r.leader, r.applied, r.keys, r.bytes]),
    [['', 0, 0, 0]],
  );
});

test('bytes are printed in binary units at each boundary', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1024), '1.0 KiB');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(1024 * 1024), '1.0 MiB');
  assert.equal(formatBytes(3.25 * 1024 ** 3), '3.3 GiB');
  assert.equal(formatBytes(5 * 1024 ** 5), '5120.0 TiB');
});
