// The client against the in-memory fake cluster: routing, hints, the retry policy, deadlines,
// cancellation and the typed errors.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { freePort } from '../../test/support/ports.ts';
import { ATTEMPT_MS_MIN } from './call-loop.ts';
import { RingkvClient, type RingkvClientOptions } from './client.ts';
import {
  CancelledError,
  DeadlineExceededError,
  IndeterminateError,
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
} from './errors.ts';
import { FakeCluster } from './testing/fake-server.ts';

const FAST_BACKOFF = { baseMs: 5, maxMs: 40 };
const text = (b: Uint8Array) => new TextDecoder().decode(b);

let cluster: FakeCluster;
const clients: RingkvClient[] = [];

function client(opts: Partial<RingkvClientOptions> = {}): RingkvClient {
  const c = new RingkvClient({ endpoints: [cluster.nodes[0]!.addr], backoff: FAST_BACKOFF, ...opts });
  clients.push(c);
  return c;
}

/** A key whose shard is led by `nodeIndex`, or not led by it when `notLed`. */
function keyLedBy(nodeIndex: number, prefix = 'k'): string {
  for (let i = 0; i < 10_000; i++) {
    const key = `${prefix}${i}`;
    if (cluster.leaders.get(cluster.shardOfKey(key)) === nodeIndex) return key;
  }
  throw new Error(`no key led by node index ${nodeIndex}`);
}

before(async () => {
  cluster = await FakeCluster.start({ nodes: 3, shards: 8, notLeader: 'reject' });
});

after(async () => {
  await Promise.all(clients.map((c) => c.close({ timeoutMs: 0 })));
  await cluster.close();
});

beforeEach(async () => {
  cluster.calls.length = 0;
  cluster.store.clear();
  cluster.notLeader = 'reject';
  for (let s = 1; s <= cluster.shards; s++) cluster.leaders.set(s, (s - 1) % cluster.nodes.length);
  for (const n of cluster.nodes) {
    n.delayMs = 0;
    n.faults.length = 0;
    await cluster.restartNode(n);
  }
});

describe('routing', () => {
  test('every request goes straight to the leader of its key shard', async () => {
    const c = client();
    for (let i = 0; i < 40; i++) await c.put(`key-${i}`, `v${i}`);
    for (let i = 0; i < 40; i++) {
      const r = await c.get(`key-${i}`);
      assert.ok(r.found && text(r.value) === `v${i}`);
    }
    const kv = cluster.calls.filter((x) => x.method !== 'status');
    assert.equal(kv.length, 80);
    assert.deepEqual(
      kv.filter((x) => x.forwarded),
      [],
    );
    // Requests were spread over every node, not sent to the one configured endpoint.
    for (const n of cluster.nodes) assert.ok(cluster.callsTo(n.nodeId, 'put').length > 0, n.nodeId);
  });

  test('follows a leader hint after a leadership change, then goes there directly', async () => {
    const c = client();
    const key = keyLedBy(1);
    await c.put(key, 'a');
    cluster.leaders.set(cluster.shardOfKey(key), 2);
    cluster.calls.length = 0;
    await c.put(key, 'b');
    await c.put(key, 'c');
    assert.deepEqual(
      cluster.calls.map((x) => `${x.node}:${x.method}`),
      ['node2:put', 'node3:put', 'node3:put'],
    );
    assert.equal(text(cluster.get(new TextEncoder().encode(key))!.value), 'c');
  });

  test('trace: one line per shard-map status and per attempt, naming the target, why, and the outcome', async () => {
    const lines: string[] = [];
    const c = client({ trace: (line) => lines.push(line) });
    const key = keyLedBy(1);
    await c.get(key); // the first keyed call reads the shard map: node2 leads the key's shard
    lines.length = 0;
    cluster.leaders.set(cluster.shardOfKey(key), 2); // now node3 does, and node2 says so
    await c.put(key, 'v');
    const shard = cluster.shardOfKey(key);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(
      lines[0]!,
      new RegExp(
        `^put "${key}": attempt 1 to ${cluster.nodes[1]!.addr} \\(leader of shard ${shard}, budget \\d+ ms\\): UNAVAILABLE from .* after \\d+ ms$`,
      ),
    );
    assert.match(
      lines[1]!,
      new RegExp(
        `^put "${key}": attempt 2 to ${cluster.nodes[2]!.addr} \\(leader hint, budget \\d+ ms\\): answered after \\d+ ms$`,
      ),
    );

    const fresh: string[] = [];
    await client({ trace: (line) => fresh.push(line) }).get(key);
    assert.match(
      fresh[0]!,
      new RegExp(`^shard map: status from ${cluster.nodes[0]!.addr} \\(node1\\) after \\d+ ms`),
    );
    assert.match(
      fresh[1]!,
      new RegExp(`^get "${key}": attempt 1 to ${cluster.nodes[2]!.addr} \\(leader of shard ${shard}, `),
    );
  });

  test('requests carry the shard epoch learned; a stale-route answer sends it where the node says', async () => {
    const c = client();
    const key = keyLedBy(1);
    const shard = cluster.shardOfKey(key);
    cluster.epochs.set(shard, 3n);
    await c.put(key, 'a'); // learns epoch 3 from the answer's header
    await c.put(key, 'b');
    // The shard moved to node3 (epoch 4); node2 no longer holds it and says so.
    cluster.leaders.set(shard, 2);
    cluster.epochs.set(shard, 4n);
    cluster.nodes[1]!.fail({
      method: 'put',
      code: status.UNAVAILABLE,
      retrySafe: true,
      leaderHint: 'leader',
      staleRoute: { epoch: 4 },
    });
    cluster.calls.length = 0;
    await c.put(key, 'c');
    await c.put(key, 'd');
    assert.deepEqual(
      cluster.callsTo(undefined, 'put').map((x) => `${x.node}@${x.shardEpoch}`),
      ['node2@3', 'node3@4', 'node3@4'],
    );
    assert.equal(text(cluster.get(new TextEncoder().encode(key))!.value), 'd');
  });

  test('with leader routing off, only the configured endpoint is used (and forwards)', async () => {
    cluster.notLeader = 'forward';
    const c = client({ routeToLeaders: false, endpoints: [cluster.nodes[1]!.addr] });
    for (let i = 0; i < 10; i++) await c.put(`r${i}`, 'x');
    assert.deepEqual(new Set(cluster.calls.map((x) => x.node)), new Set(['node2']));
  });

  test('a down leader: the request moves to another node (never sent, so safe for writes)', async () => {
    cluster.notLeader = 'forward';
    const c = client({ endpoints: cluster.nodes.map((n) => n.addr) });
    const key = keyLedBy(2);
    await c.put(key, 'before');
    await cluster.stopNode(cluster.nodes[2]!);
    await c.put(key, 'after');
    const r = await c.get(key);
    assert.ok(r.found && text(r.value) === 'after');
  });
});

describe('retry policy', () => {
  test('reads are retried on UNAVAILABLE even without the retry-safe trailer', async () => {
    const c = client();
    const key = keyLedBy(0);
    await c.put(key, 'v');
    cluster.nodes[0]!.fail({ method: 'get', code: status.UNAVAILABLE, times: 2 });
    const r = await c.get(key);
    assert.ok(r.found);
    assert.equal(cluster.callsTo('node1', 'get').length, 3);
  });

  test('a write is not retried on UNAVAILABLE without retry-safe: IndeterminateError', async () => {
    const c = client();
    const key = keyLedBy(0);
    await c.get(key);
    cluster.nodes[0]!.fail({ method: 'put', code: status.UNAVAILABLE, applyFirst: true });
    const err = await c.put(key, 'maybe').then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof IndeterminateError, String(err));
    assert.equal(err.code, 'INDETERMINATE');
    assert.ok(err.cause instanceof UnavailableError);
    assert.equal(cluster.callsTo(undefined, 'put').length, 1);
  });

  test('a write marked retry-safe is retried until it succeeds', async () => {
    const c = client();
    const key = keyLedBy(0);
    await c.get(key);
    cluster.nodes[0]!.fail({ method: 'put', code: status.UNAVAILABLE, retrySafe: true, times: 3 });
    await c.put(key, 'v');
    assert.equal(cluster.callsTo('node1', 'put').length, 4);
    assert.equal(text(cluster.get(new TextEncoder().encode(key))!.value), 'v');
  });

  test('retry-safe UNAVAILABLE until the deadline ends as UnavailableError, not before it', async () => {
    const c = client();
    const key = keyLedBy(0);
    await c.get(key);
    cluster.nodes[0]!.fail({ method: 'put', code: status.UNAVAILABLE, retrySafe: true, times: 1000 });
    const t0 = Date.now();
    const err = await c.put(key, 'v', { timeoutMs: 400 }).catch((e: unknown) => e);
    const elapsedMs = Date.now() - t0;
    assert.ok(err instanceof UnavailableError, String(err));
    assert.equal(err.reason, 'no-quorum');
    assert.ok(
      elapsedMs >= 400 - FAST_BACKOFF.maxMs - ATTEMPT_MS_MIN && elapsedMs < 1500,
      `elapsed ${elapsedMs} ms`,
    );
    const attempts = cluster.callsTo(undefined, 'put').length;
    assert.ok(attempts >= 3 && attempts < 100, `attempts ${attempts}`);
  });

  test('bad input and overload are never retried', async () => {
    const c = client();
    await assert.rejects(
      c.put('', 'v'),
      (e: unknown) => e instanceof InvalidArgumentError && /key is empty/.test(e.message),
    );
    const key = keyLedBy(0);
    cluster.nodes[0]!.fail({
      method: 'get',
      code: status.RESOURCE_EXHAUSTED,
      details: 'too many requests waiting',
    });
    cluster.calls.length = 0;
    await assert.rejects(
      c.get(key),
      (e: unknown) => e instanceof ResourceExhaustedError && e.code === 'RESOURCE_EXHAUSTED',
    );
    assert.equal(cluster.callsTo(undefined, 'get').length, 1);
  });
});

describe('deadlines and cancellation', () => {
  test('a slow read fails with DeadlineExceededError at its deadline', async () => {
    const c = client();
    const key = keyLedBy(0);
    await c.get(key);
    cluster.nodes[0]!.delayMs = 3000;
    const t0 = Date.now();
    await assert.rejects(c.get(key, { timeoutMs: 300 }), DeadlineExceededError);
    const elapsedMs = Date.now() - t0;
    assert.ok(elapsedMs >= 290 && elapsedMs < 1500, `elapsed ${elapsedMs} ms`);
  });

  test('a slow write is indeterminate at its deadline', async () => {
    const c = client();
    const key = keyLedBy(0);
    await c.get(key);
    cluster.nodes[0]!.delayMs = 3000;
    const err = await c.put(key, 'v', { timeoutMs: 300 }).catch((e: unknown) => e);
    assert.ok(err instanceof IndeterminateError && err.cause instanceof DeadlineExceededError, String(err));
  });

  test('abort: a read is cancelled, a write in flight is indeterminate', async () => {
    const c = client();
    const key = keyLedBy(0);
    await c.get(key);
    cluster.nodes[0]!.delayMs = 3000;
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    await assert.rejects(c.get(key, { signal: ac.signal }), CancelledError);
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 100);
    const err = await c.put(key, 'v', { signal: ac2.signal }).catch((e: unknown) => e);
    assert.ok(err instanceof IndeterminateError && err.cause instanceof CancelledError, String(err));
    await assert.rejects(c.get(key, { signal: AbortSignal.abort() }), CancelledError);
  });

  test('no node listening: UnavailableError "cannot reach", early with unreachableGiveUpMs', async () => {
    const port = await freePort();
    const c = client({ endpoints: [`127.0.0.1:${port}`], unreachableGiveUpMs: 200 });
    const t0 = Date.now();
    const err = await c.get('k', { timeoutMs: 5000 }).catch((e: unknown) => e);
    assert.ok(err instanceof UnavailableError && err.reason === 'unreachable', String(err));
    assert.match(err.message, new RegExp(`cannot reach any of 127\\.0\\.0\\.1:${port}`));
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
    const c2 = client({ endpoints: [`127.0.0.1:${port}`] });
    const t1 = Date.now();
    await assert.rejects(c2.put('k', 'v', { timeoutMs: 400 }), (e: unknown) => e instanceof UnavailableError);
    assert.ok(
      Date.now() - t1 >= 400 - FAST_BACKOFF.maxMs - ATTEMPT_MS_MIN,
      'without unreachableGiveUpMs the client keeps trying until the deadline',
    );
  });
});

describe('a hung node', () => {
  // hangNode: the port accepts TCP and never answers, as a SIGSTOPped process does.
  const all = () => cluster.nodes.map((n) => n.addr);

  test('listed first: a read, a write and status go to the next endpoint within a budget', async () => {
    cluster.notLeader = 'forward';
    await cluster.hangNode(cluster.nodes[0]!);
    const c = client({ endpoints: all() });
    const key = keyLedBy(1);
    for (const [what, call] of [
      ['put', () => c.put(key, 'v')],
      ['get', () => c.get(key)],
      ['status', () => c.status()],
    ] as const) {
      const t0 = Date.now();
      await call();
      const elapsedMs = Date.now() - t0;
      assert.ok(elapsedMs < 1500, `${what} took ${elapsedMs} ms`);
    }
    // The put happened once, and only on a live node.
    assert.equal(cluster.callsTo(undefined, 'put').length, 1);
    assert.equal(text(cluster.get(new TextEncoder().encode(key))!.value), 'v');
  });

  test('a write never sent (no connection within the budget) is retried elsewhere, not indeterminate', async () => {
    cluster.notLeader = 'forward';
    const key = keyLedBy(0);
    await cluster.hangNode(cluster.nodes[0]!);
    // grpc-js shares connections between the channels of a process: let the one the server just
    // closed finish its reconnect backoff (at most 1 s), so that the next attempt connects to the
    // silent listener, as a new process would.
    await new Promise((r) => setTimeout(r, 1200));
    // A new client learns from node2 or node3 that node1 leads the key's shard, and goes there first.
    const c = client({ endpoints: all() });
    const t0 = Date.now();
    const r = await c.put(key, 'w', { timeoutMs: 3000 });
    const elapsedMs = Date.now() - t0;
    // The first attempt waited a third of the timeout for a connection to node1, then moved on.
    assert.ok(elapsedMs >= 900 && elapsedMs < 1800, `put took ${elapsedMs} ms`);
    assert.ok(r.version > 0n);
    // Once, on a live node (which serves it for the hung leader, as a real node forwards).
    const puts = cluster.callsTo(undefined, 'put').map((x) => x.node);
    assert.equal(puts.length, 1);
    assert.notEqual(puts[0], 'node1');
    // The next call does not wait for node1 again: it is passed over for a while.
    const t1 = Date.now();
    await c.put(key, 'w2', { timeoutMs: 3000 });
    assert.ok(Date.now() - t1 < 300, `second put took ${Date.now() - t1} ms`);
  });

  test('every endpoint hung: a write fails as unreachable (it was never sent), not indeterminate', async () => {
    for (const n of cluster.nodes) await cluster.hangNode(n);
    const c = client({ endpoints: all() });
    const err = await c.put('k', 'v', { timeoutMs: 1500 }).catch((e: unknown) => e);
    assert.ok(err instanceof UnavailableError && err.reason === 'unreachable', String(err));
    assert.match(err.message, /no connection within/);
    assert.equal(cluster.callsTo(undefined, 'put').length, 0);
  });

  test('a read sent to a node that stops answering is asked again elsewhere; a write is not', async () => {
    cluster.notLeader = 'forward';
    const c = client({ endpoints: all() });
    const c2 = client({ endpoints: all() });
    const key = keyLedBy(0);
    await c.put(key, 'before');
    await c2.get(key); // c2 too knows that node1 leads the key's shard
    cluster.nodes[0]!.delayMs = 4000; // connected, receives requests, does not answer in time
    const t0 = Date.now();
    const r = await c.get(key, { timeoutMs: 3000 });
    const elapsedMs = Date.now() - t0;
    assert.ok(r.found && text(r.value) === 'before', r.found ? text(r.value) : 'not found');
    assert.ok(elapsedMs >= 900 && elapsedMs < 1800, `get took ${elapsedMs} ms`);
    cluster.calls.length = 0;
    const err = await c2.put(key, 'maybe', { timeoutMs: 1500 }).catch((e: unknown) => e);
    assert.ok(err instanceof IndeterminateError, String(err));
    assert.deepEqual(
      cluster.callsTo(undefined, 'put').map((x) => x.node),
      ['node1'],
    );
  });

  test('a read that is only slow still gets its answer: each budget used up doubles the next', async () => {
    cluster.notLeader = 'forward';
    const c = client({ endpoints: [cluster.nodes[0]!.addr], routeToLeaders: false });
    await c.put('slow', 'yes');
    cluster.nodes[0]!.delayMs = 1300;
    const t0 = Date.now();
    const r = await c.get('slow', { timeoutMs: 5000 });
    const elapsedMs = Date.now() - t0;
    assert.ok(r.found && text(r.value) === 'yes');
    // Attempt 1 cut at 1 s, attempt 2 (2 s budget) answered after 1.3 s.
    assert.ok(elapsedMs >= 2200 && elapsedMs < 3500, `get took ${elapsedMs} ms`);
  });

  test('statusOfEveryMember: a hung member costs one member timeout, in parallel', async () => {
    const c = client({ endpoints: all() });
    await cluster.hangNode(cluster.nodes[0]!);
    const t0 = Date.now();
    const { members } = await c.statusOfEveryMember({ timeoutMs: 5000, memberTimeoutMs: 800 });
    const elapsedMs = Date.now() - t0;
    assert.ok(elapsedMs < 1300, `took ${elapsedMs} ms`);
    assert.deepEqual(
      members.map((m) => ('status' in m ? m.member.nodeId : `${m.member.nodeId}:down`)),
      ['node1:down', 'node2', 'node3'],
    );
  });
});

describe('operations', () => {
  test('get of a missing key is { found: false }; delete says whether the key existed', async () => {
    const c = client();
    assert.deepEqual(await c.get('missing'), { found: false });
    await c.put('d', 'x');
    assert.deepEqual(await c.delete('d'), { deleted: true });
    assert.deepEqual(await c.delete('d'), { deleted: false });
  });

  test('compare-and-swap by value, absence and version; a failed comparison is a normal result', async () => {
    const c = client();
    const r1 = await c.compareAndSwap('cas', { absent: true }, 'one');
    assert.equal(r1.succeeded, true);
    const r2 = await c.compareAndSwap('cas', { value: 'zzz' }, 'two');
    assert.equal(r2.succeeded, false);
    assert.equal(text(r2.value), 'one');
    const r3 = await c.compareAndSwap('cas', { version: r1.version }, 'three');
    assert.equal(r3.succeeded, true);
    const r4 = await c.compareAndSwap('cas', { value: 'three' }, null);
    assert.deepEqual([r4.succeeded, r4.found], [true, false]);
  });

  test('scan pages through keys in order with a continuation', async () => {
    const c = client();
    for (let i = 0; i < 7; i++) await c.put(`s/${i}`, `${i}`);
    await c.put('t/0', 'other');
    const p1 = await c.scan({ prefix: 's/', limit: 4 });
    assert.deepEqual(
      p1.items.map((i) => text(i.key)),
      ['s/0', 's/1', 's/2', 's/3'],
    );
    assert.ok(p1.continuation !== undefined);
    const p2 = await c.scan({ prefix: 's/', limit: 4, continuation: p1.continuation });
    assert.deepEqual(
      p2.items.map((i) => text(i.key)),
      ['s/4', 's/5', 's/6'],
    );
    assert.equal(p2.continuation, undefined);
  });

  test('statusOfEveryMember reports a down member with its error', async () => {
    const c = client();
    await cluster.stopNode(cluster.nodes[1]!);
    const { cluster: view, members } = await c.statusOfEveryMember({ timeoutMs: 500 });
    assert.equal(view.members.length, 3);
    assert.deepEqual(
      members.map((m) => ('status' in m ? m.member.nodeId : `${m.member.nodeId}:down`)),
      ['node1', 'node2:down', 'node3'],
    );
  });

  test('join and leave change the members', async () => {
    const c = client();
    const r = await c.join({ nodeId: 'node4', clientAddr: '127.0.0.1:1', raftAddr: '127.0.0.1:2' });
    assert.ok(r.members.some((m) => m.nodeId === 'node4'));
    const l = await c.leave('node4');
    assert.ok(!l.members.some((m) => m.nodeId === 'node4'));
    cluster.members = cluster.members.filter((m) => m.nodeId !== 'node4');
  });

  test('leader placement is typed: a string that is not one is refused before anything is sent', async () => {
    const c = client();
    // @ts-expect-error: 'random' is not a LeaderPlacement
    await assert.rejects(c.setLeaderPlacement('random'), /spread or pack, got 'random'/);
    assert.equal(cluster.calls.length, 0);
  });

  test('close() ends the client: later calls throw', async () => {
    const c = client();
    await c.put('x', 'y');
    void c.close();
    void c.close();
    await assert.rejects(c.get('x'), /after close/);
  });
});
