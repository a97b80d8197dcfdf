// A restored data directory is what the node's normal recovery reads: every shard's keys with their
// versions, this node the only voter of every group, the shards' logs going on after the backed-up
// index; and the restore refuses what the node could not read back (bad bytes, a state written after
// the recorded index, another slot layout).
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SLOT_COUNT, slotRange } from '../ring/slots.ts';
import { KvState } from '../storage/kv-state.ts';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import { UsageError } from './errors.ts';
import { readIdentity } from './identity.ts';
import type { KvNode } from './node.ts';
import { read, write } from './requests.ts';
import { type RestorePlan, writeRestoredDataDir } from './restore.ts';
import { loneNode } from './testing/lone-node.ts';

const SHARDS = 3;
const WAIT_MS_MAX = 10_000;
const WAIT_POLL_MS = 10;

/** Shard s holds keys `s-0`..`s-(s-1)`, written at indexes 2.., its applied index 10 * s. */
function shardState(s: number): { appliedIndex: number; data: Uint8Array } {
  const st = new KvState();
  for (let i = 0; i < s; i++) st.put(Buffer.from(`${s}-${i}`), Buffer.from(`v${s}.${i}`), 2 + i);
  return { appliedIndex: 10 * s, data: st.serialize() };
}

function plan(dir: string, over: Partial<RestorePlan> = {}): RestorePlan {
  return {
    dir,
    walSegmentBytes: 1024 * 1024,
    clusterId: 'feedfacefeedface',
    shardCount: SHARDS,
    hashTags: true,
    leaderPlacement: 'spread',
    replicationFactor: 3,
    deadNodeTimeoutMs: 300_000,
    self: { nodeId: 'n1', clientAddr: 'localhost:1', raftAddr: 'localhost:2' },
    slotCount: SLOT_COUNT,
    slots: Array.from({ length: SHARDS }, (_, i) => slotRange(i + 1, SHARDS)),
    shard: async (s) => shardState(s),
    ...over,
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-restore-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function startNode(dir: string): KvNode {
  return loneNode({ nodeId: 'n1', raftDir: dir, bootstrap: false, joinAddr: undefined });
}

async function waitLeading(node: KvNode): Promise<void> {
  const leaderless = (): number[] => {
    const out: number[] = [];
    for (let g = 0; g <= SHARDS; g++) if (!node.group(g).isLeader()) out.push(g);
    return out;
  };
  for (let waitedMs = 0; leaderless().length > 0; waitedMs += WAIT_POLL_MS) {
    assert.ok(waitedMs < WAIT_MS_MAX, `groups without a leader after ${WAIT_MS_MAX} ms: ${leaderless()}`);
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

/** Shard s's keys as the node serves them (linearizable reads): "key=value@version", in key order. */
async function keysOf(node: KvNode, s: number): Promise<string[]> {
  const r = await read(node, s, false, Date.now() + WAIT_MS_MAX, (m) =>
    m.state
      .scan({ start: new Uint8Array(0) }, 100)
      .items.map((i) => `${Buffer.from(i.key)}=${Buffer.from(i.value)}@${i.version}`),
  );
  return r.value;
}

test('a restored data directory starts as a one-node cluster holding every shard at its backed-up index', async () => {
  await withDir(async (dir) => {
    assert.deepEqual(await writeRestoredDataDir(plan(dir)), [1, 2, 3]);
    const identity = await readIdentity(REAL_FILE_SYSTEM, dir);
    assert.deepEqual(identity, {
      version: 1,
      nodeId: 'n1',
      clusterId: 'feedfacefeedface',
      shardCount: SHARDS,
      state: 'bootstrapped',
    });
    let node = startNode(dir);
    await node.start();
    try {
      await waitLeading(node);
      assert.equal(node.metadata.clusterId, 'feedfacefeedface');
      for (let g = 0; g <= SHARDS; g++)
        assert.deepEqual(node.group(g).confState.voters, ['n1'], `group ${g}`);
      assert.deepEqual(await keysOf(node, 2), ['2-0=v2.0@2', '2-1=v2.1@3']);
      const w = await write(
        node,
        2,
        { op: 'put', key: Buffer.from('2-new'), value: Buffer.from('n') },
        Date.now() + WAIT_MS_MAX,
      );
      assert.ok(
        w.index > 20,
        `shard 2's log goes on after its backed-up index 20: the write is at ${w.index}`,
      );
    } finally {
      await node.close();
    }
    // Recovery after a restart reads the restored snapshot and the write after it.
    node = startNode(dir);
    await node.start();
    try {
      await waitLeading(node);
      assert.deepEqual(await keysOf(node, 1), ['1-0=v1.0@2']);
      assert.deepEqual((await keysOf(node, 2)).slice(0, 2), ['2-0=v2.0@2', '2-1=v2.1@3']);
      assert.match((await keysOf(node, 2))[2] ?? '', /^2-new=n@\d+$/);
      assert.equal((await keysOf(node, 3)).length, 3);
    } finally {
      await node.close();
    }
  });
});

test('restore refuses a directory that is not empty', async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, 'x'), 'x');
    await assert.rejects(writeRestoredDataDir(plan(dir)), /restore into .* which holds x/);
  });
});

test('restore refuses what the node could not read back, before naming the directory a node', async () => {
  await withDir(async (dir) => {
    await assert.rejects(
      writeRestoredDataDir(
        plan(dir, { shard: async () => ({ appliedIndex: 5, data: Buffer.from('nope') }) }),
      ),
      (e: unknown) =>
        e instanceof UsageError && /shard 1: its data in the backup is not a shard snapshot/.test(e.message),
    );
  });
  await withDir(async (dir) => {
    // Keys written at index 2 and 3 cannot be in a state the backup says was taken at index 1.
    const late = async () => ({ appliedIndex: 1, data: shardState(2).data });
    await assert.rejects(
      writeRestoredDataDir(plan(dir, { shard: late })),
      /written at index 3, after the applied index 1/,
    );
  });
  await withDir(async (dir) => {
    const slots = [{ first: 0, last: 99 }, ...plan(dir).slots.slice(1)];
    await assert.rejects(
      writeRestoredDataDir(plan(dir, { slots })),
      /shard 1 of the backup holds slots 0-99/,
    );
  });
  await withDir(async (dir) => {
    await assert.rejects(
      writeRestoredDataDir(plan(dir, { slotCount: 1024 })),
      /1024 slots; this ringkv uses 4096/,
    );
  });
});
