// A small promise-based gRPC client for the node's own tests (the real client is src/client).
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import {
  ClusterServiceClient,
  type CompareAndSwapRequest,
  type CompareAndSwapResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type GetResponse,
  KVServiceClient,
  type PutResponse,
  type ScanRequest,
  type ScanResponse,
  type StatusResponse,
  type TxnRequest,
  type TxnResponse,
} from '../gen/ringkv/v1/kv.ts';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

type Cb<Res> = (err: ServiceError | null, res: Res) => void;

export class TestClient {
  readonly kv: KVServiceClient;
  readonly cluster: ClusterServiceClient;

  constructor(addr: string) {
    this.kv = new KVServiceClient(addr, credentials.createInsecure());
    this.cluster = new ClusterServiceClient(addr, credentials.createInsecure());
  }

  private call<Req, Res>(
    client: object,
    fn: (r: Req, md: Metadata, o: { deadline: number }, cb: Cb<Res>) => unknown,
    req: Req,
    timeoutMs: number,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      fn.call(client, req, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err === null ? resolve(res) : reject(err),
      );
    });
  }

  put(key: string | Uint8Array, value: string | Uint8Array, timeoutMs = 10_000): Promise<PutResponse> {
    const k = typeof key === 'string' ? enc(key) : key;
    const v = typeof value === 'string' ? enc(value) : value;
    return this.call(this.kv, this.kv.put, { key: k, value: v, shardEpoch: 0n, lease: 0n }, timeoutMs);
  }

  get(key: string | Uint8Array, serializable = false, timeoutMs = 10_000): Promise<GetResponse> {
    const k = typeof key === 'string' ? enc(key) : key;
    return this.call(this.kv, this.kv.get, { key: k, serializable, shardEpoch: 0n }, timeoutMs);
  }

  del(key: string, timeoutMs = 10_000) {
    return this.call(this.kv, this.kv.delete, { key: enc(key), shardEpoch: 0n }, timeoutMs);
  }

  cas(req: CompareAndSwapRequest, timeoutMs = 10_000): Promise<CompareAndSwapResponse> {
    return this.call(this.kv, this.kv.compareAndSwap, req, timeoutMs);
  }

  txn(req: Partial<TxnRequest>, timeoutMs = 10_000): Promise<TxnResponse> {
    const full: TxnRequest = { compares: [], success: [], failure: [], shardEpoch: 0n, ...req };
    return this.call(this.kv, this.kv.txn, full, timeoutMs);
  }

  deleteRange(req: Partial<DeleteRangeRequest>, timeoutMs = 10_000): Promise<DeleteRangeResponse> {
    const full: DeleteRangeRequest = {
      prefix: new Uint8Array(0),
      start: new Uint8Array(0),
      end: new Uint8Array(0),
      shard: 0,
      shardEpoch: 0n,
      ...req,
    };
    return this.call(this.kv, this.kv.deleteRange, full, timeoutMs);
  }

  scan(req: Partial<ScanRequest>, timeoutMs = 10_000): Promise<ScanResponse> {
    const full: ScanRequest = {
      prefix: new Uint8Array(0),
      start: new Uint8Array(0),
      end: new Uint8Array(0),
      limit: 0,
      continuation: new Uint8Array(0),
      keysOnly: false,
      serializable: false,
      shard: 0,
      ...req,
    };
    return this.call(this.kv, this.kv.scan, full, timeoutMs);
  }

  status(timeoutMs = 5000): Promise<StatusResponse> {
    return this.call(this.cluster, this.cluster.status, {}, timeoutMs);
  }

  join(member: { nodeId: string; clientAddr: string; raftAddr: string }, timeoutMs = 30_000) {
    return this.call(this.cluster, this.cluster.join, { member }, timeoutMs);
  }

  leave(nodeId: string, timeoutMs = 30_000) {
    return this.call(this.cluster, this.cluster.leave, { nodeId }, timeoutMs);
  }

  setLeaderPlacement(placement: string, timeoutMs = 10_000) {
    return this.call(this.cluster, this.cluster.setLeaderPlacement, { placement }, timeoutMs);
  }

  close(): void {
    this.kv.close();
    this.cluster.close();
  }
}
