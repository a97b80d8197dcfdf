// The first start of a new cluster is all or nothing: a crash that tore the bootstrap write (some
// groups' first entries on disk, others not) must not leave shards without a voter. The identity's
// 'bootstrapped' state is written only after the bootstrap records are durable; until it is, a
// restart writes them again whole.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { REAL_FILE_SYSTEM } from '../storage/real-file-system.ts';
import { segmentFileName, Wal } from '../storage/wal.ts';
import { scanSegment } from '../storage/wal-scan.ts';
import { readIdentity, writeIdentity } from './identity.ts';
import { DEFAULT_LEADER_PLACEMENT } from './metadata.ts';
import { writeBootstrap } from './recovery.ts';
import { loneNode } from './testing/lone-node.ts';

const SHARDS = 4;
const WAIT_MS_MAX = 10_000;
const WAIT_POLL_MS = 10;

test('a bootstrap torn by a crash after the first groups is completed on restart: every group gets its voter', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ringkv-bootstrap-'));
  try {
    // The state a crash leaves: the identity says 'bootstrapping' (written first), and the one
    // bootstrap write reached the disk only up to group 1's entries.
    const clusterId = 'c0ffee0000000001';
    await writeIdentity(REAL_FILE_SYSTEM, dir, {
      version: 1,
      nodeId: 'n1',
      clusterId,
      shardCount: SHARDS,
      state: 'bootstrapping',
    });
    const walDir = join(dir, 'wal');
    const { wal } = await Wal.open({ dir: walDir, fs: REAL_FILE_SYSTEM });
    await writeBootstrap(wal, {
      clusterId,
      shardCount: SHARDS,
      hashTags: true,
      leaderPlacement: DEFAULT_LEADER_PLACEMENT,
      replicationFactor: 3,
      deadNodeTimeoutMs: 300_000,
      self: { nodeId: 'n1', clientAddr: 'localhost:1', raftAddr: 'localhost:2' },
    });
    await wal.close();
    const path = join(walDir, segmentFileName(1));
    const buf = await readFile(path);
    const records: { offsetBytes: number; type: string; group: number }[] = [];
    scanSegment(buf, path, 1, true, (r, offsetBytes) =>
      records.push({ offsetBytes, type: r.type, group: (r as { group: number }).group }),
    );
    const cut = records.find((r) => r.group === 1 && r.type === 'hardState');
    assert.ok(cut !== undefined, `group 1's hard state record: ${JSON.stringify(records)}`);
    buf.fill(0, cut.offsetBytes);
    await writeFile(path, buf);

    const node = loneNode({
      nodeId: 'n1',
      raftDir: dir,
      bootstrap: true,
      joinAddr: undefined,
      shardCount: SHARDS,
    });
    await node.start();
    try {
      const leaderless = (): number[] => {
        const out: number[] = [];
        for (let g = 0; g <= SHARDS; g++) if (!node.group(g).isLeader()) out.push(g);
        return out;
      };
      for (let waitedMs = 0; leaderless().length > 0; waitedMs += WAIT_POLL_MS) {
        assert.ok(waitedMs < WAIT_MS_MAX, `groups without a leader after ${WAIT_MS_MAX} ms: ${leaderless()}`);
        await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
      }
      for (let g = 0; g <= SHARDS; g++) {
        assert.deepEqual(node.group(g).confState.voters, ['n1'], `group ${g}'s voters`);
      }
      assert.equal(node.metadata.clusterId, clusterId);
      assert.equal((await readIdentity(REAL_FILE_SYSTEM, dir))?.state, 'bootstrapped');
    } finally {
      await node.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
