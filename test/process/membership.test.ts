// Joins and leaves an operator gets wrong, refused at once with the real reason instead of a
// timeout that leaves the cluster half-changed: a join with another member's addresses, a join of
// a node that holds another cluster's data, and the leave of a group's last voter. Real `ringkv
// serve` processes on loopback; every one is stopped by pid in cleanup().
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FailedPreconditionError } from '../../src/client/index.ts';
import { ProcessCluster } from './harness.ts';

/** A refusal must come well before the 15 s the old code spent retrying until its deadline. */
const REFUSAL_MS_MAX = 6_000;

async function refused(what: string, call: () => Promise<unknown>, mentions: RegExp): Promise<void> {
  const start = performance.now();
  await assert.rejects(call(), (e: unknown) => {
    assert.ok(e instanceof FailedPreconditionError, `${what}: ${String(e)}`);
    assert.match(e.message, mentions, what);
    return true;
  });
  const ms = performance.now() - start;
  assert.ok(ms < REFUSAL_MS_MAX, `${what} took ${Math.round(ms)} ms to be refused`);
}

describe('joins and leaves that cannot be right are refused at once', { timeout: 180_000 }, () => {
  let a: ProcessCluster;
  let stranger: ProcessCluster;

  before(async () => {
    a = await ProcessCluster.start({ nodes: 3 });
    // A node that bootstrapped a cluster of its own (the last --node_id given wins).
    stranger = await ProcessCluster.plan({ nodes: 1, extraArgs: ['--node_id', 'stranger'] });
    stranger.nodes[0]!.start();
    await stranger.waitAnswers(stranger.nodes[0]!, 60_000);
  });

  after(async () => {
    await Promise.all([a?.cleanup(), stranger?.cleanup()]);
  });

  test("a join naming another member's addresses is refused; the member list is unchanged", async () => {
    const client = a.client({ defaultTimeoutMs: 15_000 });
    const node2 = a.nodes[1]!;
    await refused(
      'join with node2 addresses',
      () =>
        client.join({
          nodeId: 'node9',
          clientAddr: `localhost:${node2.port}`,
          raftAddr: `localhost:${node2.raftPort}`,
        }),
      /belongs to member 'node2'/,
    );
    const st = await a.statusOf(a.nodes[0]!, 5000);
    assert.deepEqual(st?.members.map((m) => m.nodeId).sort(), ['node1', 'node2', 'node3']);
  });

  test("a node holding another cluster's data is refused; the member list is unchanged", async () => {
    const client = a.client({ defaultTimeoutMs: 15_000 });
    const s = stranger.nodes[0]!;
    const own = await stranger.statusOf(s, 5000);
    assert.equal(own?.nodeId, 'stranger', 'the stranger runs under its own id');
    await refused(
      'join of the stranger',
      () =>
        client.join({
          nodeId: 'stranger',
          clientAddr: `localhost:${s.port}`,
          raftAddr: `localhost:${s.raftPort}`,
        }),
      /another cluster/,
    );
    const st = await a.statusOf(a.nodes[0]!, 5000);
    assert.deepEqual(st?.members.map((m) => m.nodeId).sort(), ['node1', 'node2', 'node3']);
  });

  test('the leave of the only voter is refused, saying so', async () => {
    const client = stranger.client({ defaultTimeoutMs: 15_000 });
    await refused('leave of the last voter', () => client.leave('stranger'), /only voter|last member/);
    assert.ok(stranger.nodes[0]!.running, 'the node still runs');
  });
});
