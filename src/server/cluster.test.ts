// Three in-process nodes over real gRPC (peer transport and client server on loopback) with real
// WALs in temp dirs: bootstrap and join, requests through every node (each served on its own
// replica, the Raft stream carrying it to the leader), errors and
// limits, a leader's failure and restart from disk, and the deadline without a quorum.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { dec, enc } from './test-client.ts';
import { eventually, TestCluster } from './testing/harness.ts';

const NODES = ['n1', 'n2', 'n3'];

function grpcCode(e: unknown): number | undefined {
  return (e as { code?: number }).code;
}

describe('a three-node cluster', { timeout: 90_000 }, () => {
  const c = new TestCluster();
  const extra = { requestTimeoutMs: 1500 };

  before(async () => {
    await c.init();
    await c.start({ nodeId: 'n1', bootstrap: true, extra });
    await c.start({ nodeId: 'n2', joinAddr: c.addr('n1'), extra });
    await c.start({ nodeId: 'n3', joinAddr: c.addr('n1'), extra });
  });
  after(() => c.stopAll());

  it('has three voters in every group once the joins complete', async () => {
    const st = await c.client('n1').status();
    assert.deepEqual(
      st.members.map((m) => m.nodeId),
      NODES,
    );
    assert.equal(st.shards.length, 5, 'group 0 and 4 data shards');
    for (const s of st.shards) assert.deepEqual([...s.voters].sort(), NODES, `group ${s.shardId}`);
    for (const s of st.shards) assert.deepEqual(s.learners, []);
  });

  it('serves puts and gets through every node, each on its own replica (the header names the leader)', async () => {
    // Every node holds every shard here: whichever node is asked answers, leader or not; the
    // header names a member's client address as the leader (the balancer may move leaderships
    // meanwhile, so which one is not checked here).
    const addrs = NODES.map((id) => c.addr(id));
    let servedByFollower = 0;
    for (const [i, id] of NODES.entries()) {
      for (let k = 0; k < 6; k++) {
        const res = await c.client(id).put(`key-${i}-${k}`, `value-${i}-${k}`);
        assert.ok(res.version > 0n);
        assert.equal(res.version, res.header?.index);
        assert.equal(res.header?.nodeId, id, 'served by the node asked');
        assert.ok(addrs.includes(res.header?.leaderAddr ?? ''), `leader ${res.header?.leaderAddr}`);
        if (res.header?.leaderAddr !== c.addr(id)) servedByFollower++;
      }
    }
    assert.ok(servedByFollower > 0, 'some puts were answered by a follower');
    for (const id of NODES) {
      for (let i = 0; i < 3; i++) {
        for (let k = 0; k < 6; k++) {
          const r = await c.client(id).get(`key-${i}-${k}`);
          assert.equal(r.found, true);
          assert.equal(dec(r.value), `value-${i}-${k}`);
        }
      }
      const missing = await c.client(id).get('no-such-key');
      assert.equal(missing.found, false);
    }
  });

  it('compares and swaps, deletes, and scans in key order across shards with a continuation', async () => {
    const cl = c.client('n2');
    const put = await cl.put('cas-key', 'one');
    const bad = await cl.cas({
      key: enc('cas-key'),
      expected: { $case: 'expectedValue', value: enc('two') },
      value: enc('x'),
      delete: false,
      shardEpoch: 0n,
    });
    assert.equal(bad.succeeded, false);
    assert.equal(dec(bad.value), 'one');
    const good = await cl.cas({
      key: enc('cas-key'),
      expected: { $case: 'expectedVersion', value: put.version },
      value: enc('three'),
      delete: false,
      shardEpoch: 0n,
    });
    assert.equal(good.succeeded, true);
    assert.equal(dec((await cl.get('cas-key')).value), 'three');
    const absent = await cl.cas({
      key: enc('cas-new'),
      expected: { $case: 'expectedAbsent', value: true },
      value: enc('n'),
      delete: false,
      shardEpoch: 0n,
    });
    assert.equal(absent.succeeded, true);
    assert.equal((await cl.del('cas-new')).deleted, true);
    assert.equal((await cl.del('cas-new')).deleted, false);

    const seen: string[] = [];
    let continuation: Uint8Array = new Uint8Array(0);
    for (let page = 0; page < 10; page++) {
      const r = await c.client('n3').scan({ prefix: enc('key-'), limit: 5, continuation });
      seen.push(...r.items.map((i) => dec(i.key)));
      continuation = r.continuation;
      if (continuation.byteLength === 0) break;
    }
    const expected = [];
    for (let i = 0; i < 3; i++) for (let k = 0; k < 6; k++) expected.push(`key-${i}-${k}`);
    assert.deepEqual(seen, expected.sort());
  });

  it('refuses empty and oversize keys and values with INVALID_ARGUMENT naming the problem', async () => {
    const cl = c.client('n1');
    await assert.rejects(
      cl.put('', 'v'),
      (e) => grpcCode(e) === status.INVALID_ARGUMENT && /key is empty/.test(String(e)),
    );
    await assert.rejects(
      cl.put('k'.repeat(4097), 'v'),
      (e) => grpcCode(e) === status.INVALID_ARGUMENT && /4097 bytes.*4096/.test(String(e)),
    );
    await assert.rejects(
      cl.put('k', new Uint8Array(1024 * 1024 + 1)),
      (e) => grpcCode(e) === status.INVALID_ARGUMENT && /value has 1048577 bytes/.test(String(e)),
    );
    await assert.rejects(cl.get(''), (e) => grpcCode(e) === status.INVALID_ARGUMENT);
  });

  it('elects new leaders within 3 s when the node leading the most shards stops, and loses nothing', async () => {
    const st = await c.client('n1').status();
    const counts = new Map<string, number>();
    for (const s of st.shards) counts.set(s.leader, (counts.get(s.leader) ?? 0) + 1);
    const victim = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const survivor = NODES.find((n) => n !== victim)!;
    await c.stop(victim);
    const tookMs = await eventually(
      async () =>
        (await c.client(survivor).status()).shards.every((s) => s.leader !== '' && s.leader !== victim),
      3000,
      'every group to have a leader again',
    );
    assert.ok(tookMs < 3000);
    await c.client(survivor).put('after-failure', 'yes');
    for (let k = 0; k < 6; k++)
      assert.equal(dec((await c.client(survivor).get(`key-0-${k}`)).value), `value-0-${k}`);
    await c.start(
      victim === 'n1'
        ? { nodeId: victim, bootstrap: true, extra }
        : { nodeId: victim, joinAddr: c.addr('n1'), extra },
    );
    await eventually(
      async () => (await c.client(victim).get('after-failure', true)).found,
      5000,
      `${victim} to catch up after its restart`,
    );
    assert.equal(
      (await c.client(victim).status()).members.length,
      3,
      'no duplicate member after the restart',
    );
  });

  it('fails writes with UNAVAILABLE at the deadline without a quorum, and keeps acknowledged writes', async () => {
    await c.stop('n2');
    await c.stop('n3');
    const t0 = Date.now();
    await assert.rejects(
      c.client('n1').put('no-quorum', 'x', 10_000),
      (e) => grpcCode(e) === status.UNAVAILABLE,
    );
    const elapsed = Date.now() - t0;
    assert.ok(elapsed < 4000, `took ${elapsed} ms with a 1500 ms server deadline`);
    // A client allowing less than the server's limit gets the server's own answer (retry-safe
    // UNAVAILABLE) before its grpc-timeout passes, not a DEADLINE_EXCEEDED of its own: the server
    // read the grpc-timeout and kept a margin.
    const t1 = Date.now();
    await assert.rejects(
      c.client('n1').put('no-quorum-short', 'x', 1000),
      (e) => grpcCode(e) === status.UNAVAILABLE,
    );
    assert.ok(Date.now() - t1 < 1000, `took ${Date.now() - t1} ms with a 1000 ms grpc-timeout`);
    await c.start({ nodeId: 'n2', joinAddr: c.addr('n1'), extra });
    await c.start({ nodeId: 'n3', joinAddr: c.addr('n1'), extra });
    await eventually(
      async () =>
        (
          await c
            .client('n1')
            .get('after-failure')
            .catch(() => undefined)
        )?.found === true,
      8000,
      'a quorum again',
    );
    // Each shard elects its leader on its own after the restart: n3's shard of 'cas-key' may still
    // be electing when n1's answers (seen under load: 'shard 2 has no leader' within the 1500 ms).
    let casValue = '';
    await eventually(
      async () => {
        const r = await c
          .client('n3')
          .get('cas-key')
          .catch(() => undefined);
        casValue = r === undefined ? '' : dec(r.value);
        return r !== undefined;
      },
      8000,
      "n3 to answer for 'cas-key' after the restart",
    );
    assert.equal(casValue, 'three', 'the acknowledged compare-and-swap survived the outage');
  });

  it("refuses a join with a member's node id but other addresses (FAILED_PRECONDITION)", async () => {
    await assert.rejects(
      c.client('n3').join({ nodeId: 'n2', clientAddr: '127.0.0.1:1', raftAddr: '127.0.0.1:2' }),
      (e) =>
        grpcCode(e) === status.FAILED_PRECONDITION &&
        /node id 'n2' already belongs to a member/.test(String(e)),
    );
    const again = await c.client('n3').join({
      nodeId: 'n2',
      clientAddr: c.addr('n2'),
      raftAddr: (await c.client('n2').status()).members.find((m) => m.nodeId === 'n2')!.raftAddr,
    });
    assert.equal(again.members.length, 3, 'the same id with the same addresses is a no-op success');
  });

  it('survives a non-gRPC byte stream on the client port', async () => {
    const [host, port] = c.addr('n1').split(':') as [string, string];
    await new Promise<void>((resolve) => {
      const sock = connect(Number(port), host, () => {
        sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\x01garbage\xff\xfe'.repeat(50));
        setTimeout(() => sock.destroy(), 200);
      });
      sock.on('error', () => {});
      sock.on('close', () => resolve());
    });
    assert.equal((await c.client('n1').status()).nodeId, 'n1');
  });

  it('removes a member from every group and the member list on Leave', async () => {
    // The hardest case: the leaving node leads the metadata group and the request reaches another
    // node first (it forwards to n3, n3 hands the leadership over and passes the request on).
    const g0 = (id: string) => c.node(id).node.group(0);
    const leader = NODES.find((id) => g0(id).isLeader());
    if (leader !== undefined && leader !== 'n3') {
      c.node(leader).node.transferLeadership(g0(leader).id, 'n3' as never);
    }
    await eventually(() => g0('n3').isLeader(), 5000, 'n3 to lead the metadata group');
    await c.client('n1').leave('n3');
    const st = await c.client('n1').status();
    assert.deepEqual(
      st.members.map((m) => m.nodeId),
      ['n1', 'n2'],
    );
    for (const s of st.shards) assert.deepEqual([...s.voters].sort(), ['n1', 'n2'], `group ${s.shardId}`);
    await c.stop('n3');
    await c.client('n2').put('after-leave', 'ok');
    assert.equal(dec((await c.client('n1').get('after-leave')).value), 'ok');
  });
});
