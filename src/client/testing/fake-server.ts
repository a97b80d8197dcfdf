// An in-memory stand-in for a ringkv cluster, for testing the client and the CLI without the real
// node: N gRPC servers on loopback that share one key-value map, each shard "led" by one of them,
// with failures the test controls (error statuses with or without the retry-safe and leader-hint
// trailers, delays, nodes that are down). It implements the contract of docs/node-contract:
// response headers name the leader; a node that does not lead a key's shard either forwards
// (serves it, as a real node does) or rejects with UNAVAILABLE + retry-safe + leader hint.

import { createServer, type Server as NetServer, type Socket } from 'node:net';
import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type StatusObject,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import {
  ClusterServiceService,
  type CompareAndSwapRequest,
  type CompareAndSwapResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type DeleteResponse,
  type GetResponse,
  KVServiceService,
  type Member,
  type PutResponse,
  type ResponseHeader,
  type ScanRequest,
  type ScanResponse,
  type StatusResponse,
  type TxnOpResult,
  type TxnRequest,
  type TxnResponse,
  VersionCompare_Op,
} from '../../gen/ringkv/v1/kv.ts';
import { HASH_TAG_HASHING, shardOf } from '../../ring/slots.ts';
import { bytesEqual, bytesToHex } from '../bytes.ts';

export type FakeMethod =
  | 'put'
  | 'get'
  | 'delete'
  | 'compareAndSwap'
  | 'txn'
  | 'deleteRange'
  | 'scan'
  | 'status'
  | 'join'
  | 'leave';

/** A failure to answer with, instead of serving a call. */
export interface FakeFault {
  /** Only calls of this method (default: any). */
  readonly method?: FakeMethod;
  readonly code: status;
  readonly details?: string;
  /** Add the `ringkv-retry-safe: 1` trailer. */
  readonly retrySafe?: boolean;
  /** Add a `ringkv-leader-addr` trailer: an address, or 'leader' for the key's shard leader. */
  readonly leaderHint?: string;
  /** How many calls it applies to (default 1). */
  readonly times?: number;
  /** Apply the write before failing (to model a lost answer to a write that did happen). */
  readonly applyFirst?: boolean;
  /**
   * Add the `ringkv-stale-route` trailer: the key's shard at this epoch, its leader as the only
   * voter (as a node holding no replica answers a client routing by an older shard table).
   */
  readonly staleRoute?: { readonly epoch: number };
}

export interface FakeCall {
  readonly node: string;
  readonly method: FakeMethod;
  /** UTF-8 of the key, for keyed calls. */
  readonly key?: string;
  /** True when the node served a key whose shard it does not lead. */
  readonly forwarded?: boolean;
  /** The shard epoch the request carried (keyed calls). */
  readonly shardEpoch?: bigint;
}

interface StoredValue {
  readonly value: Uint8Array;
  readonly version: bigint;
}

export interface FakeClusterOptions {
  readonly nodes?: number;
  readonly shards?: number;
  /** 'forward' (default): serve any key; 'reject': UNAVAILABLE + retry-safe + hint when not leader. */
  readonly notLeader?: 'forward' | 'reject';
  readonly maxKeyBytes?: number;
  /** The nodes' server credentials (default plaintext), e.g. ServerCredentials.createSsl for TLS. */
  readonly credentials?: ServerCredentials;
}

const CALLS_MAX = 100_000;

export class FakeNode {
  readonly nodeId: string;
  port = 0;
  /** Delay before answering every call. */
  delayMs = 0;
  readonly faults: { fault: FakeFault; left: number }[] = [];
  server: Server | undefined;
  /** While hung (FakeCluster.hangNode): the silent listener and the connections it holds. */
  hung: { readonly server: NetServer; readonly sockets: Set<Socket> } | undefined;

  constructor(nodeId: string) {
    this.nodeId = nodeId;
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  get up(): boolean {
    return this.server !== undefined;
  }

  /** Closes the silent listener of hangNode, if any. */
  async unhang(): Promise<void> {
    const h = this.hung;
    if (h === undefined) return;
    this.hung = undefined;
    for (const s of h.sockets) s.destroy();
    await new Promise<void>((resolve) => h.server.close(() => resolve()));
  }

  /** Queues a failure for the next matching call(s). */
  fail(fault: FakeFault): void {
    this.faults.push({ fault, left: fault.times ?? 1 });
  }

  takeFault(method: FakeMethod): FakeFault | undefined {
    const i = this.faults.findIndex((f) => f.fault.method === undefined || f.fault.method === method);
    const entry = this.faults[i];
    if (entry === undefined) return undefined;
    entry.left--;
    if (entry.left <= 0) this.faults.splice(i, 1);
    return entry.fault;
  }
}

export class FakeCluster {
  readonly nodes: FakeNode[];
  readonly shards: number;
  readonly calls: FakeCall[] = [];
  notLeader: 'forward' | 'reject';
  readonly maxKeyBytes: number;
  private readonly credentials: ServerCredentials;
  /** Shard id → index into nodes of its leader; -1: no leader. */
  readonly leaders = new Map<number, number>();
  readonly store = new Map<string, StoredValue>();
  /** Shard id → its epoch, as response headers give it (absent: 0). */
  readonly epochs = new Map<number, bigint>();
  private index = 0n;
  members: Member[] = [];

  private constructor(opts: FakeClusterOptions) {
    const n = opts.nodes ?? 3;
    this.shards = opts.shards ?? 8;
    this.notLeader = opts.notLeader ?? 'forward';
    this.maxKeyBytes = opts.maxKeyBytes ?? 4096;
    this.credentials = opts.credentials ?? ServerCredentials.createInsecure();
    this.nodes = Array.from({ length: n }, (_, i) => new FakeNode(`node${i + 1}`));
    for (let s = 1; s <= this.shards; s++) this.leaders.set(s, (s - 1) % n);
  }

  static async start(opts: FakeClusterOptions = {}): Promise<FakeCluster> {
    const c = new FakeCluster(opts);
    for (const node of c.nodes) await c.startNode(node);
    c.members = c.nodes.map((n) => ({ nodeId: n.nodeId, clientAddr: n.addr, raftAddr: '127.0.0.1:1' }));
    return c;
  }

  node(id: string): FakeNode {
    const n = this.nodes.find((x) => x.nodeId === id);
    if (n === undefined) throw new Error(`no fake node ${id}`);
    return n;
  }

  shardOfKey(key: string | Uint8Array): number {
    return shardOf(
      typeof key === 'string' ? new TextEncoder().encode(key) : key,
      this.shards,
      HASH_TAG_HASHING,
    );
  }

  leaderNodeOf(shardId: number): FakeNode | undefined {
    return this.nodes[this.leaders.get(shardId) ?? -1];
  }

  /** Calls of `method` received by node `nodeId` (all nodes when undefined). */
  callsTo(nodeId: string | undefined, method?: FakeMethod): FakeCall[] {
    return this.calls.filter(
      (c) => (nodeId === undefined || c.node === nodeId) && (method === undefined || c.method === method),
    );
  }

  /** Stops a node's server: connections to it are refused until restartNode. */
  async stopNode(node: FakeNode): Promise<void> {
    const server = node.server;
    node.server = undefined;
    server?.forceShutdown();
    await node.unhang();
  }

  /**
   * Stops a node's server and listens on its port without ever answering, as a stopped (SIGSTOP)
   * process does: the kernel accepts TCP connections, the HTTP/2 handshake never completes.
   * Until restartNode.
   */
  async hangNode(node: FakeNode): Promise<void> {
    await this.stopNode(node);
    const sockets = new Set<Socket>();
    const hung = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      hung.once('error', reject);
      hung.listen(node.port, '127.0.0.1', resolve);
    });
    node.hung = { server: hung, sockets };
  }

  async restartNode(node: FakeNode): Promise<void> {
    await node.unhang();
    if (node.server === undefined) await this.startNode(node);
  }

  async close(): Promise<void> {
    for (const n of this.nodes) await this.stopNode(n);
  }

  private async startNode(node: FakeNode): Promise<void> {
    const server = new Server();
    server.addService(KVServiceService, kvHandlers(this, node));
    server.addService(ClusterServiceService, clusterHandlers(this, node));
    node.port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`127.0.0.1:${node.port}`, this.credentials, (err, port) =>
        err === null ? resolve(port) : reject(err),
      );
    });
    node.server = server;
  }

  nextIndex(): bigint {
    this.index += 1n;
    return this.index;
  }

  header(shardId: number): ResponseHeader {
    const leader = this.leaderNodeOf(shardId);
    return {
      nodeId: leader?.nodeId ?? '',
      shardId,
      term: 1n,
      index: this.index,
      leaderAddr: leader?.addr ?? '',
      shardEpoch: this.epochs.get(shardId) ?? 0n,
    };
  }

  statusFor(node: FakeNode): StatusResponse {
    const ids = this.members.map((m) => m.nodeId);
    const shards = [0, ...Array.from({ length: this.shards }, (_, i) => i + 1)].map((shardId) => ({
      shardId,
      leader: shardId === 0 ? (this.nodes[0]?.nodeId ?? '') : (this.leaderNodeOf(shardId)?.nodeId ?? ''),
      voters: ids,
      learners: [],
      term: 1n,
      commit: this.index,
      applied: this.index,
      replicas: ids.map((nodeId) => ({ nodeId, role: 'voter', match: this.index, lag: 0n })),
      keys: 0n,
      bytes: 0n,
    }));
    return {
      nodeId: node.nodeId,
      clusterId: 'fake-cluster',
      alarms: [],
      members: this.members,
      shards,
      leaderPlacement: 'spread',
      placement: [],
      replicationFactor: 3,
      wantedMoves: [],
      settings: {
        shardCount: this.shards,
        replicationFactor: 3,
        deadNodeTimeoutMs: 300_000n,
        movesInFlightMax: 2,
        hashTags: true,
      },
    };
  }

  record(call: FakeCall): void {
    if (this.calls.length < CALLS_MAX) this.calls.push(call);
  }

  // --- the state machine ---

  put(key: Uint8Array, value: Uint8Array): bigint {
    const version = this.nextIndex();
    this.store.set(bytesToHex(key), { value, version });
    return version;
  }

  get(key: Uint8Array): StoredValue | undefined {
    return this.store.get(bytesToHex(key));
  }

  delete(key: Uint8Array): boolean {
    this.nextIndex();
    return this.store.delete(bytesToHex(key));
  }

  cas(req: CompareAndSwapRequest): boolean {
    const cur = this.get(req.key);
    const e = req.expected;
    const ok =
      e === undefined
        ? false
        : e.$case === 'expectedAbsent'
          ? cur === undefined
          : e.$case === 'expectedVersion'
            ? cur !== undefined && cur.version === e.value
            : cur !== undefined && bytesEqual(cur.value, e.value);
    if (!ok) return false;
    if (req.delete) this.delete(req.key);
    else this.put(req.key, req.value);
    return true;
  }

  /** A transaction, as the real state machine runs it: compares first, then one branch in order. */
  txn(req: TxnRequest): { succeeded: boolean; results: TxnOpResult[] } {
    const succeeded = req.compares.every((c) => {
      const cur = this.get(c.key);
      const t = c.target;
      if (t === undefined) return false;
      if (t.$case === 'exists') return (cur !== undefined) === t.value;
      if (t.$case === 'value') return cur !== undefined && bytesEqual(cur.value, t.value);
      const v = cur?.version ?? 0n;
      const op = t.value.op;
      if (op === VersionCompare_Op.EQUAL) return v === t.value.version;
      if (op === VersionCompare_Op.NOT_EQUAL) return v !== t.value.version;
      if (op === VersionCompare_Op.LESS) return v < t.value.version;
      return v > t.value.version;
    });
    const version = this.nextIndex();
    const results = (succeeded ? req.success : req.failure).map((o): TxnOpResult => {
      const op = o.op;
      if (op?.$case === 'put') {
        const prev = this.get(op.value.key)?.version ?? 0n;
        this.store.set(bytesToHex(op.value.key), { value: op.value.value, version });
        return { result: { $case: 'put', value: { prevVersion: prev } } };
      }
      if (op?.$case === 'delete')
        return { result: { $case: 'delete', value: { deleted: this.store.delete(bytesToHex(op.value)) } } };
      const cur = op === undefined ? undefined : this.get(op.value);
      const found = cur !== undefined;
      return {
        result: {
          $case: 'get',
          value: { found, value: cur?.value ?? new Uint8Array(), version: cur?.version ?? 0n },
        },
      };
    });
    return { succeeded, results };
  }

  /** The keys of shard `req.shard` in the request's range, deleted; how many. */
  deleteRange(req: DeleteRangeRequest): bigint {
    this.nextIndex();
    const range = { ...req, continuation: new Uint8Array(), limit: 0, keysOnly: true, serializable: false };
    let n = 0n;
    for (const hex of [...this.store.keys()]) {
      const key = new Uint8Array(Buffer.from(hex, 'hex'));
      if (this.shardOfKey(key) === req.shard && inScanRange(key, range)) {
        this.store.delete(hex);
        n++;
      }
    }
    return n;
  }

  scan(req: ScanRequest): ScanResponse {
    const rows = [...this.store.entries()]
      .map(([hex, v]) => ({
        key: new Uint8Array(Buffer.from(hex, 'hex')),
        value: v.value,
        version: v.version,
      }))
      .filter((r) => inScanRange(r.key, req))
      .filter((r) => req.continuation.length === 0 || Buffer.compare(r.key, req.continuation) > 0)
      .sort((a, b) => Buffer.compare(a.key, b.key));
    const limit = req.limit === 0 ? 1000 : req.limit;
    const items = rows.slice(0, limit).map((r) => (req.keysOnly ? { ...r, value: new Uint8Array() } : r));
    const last = items[items.length - 1];
    const continuation = rows.length > limit && last !== undefined ? last.key : new Uint8Array();
    return { items, continuation, header: this.header(0) };
  }
}

/** As the server reads a scan: the range [start, end) when either is given, else the keys with the prefix. */
function inScanRange(key: Uint8Array, req: ScanRequest): boolean {
  const k = Buffer.from(key);
  if (req.start.length === 0 && req.end.length === 0)
    return k.subarray(0, req.prefix.length).equals(req.prefix);
  return Buffer.compare(k, req.start) >= 0 && (req.end.length === 0 || Buffer.compare(k, req.end) < 0);
}

type Handler<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

function errorStatus(c: FakeCluster, fault: FakeFault, shardId: number | undefined): Partial<StatusObject> {
  const metadata = new Metadata();
  if (fault.retrySafe === true) metadata.set('ringkv-retry-safe', '1');
  const hint =
    fault.leaderHint === 'leader' && shardId !== undefined ? c.leaderNodeOf(shardId)?.addr : fault.leaderHint;
  if (hint !== undefined) metadata.set('ringkv-leader-addr', hint);
  const leader = shardId === undefined ? undefined : c.leaderNodeOf(shardId);
  if (fault.staleRoute !== undefined && shardId !== undefined && leader !== undefined) {
    const route = { shard: shardId, epoch: fault.staleRoute.epoch, voters: [leader.addr] };
    metadata.set('ringkv-stale-route', JSON.stringify(route));
  }
  return { code: fault.code, details: fault.details ?? `injected ${status[fault.code]}`, metadata };
}

/**
 * Wraps a keyed handler with what every fake call does: record it, wait the node's delay, apply an
 * injected fault, validate the key, and enforce 'reject' mode for keys the node does not lead.
 */
function keyed<Req extends { key: Uint8Array; shardEpoch?: bigint }, Res>(
  c: FakeCluster,
  node: FakeNode,
  method: FakeMethod,
  serve: (req: Req, shardId: number) => Res,
): Handler<Req, Res> {
  return keyedBy(
    c,
    node,
    method,
    serve,
    (req) => req.key,
    (req) => c.shardOfKey(req.key),
  );
}

/** As `keyed`, for a request that names its key (for the record and the checks) and shard otherwise. */
function keyedBy<Req extends { shardEpoch?: bigint }, Res>(
  c: FakeCluster,
  node: FakeNode,
  method: FakeMethod,
  serve: (req: Req, shardId: number) => Res,
  keyOf: (req: Req) => Uint8Array,
  shardOfReq: (req: Req) => number,
): Handler<Req, Res> {
  return (call, callback) => {
    const req = { ...call.request, key: keyOf(call.request) };
    const shardId = shardOfReq(call.request);
    const leader = c.leaderNodeOf(shardId);
    const forwarded = leader !== node;
    c.record({
      node: node.nodeId,
      method,
      key: new TextDecoder().decode(req.key),
      forwarded,
      ...(req.shardEpoch === undefined ? {} : { shardEpoch: req.shardEpoch }),
    });
    setTimeout(() => {
      const fault = node.takeFault(method);
      if (fault !== undefined) {
        if (fault.applyFirst === true) serve(req, shardId);
        callback(errorStatus(c, fault, shardId));
      } else if (req.key.length === 0) {
        callback({ code: status.INVALID_ARGUMENT, details: 'key is empty' });
      } else if (req.key.length > c.maxKeyBytes) {
        callback({
          code: status.INVALID_ARGUMENT,
          details: `key is ${req.key.length} bytes, over the limit of ${c.maxKeyBytes}`,
        });
      } else if (forwarded && c.notLeader === 'reject') {
        callback(
          errorStatus(
            c,
            { code: status.UNAVAILABLE, details: 'not the leader', retrySafe: true, leaderHint: 'leader' },
            shardId,
          ),
        );
      } else if (leader === undefined) {
        callback(
          errorStatus(
            c,
            { code: status.UNAVAILABLE, details: `shard ${shardId} has no leader`, retrySafe: true },
            shardId,
          ),
        );
      } else {
        callback(null, serve(req, shardId));
      }
    }, node.delayMs);
  };
}

function unkeyed<Req, Res>(
  c: FakeCluster,
  node: FakeNode,
  method: FakeMethod,
  serve: (req: Req) => Res,
): Handler<Req, Res> {
  return (call, callback) => {
    c.record({ node: node.nodeId, method });
    setTimeout(() => {
      const fault = node.takeFault(method);
      if (fault !== undefined) callback(errorStatus(c, fault, undefined));
      else callback(null, serve(call.request));
    }, node.delayMs);
  };
}

function kvHandlers(c: FakeCluster, node: FakeNode) {
  return {
    put: keyed(c, node, 'put', (req: { key: Uint8Array; value: Uint8Array }, shardId): PutResponse => {
      const version = c.put(req.key, req.value);
      return { header: c.header(shardId), version };
    }),
    get: keyed(c, node, 'get', (req: { key: Uint8Array }, shardId): GetResponse => {
      const v = c.get(req.key);
      return {
        found: v !== undefined,
        value: v?.value ?? new Uint8Array(),
        version: v?.version ?? 0n,
        header: c.header(shardId),
      };
    }),
    delete: keyed(
      c,
      node,
      'delete',
      (req: { key: Uint8Array }, shardId): DeleteResponse => ({
        deleted: c.delete(req.key),
        header: c.header(shardId),
      }),
    ),
    compareAndSwap: keyed(
      c,
      node,
      'compareAndSwap',
      (req: CompareAndSwapRequest, shardId): CompareAndSwapResponse => {
        const succeeded = c.cas(req);
        const v = c.get(req.key);
        return {
          succeeded,
          found: v !== undefined,
          value: v?.value ?? new Uint8Array(),
          version: v?.version ?? 0n,
          header: c.header(shardId),
        };
      },
    ),
    // Keyed by the transaction's first key (the client checks that all share its shard).
    txn: keyedBy(
      c,
      node,
      'txn',
      (req: TxnRequest, shardId): TxnResponse => ({ ...c.txn(req), header: c.header(shardId) }),
      (req) => firstTxnKey(req),
      (req) => c.shardOfKey(firstTxnKey(req)),
    ),
    // Keyed by its shard: recorded with its prefix, or its start, as the key.
    deleteRange: keyedBy(
      c,
      node,
      'deleteRange',
      (req: DeleteRangeRequest, shardId): DeleteRangeResponse => ({
        deleted: c.deleteRange(req),
        header: c.header(shardId),
      }),
      (req) => (req.prefix.length > 0 ? req.prefix : req.start.length > 0 ? req.start : req.end),
      (req) => req.shard,
    ),
    scan: unkeyed(c, node, 'scan', (req: ScanRequest) => c.scan(req)),
  };
}

function firstTxnKey(req: TxnRequest): Uint8Array {
  const op = [...req.success, ...req.failure][0]?.op;
  return (
    req.compares[0]?.key ??
    (op === undefined ? new Uint8Array() : op.$case === 'put' ? op.value.key : op.value)
  );
}

function clusterHandlers(c: FakeCluster, node: FakeNode) {
  return {
    status: unkeyed(c, node, 'status', () => c.statusFor(node)),
    join: unkeyed(c, node, 'join', (req: { member: Member | undefined }) => {
      const m = req.member;
      if (m !== undefined && !c.members.some((x) => x.nodeId === m.nodeId)) c.members = [...c.members, m];
      return { members: c.members, clusterId: 'fake-cluster' };
    }),
    leave: unkeyed(c, node, 'leave', (req: { nodeId: string }) => {
      c.members = c.members.filter((m) => m.nodeId !== req.nodeId);
      return { members: c.members };
    }),
  };
}
