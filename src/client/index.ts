// Public entry of the client library: import from here, not from the files behind it. The CLI
// (and any tool above the client) reaches the cluster only through what is exported here.
export type {
  ClusterSettings,
  Member,
  ReadShardSnapshotResponse,
  ReplicaStatus,
  RequestLoad,
  ResponseHeader,
  ShardMove,
  ShardPlacement,
  ShardStatus,
  StatusResponse,
  WantedMove,
} from '../gen/ringkv/v1/kv.ts';
export { type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.ts';
export {
  type BytesLike,
  bytesEqual,
  bytesToHex,
  bytesToUtf8,
  HexFormatError,
  hexToBytes,
  isValidUtf8,
  toBytes,
} from './bytes.ts';
export { assertEndpoint, type ClientTls } from './channels.ts';
export {
  type CloseOptions,
  type ClusterSettingsChange,
  DEFAULT_TIMEOUT_MS,
  type MemberStatus,
  RingkvClient,
  type RingkvClientOptions,
  type ShardSnapshotChunkRequest,
  type StatusOptions,
} from './client.ts';
export {
  bestShardReports,
  buildClusterView,
  type ClusterView,
  leaveRefusal,
  type NodeRow,
} from './cluster-view.ts';
export { ElectionHandle } from './election.ts';
export {
  CancelledError,
  ClientClosedError,
  DeadlineExceededError,
  FailedPreconditionError,
  type GrpcCodeName,
  IndeterminateError,
  InvalidArgumentError,
  ResourceExhaustedError,
  RingkvError,
  ServerError,
  UnavailableError,
  type UnavailableReason,
} from './errors.ts';
export type * from './kv-types.ts';
export { isLeaderPlacement, LEADER_PLACEMENTS, type LeaderPlacement } from './leader-placement.ts';
export { type KeepAliveOptions, LeaseKeeper, type LeaseLost } from './lease-keeper.ts';
export { LockHandle, LockLostError, type LockLostReason, type LockOptions } from './lock.ts';
export { LOCK_KEY_PREFIX } from './lock-record.ts';
export { RingkvNamespace } from './namespace.ts';
export { LEADER_ADDR_TRAILER, RETRY_SAFE_TRAILER } from './rpc.ts';
export { type ValueDecoding, ValueFormatError } from './stored-value.ts';
export type { TxnCompare, TxnOperation, TxnOpResult, TxnResult, TxnSpec, VersionCmp } from './txn.ts';
export {
  WatchCompactedError,
  type WatchEventItem,
  type WatchItem,
  type WatchOptions,
  type WatchProgressItem,
} from './watch.ts';
