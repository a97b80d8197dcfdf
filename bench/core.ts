// Benchmark of the consensus core alone (`npm run bench:core`): three RawNodes in one process,
// messages handed over in memory (no transport, no disk), the real Ready/advance loop.
// It measures committed entries per second when the leader proposes 1 or 64 entries per round,
// and how the heap grows over a long run with periodic snapshots and log compaction.
// This is a benchmark, not a test: it asserts only that the cluster made progress.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { MemoryStorage, RawNode } from '../src/raft/index.ts';
import type { ConfState, Message, NodeId, Ready, Rng } from '../src/raft/types.ts';
import { nodeId } from '../src/raft/types.ts';

const VALUE_BYTES = 256;
const COMPACT_EVERY_ENTRIES = 10_000;

interface Member {
  readonly id: NodeId;
  readonly node: RawNode;
  readonly storage: MemoryStorage;
  applied: number;
}

/** A tiny deterministic PRNG (mulberry32): the core needs one for election timeouts. */
function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return {
    nextInt(n: number): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return (((t ^ (t >>> 14)) >>> 0) % n) | 0;
    },
  };
}

function makeCluster(): Member[] {
  const ids = ['1', '2', '3'].map(nodeId);
  const confState: ConfState = {
    voters: ids,
    votersOutgoing: [],
    learners: [],
    learnersNext: [],
    autoLeave: false,
  };
  return ids.map((id, i) => {
    const storage = new MemoryStorage();
    // Start every member from the same initial configuration, as a bootstrapped cluster does.
    storage.applySnapshot({
      metadata: { index: 1 as never, term: 1 as never, confState },
      data: new Uint8Array(),
    });
    const node = new RawNode({ id, storage, rng: seededRng(i + 1), electionTick: 10, heartbeatTick: 1 });
    return { id, node, storage, applied: 1 };
  });
}

/** Carries out one Ready the way a driver does (persist, send, apply, advance); returns its messages. */
function handleReady(m: Member, rd: Ready): readonly Message[] {
  if (rd.snapshot !== undefined) m.storage.applySnapshot(rd.snapshot);
  if (rd.entries.length > 0) m.storage.append(rd.entries);
  if (rd.hardState !== undefined) m.storage.setHardState(rd.hardState);
  const last = rd.committedEntries[rd.committedEntries.length - 1];
  if (last !== undefined) m.applied = last.index;
  m.node.advance(rd);
  if (m.applied - m.storage.firstIndex() > COMPACT_EVERY_ENTRIES) {
    const cs = m.node.status().confState;
    m.storage.createSnapshot(m.applied as never, cs, new Uint8Array(16));
    m.storage.compact(m.applied as never);
  }
  return rd.messages;
}

/** Runs Readys and delivers messages until no node has anything left to do. */
function stabilize(cluster: readonly Member[], byId: ReadonlyMap<NodeId, Member>): void {
  for (let rounds = 0; rounds < 10_000; rounds++) {
    let busy = false;
    for (const m of cluster) {
      if (!m.node.hasReady()) continue;
      busy = true;
      for (const msg of handleReady(m, m.node.ready())) byId.get(msg.to)?.node.step(msg);
    }
    if (!busy) return;
  }
  assert.fail('the cluster did not settle within 10,000 rounds');
}

function leaderOf(cluster: readonly Member[]): Member {
  const leader = cluster.find((m) => m.node.status().role === 'leader');
  assert.ok(leader !== undefined, 'no leader');
  return leader;
}

function run(batch: number, entries: number): { entriesPerSec: number; heapGrowthBytes: number } {
  const cluster = makeCluster();
  const byId = new Map(cluster.map((m) => [m.id, m]));
  cluster[0]?.node.campaign();
  stabilize(cluster, byId);
  const leader = leaderOf(cluster);
  const payload = new Uint8Array(VALUE_BYTES).fill(7);
  const startApplied = leader.applied;
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  for (let proposed = 0; proposed < entries; proposed += batch) {
    for (let i = 0; i < batch; i++) leader.node.propose(payload);
    stabilize(cluster, byId);
  }
  const elapsedMs = performance.now() - t0;
  globalThis.gc?.();
  const heapAfter = process.memoryUsage().heapUsed;
  const committed = leader.applied - startApplied;
  assert.ok(committed >= entries, `only ${committed} of ${entries} entries were applied`);
  for (const m of cluster) assert.equal(m.applied, leader.applied, `member ${m.id} lags`);
  return { entriesPerSec: (committed / elapsedMs) * 1000, heapGrowthBytes: heapAfter - heapBefore };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const reps = Number(process.env.BENCH_REPS ?? 3);
console.log(`ringkv core benchmark: 3 nodes in memory, ${VALUE_BYTES}-byte entries, median of ${reps} runs`);
console.log(`node ${process.version}, ${process.arch}`);
for (const [batch, entries] of [
  [1, 20_000],
  [64, 200_000],
] as const) {
  const results = Array.from({ length: reps }, () => run(batch, entries));
  const rate = median(results.map((r) => r.entriesPerSec));
  console.log(
    `batch ${String(batch).padStart(2)}: ${Math.round(rate).toLocaleString('en-US')} committed entries/s`,
  );
}
const long = run(64, 1_000_000);
console.log(
  `long run (1,000,000 entries, batch 64, compaction every ${COMPACT_EVERY_ENTRIES.toLocaleString('en-US')}): ` +
    `${Math.round(long.entriesPerSec).toLocaleString('en-US')} entries/s, heap growth ${(long.heapGrowthBytes / 2 ** 20).toFixed(1)} MiB`,
);
