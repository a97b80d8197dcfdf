// One gRPC channel per endpoint, shared by the KV and Cluster stubs and reused by every call, so
// a request costs one HTTP/2 stream and nothing more. Channels are made on first use and closed
// together by close().
import { Channel, type ChannelCredentials, connectivityState, credentials } from '@grpc/grpc-js';
import { ClusterServiceClient, KVServiceClient } from '../gen/ringkv/v1/kv.ts';

/** The stubs of one endpoint. */
export interface EndpointStubs {
  readonly endpoint: string;
  readonly channel: Channel;
  readonly kv: KVServiceClient;
  readonly cluster: ClusterServiceClient;
}

/** Bound on distinct endpoints: a cluster is far smaller; more means addresses are leaking in. */
export const ENDPOINTS_MAX = 256;

const CHANNEL_OPTIONS = {
  // A node that restarts should be found again within a second, not after grpc's default
  // backoff of up to two minutes.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // Each call takes its own path through our retry logic; grpc's own retries would hide what
  // happened to a write (and could repeat it).
  'grpc.enable_retries': 0,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
};

/** Throws on anything that is not host:port with a port in 1..65535. */
export function assertEndpoint(endpoint: string): void {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/.exec(endpoint);
  const port = match === null ? Number.NaN : Number(match[2]);
  if (!(port >= 1 && port <= 65535)) {
    throw new RangeError(
      `endpoint must be host:port (e.g. localhost:50051), got ${JSON.stringify(endpoint)}`,
    );
  }
}

/**
 * TLS towards the nodes' client ports (PEM text or bytes). Any field given means TLS: the nodes'
 * certificates are checked against `ca` (else the system's CAs) and the host name dialled;
 * `cert` and `key`, given together, are this client's certificate for nodes that require one.
 */
export interface ClientTls {
  readonly ca?: string | Uint8Array;
  readonly cert?: string | Uint8Array;
  readonly key?: string | Uint8Array;
}

/** Plaintext without `tls`; otherwise TLS as ClientTls says. Throws on a cert without its key, or text that is not PEM. */
export function clientCredentials(tls: ClientTls | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new RangeError('tls: give cert and key together (a client certificate and its private key)');
  const buf = (v: string | Uint8Array | undefined, field: string): Buffer | null => {
    if (v === undefined) return null;
    const b = typeof v === 'string' ? Buffer.from(v) : Buffer.from(v);
    // A file name passed for its contents would fail every handshake later, and quietly.
    if (!b.includes('-----BEGIN '))
      throw new RangeError(`tls.${field}: expected PEM text (-----BEGIN …), not a file name or DER`);
    return b;
  };
  return credentials.createSsl(buf(tls.ca, 'ca'), buf(tls.key, 'key'), buf(tls.cert, 'cert'));
}

export class ChannelPool {
  // Invariant: size <= ENDPOINTS_MAX; every entry's channel is open until close().
  private readonly stubs = new Map<string, EndpointStubs>();
  private closed = false;
  private readonly creds: ChannelCredentials;

  constructor(creds: ChannelCredentials = credentials.createInsecure()) {
    this.creds = creds;
  }

  get(endpoint: string): EndpointStubs {
    if (this.closed) throw new Error(`ChannelPool: used after close (endpoint ${endpoint})`);
    const existing = this.stubs.get(endpoint);
    if (existing !== undefined) return existing;
    assertEndpoint(endpoint);
    if (this.stubs.size >= ENDPOINTS_MAX) {
      throw new Error(`ChannelPool: more than ${ENDPOINTS_MAX} endpoints (adding ${endpoint})`);
    }
    const creds = this.creds;
    const channel = new Channel(endpoint, creds, CHANNEL_OPTIONS);
    const made: EndpointStubs = {
      endpoint,
      channel,
      kv: new KVServiceClient(endpoint, creds, { channelOverride: channel }),
      cluster: new ClusterServiceClient(endpoint, creds, { channelOverride: channel }),
    };
    this.stubs.set(endpoint, made);
    return made;
  }

  close(): void {
    this.closed = true;
    for (const s of this.stubs.values()) s.channel.close();
    this.stubs.clear();
  }
}

/**
 * Waits until `channel` has a connection (READY), or can tell at once that it has none
 * (TRANSIENT_FAILURE or SHUTDOWN: a call then fails fast with "No connection established", which the
 * retry policy knows was never sent). Resolves false when `deadlineMs` passes first: still
 * connecting, as to a stopped process whose kernel accepts TCP but that never answers the HTTP/2
 * handshake. Nothing is sent meanwhile, so giving up here is safe even for a write. An abort
 * resolves true at once (the call that follows reports the cancellation).
 */
export function awaitConnection(
  channel: Channel,
  deadlineMs: number,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let settled = false;
    const settle = (ready: boolean): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      resolve(ready);
    };
    const onAbort = (): void => settle(true);
    const check = (): void => {
      if (settled) return;
      const state = channel.getConnectivityState(true);
      if (
        signal?.aborted === true ||
        state === connectivityState.READY ||
        state === connectivityState.TRANSIENT_FAILURE ||
        state === connectivityState.SHUTDOWN
      ) {
        settle(true);
        return;
      }
      if (Date.now() >= deadlineMs) {
        settle(false);
        return;
      }
      // Bounded: each state change calls check again, and the deadline ends the wait.
      channel.watchConnectivityState(state, deadlineMs, (error) =>
        error === undefined ? check() : settle(false),
      );
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    check();
  });
}
