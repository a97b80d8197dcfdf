// In-process test nodes built from the node's real parts: each has its own WAL in a temporary
// directory (behind a WalGate, so a test can hold its writes), a snapshot store, the Driver, and
// data-shard Groups over KvMachine; the nodes talk over a MemoryNetwork that can partition them.
//
// Why not KvNode.start(): it opens its WAL with the real disk I/O and no seam, so a test could not
// hold one node's writes. The parts here are the ones KvNode wires (driver.ts, group.ts,
// recovery.ts), wired the same way: the tick and the peer-message handler below do what KvNode's
// do (except creating a group on first contact, which only a joining node needs). Requests go through requests.ts with a KvNode (never started) whose driver is this node's, so
// reads and writes take exactly the path the server calls.
//
// Every group starts with the same voters: an initial snapshot at index 1 saved to the snapshot
// store, its marker synced to the WAL, then recovered by recoverGroup as on a restart. No join, no
// metadata group (group 0 is not hosted): the tests here are about one data shard's replicas.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { initialSnapshot } from '../../raft/index.ts';
import type { NodeId } from '../../raft/types.ts';
import { nodeId } from '../../raft/types.ts';
import { SnapshotStore } from '../../storage/snapshots.ts';
import { type RecoveredGroup, Wal } from '../../storage/wal.ts';
import type { MemoryNetwork, MemoryTransport } from '../../transport/memory-transport.ts';
import { Driver } from '../driver.ts';
import { UnavailableError } from '../errors.ts';
import { Group } from '../group.ts';
import { KvMachine } from '../kv-machine.ts';
import { KvNode } from '../node.ts';
import type { ClusterRpc } from '../options.ts';
import { recoverGroup } from '../recovery.ts';
import { WalGate } from './wal-gate.ts';

/** As node.ts: a ReadIndex round unanswered for this many ticks is started again. */
const READ_RETRY_TICKS = 5;
/** Small segments: preallocating the default 64 MiB per node would dominate a test's run time. */
const WAL_SEGMENT_BYTES = 256 * 1024;
const WAIT_POLL_MS = 5;
const NODES_MAX = 9;

export interface TestClusterOptions {
  readonly nodeIds: readonly string[];
  /** Data shards hosted by every node: groups 1..shardCount. */
  readonly shardCount?: number;
  readonly tickMs: number;
  readonly electionTick: number;
  readonly heartbeatTick?: number;
}

/** Test nodes never join or answer Status: every group starts with all of them as voters. */
const NO_CLUSTER_RPC: ClusterRpc = {
  join: () => Promise.reject(new Error('test nodes do not join: their groups start with every voter')),
  status: () => Promise.reject(new Error('test nodes serve no Status')),
};

export class TestNode {
  readonly id: NodeId;
  readonly walGate: WalGate;
  /** Pass this to requests.ts (read, write): its driver is this node's. */
  readonly kv: KvNode;
  readonly driver: Driver;
  readonly transport: MemoryTransport;
  /** What the driver reported as fatal (a WAL failure, a broken invariant): a test expects none. */
  readonly fatalErrors: unknown[] = [];
  private readonly wal: Wal;
  private readonly tickMs: number;
  private tickTimer: NodeJS.Timeout | undefined;
  private closed: Promise<void> | undefined;

  private constructor(parts: {
    id: NodeId;
    walGate: WalGate;
    kv: KvNode;
    transport: MemoryTransport;
    wal: Wal;
    snapshots: SnapshotStore;
    logger: Logger;
  }) {
    this.id = parts.id;
    this.walGate = parts.walGate;
    this.kv = parts.kv;
    this.transport = parts.transport;
    this.wal = parts.wal;
    this.tickMs = parts.kv.opts.tickMs;
    this.driver = new Driver({
      wal: parts.wal,
      snapshots: parts.snapshots,
      transport: this.transport,
      logger: parts.logger,
      snapshotEveryEntries: parts.kv.opts.snapshotEveryEntries,
      retainEntries: parts.kv.opts.retainEntries,
      walSegmentsKept: parts.kv.opts.walSegmentsKept,
      onFatal: (e) => this.fatalErrors.push(e),
      afterTurn: () => {},
    });
    parts.kv.driver = this.driver;
  }

  /** Opens (bootstrapping if empty) the node in `dir` and starts its transport and ticks. */
  static async start(
    network: MemoryNetwork,
    id: NodeId,
    dir: string,
    voters: readonly NodeId[],
    o: TestClusterOptions,
  ): Promise<TestNode> {
    const shardCount = o.shardCount ?? 1;
    const logger: Logger = pino({ level: process.env['RINGKV_TEST_LOG'] ?? 'silent', base: { node: id } });
    const walGate = new WalGate();
    const { wal, recovered } = await Wal.open({
      dir: join(dir, 'wal'),
      segmentBytes: WAL_SEGMENT_BYTES,
      io: walGate,
    });
    try {
      const snapshots = await SnapshotStore.open(join(dir, 'snap'));
      await bootstrapMissing(wal, snapshots, recovered, voters, shardCount);
      const transport = network.createTransport(id);
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
      });
      const node = new TestNode({ id, walGate, kv, transport, wal, snapshots, logger });
      for (let g = 1; g <= shardCount; g++) await node.addGroup(g, recovered.get(g), snapshots);
      await node.connect(voters);
      return node;
    } catch (e) {
      await wal.close().catch(() => {});
      throw e;
    }
  }

  /** As KvNode.addGroup for a data shard: snapshot + WAL → MemoryStorage and KvMachine. */
  private async addGroup(
    groupId: number,
    rec: RecoveredGroup | undefined,
    snapshots: SnapshotStore,
  ): Promise<void> {
    const machine = new KvMachine();
    const { storage, applied } = await recoverGroup(groupId, rec, snapshots, machine);
    const o = this.kv.opts;
    const g = new Group({
      groupId,
      nodeId: this.id,
      electionTick: o.electionTick,
      heartbeatTick: o.heartbeatTick,
      machine,
      storage,
      applied,
    });
    this.driver.groups.set(groupId, g);
  }

  private async connect(voters: readonly NodeId[]): Promise<void> {
    this.transport.onMessage((groupId, msg) => {
      const g = this.driver.groups.get(groupId);
      if (g === undefined || msg.to !== this.id) return;
      g.raw.step(msg);
      this.driver.schedule();
    });
    this.transport.onUnreachable((peer) => {
      for (const g of this.driver.groups.values()) g.raw.reportUnreachable(peer);
    });
    for (const v of voters) if (v !== this.id) this.transport.setPeerAddress(v, `memory://${v}`);
    await this.transport.start();
    this.tickTimer = setInterval(() => this.tick(), this.tickMs);
    this.driver.schedule();
  }

  /** What KvNode's tick does: tick every core, drop settled requests, retry stale reads. */
  private tick(): void {
    for (const g of this.driver.groups.values()) {
      g.raw.tick();
      g.dropSettled();
      g.retryStaleReads(READ_RETRY_TICKS);
    }
    this.driver.schedule();
  }

  group(groupId: number): Group {
    const g = this.driver.groups.get(groupId);
    if (g === undefined) throw new Error(`test node ${this.id} hosts no group ${groupId}`);
    return g;
  }

  /** Stops ticking, fails waiting requests, releases the WAL gate, lets the last turn end, closes all. */
  close(): Promise<void> {
    this.closed ??= this.doClose();
    return this.closed;
  }

  private async doClose(): Promise<void> {
    if (this.tickTimer !== undefined) clearInterval(this.tickTimer);
    const err = new UnavailableError('the test node is shutting down');
    for (const g of this.driver.groups.values()) g.failAll(err);
    // A held gate would keep the running turn (and the WAL's close) waiting for ever.
    this.walGate.release();
    await this.driver.stop();
    await this.transport.close();
    await this.wal.close();
  }
}

/** Gives every group missing from the WAL its initial configuration (snapshot file, then marker, synced). */
async function bootstrapMissing(
  wal: Wal,
  snapshots: SnapshotStore,
  recovered: Map<number, RecoveredGroup>,
  voters: readonly NodeId[],
  shardCount: number,
): Promise<void> {
  const snap = initialSnapshot(voters);
  const { index, term } = snap.metadata;
  let written = 0;
  for (let g = 1; g <= shardCount; g++) {
    if (recovered.has(g)) continue;
    await snapshots.save(g, snap);
    wal.appendSnapshotMarker(g, index, term, true);
    recovered.set(g, { hardState: undefined, snapshot: { index, term }, entries: [] });
    written++;
  }
  if (written > 0) await wal.sync();
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
      g.raw.campaign();
      n.driver.schedule();
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
