// Starting and stopping a whole node process's worth of parts: the node (state, Raft, WAL), the peer
// transport on the raft port, the client gRPC server on the client port, the admin HTTP port
// (metrics, health; optional), and the clients to other nodes. Used by `ringkv serve` and by
// in-process tests.
//
// Order at start: recover the node's state (or bootstrap) → bind the raft port and start ticking →
// bind the client port → bind the admin port (a port in use fails the start, naming the flag) → if
// joining, ask the cluster to add this node (the metadata leader checks this node's Status while it
// catches up, so the client port must already answer; /readyz says 503 meanwhile).
// Order at stop: close the admin port (a probe sees the node gone before its client port goes) →
// stop accepting client calls and fail waiting ones with UNAVAILABLE → finish the driver's turn →
// sync and close the WAL → close the transport and the client channels.
import type { Logger } from 'pino';
import { KvNode } from '../node/node.ts';
import type { NodeOptions } from '../node/options.ts';
import type { PeerTransport } from '../node/peer-transport.ts';
import type { ServerTls } from '../transport/tls.ts';
import { type AdminPages, AdminServer } from './admin/admin-server.ts';
import { NodeMetricsRegistry } from './admin/metrics.ts';
import { readinessChecks } from './admin/readiness.ts';
import { type ClientApiThread, DEFAULT_CLIENT_API_THREAD } from './client-api-thread.ts';
import { ClientServer } from './grpc-server.ts';
import { PeerClients, peerClientCredentials } from './peer-clients.ts';

export interface ServeOptions extends Omit<NodeOptions, 'transport' | 'cluster' | 'logger' | 'clientAddr'> {
  /** Interface to bind the client port on. */
  readonly listenHost: string;
  /** Client port (a fixed port: it is advertised to the other nodes before it is bound). */
  readonly port: number;
  /** Advertised host of the client port. */
  readonly advertiseHost: string;
  readonly logger: Logger;
  /** Builds the peer transport (GrpcTransport in `serve`, MemoryTransport in some tests). */
  readonly transport: PeerTransport;
  /** Where the client port's HTTP/2 work runs (default: the node's own thread, `inline`). */
  readonly clientApiThread?: ClientApiThread;
  /** TLS on the client port, and so on this node's calls to the other nodes' client ports (and the admin port's). */
  readonly clientTls?: ServerTls | undefined;
  /** The admin port (metrics, /livez, /readyz) and the interface to bind it on; absent: none, no metrics. */
  readonly admin?: AdminPortOptions | undefined;
}

export interface AdminPortOptions {
  readonly listenHost: string;
  readonly port: number;
  /** Builds the pages served beside the admin endpoints (the dashboard), once the client port is bound. */
  readonly pages?: ((self: AdminPagesHost) => AdminPages) | undefined;
}

/** What the admin port's pages are told of their node. */
export interface AdminPagesHost {
  readonly nodeId: string;
  /** The node's advertised client address (host:port), bound and answering. */
  readonly clientAddr: string;
  /** The client port's TLS (its certificate, key and CA), absent when it is plaintext. */
  readonly clientTls: ServerTls | undefined;
}

export interface RunningNode {
  readonly node: KvNode;
  readonly port: number;
  readonly clientAddr: string;
  /** The bound admin port (undefined when it is off). */
  readonly adminPort: number | undefined;
  /** Graceful stop; idempotent. */
  stop(): Promise<void>;
}

export async function startNode(o: ServeOptions, onFatal: (err: unknown) => void): Promise<RunningNode> {
  const peers = new PeerClients(peerClientCredentials(o.clientTls));
  const clientAddr = `${o.advertiseHost}:${o.port}`;
  // Metrics only with an admin port to read them from: without one, the node reports to nowhere.
  const metrics = o.admin === undefined ? undefined : new NodeMetricsRegistry();
  const node = new KvNode({
    ...o,
    clientAddr,
    transport: o.transport,
    cluster: peers,
    logger: o.logger,
    ...(metrics === undefined ? {} : { metrics }),
  });
  metrics?.attach(node, o.transport);
  node.onFatal(onFatal);
  let server: ClientServer | undefined;
  let admin: AdminServer | undefined;
  let boundPort: number;
  let adminPort: number | undefined;
  try {
    await node.start();
    const thread = o.clientApiThread ?? DEFAULT_CLIENT_API_THREAD;
    server = new ClientServer(node, peers, thread, onFatal, o.clientTls, metrics);
    boundPort = await server.listen(o.listenHost, o.port);
    if (o.admin !== undefined && metrics !== undefined) {
      admin = new AdminServer({
        metrics,
        readiness: () => readinessChecks(node.statuses()),
        tls: o.clientTls,
        onError: (err) => o.logger.error({ err }, 'an admin port request failed'),
        pages: o.admin.pages?.({ nodeId: o.nodeId, clientAddr, clientTls: o.clientTls }),
      });
      adminPort = await listenAdmin(admin, o.admin.listenHost, o.admin.port);
    }
    await node.completeJoin();
  } catch (e) {
    await admin?.close();
    await server?.close();
    await node.close().catch(() => {});
    peers.close();
    throw e;
  }
  const running = node;
  const srv = server;
  const adminSrv = admin;
  let stopping: Promise<void> | undefined;
  return {
    node: running,
    port: boundPort,
    clientAddr,
    adminPort,
    stop: () => {
      stopping ??= (async () => {
        await adminSrv?.close();
        const closing = srv.close();
        await running.close();
        await closing;
        peers.close();
      })();
      return stopping;
    },
  };
}

/** The admin port could not be bound (in use, bad address, no permission): the start fails, naming the flag. */
export class AdminPortBindError extends Error {
  override readonly name = 'AdminPortBindError';
  readonly code = 'ADMIN_PORT_BIND_FAILED';

  constructor(address: string, cause: Error) {
    super(
      `cannot listen for the admin port (--admin_port) on ${address}: ${cause.message}; ` +
        'give another --admin_port (or --admin_listen), or --admin_port 0 to run without it',
      { cause },
    );
  }
}

async function listenAdmin(admin: AdminServer, host: string, port: number): Promise<number> {
  try {
    return await admin.listen(host, port);
  } catch (e) {
    throw new AdminPortBindError(`${host}:${port}`, e instanceof Error ? e : new Error(String(e)));
  }
}
