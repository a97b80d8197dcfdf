// The client-facing gRPC server: KVService and ClusterService on --port. A peer that sends bytes
// that are not HTTP/2 is disconnected by node:http2; a handler's failure, expected or not, becomes
// the call's status (errors.ts), so nothing a client sends can stop the node.
import {
  ClusterServiceService,
  CompareAndSwapResponse,
  ConfigureResponse,
  DeleteRangeResponse,
  DeleteResponse,
  GetResponse,
  JoinResponse,
  KVServiceService,
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
  LeaveResponse,
  PutResponse,
  ReadShardSnapshotResponse,
  type RequestLoad,
  ScanResponse,
  SetLeaderPlacementResponse,
  StatusResponse,
  TxnResponse,
} from '../gen/ringkv/v1/kv.ts';
import type { KvNode } from '../node/node.ts';
import type { ServerTls } from '../transport/tls.ts';
import type { ClientApiThread } from './client-api-thread.ts';
import { clusterService } from './cluster-service.ts';
import type { ServerContext } from './context.ts';
import { kvService } from './kv-service.ts';
import type { PeerClients } from './peer-clients.ts';
import { ReplicaTurns } from './routing.ts';
import type { MethodObserver } from './unary-dispatch.ts';
import { UnaryHttp2Server } from './unary-http2-server.ts';
import { WATCH_PATH, watchHandler } from './watch.ts';

/**
 * Each method's response type, so that the server encodes answers straight behind their gRPC
 * prefix (see UnaryDispatcher). A test checks each against the definition's own serializer.
 */
export const KV_RESPONSES = {
  put: PutResponse,
  get: GetResponse,
  delete: DeleteResponse,
  compareAndSwap: CompareAndSwapResponse,
  txn: TxnResponse,
  deleteRange: DeleteRangeResponse,
  scan: ScanResponse,
  readShardSnapshot: ReadShardSnapshotResponse,
  leaseGrant: LeaseGrantResponse,
  leaseRevoke: LeaseRevokeResponse,
  leaseKeepAlive: LeaseKeepAliveResponse,
  leaseTimeToLive: LeaseTimeToLiveResponse,
} as const;
export const CLUSTER_RESPONSES = {
  join: JoinResponse,
  leave: LeaveResponse,
  status: StatusResponse,
  setLeaderPlacement: SetLeaderPlacementResponse,
  configure: ConfigureResponse,
} as const;

/** What the client server reports its calls to (NodeMetricsRegistry), and reads back for Status. */
export interface ServerMetrics {
  /** The observer of one method's calls (asked once per method, at start). */
  observeMethod(path: string): MethodObserver;
  /** The KVService calls answered so far. */
  requestLoad(): RequestLoad;
}

export class ClientServer {
  private readonly server: UnaryHttp2Server;
  readonly ctx: ServerContext;

  constructor(
    node: KvNode,
    peers: PeerClients,
    thread: ClientApiThread,
    onWorkerFailure: (err: Error) => void,
    tls?: ServerTls,
    metrics?: ServerMetrics,
  ) {
    const maxMessageBytes = Math.max(
      4 * 1024 * 1024,
      node.opts.maxValueBytes * 2 + node.opts.maxKeyBytes + 64 * 1024,
    );
    // Every client method is unary: served by the lean node:http2 server (see its header), its
    // HTTP/2 work on a worker thread unless `thread` is 'inline'.
    this.server = new UnaryHttp2Server({
      maxReceiveBytes: maxMessageBytes,
      thread,
      deadlineLimitMs: node.opts.requestTimeoutMs,
      onInternalError: (err, path) => node.logger.error({ err, path }, 'request failed unexpectedly'),
      onWorkerFailure,
      tls,
      onTlsFailure: (reason, remoteAddress) =>
        node.logger.warn({ remoteAddress, reason }, `refused a client connection: ${reason}`),
      observeMethod: metrics === undefined ? undefined : (path) => metrics.observeMethod(path),
    });
    this.ctx = {
      node,
      peers,
      turns: new ReplicaTurns(),
      load: metrics === undefined ? undefined : () => metrics.requestLoad(),
    };
    // Watch is the one server-streaming method: added apart from the unary ones (unary-http2-server.ts).
    const { watch: _watch, ...kvUnary } = KVServiceService;
    this.server.addService(kvUnary, kvService(this.ctx), KV_RESPONSES);
    this.server.addServerStream(WATCH_PATH, watchHandler(node));
    this.server.addService(ClusterServiceService, clusterService(this.ctx), CLUSTER_RESPONSES);
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return this.server.listen(host, port);
  }

  /**
   * Stops accepting calls; in-flight calls finish (the node fails its waiting requests first, and
   * ends its watches).
   */
  close(): Promise<void> {
    // Watches never finish by themselves: end them first (retry-safe), so the close does not wait on them.
    this.ctx.node.watches.close();
    return this.server.close(2000);
  }
}
