// KVService: Put, Get, Delete and CompareAndSwap (kv-handlers.ts), Txn (txn.ts), DeleteRange
// (delete-range.ts), the leases (lease.ts), Scan (scan.ts) and ReadShardSnapshot (shard-snapshot.ts), bound to the
// server's context.
import { type KvHandlers, type ServerContext, unary } from './context.ts';
import { deleteRange } from './delete-range.ts';
import { cas, del, get, put } from './kv-handlers.ts';
import { leaseGrant, leaseKeepAlive, leaseRevoke, leaseTimeToLive } from './lease.ts';
import { scan } from './scan.ts';
import { readShardSnapshot, ShardSnapshotSessions } from './shard-snapshot.ts';
import { txn } from './txn.ts';

export function kvService(ctx: ServerContext): KvHandlers {
  const sessions = new ShardSnapshotSessions();
  return {
    put: unary(ctx, put),
    get: unary(ctx, get),
    delete: unary(ctx, del),
    compareAndSwap: unary(ctx, cas),
    txn: unary(ctx, txn),
    deleteRange: unary(ctx, deleteRange),
    scan: unary(ctx, scan),
    readShardSnapshot: unary(ctx, (c, req, deadlineMs) => readShardSnapshot(c, sessions, req, deadlineMs)),
    leaseGrant: unary(ctx, leaseGrant),
    leaseRevoke: unary(ctx, leaseRevoke),
    leaseKeepAlive: unary(ctx, leaseKeepAlive),
    leaseTimeToLive: unary(ctx, leaseTimeToLive),
  };
}
