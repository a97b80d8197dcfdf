// Public entry of the dashboard: the pages a node's admin port serves at / (see README.md). Built by
// `ringkv serve` (src/cli) once the node's client port answers, and handed to the admin server.
import { RingkvClient } from '../client/index.ts';
import { loadAssets } from './assets.ts';
import { type DashboardPages, dashboardPages } from './pages.ts';
import { FAN_OUT_TIMEOUT_MS, StatusSource } from './status-source.ts';

export type { DashboardPages, PageReply } from './pages.ts';

export interface DashboardHost {
  /** The node serving the dashboard. */
  readonly nodeId: string;
  /** Its client address (host:port): the dashboard asks the cluster through it. */
  readonly clientAddr: string;
  /** The client port's TLS (PEM): the node's own certificate and key authenticate the dashboard. */
  readonly clientTls?: { readonly cert: string; readonly key: string; readonly ca?: string } | undefined;
}

/** The dashboard of the node `host`; its client is closed by `close()`. */
export function createDashboard(host: DashboardHost): DashboardPages {
  const assets = loadAssets();
  const t = host.clientTls;
  const client = new RingkvClient({
    endpoints: [host.clientAddr],
    defaultTimeoutMs: FAN_OUT_TIMEOUT_MS,
    ...(t === undefined
      ? {}
      : { tls: { cert: t.cert, key: t.key, ...(t.ca === undefined ? {} : { ca: t.ca }) } }),
  });
  const source = new StatusSource(client, host.nodeId);
  // The node is stopping: its status polls still in flight are cut, not waited for.
  return dashboardPages(assets, source, () => void client.close({ timeoutMs: 0 }));
}
