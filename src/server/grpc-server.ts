// The client-facing gRPC server: KVService and ClusterService on --port. A peer that sends bytes
// that are not HTTP/2 is disconnected by grpc-js's HTTP/2 layer; the handlers below never throw, so
// nothing a client sends can stop the node.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ClusterServiceService, KVServiceService } from '../gen/ringkv/v1/kv.ts';
import type { KvNode } from '../node/node.ts';
import { clusterService } from './cluster-service.ts';
import type { ServerContext } from './context.ts';
import { kvService } from './kv-service.ts';
import type { PeerClients } from './peer-clients.ts';

export class ClientServer {
  private readonly server: Server;
  readonly ctx: ServerContext;

  constructor(node: KvNode, peers: PeerClients) {
    const maxMessageBytes = Math.max(
      4 * 1024 * 1024,
      node.opts.maxValueBytes * 2 + node.opts.maxKeyBytes + 64 * 1024,
    );
    this.server = new Server({
      'grpc.max_receive_message_length': maxMessageBytes,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
    });
    this.ctx = { node, peers };
    this.server.addService(KVServiceService, kvService(this.ctx));
    this.server.addService(ClusterServiceService, clusterService(this.ctx));
  }

  /** Binds `host:port` (port 0: any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => {
      this.server.bindAsync(addr, ServerCredentials.createInsecure(), (err, bound) =>
        err === null ? resolve(bound) : reject(err),
      );
    });
  }

  /** Stops accepting calls; in-flight calls finish (the node fails its waiting requests first). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
