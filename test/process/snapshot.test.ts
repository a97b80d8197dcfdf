// `ringkv snapshot save` and `restore` on real processes: 10,000 keys written to a one-node cluster,
// saved; the backup cut short and with one byte changed are refused (nothing written), a non-empty
// --raft_dir is refused; restored into a new data directory, served by `serve` with the restore's
// node id and ports, every key reads back (a get each) with its value and version, and again (a scan)
// after a SIGKILL and restart; two nodes join the restored cluster and each serves every key from its
// own replica (a serializable scan of the node alone).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { RingkvClient } from '../../src/client/index.ts';
import { ProcessCluster, runCli, waitUntil } from './harness.ts';

const KEYS = 10_000;
const IN_FLIGHT = 64;

const keyOf = (i: number) => `backup-${String(i).padStart(5, '0')}`;
const valueFor = (i: number) => `value ${i} ${'x'.repeat(i % 50)}`;

/** Runs `task(i)` for i in [0, n), at most IN_FLIGHT at once. */
async function forEachKey(n: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < n; i = next++) await task(i);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

/** Every key's value and version as written (versions: the put's log index, kept by a restore), one get each. */
async function readAll(client: RingkvClient, versions: readonly bigint[]): Promise<void> {
  const decoder = new TextDecoder();
  await forEachKey(KEYS, async (i) => {
    const r = await client.get(keyOf(i), { timeoutMs: 10_000 });
    assert.ok(r.found, `${keyOf(i)} not found`);
    assert.equal(decoder.decode(r.value), valueFor(i));
    assert.equal(r.version, versions[i], `${keyOf(i)}'s version`);
  });
}

/** Every key by a paged scan of the prefix (from the contacted node's replicas when serializable). */
async function scanAll(
  client: RingkvClient,
  serializable: boolean,
  versions: readonly bigint[],
): Promise<void> {
  const decoder = new TextDecoder();
  let seen = 0;
  let continuation: Uint8Array | undefined;
  // Bounded: KEYS / 1000 pages, and a page that returns nothing ends it.
  for (let page = 0; page <= KEYS / 1000; page++) {
    const r = await client.scan({
      prefix: 'backup-',
      limit: 1000,
      serializable,
      timeoutMs: 10_000,
      ...(continuation === undefined ? {} : { continuation }),
    });
    for (const item of r.items) {
      assert.equal(decoder.decode(item.key), keyOf(seen));
      assert.equal(decoder.decode(item.value), valueFor(seen));
      assert.equal(item.version, versions[seen], `${keyOf(seen)}'s version`);
      seen++;
    }
    continuation = r.continuation;
    if (continuation === undefined || r.items.length === 0) break;
  }
  assert.equal(seen, KEYS);
}

describe('snapshot save and restore (real processes)', { timeout: 240_000 }, () => {
  const clusters: ProcessCluster[] = [];
  const backups = mkdtempSync(join(tmpdir(), 'ringkv-backup-'));
  after(async () => {
    for (const c of clusters) await c.cleanup();
    rmSync(backups, { recursive: true, force: true });
  });

  it('saves 10,000 keys, refuses damaged backups, restores a cluster that serves them all', async () => {
    const source = await ProcessCluster.start({ nodes: 1 });
    clusters.push(source);
    const file = join(backups, 'backup.rkvb');
    const versions: bigint[] = new Array(KEYS).fill(0n);
    const writer = source.client();
    await forEachKey(KEYS, async (i) => {
      versions[i] = (await writer.put(keyOf(i), valueFor(i), { timeoutMs: 10_000 })).version;
    });
    const endpoints = ['--endpoints', source.endpoints.join(',')];

    const saved = await runCli(['snapshot', 'save', file, ...endpoints, '--timeout-ms', '20000'], {
      timeoutMs: 60_000,
    });
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, new RegExp(`saved ${file}: cluster [0-9a-f]+, 8 shards, ${KEYS} keys`));
    assert.equal(saved.stderr, '', 'no progress bar when stderr is not a terminal');
    assert.ok(!existsSync(`${file}.part`));
    const again = await runCli(['snapshot', 'save', file, ...endpoints]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /exists; give a new file name/);
    await source.cleanup();

    const target = await ProcessCluster.plan({ nodes: 3 });
    clusters.push(target);
    const node1 = target.node('node1');
    const dir1 = join(target.dir, 'node1');
    const restoreArgs = (from: string, dir: string) => [
      'snapshot',
      'restore',
      from,
      '--raft_dir',
      dir,
      '--node_id',
      'node1',
      '--port',
      String(node1.port),
      '--raft_port',
      String(node1.raftPort),
    ];
    const bytes = readFileSync(file);
    const cut = join(target.dir, 'cut.rkvb');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const refusedCut = await runCli(restoreArgs(cut, dir1));
    assert.equal(refusedCut.code, 1, refusedCut.stderr);
    assert.match(
      refusedCut.stderr,
      /the backup is damaged: shard \d's section \(at byte \d+\): .*cut short.*nothing was written/,
    );
    const flipped = join(target.dir, 'flipped.rkvb');
    const copy = Buffer.from(bytes);
    copy[Math.floor(bytes.length / 3)]! ^= 0x10;
    writeFileSync(flipped, copy);
    const refusedFlip = await runCli(restoreArgs(flipped, dir1));
    assert.equal(refusedFlip.code, 1, refusedFlip.stderr);
    assert.match(
      refusedFlip.stderr,
      /the backup is damaged: shard \d's section \(at byte \d+\): checksum mismatch/,
    );
    assert.ok(!existsSync(dir1) && !existsSync(`${dir1}.restoring`), 'a refused backup leaves nothing');
    const occupied = join(target.dir, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'node.json'), '{}');
    const refusedDir = await runCli(restoreArgs(file, occupied));
    assert.equal(refusedDir.code, 2);
    assert.match(refusedDir.stderr, /--raft_dir .*occupied is not empty \(node\.json\)/);

    const restored = await runCli(restoreArgs(file, dir1), { timeoutMs: 60_000 });
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(
      restored.stdout,
      new RegExp(
        `restored .*: new cluster [0-9a-f]+ \\(backup of cluster [0-9a-f]+\\), 8 shards, ${KEYS} keys`,
      ),
    );
    assert.match(restored.stdout, /start the node with: ringkv serve --node_id node1 --raft_dir /);

    // node1's planned command line is the documented one (its --bootstrap=true is ignored: the
    // directory is a node's already).
    node1.start();
    await target.waitAnswers(node1, 60_000);
    const alone = target.client({ endpoints: [node1.endpoint] });
    await readAll(alone, versions);
    const put = await alone.put('after-restore', 'new', { timeoutMs: 10_000 });
    assert.ok(put.version > 0n);

    await node1.kill('SIGKILL');
    node1.start();
    await target.waitAnswers(node1, 60_000);
    await waitUntil('node1 to lead again after its restart', 30_000, async () =>
      (await alone.get(keyOf(0), { timeoutMs: 2000 })).found ? true : undefined,
    );
    await scanAll(alone, false, versions);

    target.node('node2').start();
    target.node('node3').start();
    await target.waitFormed(120_000);
    for (const name of ['node2', 'node3']) {
      const own = target.client({ endpoints: [target.node(name).endpoint], routeToLeaders: false });
      // Serializable: each joiner's own replica, which it received from the restored leader.
      await waitUntil(`${name} to hold the restored keys`, 30_000, async () =>
        (await own.get(keyOf(KEYS - 1), { serializable: true })).found ? true : undefined,
      );
      await scanAll(own, true, versions);
      const late = await own.get('after-restore', { serializable: true });
      assert.ok(
        late.found && new TextDecoder().decode(late.value) === 'new',
        `${name}: the write after the restore`,
      );
    }
  });
});
