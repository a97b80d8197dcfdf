// Joins and leaves an operator gets wrong, refused at once with the real reason instead of a
// timeout that leaves the cluster half-changed: a join with another member's addresses, a join of
// a node that holds another cluster's data, and the leave of a group's last voter. Real `ringkv
// serve` processes on loopback; every one is stopped by pid in cleanup().
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FailedPreconditionError } from '../../src/client/index.ts';
import { freePorts } from '../support/ports.ts';
import { ProcessCluster, ProcessNode, waitUntil } from './harness.ts';

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

  test('a node with data restarted with --join_addr resumes its own cluster and says it ignores the flag', async () => {
    const s = stranger.nodes[0]!;
    const before = await stranger.statusOf(s, 5000);
    await s.stop();
    const args = [...s.args, `--join_addr=localhost:${a.nodes[0]!.port}`, '--log_level', 'warn'];
    const again = new ProcessNode(s.name, s.port, s.raftPort, args, s.cwd);
    stranger.nodes[0] = again;
    again.start();
    await stranger.waitAnswers(again, 60_000);
    await waitUntil('the log to say --join_addr is ignored', 10_000, async () =>
      again.output.some((l) => l.includes('ignores --join_addr')) ? true : undefined,
    );
    const after = await stranger.statusOf(again, 5000);
    assert.equal(after?.clusterId, before?.clusterId, 'still its own cluster');
  });

  test('the leave of the only voter is refused, saying so', async () => {
    const client = stranger.client({ defaultTimeoutMs: 15_000 });
    await refused('leave of the last voter', () => client.leave('stranger'), /only voter|last member/);
    assert.ok(stranger.nodes[0]!.running, 'the node still runs');
  });
});

describe('a node restarted with another client port', { timeout: 180_000 }, () => {
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.start({ nodes: 3 });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('updates its member record; requests for the shards it leads reach it at the new address', async () => {
    const old = c.nodes[2]!;
    // Joined for good (a node stopped while still 'joining' joins again on restart, with the new
    // addresses: that path updates the record too, but says nothing of a change).
    const identity = join(old.args[old.args.indexOf('--raft_dir') + 1]!, 'node.json');
    await waitUntil('node3 to record that it joined', 30_000, async () =>
      JSON.parse(readFileSync(identity, 'utf8')).state === 'joined' ? true : undefined,
    );
    await old.stop();
    // A free port other than the one node3 just released (the system may hand that one out again).
    const newPort = (await freePorts(2)).find((p) => p !== old.port);
    assert.ok(newPort !== undefined && newPort !== old.port, 'a port other than the old one');
    const args = [...old.args];
    args[args.indexOf('--port') + 1] = String(newPort);
    // Warnings only: the harness keeps the last few hundred lines, and info lines would push it out.
    args[args.indexOf('--log_level') + 1] = 'warn';
    const moved = new ProcessNode(old.name, newPort!, old.raftPort, args, old.cwd);
    c.nodes[2] = moved;
    moved.start();
    const wanted = `localhost:${newPort}`;
    await waitUntil('node3 to be listed at its new client address', 30_000, async () => {
      const st = await c.statusOf(c.nodes[0]!, 2000);
      return st?.members.find((m) => m.nodeId === 'node3')?.clientAddr === wanted ? true : undefined;
    });
    // The log line may still be in the pipe when the member list already shows the change.
    await waitUntil('node3 to say in its log that its addresses changed', 5_000, async () =>
      moved.output.some((l) => l.includes('advertised addresses changed')) ? true : undefined,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; its output:\n${moved.output.join('\n').slice(-3000)}`);
    });
    // Every shard answers, whoever leads it (node3 leads some under the default spread placement).
    const client = c.client({ defaultTimeoutMs: 10_000 });
    for (let i = 0; i < 32; i++) {
      await client.put(`moved-${i}`, `v${i}`);
      const got = await client.get(`moved-${i}`);
      assert.ok(got.found, `moved-${i} is there`);
      assert.equal(Buffer.from(got.value).toString(), `v${i}`);
    }
  });
});

describe('a node removed by `cluster leave`', { timeout: 180_000 }, () => {
  let c: ProcessCluster;

  before(async () => {
    c = await ProcessCluster.start({ nodes: 3 });
    // The shard table settles after the joins (the rebalancer may still be adding node3 to a shard
    // whose voters it records late); a leave during such a move is refused today, a known limit of
    // the rebalancer that this test does not cover.
    await waitUntil('every shard on 3 voters with no move in flight', 60_000, async () => {
      const st = await c.statusOf(c.nodes[0]!, 2000);
      const shards = st?.placement ?? [];
      const settled =
        shards.length > 0 &&
        shards.every((p) => p.voters.length === 3 && p.learners.length === 0 && p.move === undefined);
      return settled ? true : undefined;
    });
  });

  after(async () => {
    await c?.cleanup();
  });

  test('stops serving with a message and a failure status, and refuses to serve again on restart', async () => {
    const node3 = c.nodes[2]!;
    await c.client({ defaultTimeoutMs: 60_000 }).leave('node3');
    const exit = await waitUntil('node3 to stop after its removal', 60_000, async () => node3.lastExit);
    assert.notEqual(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    await waitUntil('node3 to say it was removed', 5_000, async () =>
      node3.output.some((l) => l.includes('was removed from cluster')) ? true : undefined,
    );
    node3.start();
    const again = await waitUntil('node3 to refuse to start', 30_000, async () => node3.lastExit);
    assert.notEqual(again.code, 0);
    assert.ok(
      node3.output.some((l) => l.includes('was removed from cluster') && l.includes('--join_addr')),
      'the restart says what to do',
    );
    const st = await c.statusOf(c.nodes[0]!, 5000);
    assert.deepEqual(st?.members.map((m) => m.nodeId).sort(), ['node1', 'node2']);
  });
});
