// ReadShardSnapshot: one data shard's whole state, for a backup (`ringkv snapshot save`). The first
// call takes the shard's state-machine snapshot (the bytes a Raft snapshot of it holds) on this node's
// own replica at a linearizable point — after a ReadIndex round, once the replica has applied up to
// the read index — and keeps it in a session; that call and the ones after it return it in chunks.
// The client pulls one chunk per call, so it sets the pace (flow control by request), and a chunk is
// bounded by `max_bytes` (never a whole shard in one message).
//
// Sessions are bounded in number and in idle time: a client that goes away holds a snapshot for at
// most SESSION_IDLE_MS, and at most SESSIONS_MAX snapshots are held at once (a new one beyond that is
// refused with RESOURCE_EXHAUSTED, retry-safe). The last chunk ends the session.
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ReadShardSnapshotRequest, ReadShardSnapshotResponse } from '../gen/ringkv/v1/kv.ts';
import { assert } from '../node/assert.ts';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  ResourceExhaustedError,
  UnavailableError,
} from '../node/errors.ts';
import { read } from '../node/requests.ts';
import type { ServerContext } from './context.ts';
import { header } from './routing.ts';

export const CHUNK_BYTES_DEFAULT = 1024 * 1024;
export const CHUNK_BYTES_MAX = 4 * 1024 * 1024;
/** Snapshots held at once on a node (each is one shard's whole state in memory). */
export const SESSIONS_MAX = 4;
/** A session not asked for its next chunk within this is forgotten. */
export const SESSION_IDLE_MS = 60_000;

interface Session {
  readonly shard: number;
  readonly data: Uint8Array;
  readonly appliedIndex: number;
  readonly term: number;
  readonly crc32: number;
  readonly keys: number;
  lastUsedMs: number;
}

/** The snapshots held for backups on one node, by session id. */
export class ShardSnapshotSessions {
  /** Invariant: size <= SESSIONS_MAX; every session idle for less than SESSION_IDLE_MS (checked on use). */
  private readonly sessions = new Map<string, Session>();
  private readonly nowMs: () => number;

  constructor(nowMs: () => number = Date.now) {
    this.nowMs = nowMs;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Forgets the sessions idle for SESSION_IDLE_MS or more. */
  private expire(): void {
    const now = this.nowMs();
    for (const [id, s] of this.sessions) if (now - s.lastUsedMs >= SESSION_IDLE_MS) this.sessions.delete(id);
  }

  /** Room for one more session, or RESOURCE_EXHAUSTED. Call before taking the snapshot. */
  checkRoom(): void {
    this.expire();
    if (this.sessions.size >= SESSIONS_MAX) {
      throw new ResourceExhaustedError(
        `this node already holds ${SESSIONS_MAX} shard snapshots for backups; retry when one of them is done (at most ${SESSION_IDLE_MS / 1000} s)`,
      );
    }
  }

  open(s: Omit<Session, 'lastUsedMs'>): string {
    this.checkRoom();
    const id = randomBytes(12).toString('hex');
    this.sessions.set(id, { ...s, lastUsedMs: this.nowMs() });
    assert(
      this.sessions.size <= SESSIONS_MAX,
      `${this.sessions.size} snapshot sessions, max ${SESSIONS_MAX}`,
    );
    return id;
  }

  /**
   * The chunk [offset, offset + maxBytes) of a session's snapshot. Any offset up to its end may be
   * asked for (a chunk whose answer was lost is asked again); the chunk that ends at the end of the
   * snapshot ends the session.
   */
  chunk(id: string, shard: number, offset: number, maxBytes: number): { session: Session; data: Uint8Array } {
    this.expire();
    const s = this.sessions.get(id);
    if (s === undefined || s.shard !== shard) {
      throw new FailedPreconditionError(
        `no snapshot session ${id} of shard ${shard} on this node (it ended, was idle for ${SESSION_IDLE_MS / 1000} s, or the node restarted): start the shard over without a session`,
      );
    }
    if (!(Number.isSafeInteger(offset) && offset >= 0 && offset <= s.data.byteLength)) {
      throw new InvalidArgumentError(
        `snapshot session ${id}: offset ${offset} is outside the snapshot's ${s.data.byteLength} bytes`,
      );
    }
    assert(maxBytes > 0, `chunk of ${maxBytes} bytes`);
    const end = Math.min(s.data.byteLength, offset + maxBytes);
    const data = s.data.subarray(offset, end);
    s.lastUsedMs = this.nowMs();
    if (end === s.data.byteLength) this.sessions.delete(id);
    return { session: s, data };
  }
}

/** The handler, over the node's sessions. Never forwarded: the session lives on the node that took it. */
export async function readShardSnapshot(
  ctx: ServerContext,
  sessions: ShardSnapshotSessions,
  req: ReadShardSnapshotRequest,
  deadlineMs: number,
): Promise<ReadShardSnapshotResponse> {
  const { node } = ctx;
  if (req.shard < 1 || req.shard > node.shardCount)
    throw new InvalidArgumentError(`shard ${req.shard}: the cluster has shards 1 to ${node.shardCount}`);
  if (req.maxBytes > CHUNK_BYTES_MAX)
    throw new InvalidArgumentError(`max_bytes ${req.maxBytes} is above the maximum of ${CHUNK_BYTES_MAX}`);
  const maxBytes = req.maxBytes === 0 ? CHUNK_BYTES_DEFAULT : req.maxBytes;
  const offset = Number(req.offset);
  let id = req.session;
  if (id === '') {
    if (offset !== 0)
      throw new InvalidArgumentError(`a new snapshot session starts at offset 0, not ${offset}`);
    id = await openSession(ctx, sessions, req.shard, deadlineMs);
  }
  const { session, data } = sessions.chunk(id, req.shard, offset, maxBytes);
  return {
    session: id,
    appliedIndex: BigInt(session.appliedIndex),
    totalBytes: BigInt(session.data.byteLength),
    crc32: session.crc32,
    keys: BigInt(session.keys),
    offset: BigInt(offset),
    data,
    header: header(node, req.shard, session.term, session.appliedIndex),
  };
}

/** Takes the shard's snapshot on this node's replica at a linearizable point and holds it. */
async function openSession(
  ctx: ServerContext,
  sessions: ShardSnapshotSessions,
  shard: number,
  deadlineMs: number,
): Promise<string> {
  const { node } = ctx;
  try {
    node.group(shard);
  } catch {
    throw new UnavailableError(
      `this node holds no replica of shard ${shard}: ask one of its voters (ringkv shard list)`,
      { retrySafe: true },
    );
  }
  sessions.checkRoom();
  // The snapshot is serialised when the read is served: at the read index, applied here (r.index is
  // the group's applied index then; the state's own index may be lower, as in a Raft snapshot, when
  // the last entries changed no key).
  const r = await read(node, shard, false, deadlineMs, (m) => ({ data: m.snapshot(), keys: m.state.count }));
  const { data, keys } = r.value;
  return sessions.open({ shard, data, appliedIndex: r.index, term: r.term, crc32: crc32(data), keys });
}
