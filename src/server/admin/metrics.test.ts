// The metrics' text: what the node reports and what is read at scrape time come out under etcd's
// names with the ringkv_ prefix; client calls are counted per method and code with cumulative
// latency buckets; and on a real node (in process, admin port on a free port) a put moves
// ringkv_proposals_committed_total and the health endpoints answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { groupId } from '../../node/ids.ts';
import { GrpcStatus } from '../../transport/grpc-status.ts';
import { zeroStats } from '../../transport/transport.ts';
import { eventually, TestCluster } from '../testing/harness.ts';
import { NodeMetricsRegistry } from './metrics.ts';

/** The value of the sample `name{labels}` (labels as written in the text, '' for none); undefined if absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The sum of every sample of `name` (any labels). */
function total(text: string, name: string): number {
  let sum = 0;
  for (const l of text.split('\n'))
    if (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) sum += Number(l.split(' ').pop());
  return sum;
}

describe('the metrics registry', () => {
  it('reads per-shard state at scrape time and counts the node events', async () => {
    const m = new NodeMetricsRegistry({ processMetrics: false });
    const statuses = [
      { id: groupId(0), role: 'leader' as const, leader: 'n1', commit: 7, applied: 7 },
      { id: groupId(1), role: 'follower' as const, leader: '', commit: 12, applied: 11 },
    ];
    m.attach(
      {
        statuses: () => statuses as never,
        requestsWaiting: () => 3,
        proposalsPending: () => 2,
        watchesOpen: () => 5,
      },
      {
        stats: () => ({ ...zeroStats(), messagesSent: 40, droppedQueueFull: 1, droppedUnreachable: 2 }),
        peerTraffic: () =>
          new Map([
            ['n2', { bytesSent: 1000, bytesReceived: 500, rttMs: 1.5 }],
            ['n3', { bytesSent: 0, bytesReceived: 70, rttMs: undefined }],
          ]),
      },
    );
    m.leaderChanged(groupId(1));
    m.leaderChanged(groupId(1));
    m.proposalFailed();
    m.walSynced(m.startedAt());
    const text = await m.text();
    assert.equal(sample(text, 'ringkv_has_leader{shard="0"}'), 1);
    assert.equal(sample(text, 'ringkv_has_leader{shard="1"}'), 0);
    assert.equal(sample(text, 'ringkv_is_leader{shard="0"}'), 1);
    assert.equal(sample(text, 'ringkv_proposals_committed_total{shard="1"}'), 12);
    assert.equal(sample(text, 'ringkv_proposals_applied_total{shard="1"}'), 11);
    assert.equal(sample(text, 'ringkv_watches_open'), 5);
    assert.equal(sample(text, 'ringkv_leader_changes_seen_total{shard="1"}'), 2);
    assert.equal(sample(text, 'ringkv_proposals_failed_total'), 1);
    assert.equal(sample(text, 'ringkv_proposals_pending'), 2);
    assert.equal(sample(text, 'ringkv_requests_waiting'), 3);
    assert.equal(sample(text, 'ringkv_wal_fsync_duration_seconds_count'), 1);
    assert.equal(sample(text, 'ringkv_peer_sent_messages_total'), 40);
    assert.equal(sample(text, 'ringkv_peer_dropped_messages_total'), 3);
    assert.equal(sample(text, 'ringkv_peer_sent_bytes_total{to="n2"}'), 1000);
    assert.equal(sample(text, 'ringkv_peer_received_bytes_total{from="n3"}'), 70);
    assert.equal(sample(text, 'ringkv_peer_round_trip_time_seconds{to="n2"}'), 0.0015);
    assert.equal(sample(text, 'ringkv_peer_round_trip_time_seconds{to="n3"}'), undefined, 'not measured yet');
    assert.match(text, /# TYPE ringkv_proposals_committed_total counter/);
    // State read at scrape time follows the node: a shard it no longer holds disappears.
    statuses.pop();
    const later = await m.text();
    assert.equal(sample(later, 'ringkv_has_leader{shard="1"}'), undefined);
  });

  it('counts client calls per method and code, with cumulative latency buckets', async () => {
    const m = new NodeMetricsRegistry({ processMetrics: false });
    const put = m.observeMethod('/ringkv.v1.KVService/Put');
    put.handled(GrpcStatus.OK, 0.0004);
    put.handled(GrpcStatus.OK, 0.003);
    put.handled(GrpcStatus.UNAVAILABLE, 7);
    put.handled(99, 0.001); // a code beyond gRPC's: counted as Unknown
    const text = await m.text();
    const labels = 'grpc_service="ringkv.v1.KVService",grpc_method="Put"';
    assert.equal(sample(text, `ringkv_grpc_server_handled_total{${labels},grpc_code="OK"}`), 2);
    assert.equal(sample(text, `ringkv_grpc_server_handled_total{${labels},grpc_code="Unavailable"}`), 1);
    assert.equal(sample(text, `ringkv_grpc_server_handled_total{${labels},grpc_code="Unknown"}`), 1);
    assert.match(text, /# TYPE ringkv_grpc_server_handling_seconds histogram/);
    const bucket = (le: string) =>
      sample(text, `ringkv_grpc_server_handling_seconds_bucket{${labels},le="${le}"}`);
    assert.deepEqual(
      ['0.0005', '0.001', '0.0025', '0.005', '5', '10', '+Inf'].map(bucket),
      [1, 2, 2, 3, 3, 4, 4],
    );
    assert.equal(sample(text, `ringkv_grpc_server_handling_seconds_count{${labels}}`), 4);
    assert.ok(
      Math.abs((sample(text, `ringkv_grpc_server_handling_seconds_sum{${labels}}`) ?? 0) - 7.0044) < 1e-9,
    );
    // Counting again adds to the totals (the counter is rebuilt from them at each scrape, not doubled).
    put.handled(GrpcStatus.OK, 0.0004);
    const again = await m.text();
    assert.equal(sample(again, `ringkv_grpc_server_handled_total{${labels},grpc_code="OK"}`), 3);
  });

  it("the load Status reports: KVService's calls summed over its methods, per latency bucket; no cluster calls", () => {
    const m = new NodeMetricsRegistry({ processMetrics: false });
    const put = m.observeMethod('/ringkv.v1.KVService/Put');
    const get = m.observeMethod('/ringkv.v1.KVService/Get');
    const status = m.observeMethod('/ringkv.v1.ClusterService/Status');
    put.handled(GrpcStatus.OK, 0.0004);
    put.handled(GrpcStatus.UNAVAILABLE, 7);
    get.handled(GrpcStatus.OK, 0.003);
    status.handled(GrpcStatus.OK, 0.0001);
    const load = m.requestLoad();
    assert.deepEqual([load.requests, load.failed], [3n, 1n]);
    assert.equal(load.latencyCounts.length, load.latencyBoundsSeconds.length + 1);
    // 0.4 ms in (0, 0.5 ms], 3 ms in (2.5, 5 ms], 7 s in (5, 10 s].
    const counted = load.latencyCounts.flatMap((n, b) => (n > 0n ? [[load.latencyBoundsSeconds[b], n]] : []));
    assert.deepEqual(counted, [
      [0.0005, 1n],
      [0.005, 1n],
      [10, 1n],
    ]);
    assert.ok(load.uptimeMs > 0n);
  });
});

describe('a node with an admin port', { timeout: 60_000 }, () => {
  const c = new TestCluster();
  let base = '';

  before(async () => {
    await c.init();
    const running = await c.start({
      nodeId: 'a',
      bootstrap: true,
      extra: { admin: { listenHost: '127.0.0.1', port: 0 } },
    });
    assert.ok(running.adminPort !== undefined && running.adminPort > 0);
    base = `http://127.0.0.1:${running.adminPort}`;
  });
  after(() => c.stopAll());

  it('a put moves ringkv_proposals_committed_total and is counted as a Put answered OK', async () => {
    // Wait for the shards' leaders (the first entries of their terms commit then).
    await eventually(async () => (await fetch(`${base}/readyz`)).status === 200, 20_000, 'readyz 200');
    const before = await (await fetch(`${base}/metrics`)).text();
    await c.client('a').put('k', 'v');
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.ok(
      total(text, 'ringkv_proposals_committed_total') > total(before, 'ringkv_proposals_committed_total'),
      `committed before ${total(before, 'ringkv_proposals_committed_total')}, after ${total(text, 'ringkv_proposals_committed_total')}`,
    );
    assert.equal(
      sample(
        text,
        'ringkv_grpc_server_handled_total{grpc_service="ringkv.v1.KVService",grpc_method="Put",grpc_code="OK"}',
      ),
      1,
    );
    assert.ok((sample(text, 'ringkv_wal_fsync_duration_seconds_count') ?? 0) > 0, 'WAL syncs were timed');
    // Status carries the same count, for the dashboard's rates.
    assert.equal((await c.client('a').status()).load?.requests, 1n);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m, 'the process metrics are there');
  });

  it('/livez and /readyz answer 200, ?verbose lists the checks, other paths 404', async () => {
    const live = await fetch(`${base}/livez`);
    assert.deepEqual([live.status, await live.text()], [200, 'ok\n']);
    const ready = await fetch(`${base}/readyz?verbose`);
    assert.equal(ready.status, 200);
    assert.equal(
      await ready.text(),
      '[+]metadata-leader ok\n[+]shard-leaders ok\n[+]caught-up ok\nreadyz check passed\n',
    );
    assert.equal((await fetch(`${base}/nothing-here`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });
});
