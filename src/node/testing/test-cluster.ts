// In-process test nodes: each is a real KvNode (its start, tick, peer-message handling, driver and
// requests), with its WAL in a temporary directory behind a WalGate (NodeOptions.fileSystem), so that a
// test can hold one node's writes; the nodes talk over a MemoryNetwork that can partition them.
//
// Every data shard starts with the same voters: before the node first starts, an initial snapshot
// at index 1 is saved to the snapshot store for each shard, its marker synced to the WAL, and the
// identity file says 'joined', so KvNode.start() recovers the shards as on a restart. No join, no
// bootstrap, and a metadata group without configuration (hosted, as on a joiner the leader has not
// reached yet: it never campaigns): the tests here are about one data shard's replicas.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { initialSnapshot } from '../../raft/index.ts';
import type { NodeId } from '../../raft/types.ts';
import { nodeId } from '../../raft/types.ts';
import { REAL_FILE_SYSTEM } from '../../storage/real-file-system.ts';
import { SnapshotStore } from '../../storage/snapshots.ts';
import { Wal } from '../../storage/wal.ts';
import type { MemoryNetwork, MemoryTransport } from '../../transport/memory-transport.ts';
import { readIdentity, writeIdentity } from '../identity.ts';
import { groupId as toGroupId } from '../ids.ts';
import type { GroupView } from '../intents.ts';
import { KvNode } from '../node.ts';
import type { ClusterRpc } from '../options.ts';
import { WalGate } from './wal-gate.ts';

/** Small segments: preallocating the default 64 MiB per node would dominate a test's run time. */
const WAL_SEGMENT_BYTES = 256 * 1024;
const WAIT_POLL_MS = 5;
const NODES_MAX = 9;
const CLUSTER_ID = 'test-cluster';

export interface TestClusterOptions {
  readonly nodeIds: readonly string[];
  /** Data shards hosted by every node: groups 1..shardCount. */
  readonly shardCount?: number;
  readonly tickMs: number;
  readonly electionTick: number;
  readonly heartbeatTick?: number;
  /** The planted bug of `serve --unsafe_no_read_index` (to show a test catches it). */
  readonly unsafeNoReadIndex?: boolean;
}

/** Test nodes never join or answer Status: every shard starts with all of them as voters. */
const NO_CLUSTER_RPC: ClusterRpc = {
  join: () => Promise.reject(new Error('test nodes do not join: their groups start with every voter')),
  status: () => Promise.reject(new Error('test nodes serve no Status')),
};

export class TestNode {
  readonly id: NodeId;
  readonly walGate: WalGate;
  /** The node: pass it to requests.ts (read, write). */
  readonly kv: KvNode;
  readonly transport: MemoryTransport;
  /** What the node reported as fatal (a WAL failure, a broken invariant): a test expects none. */
  readonly fatalErrors: unknown[] = [];
  private closed: Promise<void> | undefined;

  private constructor(id: NodeId, walGate: WalGate, kv: KvNode, transport: MemoryTransport) {
    this.id = id;
    this.walGate = walGate;
    this.kv = kv;
    this.transport = transport;
    kv.onFatal((e) => this.fatalErrors.push(e));
  }

  /** Opens (initialising if empty) the node in `dir` and starts it: transport, ticks, driver. */
  static async start(
    network: MemoryNetwork,
    id: NodeId,
    dir: string,
    voters: readonly NodeId[],
    o: TestClusterOptions,
  ): Promise<TestNode> {
    const shardCount = o.shardCount ?? 1;
    await initialise(dir, id, voters, shardCount);
    const transport = network.createTransport(id);
    for (const v of voters) if (v !== id) transport.setPeerAddress(v, `memory://${v}`);
    const walGate = new WalGate();
    const logger: Logger = pino({ level: process.env['RINGKV_TEST_LOG'] ?? 'silent', base: { node: id } });
    const kv = new KvNode({
      nodeId: id,
      raftDir: dir,
      clientAddr: `test://${id}`,
      raftAddr: transport.address,
      bootstrap: false,
      joinAddr: undefined,
      transport,
      cluster: NO_CLUSTER_RPC,
      logger,
      shardCount,
      tickMs: o.tickMs,
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick ?? 1,
      balanceIntervalMs: 0,
      walSegmentBytes: WAL_SEGMENT_BYTES,
      fileSystem: walGate,
      unsafeNoReadIndex: o.unsafeNoReadIndex ?? false,
    });
    const node = new TestNode(id, walGate, kv, transport);
    try {
      await kv.start();
    } catch (e) {
      await kv.close().catch(() => {});
      throw e;
    }
    return node;
  }

  /** A live view of one of the node's groups. */
  group(groupId: number): GroupView {
    return this.kv.group(groupId);
  }

  /** Releases the WAL gate (a held gate would keep the last turn, and the WAL's close, waiting for ever), then closes the node. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.walGate.release();
      await this.kv.close();
    })();
    return this.closed;
  }
}

/**
 * Gives every data shard missing from the WAL its initial configuration (snapshot file, then marker,
 * synced), then writes the identity file if there is none (last: it marks the directory complete).
 */
async function initialise(
  dir: string,
  id: NodeId,
  voters: readonly NodeId[],
  shardCount: number,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const { wal, recovered } = await Wal.open({
    dir: join(dir, 'wal'),
    segmentBytes: WAL_SEGMENT_BYTES,
    fs: REAL_FILE_SYSTEM,
  });
  try {
    const snapshots = await SnapshotStore.open(join(dir, 'snap'), REAL_FILE_SYSTEM);
    const snap = initialSnapshot(voters);
    const { index, term } = snap.metadata;
    let written = 0;
    for (let g = 1; g <= shardCount; g++) {
      if (recovered.has(g)) continue;
      await snapshots.save(g, snap);
      wal.appendSnapshotMarker(g, index, term, true);
      written++;
    }
    if (written > 0) await wal.sync();
  } finally {
    await wal.close();
  }
  if ((await readIdentity(REAL_FILE_SYSTEM, dir)) === undefined) {
    await writeIdentity(REAL_FILE_SYSTEM, dir, {
      version: 1,
      nodeId: id,
      clusterId: CLUSTER_ID,
      shardCount,
      state: 'joined',
    });
  }
}

/** Nodes on one MemoryNetwork, each in its own directory under one temporary root. */
export class TestCluster {
  readonly network: MemoryNetwork;
  readonly nodes: readonly TestNode[];
  private readonly root: string;

  private constructor(network: MemoryNetwork, nodes: readonly TestNode[], root: string) {
    this.network = network;
    this.nodes = nodes;
    this.root = root;
  }

  static async start(network: MemoryNetwork, o: TestClusterOptions): Promise<TestCluster> {
    if (o.nodeIds.length < 1 || o.nodeIds.length > NODES_MAX) {
      throw new Error(`TestCluster: ${o.nodeIds.length} nodes, expected 1 to ${NODES_MAX}`);
    }
    const root = await mkdtemp(join(tmpdir(), 'ringkv-node-test-'));
    const voters = o.nodeIds.map(nodeId);
    const nodes: TestNode[] = [];
    try {
      for (const id of voters) nodes.push(await TestNode.start(network, id, join(root, id), voters, o));
    } catch (e) {
      await new TestCluster(network, nodes, root).close();
      throw e;
    }
    return new TestCluster(network, nodes, root);
  }

  node(id: string): TestNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined)
      throw new Error(`no test node '${id}' (nodes: ${this.nodes.map((x) => x.id).join(', ')})`);
    return n;
  }

  /** Makes `id` campaign in `groupId` (again every `retryMs` while it loses) until it leads, or throws. */
  async elect(id: string, groupId: number, timeoutMs: number, retryMs = 500): Promise<TestNode> {
    const n = this.node(id);
    const g = n.group(groupId);
    const deadlineMs = Date.now() + timeoutMs;
    // Bounded by the deadline: each pass campaigns once and waits up to retryMs.
    while (!g.isLeader() && Date.now() < deadlineMs) {
      n.kv.campaign(toGroupId(groupId));
      const passEndMs = Math.min(Date.now() + retryMs, deadlineMs);
      while (!g.isLeader() && Date.now() < passEndMs) await sleep(WAIT_POLL_MS);
    }
    if (!g.isLeader()) {
      throw new Error(
        `${id} did not become leader of group ${groupId} within ${timeoutMs} ms (role ${g.role}, term ${g.term}, leader '${g.leader}')`,
      );
    }
    return n;
  }

  /** Waits until one of `among` leads `groupId` (as that node sees it), and returns it. */
  async leaderAmong(among: readonly string[], groupId: number, timeoutMs: number): Promise<TestNode> {
    const nodes = among.map((id) => this.node(id));
    const find = (): TestNode | undefined => nodes.find((n) => n.group(groupId).isLeader());
    await waitUntil(
      () => find() !== undefined,
      timeoutMs,
      `a leader of group ${groupId} among ${among.join(', ')}`,
    );
    return find()!;
  }

  /** Closes every node (releasing their WAL gates) and removes the directories. */
  async close(): Promise<void> {
    try {
      await Promise.all(this.nodes.map((n) => n.close()));
    } finally {
      await rm(this.root, { recursive: true, force: true });
    }
  }
}

/** Polls `cond` every few ms until it holds; rejects after `timeoutMs`, naming `what`. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadlineMs = Date.now() + timeoutMs;
  // Bounded by the deadline.
  while (!cond()) {
    if (Date.now() >= deadlineMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(WAIT_POLL_MS);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
