// A shard replica leaves a node (dropShard: a tombstone replaces its log and snapshots) and comes
// back when a move brings it back (rehostShard: the log reset, the old snapshot files removed, then
// hosted empty). Both take a while on disk, and the table may move on meanwhile: a restart replays
// the move that brought a replica back and then its rollback within milliseconds, and a move back
// may begin while the data is still going. The decisions taken meanwhile skip the shard, so once
// either is done the node decides again against the table as it is now. Before, an empty replica
// the table no longer placed here was kept, and a move back was not followed, until the next
// metadata change, which an idle cluster does not make (a 5-node `ringkv chaos` run did not settle:
// a restarted member kept an empty replica of a shard placed elsewhere).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import type { FileSystem } from '../storage/file-system.ts';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import { groupId } from './ids.ts';
import { proposeMetadata } from './membership.ts';
import type { MetadataCommand, TableChange } from './metadata.ts';
import type { KvNode } from './node.ts';
import { loneNode } from './testing/lone-node.ts';

const SHARDS = 2;
const SHARD_1 = groupId(1);
const WAIT_MS_MAX = 10_000;
const WAIT_POLL_MS = 5;
const DELETED = 'shard replica deleted: this node no longer holds it';
const HOSTED_AGAIN = 'shard hosted again: a move brings back a replica this node had deleted';

/** The real file system, but one operation on shard 1's snapshot files waits while held. */
class SnapshotGate {
  held: 'unlink' | 'rename' | undefined;
  private waiting: (() => void)[] = [];
  readonly fs: FileSystem = {
    ...REAL_FILE_SYSTEM,
    unlink: async (path) => {
      await this.pass('unlink', path);
      return REAL_FILE_SYSTEM.unlink(path);
    },
    rename: async (from, to) => {
      await this.pass('rename', to);
      return REAL_FILE_SYSTEM.rename(from, to);
    },
  };

  private async pass(op: 'unlink' | 'rename', path: string): Promise<void> {
    if (this.held === op && /snap-0000000001-\d+\.snap$/.test(path))
      await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  get holding(): number {
    return this.waiting.length;
  }

  release(): void {
    this.held = undefined;
    for (const w of this.waiting.splice(0)) w();
  }
}

async function waitUntil(what: string, cond: () => boolean): Promise<void> {
  for (let waitedMs = 0; !cond(); waitedMs += WAIT_POLL_MS) {
    assert.ok(waitedMs < WAIT_MS_MAX, `not within ${WAIT_MS_MAX} ms: ${what}`);
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

/**
 * n1 bootstrapped alone (no rebalancer: the test writes the table's moves), n2 a member that never
 * runs; `logged` counts the node's log messages.
 */
async function withNode(
  body: (o: {
    node: KvNode;
    gate: SnapshotGate;
    table: (c: TableChange) => Promise<void>;
    moveId: () => number;
    logged: (msg: string) => number;
  }) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-rehost-'));
  const gate = new SnapshotGate();
  const msgs = new Map<string, number>();
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        const msg = (JSON.parse(line) as { msg: string }).msg;
        msgs.set(msg, (msgs.get(msg) ?? 0) + 1);
      },
    },
  );
  const node = loneNode({
    nodeId: 'n1',
    raftDir: dir,
    bootstrap: true,
    joinAddr: undefined,
    logger,
    shardCount: SHARDS,
    fileSystem: gate.fs,
  });
  let seq = 0;
  const propose = async (cmd: MetadataCommand): Promise<void> => {
    const r = await proposeMetadata(node, cmd, node.clock.nowMs() + WAIT_MS_MAX);
    assert.ok(r.ok, `${JSON.stringify(cmd)}: ${r.ok ? '' : r.reason}`);
  };
  const table = (change: TableChange): Promise<void> =>
    propose({ requestId: `test/${seq++}`, op: 'table', change });
  try {
    await node.start();
    await waitUntil('every group led by n1', () =>
      [0, 1, 2].every((g) => node.status(groupId(g))?.role === 'leader'),
    );
    await propose({
      requestId: `test/${seq++}`,
      op: 'addMember',
      member: { nodeId: 'n2', clientAddr: 'localhost:3', raftAddr: 'localhost:4' },
    });
    await table({ kind: 'setMemberState', nodeId: 'n2', state: 'up' });
    await body({
      node,
      gate,
      table,
      moveId: () => node.metadata.table.shards[0]?.move?.id ?? -1,
      logged: (msg) => msgs.get(msg) ?? 0,
    });
  } finally {
    gate.release();
    await node.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Shard 1 moves from n1 to n2 as far as its cleanup: n1, the source, deletes its replica. */
async function moveShard1ToN2(table: (c: TableChange) => Promise<void>, moveId: () => number): Promise<void> {
  await table({ kind: 'beginMove', shard: 1, source: 'n1', target: 'n2' });
  for (const step of ['addLearner', 'catchUp', 'reconfigure', 'leaveJoint'] as const) {
    await table({ kind: 'moveStepDone', shard: 1, moveId: moveId(), step });
  }
}

test('a replica hosted again while its move rolled back is dropped once hosted, with no further metadata change', async () => {
  await withNode(async ({ node, gate, table, moveId, logged }) => {
    await moveShard1ToN2(table, moveId);
    await waitUntil("n1 deleted its replica of shard 1 (the move's cleanup)", () => logged(DELETED) === 1);
    await table({ kind: 'finishMove', shard: 1, moveId: moveId() });

    // A move brings shard 1 back to n1; while the old snapshot files are still being removed, the
    // move rolls back and ends: the table gives n1 no role in shard 1 any more.
    gate.held = 'unlink';
    await table({ kind: 'beginMove', shard: 1, source: null, target: 'n1' });
    await waitUntil('the rehost removing the old snapshot files', () => gate.holding > 0);
    await table({ kind: 'abortMove', shard: 1, moveId: moveId(), reason: 'test', atMs: 0 });
    await table({ kind: 'finishMove', shard: 1, moveId: moveId() });
    assert.equal(node.metadata.table.shards[0]?.move, null);
    assert.deepEqual(node.metadata.table.shards[0]?.voters, ['n2']);
    const opsBefore = node.metadata.table.lastOp;

    // The files go, the empty replica is hosted, and then deleted again, with no metadata change.
    gate.release();
    await waitUntil('shard 1 hosted again', () => logged(HOSTED_AGAIN) === 1);
    await waitUntil('the empty replica of shard 1 deleted: the table places it on n2 alone', () => {
      return logged(DELETED) === 2 && node.status(SHARD_1) === undefined;
    });
    assert.equal(node.metadata.table.lastOp, opsBefore, 'no metadata change made the node decide again');
  });
});

test('a move back begun while the replica is being deleted is followed once the deletion is done', async () => {
  await withNode(async ({ node, gate, table, moveId, logged }) => {
    // The deletion's tombstone waits to be renamed into place while the move ends and another one
    // brings shard 1 back to n1.
    gate.held = 'rename';
    await moveShard1ToN2(table, moveId);
    await waitUntil('the tombstone of shard 1 being written', () => gate.holding > 0);
    await table({ kind: 'finishMove', shard: 1, moveId: moveId() });
    await table({ kind: 'beginMove', shard: 1, source: null, target: 'n1' });
    const opsBefore = node.metadata.table.lastOp;

    // The deletion ends; the node then hosts shard 1 again for the move, with no metadata change.
    gate.release();
    await waitUntil('shard 1 deleted, then hosted again for the move', () => {
      return logged(DELETED) === 1 && logged(HOSTED_AGAIN) === 1 && node.status(SHARD_1) !== undefined;
    });
    assert.equal(node.metadata.table.lastOp, opsBefore, 'no metadata change made the node decide again');
  });
});
