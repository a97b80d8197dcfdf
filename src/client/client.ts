// RingkvClient: the public face of the client library. Each method builds a CallSpec (what to
// send, how it may be retried, which shard it concerns) and hands it to the attempt loop.
import type {
  ClusterSettings,
  CompareAndSwapRequest,
  DeleteRangeRequest,
  Member,
  ReadShardSnapshotResponse,
  ResponseHeader,
  ScanRequest,
  StatusResponse,
} from '../gen/ringkv/v1/kv.ts';
import { hashedPart } from '../ring/slots.ts';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './backoff.ts';
import { type BytesLike, toBytes } from './bytes.ts';
import { type CallSpec, type LoopContext, runCall } from './call-loop.ts';
import { ChannelPool, type ClientTls, clientCredentials } from './channels.ts';
import { type ElectionHandle, elect } from './election.ts';
import { ClientClosedError, InvalidArgumentError, ServerError, UnavailableError } from './errors.ts';
import { InFlightCalls } from './in-flight.ts';
import type {
  CallOptions,
  CasExpected,
  CasResult,
  DeleteRangeResult,
  DeleteRangeSpec,
  DeleteResult,
  GetResult,
  KeyValueStore,
  LeaseGrantOptions,
  LeaseGrantResult,
  LeaseTimeToLiveResult,
  PutOptions,
  PutResult,
  ReadOptions,
  ScanAllOptions,
  ScanItem,
  ScanOptions,
  ScanResult,
} from './kv-types.ts';
import { isLeaderPlacement, LEADER_PLACEMENTS, type LeaderPlacement } from './leader-placement.ts';
import { type KeepAliveOptions, LeaseKeeper, leaseIdOf, leaseShard } from './lease-keeper.ts';
import { holderOf, type LockHandle, type LockOptions, lock } from './lock.ts';
import { RingkvNamespace } from './namespace.ts';
import { type Safety, shortConnectError } from './retry-policy.ts';
import { callUnary, RpcFailure } from './rpc.ts';
import { scanAll } from './scan-all.ts';
import { withDecoding } from './stored-value.ts';
import { Topology } from './topology.ts';
import { TopologyRefresher } from './topology-refresher.ts';
import {
  fromTxnResults,
  oneShard,
  type TxnResult,
  type TxnSpec,
  toTxnRequest,
  txnRequestKeys,
} from './txn.ts';
import { type WatchItem, type WatchOptions, watch } from './watch.ts';

export const DEFAULT_TIMEOUT_MS = 5000;

export interface RingkvClientOptions {
  /** host:port of one or more nodes' client ports; the rest of the cluster is learned from Status. */
  readonly endpoints: readonly string[];
  /** Deadline of a call that does not set its own. Default 5000. */
  readonly defaultTimeoutMs?: number;
  /** Backoff between retries. Default 25 ms doubling to 1000 ms, with jitter. */
  readonly backoff?: BackoffPolicy;
  /** Source of jitter, in [0, 1). Default Math.random. */
  readonly random?: () => number;
  /**
   * Give up before the deadline once every endpoint has refused connections for this long
   * (a CLI wants "no node is running" quickly). Default: keep trying until the deadline.
   */
  readonly unreachableGiveUpMs?: number;
  /**
   * Send each request straight to its shard's leader (default). When false, only the configured
   * endpoints are used and they forward to the leader: useful to test a particular node.
   */
  readonly routeToLeaders?: boolean;
  /** TLS towards the nodes (see ClientTls); default plaintext. */
  readonly tls?: ClientTls;
  /**
   * Called with one line per attempt of a call (its target and why it was chosen, how long it
   * took, how it ended) and per shard-map refresh: where a call's time went (the CLI's --debug).
   */
  readonly trace?: (line: string) => void;
}

export interface CloseOptions {
  /** Most time to wait for the calls in flight before closing the channels under them. Default: no bound but theirs. */
  readonly timeoutMs?: number;
}

/** Settings to change with `configure` (each one given). */
export interface ClusterSettingsChange {
  readonly replicationFactor?: number;
  readonly deadNodeTimeoutMs?: number;
  readonly movesInFlightMax?: number;
}

export interface StatusOptions extends CallOptions {
  /** Ask exactly this node (host:port), with no failover. */
  readonly endpoint?: string;
}

/** One call of a shard snapshot's read (see readShardSnapshot). */
export interface ShardSnapshotChunkRequest {
  /** The data shard, 1-based. */
  readonly shard: number;
  /** Absent: take a new snapshot; else the session of an earlier chunk. */
  readonly session?: string;
  readonly offset?: bigint;
  /** Most bytes in the chunk (absent or 0: the server's default, 1 MiB; at most 4 MiB). */
  readonly maxBytes?: number;
  /** The node asked (no failover: the session lives there). */
  readonly endpoint: string;
}

/** A member's own Status, or why it could not be had. */
export type MemberStatus =
  | { readonly member: Member; readonly status: StatusResponse }
  | { readonly member: Member; readonly error: Error };

export class RingkvClient implements KeyValueStore {
  private readonly pool: ChannelPool;
  private readonly topology: Topology;
  private readonly defaultTimeoutMs: number;
  private readonly ctx: LoopContext;
  private readonly refresher: TopologyRefresher;
  private readonly inFlight = new InFlightCalls();
  /** Set when close() is first called: from then on new calls are refused. */
  private closing: Promise<void> | undefined;
  /** The channels are closed. */
  private shut = false;

  constructor(options: RingkvClientOptions) {
    this.pool = new ChannelPool(clientCredentials(options.tls));
    this.topology = new Topology(options.endpoints);
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(this.defaultTimeoutMs > 0))
      throw new RangeError(`defaultTimeoutMs must be > 0, got ${this.defaultTimeoutMs}`);
    const routeToLeaders = options.routeToLeaders ?? true;
    this.refresher = new TopologyRefresher(this.pool, this.topology, routeToLeaders, options.trace);
    this.ctx = {
      pool: this.pool,
      topology: this.topology,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      random: options.random ?? Math.random,
      unreachableGiveUpMs: options.unreachableGiveUpMs,
      routeToLeaders,
      requestRefresh: () => this.refresher.request(),
      trace: options.trace,
    };
  }

  /** The configured endpoints. */
  get endpoints(): readonly string[] {
    return this.topology.seeds;
  }

  async put(key: BytesLike, value: BytesLike, opts: PutOptions = {}): Promise<PutResult> {
    const k = toBytes(key);
    const lease = opts.lease === undefined ? 0n : leaseIdOf(opts.lease);
    const request = { key: k, value: toBytes(value), lease };
    const res = await this.keyed(`put ${show(k)}`, 'write', k, opts, (s, d, sig) =>
      callUnary(s.kv.put.bind(s.kv), { ...request, shardEpoch: this.epochFor(k) }, s.endpoint, d, sig),
    );
    return { version: res.version, header: res.header };
  }

  /**
   * Grants a lease of `ttlSeconds` (1 to 30 days) in the shard of `opts.key` (or `opts.shard`, default
   * 1): keys put with it are deleted when no keep-alive reaches the shard's leader within the TTL.
   */
  async leaseGrant(ttlSeconds: number, opts: LeaseGrantOptions = {}): Promise<LeaseGrantResult> {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1)
      throw new InvalidArgumentError(`a lease's TTL is a whole number of seconds >= 1, not ${ttlSeconds}`);
    const key = opts.key === undefined ? new Uint8Array(0) : toBytes(opts.key);
    const shard = opts.shard ?? 1;
    const request = { ttlSeconds, key, shard: key.byteLength > 0 ? 0 : shard };
    const res = await this.leaseCall(
      `lease grant ${ttlSeconds}s`,
      'write',
      opts,
      (s, d, sig) => callUnary(s.kv.leaseGrant.bind(s.kv), request, s.endpoint, d, sig),
      () => (key.byteLength > 0 ? this.topology.shardFor(key) : shard),
    );
    return { id: res.id, ttlSeconds: res.ttlSeconds };
  }

  /** Revokes a lease, deleting its keys; `found` false when it did not exist. */
  async leaseRevoke(
    id: bigint | string,
    opts: CallOptions = {},
  ): Promise<{ found: boolean; deleted: bigint }> {
    const lease = leaseIdOf(id);
    const res = await this.leaseCall(
      `lease revoke ${lease}`,
      'idempotent',
      opts,
      (s, d, sig) => callUnary(s.kv.leaseRevoke.bind(s.kv), { id: lease }, s.endpoint, d, sig),
      () => leaseShard(lease),
    );
    return { found: res.found, deleted: res.deleted };
  }

  /** Renews a lease once (its deadline becomes now + TTL at its shard's leader); fails NOT_FOUND when it is gone. */
  async leaseKeepAlive(id: bigint | string, opts: CallOptions = {}): Promise<{ ttlSeconds: number }> {
    const lease = leaseIdOf(id);
    const res = await this.leaseCall(
      `lease keep-alive ${lease}`,
      'idempotent',
      opts,
      (s, d, sig) => callUnary(s.kv.leaseKeepAlive.bind(s.kv), { id: lease }, s.endpoint, d, sig),
      () => leaseShard(lease),
    );
    return { ttlSeconds: res.ttlSeconds };
  }

  /** A lease's TTL and time left as its shard's leader sees it (and its keys with `keys: true`). */
  async leaseTimeToLive(
    id: bigint | string,
    opts: CallOptions & { readonly keys?: boolean } = {},
  ): Promise<LeaseTimeToLiveResult> {
    const lease = leaseIdOf(id);
    const request = { id: lease, keys: opts.keys === true };
    const res = await this.leaseCall(
      `lease ttl ${lease}`,
      'read',
      opts,
      (s, d, sig) => callUnary(s.kv.leaseTimeToLive.bind(s.kv), request, s.endpoint, d, sig),
      () => leaseShard(lease),
    );
    return {
      found: res.found,
      ttlSeconds: res.ttlSeconds,
      remainingMs: Number(res.remainingMs),
      keys: res.keys,
    };
  }

  /**
   * Keeps a lease alive in the background (a keep-alive every TTL/3) until `stop()`; `lost` settles
   * when the lease can no longer be trusted (see lease-keeper.ts).
   */
  keepAlive(id: bigint | string, opts: KeepAliveOptions = {}): LeaseKeeper {
    return new LeaseKeeper(this, leaseIdOf(id), opts);
  }

  /**
   * Takes lock `name` (waiting while another holds it) under a lease of `ttlMs`; the handle's
   * `token` (fencing) is higher for every later holder, `lost` settles when it is gone (lock.ts).
   */
  lock(name: string, opts: LockOptions = {}): Promise<LockHandle> {
    return lock(this, name, opts);
  }

  /** Campaigns for election `name` with `value` (a lock whose key holds the leader's value). */
  elect(name: string, value: BytesLike, opts: LockOptions = {}): Promise<ElectionHandle> {
    return elect(this, name, value, opts);
  }

  /** The current leader of election `name` (or holder of lock `name`): its value and the key's version. */
  leader(name: string, opts: CallOptions = {}): Promise<{ value: Uint8Array; version: bigint } | undefined> {
    return holderOf(this, name, opts);
  }

  private leaseCall<Res extends { header?: ResponseHeader | undefined }>(
    operation: string,
    safety: Safety,
    opts: CallOptions,
    send: CallSpec<Res>['send'],
    shard: () => number | undefined,
  ): Promise<Res> {
    return this.run(
      { operation, safety, shardId: shard, send, learn: (r) => this.topology.learnHeader(r.header) },
      opts,
      true,
    );
  }

  async get(key: BytesLike, opts: ReadOptions = {}): Promise<GetResult> {
    const k = toBytes(key);
    const request = { key: k, serializable: opts.serializable ?? false };
    const res = await this.keyed(`get ${show(k)}`, 'read', k, opts, (s, d, sig) =>
      callUnary(s.kv.get.bind(s.kv), { ...request, shardEpoch: this.epochFor(k) }, s.endpoint, d, sig),
    );
    if (!res.found) return { found: false };
    return withDecoding({ found: true, value: res.value, version: res.version } as const, {
      key: k,
      value: res.value,
    });
  }

  async delete(key: BytesLike, opts: CallOptions = {}): Promise<DeleteResult> {
    const k = toBytes(key);
    const res = await this.keyed(`delete ${show(k)}`, 'write', k, opts, (s, d, sig) =>
      callUnary(s.kv.delete.bind(s.kv), { key: k, shardEpoch: this.epochFor(k) }, s.endpoint, d, sig),
    );
    return { deleted: res.deleted };
  }

  /** Sets `key` to `value` (or deletes it when `value` is null) only if it matches `expected`. */
  async compareAndSwap(
    key: BytesLike,
    expected: CasExpected,
    value: BytesLike | null,
    opts: CallOptions = {},
  ): Promise<CasResult> {
    const k = toBytes(key);
    const request: Omit<CompareAndSwapRequest, 'shardEpoch'> = {
      key: k,
      expected: toExpected(expected),
      value: value === null ? new Uint8Array() : toBytes(value),
      delete: value === null,
    };
    const res = await this.keyed(`compare-and-swap ${show(k)}`, 'write', k, opts, (s, d, sig) =>
      callUnary(
        s.kv.compareAndSwap.bind(s.kv),
        { ...request, shardEpoch: this.epochFor(k) },
        s.endpoint,
        d,
        sig,
      ),
    );
    const result = { succeeded: res.succeeded, found: res.found, value: res.value, version: res.version };
    return withDecoding(result, res.found ? { key: k, value: res.value } : { key: k, absent: true });
  }

  /**
   * Compares, then the success operations (every compare holds) or the failure ones, as one atomic
   * step of one shard: `client.txn({ compares: [{ key: '{u1}:n', version: 3n, cmp: '=' }], success:
   * [{ put: '{u1}:n', value: '4' }], failure: [{ get: '{u1}:n' }] })`. Every key must live in one
   * shard (give them one `{tag}`): keys of several shards throw FailedPreconditionError naming them,
   * before anything is sent when the client knows the cluster's key hashing, else from the server.
   * A write: never retried once it may have been applied (IndeterminateError), like compareAndSwap.
   */
  async txn(spec: TxnSpec, opts: CallOptions = {}): Promise<TxnResult> {
    const request = toTxnRequest(spec);
    const keys = txnRequestKeys(request);
    const first = keys[0];
    if (first === undefined)
      throw new InvalidArgumentError(
        'txn: the transaction names no key: give at least one compare or operation',
      );
    if (this.topology.keyHashing === undefined && this.ctx.routeToLeaders)
      await this.refresher.refreshNow(
        Math.min((opts.timeoutMs ?? this.defaultTimeoutMs) / 2, 1000),
        opts.signal,
      );
    oneShard(keys, (k) => this.topology.shardFor(k));
    const res = await this.keyed(`txn on ${show(first)}`, 'write', first, opts, (s, d, sig) =>
      callUnary(s.kv.txn.bind(s.kv), { ...request, shardEpoch: this.epochFor(first) }, s.endpoint, d, sig),
    );
    return {
      succeeded: res.succeeded,
      results: fromTxnResults(request, res.succeeded, res.results),
      header: res.header,
    };
  }

  /**
   * Deletes the keys with a prefix, or in [start, end), one shard after another: each shard's part
   * is one atomic step of that shard, the whole range is not (a reader may see some shards done and
   * others not). A prefix that holds a whole `{tag}` (`{user1}:`) names keys of one shard only: that
   * shard alone is asked, and the delete is atomic (`atomic: true`). Returns the keys deleted, in
   * all and per shard. Each shard's call has its own deadline (`timeoutMs`). A write: a shard whose
   * answer was lost throws IndeterminateError, and the shards before it are done; deleting the
   * range again is safe (it deletes what is left).
   */
  async deleteRange(range: DeleteRangeSpec, opts: CallOptions = {}): Promise<DeleteRangeResult> {
    const base = toDeleteRange(range);
    if (this.closing !== undefined) throw this.refusal('delete range');
    // One call in flight for close(): it waits for every shard's part.
    return this.inFlight.track(this.deleteRangeShards(base, opts));
  }

  private async deleteRangeShards(
    base: Omit<DeleteRangeRequest, 'shard' | 'shardEpoch'>,
    opts: CallOptions,
  ): Promise<DeleteRangeResult> {
    if (this.topology.shardCount === undefined)
      await this.refresher.refreshNow(
        Math.min((opts.timeoutMs ?? this.defaultTimeoutMs) / 2, 1000),
        opts.signal,
      );
    const shardCount = this.topology.shardCount;
    if (shardCount === undefined)
      throw new UnavailableError(
        'delete range: no node told this client the shard count; nothing was deleted',
        'unreachable',
        this.endpoints,
      );
    const shards: { shard: number; deleted: bigint }[] = [];
    let deleted = 0n;
    const only = this.tagShard(base.prefix);
    for (let shard = only ?? 1; shard <= (only ?? shardCount); shard++) {
      const request = { ...base, shard };
      const res = await this.run(
        {
          operation: `delete range ${show(base.prefix.length > 0 ? base.prefix : base.start)} in shard ${shard}`,
          safety: 'write',
          shardId: () => shard,
          send: (s, d, sig) =>
            callUnary(
              s.kv.deleteRange.bind(s.kv),
              { ...request, shardEpoch: this.topology.epochOf(shard) },
              s.endpoint,
              d,
              sig,
            ),
          learn: (r) => this.topology.learnHeader(r.header),
        },
        opts,
        true,
        true, // part of the range delete that close() waits for
      );
      shards.push({ shard, deleted: res.deleted });
      deleted += res.deleted;
    }
    return { deleted, shards, atomic: only !== undefined };
  }

  /**
   * The one shard of every key that starts with `prefix`, when the prefix holds a whole `{tag}` and
   * the cluster hashes tags (every such key has that tag); else undefined.
   */
  private tagShard(prefix: Uint8Array): number | undefined {
    if (prefix.length === 0 || this.topology.keyHashing?.hashTags !== true) return undefined;
    const { start, end } = hashedPart(prefix);
    const tagged = start > 0 && end < prefix.length; // the } is in the prefix, after at least one byte
    return tagged ? this.topology.shardFor(prefix) : undefined;
  }

  /** One page of keys in order; the node that answers gathers them from every shard. */
  async scan(opts: ScanOptions = {}): Promise<ScanResult> {
    const request = toScanRequest(opts);
    const res = await this.run(
      {
        operation: `scan ${show(request.prefix)}`,
        safety: 'read',
        shardId: () => undefined,
        send: (s, d, sig) => callUnary(s.kv.scan.bind(s.kv), request, s.endpoint, d, sig),
        learn: (r) => this.topology.learnHeader(r.header),
      },
      opts,
    );
    const items = res.items.map((i) =>
      withDecoding({ key: i.key, value: i.value, version: i.version }, { key: i.key, value: i.value }),
    );
    return { items, continuation: res.continuation.length === 0 ? undefined : res.continuation };
  }

  /**
   * Every item of the range, in key order, following the scan's pages to the end (or to `limit`
   * items in all): `for await (const item of client.scanAll({ prefix }))`. One page in memory at a
   * time; each page is one call with its own deadline; `signal` ends the iteration.
   */
  scanAll(opts: ScanAllOptions = {}): AsyncIterable<ScanItem> {
    return scanAll((o) => this.scan(o), opts);
  }

  /**
   * The changes of `key` (or, with `{ prefix: true }`, of every key starting with it) as they are
   * committed: `for await (const e of client.watch('app/', { prefix: true }))`. One stream per
   * shard (a key's: one), each resumed from its last position + 1 after any failure (a node or
   * leader lost), so that no change is missed or repeated; `from` starts at a past position of
   * each shard (its log index). Leaving the loop cancels the streams. See watch.ts.
   */
  watch(key: BytesLike, opts: WatchOptions = {}): AsyncIterable<WatchItem> {
    if (this.shut) throw this.refusal('watch');
    return watch(
      {
        endpoints: () => this.topology.candidates(),
        stubs: (e) => this.pool.get(e),
        shardCount: async () => {
          if (this.topology.shardCount === undefined) await this.status();
          const n = this.topology.shardCount;
          if (n === undefined)
            throw new UnavailableError(
              'watch: the cluster named no shards',
              'no-quorum',
              this.topology.seeds,
            );
          return n;
        },
        closed: () => (this.shut ? this.refusal('watch') : undefined),
        shardOf: async (k) => {
          if (this.topology.shardFor(k) === undefined) await this.status();
          const shard = this.topology.shardFor(k);
          if (shard === undefined)
            throw new UnavailableError(
              'watch: the cluster named no shards',
              'no-quorum',
              this.topology.seeds,
            );
          return shard;
        },
      },
      toBytes(key),
      opts,
    );
  }

  /**
   * The key methods with every key under `prefix`: `client.namespace('app/').put('k', v)` writes
   * `app/k`, and its scans see only keys starting `app/`, returned without it.
   */
  namespace(prefix: BytesLike): RingkvNamespace {
    return new RingkvNamespace(this, prefix);
  }

  /**
   * One chunk of a data shard's whole state, from one node's replica (for backups): the first call
   * (no session) takes the snapshot at a linearizable point of the shard, and later calls pass its
   * session and the next offset. Idempotent (nothing changes), so retried on retry-safe failures; a
   * node that holds no replica of the shard answers UnavailableError.
   */
  async readShardSnapshot(
    req: ShardSnapshotChunkRequest,
    opts: CallOptions = {},
  ): Promise<ReadShardSnapshotResponse> {
    const request = {
      shard: req.shard,
      session: req.session ?? '',
      offset: req.offset ?? 0n,
      maxBytes: req.maxBytes ?? 0,
    };
    return this.run(
      {
        operation: `snapshot of shard ${req.shard} from ${req.endpoint}`,
        safety: 'idempotent',
        shardId: () => undefined,
        endpoint: req.endpoint,
        send: (s, d, sig) => callUnary(s.kv.readShardSnapshot.bind(s.kv), request, s.endpoint, d, sig),
        learn: () => {},
      },
      opts,
    );
  }

  /** The cluster as one node sees it (any node, or `opts.endpoint`). */
  status(opts: StatusOptions = {}): Promise<StatusResponse> {
    return this.statusCall(opts, false);
  }

  /** status(); `admitted`: part of a call already in flight (statusOfEveryMember), so not refused while closing. */
  private statusCall(opts: StatusOptions, admitted: boolean): Promise<StatusResponse> {
    return this.run(
      {
        operation: opts.endpoint === undefined ? 'status' : `status of ${opts.endpoint}`,
        safety: 'read',
        shardId: () => undefined,
        ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
        send: (s, d, sig) => callUnary(s.cluster.status.bind(s.cluster), {}, s.endpoint, d, sig),
        learn: (r) => this.topology.learnStatus(r),
      },
      opts,
      false,
      admitted,
    );
  }

  /**
   * Every member's own Status, for a per-node view; members that fail carry the error. The
   * configured endpoints are asked at once and the first answer names the members, who are then
   * asked too (all in parallel), so a hung or stopped node costs at most `memberTimeoutMs`
   * (default: the call's timeout), not one timeout per node. When no configured endpoint answers
   * within that, the member list comes from status() with the rest of the call's timeout.
   */
  statusOfEveryMember(
    opts: CallOptions & { readonly memberTimeoutMs?: number } = {},
  ): Promise<{ cluster: StatusResponse; members: MemberStatus[] }> {
    if (this.closing !== undefined) return Promise.reject(this.refusal('status of every member'));
    return this.inFlight.track(this.gatherStatuses(opts));
  }

  private async gatherStatuses(
    opts: CallOptions & { readonly memberTimeoutMs?: number },
  ): Promise<{ cluster: StatusResponse; members: MemberStatus[] }> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    const deadlineMs = Date.now() + timeoutMs;
    const memberTimeoutMs = Math.min(timeoutMs, opts.memberTimeoutMs ?? timeoutMs);
    // Invariant: at most one Status call per distinct endpoint (seeds and members, both bounded).
    const asked = new Map<string, Promise<StatusResponse>>();
    const ask = (endpoint: string): Promise<StatusResponse> => {
      let p = asked.get(endpoint);
      if (p === undefined) {
        p = this.statusCall({ ...opts, timeoutMs: memberTimeoutMs, endpoint }, true);
        p.catch(() => {}); // awaited below, or deliberately ignored (a seed that is not a member)
        asked.set(endpoint, p);
      }
      return p;
    };
    let cluster: StatusResponse;
    try {
      cluster = await Promise.any(this.topology.seeds.map(ask));
    } catch (e) {
      const errors = e instanceof AggregateError ? e.errors : [e];
      const refused = errors.every((x) => x instanceof UnavailableError && x.reason === 'unreachable');
      if (refused && errors[0] instanceof UnavailableError) {
        if (errors.length === 1) throw errors[0];
        const seeds = this.topology.seeds;
        const why = errors.map((x) => (x instanceof UnavailableError ? reasonOf(x) : String(x))).join('; ');
        throw new UnavailableError(`cannot reach any of ${seeds.join(', ')} (${why})`, 'unreachable', seeds, {
          cause: errors[0],
        });
      }
      cluster = await this.statusCall({ ...opts, timeoutMs: Math.max(1, deadlineMs - Date.now()) }, true);
    }
    const members = await Promise.all(
      cluster.members.map(async (member): Promise<MemberStatus> => {
        try {
          const status = await ask(member.clientAddr);
          // An answer from another cluster (a stranger at a member's address) is never merged in.
          if (status.clusterId !== '' && cluster.clusterId !== '' && status.clusterId !== cluster.clusterId) {
            const why = `${member.clientAddr} answers for cluster ${status.clusterId}, not ${cluster.clusterId}`;
            return { member, error: new Error(why) };
          }
          return { member, status };
        } catch (error) {
          return { member, error: error instanceof Error ? error : new Error(String(error)) };
        }
      }),
    );
    return { cluster, members };
  }

  /** Adds a member (idempotent for the same id and addresses, so retried on UNAVAILABLE). */
  async join(member: Member, opts: CallOptions = {}): Promise<{ members: Member[]; clusterId: string }> {
    const res = await this.cluster(`join ${member.nodeId}`, 'idempotent', opts, (s, d, sig) =>
      callUnary(s.cluster.join.bind(s.cluster), { member }, s.endpoint, d, sig),
    );
    this.refresher.request();
    return { members: res.members, clusterId: res.clusterId };
  }

  /** Removes a member, after its leaderships have moved away (idempotent, so retried). */
  async leave(nodeId: string, opts: CallOptions = {}): Promise<{ members: Member[] }> {
    const res = await this.cluster(`leave ${nodeId}`, 'idempotent', opts, (s, d, sig) =>
      callUnary(s.cluster.leave.bind(s.cluster), { nodeId }, s.endpoint, d, sig),
    );
    this.refresher.request();
    return { members: res.members };
  }

  /**
   * Sets where the shards' leaders go, cluster-wide: 'spread' or 'pack' (idempotent, so retried).
   * Returns once the cluster has recorded it; the leaderships move over the next few seconds.
   */
  async setLeaderPlacement(
    placement: LeaderPlacement,
    opts: CallOptions = {},
  ): Promise<{ placement: LeaderPlacement }> {
    if (!isLeaderPlacement(placement)) {
      throw new RangeError(`leader placement must be ${LEADER_PLACEMENTS.join(' or ')}, got '${placement}'`);
    }
    const res = await this.cluster(`leader placement ${placement}`, 'idempotent', opts, (s, d, sig) =>
      callUnary(s.cluster.setLeaderPlacement.bind(s.cluster), { placement }, s.endpoint, d, sig),
    );
    if (!isLeaderPlacement(res.placement)) {
      throw new ServerError(`leader placement: the cluster answered '${res.placement}', not ${placement}`);
    }
    return { placement: res.placement };
  }

  /**
   * Changes the cluster's settings given (idempotent, so retried): R, the dead-node timeout, the
   * moves in flight at once. Returns the settings as the cluster then holds them; replicas move over
   * the following seconds or minutes when R changed (`status().wantedMoves`).
   */
  async configure(change: ClusterSettingsChange, opts: CallOptions = {}): Promise<ClusterSettings> {
    const request = {
      ...(change.replicationFactor === undefined ? {} : { replicationFactor: change.replicationFactor }),
      ...(change.deadNodeTimeoutMs === undefined
        ? {}
        : { deadNodeTimeoutMs: BigInt(change.deadNodeTimeoutMs) }),
      ...(change.movesInFlightMax === undefined ? {} : { movesInFlightMax: change.movesInFlightMax }),
    };
    const res = await this.cluster('configure', 'idempotent', opts, (s, d, sig) =>
      callUnary(s.cluster.configure.bind(s.cluster), request, s.endpoint, d, sig),
    );
    if (res.settings === undefined) throw new Error('configure: the cluster answered without its settings');
    return res.settings;
  }

  /**
   * Closes the client: new calls are refused at once (ClientClosedError); the calls in flight go on
   * until they settle (each within its deadline), then every channel is closed and the promise
   * resolves. `timeoutMs` bounds that wait: past it, the channels are closed under the calls still
   * in flight (a write among them ends IndeterminateError); 0 closes them now. With nothing in
   * flight the channels are closed before close() returns, so a caller need not await it. Never
   * rejects. Idempotent; a later call with a shorter `timeoutMs` still takes effect.
   */
  close(opts: CloseOptions = {}): Promise<void> {
    const waitMs = opts.timeoutMs ?? Number.POSITIVE_INFINITY;
    if (!(waitMs >= 0)) throw new RangeError(`close timeoutMs must be >= 0, got ${waitMs}`);
    if (waitMs === 0 || this.inFlight.size === 0) this.shutDown();
    if (this.closing === undefined) {
      this.closing = this.inFlight.settled(waitMs).then(() => this.shutDown());
    } else if (waitMs !== Number.POSITIVE_INFINITY) {
      void this.inFlight.settled(waitMs).then(() => this.shutDown());
    }
    return this.closing;
  }

  /** Closes the channels (cancelling what is still in flight on them). Idempotent. */
  private shutDown(): void {
    if (this.shut) return;
    this.shut = true;
    this.refresher.close();
    this.pool.close();
  }

  private refusal(operation: string): ClientClosedError {
    return new ClientClosedError(`RingkvClient: ${operation} after close(): the client is closed`);
  }

  /**
   * The epoch of the key's shard in the cached table, sent with each attempt (an attempt after a
   * stale-route answer carries the epoch that answer taught).
   */
  private epochFor(key: Uint8Array): bigint {
    return this.topology.epochOf(this.topology.shardFor(key));
  }

  private keyed<Res extends { header?: ResponseHeader | undefined }>(
    operation: string,
    safety: Safety,
    key: Uint8Array,
    opts: CallOptions,
    send: CallSpec<Res>['send'],
  ): Promise<Res> {
    return this.run(
      {
        operation,
        safety,
        shardId: () => this.topology.shardFor(key),
        send,
        learn: (r) => this.topology.learnHeader(r.header),
      },
      opts,
      true,
    );
  }

  private cluster<Res>(
    operation: string,
    safety: Safety,
    opts: CallOptions,
    send: CallSpec<Res>['send'],
  ): Promise<Res> {
    return this.run({ operation, safety, shardId: () => undefined, send, learn: () => {} }, opts);
  }

  /**
   * Runs one call, tracked until it settles (close() waits for it). Refused once close() began,
   * unless `admitted`: part of a call already in flight.
   */
  private run<Res>(
    spec: CallSpec<Res>,
    opts: CallOptions,
    needsShardMap = false,
    admitted = false,
  ): Promise<Res> {
    if (this.closing !== undefined && !admitted) return Promise.reject(this.refusal(spec.operation));
    return this.inFlight.track(this.attempt(spec, opts, needsShardMap));
  }

  private async attempt<Res>(spec: CallSpec<Res>, opts: CallOptions, needsShardMap: boolean): Promise<Res> {
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    // The call's deadline counts from here: the shard-map refresh below is part of it.
    const deadlineMs = Date.now() + timeoutMs;
    if (needsShardMap && this.ctx.routeToLeaders && this.topology.shardCount === undefined) {
      // First keyed call: learn the shard map so that it goes straight to the leader. Bounded,
      // and failure is fine (any node forwards).
      await this.refresher.refreshNow(Math.min(timeoutMs / 2, 1000), opts.signal);
    }
    return runCall(this.ctx, spec, timeoutMs, opts.signal, deadlineMs);
  }
}

function toExpected(e: CasExpected): CompareAndSwapRequest['expected'] {
  if ('absent' in e) return { $case: 'expectedAbsent', value: true };
  if ('version' in e) return { $case: 'expectedVersion', value: e.version };
  return { $case: 'expectedValue', value: toBytes(e.value) };
}

function toDeleteRange(r: DeleteRangeSpec): Omit<DeleteRangeRequest, 'shard' | 'shardEpoch'> {
  const empty = new Uint8Array();
  if ('prefix' in r) {
    const prefix = toBytes(r.prefix);
    if (prefix.length === 0)
      throw new InvalidArgumentError('delete range: the prefix is empty: it would delete every key; refused');
    return { prefix, start: empty, end: empty };
  }
  const start = toBytes(r.start);
  const end = toBytes(r.end ?? '');
  if (start.length === 0 && end.length === 0)
    throw new InvalidArgumentError(
      'delete range: give a start or an end; an empty range would delete every key',
    );
  return { prefix: empty, start, end };
}

function toScanRequest(o: ScanOptions): ScanRequest {
  const limit = o.limit ?? 0;
  if (!(Number.isInteger(limit) && limit >= 0 && limit <= 0xffffffff)) {
    throw new RangeError(`scan limit must be an integer >= 0, got ${limit}`);
  }
  const shard = o.shard ?? 0;
  if (!(Number.isInteger(shard) && shard >= 0 && shard <= 0xffffffff)) {
    throw new RangeError(`scan shard must be an integer >= 1, got ${shard}`);
  }
  return {
    prefix: toBytes(o.prefix ?? ''),
    start: toBytes(o.start ?? ''),
    end: toBytes(o.end ?? ''),
    limit,
    continuation: o.continuation ?? new Uint8Array(),
    keysOnly: o.keysOnly ?? false,
    serializable: o.serializable ?? false,
    shard,
  };
}

/** "host:port: connect ECONNREFUSED …" for an endpoint that could not be reached. */
function reasonOf(e: UnavailableError): string {
  const cause = e.cause;
  if (!(cause instanceof RpcFailure)) return e.message;
  return `${cause.endpoint}: ${shortConnectError(cause.details)}`;
}

/** A key for messages: quoted text, cut short when long. */
function show(key: Uint8Array): string {
  const text = JSON.stringify(new TextDecoder().decode(key.subarray(0, 64)));
  return key.length > 64 ? `${text}…` : text;
}
