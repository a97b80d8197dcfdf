// What KVService's handlers need of other nodes: forward a request to another node's client port,
// and whether an address is known unreachable. PeerClients (peer-clients.ts) implements it over
// gRPC; the simulator (src/sim/real/kv-port.ts) over its world's network, where the node answering
// at the address runs the same handlers (kv-handlers.ts) with the request marked forwarded.
import type {
  CompareAndSwapRequest,
  CompareAndSwapResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseKeepAliveRequest,
  LeaseKeepAliveResponse,
  LeaseRevokeRequest,
  LeaseRevokeResponse,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  PutRequest,
  PutResponse,
  TxnRequest,
  TxnResponse,
} from '../gen/ringkv/v1/kv.ts';

export type {
  CompareAndSwapRequest,
  CompareAndSwapResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  DeleteRequest,
  DeleteResponse,
  GetRequest,
  GetResponse,
  PutRequest,
  PutResponse,
  TxnRequest,
  TxnResponse,
};

/** KVService's methods whose handlers forward (kv-handlers.ts), with their request and response types. */
export interface KvForwardable {
  readonly put: readonly [PutRequest, PutResponse];
  readonly get: readonly [GetRequest, GetResponse];
  readonly delete: readonly [DeleteRequest, DeleteResponse];
  readonly compareAndSwap: readonly [CompareAndSwapRequest, CompareAndSwapResponse];
  readonly txn: readonly [TxnRequest, TxnResponse];
  readonly deleteRange: readonly [DeleteRangeRequest, DeleteRangeResponse];
  readonly leaseGrant: readonly [LeaseGrantRequest, LeaseGrantResponse];
  readonly leaseRevoke: readonly [LeaseRevokeRequest, LeaseRevokeResponse];
  readonly leaseKeepAlive: readonly [LeaseKeepAliveRequest, LeaseKeepAliveResponse];
  readonly leaseTimeToLive: readonly [LeaseTimeToLiveRequest, LeaseTimeToLiveResponse];
}

export type KvMethod = keyof KvForwardable;

/** After a forward could not connect, the address counts as unreachable (`isUnreachable`) for this long. */
export const UNREACHABLE_MS = 1000;

/**
 * Calls from this node to the others' client ports, for the KV handlers.
 *
 * Contract: `forward` carries `req` to the node answering at `addr`, marked forwarded (that node
 * serves it where it lands and never forwards it again), with `deadlineMs` as the caller's deadline
 * (on the node's clock). It resolves with that node's answer, or rejects with:
 * - a retry-safe UnavailableError (src/node/errors.ts) when nothing happened: no connection could be
 *   made (then `isUnreachable(addr)` holds for UNREACHABLE_MS), or the callee refused with a
 *   retry-safe UNAVAILABLE (for example it lost the shard's leadership meanwhile);
 * - a RemoteStatusError (errors.ts) with the callee's status and ringkv trailers otherwise;
 * - an error that is not retry-safe when the call may have taken effect unanswered (its deadline
 *   passed, the connection was reset).
 * Concurrent calls are independent; nothing orders them.
 */
export interface KvPeers {
  forward<M extends KvMethod>(
    addr: string,
    method: M,
    req: KvForwardable[M][0],
    deadlineMs: number,
  ): Promise<KvForwardable[M][1]>;
  /** Whether a call to `addr` failed to connect within the last UNREACHABLE_MS. */
  isUnreachable(addr: string): boolean;
}
