// The client port's request metrics: calls handled per method and status code, and their latency,
// named as go-grpc-prometheus names them (etcd exports these): ringkv_grpc_server_handled_total
// {grpc_service, grpc_method, grpc_code} and ringkv_grpc_server_handling_seconds{grpc_service,
// grpc_method}.
//
// These are the only metrics on the request path, so a call costs two clock reads (in the
// dispatcher), one array increment and one bucket search here, and allocates nothing: prom-client's
// own `inc` and `observe` hash their labels into a new string on every call (and `observe` makes a
// closure), several hundred ns. The numbers are kept in preallocated arrays per method and handed
// to prom-client's registry when it is scraped: the counter through its `collect` hook, the
// histogram as an ArrayHistogram (array-histogram.ts).
import assert from 'node:assert/strict';
import { Counter, type Registry } from 'prom-client';
import type { GrpcStatusCode } from '../../transport/grpc-status.ts';
import type { MethodObserver } from '../unary-dispatch.ts';
import { Buckets, registerArrayHistogram } from './array-histogram.ts';

/** Upper bounds of the latency buckets, in seconds (from 0.5 ms: a local put takes about 1 ms). */
export const REQUEST_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** gRPC's codes 0..16 (a code outside is counted as UNKNOWN, 2), named as Go's codes.Code prints them. */
const CODE_NAMES: readonly string[] = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];
const UNKNOWN_CODE = 2;

/** One method's counts. Invariant: `count` is the sum of `byCode`, and `buckets.count`. */
class MethodStats implements MethodObserver {
  readonly service: string;
  readonly method: string;
  /** Calls answered, by gRPC code. */
  readonly byCode = new Float64Array(CODE_NAMES.length);
  /** The latency histogram (its series in ringkv_grpc_server_handling_seconds, with `labels`). */
  readonly buckets = new Buckets(REQUEST_BUCKETS_SECONDS);
  readonly labels: Readonly<Record<string, string>>;
  count = 0;

  constructor(path: string) {
    // '/ringkv.v1.KVService/Put' → service 'ringkv.v1.KVService', method 'Put'.
    const [, service = '', method = path] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
    this.service = service;
    this.method = method;
    this.labels = { grpc_service: service, grpc_method: method };
  }

  handled(code: GrpcStatusCode, seconds: number): void {
    const c = code >= 0 && code < CODE_NAMES.length ? code : UNKNOWN_CODE;
    this.byCode[c]! += 1;
    this.buckets.observe(seconds);
    this.count++;
  }
}

/** The request metrics of one client port, registered in `registry`. */
export class RequestMetrics {
  private readonly methods: MethodStats[] = [];

  constructor(registry: Registry, prefix: string) {
    const stats = this.methods;
    new Counter({
      name: `${prefix}grpc_server_handled_total`,
      help: 'Client calls answered, by method and gRPC status code.',
      labelNames: ['grpc_service', 'grpc_method', 'grpc_code'] as const,
      registers: [registry],
      // The totals are ours: the counter is rebuilt from them at each scrape.
      collect() {
        this.reset();
        for (const m of stats) {
          m.byCode.forEach((n, code) => {
            if (n > 0)
              this.inc({ grpc_service: m.service, grpc_method: m.method, grpc_code: CODE_NAMES[code]! }, n);
          });
        }
      },
    });
    registerArrayHistogram(
      registry,
      `${prefix}grpc_server_handling_seconds`,
      'Time from a client call reaching the node (its request read) to its answer, by method.',
      () => stats,
    );
  }

  /** The observer of one method (the dispatcher asks once per method, at start). */
  observe(path: string): MethodObserver {
    const m = new MethodStats(path);
    this.methods.push(m);
    return m;
  }

  /** The calls of `service`'s methods so far, summed: answered, failed, and by latency bucket. */
  totals(service: string): ServiceTotals {
    const latencyCounts = new Array<number>(REQUEST_BUCKETS_SECONDS.length + 1).fill(0);
    let requests = 0;
    let failed = 0;
    for (const m of this.methods) {
      if (m.service !== service) continue;
      requests += m.count;
      failed += m.count - m.byCode[0]!;
      m.buckets.counts.forEach((n, b) => {
        latencyCounts[b]! += n;
      });
    }
    assert.equal(
      latencyCounts.reduce((a, n) => a + n, 0),
      requests,
      `the latency buckets of ${service} sum to its calls`,
    );
    return { requests, failed, latencyCounts };
  }
}

/** One service's calls since start (RequestMetrics.totals). */
export interface ServiceTotals {
  readonly requests: number;
  /** Answered with a code other than OK. Invariant: failed <= requests. */
  readonly failed: number;
  /** Per bucket of REQUEST_BUCKETS_SECONDS (not cumulative), the last above every bound; sums to `requests`. */
  readonly latencyCounts: readonly number[];
}
