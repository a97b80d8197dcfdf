// gRPC clients to other nodes' client ports, one channel per address, reused for every forwarded
// request, Join and Status call. Calls carry the caller's remaining deadline. When the client port
// serves TLS, so do the calls to the others': their certificates checked against --trusted_ca_file,
// this node's own certificate presented (their --client_cert_auth may require one).
import {
  type ChannelCredentials,
  type Client,
  connectivityState,
  credentials,
  Metadata,
  type ServiceError,
  status,
} from '@grpc/grpc-js';
import { ClusterServiceClient, KVServiceClient } from '../gen/ringkv/v1/kv.ts';
import { FailedPreconditionError, UnavailableError } from '../node/errors.ts';
import type { MemberInfo } from '../node/metadata.ts';
import type { ClusterRpc, PeerStatus } from '../node/options.ts';
import type { ServerTls } from '../transport/tls.ts';
import { LEADER_ADDR_KEY, RETRY_SAFE_KEY, RemoteStatusError, remoteFailure } from './errors.ts';
import { type KvForwardable, type KvMethod, type KvPeers, UNREACHABLE_MS } from './kv-peers.ts';
import { FORWARDED_KEY } from './unary-http2.ts';

/** Bound on distinct addresses with an open channel (a cluster has far fewer members). */
const PEERS_MAX = 1024;

interface Channels {
  readonly kv: KVServiceClient;
  readonly cluster: ClusterServiceClient;
}

export type Unary<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: { deadline: number },
  cb: (err: ServiceError | null, res: Res) => void,
) => unknown;

/** How long a call waits for a channel that is not connected to connect before it gives up. */
const CONNECT_BUDGET_MS = 1000;

/**
 * The credentials of calls to other nodes' client ports: plaintext, or TLS when this node's client
 * port serves it (the same cluster serves TLS on every node). The CA is the one client certificates
 * chain to (--trusted_ca_file), else the system's; this node's certificate goes as the client's.
 */
export function peerClientCredentials(tls: ServerTls | undefined): ChannelCredentials {
  if (tls === undefined) return credentials.createInsecure();
  return credentials.createSsl(
    tls.ca === undefined ? null : Buffer.from(tls.ca),
    Buffer.from(tls.key),
    Buffer.from(tls.cert),
  );
}

export class PeerClients implements ClusterRpc, KvPeers {
  private readonly byAddr = new Map<string, Channels>();
  private readonly unreachableUntil = new Map<string, number>();
  private readonly creds: ChannelCredentials;

  constructor(creds: ChannelCredentials = credentials.createInsecure()) {
    this.creds = creds;
  }

  /** Whether a call to `addr` failed to connect within the last UNREACHABLE_MS. */
  isUnreachable(addr: string): boolean {
    const until = this.unreachableUntil.get(addr);
    if (until === undefined) return false;
    if (until > Date.now()) return true;
    this.unreachableUntil.delete(addr);
    return false;
  }

  private channels(addr: string): Channels {
    let c = this.byAddr.get(addr);
    if (c === undefined) {
      if (this.byAddr.size >= PEERS_MAX) this.close();
      const options = {
        // A peer that restarts must be reached again within a second: with grpc's default backoff
        // (up to two minutes) a node back from an outage of a few seconds could not be forwarded
        // to for as long again, and requests for the shards it leads failed meanwhile.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
        'grpc.max_send_message_length': 64 * 1024 * 1024,
      };
      c = {
        kv: new KVServiceClient(addr, this.creds, options),
        cluster: new ClusterServiceClient(addr, this.creds, options),
      };
      this.byAddr.set(addr, c);
    }
    return c;
  }

  kv(addr: string): KVServiceClient {
    return this.channels(addr).kv;
  }

  cluster(addr: string): ClusterServiceClient {
    return this.channels(addr).cluster;
  }

  /** KvPeers: KVService `method` at `addr`, marked forwarded (see `call`). */
  forward<M extends KvMethod>(
    addr: string,
    method: M,
    req: KvForwardable[M][0],
    deadlineMs: number,
  ): Promise<KvForwardable[M][1]> {
    const kv = this.kv(addr);
    const unary = kv[method] as unknown as Unary<KvForwardable[M][0], KvForwardable[M][1]>;
    return this.call(kv, unary, req, deadlineMs, true);
  }

  /**
   * Calls a unary method with a deadline; `forwarded` marks the request so the receiver never
   * forwards it again. A channel that is not connected gets CONNECT_BUDGET_MS to connect (a hung
   * peer accepts the TCP connection and never answers the HTTP/2 handshake): past it the call fails
   * retry-safe, as nothing was sent, and the peer counts as unreachable for a moment, instead of the
   * call waiting out the whole deadline and coming back as a DEADLINE_EXCEEDED that reads like "maybe".
   */
  async call<Req, Res>(
    client: Client,
    method: Unary<Req, Res>,
    req: Req,
    deadlineMs: number,
    forwarded: boolean,
  ): Promise<Res> {
    const md = new Metadata();
    if (forwarded) md.set(FORWARDED_KEY, '1');
    const channel = client.getChannel();
    const addr = channel.getTarget();
    if (channel.getConnectivityState(true) !== connectivityState.READY) {
      await this.connected(client, addr, Math.min(deadlineMs, Date.now() + CONNECT_BUDGET_MS));
    }
    return new Promise<Res>((resolve, reject) => {
      method.call(client, req, md, { deadline: deadlineMs }, (err, res) => {
        if (err === null) resolve(res);
        else reject(this.connectFailure(addr, err) ?? failureOf(err));
      });
    });
  }

  /** Resolves once `client`'s channel is ready; rejects retry-safe (marking `target` unreachable) at `byMs`. */
  private connected(client: Client, target: string, byMs: number): Promise<void> {
    const started = Date.now();
    return new Promise<void>((resolve, reject) => {
      client.waitForReady(byMs, (err) => {
        if (err === undefined) {
          resolve();
          return;
        }
        const addr = target.replace(/^dns:/, '');
        this.unreachableUntil.set(addr, Date.now() + UNREACHABLE_MS);
        reject(
          new UnavailableError(
            `could not connect to ${addr} within ${Date.now() - started} ms (it may be hung or overloaded); nothing was sent`,
            { retrySafe: true },
          ),
        );
      });
    });
  }

  /** A call that never left because no connection could be made: nothing happened, so it is retry-safe. */
  private connectFailure(target: string, err: ServiceError): UnavailableError | undefined {
    if (err.code !== status.UNAVAILABLE || !err.details.startsWith('No connection established'))
      return undefined;
    const addr = target.replace(/^dns:/, '');
    this.unreachableUntil.set(addr, Date.now() + UNREACHABLE_MS);
    return new UnavailableError(`could not connect to ${addr}: ${err.details}`, {
      retrySafe: true,
    });
  }

  async join(
    addr: string,
    member: MemberInfo,
    deadlineMs: number,
  ): Promise<{ clusterId: string; members: MemberInfo[] }> {
    const c = this.cluster(addr);
    type Res = { clusterId: string; members: MemberInfo[] };
    try {
      const res = await this.call(
        c,
        c.join as Unary<{ member: MemberInfo }, Res>,
        { member },
        deadlineMs,
        false,
      );
      return { clusterId: res.clusterId, members: res.members };
    } catch (e) {
      // A refusal is final (the joiner stops retrying); anything else may pass.
      if (e instanceof RemoteStatusError && e.code === status.FAILED_PRECONDITION) {
        throw new FailedPreconditionError(`${addr} refused the join: ${e.details}`);
      }
      throw e;
    }
  }

  async status(addr: string, deadlineMs: number): Promise<PeerStatus> {
    const c = this.cluster(addr);
    type Res = {
      nodeId: string;
      clusterId: string;
      members: MemberInfo[];
      shards: {
        shardId: number;
        leader: string;
        voters: string[];
        learners: string[];
        commit: bigint;
        applied: bigint;
      }[];
    };
    const res = await this.call(c, c.status as Unary<object, Res>, {}, deadlineMs, false);
    const g0 = res.shards.find((s) => s.shardId === 0);
    return {
      nodeId: res.nodeId,
      clusterId: res.clusterId,
      members: res.members,
      applied: new Map(res.shards.map((s) => [s.shardId, Number(s.applied)])),
      metadataGroup: {
        leader: g0?.leader ?? '',
        voters: g0?.voters ?? [],
        learners: g0?.learners ?? [],
        votersOutgoing: [],
        commit: Number(g0?.commit ?? 0n),
        applied: Number(g0?.applied ?? 0n),
      },
    };
  }

  close(): void {
    for (const c of this.byAddr.values()) {
      c.kv.close();
      c.cluster.close();
    }
    this.byAddr.clear();
  }
}

/** The other node's failure as gRPC delivered it, to be passed on (errors.ts `remoteFailure`). */
function failureOf(err: ServiceError): UnavailableError | RemoteStatusError {
  const leaderAddr = err.metadata?.get(LEADER_ADDR_KEY)[0];
  return remoteFailure(
    err.code,
    err.details,
    typeof leaderAddr === 'string' ? leaderAddr : '',
    err.metadata?.get(RETRY_SAFE_KEY)[0] === '1',
  );
}
