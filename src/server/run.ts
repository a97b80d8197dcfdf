// Starting and stopping a whole node process's worth of parts: the node (state, Raft, WAL), the peer
// transport on the raft port, the client gRPC server on the client port, and the clients to other
// nodes. Used by `ringkv serve` and by in-process tests.
//
// Order at start: recover the node's state (or bootstrap) → bind the raft port and start ticking →
// bind the client port → if joining, ask the cluster to add this node (the metadata leader checks
// this node's Status while it catches up, so the client port must already answer).
// Order at stop: stop accepting client calls and fail waiting ones with UNAVAILABLE → finish the
// driver's turn → sync and close the WAL → close the transport and the client channels.
import type { Logger } from 'pino';
import { KvNode } from '../node/node.ts';
import type { NodeOptions } from '../node/options.ts';
import type { PeerTransport } from '../node/peer-transport.ts';
import type { ServerTls } from '../transport/tls.ts';
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
  /** TLS on the client port, and so on this node's calls to the other nodes' client ports. */
  readonly clientTls?: ServerTls | undefined;
}

export interface RunningNode {
  readonly node: KvNode;
  readonly port: number;
  readonly clientAddr: string;
  /** Graceful stop; idempotent. */
  stop(): Promise<void>;
}

export async function startNode(o: ServeOptions, onFatal: (err: unknown) => void): Promise<RunningNode> {
  const peers = new PeerClients(peerClientCredentials(o.clientTls));
  const clientAddr = `${o.advertiseHost}:${o.port}`;
  const node = new KvNode({ ...o, clientAddr, transport: o.transport, cluster: peers, logger: o.logger });
  node.onFatal(onFatal);
  let server: ClientServer | undefined;
  let boundPort: number;
  try {
    await node.start();
    const thread = o.clientApiThread ?? DEFAULT_CLIENT_API_THREAD;
    server = new ClientServer(node, peers, thread, onFatal, o.clientTls);
    boundPort = await server.listen(o.listenHost, o.port);
    await node.completeJoin();
  } catch (e) {
    await server?.close();
    await node.close().catch(() => {});
    peers.close();
    throw e;
  }
  const running = node;
  const srv = server;
  let stopping: Promise<void> | undefined;
  return {
    node: running,
    port: boundPort,
    clientAddr,
    stop: () => {
      stopping ??= (async () => {
        const closing = srv.close();
        await running.close();
        await closing;
        peers.close();
      })();
      return stopping;
    },
  };
}
