// "When things go wrong for an operator", with real `ringkv serve` processes on 127.0.0.1 and the
// real CLI: a hung (SIGSTOPped) node listed first must not stall put, get or cluster status;
// cluster status says what is wrong and exits 1 when a node is gone. Every node is stopped by pid
// in cleanup(), paused ones too (SIGCONT first).
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { HASH_TAG_HASHING, shardOf } from '../../src/ring/slots.ts';
import { type CliRun, ProcessCluster, type ProcessNode, runCli, waitUntil } from './harness.ts';

/**
 * What "well under the old times" means here (before: put 6.8 s, get 17 s, status 5.8 s and a
 * failure): under 3 s for the whole command on a quiet machine, of which about 0.5 s is the CLI
 * starting (Node, TypeScript, gRPC). That start grows when the machine is loaded (the test files
 * run in parallel), so the bound applies to the time beyond it, measured just before each command.
 */
const HUNG_BOUND_MS = 2500;
/** Runs of a command that exceeded HUNG_BOUND_MS before the test fails (timedBest). */
const TRIES_MAX = 3;
/** Status of one node, as the harness asks it, must come back within this (bounded waits). */
const STATUS_MS = 1000;

describe('a 3-node cluster when a node hangs or dies', { timeout: 240_000 }, () => {
  let c: ProcessCluster;
  let endpoints: string;
  let shardCount: number;

  const cli = (args: readonly string[], timeoutMs = 30_000): Promise<CliRun> =>
    runCli([...args, '--endpoints', endpoints], { timeoutMs });

  /**
   * Runs the CLI, and just before it the CLI up to the point where it would connect (a usage
   * error after loading the client): `beyondStartMs` is the time the command took beyond that.
   */
  async function timed(
    args: readonly string[],
  ): Promise<CliRun & { beyondStartMs: number; startMs: number }> {
    const start = await runCli(['get', 'k', '--endpoints', 'not-an-endpoint']);
    assert.equal(start.code, 2, start.stderr);
    // --debug: the failure messages below show where the time went (stderr).
    const r = await cli([...args, '--debug']);
    return { ...r, startMs: start.elapsedMs, beyondStartMs: r.elapsedMs - start.elapsedMs };
  }

  /**
   * `timed`, run again (at most TRIES_MAX times in all) while it exceeds HUNG_BOUND_MS; returns
   * the fastest run. A stall the hung node causes (a command that waits for it) happens on every
   * run; a one-off pause of the shared machine does not, and each slow run's trace is reported.
   */
  async function timedBest(
    t: TestContext,
    args: readonly string[],
  ): Promise<CliRun & { beyondStartMs: number; startMs: number }> {
    let best = await timed(args);
    for (let i = 1; i < TRIES_MAX && best.beyondStartMs >= HUNG_BOUND_MS; i++) {
      t.diagnostic(
        `slow: ${args.join(' ')} took ${best.elapsedMs} ms (CLI start ${best.startMs} ms)\n${best.stderr}`,
      );
      const again = await timed(args);
      if (again.beyondStartMs < best.beyondStartMs) best = again;
    }
    return best;
  }

  /** A key whose shard is (or is not) led by `node`, per `led`, distinct for each `tag`. */
  function keyFor(led: Map<string, number[]>, node: ProcessNode, ledByIt: boolean, tag: string): string {
    const shards = new Set(led.get(node.name) ?? []);
    for (let i = 0; i < 10_000; i++) {
      const key = `${tag}-${i}`;
      if (shards.has(shardOf(new TextEncoder().encode(key), shardCount, HASH_TAG_HASHING)) === ledByIt)
        return key;
    }
    throw new Error(
      `no key ${ledByIt ? 'led' : 'not led'} by ${node.name} among ${JSON.stringify([...led])}`,
    );
  }

  before(async () => {
    c = await ProcessCluster.start({ extraArgs: ['--host', '127.0.0.1'] });
    endpoints = c.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
    shardCount = (await c.statusOf(c.nodes[0]!, 5000))!.shards.filter((g) => g.shardId !== 0).length;
  });

  after(async () => {
    await c?.cleanup();
  });

  test('cluster status on a healthy cluster: exit 0, no problem and no warning', async () => {
    const r = await cli(['cluster', 'status']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /problem|warning|unreachable/);
    assert.match(
      r.stdout,
      /every group has a leader and every member is a voter; the cluster can lose any one node/,
    );
    const json = await cli(['cluster', 'status', '--output', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const view = JSON.parse(json.stdout) as { problems: string[]; failuresTolerated: number };
    assert.deepEqual([view.problems, view.failuresTolerated], [[], 1]);
  });

  test('one node hung (SIGSTOP) and listed first: put, get and cluster status finish in under 3 s', async (t) => {
    const hung = c.nodes[0]!;
    // The default placement spreads the leaderships over the nodes within seconds of forming:
    // wait for it, so that some shards are led by the node about to hang and some are not.
    const led = await waitUntil('the leaderships to be spread', 30_000, async () => {
      const m = await c.leadersByNode();
      return [...m.values()].every((shards) => shards.length > 0) ? m : undefined;
    });
    hung.pause();
    try {
      // A key the hung node led, at once: a live node holds it until its shard elects a new leader
      // (1-2 s of silence), so it may take longer; it must still end within its deadline.
      const ledKey = keyFor(led, hung, true, 'hung-led');
      const early = await cli(['put', ledKey, 'v2']);
      t.diagnostic(
        `put of a key the hung node led, at once: exit ${early.code} in ${early.elapsedMs} ms ${early.stderr.trim()}`,
      );
      assert.ok(early.elapsedMs < 5000 + 2000, `put took ${early.elapsedMs} ms`);
      assert.ok(early.code === 0 || /may or may not|not served within/.test(early.stderr), early.stderr);

      // Keys whose shards a live node leads: only the hung endpoint in front is in the way.
      const key = keyFor(led, hung, false, 'hung-elsewhere');
      const put = await timedBest(t, ['put', key, 'v1']);
      const get = await timedBest(t, ['get', key, '--timeout-ms', '15000']);
      const status = await timedBest(t, ['cluster', 'status']);
      const show = (r: { elapsedMs: number; startMs: number }) =>
        `${r.elapsedMs} ms (CLI start ${r.startMs} ms)`;
      t.diagnostic(
        `${hung.name} hung, led ${led.get(hung.name)?.length ?? 0} of ${shardCount} shards; ` +
          `put ${show(put)}, get ${show(get)}, cluster status ${show(status)}`,
      );
      assert.equal(put.code, 0, put.stderr);
      assert.deepEqual([get.code, get.stdout], [0, 'v1\n'], get.stderr);
      assert.equal(status.code, 1, `${status.stdout}\n${status.stderr}`);
      assert.match(status.stdout, new RegExp(`${hung.name} .*unreachable`));
      assert.match(status.stdout, new RegExp(`^problem: ${hung.name} \\(.*\\) did not answer`, 'm'));
      assert.match(
        status.stdout,
        new RegExp(`^warning: the cluster cannot survive another failure: ${hung.name} is unreachable`, 'm'),
      );
      for (const [what, r] of [
        ['put', put],
        ['get', get],
        ['cluster status', status],
      ] as const) {
        assert.ok(
          r.beyondStartMs < HUNG_BOUND_MS,
          `${what} took ${r.elapsedMs} ms, ${r.beyondStartMs} ms beyond the CLI's start (bound ${HUNG_BOUND_MS})\n${r.stderr}`,
        );
      }

      // Once the survivors lead every shard, keys the hung node led are as quick as the others.
      const survivors = c.nodes.filter((n) => n !== hung);
      await waitUntil('the survivors to lead every shard', 20_000, async () => {
        const st = await c.statusOf(survivors[0]!, STATUS_MS);
        const data = st?.shards.filter((g) => g.shardId !== 0) ?? [];
        return data.length > 0 && data.every((g) => survivors.some((s) => s.name === g.leader))
          ? true
          : undefined;
      });
      const later = await timedBest(t, ['put', ledKey, 'v3']);
      const read = await timedBest(t, ['get', ledKey]);
      t.diagnostic(`after re-election: put ${show(later)}, get ${show(read)}\n${later.stderr}`);
      assert.equal(later.code, 0, later.stderr);
      assert.deepEqual([read.code, read.stdout], [0, 'v3\n'], read.stderr);
      assert.ok(later.beyondStartMs < HUNG_BOUND_MS, `put took ${show(later)}\n${later.stderr}`);
      assert.ok(read.beyondStartMs < HUNG_BOUND_MS, `get took ${show(read)}\n${read.stderr}`);
    } finally {
      hung.resume();
    }
    await c.waitFormed(45_000);
  });

  test('one node killed: cluster status warns, naming it, and exits 1; back, it exits 0 again', async () => {
    const victim = c.nodes[2]!;
    await victim.kill('SIGKILL');
    try {
      const r = await cli(['cluster', 'status']);
      assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`${victim.name} .*unreachable`));
      assert.match(
        r.stdout,
        new RegExp(
          `^warning: the cluster cannot survive another failure: ${victim.name} is unreachable, and every group has 2 of 3 voters up where 2 are needed`,
          'm',
        ),
      );
      const json = await cli(['cluster', 'status', '--output', 'json']);
      assert.equal(json.code, 1);
      const view = JSON.parse(json.stdout) as { problems: string[]; failuresTolerated: number };
      assert.equal(view.failuresTolerated, 0);
      assert.ok(
        view.problems.some((p) => p.startsWith('warning: ') && p.includes(victim.name)),
        json.stdout,
      );
    } finally {
      victim.start();
    }
    await c.waitFormed(45_000);
    const healed = await cli(['cluster', 'status']);
    assert.equal(healed.code, 0, `${healed.stdout}\n${healed.stderr}`);
  });
});
