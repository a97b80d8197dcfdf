// The node's Prometheus metrics (the admin port's /metrics), with prom-client: names after etcd's,
// prefixed `ringkv_`, with a `shard` label where a value is per group (shard="0" is the metadata
// group). Three kinds, by what they cost:
// - events inside the node (a WAL sync, a snapshot saved, a batch applied, a leader change, a failed
//   proposal): the node reports them to this class through its NodeMetrics sink (src/node/metrics.ts),
//   at most a few per driver turn, never per request; the durations into preallocated arrays
//   (array-histogram.ts), since a follower has a turn for every append it receives;
// - state read when Prometheus scrapes (leaders, commit and applied index, requests and proposals
//   waiting, watches open, the peer transport's counters): read from the node then, so they cost nothing between
//   scrapes;
// - the client calls (request-metrics.ts), counted without allocating.
// And the process's own (prom-client's default metrics: CPU, memory, heap, event-loop delay, GC),
// under their usual names (process_…, nodejs_…).
import { performance } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { RequestLoad } from '../../gen/ringkv/v1/kv.ts';
import type { GroupId } from '../../node/ids.ts';
import type { GroupStatus } from '../../node/intents.ts';
import type { NodeMetrics } from '../../node/metrics.ts';
import type { PeerTraffic, TransportStats } from '../../transport/transport.ts';
import type { MethodObserver } from '../unary-dispatch.ts';
import { type Buckets, unlabelledHistogram } from './array-histogram.ts';
import { REQUEST_BUCKETS_SECONDS, RequestMetrics } from './request-metrics.ts';

export const METRIC_PREFIX = 'ringkv_';
/** The service whose calls Status reports as the node's load (requestLoad). */
const KV_SERVICE = 'ringkv.v1.KVService';

/** What the metrics read of the node when scraped (KvNode implements it). */
export interface MetricsHost {
  /** Every hosted group's state (group 0: the metadata group). */
  statuses(): readonly Pick<GroupStatus, 'id' | 'role' | 'leader' | 'commit' | 'applied'>[];
  /** Requests waiting on Raft (proposals and linearizable reads). */
  requestsWaiting(): number;
  /** Proposals waiting to be applied. */
  proposalsPending(): number;
  /** Watch streams this node serves now (a cancelled one leaves at once). */
  watchesOpen(): number;
}

/** What the metrics read of the peer transport when scraped. */
export interface TransportStatsSource {
  stats(): TransportStats;
  /** Per peer (GrpcTransport only). */
  peerTraffic?(): ReadonlyMap<string, Readonly<PeerTraffic>>;
}

/** 0.1 ms to about 6.5 s, doubling: an fdatasync here takes 0.2–4 ms (etcd starts at 1 ms). */
const FSYNC_BUCKETS_SECONDS = exponential(0.0001, 2, 17);
/** 1 ms to about 8 s, doubling, as etcd's snapshot_save_total_duration_seconds. */
const SNAPSHOT_BUCKETS_SECONDS = exponential(0.001, 2, 14);
/** 10 µs to about 5 s, doubling: one shard's entries of one turn. */
const APPLY_BUCKETS_SECONDS = exponential(0.00001, 2, 20);

function exponential(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => Number((start * factor ** i).toPrecision(6)));
}

/** How often the event-loop delay is sampled (nodejs_eventloop_lag_seconds). */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * The registry of one node, and the sink the node reports its events to. Created before the node
 * (the sink goes into its options); `attach` hands it the node once it exists.
 */
export class NodeMetricsRegistry implements NodeMetrics {
  readonly registry = new Registry();
  private readonly walFsync: Buckets;
  private readonly snapshotSave: Buckets;
  private readonly apply: Buckets;
  private readonly leaderChanges: Counter<'shard'>;
  private readonly proposalsFailed: Counter;
  private readonly requests: RequestMetrics;
  private host: MetricsHost | undefined;
  private transport: TransportStatsSource | undefined;

  constructor(opts: { readonly processMetrics?: boolean } = {}) {
    const p = METRIC_PREFIX;
    const registers = [this.registry];
    // The event-loop delay is sampled by a native timer: at prom-client's default of every 10 ms it
    // woke every node 100 times a second, idle or not; a stall still shows in full, since it delays
    // whichever sample falls in it.
    if (opts.processMetrics !== false)
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    this.walFsync = unlabelledHistogram(
      this.registry,
      `${p}wal_fsync_duration_seconds`,
      "Time of one durable write of the write-ahead log (a driver turn's records of every shard, O_DSYNC).",
      FSYNC_BUCKETS_SECONDS,
    );
    this.snapshotSave = unlabelledHistogram(
      this.registry,
      `${p}snapshot_save_duration_seconds`,
      'Time to write and sync one snapshot file (taken here or received from a leader).',
      SNAPSHOT_BUCKETS_SECONDS,
    );
    this.apply = unlabelledHistogram(
      this.registry,
      `${p}apply_duration_seconds`,
      "Time to apply one shard's committed entries of a driver turn to its state machine.",
      APPLY_BUCKETS_SECONDS,
    );
    this.leaderChanges = new Counter({
      name: `${p}leader_changes_seen_total`,
      help: 'Times this node learned of a new leader of the group.',
      labelNames: ['shard'] as const,
      registers,
    });
    this.proposalsFailed = new Counter({
      name: `${p}proposals_failed_total`,
      help: 'Proposals made here that failed: refused by Raft, not applied by their deadline, or the node closing.',
      registers,
    });
    this.requests = new RequestMetrics(this.registry, p);
    this.scrapedFromNode(p);
    this.scrapedFromTransport(p);
  }

  /** From now on the scrape-time metrics read `host` and `transport`. */
  attach(host: MetricsHost, transport?: TransportStatsSource): void {
    this.host = host;
    this.transport = transport;
  }

  /** The Prometheus text exposition of every metric. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The KVService calls answered so far, for Status (the dashboard computes rates between two):
   * read from the same counters as /metrics' ringkv_grpc_server_handled_total.
   */
  requestLoad(): RequestLoad {
    const t = this.requests.totals(KV_SERVICE);
    return {
      uptimeMs: BigInt(Math.floor(performance.now())),
      requests: BigInt(t.requests),
      failed: BigInt(t.failed),
      latencyBoundsSeconds: [...REQUEST_BUCKETS_SECONDS],
      latencyCounts: t.latencyCounts.map((n) => BigInt(n)),
    };
  }

  /** For the client port's dispatcher: the observer of one method's calls. */
  observeMethod(path: string): MethodObserver {
    return this.requests.observe(path);
  }

  // ---- NodeMetrics: the node's events ----------------------------------------------------------------

  startedAt(): number {
    return performance.now();
  }

  walSynced(startedAt: number): void {
    this.walFsync.observe((performance.now() - startedAt) / 1000);
  }

  snapshotSaved(startedAt: number): void {
    this.snapshotSave.observe((performance.now() - startedAt) / 1000);
  }

  applied(startedAt: number): void {
    this.apply.observe((performance.now() - startedAt) / 1000);
  }

  leaderChanged(group: GroupId): void {
    this.leaderChanges.inc({ shard: String(group) });
  }

  proposalFailed(): void {
    this.proposalsFailed.inc();
  }

  // ---- read when scraped -----------------------------------------------------------------------------

  private scrapedFromNode(p: string): void {
    const registers = [this.registry];
    const statuses = (): ReturnType<MetricsHost['statuses']> => this.host?.statuses() ?? [];
    const perShard = (
      name: string,
      help: string,
      kind: 'gauge' | 'counter',
      value: (s: ReturnType<MetricsHost['statuses']>[number]) => number,
    ): void => {
      const config = { name: `${p}${name}`, help, labelNames: ['shard'] as const, registers };
      if (kind === 'gauge') {
        new Gauge({
          ...config,
          collect() {
            this.reset();
            for (const s of statuses()) this.set({ shard: String(s.id) }, value(s));
          },
        });
      } else {
        // A counter whose total is the node's (an index that only grows): rebuilt at each scrape.
        new Counter({
          ...config,
          collect() {
            this.reset();
            for (const s of statuses()) this.inc({ shard: String(s.id) }, value(s));
          },
        });
      }
    };
    perShard('has_leader', 'Whether a leader of the group is known here (1) or not (0).', 'gauge', (s) =>
      s.leader === '' ? 0 : 1,
    );
    perShard('is_leader', 'Whether this node leads the group (1) or not (0).', 'gauge', (s) =>
      s.role === 'leader' ? 1 : 0,
    );
    perShard(
      'proposals_committed_total',
      "The group's commit index as this node knows it: entries committed (as etcd's, which is the commit index too).",
      'counter',
      (s) => s.commit,
    );
    perShard(
      'proposals_applied_total',
      "The group's applied index on this node: entries applied to its state machine.",
      'counter',
      (s) => s.applied,
    );
    const host = (): MetricsHost | undefined => this.host;
    new Gauge({
      name: `${p}proposals_pending`,
      help: 'Proposals waiting here to be committed and applied.',
      registers,
      collect() {
        this.set(host()?.proposalsPending() ?? 0);
      },
    });
    new Gauge({
      name: `${p}watches_open`,
      help: 'Watch streams this node serves (bounded by 100,000).',
      registers,
      collect() {
        this.set(host()?.watchesOpen() ?? 0);
      },
    });
    new Gauge({
      name: `${p}requests_waiting`,
      help: 'Client requests waiting on Raft here (proposals and linearizable reads; bounded by 10,000).',
      registers,
      collect() {
        this.set(host()?.requestsWaiting() ?? 0);
      },
    });
  }

  private scrapedFromTransport(p: string): void {
    const registers = [this.registry];
    const stats = (): TransportStats | undefined => this.transport?.stats();
    const total = (name: string, help: string, value: (s: TransportStats) => number): void => {
      new Counter({
        name: `${p}${name}`,
        help,
        registers,
        collect() {
          const s = stats();
          this.reset();
          if (s !== undefined) this.inc(value(s));
        },
      });
    };
    total('peer_sent_messages_total', 'Raft messages handed to a peer stream.', (s) => s.messagesSent);
    total('peer_sent_batches_total', 'Batches (stream writes) that carried them.', (s) => s.batchesSent);
    total('peer_received_messages_total', 'Raft messages received from peers.', (s) => s.messagesReceived);
    total(
      'peer_dropped_messages_total',
      'Raft messages dropped: a full queue, an unreachable peer, too large, or undecodable.',
      (s) => s.droppedQueueFull + s.droppedUnreachable + s.droppedTooLarge + s.droppedInvalid,
    );
    total(
      'peer_connect_failures_total',
      'Connections to peers that failed, and open peer streams that broke.',
      (s) => s.connectFailures,
    );
    const traffic = (): ReadonlyMap<string, Readonly<PeerTraffic>> =>
      this.transport?.peerTraffic?.() ?? new Map();
    // etcd's etcd_network_peer_sent_bytes_total{To}, …_received_bytes_total{From}, …_round_trip_time_seconds{To}.
    new Counter({
      name: `${p}peer_sent_bytes_total`,
      help: 'Bytes of Raft batches written to the peer (its node id in `to`).',
      labelNames: ['to'] as const,
      registers,
      collect() {
        this.reset();
        for (const [peer, t] of traffic()) if (t.bytesSent > 0) this.inc({ to: peer }, t.bytesSent);
      },
    });
    new Counter({
      name: `${p}peer_received_bytes_total`,
      help: 'Bytes received on Raft streams from the peer (its node id in `from`).',
      labelNames: ['from'] as const,
      registers,
      collect() {
        this.reset();
        for (const [peer, t] of traffic()) if (t.bytesReceived > 0) this.inc({ from: peer }, t.bytesReceived);
      },
    });
    new Gauge({
      name: `${p}peer_round_trip_time_seconds`,
      help: 'Round trip of the last keepalive PING answered on the connection to the peer (one every 10 s).',
      labelNames: ['to'] as const,
      registers,
      collect() {
        this.reset();
        for (const [peer, t] of traffic()) if (t.rttMs !== undefined) this.set({ to: peer }, t.rttMs / 1000);
      },
    });
  }
}
