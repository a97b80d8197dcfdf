// `ringkv cluster health`: the verdict on one Status answer (pure), and the command as a user runs
// it (the real program in a child process) against the in-memory fake cluster in this process.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Member, ShardStatus, StatusResponse } from '../../client/index.ts';
import { FakeCluster } from '../../client/testing/fake-server.ts';
import { groupReport, statusReport } from '../../client/testing/status-fixtures.ts';
import { healthLine, type NodeHealth, readiness } from './health.ts';

const member: Member = { nodeId: 'n1', clientAddr: 'h1:1', raftAddr: 'h1:2' };

const group = (shardId: number, leader: string): ShardStatus => groupReport(shardId, ['n1'], leader);

function statusOf(over: Partial<StatusResponse>): StatusResponse {
  return statusReport('n1', {
    clusterId: 'c1',
    members: [member],
    shards: [group(0, 'n1'), group(1, 'n2'), group(2, 'n1')],
    ...over,
  });
}

describe('readiness', () => {
  test('ready: a leader of the metadata group and of every group it holds', () => {
    assert.deepEqual(readiness(member, 'c1', statusOf({})), { ready: true, reason: '' });
  });

  test('not ready: no metadata leader, or a group without one, or not holding the metadata group', () => {
    assert.deepEqual(readiness(member, 'c1', statusOf({ shards: [group(0, ''), group(1, 'n1')] })), {
      ready: false,
      reason: 'it knows no leader of the metadata group',
    });
    assert.deepEqual(readiness(member, 'c1', statusOf({ shards: [group(1, 'n1')] })), {
      ready: false,
      reason: 'it knows no leader of the metadata group',
    });
    const two = statusOf({ shards: [group(0, 'n1'), group(1, ''), group(2, 'n1'), group(3, '')] });
    assert.deepEqual(readiness(member, 'c1', two), {
      ready: false,
      reason: '2 of the 4 groups it holds have no leader it knows (shards 1, 3)',
    });
  });

  test('not ready: another cluster or another node at the member’s address', () => {
    assert.equal(readiness(member, 'c1', statusOf({ clusterId: 'c2' })).ready, false);
    assert.equal(readiness(member, 'c1', statusOf({ nodeId: 'n9' })).reason, 'h1:1 answers as n9');
  });
});

test('healthLine says reachable, ready and the time, then why not healthy', () => {
  const h: NodeHealth = {
    nodeId: 'n1',
    clientAddr: 'h1:1',
    healthy: true,
    reachable: true,
    ready: true,
    tookMs: 3,
    alarms: [],
    reason: '',
  };
  assert.equal(healthLine(h), 'n1 (h1:1) is healthy: reachable, ready, took 3 ms');
  assert.equal(
    healthLine({ ...h, healthy: false, reachable: false, ready: false, tookMs: 1000, reason: 'x' }),
    'n1 (h1:1) is unhealthy: unreachable, took 1000 ms: x',
  );
});

describe('the command against a fake cluster', () => {
  let cluster: FakeCluster;
  const root = join(import.meta.dirname, '..', '..', '..');

  function ringkv(
    args: readonly string[],
  ): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
    const t0 = Date.now();
    return new Promise((resolve) => {
      execFile(
        join(root, 'node_modules', '.bin', 'node'),
        [join(root, 'src', 'cli', 'main.ts'), 'cluster', 'health', ...args],
        { cwd: root, timeout: 30_000 },
        (err, stdout, stderr) =>
          resolve({ code: err === null ? 0 : Number(err.code), stdout, stderr, ms: Date.now() - t0 }),
      );
    });
  }

  before(async () => {
    cluster = await FakeCluster.start({ nodes: 3, shards: 4 });
  });

  after(async () => {
    await cluster.close();
  });

  test('every member healthy: one line each, exit 0; --output json: one object per member', async () => {
    const endpoints = cluster.nodes[0]!.addr;
    const r = await ringkv(['--endpoints', endpoints]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, r.stdout);
    for (const [i, n] of cluster.nodes.entries()) {
      assert.match(
        lines[i]!,
        new RegExp(`^${n.nodeId} \\(${n.addr}\\) is healthy: reachable, ready, took \\d+ ms$`),
      );
    }
    const json = await ringkv(['--endpoints', endpoints, '--output', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const nodes = JSON.parse(json.stdout) as NodeHealth[];
    assert.deepEqual(
      nodes.map((n) => [n.nodeId, n.healthy, n.reachable, n.ready, typeof n.tookMs]),
      cluster.nodes.map((n) => [n.nodeId, true, true, true, 'number']),
    );
  });

  test('a group without a leader: not ready, exit 1', async () => {
    cluster.leaders.set(2, -1);
    try {
      const r = await ringkv(['--endpoints', cluster.nodes[0]!.addr]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(
        r.stdout,
        /^node1 \(.*\) is unhealthy: reachable, not ready, took \d+ ms: 1 of the 5 groups it holds have no leader it knows \(shard 2\)$/m,
      );
    } finally {
      cluster.leaders.set(2, 1);
    }
  });

  test('a hung member: unreachable within its timeout, the others healthy, exit 1', async (t) => {
    const hung = cluster.nodes[1]!;
    await cluster.hangNode(hung);
    try {
      // --timeout-ms 2500: each member gets 500 ms.
      const endpoints = cluster.nodes.map((n) => n.addr).join(',');
      const r = await ringkv(['--endpoints', endpoints, '--timeout-ms', '2500', '--output', 'json']);
      assert.equal(r.code, 1, r.stderr);
      const nodes = JSON.parse(r.stdout) as NodeHealth[];
      const byId = new Map(nodes.map((n) => [n.nodeId, n]));
      const h = byId.get(hung.nodeId)!;
      t.diagnostic(healthLine(h));
      assert.deepEqual([h.healthy, h.reachable], [false, false], JSON.stringify(h));
      assert.ok(h.tookMs >= 400 && h.tookMs < 1000, `the hung member took ${h.tookMs} ms (timeout 500)`);
      for (const n of nodes.filter((x) => x !== h)) assert.equal(n.healthy, true, JSON.stringify(n));
    } finally {
      await cluster.restartNode(hung);
    }
  });
});
