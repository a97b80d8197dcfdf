// Binding a node:net-based server (HTTP/2 for the gRPC ports, HTTP(S) for the admin port).
import type { Server } from 'node:net';

/**
 * Binds `server` to `host:port` (port 0: any free port; an IPv6 host may come in brackets); resolves
 * with the bound port, rejects with the bind error (EADDRINUSE…).
 */
export function listen(server: Server, host: string, port: number): Promise<number> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bare, () => {
      server.off('error', reject);
      const bound = server.address();
      resolve(bound !== null && typeof bound === 'object' ? bound.port : port);
    });
  });
}
