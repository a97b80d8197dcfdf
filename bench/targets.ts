// The two systems under test behind one interface, both over the same minimal gRPC client.
// ringkv: requests go straight to the leader of the key's shard (learned from ClusterService.Status,
// refreshed before each run): the fair equivalent of etcd's client talking to its leader.
// etcd: every request goes to the leader (found with the Maintenance Status RPC).
import {
  GetRequest,
  GetResponse,
  PutRequest,
  StatusRequest,
  StatusResponse,
} from '../src/gen/ringkv/v1/kv.ts';
import { shardOf } from '../src/ring/slots.ts';
import {
  decodeRangeValues,
  decodeStatus,
  ETCD_PUT,
  ETCD_RANGE,
  ETCD_STATUS,
  encodePut,
  encodeRange,
} from './etcd-proto.ts';
import { GrpcConnection } from './grpc-client.ts';

export interface Target {
  readonly name: string;
  put(key: Uint8Array, value: Uint8Array): Promise<void>;
  /** Reads a key; throws if it is absent (the benchmark reads only keys it wrote). */
  get(key: Uint8Array, serializable: boolean): Promise<void>;
  /** Learns the current leader(s) again (before each run: leaderships may have moved). */
  refresh(): Promise<void>;
  close(): void;
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

  constructor(endpoints: readonly string[], name = 'ringkv') {
    if (endpoints.length === 0) throw new Error('ringkv: no endpoints');
    this.endpoints = endpoints;
    this.name = name;
  }

  private conn(addr: string): GrpcConnection {
    let c = this.conns.get(addr);
    if (c === undefined) {
      c = new GrpcConnection(addr);
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
    const addrOf = new Map(st.members.map((m) => [m.nodeId, m.clientAddr]));
    const data = st.shards.filter((s) => s.shardId !== 0);
    const routes: GrpcConnection[] = [];
    for (const s of data) {
      const addr = addrOf.get(s.leader);
      if (addr === undefined) throw new Error(`ringkv: shard ${s.shardId} has no known leader`);
      routes[s.shardId] = this.conn(addr);
    }
    this.shardCount = data.length;
    this.routes = routes;
  }

  private route(key: Uint8Array): GrpcConnection {
    const c = this.routes[shardOf(key, this.shardCount)];
    if (c === undefined) throw new Error('ringkv: call refresh() before sending requests');
    return c;
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.route(key).call(RINGKV_PUT, PutRequest.encode({ key, value }).finish());
  }

  async get(key: Uint8Array, serializable: boolean): Promise<void> {
    const bytes = await this.route(key).call(RINGKV_GET, GetRequest.encode({ key, serializable }).finish());
    if (!GetResponse.decode(bytes).found) throw new Error('ringkv: key not found');
  }

  close(): void {
    for (const c of this.conns.values()) c.close();
  }
}

export class EtcdTarget implements Target {
  readonly name: string = 'etcd';
  private readonly conns: GrpcConnection[];
  private leader: GrpcConnection | undefined;

  constructor(endpoints: readonly string[]) {
    if (endpoints.length === 0) throw new Error('etcd: no endpoints');
    this.conns = endpoints.map((e) => new GrpcConnection(e));
  }

  async refresh(): Promise<void> {
    for (const c of this.conns) {
      try {
        const st = decodeStatus(await c.call(ETCD_STATUS, new Uint8Array(0), 3000));
        if (st.leader !== 0n && st.leader === st.memberId) {
          this.leader = c;
          return;
        }
      } catch {
        // try the next member
      }
    }
    throw new Error('etcd: no member says it is the leader');
  }

  private to(): GrpcConnection {
    if (this.leader === undefined) throw new Error('etcd: call refresh() before sending requests');
    return this.leader;
  }

  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.to().call(ETCD_PUT, encodePut(key, value));
  }

  async get(key: Uint8Array, serializable: boolean): Promise<void> {
    const bytes = await this.to().call(ETCD_RANGE, encodeRange(key, serializable));
    if (decodeRangeValues(bytes).length !== 1) throw new Error('etcd: key not found');
  }

  close(): void {
    for (const c of this.conns) c.close();
  }
}
