// The two systems under test behind one interface, both over the same minimal gRPC client, each
// with two ways of choosing the member a request goes to (ClientMode):
// - leader: ringkv requests go straight to the leader of the key's shard (learned from
//   ClusterService.Status, refreshed before each run), etcd requests to its leader (found with the
//   Maintenance Status RPC): one hop for both, the best case.
// - round-robin: every request goes to the next member in turn, whatever it leads, as etcd's own
//   client and most gRPC users do; a member that does not lead the key forwards (ringkv) or hands
//   the proposal or read index to the leader (etcd).
import {
  GetRequest,
  GetResponse,
  PutRequest,
  StatusRequest,
  StatusResponse,
} from '../src/gen/ringkv/v1/kv.ts';
import { HASH_TAG_HASHING, type KeyHashing, shardOf, WHOLE_KEY_HASHING } from '../src/ring/slots.ts';
import {
  decodeRangeValues,
  decodeStatus,
  ETCD_PUT,
  ETCD_RANGE,
  ETCD_STATUS,
  encodePut,
  encodeRange,
} from './etcd-proto.ts';
import { type ClientTls, GrpcConnection } from './grpc-client.ts';

/** How the load generator picks the member each request goes to (see the header). */
export const CLIENT_MODES = ['leader', 'round-robin'] as const;
export type ClientMode = (typeof CLIENT_MODES)[number];
export function isClientMode(m: string): m is ClientMode {
  return (CLIENT_MODES as readonly string[]).includes(m);
}

/** The two operations of the benchmark, sent one way (a ClientMode) to one system. */
export interface Client {
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Reads a key; throws if it is absent (the benchmark reads only keys it wrote). */
  get(key: Uint8Array, serializable: boolean): Promise<void>;
}

export interface Target {
  readonly name: string;
  /** The client that sends requests the given way; valid after refresh(). */
  client(mode: ClientMode): Client;
  /** Learns the current leader(s) and members again (before each run: leaderships may have moved). */
  refresh(): Promise<void>;
  close(): void;
}

/**
 * Each connection in turn. One counter for all the load generator's workers, so that the requests
 * in flight spread evenly over the members.
 */
class RoundRobin {
  private conns: readonly GrpcConnection[] = [];
  private next = 0;

  set(conns: readonly GrpcConnection[]): void {
    if (conns.length === 0) throw new Error('round-robin over no members');
    this.conns = conns;
    this.next = 0;
  }

  pick(): GrpcConnection {
    const c = this.conns[this.next];
    if (c === undefined) throw new Error('call refresh() before sending requests');
    this.next = (this.next + 1) % this.conns.length;
    return c;
  }
}

/** What routing by key needs from a ringkv Status: each data shard's leader and how keys map to shards. */
export interface RingkvRoutes {
  /** Index = shard id: the client address of that shard's leader. */
  readonly leaderAddrs: readonly string[];
  readonly shardCount: number;
  readonly keyHashing: KeyHashing;
}

export function ringkvRoutes(st: StatusResponse): RingkvRoutes {
  const addrOf = new Map(st.members.map((m) => [m.nodeId, m.clientAddr]));
  const data = st.shards.filter((s) => s.shardId !== 0);
  const leaderAddrs: string[] = [];
  for (const s of data) {
    const addr = addrOf.get(s.leader);
    if (addr === undefined) throw new Error(`ringkv: shard ${s.shardId} has no known leader`);
    leaderAddrs[s.shardId] = addr;
  }
  return {
    leaderAddrs,
    shardCount: data.length,
    keyHashing: st.settings?.hashTags === true ? HASH_TAG_HASHING : WHOLE_KEY_HASHING,
  };
}

/** The index in `conns` of the etcd member that says it is the leader. */
export async function etcdLeaderIndex(conns: readonly GrpcConnection[]): Promise<number> {
  for (const [i, c] of conns.entries()) {
    try {
      const st = decodeStatus(await c.call(ETCD_STATUS, new Uint8Array(0), 3000));
      if (st.leader !== 0n && st.leader === st.memberId) return i;
    } catch {
      // try the next member
    }
  }
  throw new Error('etcd: no member says it is the leader');
}

const RINGKV_PUT = '/ringkv.v1.KVService/Put';
const RINGKV_GET = '/ringkv.v1.KVService/Get';
const RINGKV_STATUS = '/ringkv.v1.ClusterService/Status';

export class RingkvTarget implements Target {
  readonly name: string;
  private readonly conns = new Map<string, GrpcConnection>();
  private readonly endpoints: readonly string[];
  /** Index = shard id: the connection to that shard's leader. */
  private routes: GrpcConnection[] = [];
  private shardCount = 0;
  private keyHashing: KeyHashing = WHOLE_KEY_HASHING;
  /** Every member's client address, in node id order (from Status, not only the endpoints given). */
  private readonly members = new RoundRobin();
  private readonly clients: Record<ClientMode, Client>;
  private readonly tls: ClientTls | undefined;

  constructor(endpoints: readonly string[], name = 'ringkv', tls?: ClientTls) {
    if (endpoints.length === 0) throw new Error('ringkv: no endpoints');
    this.endpoints = endpoints;
    this.name = name;
    this.tls = tls;
    this.clients = {
      leader: this.via((key) => this.route(key)),
      'round-robin': this.via(() => this.members.pick()),
    };
  }

  client(mode: ClientMode): Client {
    return this.clients[mode];
  }

  private conn(addr: string): GrpcConnection {
    let c = this.conns.get(addr);
    if (c === undefined) {
      c = new GrpcConnection(addr, this.tls);
      this.conns.set(addr, c);
    }
    return c;
  }

  async status(): Promise<StatusResponse> {
    let last: unknown;
    for (const ep of this.endpoints) {
      try {
        const bytes = await this.conn(ep).call(RINGKV_STATUS, StatusRequest.encode({}).finish(), 3000);
        return StatusResponse.decode(bytes);
      } catch (e) {
        last = e;
      }
    }
    throw new Error(`ringkv: no endpoint answered Status: ${String(last)}`);
  }

  async refresh(): Promise<void> {
    const st = await this.status();
    const r = ringkvRoutes(st);
    this.routes = r.leaderAddrs.map((addr) => this.conn(addr));
    this.shardCount = r.shardCount;
    this.keyHashing = r.keyHashing;
    const members = [...st.members].sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
    this.members.set(members.map((m) => this.conn(m.clientAddr)));
  }

  private route(key: Uint8Array): GrpcConnection {
    const c = this.routes[shardOf(key, this.shardCount, this.keyHashing)];
    if (c === undefined) throw new Error('ringkv: call refresh() before sending requests');
    return c;
  }

  /** Puts and gets sent to the connection `to` picks for each key. */
  private via(to: (key: Uint8Array) => GrpcConnection): Client {
    return {
      put: async (key, value) => {
        await to(key).call(RINGKV_PUT, PutRequest.encode({ key, value, shardEpoch: 0n, lease: 0n }).finish());
      },
      get: async (key, serializable) => {
        const bytes = await to(key).call(
          RINGKV_GET,
          GetRequest.encode({ key, serializable, shardEpoch: 0n }).finish(),
        );
        if (!GetResponse.decode(bytes).found) throw new Error('ringkv: key not found');
      },
    };
  }

  close(): void {
    for (const c of this.conns.values()) c.close();
  }
}

export class EtcdTarget implements Target {
  readonly name: string = 'etcd';
  private readonly conns: GrpcConnection[];
  private leader: GrpcConnection | undefined;
  private readonly members = new RoundRobin();
  private readonly clients: Record<ClientMode, Client>;

  constructor(endpoints: readonly string[]) {
    if (endpoints.length === 0) throw new Error('etcd: no endpoints');
    this.conns = endpoints.map((e) => new GrpcConnection(e));
    this.members.set(this.conns);
    this.clients = {
      leader: this.via(() => this.to()),
      'round-robin': this.via(() => this.members.pick()),
    };
  }

  client(mode: ClientMode): Client {
    return this.clients[mode];
  }

  async refresh(): Promise<void> {
    this.leader = this.conns[await etcdLeaderIndex(this.conns)];
  }

  private to(): GrpcConnection {
    if (this.leader === undefined) throw new Error('etcd: call refresh() before sending requests');
    return this.leader;
  }

  /** Puts and gets sent to the connection `to` picks. */
  private via(to: () => GrpcConnection): Client {
    return {
      put: async (key, value) => {
        await to().call(ETCD_PUT, encodePut(key, value));
      },
      get: async (key, serializable) => {
        const bytes = await to().call(ETCD_RANGE, encodeRange(key, serializable));
        if (decodeRangeValues(bytes).length !== 1) throw new Error('etcd: key not found');
      },
    };
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
