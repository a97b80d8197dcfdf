// A node whose --raft_dir is on a read-only file system says so (a recursive mkdir there fails
// with a bare ENOENT). The test mounts a small read-only tmpfs of its own (root only: CI runs as
// root), starts `ringkv serve` on it, and unmounts it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePorts } from '../support/ports.ts';
import { runCli } from './harness.ts';

const isRoot = process.getuid?.() === 0;

test('serve on a read-only file system exits 1 saying the file system is read-only', {
  skip: isRoot ? false : 'mounting a tmpfs needs root',
}, async () => {
  const mnt = mkdtempSync(join(tmpdir(), 'ringkv-ro-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]);
  try {
    const [port, raftPort] = await freePorts(2);
    const r = await runCli(
      [
        'serve',
        '--port',
        String(port),
        '--raft_port',
        String(raftPort),
        '--node_id',
        'ro1',
        '--raft_dir',
        join(mnt, 'data', 'ro1'),
        '--bootstrap=true',
      ],
      { timeoutMs: 30_000 },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /read-only file system/, r.stderr);
  } finally {
    execFileSync('umount', [mnt]);
    rmdirSync(mnt);
  }
});
