// One 3-node cluster of real `ringkv serve` processes through its life, in numbered steps, in
// order (forming, a follower killed, the leader killed, a quorum lost, a full restart, the leader
// placement switched); each step leaves all three nodes running for the next. Nodes run with a 2 s
// server-side request deadline so that "no quorum" answers arrive well inside the clients' 4–5 s
// deadlines.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { RingkvError } from '../../src/client/index.ts';
import { AckedWrites } from './acked.ts';
import { ProcessCluster, type ProcessNode, ROOT, runCli, waitUntil } from './harness.ts';

const SERVER_TIMEOUT_MS = 2000;

describe('a 3-node cluster of real processes', { timeout: 170_000 }, () => {
  let c: ProcessCluster;
  const acked = new AckedWrites();

  before(async () => {
    c = await ProcessCluster.start({ extraArgs: ['--request_timeout_ms', String(SERVER_TIMEOUT_MS)] });
  });

  after(async () => {
    await c?.cleanup();
  });

  // A failed step must not take the next ones down with it: start whatever it left stopped.
  beforeEach(async () => {
    if (c === undefined || c.nodes.every((n) => n.running)) return;
    for (const n of c.nodes) if (!n.running) n.start();
    await c.waitFormed(45_000);
  });

  test('1. bootstrap + two joins: put and get through each node; 3 voters in every group', async () => {
    for (const n of c.nodes) {
      const via = c.client({ endpoints: [n.endpoint], routeToLeaders: false });
      for (let i = 0; i < 5; i++) await acked.put(via, `via-${n.name}-${i}`, `${n.name}/${i}`);
    }
    for (const n of c.nodes) {
      await acked.verify(c.client({ endpoints: [n.endpoint], routeToLeaders: false }));
    }
    const r = await runCli(['cluster', 'status', '--output', 'json', '--endpoints', c.endpoints.join(',')]);
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout) as {
      nodes: { nodeId: string; role: string; reachable: boolean; version: string }[];
      shards: { shardId: number; voters: string[]; leader: string }[];
    };
    assert.deepEqual(
      view.nodes.map((n) => [n.nodeId, n.role, n.reachable]).sort(),
      c.nodes.map((n) => [n.name, 'voter', true]),
    );
    const release = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    assert.deepEqual(
      view.nodes.map((n) => n.version),
      c.nodes.map(() => release),
      'each node names the release it runs',
    );
    assert.ok(view.shards.length >= 2, `groups: ${view.shards.length}`);
    for (const g of view.shards) {
      assert.deepEqual([...g.voters].sort(), ['node1', 'node2', 'node3'], `group ${g.shardId}`);
      assert.notEqual(g.leader, '', `group ${g.shardId} has no leader`);
    }
  });

  test('2. SIGKILL a follower: puts and gets keep succeeding; restarted, it catches up', async () => {
    const led = await c.leadersByNode();
    const victim = pick(c, led, 'fewest');
    await victim.kill('SIGKILL');
    const client = c.client();
    for (let i = 0; i < 20; i++) await acked.put(client, `follower-down-${i}`, `v${i}`);
    await acked.verify(client);
    victim.start();
    await c.waitAnswers(victim);
    const local = c.client({ endpoints: [victim.endpoint], routeToLeaders: false });
    await waitUntil(`${victim.name} to catch up`, 20_000, async () =>
      (await acked.matches(local, { serializable: true, timeoutMs: 1000 })) ? true : undefined,
    );
    await c.waitFormed();
  });

  test('3. SIGKILL the node leading the most shards: all shards led again within 3 s; nothing acknowledged lost', async (t) => {
    const client = c.client();
    for (let i = 0; i < 20; i++) await acked.put(client, `before-leader-kill-${i}`, `v${i}`);
    const led = await c.leadersByNode();
    const victim = pick(c, led, 'most');
    assert.ok(
      (led.get(victim.name)?.length ?? 0) > 0,
      `${victim.name} leads nothing: ${JSON.stringify([...led])}`,
    );
    const t0 = Date.now();
    await victim.kill('SIGKILL');
    const survivors = c.nodes.filter((n) => n !== victim);
    const elapsedMs = await waitUntil(
      'every shard to have a leader among the survivors',
      15_000,
      async () => {
        for (const s of survivors) {
          const st = await c.statusOf(s, 500);
          if (st === undefined) return undefined;
          const data = st.shards.filter((g) => g.shardId !== 0);
          if (data.length === 0 || !data.every((g) => survivors.some((x) => x.name === g.leader)))
            return undefined;
        }
        return Date.now() - t0;
      },
    );
    t.diagnostic(
      `${victim.name} led ${led.get(victim.name)?.length} shards; all led again after ${elapsedMs} ms`,
    );
    assert.ok(elapsedMs <= 3000, `shards were leaderless for ${elapsedMs} ms (bound: 3000)`);
    await acked.verify(client);
    victim.start();
    await c.waitFormed();
  });

  test('4. SIGKILL two of three: writes fail with UNAVAILABLE within the deadline; restarted, nothing lost', async () => {
    const [keep, ...gone] = c.nodes as [ProcessNode, ProcessNode, ProcessNode];
    for (const n of gone) await n.kill('SIGKILL');
    const client = c.client({ endpoints: [keep.endpoint] });
    const timeoutMs = 4000;
    const t0 = Date.now();
    const [read, ...writes] = await Promise.all([
      settle(client.get('via-node1-0', { timeoutMs })),
      ...Array.from({ length: 4 }, (_, i) => settle(client.put(`no-quorum-${i}`, 'x', { timeoutMs }))),
    ]);
    const elapsedMs = Date.now() - t0;
    assert.ok(elapsedMs <= timeoutMs + 1500, `calls took ${elapsedMs} ms with a ${timeoutMs} ms deadline`);
    // Writes: UNAVAILABLE (the write certainly did not happen, or an IndeterminateError caused by it).
    for (const o of writes) {
      assert.ok(o instanceof RingkvError, `expected a failure without a quorum, got ${String(o)}`);
      assert.equal(o.grpcCode, 'UNAVAILABLE', `${o.code}: ${o.message}`);
    }
    // The issue asks UNAVAILABLE of writes; a read only has to fail in time.
    assert.ok(
      read instanceof RingkvError && ['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(read.code),
      String(read),
    );
    for (const n of gone) n.start();
    await c.waitFormed();
    await acked.verify(c.client());
  });

  test('5. stop all three, start them with their original command lines: the data is intact', async () => {
    const exits = await Promise.all(c.nodes.map((n) => n.stop()));
    assert.deepEqual(
      exits.map((e) => e.code),
      [0, 0, 0],
      `graceful stop should exit 0: ${JSON.stringify(exits)}\n${c.tails(10)}`,
    );
    for (const n of c.nodes) n.start();
    await c.waitFormed(45_000);
    const client = c.client();
    await acked.verify(client);
    await acked.put(client, 'after-restart', 'yes');
    assert.ok(acked.size >= 16, `only ${acked.size} acknowledged writes checked`);
  });

  test('6. `ringkv cluster leader-placement pack`, then `spread`: the leaderships move, writes go on', async () => {
    const endpoints = ['--endpoints', c.endpoints.join(',')];
    const shardCount = (await c.statusOf(c.nodes[0]!, 2000))!.shards.length - 1;
    const lastLed = (stdout: string): number[] => {
      const line = stdout.trim().split('\n').at(-1) ?? '';
      assert.match(line, /^shards led: /, stdout);
      return [...line.matchAll(/ (\d+)(,|$)/g)].map((m) => Number(m[1])).sort((a, b) => b - a);
    };
    const pack = await runCli(['cluster', 'leader-placement', 'pack', ...endpoints]);
    assert.equal(pack.code, 0, pack.stderr);
    assert.match(pack.stdout, /^leader placement: pack\n/);
    assert.deepEqual(lastLed(pack.stdout), [shardCount, 0, 0]);
    const status = await runCli(['cluster', 'status', ...endpoints]);
    assert.match(status.stdout, /, leaders packed\n/);
    const client = c.client();
    for (let i = 0; i < 10; i++) await acked.put(client, `packed-${i}`, `v${i}`);
    const spread = await runCli(['cluster', 'leader-placement', 'spread', ...endpoints]);
    assert.equal(spread.code, 0, spread.stderr);
    const led = lastLed(spread.stdout);
    assert.ok(led[0]! - led[2]! <= 1, spread.stdout);
    await acked.verify(client);
  });
});

function pick(c: ProcessCluster, led: Map<string, number[]>, which: 'most' | 'fewest'): ProcessNode {
  const sorted = [...c.nodes].sort((a, b) => (led.get(a.name)?.length ?? 0) - (led.get(b.name)?.length ?? 0));
  const n = which === 'most' ? sorted[sorted.length - 1] : sorted[0];
  if (n === undefined) throw new Error('no nodes');
  return n;
}

/** The value or the error, never a rejection. */
function settle<T>(p: Promise<T>): Promise<T | unknown> {
  return p.then(
    (v) => v,
    (e: unknown) => e,
  );
}
