// Starts that cannot succeed end soon, with a message that says what to do, and leave nothing
// half-written behind: a join whose --join_addr answers nothing (after --join_timeout); a node whose
// disk has no room for its first log segment, and one whose --raft_dir is on a read-only file system
// (a recursive mkdir there fails with a bare ENOENT). The disks are small tmpfs mounts the test makes
// and removes itself (root only, as in CI).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePorts } from '../support/ports.ts';
import { runCli } from './harness.ts';

const needsRoot = process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root';

async function serveArgs(nodeId: string, raftDir: string): Promise<string[]> {
  const [port, raftPort] = await freePorts(2);
  return [
    'serve',
    '--port',
    String(port),
    '--raft_port',
    String(raftPort),
    '--node_id',
    nodeId,
    '--raft_dir',
    raftDir,
    '--admin_port',
    '0',
  ];
}

/** Runs `fn` with a fresh tmpfs mounted with `options` (e.g. 'size=40m', 'ro,size=1m'), then removes it. */
async function withTmpfs(options: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const mnt = mkdtempSync(join(tmpdir(), 'ringkv-fs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', mnt]);
  try {
    await fn(mnt);
  } finally {
    execFileSync('umount', ['-l', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

test('a join that reaches nothing gives up after --join_timeout with exit 1, naming the address', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringkv-join-'));
  try {
    const [deadPort] = await freePorts(1);
    const args = [...(await serveArgs('j1', join(dir, 'j1'))), `--join_addr=127.0.0.1:${deadPort}`];
    const r = await runCli([...args, '--join_timeout', '2', '--log_level', 'warn'], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`could not join the cluster at 127\\.0\\.0\\.1:${deadPort} within 2 s`),
    );
    assert.match(r.stdout, /cannot reach the cluster at/, 'it warned while waiting');
    assert.ok(r.elapsedMs < 20_000, `gave up after ${r.elapsedMs} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a disk too small for one log segment: exit 1 saying how much is needed, no .tmp segment left', {
  skip: needsRoot,
}, async () => {
  await withTmpfs('size=40m', async (mnt) => {
    const raftDir = join(mnt, 'n1');
    const r = await runCli([...(await serveArgs('n1', raftDir)), '--bootstrap=true'], { timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /needs 64 MiB for the first segment of its write-ahead log/, r.stderr);
    const left = readdirSync(join(raftDir, 'wal')).filter((n) => n.endsWith('.tmp'));
    assert.deepEqual(left, [], 'no half-written segment stays behind');
  });
});

test('serve on a read-only file system exits 1 saying the file system is read-only', {
  skip: needsRoot,
}, async () => {
  await withTmpfs('ro,size=1m', async (mnt) => {
    const r = await runCli([...(await serveArgs('ro1', join(mnt, 'data', 'ro1'))), '--bootstrap=true'], {
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /read-only file system/, r.stderr);
  });
});
